"""Large buffers that are written once, in the kernel's small pages.

NumPy advises the kernel to back every allocation of 4 MiB or more with
transparent huge pages (``madvise(MADV_HUGEPAGE)``). Where the kernel's THP
``defrag`` setting is ``madvise`` (a common default) the first touch of such
memory compacts memory synchronously whenever no free huge page is at hand, and
on a host whose memory is fragmented (page cache, long uptime) that is most of
the time: writing 627 MB into a fresh NumPy array took 12-15 s on the 2-core
benchmark VM, against 0.5 s for the same bytes in an anonymous mapping without
the advice. A fit's rows, its upload buffers and its receive buffers are written
once and read a batch at a time, so they are allocated here instead.
"""

from __future__ import annotations

import mmap

import numpy as np


def small_pages(nbytes: int) -> np.ndarray:
    """A writable, zero-filled uint8 array of ``nbytes`` in an anonymous mapping of its
    own (page-aligned, not advised to use huge pages); unmapped once no view of it is
    left."""
    if nbytes <= 0:
        return np.zeros(0, np.uint8)
    return np.frombuffer(mmap.mmap(-1, nbytes), np.uint8)

"""Large once-written buffers (a fit's rows, upload and receive buffers) are anonymous
mappings the kernel is not asked to back with huge pages (``loxodon.pages``), unlike
NumPy's own large arrays; they are writable, zero-filled and page-aligned."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import pytest

from loxodon import driver_data
from loxodon.pages import small_pages
from loxodon.worker.data import TENSOR_ALIGNMENT, aligned_empty

SMAPS = Path("/proc/self/smaps")


def _vm_flags(array: np.ndarray | int) -> list[str]:
    """The ``VmFlags`` of the mapping holding the middle of ``array`` (or an address;
    ``hg``: advised huge pages). NumPy advises from the first page boundary on, so the
    first bytes of its array may lie in a mapping of their own."""
    address = array if isinstance(array, int) else array.ctypes.data + array.nbytes // 2
    inside = False
    for line in SMAPS.read_text().splitlines():
        head = line.split()[0]
        if "-" in head and ":" not in head:
            start, end = (int(part, 16) for part in head.split("-"))
            inside = start <= address < end
        elif inside and line.startswith("VmFlags:"):
            return line.split()[1:]
    raise AssertionError(f"no mapping holds {address:#x}")


def test_small_pages_are_writable_zeroed_and_page_aligned() -> None:
    out = small_pages(3 * mmap.PAGESIZE + 5)
    assert out.dtype == np.uint8 and len(out) == 3 * mmap.PAGESIZE + 5
    assert out.flags.writeable and not out.any()
    assert out.ctypes.data % mmap.PAGESIZE == 0
    out[:] = 7
    assert int(out.sum()) == 7 * len(out)
    assert len(small_pages(0)) == 0


@pytest.mark.skipif(not SMAPS.exists(), reason="needs Linux's /proc/self/smaps")
def test_rows_and_receive_buffers_are_not_advised_huge_pages() -> None:
    size = 16 << 20  # past NumPy's 4 MiB threshold for the advice
    numpy_own = np.empty(size, np.uint8)
    if "hg" not in _vm_flags(numpy_own):
        pytest.skip("this NumPy does not advise huge pages here")
    rows = aligned_empty((size // 4 // 64, 64))
    assert rows.ctypes.data % TENSOR_ALIGNMENT == 0
    assert "hg" not in _vm_flags(rows)
    assert "hg" not in _vm_flags(small_pages(size))
    chunk = next(driver_data._tables(rows, np.zeros(len(rows)), np.arange(len(rows))))
    upload, _ = driver_data._write(chunk, None)
    assert "hg" not in _vm_flags(upload.address + upload.size // 2)

"""What a training mode is on a worker: the :class:`Context` it works in (replica,
parameter-server connection, ring, shard feed, the fit's spec) and the :class:`Mode`
base class whose ``step``/``span``/``after_local``/``end_epoch`` the epoch loop
(:mod:`loxodon.worker.loops`) calls. The modes themselves are in
:mod:`loxodon.worker.modes` (single, synchronous, averaging and the registry),
:mod:`loxodon.worker.downpour` and :mod:`loxodon.worker.elastic`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loxodon.ps_client import PSClient
from loxodon.worker import allreduce
from loxodon.worker.overlap import Background
from loxodon.worker.replica import Replica
from loxodon.worker.shards import ShardFeed


def round_id(attempt: int, epoch: int, step: int) -> int:
    """Sync-round numbers never repeat across epochs or stage attempts."""
    return (attempt << 48) | (epoch << 28) | step


@dataclass
class Context:
    replica: Replica
    ps: PSClient
    worker: int
    num_workers: int
    attempt: int
    spec: dict[str, Any]
    # The shards this worker claims each epoch, with a parallelism factor (else None).
    shards: ShardFeed | None = None
    ring: allreduce.Ring | None = None  # synchronous mode over the all-reduce transport
    # Seconds of the epochs by phase (fused local steps, the exchanges' parts), for benchmarks.
    phases: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.phases[phase] = self.phases.get(phase, 0.0) + time.perf_counter() - started

    def set_center_from_model(self) -> None:
        """Make the center equal this replica's weights (others are idle then)."""
        weights = self.replica.get_flat()
        center = self.ps.pull()
        delta = weights - center
        self.ps.push(delta)
        # The server's float32 c + (w - c) can miss w by an ulp; the residual is then exact
        # (Sterbenz), so its push lands on w: an epoch that moved nothing leaves the center.
        residual = weights - (center + delta)
        if residual.any():
            self.ps.push(residual)


def background_exchanger(ctx: Context, overlaps: bool) -> Background | None:
    """The background exchanger of a mode that overlaps its exchanges, when the fit asks
    for it; never with a parallelism factor, whose shard claims share the connection
    during the epoch."""
    if not (overlaps and ctx.spec.get("exchange_overlap") and ctx.shards is None):
        return None
    return Background(ctx.ps, float(ctx.spec.get("client_timeout", 600.0)))


class Mode:
    """Local training between communications; subclasses talk to the server.

    A mode with ``fused`` local steps exchanges only every ``period`` steps (at
    multiples of it; None: only at the epoch's end, or inside its ``span``, as
    synchronous and Downpour do), so :func:`train` runs the steps up to the next
    exchange in one call (``span``), then calls ``after_local`` for the last of them:
    the same steps and exchanges as ``step`` called once per batch."""

    evaluates_center = False
    fused = True
    period: int | None = None

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def step(self, epoch: int, step: int, x: np.ndarray, y: np.ndarray) -> None:
        self.ctx.replica.train_on_batch(x, y)
        self.after_local(epoch, step, 1)

    def span(self, epoch: int, first: int, batches: np.ndarray) -> None:
        """Steps ``first``, ``first + 1``, ... of the epoch, one per row of ``batches``
        (indices into the held rows), in one traced call."""
        with self.ctx.timed("local"):
            self.ctx.replica.train_steps(batches)
        self.after_local(epoch, first + len(batches) - 1, len(batches))

    def after_local(self, epoch: int, last: int, count: int) -> None:
        """``count`` local steps ended with step ``last``: exchange if one is due."""

    def end_epoch(self, epoch: int, steps: int) -> None:
        if self.ctx.worker == 0:
            self.ctx.set_center_from_model()

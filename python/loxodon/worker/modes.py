"""The training modes' worker rules (docs/design.md, "Training modes"): what a worker
does with its local steps and when it exchanges with the server or the ring.

Each mode is a small class with one ``step`` (a batch), ``span`` (the steps up to the
next exchange, in one traced call over the held rows), ``after_local`` and
``end_epoch`` (:mod:`loxodon.worker.mode`); the epoch loop around them is
:mod:`loxodon.worker.loops`. Here: ``single`` (the base class), ``synchronous``,
``averaging`` and the registry of every mode; the Downpour family is in
:mod:`loxodon.worker.downpour`, elastic averaging in :mod:`loxodon.worker.elastic`.
The server-side rules (mean, locked add, elastic update) live in the parameter server.
"""

from __future__ import annotations

import numpy as np

from loxodon.contract import MODES
from loxodon.worker.downpour import Adag, Downpour, DynSgd, Hogwild
from loxodon.worker.elastic import AsyncElasticAveraging, ElasticAveraging, ElasticMomentum
from loxodon.worker.mode import Context, Mode, round_id

__all__ = ["MODES", "MODE_CLASSES", "Context", "Mode", "round_id"]


class Synchronous(Mode):
    """Mean gradient of all workers every step; replicas stay identical. Over held rows
    an epoch's steps run in one traced call that leaves the graph only for the mean
    (:meth:`Replica.sync_steps`; with ``sync_bucket_bytes`` over the ring,
    :meth:`Replica.sync_steps_bucketed`); else gradient, mean and apply are a call each."""

    def step(self, epoch: int, step: int, x: np.ndarray, y: np.ndarray) -> None:
        r = self.ctx.replica
        r.apply_gradients(self._mean(epoch, step, r.gradients(x, y)))

    def span(self, epoch: int, first: int, batches: np.ndarray) -> None:
        ring, cap = self.ctx.ring, int(self.ctx.spec.get("sync_bucket_bytes", 0))
        if ring is not None and cap > 0:
            self.ctx.replica.sync_steps_bucketed(batches, ring, cap)
            return
        self.ctx.replica.sync_steps(batches, lambda i, grad: self._mean(epoch, first + i, grad))

    def _mean(self, epoch: int, step: int, grad: np.ndarray) -> np.ndarray:
        """The workers' mean gradient (``grad`` is overwritten with it)."""
        if self.ctx.ring is not None:
            return self.ctx.ring.allreduce_mean(grad)
        return self.ctx.ps.sync(round_id(self.ctx.attempt, epoch, step), grad, out=grad)


class Averaging(Mode):
    """Local steps; weights averaged every ``frequency`` batches and every epoch end."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        freq = ctx.spec.get("frequency", "epoch")
        self.every = None if freq in (None, "epoch") else int(freq)
        self.period = self.every

    def _average(self, epoch: int, step: int) -> None:
        r = self.ctx.replica
        flat = r.get_flat()
        r.set_flat(self.ctx.ps.sync(round_id(self.ctx.attempt, epoch, step), flat, out=flat))

    def after_local(self, epoch: int, last: int, count: int) -> None:
        if self.every and (last + 1) % self.every == 0:
            self._average(epoch, last)

    def end_epoch(self, epoch: int, steps: int) -> None:
        if not (self.every and steps % self.every == 0):
            self._average(epoch, (1 << 28) - 1)
        super().end_epoch(epoch, steps)


MODE_CLASSES: dict[str, type[Mode]] = {
    "single": Mode,
    "synchronous": Synchronous,
    "averaging": Averaging,
    "asynchronous": Downpour,
    "hogwild": Hogwild,
    "easgd": ElasticAveraging,
    "aeasgd": AsyncElasticAveraging,
    "adag": Adag,
    "dynsgd": DynSgd,
    "eamsgd": ElasticMomentum,
}
if set(MODE_CLASSES) != set(MODES):  # a mode added in Scala needs its worker loop here
    raise ImportError(f"worker loops {sorted(MODE_CLASSES)} != contract modes {sorted(MODES)}")

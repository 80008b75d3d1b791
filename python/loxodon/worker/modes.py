"""The training modes' worker rules (docs/design.md, "Training modes"): what a worker
does with its local steps and when it exchanges with the server or the ring.

Each mode is a small class with one ``step`` (a batch), ``span`` (the steps up to the
next exchange, in one traced call over the held rows), ``after_local`` and
``end_epoch``; the epoch loop around them is :mod:`loxodon.worker.loops`. The
server-side rules (mean, locked add, elastic update) live in the parameter server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loxodon.contract import MODES
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


def _background(ctx: Context, overlaps: bool) -> Background | None:
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


class Downpour(Mode):
    """Asynchronous SGD: push the local delta, pull the center, every window.

    Over held rows an epoch's steps run in one traced call with the window's exchanges
    inside it (:meth:`Replica.window_steps`: the graph hands the weights to
    :meth:`_exchange_flat` and takes the center back); the epoch's partial window, and
    every exchange when a worker steps batch by batch, go through :meth:`_exchange`.
    With ``exchange_overlap`` the window's push and pull run on a background thread
    while the next window trains (:mod:`loxodon.worker.overlap`); at the end of that
    window the worker continues from the pulled center plus its own change since the
    push (which the server has not seen yet), and pushes that change. Every local step
    still reaches the center exactly once; a window starts from a center one window
    older than without overlap (other workers' pushes during the last window arrive
    at the next pull)."""

    overlaps = True  # the mode can run its exchanges beside the steps

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.window = max(1, int(ctx.spec.get("communication_window", 1)))
        # The weights the last push was taken against: the center set after it (blocking),
        # or the weights the worker went on from (overlapped).
        self.anchor = ctx.replica.get_flat()
        self.background = _background(ctx, self.overlaps)
        self._spare = np.empty_like(self.anchor)  # the overlapped pull's buffer
        # In-graph exchanges span the epoch; overlapped ones end a span each window.
        self.period = None if self.background is None else self.window

    def _push(self, delta: np.ndarray) -> None:
        self.ctx.ps.push(delta)

    def _local(self, count: int) -> None:
        """``count`` more local steps before the next push (ADAG counts them)."""

    def span(self, epoch: int, first: int, batches: np.ndarray) -> None:
        if self.background is not None:
            super().span(epoch, first, batches)
            return
        ctx, counted, exchanging = self.ctx, first, 0.0
        ends = (first + np.arange(1, len(batches) + 1)) % self.window == 0

        def exchange(i: int, flat: np.ndarray) -> np.ndarray:
            nonlocal counted, exchanging
            started = time.perf_counter()
            self._local(first + i + 1 - counted)
            counted = first + i + 1
            center = self._exchange_flat(flat)
            exchanging += time.perf_counter() - started
            return center

        started = time.perf_counter()
        ctx.replica.window_steps(batches, ends, exchange)
        # "local": the call less its exchanges' push, pull and delta (timed inside them).
        local = time.perf_counter() - started - exchanging
        ctx.phases["local"] = ctx.phases.get("local", 0.0) + local
        self._local(first + len(batches) - counted)

    def _exchange(self) -> None:
        if self.background is not None:
            self._exchange_overlapped()
            return
        ctx = self.ctx
        with ctx.timed("get_flat"):
            flat = ctx.replica.get_flat()
        center = self._exchange_flat(flat)
        with ctx.timed("set_flat"):
            ctx.replica.set_flat(center)

    def _exchange_flat(self, flat: np.ndarray) -> np.ndarray:
        """Push the change of the weights ``flat`` since the anchor, pull the center into
        the anchor and return it (the caller copies it before it is written again)."""
        ctx = self.ctx
        with ctx.timed("delta"):
            delta = flat - self.anchor
        with ctx.timed("push"):
            self._push(delta)
        with ctx.timed("pull"):
            self.anchor = ctx.ps.pull(out=self.anchor)
        return self.anchor

    def _exchange_overlapped(self) -> None:
        ctx, background = self.ctx, self.background
        assert background is not None
        with ctx.timed("get_flat"):
            flat = ctx.replica.get_flat()
        with ctx.timed("delta"):
            delta = flat - self.anchor
        if background.pending:
            with ctx.timed("join"):
                center = background.result()
            with ctx.timed("set_flat"):
                flat = np.add(center, delta, out=center)
                ctx.replica.set_flat(flat)
            self._spare = self.anchor
        self.anchor, into = flat, self._spare
        background.start(lambda: self._push_pull(delta, into))

    def _push_pull(self, delta: np.ndarray, into: np.ndarray) -> np.ndarray:
        self._push(delta)
        return self.ctx.ps.pull(out=into)

    def _drain(self) -> None:
        """Take the exchange in flight: the worker goes on from the center plus its
        change since that push (none at an epoch's end)."""
        background = self.background
        if background is None or not background.pending:
            return
        ctx = self.ctx
        with ctx.timed("join"):
            center = background.result()
        with ctx.timed("set_flat"):
            flat = np.add(center, ctx.replica.get_flat() - self.anchor, out=center)
            ctx.replica.set_flat(flat)
        self.anchor, self._spare = flat, self.anchor

    def after_local(self, epoch: int, last: int, count: int) -> None:
        self._local(count)
        if (last + 1) % self.window == 0:
            self._exchange()

    def end_epoch(self, epoch: int, steps: int) -> None:
        if steps % self.window:
            self._exchange()
        self._drain()  # validation and the epoch gate see the center, nothing in flight


class Hogwild(Downpour):
    """Downpour with lock-free adds on the server."""

    def _push(self, delta: np.ndarray) -> None:
        self.ctx.ps.push_hogwild(delta)


class Adag(Downpour):
    """ADAG (Hermans 2017): the server adds the delta divided by the local steps it holds (the
    window, or fewer for the rest of an epoch)."""

    overlaps = False  # the steps a push holds are counted as the loop runs

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.steps = 0

    def _local(self, count: int) -> None:
        self.steps += count

    def _push(self, delta: np.ndarray) -> None:
        self.ctx.ps.push_adag(delta, self.steps)
        self.steps = 0


class DynSgd(Downpour):
    """DynSGD (Jiang et al. 2017): the server divides a delta by 1 + its staleness."""

    overlaps = False  # its staleness is counted from the worker's pull

    def _push(self, delta: np.ndarray) -> None:
        self.ctx.ps.push_dynsgd(delta)


class ElasticAveraging(Mode):
    """EASGD (Zhang et al. 2015): worker and center pull toward each other.

    With ``exchange_overlap`` the window's exchange runs while the next window trains,
    and the elastic term e = alpha (x - c) it returns, computed from the weights sent,
    is subtracted at the end of that next window (one window late)."""

    evaluates_center = True
    synchronous = True
    overlaps = True

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.window = self.period = max(1, int(ctx.spec.get("communication_window", 1)))
        self.background = _background(ctx, self.overlaps)

    def _exchange(self, epoch: int, step: int) -> None:
        ctx, background = self.ctx, self.background
        with ctx.timed("get_flat"):
            x = ctx.replica.get_flat()
        rnd = round_id(ctx.attempt, epoch, step) if self.synchronous else -1
        if background is None:
            with ctx.timed("easgd"):
                e = ctx.ps.easgd(x, round=rnd)
            with ctx.timed("set_flat"):
                ctx.replica.set_flat(x - e)
            return
        if background.pending:
            with ctx.timed("join"):
                e = background.result()
            with ctx.timed("set_flat"):
                x -= e
                ctx.replica.set_flat(x)
        background.start(lambda: ctx.ps.easgd(x, round=rnd))

    def _drain(self) -> None:
        background = self.background
        if background is None or not background.pending:
            return
        ctx = self.ctx
        with ctx.timed("join"):
            e = background.result()
        with ctx.timed("set_flat"):
            ctx.replica.set_flat(ctx.replica.get_flat() - e)

    def after_local(self, epoch: int, last: int, count: int) -> None:
        if (last + 1) % self.window == 0:
            self._exchange(epoch, last)

    def end_epoch(self, epoch: int, steps: int) -> None:
        if steps % self.window:
            self._exchange(epoch, (1 << 28) - 1)
        self._drain()  # validation and the epoch gate see no exchange in flight


class AsyncElasticAveraging(ElasticAveraging):
    synchronous = False


class ElasticMomentum(AsyncElasticAveraging):
    """EAMSGD (Zhang et al. 2015): asynchronous elastic averaging whose local steps carry
    Nesterov momentum in weight space: the compiled optimizer steps from the look-ahead
    x + m v, and v = m v + that step, so x ends at x + v."""

    fused = False  # the look-ahead moves the weights before every step
    overlaps = False

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.momentum = np.float32(ctx.spec.get("momentum", 0.9))
        self.velocity = np.zeros(ctx.replica.num_params, np.float32)

    def step(self, epoch: int, step: int, x: np.ndarray, y: np.ndarray) -> None:
        r = self.ctx.replica
        ahead = r.get_flat() + self.momentum * self.velocity
        r.set_flat(ahead)
        r.train_on_batch(x, y)
        self.velocity = self.momentum * self.velocity + (r.get_flat() - ahead)
        if (step + 1) % self.window == 0:
            self._exchange(epoch, step)


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

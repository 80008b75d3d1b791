"""The Downpour family's worker rules (docs/design.md, "Training modes"): asynchronous
SGD (push the local change, pull the center, every window), with the server adding
under a lock (``asynchronous``), without one (``hogwild``), divided by the window's
steps (``adag``) or by 1 + the push's staleness (``dynsgd``).
"""

from __future__ import annotations

import time

import numpy as np

from loxodon.worker.mode import Context, Mode, background_exchanger


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
        self.background = background_exchanger(ctx, self.overlaps)
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

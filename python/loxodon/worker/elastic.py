"""The elastic averaging family's worker rules (docs/design.md, "Training modes"):
EASGD, its asynchronous form and EAMSGD (Zhang et al. 2015), whose workers and center
pull toward each other every window.
"""

from __future__ import annotations

import numpy as np

from loxodon.worker.mode import Context, Mode, background_exchanger, round_id


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
        self.background = background_exchanger(ctx, self.overlaps)

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

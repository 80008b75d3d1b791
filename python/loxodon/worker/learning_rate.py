"""A worker's learning rate: the mode's ``learning_rate_scale`` applied to the
compiled rate, then to each rate the driver's callbacks set (read from the blob
:data:`LEARNING_RATE` once an epoch is released, so it holds from the next
epoch's first step), and the unscaled rate put back before publishing.
"""

from __future__ import annotations

from typing import Any

from loxodon.ps_client import PSClient, PSError
from loxodon.worker.model_state import follows_learning_rate_schedule

# Written by the driver (loxodon.driver_callbacks) as the unscaled rate in text.
LEARNING_RATE = "loxodon/learning_rate"


def _rate(optimizer: Any) -> float:
    import keras

    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def scale_learning_rate(model: Any, scale: float) -> float | None:
    """Multiplies the optimizer's learning rate by ``scale``; returns the original
    (None when unchanged: scale 1, or a LearningRateSchedule, which is left alone)."""
    optimizer = model.optimizer
    if scale == 1.0 or follows_learning_rate_schedule(optimizer):
        return None
    original = _rate(optimizer)
    optimizer.learning_rate = original * scale
    return original


class WorkerRate:
    """The rate this worker trains with, following the driver's callbacks."""

    def __init__(self, model: Any, scale: float) -> None:
        self.optimizer = model.optimizer
        self.scale = scale
        self.settable = not follows_learning_rate_schedule(self.optimizer)
        self.unscaled = _rate(self.optimizer) if self.settable else None
        scale_learning_rate(model, scale)
        self.per_epoch: list[float] = []  # the rate each epoch ran at (scaled)

    def follow_driver(self, ps: PSClient) -> None:
        """Takes the rate the driver's callbacks last set, if any."""
        if not self.settable:
            return
        try:
            rate = float(bytes(ps.get_blob(LEARNING_RATE)).decode())
        except PSError:  # no callback changed the rate
            return
        if rate != self.unscaled:
            self.unscaled = rate
            self.optimizer.learning_rate = rate * self.scale if self.scale != 1.0 else rate

    def epoch_started(self) -> None:
        if self.settable:
            self.per_epoch.append(_rate(self.optimizer))

    def restore_unscaled(self) -> None:
        """The published model keeps the user's (unscaled) rate."""
        if self.settable and self.scale != 1.0:
            self.optimizer.learning_rate = self.unscaled

"""The Keras callbacks of a fit, run on the driver once per epoch: which ones
are accepted (none that acts per batch: batches run in the workers), and the
learning rate they set, which the workers follow from the next epoch on.

The rate travels as the parameter-server blob :data:`LEARNING_RATE` (the
unscaled rate as text), written before the driver releases an epoch; every
worker reads it once it is released, before its next epoch's first step, and
applies its mode's ``learning_rate_scale`` on top (``loxodon.worker.learning_rate``).
"""

from __future__ import annotations

import keras

from loxodon.ps_client import PSClient
from loxodon.worker.learning_rate import LEARNING_RATE

_BATCH_HOOKS = ("on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end")


def _keras_epoch_only(cb: keras.callbacks.Callback) -> bool:
    """Keras's own callbacks whose batch hooks do nothing as configured."""
    cbs = keras.callbacks
    if isinstance(cb, (cbs.History, cbs.ProgbarLogger)):
        return True
    if type(cb) in (cbs.ModelCheckpoint, cbs.BackupAndRestore):
        return getattr(cb, "save_freq", "epoch") == "epoch"
    if type(cb) is cbs.TensorBoard:
        return cb.update_freq == "epoch" and not getattr(cb, "_should_trace", False)
    return False


def batch_hooks(cb: keras.callbacks.Callback) -> list[str]:
    """The per-batch hooks ``cb`` implements (overridden in its class or set on it)."""
    if _keras_epoch_only(cb):
        return []
    base = keras.callbacks.Callback
    return [
        name
        for name in _BATCH_HOOKS
        if name in vars(cb) or getattr(type(cb), name, None) is not getattr(base, name)
    ]


def require_epoch_callbacks(callbacks: list[keras.callbacks.Callback]) -> None:
    """Refuses, before any task starts, a callback that would act per batch."""
    for cb in callbacks:
        hooks = batch_hooks(cb)
        if hooks:
            raise ValueError(
                f"callback {type(cb).__name__} implements {', '.join(hooks)}: loxodon runs "
                "callbacks on the driver once per epoch (batches run in the workers), so a "
                "per-batch hook would never run. Move its work to on_epoch_begin/on_epoch_end "
                "(for Keras's ModelCheckpoint/TensorBoard/BackupAndRestore: save_freq or "
                "update_freq='epoch') or drop the callback"
            )


def current_rate(model: keras.Model) -> float | None:
    """The driver's optimizer rate; None for a ``LearningRateSchedule`` (not settable)."""
    from loxodon.worker.model_state import follows_learning_rate_schedule

    optimizer = model.optimizer
    if follows_learning_rate_schedule(optimizer):
        return None
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class DriverCallbacks:
    """A fit's callbacks plus the rate the workers were last told."""

    def __init__(
        self, callbacks: list[keras.callbacks.Callback], model: keras.Model, epochs: int
    ) -> None:
        require_epoch_callbacks(callbacks)
        self.model = model
        self.list = keras.callbacks.CallbackList(
            callbacks, add_history=True, add_progbar=False, model=model, verbose=0, epochs=epochs
        )
        self.published: float | None = None

    def begin(self, initial_epoch: int) -> None:
        """``on_train_begin`` and the first ``on_epoch_begin``, run before the model is
        serialized for the workers, so a rate they set is in the archive."""
        self.model.stop_training = False
        self.list.on_train_begin()
        self.list.on_epoch_begin(initial_epoch)
        self.published = current_rate(self.model)

    def publish_rate(self, ps: PSClient) -> None:
        """Writes the driver's rate for the workers if a callback changed it."""
        rate = current_rate(self.model)
        if rate is not None and rate != self.published:
            ps.put_blob(LEARNING_RATE, repr(rate).encode())
            self.published = rate

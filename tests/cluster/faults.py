"""Fault injection timed from the driver's Keras callbacks, and a fit bounded
in wall time. A fault fires half an epoch into the epoch after ``after_epoch``
(an epoch's length is measured between the two epoch ends before it), so it
lands while the workers train, not while they wait at the epoch gate."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import keras


class MidEpochFault(keras.callbacks.Callback):
    def __init__(self, after_epoch: int, action: Callable[[], Any]) -> None:
        super().__init__()
        assert after_epoch >= 1, "needs an epoch before it to measure an epoch's length"
        self.after_epoch = after_epoch
        self.action = action
        self.ends: dict[int, float] = {}
        self.fired = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.ends[epoch] = time.monotonic()
        if epoch == self.after_epoch and not self.fired.is_set():
            length = self.ends[epoch] - self.ends.get(epoch - 1, self.ends[epoch] - 1.0)
            threading.Timer(length / 2, self._fire).start()

    def _fire(self) -> None:
        try:
            self.result = self.action()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            self.fired.set()


def bounded_fit(spark: Any, model: Any, deadline_s: float, **fit_args: Any) -> dict[str, Any]:
    """Runs ``model.fit(**fit_args)`` in a thread; returns ``{"history"}`` or
    ``{"error"}`` with ``"seconds"``. A fit still running at the deadline is a
    hang: its jobs are cancelled and the test fails."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["history"] = model.fit(**fit_args)
        except Exception as exc:  # noqa: BLE001 - the test judges it
            outcome["error"] = exc

    start = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(deadline_s)
    outcome["seconds"] = time.monotonic() - start
    if thread.is_alive():
        spark.sparkContext.cancelAllJobs()
        thread.join(30)
        raise AssertionError(f"the fit hung: still running after {deadline_s:.0f} s")
    return outcome

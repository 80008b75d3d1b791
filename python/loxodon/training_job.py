"""Driving a running fit from the driver: read the Scala ``TrainingJob``'s
epoch events, load the center weights into the driver's model, run the Keras
callbacks, then release the epoch (with a stop request if a callback set
``model.stop_training``). Every wait is bounded; any exit cancels the job.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import keras

from loxodon.driver_callbacks import DriverCallbacks
from loxodon.keras_io import WeightLayout
from loxodon.progress import EpochProgress
from loxodon.ps_client import PSClient


class TrainingError(RuntimeError):
    """The distributed fit failed; the message carries the workers' error."""


_POLL_MS = 500
_log = logging.getLogger("loxodon")


def _next_event(job: Any, deadline_s: float) -> dict[str, Any]:
    """The job's next event; fails if none arrives before the deadline."""
    give_up = time.monotonic() + deadline_s
    while time.monotonic() < give_up:
        raw = job.nextEvent(_POLL_MS)
        if raw is not None:
            return json.loads(raw)
    raise TrainingError(
        f"no epoch finished within {deadline_s:.0f} s; the job was cancelled. Raise "
        "SparkModel(sync_timeout=...) if one epoch legitimately takes longer"
    )


def _retry(event: dict[str, Any]) -> None:
    """The stage failed in a way a new attempt gets past; it runs again from the center."""
    _log.warning(
        "loxodon: the fit's stage failed and runs again from the parameter server's center "
        "(attempt %s of %s): %s",
        int(event["attempt"]) + 1,
        event.get("max_attempts"),
        str(event.get("message", "")).splitlines()[0] if event.get("message") else "",
    )


def run_training(
    job: Any,
    model: keras.Model,
    params: dict[str, Any],
    callbacks: DriverCallbacks,
    verbose: int,
    result: dict[str, Any] | None = None,
) -> keras.callbacks.History:
    """Drives ``job`` to its end; ``result``, when given, receives the ``done``
    event's result (``attempts``, ``epochs_run``, ``rows``, ``workers``). The callbacks
    have begun (``DriverCallbacks.begin``, before the model was serialized)."""
    epochs, initial_epoch = int(params["epochs"]), int(params["initial_epoch"])
    callback_list = callbacks.list
    layout = WeightLayout(model)
    progress = EpochProgress(
        epochs, initial_epoch, verbose, f"loxodon {params['mode']} x{params['num_workers']}"
    )
    # An epoch may legitimately be slow; the workers' own sync deadlines catch hangs.
    epoch_deadline = max(600.0, 10 * params["sync_timeout_ms"] / 1000.0)
    try:
        with PSClient.for_job(job, timeout=120) as ps:
            while True:
                event = _next_event(job, epoch_deadline)
                kind = event.get("type")
                if kind == "failed":
                    raise TrainingError(event.get("message", "the training job failed"))
                if kind == "done":
                    if result is not None:
                        result.update(event.get("result", {}))
                    break
                if kind == "retry":
                    _retry(event)
                    continue
                if kind != "epoch":
                    continue
                epoch = int(event["epoch"])
                logs = {k: float(v) for k, v in event["logs"].items()}
                layout.set_flat(ps.pull())
                callback_list.on_epoch_end(epoch, logs)
                progress.epoch(epoch, epochs, logs, event.get("extra", {}))
                stop = bool(model.stop_training) or epoch + 1 >= epochs
                if not stop:
                    # Before the release: a rate set here reaches the workers' next epoch.
                    callback_list.on_epoch_begin(epoch + 1)
                    callbacks.publish_rate(ps)
                job.release(epoch, bool(model.stop_training))
                if stop:
                    event = _next_event(job, epoch_deadline)
                    while event.get("type") == "retry":
                        _retry(event)
                        event = _next_event(job, epoch_deadline)
                    if event.get("type") == "failed":
                        raise TrainingError(event.get("message", "the training job failed"))
                    if result is not None:
                        result.update(event.get("result", {}))
                    break
            layout.set_flat(ps.pull())
            callback_list.on_train_end()
    except BaseException:
        job.cancel()
        raise
    finally:
        progress.close()
        job.close()
    return model.history

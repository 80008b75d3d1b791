"""Which GPUs a worker process sees, checked against its task's and reported.

The JVM pool keys workers by the task's Spark ``gpu`` addresses and starts each
with ``CUDA_VISIBLE_DEVICES`` set to them, before TensorFlow is imported
(docs/design.md, "GPUs"); the TASK spec's ``gpus`` carries the same addresses.
A task whose addresses differ from its process's would train on another task's
GPU, so it fails before touching the model. Without a ``gpu`` resource
(``gpus`` empty) the environment is the executor's, left alone.
"""

from __future__ import annotations

import os
from typing import Any

VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"


def check(spec: dict[str, Any]) -> None:
    """Fails the task when its GPU addresses are not exactly the visible ones."""
    task = spec.get("gpus") or ""
    visible = os.environ.get(VISIBLE_ENV)
    if task and visible != task:
        raise RuntimeError(
            f"task {spec.get('partition')} holds GPUs {task!r} but its Python worker sees "
            f"{VISIBLE_ENV}={visible!r}: the worker pool must start one worker per GPU set"
        )


def report(spec: dict[str, Any], model: Any = None) -> dict[str, Any]:
    """What the task held and what TensorFlow used: ``task_gpus`` (Spark's addresses),
    ``visible_gpus`` (``CUDA_VISIBLE_DEVICES``, None when unset), ``gpus`` (TensorFlow's
    logical GPU devices with their device names) and ``weights_device`` (where the
    model's first weight lives, the proof that training ran there)."""
    import tensorflow as tf

    devices = []
    for physical, logical in zip(
        tf.config.list_physical_devices("GPU"), tf.config.list_logical_devices("GPU"), strict=False
    ):
        details = tf.config.experimental.get_device_details(physical)
        devices.append({"device": logical.name, "name": details.get("device_name", "")})
    weights = list(getattr(model, "weights", []) or [])
    value = getattr(weights[0], "value", None) if weights else None
    return {
        "task_gpus": [a for a in (spec.get("gpus") or "").split(",") if a],
        "visible_gpus": os.environ.get(VISIBLE_ENV),
        "gpus": devices,
        "weights_device": getattr(value, "device", None),
    }

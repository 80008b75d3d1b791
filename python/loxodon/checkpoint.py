"""The driver's side of ``fit(..., checkpoint_dir=...)`` (docs/design.md,
"Checkpoint and resume"): where a fit resumes and the history it resumes with.

The checkpoints themselves are written and read by the Scala ``Checkpoints``
(through Hadoop's FileSystem, so any URI Spark reaches works), and checked
against the fit's settings and model when the fit starts; this module only asks
for the newest one before the callbacks begin, so they begin at the right epoch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import keras
from pyspark.sql import SparkSession

from loxodon._jvm import java_session, python_api


@dataclass(frozen=True)
class Resume:
    """A checkpoint to resume from: the epoch it holds and the logs of its epochs."""

    uri: str
    epoch: int
    history: list[dict[str, float]]

    @property
    def next_epoch(self) -> int:
        return self.epoch + 1


def resume_point(spark: SparkSession, checkpoint_dir: str) -> Resume | None:
    """The newest checkpoint under ``checkpoint_dir`` (None: none yet); a bad URI is an
    error naming the fix. Whether it belongs to this fit, and is not finished, the fit
    checks when it starts (Scala ``Trainer.resumable``), before any task."""
    if not isinstance(checkpoint_dir, str) or not checkpoint_dir.strip():
        raise ValueError(
            f"checkpoint_dir must be a Hadoop URI such as file:///tmp/ckpt, got {checkpoint_dir!r}"
        )
    raw = python_api(spark).latestCheckpoint(java_session(spark), checkpoint_dir)
    if raw is None:
        return None
    found: dict[str, Any] = json.loads(raw)
    return Resume(str(found["uri"]), int(found["epoch"]), list(found["history"]))


def restore_history(callbacks: keras.callbacks.CallbackList, resume: Resume) -> None:
    """Puts the checkpoint's epochs into the fit's ``History`` (after ``on_train_begin``
    emptied it), so the returned history covers the whole fit."""
    for history in callbacks.callbacks:
        if isinstance(history, keras.callbacks.History):
            _fill(history, resume)


def _fill(history: keras.callbacks.History, resume: Resume) -> None:
    history.epoch = list(range(len(resume.history)))
    merged: dict[str, list[float]] = {}
    for logs in resume.history:
        for key, value in logs.items():
            merged.setdefault(key, []).append(float(value))
    history.history = merged

"""Experiment tracking of a search: MLflow when it is installed (one parent run
for the search, one nested run per trial with its params and per-epoch
metrics, step = epoch), TensorBoard scalars on request (one run directory per
trial), a no-op otherwise."""

from __future__ import annotations

import importlib
from typing import Any

from loxodon.selection.strategies import Trial


class Tracker:
    """The no-op tracker; :class:`MlflowTracker` records."""

    def start_search(self, name: str, settings: dict[str, Any]) -> None:
        """A search begins."""

    def start_trial(self, trial: Trial) -> None:
        """A trial begins."""

    def log_epoch(self, trial_id: int, epoch: int, metrics: dict[str, float]) -> None:
        """A trial finished an epoch."""

    def end_trial(self, trial_id: int, status: str) -> None:
        """A trial ended (completed, or stopped with a reason)."""

    def end_search(self) -> None:
        """The search ended (also after a failure)."""


class MlflowTracker(Tracker):
    """MLflow runs: the search as the parent, each trial nested under it."""

    def __init__(self, mlflow: Any) -> None:
        self.mlflow = mlflow
        self.parent: Any = None
        self.runs: dict[int, Any] = {}

    def start_search(self, name: str, settings: dict[str, Any]) -> None:
        self.parent = self.mlflow.start_run(run_name=name)
        self.mlflow.log_params(settings)

    def start_trial(self, trial: Trial) -> None:
        client = self.mlflow.tracking.MlflowClient()
        parent_id = self.parent.info.run_id
        run = client.create_run(
            self.parent.info.experiment_id,
            tags={"mlflow.parentRunId": parent_id, "mlflow.runName": f"trial-{trial.trial_id}"},
        )
        self.runs[trial.trial_id] = run
        for key, value in trial.params.items():
            client.log_param(run.info.run_id, key, value)
        client.log_param(run.info.run_id, "bracket", trial.bracket)

    def log_epoch(self, trial_id: int, epoch: int, metrics: dict[str, float]) -> None:
        client = self.mlflow.tracking.MlflowClient()
        for key, value in metrics.items():
            client.log_metric(self.runs[trial_id].info.run_id, key, value, step=epoch)

    def end_trial(self, trial_id: int, status: str) -> None:
        run = self.runs.get(trial_id)
        if run is not None:
            client = self.mlflow.tracking.MlflowClient()
            client.set_tag(run.info.run_id, "loxodon.status", status)
            client.set_terminated(run.info.run_id)

    def end_search(self) -> None:
        if self.parent is not None:
            self.mlflow.end_run()
            self.parent = None


class TensorBoardTracker(Tracker):
    """Per-epoch scalars of every trial under ``logdir/trial-<id>`` (TensorBoard
    shows the trials as runs side by side)."""

    def __init__(self, logdir: str) -> None:
        import tensorflow as tf

        self.tf = tf
        self.logdir = logdir
        self.writers: dict[int, Any] = {}

    def start_trial(self, trial: Trial) -> None:
        self.writers[trial.trial_id] = self.tf.summary.create_file_writer(
            f"{self.logdir}/trial-{trial.trial_id}"
        )

    def log_epoch(self, trial_id: int, epoch: int, metrics: dict[str, float]) -> None:
        writer = self.writers.get(trial_id)
        if writer is None:
            return
        with writer.as_default():
            for key, value in metrics.items():
                self.tf.summary.scalar(key, value, step=epoch)
        writer.flush()

    def end_search(self) -> None:
        for writer in self.writers.values():
            writer.close()


class _Both(Tracker):
    def __init__(self, trackers: list[Tracker]) -> None:
        self.trackers = trackers

    def start_search(self, name: str, settings: dict[str, Any]) -> None:
        for t in self.trackers:
            t.start_search(name, settings)

    def start_trial(self, trial: Trial) -> None:
        for t in self.trackers:
            t.start_trial(trial)

    def log_epoch(self, trial_id: int, epoch: int, metrics: dict[str, float]) -> None:
        for t in self.trackers:
            t.log_epoch(trial_id, epoch, metrics)

    def end_trial(self, trial_id: int, status: str) -> None:
        for t in self.trackers:
            t.end_trial(trial_id, status)

    def end_search(self) -> None:
        for t in self.trackers:
            t.end_search()


def tracker(enabled: bool | None = None, tensorboard_dir: str | None = None) -> Tracker:
    """MLflow tracking when ``mlflow`` imports and ``enabled`` is not False
    (``enabled=True`` without mlflow is an error), plus TensorBoard scalars
    when ``tensorboard_dir`` is given; a no-op when neither applies."""
    trackers: list[Tracker] = []
    if enabled is not False:
        try:
            trackers.append(MlflowTracker(importlib.import_module("mlflow")))
        except ImportError:
            if enabled:
                raise ImportError("tracking=True needs mlflow: pip install mlflow") from None
    if tensorboard_dir:
        trackers.append(TensorBoardTracker(tensorboard_dir))
    if not trackers:
        return Tracker()
    return trackers[0] if len(trackers) == 1 else _Both(trackers)

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
    """MLflow runs: the search as the parent run (nested itself when a run is
    already active), each trial a child run tagged with ``mlflow.parentRunId``,
    its params logged and its per-epoch metrics logged with ``step = epoch``."""

    def __init__(self, mlflow: Any) -> None:
        self.mlflow = mlflow
        self.client: Any = None
        self.parent: Any = None
        self.open_runs: dict[int, str] = {}  # trial id -> MLflow run id, until the trial ends

    def start_search(self, name: str, settings: dict[str, Any]) -> None:
        nested = self.mlflow.active_run() is not None
        self.parent = self.mlflow.start_run(run_name=name, nested=nested)
        self.client = self.mlflow.tracking.MlflowClient()
        self.mlflow.log_params(settings)

    def start_trial(self, trial: Trial) -> None:
        run = self.client.create_run(
            self.parent.info.experiment_id,
            tags={
                "mlflow.parentRunId": self.parent.info.run_id,
                "mlflow.runName": f"trial-{trial.trial_id}",
            },
        )
        run_id = run.info.run_id
        self.open_runs[trial.trial_id] = run_id
        for key, value in trial.params.items():
            self.client.log_param(run_id, key, value)
        self.client.log_param(run_id, "bracket", trial.bracket)
        if trial.parent is not None:  # a PBT child: whose state it continued, from when
            self.client.log_param(run_id, "parent", trial.parent)
            self.client.log_param(run_id, "start_epoch", trial.start_epoch)

    def log_epoch(self, trial_id: int, epoch: int, metrics: dict[str, float]) -> None:
        run_id = self.open_runs[trial_id]
        for key, value in metrics.items():
            self.client.log_metric(run_id, key, value, step=epoch)

    def end_trial(self, trial_id: int, status: str) -> None:
        run_id = self.open_runs.pop(trial_id, None)
        if run_id is not None:
            # An early stop is a normal end in MLflow's terms; the reason goes in a tag.
            self.client.set_tag(run_id, "loxodon.status", status)
            self.client.set_terminated(run_id, status="FINISHED")

    def end_search(self) -> None:
        if self.parent is None:
            return
        killed = bool(self.open_runs)  # trials still open: the search did not finish
        for run_id in self.open_runs.values():
            self.client.set_terminated(run_id, status="KILLED")
        self.open_runs.clear()
        self.mlflow.end_run(status="KILLED" if killed else "FINISHED")
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
                raise ImportError(
                    "tracking=True needs mlflow: pip install 'loxodon[tracking]' "
                    "(mlflow-skinny; the full mlflow works too)"
                ) from None
    if tensorboard_dir:
        trackers.append(TensorBoardTracker(tensorboard_dir))
    if not trackers:
        return Tracker()
    return trackers[0] if len(trackers) == 1 else _Both(trackers)

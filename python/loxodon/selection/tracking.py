"""Experiment tracking of a search: MLflow when it is installed (one parent run
for the search, one nested run per trial with its params and per-epoch
metrics, step = epoch), a no-op otherwise."""

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


def tracker(enabled: bool | None = None) -> Tracker:
    """MLflow tracking when ``mlflow`` imports and ``enabled`` is not False; else a no-op.
    ``enabled=True`` without mlflow is an error."""
    if enabled is False:
        return Tracker()
    try:
        mlflow = importlib.import_module("mlflow")
    except ImportError:
        if enabled:
            raise ImportError("tracking=True needs mlflow: pip install mlflow") from None
        return Tracker()
    return MlflowTracker(mlflow)

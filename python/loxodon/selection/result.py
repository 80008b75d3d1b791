"""What a model-selection search returns: the best model in every form a
user wants it (Keras, ``SparkModel``, Spark ML ``KerasModel``), every trial's
per-epoch logs (also as a DataFrame), the strategy's decisions, the logged
schedule (which replays bit-identically), and pictures of both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from loxodon._jvm import running_session
from loxodon.keras_io import load_model
from loxodon.selection.strategies import Trial


@dataclass
class SelectionResult:
    """The outcome of :meth:`loxodon.selection.ModelSelection.fit`.

    Attributes:
        trials: every trial, by id (a PBT child names its ``parent``; see
            :meth:`lineage`).
        history: one row per trial and epoch: ``{"trial_id", "epoch", <logs>}``.
        decisions: the strategy's decisions (which trials stopped at which rung;
            PBT's ``exploit`` records name the ``donor`` and the new ``params``).
        schedule: every unit the scheduler handed out (worker, trial, epoch,
            partition, kind, start/end seconds, status); pass it as
            ``fit(..., replay=...)`` to reproduce the weights exactly.
        archives: ``.keras`` archives of the exported trials (the best one,
            or all with ``keep_models=True``).
        best_trial: the id of the best trial by the objective.
        workers: each worker's summary (units run, busy seconds, data bytes held).
        server_stats: the parameter server's counters (bytes moved, blobs).
    """

    trials: dict[int, Trial]
    history: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    schedule: list[dict[str, Any]]
    archives: dict[int, bytes]
    best_trial: int | None
    objective: str
    mode: str
    workers: list[dict[str, Any]] = field(default_factory=list)
    server_stats: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    execution: str = "mop"

    # -- the best model ---------------------------------------------------------------
    @property
    def best_params(self) -> dict[str, Any]:
        if self.best_trial is None:
            raise ValueError("the search has no best trial (no trial reported an epoch)")
        return dict(self.trials[self.best_trial].params)

    @property
    def best_value(self) -> float:
        """The best trial's objective after its last epoch."""
        rows = [r for r in self.history if r["trial_id"] == self.best_trial]
        return float(max(rows, key=lambda r: r["epoch"])[self.objective])

    def model(self, trial_id: int) -> Any:
        """The trained ``keras.Model`` of an exported trial."""
        if trial_id not in self.archives:
            raise KeyError(
                f"trial {trial_id} was not exported: only {sorted(self.archives)} were; "
                "pass keep_models=True to fit() to keep every trained model"
            )
        return load_model(self.archives[trial_id])

    def best_model(self) -> Any:
        """The best trial's trained ``keras.Model``."""
        if self.best_trial is None:
            raise ValueError("the search has no best trial")
        return self.model(self.best_trial)

    def best_spark_model(self, **kwargs: Any) -> Any:
        """The best model as a :class:`loxodon.SparkModel` (``kwargs``: its options)."""
        from loxodon.spark_model import SparkModel

        return SparkModel(self.best_model(), **kwargs)

    def best_ml_model(self, **params: Any) -> Any:
        """The best model as a Spark ML :class:`loxodon.ml.KerasModel` Transformer."""
        from loxodon.ml import KerasModel

        return KerasModel.fromKerasModel(self.best_model(), **params)

    def lineage(self, trial_id: int) -> list[int]:
        """The trial and its ancestors (PBT: each a donor whose state it continued),
        oldest first; ``[trial_id]`` for a trial that started from scratch."""
        chain = [trial_id]
        while (parent := self.trials[chain[0]].parent) is not None:
            chain.insert(0, parent)
        return chain

    # -- tables and pictures -------------------------------------------------------------
    def metric_rows(self) -> list[tuple[int, int, str, float]]:
        """Every (trial_id, epoch, metric, value), in the order they happened."""
        return [
            (int(r["trial_id"]), int(r["epoch"]), k, float(v))
            for r in self.history
            for k, v in r.items()
            if k not in ("trial_id", "epoch")
        ]

    def history_frame(self, spark: SparkSession | None = None) -> DataFrame:
        """A Spark DataFrame of every trial x epoch x metric (long form)."""
        session = spark or running_session()
        if session is None:
            raise RuntimeError("no active SparkSession for history_frame()")
        return session.createDataFrame(
            self.metric_rows(), "trial_id int, epoch int, metric string, value double"
        )

    def final_values(self) -> dict[int, float]:
        """Each trial's objective after its last epoch."""
        last: dict[int, dict[str, Any]] = {}
        for r in self.history:
            if r["trial_id"] not in last or r["epoch"] >= last[r["trial_id"]]["epoch"]:
                last[r["trial_id"]] = r
        return {t: float(r[self.objective]) for t, r in sorted(last.items())}

    def plot_learning_curves(self, path: str, metric: str | None = None) -> str:
        """A PNG of every trial's ``metric`` (default: the objective) per epoch."""
        from loxodon.selection.plots import learning_curves

        return learning_curves(self.history, metric or self.objective, path)

    def plot_schedule(self, path: str) -> str:
        """A PNG Gantt chart of the schedule: worker x time, coloured by trial."""
        from loxodon.selection.plots import gantt

        return gantt(self.schedule, path)

    def summary(self) -> str:
        """A few lines: the best trial, its params and value, and the search's cost."""
        units = sum(1 for u in self.schedule if u["kind"] == "train")
        lines = [
            f"{len(self.trials)} trials, {len(self.history)} trial-epochs, {units} train units, "
            f"{self.seconds:.1f} s ({self.execution})",
        ]
        if self.best_trial is not None:
            lines.append(
                f"best: trial {self.best_trial} {self.objective}={self.best_value:.4f} "
                f"params={self.best_params}"
            )
            ancestors = self.lineage(self.best_trial)[:-1]
            if ancestors:
                lines.append(f"continued from trials {' -> '.join(map(str, ancestors))}")
        return "\n".join(lines)

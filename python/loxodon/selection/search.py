"""Runs a search strategy on Spark with model hopper parallelism.

:class:`ModelSelection` is the driver side of a search: it starts ONE barrier
stage of N workers through the JVM (``loxodon.select.SelectionJob``), each
worker holding one partition of the data for the whole search, builds each
trial's model with ``model_fn(params)``, and turns the strategy's decisions
into requests to the Scala hop scheduler, which moves the models between the
workers through the parameter server's model store. ``execution="task"``
runs the same search task-parallel instead (every worker holds all the
data and trains whole epochs of one model), for comparison and for data
small enough to copy.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any

import keras
from pyspark.sql import DataFrame, SparkSession

from loxodon._jvm import java_session, python_api, required_session
from loxodon.inputs import driver_placement, prepare
from loxodon.keras_io import load_model, model_to_archive
from loxodon.model_io import ModelIO
from loxodon.model_io_frames import FEATURES, LABEL, flat_arrays, flat_frame
from loxodon.ps_client import PSClient
from loxodon.selection.inherit import committed_state_blob, continued_state
from loxodon.selection.result import SelectionResult
from loxodon.selection.strategies import Actions, SearchStrategy, Trial
from loxodon.selection.tracking import tracker as make_tracker
from loxodon.training_job import TrainingError
from loxodon.worker.model_state import (
    ModelState,
    architecture_key,
    follows_learning_rate_schedule,
)

_POLL_MS = 500
EXECUTIONS = ("mop", "task")


class ModelSelection:
    """Model selection over one partitioned data set.

    Args:
        model_fn: ``params -> compiled keras.Model`` for one configuration.
        strategy: a :class:`~loxodon.selection.strategies.SearchStrategy`
            (GridSearch, RandomSearch, TPESearch, Hyperband, ASHA, PBT).
        num_workers: workers (task slots) of the barrier stage; each holds
            1/N of the data (``execution="mop"``) or all of it (``"task"``).
        objective: the epoch log the strategy optimises, e.g. ``val_accuracy``.
        batch_size: used when the space has no ``batch_size`` key; a
            ``learning_rate`` key, when present, is set on the optimizer.
        execution: ``"mop"`` (model hopper) or ``"task"`` (task-parallel).
        seed: partitioning, validation split and every sub-epoch shuffle.
        tracking: MLflow tracking (``None``: when mlflow is installed).
        tensorboard_dir: also write each trial's epoch logs as TensorBoard
            scalars under ``<dir>/trial-<id>``.
        verbose: 1 prints a line per trial epoch and per decision.
        timeout: the longest wait, in seconds, for any one event of the search.
        learning_rate_schedule: ``(epoch, base_rate) -> rate``, the learning
            rate of each 0-based epoch of a trial whose base rate is its
            ``learning_rate`` param (or its optimizer's rate). Every sub-epoch
            of an epoch trains at that rate: the same as plain Keras's
            ``fit(..., callbacks=[LearningRateScheduler(lambda e, _:
            schedule(e, base_rate))])``. The strategy must bound its epochs
            (``max_epochs``); the optimizer's rate must be a plain number.
        driver_upload: NumPy inputs that fit the driver JVM comfortably are
            placed by the driver and uploaded to the search's parameter server
            (``loxodon.driver_data``) instead of going through a DataFrame;
            ``False`` forces the DataFrame route.
    """

    def __init__(
        self,
        model_fn: Callable[[dict[str, Any]], keras.Model],
        strategy: SearchStrategy,
        num_workers: int = 2,
        objective: str = "val_accuracy",
        batch_size: int = 32,
        execution: str = "mop",
        seed: int = 0,
        tracking: bool | None = None,
        tensorboard_dir: str | None = None,
        verbose: int = 1,
        timeout: float = 1800.0,
        driver_upload: bool = True,
        spark: SparkSession | None = None,
        learning_rate_schedule: Callable[[int, float], float] | None = None,
    ) -> None:
        if execution not in EXECUTIONS:
            raise ValueError(f"execution must be one of {EXECUTIONS}, got {execution!r}")
        if learning_rate_schedule is not None and strategy.max_epochs is None:
            raise ValueError(
                f"a learning_rate_schedule needs a strategy that bounds its epochs; "
                f"{type(strategy).__name__} has no max_epochs: set one on it"
            )
        if num_workers < 1:
            raise ValueError(f"num_workers must be at least 1, got {num_workers}")
        self.model_fn = model_fn
        self.strategy = strategy
        self.num_workers = num_workers
        self.objective = objective
        self.batch_size = batch_size
        self.execution = execution
        self.seed = seed
        self.tracking = tracking
        self.tensorboard_dir = tensorboard_dir
        self.verbose = verbose
        self.timeout = timeout
        self.driver_upload = driver_upload
        self.learning_rate_schedule = learning_rate_schedule
        self._spark = spark

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            self._spark = required_session("ModelSelection")
        return self._spark

    def fit(
        self,
        data: Any,
        y: Any = None,
        validation_split: float = 0.2,
        validation_data: Any = None,
        features_col: Any = "features",
        label_col: Any = "label",
        keep_models: bool = False,
        replay: SelectionResult | list[dict[str, Any]] | None = None,
    ) -> SelectionResult:
        """Run the search over ``data`` (DataFrame, RDD, or NumPy ``x`` with
        ``y``). For models of several inputs or outputs (each trial's the same as
        the first's) ``x``/``y`` are lists or dicts of arrays and
        ``features_col``/``label_col`` a list or dict of columns per input and
        output, as in ``SparkModel.fit``. ``keep_models`` also exports every
        trial's trained model; ``replay`` (a result or its ``schedule``) makes
        every model visit the partitions in the logged order, which reproduces
        its weights exactly."""
        schedule = replay.schedule if isinstance(replay, SelectionResult) else replay
        actions = self.strategy.start()
        if not actions.add:
            raise ValueError("the strategy proposed no trials")
        first = self._build(actions.add[0])
        started = time.perf_counter()
        inputs = (data, y, validation_data, features_col, label_col)
        io = ModelIO(first)
        if io.multi:  # one flat vector per row, split again by each worker (model_io.py)
            inputs = _flat_inputs(io, *inputs)
        job = self._start(
            inputs,
            validation_split,
            model_to_archive(first),
            json.dumps(schedule) if schedule is not None else None,
        )
        try:
            run = _SearchRun(self, job, {actions.add[0].trial_id: first}, keep_models)
        except BaseException:
            job.close()
            raise
        try:
            run.apply(actions)
            run.loop()
            exported = run.export()
            job.finish()
            done = run.wait_for("done")
            return SelectionResult(
                trials=run.trials,
                history=run.history,
                decisions=list(self.strategy.decisions),
                schedule=json.loads(job.scheduleJson()),
                archives=exported,
                best_trial=self.strategy.best(),
                objective=self.objective,
                mode=self.strategy.mode,
                workers=done.get("result", []),
                server_stats=json.loads(job.statsJson()),
                seconds=time.perf_counter() - started,
                execution=self.execution,
            )
        except BaseException:
            job.cancel()
            raise
        finally:
            run.tracker.end_search()
            run.ps.close()
            job.close()

    def _start(
        self,
        inputs: tuple[Any, Any, Any, str | list[str], str],
        validation_split: float,
        archive: bytes,
        schedule: str | None,
    ) -> Any:
        """Starts the search's job over ``inputs`` (data, y, validation_data,
        features_col, label_col): NumPy rows the driver can hold are placed and
        uploaded by the driver, anything else goes through a DataFrame."""
        data, y, validation_data, features_col, label_col = inputs
        api, session = python_api(self.spark), java_session(self.spark)
        task = self.execution == "task"
        params: dict[str, Any] = {"num_workers": self.num_workers, "seed": self.seed}
        driver = None
        if self.driver_upload:
            placed = 1 if task else self.num_workers  # task-parallel: every row, once
            driver = driver_placement(
                self.spark, data, y, validation_data, placed, self.seed, validation_split
            )
        if driver is not None:
            params |= {"validation_split": validation_split, "features_col": "features"}
            params["label_col"] = "label"
            job = api.startDriverDataSelection(
                session, driver.layout_json(), archive, json.dumps(params), schedule, task
            )
            driver.start(job)
            return job
        train = prepare(self.spark, data, y, features_col, label_col)
        val = None
        if validation_data is not None:
            vx, vy = (
                validation_data if isinstance(validation_data, tuple) else (validation_data, None)
            )
            val = prepare(self.spark, vx, vy, train.features_col, train.label_col)
        params |= {
            "validation_split": 0.0 if val is not None else validation_split,
            "features_col": train.features_col,
            "label_col": train.label_col,
        }
        return api.startSelection(
            session,
            train.frame._jdf,
            val.frame._jdf if val is not None else None,
            archive,
            json.dumps(params),
            schedule,
            task,
        )

    def _build(self, trial: Trial) -> keras.Model:
        model = self.model_fn(dict(trial.params))
        if not isinstance(model, keras.Model) or getattr(model, "optimizer", None) is None:
            raise TypeError(
                f"model_fn must return a compiled keras.Model; for trial {trial.trial_id} "
                f"({trial.params}) it returned {type(model).__name__} without an optimizer: "
                "call model.compile(...) inside model_fn"
            )
        return model


def _flat_inputs(
    io: ModelIO, data: Any, y: Any, validation_data: Any, features_col: Any, label_col: Any
) -> tuple[Any, Any, Any, str, str]:
    """A multi-input/output search's data as one flat features and label vector per row
    (DataFrames gain the two flat columns; lists or dicts of arrays become arrays)."""
    if isinstance(data, DataFrame):
        if y is not None:
            raise ValueError("y must be None when data is a DataFrame: name label_col instead")
        if validation_data is not None:
            validation_data = flat_frame(validation_data, io, features_col, label_col)
        return flat_frame(data, io, features_col, label_col), None, validation_data, FEATURES, LABEL
    if y is None:
        raise ValueError("y: a search of NumPy inputs needs labels (a list or dict per output)")
    x, flat_y = flat_arrays(io, data, y)
    if validation_data is not None:
        if not (isinstance(validation_data, tuple) and len(validation_data) == 2):
            raise ValueError("validation_data: give (x, y), each a list or dict per input/output")
        validation_data = flat_arrays(io, *validation_data)
    return x, flat_y, validation_data, "features", "label"


class _SearchRun:
    """The mutable state of one search: trials, their epochs, the event loop."""

    def __init__(
        self, owner: ModelSelection, job: Any, built: dict[int, keras.Model], keep_models: bool
    ) -> None:
        self.owner = owner
        self.job = job
        self.ps = PSClient.for_job(job)
        self.built = built
        self.keep_models = keep_models
        self.export_requested: set[int] = set()
        self.exported: set[int] = set()
        self.trials: dict[int, Trial] = {}
        self.history: list[dict[str, Any]] = []
        self.running: set[int] = set()
        self.requested: dict[int, int] = {}  # epochs asked of the scheduler, per trial
        self.epochs_done: dict[int, int] = {}
        self.arch: dict[int, str] = {}  # each trial's architecture key
        self.tracker = make_tracker(owner.tracking, owner.tensorboard_dir)
        self.tracker.start_search(
            "loxodon-selection",
            {"execution": owner.execution, "num_workers": owner.num_workers},
        )

    def apply(self, actions: Actions) -> None:
        # Children first read their parents' states: a parent run in the same actions
        # must not have trained on yet.
        for trial in actions.add:
            model = self.built.pop(trial.trial_id, None) or self.owner._build(trial)
            unit = {"batch_size": int(trial.params.get("batch_size", self.owner.batch_size))}
            if "learning_rate" in trial.params:
                unit["learning_rate"] = float(trial.params["learning_rate"])
            if self.owner.learning_rate_schedule is not None:
                rates = epoch_rates(
                    self.owner.learning_rate_schedule, model, trial, self.owner.strategy.max_epochs
                )
                unit["learning_rates"] = rates[trial.start_epoch :]  # a worker's epochs start at 0
            # Workers that compiled this architecture take the trial without loading its
            # archive: the unit names the architecture and the first state is a blob.
            unit["arch"] = self.arch[trial.trial_id] = architecture_key(model)
            archive = model_to_archive(model)
            if trial.parent is None:
                state = initial_state(model, unit)
            else:
                state = self._inherited_state(trial, model, unit)
            # Over the search's own parameter-server connection: Py4J would carry the bytes
            # as base64 text (about 0.1 s per MB each way).
            self.ps.put_blob(str(self.job.archiveBlob(trial.trial_id)), archive)
            self.ps.put_blob(str(self.job.initialStateBlob(trial.trial_id)), state)
            self.job.addStoredModel(trial.trial_id, True, json.dumps(unit))
            self.trials[trial.trial_id] = trial
            # The scheduler counts a trial's epochs from 0; the search from start_epoch.
            self.requested[trial.trial_id] = self.epochs_done[trial.trial_id] = trial.start_epoch
            self.tracker.start_trial(trial)
            self._run(trial.trial_id)
        for trial_id in actions.run:
            self._run(trial_id)
        for trial_id, reason in actions.stop.items():
            self.job.retire(trial_id)
            self.running.discard(trial_id)
            if self.keep_models:  # final now: export while other trials still train
                self._export(trial_id)
            self.tracker.end_trial(trial_id, reason)
            if self.owner.verbose:
                print(f"trial {trial_id}: stopped ({reason})", flush=True)

    def _inherited_state(self, trial: Trial, model: keras.Model, unit: dict[str, Any]) -> bytes:
        """The child's first state: its parent's current one (see :mod:`.inherit`)."""
        parent, start = trial.parent, trial.start_epoch
        if parent not in self.trials:
            raise ValueError(f"trial {trial.trial_id}'s parent {parent} is no trial of this search")
        done, asked = self.epochs_done[parent], self.requested[parent]
        if start != done or asked != done or parent in self.running:
            raise ValueError(
                f"trial {trial.trial_id} continues trial {parent} after epoch {start}, but trial "
                f"{parent} has reported {done} epochs and was asked for {asked}: a child starts "
                "from its parent's state after the parent's last reported epoch, with no more "
                "epochs asked of the parent until the child is added"
            )
        if unit["arch"] != self.arch[parent]:
            raise ValueError(
                f"trial {trial.trial_id} ({trial.params}) has another architecture than its "
                f"parent {parent} ({self.trials[parent].params}): a child continues its parent's "
                "weights, so only training-time params (learning_rate, batch_size) may differ"
            )
        schedule = json.loads(self.job.scheduleJson())
        name = committed_state_blob(schedule, parent) or str(self.job.initialStateBlob(parent))
        return continued_state(model, bytes(self.ps.get_blob(name)), unit)

    def _run(self, trial_id: int) -> None:
        """Asks for the trial's epochs up to the strategy's next decision about it."""
        done = self.epochs_done.get(trial_id, 0)
        target = max(done + 1, self.owner.strategy.next_decision(trial_id, done))
        more = target - self.requested.get(trial_id, 0)
        if more > 0:
            self.job.requestEpochs(trial_id, more)
            self.requested[trial_id] = target
        self.running.add(trial_id)

    def loop(self) -> None:
        objective = self.owner.objective
        while self.running:
            event = self.wait_for("epoch")
            trial_id = int(event["trial_id"])
            epoch = self.trials[trial_id].start_epoch + int(event["epoch"])
            logs = {k: float(v) for k, v in event["logs"].items()}
            if objective not in logs:
                raise ValueError(
                    f"objective {objective!r} is not among the epoch logs {sorted(logs)}: "
                    "pick one of them (validation metrics need validation rows)"
                )
            self.running.discard(trial_id)
            self.epochs_done[trial_id] = epoch + 1
            self.history.append({"trial_id": trial_id, "epoch": epoch, **logs})
            self.tracker.log_epoch(trial_id, epoch, logs)
            if self.owner.verbose:
                shown = " ".join(f"{k}={v:.4f}" for k, v in sorted(logs.items()))
                print(f"trial {trial_id} epoch {epoch + 1}: {shown}", flush=True)
            self.apply(self.owner.strategy.report(trial_id, epoch, logs[objective]))

    def _export(self, trial_id: int) -> None:
        if trial_id not in self.export_requested:
            self.export_requested.add(trial_id)
            self.job.exportModel(trial_id)

    def export(self) -> dict[int, bytes]:
        """The ``.keras`` archives of every trial (``keep_models``) or of the best;
        trials that ended early were exported meanwhile, filling idle workers."""
        best = self.owner.strategy.best()
        wanted = sorted(self.trials) if self.keep_models else ([best] if best is not None else [])
        for trial_id in wanted:
            self._export(trial_id)
        while not self.exported.issuperset(wanted):
            self.wait_for("exported")
        return {t: bytes(self.ps.get_blob(str(self.job.exportBlob(t)))) for t in wanted}

    def wait_for(self, kind: str) -> dict[str, Any]:
        """The next event of ``kind``; raises on a failure or after the timeout."""
        give_up = time.monotonic() + self.owner.timeout
        while time.monotonic() < give_up:
            raw = self.job.nextEvent(_POLL_MS)
            if raw is None:
                continue
            event = json.loads(raw)
            if event.get("type") == "exported":
                self.exported.add(int(event["trial_id"]))
            if event.get("type") == "failed":
                raise TrainingError(event.get("message", "the search failed"))
            if event.get("type") == kind:
                return event
        raise TrainingError(
            f"the search waited {self.owner.timeout:.0f} s for a '{kind}' event; it was "
            "cancelled. Raise ModelSelection(timeout=...) if one epoch legitimately takes longer"
        )


def epoch_rates(
    schedule: Callable[[int, float], float], model: keras.Model, trial: Trial, epochs: int | None
) -> list[float]:
    """The learning rate of each epoch of ``trial`` under ``schedule``."""
    if follows_learning_rate_schedule(model.optimizer):
        raise ValueError(
            f"trial {trial.trial_id}: its optimizer already follows a LearningRateSchedule; give "
            "it a plain learning rate to use learning_rate_schedule, or drop the latter"
        )
    base = float(
        trial.params.get("learning_rate", keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    )
    rates = [float(schedule(e, base)) for e in range(int(epochs or 0))]
    bad = [r for r in rates if not math.isfinite(r) or r < 0]
    if bad:
        raise ValueError(f"learning_rate_schedule gave {bad[0]} for trial {trial.trial_id}")
    return rates


def initial_state(model: keras.Model, unit: dict[str, Any]) -> bytes:
    """The trial's first state, packed as a worker packs the model loaded from its
    archive with the unit's learning rate (call after saving the archive: packing
    builds the optimizer)."""
    if "learning_rate" in unit:
        model.optimizer.learning_rate = unit["learning_rate"]
    return bytes(ModelState(model).pack_eager())


def load_trial_model(archive: bytes) -> keras.Model:
    """A trained trial's model from its exported ``.keras`` archive."""
    return load_model(archive)

"""Ensembles trained natively on Spark: N models from N seeds, trained at once,
combined by averaging their predictions.

:class:`Ensemble` owns the members' construction (``model_fn(seed)`` or one
compiled model cloned and re-initialised per member), their training, the
combined ``predict``/``evaluate``, persistence of the whole ensemble, and
``to_keras(merge=True)``: one ``keras.Model`` whose output is the average of
the members' outputs.

``data="all"`` trains every member on every row with the model hopper
(:class:`loxodon.selection.ModelSelection`): one barrier stage whose workers
each hold 1/N of the rows, a :class:`~loxodon.selection.GridSearch` over a
``member`` dimension, every member visiting every partition each epoch, and
``keep_models=True`` exporting each trained member. ``data="partition"``
trains member i on its own share of the rows only (a seeded split, one Spark
task per member: :mod:`loxodon.ensemble_partitions`); the hop scheduler always
takes a model's epoch over every partition, so it cannot confine a member to
one of them without a change on the Scala side.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from pyspark.sql import DataFrame, SparkSession

from loxodon._jvm import java_session, python_api, required_session, running_session
from loxodon.keras_io import load_model, model_to_archive

DATA_MODES = ("all", "partition")
_CONFIG = "ensemble.json"


def _member_file(i: int) -> str:
    return f"member-{i}.keras"


class Ensemble:
    """``num_models`` Keras models trained on Spark and averaged.

    Args:
        model: ``model_fn(seed) -> compiled keras.Model``, or one compiled
            ``keras.Model`` that each member clones (``keras.models.clone_model``,
            fresh initial weights) and compiles like it.
        num_models: the number of members.
        data: ``"all"`` (every member trains on every row, model hopper) or
            ``"partition"`` (member i trains on the i-th of ``num_models``
            disjoint, seeded shares of the rows).
        num_workers: the hopper's workers (``data="all"``; default: the
            session's default parallelism); each holds 1/N of the rows.
        seed: member i is built under seed ``seed + i`` (``keras.utils.
            set_random_seed`` before ``model_fn``/the clone); the split of the
            rows and every shuffle follow ``seed`` too.
        batch_size: the members' batch size.
        verbose: 1 prints each member's epochs.
        timeout: the longest wait, in seconds, for one event of the training.
    """

    def __init__(
        self,
        model: Callable[[int], keras.Model] | keras.Model,
        num_models: int = 3,
        data: str = "all",
        num_workers: int | None = None,
        seed: int = 0,
        batch_size: int = 32,
        verbose: int = 0,
        timeout: float = 1800.0,
        spark: SparkSession | None = None,
    ) -> None:
        if num_models < 1:
            raise ValueError(f"num_models must be at least 1, got {num_models}")
        if data not in DATA_MODES:
            raise ValueError(f"data must be one of {DATA_MODES}, got {data!r}")
        if isinstance(model, keras.Model):
            _require_compiled(model, "the model given to Ensemble")
        elif not callable(model):
            raise TypeError("model must be a compiled keras.Model or a function seed -> model")
        self.model = model
        self.num_models = num_models
        self.data = data
        self.num_workers = num_workers
        self.seed = seed
        self.batch_size = batch_size
        self.verbose = verbose
        self.timeout = timeout
        self._spark = spark
        self.members: list[keras.Model] = []
        # Member i's Keras-style history: metric -> one value per epoch.
        self.history: list[dict[str, list[float]]] = []
        # The rows each member trained on (data="partition" only: with "all", every row).
        self.member_rows: list[int] = []
        self._merged: keras.Model | None = None

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            self._spark = required_session("Ensemble")
        return self._spark

    # -- members ----------------------------------------------------------------------
    def build_member(self, index: int) -> keras.Model:
        """Member ``index`` before training: built under seed ``seed + index``."""
        seed = self.seed + index
        keras.utils.set_random_seed(seed)
        if isinstance(self.model, keras.Model):
            member = keras.models.clone_model(self.model)  # fresh layers, fresh initial weights
            member.compile_from_config(self.model.get_compile_config())
        else:
            member = self.model(seed)
        _require_compiled(member, f"model_fn({seed})")
        return member

    # -- training ---------------------------------------------------------------------
    def fit(
        self,
        data: DataFrame | np.ndarray | Any,
        y: np.ndarray | None = None,
        epochs: int = 1,
        validation_split: float = 0.0,
        features_col: str | list[str] = "features",
        label_col: str = "label",
    ) -> list[dict[str, list[float]]]:
        """Train every member for ``epochs`` epochs on ``data`` (DataFrame, RDD,
        or NumPy ``x`` with ``y``); returns each member's history."""
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        built = [self.build_member(i) for i in range(self.num_models)]
        self._merged = None
        self.member_rows = []
        if self.data == "all":
            self._fit_hopper(built, data, y, epochs, validation_split, features_col, label_col)
        else:
            from loxodon.ensemble_partitions import fit_partitions

            trained = fit_partitions(
                self.spark,
                [model_to_archive(m) for m in built],
                (data, y, features_col, label_col),
                epochs=epochs,
                batch_size=self.batch_size,
                validation_split=validation_split,
                seed=self.seed,
                verbose=self.verbose,
            )
            self.members = [load_model(archive) for archive, _, _ in trained]
            self.history = [history for _, history, _ in trained]
            self.member_rows = [rows for _, _, rows in trained]
        return self.history

    def _fit_hopper(
        self,
        built: list[keras.Model],
        data: Any,
        y: Any,
        epochs: int,
        validation_split: float,
        features_col: str | list[str],
        label_col: str,
    ) -> None:
        from loxodon.selection import GridSearch, ModelSelection, choice

        workers = self.num_workers or self.spark.sparkContext.defaultParallelism
        search = ModelSelection(
            lambda params: built[int(params["member"])],
            GridSearch({"member": choice(list(range(self.num_models)))}, epochs, mode="min"),
            num_workers=workers,
            objective="val_loss" if validation_split > 0 else "loss",
            batch_size=self.batch_size,
            seed=self.seed,
            tracking=False,
            verbose=self.verbose,
            timeout=self.timeout,
            spark=self.spark,
        )
        result = search.fit(
            data,
            y,
            validation_split=validation_split,
            features_col=features_col,
            label_col=label_col,
            keep_models=True,
        )
        member_of = {tid: int(t.params["member"]) for tid, t in result.trials.items()}
        by_member = {member_of[tid]: tid for tid in result.archives}
        self.members = [result.model(by_member[i]) for i in range(self.num_models)]
        self.history = [{} for _ in range(self.num_models)]
        for row in sorted(result.history, key=lambda r: (r["trial_id"], r["epoch"])):
            logs = self.history[member_of[row["trial_id"]]]
            for key, value in row.items():
                if key not in ("trial_id", "epoch"):
                    logs.setdefault(key, []).append(float(value))

    # -- the combined model -----------------------------------------------------------
    def _require_trained(self) -> None:
        if not self.members:
            raise ValueError("the ensemble has no trained members: call fit() or load() first")

    def to_keras(self, merge: bool = True) -> keras.Model | list[keras.Model]:
        """``merge=True``: one compiled ``keras.Model`` (compiled like member 0)
        whose output is ``keras.layers.Average`` of the members' outputs on one
        shared Input; ``merge=False``: the list of trained members."""
        self._require_trained()
        if not merge:
            return list(self.members)
        if self._merged is None:
            self._merged = merge_models(self.members)
        return self._merged

    def _spark_model(self) -> Any:
        from loxodon.spark_model import SparkModel

        return SparkModel(self.to_keras(merge=True), spark=self.spark)

    def predict(self, data: Any, **kwargs: Any) -> Any:
        """The mean of the members' predictions, distributed like
        :meth:`loxodon.SparkModel.predict` (NumPy in, NumPy out; a DataFrame
        gets a ``prediction`` column)."""
        self._require_trained()
        return self._spark_model().predict(data, **kwargs)

    def evaluate(self, data: Any, y: Any = None, **kwargs: Any) -> Any:
        """Loss and metrics of the averaged prediction (member 0's compile
        settings), like :meth:`loxodon.SparkModel.evaluate`."""
        self._require_trained()
        return self._spark_model().evaluate(data, y, **kwargs)

    # -- persistence ------------------------------------------------------------------
    def save(self, path: str, overwrite: bool = True) -> None:
        """Save every member's ``.keras`` archive and the ensemble's settings
        under ``path`` (any Hadoop FileSystem URI)."""
        self._require_trained()
        api, jspark = python_api(self.spark), java_session(self.spark)
        root = path.rstrip("/")
        for i, member in enumerate(self.members):
            api.writeFile(jspark, f"{root}/{_member_file(i)}", model_to_archive(member), overwrite)
        config = {
            "num_models": self.num_models,
            "data": self.data,
            "num_workers": self.num_workers,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "history": self.history,
        }
        api.writeFile(jspark, f"{root}/{_CONFIG}", json.dumps(config).encode(), overwrite)

    @classmethod
    def load(cls, path: str, spark: SparkSession | None = None) -> Ensemble:
        """An ensemble saved by :meth:`save`; its members are trained, so it
        predicts at once (``fit`` would train fresh clones of member 0)."""
        session = spark or running_session()
        if session is None:
            raise RuntimeError("Ensemble.load needs an active SparkSession (loxodon.spark_session)")
        api, jspark = python_api(session), java_session(session)
        root = path.rstrip("/")
        config = json.loads(bytes(api.readFile(jspark, f"{root}/{_CONFIG}")))
        members = [
            load_model(bytes(api.readFile(jspark, f"{root}/{_member_file(i)}")))
            for i in range(int(config["num_models"]))
        ]
        ensemble = cls(
            members[0],
            num_models=int(config["num_models"]),
            data=config["data"],
            num_workers=config["num_workers"],
            seed=int(config["seed"]),
            batch_size=int(config["batch_size"]),
            spark=session,
        )
        ensemble.members = members
        ensemble.history = config.get("history", [])
        return ensemble


def load_ensemble(path: str, spark: SparkSession | None = None) -> Ensemble:
    """:meth:`Ensemble.load` as a function."""
    return Ensemble.load(path, spark)


def merge_models(members: list[keras.Model]) -> keras.Model:
    """One compiled model averaging ``members``' outputs (one Input, one output
    each, all of the same shapes), compiled like ``members[0]``."""
    if not members:
        raise ValueError("merge_models needs at least one model")
    for m in members:
        if len(m.inputs) != 1 or len(m.outputs) != 1:
            raise ValueError(
                f"merging needs single-input, single-output members; {m.name} has "
                f"{len(m.inputs)} inputs and {len(m.outputs)} outputs"
            )
    first = members[0]
    shape = tuple(first.inputs[0].shape[1:])
    inputs = keras.Input(shape, dtype=first.inputs[0].dtype, name="ensemble_input")
    # Each member as a named functional wrapper: members loaded from archives share names.
    outputs = [
        keras.Model(m.inputs[0], m.outputs[0], name=f"member_{i}")(inputs)
        for i, m in enumerate(members)
    ]
    averaged = keras.layers.Average(name="average")(outputs) if len(outputs) > 1 else outputs[0]
    merged = keras.Model(inputs, averaged, name="ensemble")
    if getattr(first, "optimizer", None) is not None:
        merged.compile_from_config(first.get_compile_config())
    return merged


def _require_compiled(model: Any, what: str) -> None:
    if not isinstance(model, keras.Model) or getattr(model, "optimizer", None) is None:
        raise TypeError(
            f"{what} must be a compiled keras.Model (got {type(model).__name__} without an "
            "optimizer): call model.compile(...) first"
        )

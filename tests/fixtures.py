"""The models and data the tests share:

- ``mlp``: one Keras MLP builder with every choice a test depends on spelled
  out (input width, hidden layers, classes, seed, optimizer and learning rate,
  loss, metrics), so that each test states its exact model and its accuracy
  bars keep holding; ``digits_mlp``, the search tests' model of a configuration;
- ``MODE_OPTIONS`` and ``mode_learning_rate``: each training mode's exchange
  options and Adam rate on the digits MLP;
- ``digits_pixels`` and ``digits_pipeline``: digits as a pandas frame of pixel
  columns, and the Spark ML pipeline the pipeline tests fit on it;
- ``digits_halves``, ``digits_halves_frame`` and ``two_in_two_out``: the
  multi-input/output tests' digits as two inputs (top and bottom halves) and two
  targets (the digit and its ink), as arrays and as a DataFrame, and their model;
- ``write_parquet``: arrays as the Parquet table the Scala applications read;
- ``partition_rows``: the training rows each worker of a search holds;
- ``gpu_discovery_script``: a Spark GPU discovery script for ``local-cluster``;
- ``run_result``: runs a driver script as a process of its own (one SparkContext
  each) and reads the JSON it prints on its ``RESULT`` line.

Imported by the tests (``tests/`` is on ``sys.path`` under pytest) and by the
cluster tests' scripts run as new processes (``tests/cluster/clusterctl.py``'s
``python_env`` puts ``tests/`` on their ``PYTHONPATH``). Builders run on the
driver only: Loxodon ships models to the workers as archives, never this module.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.ml import Pipeline
from pyspark.ml.feature import StringIndexer, VectorAssembler
from pyspark.ml.functions import array_to_vector
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from loxodon.ml import KerasEstimator

OPTIMIZERS: dict[str, type[keras.optimizers.Optimizer]] = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
}
PIXELS = [f"p{i}" for i in range(64)]  # the digits frame's feature columns

# Each training mode's exchange options on the digits MLP; a mode the contract gains fails
# the tests that check every mode is covered until it is added here.
MODE_OPTIONS: dict[str, dict[str, Any]] = {
    "single": {},
    "synchronous": {},
    "averaging": {"frequency": 5},
    "asynchronous": {"communication_window": 4},
    "hogwild": {"communication_window": 4},
    "adag": {"communication_window": 4},
    "dynsgd": {"communication_window": 4},
    "easgd": {"communication_window": 4},
    "aeasgd": {"communication_window": 4},
    "eamsgd": {"communication_window": 4, "momentum": 0.5},
}
# Asynchronous SGD with stale updates wants a lower rate (tests/test_training_modes.py's
# docstring has the runs); so does eamsgd, whose momentum adds to Adam's own (at 1e-2 it
# reached 0.85 where Keras reached 0.95), and adag, whose workers scale it by the window.
ASYNC_MODES = ("asynchronous", "hogwild", "adag", "dynsgd", "eamsgd")


def mode_learning_rate(mode: str) -> float:
    """The Adam rate the digits MLP trains at in ``mode``."""
    return 3e-3 if mode in ASYNC_MODES else 1e-2


def mlp(
    inputs: int = 64,
    hidden: int | Sequence[int] = 32,
    classes: int = 10,
    *,
    seed: int | None = 0,
    optimizer: str | keras.optimizers.Optimizer = "adam",
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 1e-2,
    loss: Any = "sparse_categorical_crossentropy",
    metrics: Sequence[str] = ("accuracy",),
    compile: bool = True,
) -> keras.Model:
    """A Sequential MLP: ``inputs`` wide, ReLU ``hidden`` layers (one width or a
    sequence of them; ``()`` for none), a softmax over ``classes``. ``seed``
    (None: leave the global seed alone) is set before any layer is built.
    ``optimizer`` is a name in ``OPTIMIZERS``, built at ``learning_rate``, or an
    optimizer instance, used as it is."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    widths = [hidden] if isinstance(hidden, int) else list(hidden)
    model = keras.Sequential(
        [
            keras.Input((inputs,)),
            *(keras.layers.Dense(width, activation="relu") for width in widths),
            keras.layers.Dense(classes, activation="softmax"),
        ]
    )
    if compile:
        model.compile(
            optimizer=_optimizer(optimizer, learning_rate),
            loss=loss,
            metrics=list(metrics) or None,  # None, not []: no empty compile_metrics entry
        )
    return model


def _optimizer(
    optimizer: str | keras.optimizers.Optimizer,
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule,
) -> keras.optimizers.Optimizer:
    if isinstance(optimizer, str):
        return OPTIMIZERS[optimizer](learning_rate)
    return optimizer


def digits_mlp(params: dict[str, Any]) -> keras.Model:
    """The search tests' model of a configuration: ``units`` hidden ReLU units
    and Adam at ``learning_rate``; ``inputs`` (64) and ``init_seed`` (1) optional."""
    return mlp(
        params.get("inputs", 64),
        params["units"],
        seed=int(params.get("init_seed", 1)),
        learning_rate=params["learning_rate"],
    )


def digits_pixels() -> pd.DataFrame:
    """scikit-learn's digits as a frame: ``PIXELS`` in [0, 1] and the class as
    a string ``digit`` (``d0`` .. ``d9``), for a StringIndexer to index."""
    from sklearn.datasets import load_digits

    data = load_digits()
    frame = pd.DataFrame(data.data / 16.0, columns=PIXELS)
    frame["digit"] = [f"d{t}" for t in data.target]
    return frame


def digits_pipeline() -> Pipeline:
    """The Spark ML Pipeline the pipeline tests fit on :func:`digits_pixels`:
    ``PIXELS`` assembled into ``features``, ``digit`` indexed into ``label``, and
    a KerasEstimator (the 64-32-10 MLP, Adam at 1e-2, seed 0; two workers,
    synchronous, 8 epochs of batches of 32)."""
    estimator = KerasEstimator(
        model=mlp(64, 32, 10, seed=0, learning_rate=1e-2),
        numWorkers=2,
        epochs=8,
        mode="synchronous",
        batchSize=32,
    )
    return Pipeline(
        stages=[
            VectorAssembler(inputCols=PIXELS, outputCol="features"),
            StringIndexer(inputCol="digit", outputCol="label"),
            estimator,
        ]
    )


def digits_halves(x: np.ndarray) -> list[np.ndarray]:
    """Digits rows as the two inputs of :func:`two_in_two_out`: the top and bottom
    halves (32 pixels each), as Keras takes a list of inputs."""
    return [x[:, :32], x[:, 32:]]


# The columns :func:`digits_halves_frame` builds, by name: type, (index, row, class) -> value.
_HALVES_COLUMNS: dict[str, tuple[T.DataType, Callable[[int, np.ndarray, int], Any]]] = {
    "id": (T.LongType(), lambda i, r, c: i),
    "top": (T.ArrayType(T.FloatType()), lambda i, r, c: r[:32].tolist()),
    "bottom": (T.ArrayType(T.FloatType()), lambda i, r, c: r[32:].tolist()),
    "pixels": (T.ArrayType(T.FloatType()), lambda i, r, c: r.tolist()),
    "label": (T.DoubleType(), lambda i, r, c: float(c)),
    "ink": (T.DoubleType(), lambda i, r, c: float(r.mean())),
}


def digits_halves_frame(
    spark: SparkSession,
    x: np.ndarray,
    y: np.ndarray,
    columns: Sequence[str] = ("top", "bottom", "label", "ink"),
    vectors: Sequence[str] = (),
) -> DataFrame:
    """Digits rows as a DataFrame of ``columns``, in that order: ``id`` (the row's
    index), ``top`` and ``bottom`` (the halves), ``pixels`` (all 64), each an
    ``array<float>``, ``label`` (the class) and ``ink`` (the row's mean pixel), doubles.
    The array columns named in ``vectors`` become ML Vectors."""
    unknown = sorted(set(columns) - set(_HALVES_COLUMNS))
    assert not unknown, f"no column {unknown}; known: {sorted(_HALVES_COLUMNS)}"
    schema = T.StructType([T.StructField(c, _HALVES_COLUMNS[c][0]) for c in columns])
    rows = [
        tuple(_HALVES_COLUMNS[c][1](i, r, k) for c in columns)
        for i, (r, k) in enumerate(zip(x, y, strict=True))
    ]
    frame = spark.createDataFrame(rows, schema)
    for c in vectors:
        frame = frame.withColumn(c, array_to_vector(c))
    return frame


def two_in_two_out() -> keras.Model:
    """The digits' halves in (inputs ``top`` and ``bottom``, 32 wide), concatenated into
    Dense(32, relu), and two outputs (a dict): ``digit`` (softmax over 10) and ``ink``
    (Dense(1), mse); Adam at 1e-2, seed 0. Keras orders the outputs digit, ink."""
    keras.utils.set_random_seed(0)
    top, bottom = keras.Input((32,), name="top"), keras.Input((32,), name="bottom")
    h = keras.layers.Dense(32, activation="relu")(keras.layers.Concatenate()([top, bottom]))
    outputs = {
        "digit": keras.layers.Dense(10, activation="softmax", name="digit")(h),
        "ink": keras.layers.Dense(1, name="ink")(h),
    }
    model = keras.Model([top, bottom], outputs)
    model.compile(
        keras.optimizers.Adam(1e-2),
        loss={"digit": "sparse_categorical_crossentropy", "ink": "mse"},
        metrics={"digit": ["accuracy"], "ink": ["mae"]},
    )
    return model


def write_parquet(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """Rows as a Parquet table: ``features`` a list of float32, ``label`` a
    double, the layout the Scala applications read."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    offsets = pa.array(np.arange(0, x.size + 1, x.shape[1], dtype=np.int32))
    features = pa.ListArray.from_arrays(offsets, pa.array(x.reshape(-1)))
    table = pa.table({"features": features, "label": pa.array(y.astype(np.float64))})
    assert table.schema.field("features").type == pa.list_(pa.float32())
    pq.write_table(table, path)


def partition_rows(
    spark: SparkSession,
    x: np.ndarray,
    y: np.ndarray,
    num_workers: int,
    seed: int,
    split: float,
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The training rows each worker of a search holds, in its order, as the
    JVM partitions them (``partitionRows``): partition -> ``(x, y)``."""
    from loxodon._jvm import java_session, python_api
    from loxodon.inputs import prepare

    prep = prepare(spark, x, y, "features", "label")
    params = {
        "num_workers": num_workers,
        "seed": seed,
        "validation_split": split,
        "features_col": prep.features_col,
        "label_col": prep.label_col,
    }
    jdf = python_api(spark).partitionRows(java_session(spark), prep.frame._jdf, json.dumps(params))
    rows: dict[int, tuple[list, list]] = {}
    for r in DataFrame(jdf, spark).collect():
        if r.part == 0:
            xs, ys = rows.setdefault(r.partition, ([], []))
            xs.append(r.features)
            ys.append(int(r.label[0]))
    return {p: (np.array(a, np.float32), np.array(b)) for p, (a, b) in rows.items()}


def batchnorm_mlp(width: int, hidden: Sequence[int], classes: int) -> keras.Model:
    """Dense, BatchNormalization, relu, then ``hidden[1:]`` relu Dense layers and a softmax
    head (seed 3, Adam 1e-2): a model with non-trainable variables for step-path tests."""
    keras.utils.set_random_seed(3)
    layers: list = [
        keras.Input((width,)),
        keras.layers.Dense(hidden[0]),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
    ]
    layers += [keras.layers.Dense(units, activation="relu") for units in hidden[1:]]
    model = keras.Sequential([*layers, keras.layers.Dense(classes, activation="softmax")])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def random_partition(seed: int, rows: int, width: int, classes: int, weighted: bool = False) -> Any:
    """A worker's :class:`~loxodon.worker.data.Partition` of seeded normal features and
    random labels (and, ``weighted``, loss weights in [0, 2))."""
    from loxodon.worker.data import Partition, aligned_empty

    rng = np.random.default_rng(seed)
    features = aligned_empty((rows, width))
    features[:] = rng.standard_normal(features.shape)
    labels = rng.integers(0, classes, (rows, 1)).astype(np.float32)
    if weighted:
        labels = np.concatenate([labels, rng.uniform(0, 2, (rows, 1)).astype(np.float32)], 1)
    return Partition.from_matrices(features, labels, (width,), True, weighted=weighted)


def gpu_discovery_script(directory: Path, addresses: Sequence[str]) -> Path:
    """A Spark ``gpu`` discovery script for the standalone workers of ``local-cluster``, which
    share a host but each discover on their own: every run claims the next unclaimed address
    (an atomic ``mkdir`` beside the script) and announces it alone, so two workers of one GPU
    each get different ones, as two hosts would."""
    script = directory / "gpus.sh"
    lines = ["#!/usr/bin/env bash", 'cd "$(dirname "$0")"']
    for address in addresses:
        claim = json.dumps({"name": "gpu", "addresses": [address]})
        lines.append(f"mkdir claimed-{address} 2>/dev/null && echo '{claim}' && exit 0")
    lines.append(f"echo '{json.dumps({'name': 'gpu', 'addresses': []})}'")
    script.write_text("\n".join(lines) + "\n")
    script.chmod(0o755)
    return script


def run_result(args: Sequence[str], timeout: float) -> dict[str, Any]:
    """Runs ``python ARGS...`` (a script of its own, one SparkContext per process) within
    ``timeout`` seconds and returns the JSON of its last ``RESULT <json>`` line; fails
    with the end of its stderr when it printed none."""
    run = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, run.stderr[-6000:]
    return json.loads(lines[-1][len("RESULT ") :])

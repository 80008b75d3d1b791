"""``Ensemble(data="partition")``: member i trains on the i-th of N disjoint,
seeded shares of the rows, one Spark task per member, with plain Keras
``fit`` inside the task.

Why not the model hopper: its scheduler (``loxodon.select.HopScheduler``)
takes a model's epoch over every partition (a replay schedule only reorders
the visits), so a member confined to one partition needs a Scala change.
One task per member is what ``data="partition"`` means anyway: no member
ever sees another's rows, so nothing has to move between workers.

NumPy rows are split on the driver (a seeded permutation cut in N nearly
equal shares); DataFrame or RDD rows go to member ``xxhash64(seed, row) mod
N`` and are ordered by a second seeded hash inside their task, so a split
does not depend on how Spark partitioned the input.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, NumericType

from loxodon.inputs import check_arrays, prepare


def fit_partitions(
    spark: SparkSession,
    archives: list[bytes],
    inputs: tuple[Any, Any, str | list[str], str],
    *,
    epochs: int,
    batch_size: int,
    validation_split: float,
    seed: int,
    verbose: int = 0,
) -> list[tuple[bytes, dict[str, list[float]], int]]:
    """Trains member i (``archives[i]``, a compiled ``.keras`` archive) on share
    i of ``inputs`` (data, y, features_col, label_col); returns each member's
    trained archive, Keras history and row count, in member order."""
    n = len(archives)
    sc = spark.sparkContext
    shared = sc.broadcast(archives)
    config = {
        "epochs": epochs,
        "batch_size": batch_size,
        "validation_split": validation_split,
        "seed": seed,
    }
    data, y, features_col, label_col = inputs
    if isinstance(data, np.ndarray) or (
        hasattr(data, "__array__") and not isinstance(data, DataFrame)
    ):
        x, labels = np.asarray(data), np.asarray(y)
        check_arrays(x, labels)
        shares = np.array_split(np.random.default_rng(seed).permutation(len(x)), n)
        rdd = sc.parallelize([(x[s], labels[s]) for s in shares], n)
        rows = rdd.mapPartitionsWithIndex(
            lambda i, it: _train(i, _numpy_share(it), shared.value[i], config)
        )
    else:
        frame = _arrays(prepare(spark, data, y, features_col, label_col), seed, n)
        keyed = frame.rdd.map(lambda r: (int(r.m), (int(r.o), r.f, r.l)))
        rows = keyed.partitionBy(n, lambda k: int(k)).mapPartitionsWithIndex(
            lambda i, it: _train(i, _frame_share(it), shared.value[i], config)
        )
    try:
        trained = {i: (archive, history, count) for i, archive, history, count in rows.collect()}
    finally:
        shared.unpersist()
    if verbose:
        for i in range(n):
            last = {k: round(v[-1], 4) for k, v in trained[i][1].items()}
            print(f"member {i}: {last}", flush=True)
    return [trained[i] for i in range(n)]


def _arrays(prepared: Any, seed: int, n: int) -> DataFrame:
    """The prepared rows as ``f`` (features) and ``l`` (label) float arrays, with
    each row's member ``m`` and its order key ``o`` within the member."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.ml.linalg import VectorUDT

    frame: DataFrame = prepared.frame
    types = {f.name: f.dataType for f in frame.schema.fields}

    def as_array(name: str) -> Column:
        kind = types[name]
        if isinstance(kind, VectorUDT):
            return vector_to_array(F.col(name), "float32")
        if isinstance(kind, ArrayType):
            return F.col(name).cast("array<float>")
        if isinstance(kind, NumericType):
            return F.array(F.col(name).cast("float"))
        raise TypeError(f"column {name!r} has type {kind.simpleString()}: need numbers")

    cols = prepared.features_col
    if isinstance(cols, str):
        features = as_array(cols)
    else:
        features = F.array(*[F.col(c).cast("float") for c in cols])
    if prepared.label_col is None:
        raise ValueError("training an ensemble needs labels: name label_col, or pass y")
    out = frame.select(features.alias("f"), as_array(prepared.label_col).alias("l"))
    return out.select(
        F.pmod(F.xxhash64(F.lit(seed), "f", "l"), F.lit(n)).alias("m"),
        F.xxhash64(F.lit(seed + 1), "f", "l").alias("o"),
        "f",
        "l",
    )


def _numpy_share(items: Iterable[Any]) -> tuple[np.ndarray, np.ndarray]:
    (x, y), *_ = list(items)
    return x, y


def _frame_share(items: Iterable[Any]) -> tuple[np.ndarray, np.ndarray]:
    rows = sorted((value for _, value in items), key=lambda r: r[0])
    x = np.asarray([r[1] for r in rows], np.float32)
    y = np.asarray([r[2] for r in rows], np.float32)
    return x, y


def _train(
    index: int, share: tuple[np.ndarray, np.ndarray], archive: bytes, config: dict[str, Any]
) -> Iterator[tuple[int, bytes, dict[str, list[float]], int]]:
    """Runs in the member's Spark task: plain Keras ``fit`` on its share."""
    import keras

    from loxodon.keras_io import load_model, model_to_archive

    x, y = share
    if len(x) == 0:
        raise ValueError(f"member {index} got no rows: fewer rows than members?")
    keras.utils.set_random_seed(int(config["seed"]) + index)
    model = load_model(archive)
    x = x.reshape(len(x), *tuple(model.inputs[0].shape[1:]))
    history = model.fit(
        x,
        y,
        epochs=int(config["epochs"]),
        batch_size=int(config["batch_size"]),
        validation_split=float(config["validation_split"]),
        shuffle=True,
        verbose=0,
    )
    logs = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    yield index, model_to_archive(model), logs, len(x)

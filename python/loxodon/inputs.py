"""Turning what a Keras user hands to ``fit``/``predict``/``evaluate`` into a
Spark DataFrame the Scala Trainer understands.

NumPy arrays travel to Spark as one Arrow table (fixed-size float32 lists),
not row by row; RDDs of ``(x, y)`` pairs or ``LabeledPoint`` become a
DataFrame with a Vector features column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark import RDD
from pyspark.sql import DataFrame, SparkSession

from loxodon._spark_compat import frame_of_arrow
from loxodon.driver_data import DriverFit, fits_driver, fixed_list

ROW_INDEX = "__loxodon_row"


@dataclass
class Prepared:
    """A DataFrame plus the column names to read, and whether rows carry an index."""

    frame: DataFrame
    features_col: str | list[str]
    label_col: str | None
    indexed: bool = False


# The column NumPy sample weights travel in (``SparkModel.fit(..., sample_weight=...)``).
SAMPLE_WEIGHT = "sample_weight"


def weighted_labels(y: Any, sample_weight: np.ndarray) -> np.ndarray:
    """Labels as rows of float32 ending with the row's weight: what the Scala side makes
    of a ``label`` and a sample-weight column, for rows the driver places itself."""
    y = np.asarray(y, np.float32)
    return np.concatenate([y.reshape(len(y), -1), sample_weight.reshape(-1, 1)], axis=1)


def check_arrays(x: Any, y: Any, names: tuple[str, str] = ("x", "y")) -> None:
    """Arrays of rows: ``x`` numeric with a row axis, ``y`` (when given) numeric and as long."""
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(
            f"{names[0]} must have one row per sample (2 or more dims), got shape {x.shape}"
        )
    if not np.issubdtype(x.dtype, np.number):
        raise TypeError(f"{names[0]} must be numeric, got dtype {x.dtype}")
    if y is not None:
        y = np.asarray(y)
        if not np.issubdtype(y.dtype, np.number):
            raise TypeError(f"{names[1]} must be numeric, got dtype {y.dtype}")
        if len(y) != len(x):
            raise ValueError(
                f"{names[0]} has {len(x)} rows but {names[1]} has {len(y)}: they must match"
            )


def driver_placement(
    spark: SparkSession,
    x: Any,
    y: Any,
    validation_data: Any,
    num_workers: int,
    seed: int,
    validation_split: float,
) -> DriverFit | None:
    """The driver-side placement of NumPy ``x``/``y`` (and ``(x, y)`` validation
    data) in ``num_workers`` partitions, when they fit the driver JVM comfortably
    (``loxodon.driver_data``); None when the rows must take the DataFrame route."""
    if not isinstance(x, np.ndarray):
        return None
    validation = None
    if validation_data is not None:
        if not (isinstance(validation_data, tuple) and len(validation_data) == 2):
            return None
        validation = tuple(np.asarray(a) for a in validation_data)
        check_arrays(*validation, names=("validation_data[0]", "validation_data[1]"))
    check_arrays(x, y)
    y = np.asarray(y)
    if not fits_driver(spark, x, validation[0] if validation else None):
        return None
    return DriverFit(x, y, validation, num_workers, seed, validation_split)  # type: ignore[arg-type]


def numpy_frame(
    spark: SparkSession,
    x: np.ndarray,
    y: np.ndarray | None,
    sample_weight: np.ndarray | None = None,
) -> DataFrame:
    """A DataFrame of ``features`` (and ``label``, ``sample_weight``) from arrays, with a
    row index."""
    x = np.asarray(x)
    check_arrays(x, y)
    columns: dict[str, Any] = {ROW_INDEX: pa.array(np.arange(len(x), dtype=np.int64))}
    columns["features"] = fixed_list(x)
    if y is not None:
        y = np.asarray(y)
        columns["label"] = fixed_list(y.reshape(len(y), -1))
    if sample_weight is not None:
        columns[SAMPLE_WEIGHT] = pa.array(np.asarray(sample_weight, np.float32))
    # One Arrow table, sliced into partitions by Spark; the Trainer does the
    # balanced repartitioning itself, so no shuffle here.
    return frame_of_arrow(spark, pa.table(columns))


def rdd_frame(spark: SparkSession, rdd: RDD) -> DataFrame:
    """A DataFrame from an RDD of ``(x, y)`` pairs or of ``LabeledPoint``."""
    from pyspark.ml.linalg import Vectors
    from pyspark.mllib.regression import LabeledPoint

    first = rdd.first()
    if isinstance(first, LabeledPoint):
        rows = rdd.map(lambda p: (Vectors.dense(p.features.toArray()), float(p.label)))
        return spark.createDataFrame(rows, ["features", "label"])
    if isinstance(first, tuple) and len(first) == 2:

        def to_row(pair: tuple[Any, Any]) -> tuple[Any, list[float]]:
            x, y = pair
            return (
                Vectors.dense(np.asarray(x, np.float64).reshape(-1)),
                [float(v) for v in np.asarray(y, np.float64).reshape(-1)],
            )

        return spark.createDataFrame(rdd.map(to_row), ["features", "label"])
    raise TypeError(
        f"an RDD for Loxodon must hold (x, y) pairs or LabeledPoint, got {type(first).__name__}"
    )


def prepare(
    spark: SparkSession,
    data: Any,
    y: Any,
    features_col: str | list[str],
    label_col: str | None,
    sample_weight: np.ndarray | None = None,
) -> Prepared:
    """Normalise ``data`` (DataFrame, RDD or NumPy) for the Scala side; NumPy rows'
    ``sample_weight`` becomes the column :data:`SAMPLE_WEIGHT`."""
    if isinstance(data, DataFrame):
        if y is not None:
            raise ValueError("y must be None when data is a DataFrame: name label_col instead")
        return Prepared(data, features_col, label_col)
    if isinstance(data, RDD):
        return Prepared(rdd_frame(spark, data), "features", "label" if label_col else None)
    if isinstance(data, np.ndarray) or hasattr(data, "__array__"):
        frame = numpy_frame(spark, np.asarray(data), y, sample_weight)
        return Prepared(frame, "features", "label" if y is not None else None, indexed=True)
    raise TypeError(
        "data must be a Spark DataFrame, an RDD of (x, y) or LabeledPoint, or a NumPy array; "
        f"got {type(data).__name__}"
    )

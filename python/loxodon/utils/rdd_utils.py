"""NumPy <-> RDD / DataFrame conversions with Elephas's names and semantics."""

from __future__ import annotations

import numpy as np
from pyspark import RDD, SparkContext
from pyspark.ml.linalg import Vectors
from pyspark.mllib.linalg import Vectors as MLlibVectors
from pyspark.mllib.regression import LabeledPoint
from pyspark.sql import DataFrame, SparkSession

from loxodon._jvm import running_session


def to_simple_rdd(sc: SparkContext, features: np.ndarray, labels: np.ndarray) -> RDD:
    """An RDD of ``(x, y)`` pairs, one per row."""
    if len(features) != len(labels):
        raise ValueError(f"{len(features)} feature rows but {len(labels)} labels")
    return sc.parallelize(list(zip(features, labels, strict=True)))


def to_labeled_point(
    sc: SparkContext, features: np.ndarray, labels: np.ndarray, categorical: bool = False
) -> RDD:
    """An RDD of ``LabeledPoint``; one-hot labels become class indices if ``categorical``."""
    if len(features) != len(labels):
        raise ValueError(f"{len(features)} feature rows but {len(labels)} labels")
    points = []
    for x, y in zip(features, labels, strict=True):
        label = float(np.argmax(y)) if categorical else float(np.asarray(y).reshape(-1)[0])
        points.append(LabeledPoint(label, MLlibVectors.dense(np.asarray(x).reshape(-1))))
    return sc.parallelize(points)


def from_labeled_point(
    rdd: RDD, categorical: bool = False, nb_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels back from an RDD of ``LabeledPoint``; one-hot if ``categorical``."""
    points = rdd.collect()
    features = np.array([p.features.toArray() for p in points])
    labels = np.array([p.label for p in points])
    if categorical:
        classes = nb_classes or int(labels.max()) + 1
        labels = np.eye(classes, dtype=np.float32)[labels.astype(int)]
    return features, labels


def to_data_frame(
    sc: SparkContext, features: np.ndarray, labels: np.ndarray, categorical: bool = False
) -> DataFrame:
    """A DataFrame of ``features`` (ML Vector) and ``label`` (class index if ``categorical``)."""
    spark = running_session() or SparkSession(sc)
    rows = [
        (
            Vectors.dense(np.asarray(x, np.float64).reshape(-1)),
            float(np.argmax(y)) if categorical else float(np.asarray(y).reshape(-1)[0]),
        )
        for x, y in zip(features, labels, strict=True)
    ]
    return spark.createDataFrame(rows, ["features", "label"])

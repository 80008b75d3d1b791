"""Column helpers shared by the dist-keras front end: dist-keras passes
arbitrarily shaped features (``ReshapeTransformer``'s nested arrays) straight
to its models; Loxodon reads flat features and reshapes them to the model's
Input, so nested arrays are flattened first."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DataType

FLAT_PREFIX = "__loxodon_flat_"


def nesting(kind: DataType) -> int:
    """How many array levels ``kind`` has above its elements."""
    depth = 0
    while isinstance(kind, ArrayType):
        depth, kind = depth + 1, kind.elementType
    return depth


def flat_features(
    frame: DataFrame, features_col: str | list[str]
) -> tuple[DataFrame, str | list[str]]:
    """``frame`` and the features column to read: a nested array column gets a
    flattened copy (the caller's columns are kept)."""
    if not isinstance(features_col, str):
        return frame, features_col
    depth = nesting(frame.schema[features_col].dataType)
    if depth <= 1:
        return frame, features_col
    column = F.col(features_col)
    for _ in range(depth - 1):
        column = F.flatten(column)
    name = FLAT_PREFIX + features_col
    return frame.withColumn(name, column), name

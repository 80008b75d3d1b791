"""dist-keras's transformers as Spark ML Transformers built from Spark SQL
expressions (no Python UDF, no row-by-row RDD map): each keeps dist-keras's
constructor arguments and ``.transform(dataframe)``, adding ``output_col``.

``OneHotTransformer`` writes a dense array of ``output_dim`` (Spark ML's
``OneHotEncoder`` would need a fit and writes sparse vectors);
``MinMaxTransformer`` maps the GIVEN original range onto the new one (Spark
ML's ``MinMaxScaler`` fits the range from the data instead).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pyspark.ml import Transformer
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def as_array(frame: DataFrame, name: str) -> Column:
    """Column ``name`` as an array of doubles (an ML Vector or an array)."""
    if isinstance(frame.schema[name].dataType, VectorUDT):
        return vector_to_array(F.col(name))
    return F.col(name).cast("array<double>")


class OneHotTransformer(Transformer):
    """Class index (``input_col``) -> a one-hot array of ``output_dim`` doubles."""

    def __init__(self, output_dim: int, input_col: str, output_col: str) -> None:
        super().__init__()
        self.output_dimensionality = int(output_dim)
        self.input_column = input_col
        self.output_column = output_col

    def _transform(self, dataset: DataFrame) -> DataFrame:
        index = F.col(self.input_column).cast("int")
        positions = F.sequence(F.lit(0), F.lit(self.output_dimensionality - 1))
        one_hot = F.transform(positions, lambda i: F.when(i == index, 1.0).otherwise(0.0))
        return dataset.withColumn(self.output_column, one_hot)


class MinMaxTransformer(Transformer):
    """Maps [``o_min``, ``o_max``] linearly onto [``n_min``, ``n_max``], for a
    Vector (``is_vector``, output a dense Vector) or a number."""

    def __init__(
        self,
        o_min: float,
        o_max: float,
        n_min: float,
        n_max: float,
        input_col: str,
        output_col: str,
        is_vector: bool = True,
    ) -> None:
        super().__init__()
        self.o_min, self.o_max = float(o_min), float(o_max)
        self.n_min, self.n_max = float(n_min), float(n_max)
        self.scale = (self.n_max - self.n_min) / (self.o_max - self.o_min)
        self.input_column = input_col
        self.output_column = output_col
        self.is_vector = is_vector

    def _rescale(self, value: Column) -> Column:
        return (value - F.lit(self.o_max)) * F.lit(self.scale) + F.lit(self.n_max)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        if not self.is_vector:
            return dataset.withColumn(self.output_column, self._rescale(F.col(self.input_column)))
        values = F.transform(as_array(dataset, self.input_column), self._rescale)
        return dataset.withColumn(self.output_column, array_to_vector(values))


class DenseTransformer(Transformer):
    """A (sparse) Vector -> a dense Vector."""

    def __init__(self, input_col: str, output_col: str) -> None:
        super().__init__()
        self.input_column = input_col
        self.output_column = output_col

    def _transform(self, dataset: DataFrame) -> DataFrame:
        dense = array_to_vector(as_array(dataset, self.input_column))
        return dataset.withColumn(self.output_column, dense)


class ReshapeTransformer(Transformer):
    """A Vector or flat array -> nested arrays of ``shape`` (row-major, like
    NumPy's ``reshape``; one -1 is inferred from the length)."""

    def __init__(self, input_col: str, output_col: str, shape: Sequence[int]) -> None:
        super().__init__()
        self.input_column = input_col
        self.output_column = output_col
        self.shape = tuple(int(d) for d in shape)
        if sum(d == -1 for d in self.shape) > 1 or any(d == 0 or d < -1 for d in self.shape):
            raise ValueError(f"shape must be positive sizes with at most one -1, got {shape}")

    def _transform(self, dataset: DataFrame) -> DataFrame:
        flat = as_array(dataset, self.input_column)
        shape = self.shape
        if -1 in shape:
            width = dataset.select(F.size(flat)).first()[0]
            known = math.prod(d for d in shape if d != -1)
            shape = tuple(width // known if d == -1 else d for d in shape)
        return dataset.withColumn(self.output_column, _nest(flat, F.lit(0), shape))


def _nest(flat: Column, offset: Column, shape: tuple[int, ...]) -> Column:
    """Elements [offset, offset + prod(shape)) of ``flat`` as nested arrays."""
    if len(shape) == 1:
        return F.slice(flat, offset + 1, shape[0])
    stride = math.prod(shape[1:])
    rows = F.sequence(F.lit(0), F.lit(shape[0] - 1))
    return F.transform(rows, lambda i: _nest(flat, offset + i * stride, shape[1:]))


class LabelIndexTransformer(Transformer):
    """A prediction vector -> the class index (a double): the first index whose
    value reaches ``activation_threshold``, else the largest value's index,
    else (no positive value) ``default_index``; dist-keras's rule."""

    def __init__(
        self,
        output_dim: int,
        input_col: str = "prediction",
        output_col: str = "prediction_index",
        default_index: int = 0,
        activation_threshold: float = 0.55,
    ) -> None:
        super().__init__()
        self.output_dimensionality = int(output_dim)
        self.input_column = input_col
        self.output_column = output_col
        self.default_index = int(default_index)
        self.activation_threshold = float(activation_threshold)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        values = F.slice(as_array(dataset, self.input_column), 1, self.output_dimensionality)
        reached = F.array_position(
            F.transform(values, lambda v: v >= F.lit(self.activation_threshold)), True
        )
        top = F.array_max(values)
        argmax = F.when(top > 0, F.array_position(values, top) - 1).otherwise(self.default_index)
        index = F.when(reached > 0, reached - 1).otherwise(argmax)
        return dataset.withColumn(self.output_column, index.cast("double"))

"""dist-keras's ``ModelPredictor`` on :meth:`loxodon.SparkModel.predict`: adds
``output_col``, a dense ML Vector of the model's output, to every row."""

from __future__ import annotations

from typing import Any

from pyspark.ml.functions import array_to_vector
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from loxodon.compat.distkeras.columns import FLAT_PREFIX, flat_features


class Predictor:
    """Holds the Keras model a predictor applies."""

    def __init__(self, keras_model: Any) -> None:
        self.model = keras_model

    def predict(self, dataframe: DataFrame) -> DataFrame:
        raise NotImplementedError


class ModelPredictor(Predictor):
    """``features_col``: one column (an ML Vector, an array, nested arrays) or a
    list of numeric columns (Loxodon assembles them into one input; dist-keras
    fed them to a multi-input model)."""

    def __init__(
        self,
        keras_model: Any,
        features_col: str | list[str] = "features",
        output_col: str = "prediction",
        batch_size: int = 1024,
    ) -> None:
        super().__init__(keras_model)
        self.features_column = features_col
        self.output_column = output_col
        self.batch_size = batch_size

    def predict(self, dataframe: DataFrame) -> DataFrame:
        from loxodon.spark_model import SparkModel

        frame, features = flat_features(dataframe, self.features_column)
        raw = f"__loxodon_raw_{self.output_column}"
        predicted = SparkModel(self.model).predict(
            frame, batch_size=self.batch_size, features_col=features, prediction_col=raw
        )
        out = predicted.withColumn(self.output_column, array_to_vector(F.col(raw))).drop(raw)
        if isinstance(features, str) and features.startswith(FLAT_PREFIX):
            out = out.drop(features)
        return out

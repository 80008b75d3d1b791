"""dist-keras's ``AccuracyEvaluator``: the fraction of rows whose
``prediction_col`` equals ``label_col``, in one Spark aggregation."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


class Evaluator:
    """Compares ``prediction_col`` with ``label_col``."""

    def __init__(self, label_col: str = "label", prediction_col: str = "prediction") -> None:
        self.label_column = label_col
        self.prediction_column = prediction_col

    def evaluate(self, dataframe: DataFrame) -> float:
        raise NotImplementedError


class AccuracyEvaluator(Evaluator):
    """Correct rows / all rows (a null on either side counts as wrong)."""

    def evaluate(self, dataframe: DataFrame) -> float:
        hit = F.col(self.prediction_column) == F.col(self.label_column)
        row = dataframe.agg(
            F.sum(F.when(hit, 1).otherwise(0)).alias("hits"), F.count(F.lit(1)).alias("rows")
        ).first()
        return float(row["hits"]) / float(row["rows"]) if row["rows"] else 0.0

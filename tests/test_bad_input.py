"""Bad input fails fast (seconds, never a hang) with an error naming the fix."""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest
from pyspark.errors import IllegalArgumentException
from pyspark.sql import SparkSession

import loxodon
from fixtures import mlp
from loxodon.utils import to_data_frame


def make_mlp(compile: bool = True) -> keras.Model:
    """8 inputs straight to a 4-way softmax; SGD at its default rate, no metrics."""
    return mlp(8, (), 4, seed=None, optimizer="sgd", metrics=(), compile=compile)


@pytest.fixture(scope="module")
def frame(spark: SparkSession):
    rng = np.random.default_rng(0)
    return to_data_frame(spark.sparkContext, rng.normal(size=(64, 8)), rng.integers(0, 4, 64))


def _fails_fast(
    fn, match: str, seconds: float = 60.0, error: type[Exception] = IllegalArgumentException
) -> None:
    """``fn`` raises ``error`` (the driver's check, before any task) matching ``match``,
    within ``seconds``."""
    started = time.monotonic()
    with pytest.raises(error, match=match):
        fn()
    assert time.monotonic() - started < seconds


def test_missing_feature_column(spark: SparkSession, frame) -> None:
    model = loxodon.SparkModel(make_mlp(), num_workers=2, spark=spark)
    _fails_fast(
        lambda: model.fit(frame, features_col="pixels", verbose=0),
        r"features_col: no column 'pixels' in the DataFrame \(available: features, label\)",
    )


def test_nan_labels(spark: SparkSession) -> None:
    x = np.ones((32, 8))
    y = np.zeros(32)
    y[3] = np.nan
    frame = to_data_frame(spark.sparkContext, x, y)
    model = loxodon.SparkModel(make_mlp(), num_workers=2, spark=spark)
    _fails_fast(
        lambda: model.fit(frame, verbose=0),
        r"label_col: 1 rows of the training data have a NaN or null label; drop them",
    )


def test_wrong_feature_width(spark: SparkSession) -> None:
    model = loxodon.SparkModel(make_mlp(), num_workers=2, spark=spark)
    x, y = np.ones((32, 5)), np.zeros(32)
    _fails_fast(
        lambda: model.fit(x, y, verbose=0),
        r"features_col: rows of the training data have 5 feature values but the model's "
        r"input shape \(8\) needs 8",
    )


def test_label_beyond_the_model_outputs(spark: SparkSession) -> None:
    model = loxodon.SparkModel(make_mlp(), num_workers=2, spark=spark)
    x, y = np.ones((32, 8)), np.full(32, 7)
    _fails_fast(
        lambda: model.fit(x, y, verbose=0),
        r"label_col: class indices of the training data range from 7 to 7 but the model's "
        r"output layer has 4 units \(classes 0 to 3\)",
    )


def test_uncompiled_model(spark: SparkSession, frame) -> None:
    model = loxodon.SparkModel(make_mlp(compile=False), num_workers=2, spark=spark)
    _fails_fast(
        lambda: model.fit(frame, verbose=0),
        r"the Keras model is not compiled: call model.compile\(",
        seconds=5,
        error=ValueError,
    )


def test_more_workers_than_task_slots(spark: SparkSession, frame) -> None:
    model = loxodon.SparkModel(make_mlp(), num_workers=5, spark=spark)
    _fails_fast(
        lambda: model.fit(frame, verbose=0),
        r"num_workers=5 but the cluster has only 2 free task slots",
        seconds=20,
    )


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="^mode: unknown value 'fastest'; choose one of single"):
        loxodon.SparkModel(make_mlp(), mode="fastest")
    with pytest.raises(ValueError, match="single"):
        loxodon.SparkModel(make_mlp(), mode="single", num_workers=2)
    with pytest.raises(ValueError, match="^frequency must be 'epoch' or a positive number"):
        loxodon.SparkModel(make_mlp(), mode="averaging", frequency=0)


def test_bad_learning_rate_schedules() -> None:
    from loxodon.selection import Actions, ModelSelection, SearchStrategy, Trial
    from loxodon.selection.search import epoch_rates

    class Unbounded(SearchStrategy):  # a custom strategy that never says how long trials train
        def start(self) -> Actions:
            return Actions(add=[self._new_trial({})])

        def on_epoch(self, trial_id: int, epoch: int, value: float) -> Actions:
            return Actions(run=[trial_id])

    with pytest.raises(ValueError, match="Unbounded has no max_epochs"):
        ModelSelection(lambda p: None, Unbounded(), learning_rate_schedule=lambda e, r: r)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)))
    with pytest.raises(ValueError, match="already follows a LearningRateSchedule"):
        epoch_rates(lambda e, r: r, model, Trial(0, {}), 3)
    model.compile(keras.optimizers.SGD(0.1), "mse")
    assert epoch_rates(lambda e, r: r / (e + 1), model, Trial(0, {}), 3) == pytest.approx(
        [0.1, 0.05, 0.1 / 3]
    )
    with pytest.raises(ValueError, match="gave nan for trial 0"):
        epoch_rates(lambda e, r: float("nan"), model, Trial(0, {}), 2)


def test_spark_session_refuses_config_names_without_dots() -> None:
    with pytest.raises(ValueError, match=r"spark_driver_host is not a Spark config name"):
        loxodon.spark_session("local[1]", spark_driver_host="10.0.0.5")

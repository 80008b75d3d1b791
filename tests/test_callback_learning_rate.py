"""Callbacks that set the learning rate reach the workers from the next epoch on
(the mode's learning-rate scale still applies), and callbacks that act per batch
are refused on the driver before any task starts."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from pyspark.sql import SparkSession

import loxodon
from fixtures import mlp
from loxodon.datasets import digits

ROWS, BATCH = 512, 32


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    x, y, _, _ = digits()
    return x[:ROWS], y[:ROWS]


class WeightsPerEpoch(keras.callbacks.Callback):
    """The driver's weights (the center) at each epoch end."""

    def __init__(self) -> None:
        super().__init__()
        self.weights: list[list[np.ndarray]] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.weights.append([w.copy() for w in self.model.get_weights()])


def _worker_rates(spark_model: loxodon.SparkModel) -> list[list[float]]:
    return [w["learning_rates"] for w in spark_model.last_fit["workers"]]


@pytest.mark.parametrize(
    ("mode", "scale"), [("synchronous", 1), ("averaging", 2), ("asynchronous", 1)]
)
def test_scheduler_rate_zero_from_the_second_epoch_freezes_the_weights(
    spark: SparkSession, data: tuple[np.ndarray, np.ndarray], mode: str, scale: int
) -> None:
    x, y = data
    # Compiled at 0.1; the schedule's first rate (0.05) must go out with the model.
    model = mlp(64, 32, 10, seed=0, optimizer="sgd", learning_rate=0.1)
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch: 0.05 if epoch == 0 else 0.0)
    weights = WeightsPerEpoch()
    initial = [w.copy() for w in model.get_weights()]
    spark_model = loxodon.SparkModel(model, mode=mode, num_workers=2, spark=spark)
    spark_model.fit(x, y, epochs=3, batch_size=BATCH, verbose=0, callbacks=[schedule, weights])

    assert not np.array_equal(weights.weights[0][0], initial[0])  # epoch 1 trained
    for later in weights.weights[1:]:  # epochs 2 and 3 ran at rate 0: nothing moved
        for got, want in zip(later, weights.weights[0], strict=True):
            np.testing.assert_array_equal(got, want)
    want_rates = [float(np.float32(0.05 * scale)), 0.0, 0.0]
    assert _worker_rates(spark_model) == [want_rates, want_rates]
    # The trained model keeps the user's (unscaled) rate, as the driver's does.
    assert float(model.optimizer.learning_rate) == 0.0


def test_reduce_lr_on_plateau_reaches_the_workers(
    spark: SparkSession, data: tuple[np.ndarray, np.ndarray]
) -> None:
    x, y = data
    model = mlp(64, 32, 10, seed=0, optimizer="sgd", learning_rate=0.05)
    # min_delta above any loss: every epoch after the first is a plateau (patience 0).
    plateau = keras.callbacks.ReduceLROnPlateau(
        monitor="loss", factor=0.5, patience=0, min_delta=100.0, verbose=0
    )
    spark_model = loxodon.SparkModel(model, mode="averaging", num_workers=2, spark=spark)
    history = spark_model.fit(x, y, epochs=4, batch_size=BATCH, verbose=0, callbacks=[plateau])

    unscaled = [0.05, 0.05, 0.025, 0.0125]  # reduced at the ends of epochs 2 and 3
    scaled = [float(np.float32(2 * rate)) for rate in unscaled]  # averaging scales by N = 2
    assert _worker_rates(spark_model) == [scaled, scaled]
    # Keras logs the rate each epoch ran at; the driver's optimizer ends one reduction on.
    assert history.history["learning_rate"] == pytest.approx(unscaled)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.00625)


class PerBatch(keras.callbacks.Callback):
    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        pass


@pytest.mark.parametrize(
    ("callback", "hook"),
    [
        (PerBatch(), "on_train_batch_end"),
        (
            keras.callbacks.LambdaCallback(on_train_batch_begin=lambda b, logs: None),
            "on_train_batch_begin",
        ),
        (keras.callbacks.ModelCheckpoint("/tmp/never.keras", save_freq=5), "on_train_batch_end"),
        (keras.callbacks.TerminateOnNaN(), "on_batch_end"),
    ],
)
def test_per_batch_callbacks_are_refused_before_any_task(
    data: tuple[np.ndarray, np.ndarray], callback: keras.callbacks.Callback, hook: str
) -> None:
    x, y = data
    # No Spark session: the refusal comes before the fit touches Spark.
    spark_model = loxodon.SparkModel(mlp(64, 32, 10, seed=0), mode="synchronous", num_workers=2)
    with pytest.raises(
        ValueError, match=f"{type(callback).__name__} implements .*{hook}.*once per epoch"
    ):
        spark_model.fit(x, y, epochs=1, callbacks=[callback])


def test_epoch_callbacks_of_keras_are_accepted() -> None:
    from loxodon.driver_callbacks import require_epoch_callbacks

    require_epoch_callbacks(
        [
            keras.callbacks.ModelCheckpoint("/tmp/never.keras"),
            keras.callbacks.TensorBoard("/tmp/never-tb"),
            keras.callbacks.EarlyStopping(),
            keras.callbacks.ReduceLROnPlateau(),
            keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: None),
        ]
    )

"""Every training mode learns: on scikit-learn's digits, each reaches at least
90% of plain single-process Keras's test accuracy in the same epochs.

The asynchronous modes (asynchronous, hogwild) are not deterministic: the
order of pushes depends on timing. Over 4 epochs their accuracy ranged from
0.83 to 0.97 across runs (staleness spikes late in training, with nothing after
to recover); over 8 epochs the lowest of 16 runs was 0.90, against a bar of
0.85. 8 epochs keep the test about the mode, not about timing luck."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from pyspark.sql import SparkSession

import loxodon
from loxodon.datasets import digits

EPOCHS = 8
BATCH = 32


def make_mlp(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, ...]:
    return digits()


@pytest.fixture(scope="module")
def keras_accuracy(data: tuple[np.ndarray, ...]) -> float:
    x, y, xt, yt = data
    model = make_mlp()
    model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0)
    return float(model.evaluate(xt, yt, verbose=0, return_dict=True)["accuracy"])


@pytest.mark.parametrize(
    ("mode", "options"),
    [
        ("single", {}),
        ("synchronous", {}),
        ("averaging", {"frequency": "epoch"}),
        ("averaging", {"frequency": 5}),
        ("asynchronous", {"communication_window": 4}),
        ("hogwild", {"communication_window": 4}),
        ("easgd", {"communication_window": 4}),
        ("aeasgd", {"communication_window": 4}),
    ],
)
def test_mode_reaches_keras_accuracy(
    spark: SparkSession,
    data: tuple[np.ndarray, ...],
    keras_accuracy: float,
    mode: str,
    options: dict,
) -> None:
    x, y, xt, yt = data
    workers = 1 if mode == "single" else 2
    model = loxodon.SparkModel(make_mlp(), mode=mode, num_workers=workers, spark=spark, **options)
    # Averaged modes see each row once per epoch on some worker; a data-parallel
    # epoch has 1/N of the steps, so they get the same epochs as Keras, no more.
    history = model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0)
    assert len(history.history["loss"]) == EPOCHS
    assert history.history["loss"][-1] < history.history["loss"][0]
    accuracy = model.evaluate(xt, yt, return_dict=True)["accuracy"]
    assert accuracy >= 0.9 * keras_accuracy, (mode, accuracy, keras_accuracy)

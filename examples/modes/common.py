"""Shared by the per-mode examples: digits data, a small MLP, and a runner that
trains it with one SparkModel configuration and prints the test accuracy."""

from __future__ import annotations

from typing import Any

import keras

import loxodon
from loxodon.datasets import digits


def build_mlp(learning_rate: float = 1e-2) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def run(title: str, epochs: int = 5, batch_size: int = 32, **spark_model_args: Any) -> float:
    """Train with ``SparkModel(**spark_model_args)`` on local[2]; return test accuracy."""
    x, y, x_test, y_test = digits()
    spark = loxodon.spark_session("local[2]", app_name=f"loxodon-{title}")
    spark.sparkContext.setLogLevel("WARN")
    try:
        model = loxodon.SparkModel(build_mlp(), **spark_model_args)
        model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=1)
        accuracy = model.evaluate(x_test, y_test, return_dict=True)["accuracy"]
    finally:
        spark.stop()
    print(f"{title}: test accuracy {accuracy:.3f} on scikit-learn digits")
    return accuracy

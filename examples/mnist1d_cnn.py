"""The convolutional network of the MNIST-1D paper (Greydanus 2020: three strided
Conv1D layers of 25 channels, a linear softmax; Adam 1e-2, batch 100), trained on
Spark with 2 workers on NumPy input of shape (N, 40, 1), its test accuracy
printed beside plain Keras's on the same data, epochs and global batch.

Run with ``.venv/bin/python examples/mnist1d_cnn.py [--mode averaging]``.
"""

from __future__ import annotations

import argparse

import keras

import loxodon
from loxodon.datasets import mnist1d

BATCH = 100


def build_cnn(seed: int = 0, learning_rate: float = 1e-2) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((40, 1)),
            keras.layers.Conv1D(25, 5, strides=2, padding="same", activation="relu"),
            keras.layers.Conv1D(25, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Conv1D(25, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def batch_size(mode: str, num_workers: int) -> int:
    """The per-worker batch that matches Keras's batch of 100: synchronous steps on the mean
    gradient of every worker's batch, the other modes step on their own."""
    return BATCH // num_workers if mode == "synchronous" else BATCH


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", default="synchronous")
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()

    x, y, x_test, y_test = mnist1d()
    x, x_test = x[..., None], x_test[..., None]
    spark = loxodon.spark_session("local[2]", app_name="loxodon-mnist1d-cnn")
    model = loxodon.SparkModel(build_cnn(), mode=args.mode, num_workers=2, spark=spark)
    model.fit(x, y, epochs=args.epochs, batch_size=batch_size(args.mode, 2), verbose=1)
    ours = model.evaluate(x_test, y_test, return_dict=True)["accuracy"]

    plain = build_cnn()
    plain.fit(x, y, epochs=args.epochs, batch_size=BATCH, verbose=0)
    theirs = plain.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
    print(f"test accuracy: Loxodon {args.mode} {ours:.3f}, plain Keras {theirs:.3f}")
    spark.stop()


if __name__ == "__main__":
    main()

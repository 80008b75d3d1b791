"""The main demo: an MLP on MNIST-1D (generated locally), trained on Spark with
2 workers, its test accuracy printed beside plain Keras's on the same data.

Run with ``make demo`` or ``.venv/bin/python examples/mnist1d_mlp.py [--mode M]``.
"""

from __future__ import annotations

import argparse
import time

import keras

import loxodon
from loxodon.datasets import mnist1d


def build_mlp(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((40,)),
            keras.layers.Dense(100, activation="relu"),
            keras.layers.Dense(100, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", default="asynchronous")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    x, y, x_test, y_test = mnist1d()
    print(f"MNIST-1D: {len(x)} training rows, {len(x_test)} test rows, 40 features, 10 classes")

    started = time.perf_counter()
    plain = build_mlp()
    plain.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
    plain_time = time.perf_counter() - started
    plain_acc = plain.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]

    spark = loxodon.spark_session("local[2]", app_name="loxodon-mnist1d")
    spark.sparkContext.setLogLevel("WARN")
    model = loxodon.SparkModel(build_mlp(), mode=args.mode, num_workers=2, communication_window=4)
    started = time.perf_counter()
    model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, validation_split=0.1, verbose=1)
    spark_time = time.perf_counter() - started
    spark_acc = model.evaluate(x_test, y_test, return_dict=True)["accuracy"]
    spark.stop()

    print(f"\n{'':24}{'test accuracy':>14}{'fit seconds':>13}")
    print(f"{'plain Keras (1 process)':24}{plain_acc:>14.3f}{plain_time:>13.1f}")
    print(f"{'Loxodon ' + args.mode + ' x2':24}{spark_acc:>14.3f}{spark_time:>13.1f}")


if __name__ == "__main__":
    main()

r"""A fit on a Spark cluster, for deploy/compose.yaml (or any cluster): an MLP on
MNIST-1D (generated locally, nothing downloaded) trained by N workers, saved to
a shared path, and scored again from Parquet that the executors write and read
on that path (which is why every host must see it).

    python fit_mnist1d.py [--master spark://master:7077] [--mode asynchronous]
                          [--workers 2] [--shared /shared | hdfs://...]
    spark-submit --master spark://master:7077 --jars "$(python -m loxodon jar)" \
        fit_mnist1d.py ...

It prints the test accuracy, the barrier stage's attempts and the address of
the parameter server that each worker dialled.
"""

from __future__ import annotations

import argparse
import os
import time

import keras
import numpy as np

import loxodon
from loxodon.datasets import mnist1d


def build_mlp() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((40,)),
            keras.layers.Dense(100, activation="relu"),
            keras.layers.Dense(100, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--master", default=os.environ.get("SPARK_MASTER_URL"))
    parser.add_argument("--mode", default="asynchronous")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--shared", default="/shared", help="a folder every host mounts, or a URI (hdfs://...)"
    )
    args = parser.parse_args()

    # Without --master: under spark-submit, the master it was given (its JVM is up
    # already, with the jar from --jars); else SPARK_MASTER_URL, else compose's
    # master. (Starting the JVM before loxodon.spark_session would leave the jar
    # off the driver's class path.)
    master = args.master
    if master is None and "PYSPARK_GATEWAY_PORT" in os.environ:
        from pyspark import SparkConf, SparkContext

        SparkContext._ensure_initialized()
        master = SparkConf().get("spark.master")
    master = master or os.environ.get("SPARK_MASTER_URL", "spark://master:7077")
    spark = loxodon.spark_session(master, app_name=f"loxodon-mnist1d-{args.mode}")
    spark.sparkContext.setLogLevel("WARN")
    x, y, x_test, y_test = mnist1d()

    model = loxodon.SparkModel(
        build_mlp(), mode=args.mode, num_workers=args.workers, communication_window=4
    )
    started = time.perf_counter()
    model.fit(x, y, epochs=args.epochs, batch_size=64, validation_split=0.1, verbose=1)
    seconds = time.perf_counter() - started
    accuracy = model.evaluate(x_test, y_test, return_dict=True)["accuracy"]
    print(f"{args.mode} x{args.workers} on {master}: {seconds:.1f} s, test accuracy {accuracy:.3f}")
    print(f"attempts: {model.last_fit.get('attempts')}")
    for worker in model.last_fit.get("workers") or []:
        peer, local = worker.get("ps_peer"), worker.get("local_address")
        print(f"  worker at {local} -> parameter server {peer}")

    shared = args.shared.rstrip("/")
    if "://" not in shared:
        shared = f"file://{shared}"
    saved = f"{shared}/models/mnist1d-{args.mode}"
    model.save(saved)
    print(f"saved to {saved}")

    # Executors write the test set and read it back: only a path every host sees works.
    table = f"{shared}/data/mnist1d-test.parquet"
    rows = [(features.tolist(), int(label)) for features, label in zip(x_test, y_test, strict=True)]
    spark.createDataFrame(rows, ["features", "label"]).write.mode("overwrite").parquet(table)
    scored = model.predict(spark.read.parquet(table)).select("label", "prediction").collect()
    predicted = np.array([np.argmax(r.prediction) for r in scored])
    labels = np.array([r.label for r in scored])
    print(f"scored {len(scored)} rows from {table}: accuracy {np.mean(predicted == labels):.3f}")
    spark.stop()


if __name__ == "__main__":
    main()

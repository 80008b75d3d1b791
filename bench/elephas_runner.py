"""One Elephas 7.3 run of the training benchmark, executed by the Elephas
virtualenv's Python (``.cache/bench/elephas-venv``), started by ``bench/train.py``.

Elephas 7.3 splits its modes over two classes: ``elephas.spark_model.SparkModel``
is the synchronous one (every epoch each worker fits its partition from the
broadcast weights, the driver averages the deltas), and ``AsynchronousSparkModel``
takes ``mode`` = ``asynchronous`` (server updates under a lock) or ``hogwild``
(no lock) with a parameter server in the driver (``http``, Elephas's default,
a Flask process; or ``socket``). Both get ``frequency='epoch'``.

The timed span is ``to_simple_rdd`` plus ``fit`` (NumPy arrays in, trained
model out, as for Loxodon). Accuracy is the master network's Keras
``evaluate`` on the test set in this process.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from train_common import Workload, load_model, load_workload, quiet_tensorflow, report, runner_args
from train_common import timed as timed_fit


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def elephas_model(model: Any, mode: str, workers: int, ps_mode: str) -> Any:
    from elephas.spark_model import AsynchronousSparkModel, SparkModel

    if mode == "synchronous":
        return SparkModel(model, frequency="epoch", mode=mode, num_workers=workers)
    return AsynchronousSparkModel(
        model,
        frequency="epoch",
        mode=mode,
        num_workers=workers,
        parameter_server_mode=ps_mode,
        port=free_port(),
    )


def run(work: Workload, mode: str, epochs: int, batch_size: int, workers: int) -> None:
    from elephas.utils.rdd_utils import to_simple_rdd
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(f"local[{workers}]")
        .appName(f"elephas-bench-{mode}")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "6g")
        .getOrCreate()
    )
    sc = spark.sparkContext
    sc.setLogLevel("ERROR")
    try:
        sc.parallelize(range(workers), workers).count()  # JVM warm, not timed
        model = load_model(work.model_path)
        spark_model = elephas_model(model, mode, workers, os.environ.get("ELEPHAS_PS", "http"))

        def fit() -> None:
            rdd = to_simple_rdd(sc, work.x_train, work.y_train)
            spark_model.fit(rdd, epochs=epochs, batch_size=batch_size, verbose=0)

        seconds = timed_fit(fit)
        result = spark_model.master_network.evaluate(
            work.x_test, work.y_test, batch_size=1024, return_dict=True, verbose=0
        )
        report(result["accuracy"], seconds, len(work.x_train), epochs)
    finally:
        spark.stop()


def main() -> None:
    quiet_tensorflow()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # Elephas's clients dial this host
    args = runner_args(__doc__ or "")
    run(load_workload(args.workdir), args.mode, args.epochs, args.batch_size, args.workers)


if __name__ == "__main__":
    main()

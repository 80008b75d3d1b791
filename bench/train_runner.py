"""One run of the training benchmark in Loxodon's virtualenv: plain Keras
(``--mode keras``, one process, TensorFlow on every core; ``keras1``, one
process with one TensorFlow thread), the communication-free ceiling
(``ceiling``: N one-thread Keras processes, each on 1/N of the rows, started
together, exchanging nothing) or one Loxodon mode on ``local[N]``. Started by
``bench/train.py``; prints one result line.

The timed span is ``fit`` alone: for Loxodon it includes moving the NumPy
arrays to the workers and the job launch, as a user sees it. Before the clock,
as plain Keras imports TensorFlow before its clock, the Spark session is
started and ``loxodon.warm_up`` starts the executors' Python workers (which
import TensorFlow once per process and stay pooled across fits).
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any

from train_common import Workload, load_model, load_workload, quiet_tensorflow, report, runner_args
from train_common import timed as timed_fit


def one_thread() -> None:
    """One TensorFlow thread (intra and inter op), set before TensorFlow runs any op."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def run_keras(work: Workload, epochs: int, batch_size: int, threads_one: bool = False) -> None:
    if threads_one:
        one_thread()
    model = load_model(work.model_path)
    seconds = timed_fit(
        lambda: model.fit(
            work.x_train, work.y_train, epochs=epochs, batch_size=batch_size, verbose=0
        )
    )
    accuracy = model.evaluate(
        work.x_test, work.y_test, batch_size=1024, return_dict=True, verbose=0
    )
    report(accuracy["accuracy"], seconds, len(work.x_train), epochs)


def _ceiling_shard(
    workdir: str, shard: int, shards: int, epochs: int, batch_size: int, start: Any, out: Any
) -> None:
    """One process of the ceiling: one thread, its 1/N of the rows, timed from the
    common start."""
    quiet_tensorflow()
    one_thread()
    work = load_workload(Path(workdir))
    x, y = work.x_train[shard::shards], work.y_train[shard::shards]
    model = load_model(work.model_path)
    start.wait()  # every shard loaded TensorFlow, its rows and its model
    seconds = timed_fit(lambda: model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0))
    accuracy = model.evaluate(
        work.x_test, work.y_test, batch_size=1024, return_dict=True, verbose=0
    )["accuracy"]
    out.put((shard, seconds, float(accuracy)))


def run_ceiling(workdir: Path, epochs: int, batch_size: int, workers: int) -> None:
    """N plain Keras processes started together; samples/s = all rows x epochs / the
    slowest one's seconds. The accuracy reported is the mean of the shards' models
    (each saw 1/N of the rows: the ceiling is of speed, not of accuracy)."""
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(workers), ctx.Queue()
    procs = [
        ctx.Process(
            target=_ceiling_shard, args=(str(workdir), i, workers, epochs, batch_size, start, out)
        )
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=3600) for _ in procs]
    for p in procs:
        p.join()
    rows = len(load_workload(workdir).x_train)
    slowest = max(seconds for _, seconds, _ in results)
    report(sum(a for _, _, a in results) / workers, slowest, rows, epochs)


def run_loxodon(
    work: Workload,
    mode: str,
    epochs: int,
    batch_size: int,
    workers: int,
    window: int,
    freq: str,
    sync_transport: str | None = None,
    exchange_overlap: bool = False,
) -> None:
    import loxodon

    spark = loxodon.spark_session(
        f"local[{workers}]", app_name=f"loxodon-bench-{mode}", **{"spark.driver.memory": "6g"}
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        loxodon.warm_up(spark, workers)  # pooled Python workers with TensorFlow loaded, not timed
        spark_model = loxodon.SparkModel(
            load_model(work.model_path),
            mode=mode,
            num_workers=None if mode == "single" else workers,
            communication_window=window,
            frequency=freq if freq == "epoch" else int(freq),
            **({"sync_transport": sync_transport} if sync_transport else {}),
            **({"exchange_overlap": True} if exchange_overlap else {}),
        )
        seconds = timed_fit(
            lambda: spark_model.fit(
                work.x_train, work.y_train, epochs=epochs, batch_size=batch_size, verbose=0
            )
        )
        result = spark_model.evaluate(work.x_test, work.y_test, return_dict=True)
        workers = spark_model.last_fit.get("workers", [])
        spent = sum(sum(w.get("epoch_seconds", [])) for w in workers)
        waited = sum(sum(w.get("epoch_wait_seconds", [])) for w in workers)
        share = waited / spent if spent else None
        rate = sum(w["steps"] * batch_size / sum(w["epoch_seconds"]) for w in workers if w["steps"])
        for w in workers:  # where each worker's time outside its steps went (the run's log)
            print("worker timings (s):", {k: round(v, 2) for k, v in w.get("timings", {}).items()})
            print("worker phases (s):", {k: round(v, 3) for k, v in w.get("phases", {}).items()})
        report(result["accuracy"], seconds, len(work.x_train), epochs, share, rate or None)
    finally:
        spark.stop()


def main() -> None:
    quiet_tensorflow()
    args = runner_args(__doc__ or "")
    work = load_workload(args.workdir)
    if args.mode in ("keras", "keras1"):
        run_keras(work, args.epochs, args.batch_size, threads_one=args.mode == "keras1")
    elif args.mode == "ceiling":
        run_ceiling(args.workdir, args.epochs, args.batch_size, args.workers)
    else:
        run_loxodon(
            work,
            args.mode,
            args.epochs,
            args.batch_size,
            args.workers,
            args.window,
            args.frequency,
            args.sync_transport,
            args.exchange_overlap,
        )


if __name__ == "__main__":
    main()

"""One run of the training benchmark in Loxodon's virtualenv: plain Keras
(``--mode keras``, one process, TensorFlow on every core) or one Loxodon mode
on ``local[N]``. Started by ``bench/train.py``; prints one result line.

The timed span is ``fit`` alone: for Loxodon it includes moving the NumPy
arrays to the workers and the job launch, as a user sees it. Before the clock,
as plain Keras imports TensorFlow before its clock, the Spark session is
started and ``loxodon.warm_up`` starts the executors' Python workers (which
import TensorFlow once per process and stay pooled across fits).
"""

from __future__ import annotations

from train_common import Workload, load_model, load_workload, quiet_tensorflow, report, runner_args
from train_common import timed as timed_fit


def run_keras(work: Workload, epochs: int, batch_size: int) -> None:
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


def run_loxodon(
    work: Workload, mode: str, epochs: int, batch_size: int, workers: int, window: int, freq: str
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
        )
        seconds = timed_fit(
            lambda: spark_model.fit(
                work.x_train, work.y_train, epochs=epochs, batch_size=batch_size, verbose=0
            )
        )
        result = spark_model.evaluate(work.x_test, work.y_test, return_dict=True)
        report(result["accuracy"], seconds, len(work.x_train), epochs)
    finally:
        spark.stop()


def main() -> None:
    quiet_tensorflow()
    args = runner_args(__doc__ or "")
    work = load_workload(args.workdir)
    if args.mode == "keras":
        run_keras(work, args.epochs, args.batch_size)
    else:
        run_loxodon(
            work, args.mode, args.epochs, args.batch_size, args.workers, args.window, args.frequency
        )


if __name__ == "__main__":
    main()

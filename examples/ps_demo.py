"""Demo of the parameter server at work: a local Spark session, one barrier
stage of 2 tasks exchanging a weight vector through the server in the driver
JVM, and the round-trip figures each task measured.

Run with ``make demo`` (or ``.venv/bin/python examples/ps_demo.py``).
"""

from __future__ import annotations

import time

import numpy as np
from pyspark import BarrierTaskContext

import loxodon
from loxodon.parameter_server import ServerAddress

NUM_WORKERS = 2
NUM_PARAMS = 1_000_000
ROUNDS = 20


def exchange(address: ServerAddress, rounds: int) -> dict[str, float]:
    """Runs inside a barrier task: pull, push and sync ``rounds`` times."""
    context = BarrierTaskContext.get()
    worker = context.partitionId()
    timings: dict[str, list[float]] = {"pull": [], "push": [], "sync": []}
    with address.connect(worker=worker, timeout=60) as ps:
        ps.register()
        context.barrier()
        center = ps.pull()
        delta = np.full_like(center, 0.001 * (worker + 1))
        for r in range(rounds):
            t0 = time.perf_counter()
            ps.pull(out=center)
            t1 = time.perf_counter()
            ps.push(delta)
            t2 = time.perf_counter()
            mean = ps.sync(r, center)
            t3 = time.perf_counter()
            timings["pull"].append(t1 - t0)
            timings["push"].append(t2 - t1)
            timings["sync"].append(t3 - t2)
        assert mean.shape == center.shape
    return {op: float(np.median(ts)) for op, ts in timings.items()} | {"worker": worker}


def main() -> None:
    spark = loxodon.spark_session("local[2]", app_name="loxodon-ps-demo")
    spark.sparkContext.setLogLevel("WARN")
    with loxodon.start_parameter_server(spark, NUM_WORKERS, NUM_PARAMS, sync_timeout=60) as ps:
        address = ps.address
        print(f"parameter server on {address.host}:{address.port}, {NUM_PARAMS:,} float32 params")
        spark.sparkContext.setJobDescription("loxodon demo: barrier stage of 2 workers")
        started = time.perf_counter()
        rows = (
            spark.sparkContext.parallelize(range(NUM_WORKERS), NUM_WORKERS)
            .barrier()
            .mapPartitions(lambda _: [exchange(address, ROUNDS)])
            .collect()
        )
        elapsed = time.perf_counter() - started
        center = ps.center()
        stats = ps.stats()
    expected = ROUNDS * (0.001 + 0.002)
    mb = NUM_PARAMS * 4 / 1e6
    print(f"\n{'worker':>6} {'pull ms':>9} {'push ms':>9} {'sync ms':>9} {'pull MB/s':>10}")
    for row in sorted(rows, key=lambda r: r["worker"]):
        print(
            f"{row['worker']:>6} {row['pull'] * 1e3:>9.2f} {row['push'] * 1e3:>9.2f} "
            f"{row['sync'] * 1e3:>9.2f} {mb / row['pull']:>10.0f}"
        )
    print(f"\nstage time {elapsed:.2f} s; server counted {stats['updates']} locked updates")
    pushes = f"{NUM_WORKERS} x {ROUNDS} pushes"
    print(f"center[0] = {center[0]:.4f} (expected {expected:.4f} from {pushes})")
    if not np.allclose(center, expected, rtol=1e-4):
        raise SystemExit("the center does not hold the sum of the pushed deltas")
    spark.stop()


if __name__ == "__main__":
    main()

"""Where a synchronous worker step's time goes, without Spark: two worker processes
(one TensorFlow thread each, as ``local[2]`` gives them) on the synthetic workload's
model (784-256-128-10, Adam 1e-3, batch 128), joined by the all-reduce ring
(``loxodon.worker.allreduce``) over loopback, run the same epoch three ways:

* ``step``: one call each per batch, as the per-step path does (``Partition.batches``,
  ``Replica.gradients``, ``Ring.allreduce_mean``, ``Replica.apply_gradients``), each
  phase timed;
* ``fused``: the epoch's steps in one traced call over the held rows
  (``Replica.sync_steps``, the mean through a ``tf.numpy_function``);
* ``b<KiB>``: ``fused`` with the gradient reduced in buckets of at most that many KiB
  (``Replica.sync_steps_bucketed``, ``--bucket-kib``; ``b0``: one bucket, still through
  the ring's reducing thread), each started as soon as the backward pass has produced
  it; reported with how long the backward pass ran after the first bucket started
  (``overlap``, the time a reduction can hide behind) and how long the step then waited
  for the means (``exposed``);
* ``local``: the same steps without any exchange (``Replica.train_steps``, what
  ``averaging`` runs between exchanges): the per-worker ceiling.

Each path is traced and warmed up on a few steps first, then timed over ``--epochs``
epochs of ``rows / 2 / batch`` steps each; the paths alternate ``--rounds`` times.
Prints samples/s per worker, wall and CPU milliseconds per step (the process's CPU
time: on a loaded host the steadier measure of a path's own work; a wait for the peer
costs none) and, for ``step``, wall milliseconds per step by phase.

Run from the repository root: ``.venv/bin/python bench/sync_steps.py [--rows 50000]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time
from typing import Any

import numpy as np

BATCH = 128


def _model(seed: int = 0) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((784,))]
        + [keras.layers.Dense(n, activation="relu") for n in (256, 128)]
        + [keras.layers.Dense(10, activation="softmax")]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _worker(rank: int, addresses: list[str], listener: Any, args: Any, out: Any) -> None:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from loxodon.worker.allreduce import Ring
    from loxodon.worker.data import Partition, aligned_empty
    from loxodon.worker.replica import Replica

    rows = args.rows // 2
    rng = np.random.default_rng(rank)
    features = aligned_empty((rows, 784))
    features[:] = rng.standard_normal(features.shape, dtype=np.float32)
    labels = rng.integers(0, 10, (rows, 1)).astype(np.float32)
    part = Partition.from_matrices(features, labels, (784,), sparse_labels=True)
    steps = rows // BATCH
    ring = Ring(rank, addresses, listener, b"k" * 32, "bench", timeout=600)
    results: list[dict[str, Any]] = []
    replicas: dict[str, Any] = {}
    paths = _paths(args)
    for path in paths:  # trace and warm up every path before any timing
        replicas[path] = r = Replica(_model())
        r.hold_rows(part.x, part.y)
        _epoch(path, r, part, ring, 8, 0, {})
    for _ in range(args.rounds):
        for path in paths:
            phases: dict[str, float] = {}
            ring.wait_seconds = 0.0
            replicas[path].trace = [] if path.startswith("b") else None
            started, cpu = time.perf_counter(), time.process_time()
            for epoch in range(args.epochs):
                _epoch(path, replicas[path], part, ring, steps, epoch + 1, phases)
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
            results.append(
                {
                    "path": path,
                    "seconds": seconds,
                    "cpu": cpu,
                    "steps": steps * args.epochs,
                    "ring": ring.wait_seconds,
                    **phases,
                    **_overlap(replicas[path].trace),
                }
            )
    ring.close()
    out.put((rank, results))


def _epoch(
    path: str, r: Any, part: Any, ring: Any, steps: int, epoch: int, phases: dict[str, float]
) -> None:
    rng = np.random.default_rng([0, epoch])
    if path == "fused":
        r.sync_steps(part.epoch_indices(BATCH, steps, rng), lambda i, g: ring.allreduce_mean(g))
        return
    if path.startswith("b"):
        r.sync_steps_bucketed(part.epoch_indices(BATCH, steps, rng), ring, int(path[1:]) << 10)
        return
    if path == "local":
        r.train_steps(part.epoch_indices(BATCH, steps, rng))
        return
    batches = part.batches(BATCH, steps, rng)
    clock = time.perf_counter
    for _ in range(steps):
        t0 = clock()
        x, y = next(batches)
        t1 = clock()
        grad = r.gradients(x, y)
        t2 = clock()
        mean = ring.allreduce_mean(grad)
        t3 = clock()
        r.apply_gradients(mean)
        t4 = clock()
        for name, dt in (("gather", t1 - t0), ("gradient", t2 - t1), ("mean", t3 - t2)):
            phases[name] = phases.get(name, 0.0) + dt
        phases["apply"] = phases.get("apply", 0.0) + t4 - t3


def _paths(args: Any) -> list[str]:
    return ["step", "fused", *(f"b{k}" for k in args.bucket_kib), "local"]


def _overlap(trace: list[tuple[int, str, int, float]] | None) -> dict[str, float]:
    """Seconds, summed over the steps, from the first bucket's start to the last's (the
    backward pass still running) and from the wait to the means' arrival."""
    if not trace:
        return {}
    overlap = exposed = 0.0
    starts: list[float] = []
    wait = 0.0
    for _, event, _, t in trace:  # a step: its starts, a wait, then done
        if event == "start":
            starts.append(t)
        elif event == "wait":
            wait = t
        else:
            overlap += starts[-1] - starts[0]
            exposed += t - wait
            starts = []
    return {"overlap": overlap, "exposed": exposed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000, help="rows of both workers")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per path and round")
    parser.add_argument("--rounds", type=int, default=2, help="times each path is timed")
    parser.add_argument(
        "--bucket-kib",
        type=lambda v: [int(k) for k in v.split(",") if k],
        default=[0, 64, 256],
        help="bucket caps of the bucketed paths, comma-separated KiB",
    )
    args = parser.parse_args()
    from loxodon.worker.allreduce import listen

    ctx = mp.get_context("spawn")
    listeners = [listen("127.0.0.1") for _ in range(2)]
    addresses = [f"127.0.0.1:{s.getsockname()[1]}" for s in listeners]
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(r, addresses, listeners[r], args, out)) for r in range(2)
    ]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=1800) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    print(f"load average before the summary: {os.getloadavg()[0]:.2f}")
    print(
        "| path | round | worker | samples/s | ms/step | CPU ms/step | ring ms/step "
        "| gather | gradient | apply | overlap | exposed |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    paths = _paths(args)
    rates: dict[str, list[float]] = {p: [] for p in paths}
    cpus: dict[str, list[float]] = {p: [] for p in paths}
    for rank, rows in sorted(results.items()):
        for k, row in enumerate(rows):
            n = row["steps"]
            rate = n * BATCH / row["seconds"]
            rates[row["path"]].append(rate)
            cpus[row["path"]].append(1e3 * row["cpu"] / n)
            ms = {
                name: f"{1e3 * row[name] / n:.2f}"
                for name in ("gather", "gradient", "apply", "overlap", "exposed")
                if name in row
            }
            print(
                f"| {row['path']} | {k // len(paths)} | {rank} | {rate:,.0f} | "
                f"{1e3 * row['seconds'] / n:.2f} | {1e3 * row['cpu'] / n:.2f} | "
                f"{1e3 * row['ring'] / n:.2f} | "
                f"{ms.get('gather', '')} | {ms.get('gradient', '')} | {ms.get('apply', '')} | "
                f"{ms.get('overlap', '')} | {ms.get('exposed', '')} |"
            )
    for path, values in rates.items():
        print(
            f"{path}: median {statistics.median(values):,.0f} samples/s per worker, "
            f"{statistics.median(cpus[path]):.2f} CPU ms per step"
        )


if __name__ == "__main__":
    main()

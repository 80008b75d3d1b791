"""What an asynchronous worker's window exchange costs the worker itself, without Spark
or a server: one process (one TensorFlow thread, as ``local[2]`` gives a worker) on the
synthetic workload's model (784-256-128-10, Adam 1e-3, batch 128) runs the same epoch
three ways, the mode being ``asynchronous`` (``loxodon.worker.downpour.Downpour``) against
an in-process center that adds each push and answers each pull at NumPy speed:

* ``window``: the per-window path (``train_steps`` per window, then ``get_flat``, push,
  pull and ``set_flat`` in Python);
* ``fused``: the epoch's steps in one traced call with the exchanges inside it
  (``Replica.window_steps``, what the worker loop runs now);
* ``local``: the same steps without any exchange (``Replica.train_steps``): the ceiling.

Each path is traced and warmed up first, then the paths alternate ``--rounds`` times,
each timed over ``--epochs`` epochs of ``rows / batch`` steps. Prints wall and CPU
milliseconds per step and each exchanging path's overhead per window over ``local``
(the server's own time is not in it: the bench's real rows add that).

Run from the repository root: ``PYTHONPATH=python .venv/bin/python bench/window_steps.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import numpy as np

BATCH = 128
PATHS = ("window", "fused", "local")


class Center:
    """The pushes and pulls of a ``PSClient`` that ``asynchronous`` makes, in memory."""

    def __init__(self, weights: np.ndarray) -> None:
        self.center = weights.copy()

    def push(self, delta: np.ndarray) -> int:
        self.center += delta
        return 0

    def pull(self, out: np.ndarray | None = None) -> np.ndarray:
        if out is None:
            return self.center.copy()
        out[:] = self.center
        return out


def _model() -> Any:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((784,))]
        + [keras.layers.Dense(n, activation="relu") for n in (256, 128)]
        + [keras.layers.Dense(10, activation="softmax")]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000, help="one worker's rows")
    parser.add_argument("--window", type=int, default=4, help="communication window")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per path and round")
    parser.add_argument("--rounds", type=int, default=3, help="times each path is timed")
    args = parser.parse_args()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from loxodon.worker.data import Partition, aligned_empty
    from loxodon.worker.loops import _run_steps
    from loxodon.worker.modes import MODE_CLASSES, Context, Mode
    from loxodon.worker.replica import Replica

    rng = np.random.default_rng(0)
    features = aligned_empty((args.rows, 784))
    features[:] = rng.standard_normal(features.shape, dtype=np.float32)
    labels = rng.integers(0, 10, (args.rows, 1)).astype(np.float32)
    part = Partition.from_matrices(features, labels, (784,), sparse_labels=True)
    steps = args.rows // BATCH
    windows = -(-steps // args.window)
    runs: dict[str, Any] = {}
    for path in PATHS:
        replica = Replica(_model())
        replica.hold_rows(part.x, part.y)
        spec = {"mode": "asynchronous", "communication_window": args.window}
        ctx = Context(replica, Center(replica.get_flat()), 0, 2, 0, spec)  # type: ignore[arg-type]
        runs[path] = (replica, MODE_CLASSES["asynchronous"](ctx))

    def epoch(path: str, n: int, seed: int) -> None:
        replica, mode = runs[path]
        order = np.random.default_rng([0, seed])
        if path == "local":
            replica.train_steps(part.epoch_indices(BATCH, n, order))
        elif path == "fused":
            _run_steps(mode, seed, part, BATCH, n, order)
            mode.end_epoch(seed, n)
        else:
            batches = part.epoch_indices(BATCH, n, order)
            for first in range(0, n, args.window):
                Mode.span(mode, seed, first, batches[first : first + args.window])
            mode.end_epoch(seed, n)

    for path in PATHS:  # trace and warm up every path before any timing
        epoch(path, 2 * args.window + 1, 0)
    wall: dict[str, list[float]] = {p: [] for p in PATHS}
    cpu: dict[str, list[float]] = {p: [] for p in PATHS}
    for _ in range(args.rounds):
        for path in PATHS:
            started, cpu_started = time.perf_counter(), time.process_time()
            for e in range(args.epochs):
                epoch(path, steps, e + 1)
            wall[path].append((time.perf_counter() - started) / (steps * args.epochs))
            cpu[path].append((time.process_time() - cpu_started) / (steps * args.epochs))
    print(f"load average after: {os.getloadavg()[0]:.2f}; {steps} steps, {windows} windows")
    print("| path | wall ms/step (each round) | CPU ms/step (median) |")
    print("|---|---|---:|")
    for path in PATHS:
        rounds = ", ".join(f"{1e3 * w:.2f}" for w in wall[path])
        print(f"| {path} | {rounds} | {1e3 * statistics.median(cpu[path]):.2f} |")
    for path in ("window", "fused"):
        per_window = [
            (w - base) * steps / windows for w, base in zip(wall[path], wall["local"], strict=True)
        ]
        cpu_window = (statistics.median(cpu[path]) - statistics.median(cpu["local"])) * steps
        print(
            f"{path}: overhead per window over local, wall (each round): "
            + ", ".join(f"{1e3 * o:.2f}" for o in per_window)
            + f" ms; CPU (medians): {1e3 * cpu_window / windows:.2f} ms"
        )


if __name__ == "__main__":
    main()

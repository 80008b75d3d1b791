"""Synchronous steps fused into one traced call per span (``Replica.sync_steps``:
gradient, the workers' mean through a ``tf.numpy_function``, apply, in a loop over
the held rows) against one call each per batch (``gradients``, the mean,
``apply_gradients``), without Spark: the same weights, metrics and gradients bit for
bit, with BatchNormalization's change slots and with weighted rows; two ranks over a
real all-reduce ring end bit-identical, both ways; an error of the reduction comes out
of the fused call as it is."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest

from fixtures import batchnorm_mlp, mlp, random_partition
from loxodon.worker.data import Partition
from loxodon.worker.replica import Replica

ROWS, WIDTH, CLASSES, BATCH, STEPS = 300, 12, 4, 32, 20


MODELS: dict[str, Callable[[], keras.Model]] = {
    "mlp": lambda: mlp(WIDTH, 16, CLASSES, seed=4, learning_rate=1e-2),
    "batchnorm": lambda: batchnorm_mlp(WIDTH, (16,), CLASSES),
}


def _rows(seed: int, weighted: bool) -> Partition:
    return random_partition(seed, ROWS, WIDTH, CLASSES, weighted)


def _train(
    model: keras.Model,
    rows: Partition,
    fused: bool,
    mean: Callable[[int, int, np.ndarray], np.ndarray],
    epochs: int = 2,
) -> Replica:
    """``epochs`` of synchronous steps; ``mean(epoch, step, gradient)`` stands for the
    workers' mean. Fused: two spans an epoch, as a bounded span would cut it."""
    replica = Replica(model)
    if fused:
        replica.hold_rows(rows.x, rows.y, rows.w)
    for epoch in range(epochs):
        rng = np.random.default_rng([1, epoch, 0])
        replica.reset_metrics()
        if fused:
            batches = rows.epoch_indices(BATCH, STEPS, rng)
            for first, span in ((0, batches[:7]), (7, batches[7:])):
                replica.sync_steps(span, lambda i, g, e=epoch, f=first: mean(e, f + i, g))
        else:
            for step, (x, y) in enumerate(rows.batches(BATCH, STEPS, rng)):
                replica.apply_gradients(mean(epoch, step, replica.gradients(x, y)))
    return replica


@pytest.mark.parametrize(
    ("name", "weighted"), [("mlp", False), ("mlp", True), ("batchnorm", False)]
)
def test_fused_synchronous_steps_equal_one_call_each_per_batch(name: str, weighted: bool) -> None:
    rows = _rows(9, weighted)
    other = np.random.default_rng(5)  # another worker's gradients, the same for both runs
    others = {}
    seen: dict[bool, list[tuple[int, int, bytes]]] = {True: [], False: []}

    def recorder(fused: bool) -> Callable[[int, int, np.ndarray], np.ndarray]:
        def mean(epoch: int, step: int, grad: np.ndarray) -> np.ndarray:
            seen[fused].append((epoch, step, grad.tobytes()))
            if (epoch, step) not in others:
                others[epoch, step] = other.standard_normal(grad.size).astype(np.float32) * 0.1
            grad += others[epoch, step]
            grad /= np.float32(2)
            return grad

        return mean

    results = {}
    for fused in (False, True):
        replica = _train(MODELS[name](), rows, fused, recorder(fused))
        results[fused] = (replica.model.get_weights(), replica.metrics())
    assert [s[:2] for s in seen[True]] == [(e, s) for e in range(2) for s in range(STEPS)]
    assert seen[True] == seen[False]  # every step's gradient, bit for bit
    for a, b in zip(results[True][0], results[False][0], strict=True):
        assert a.tobytes() == b.tobytes()
    assert results[True][1] == results[False][1]


def test_an_error_of_the_reduction_comes_out_as_it_is() -> None:
    rows = _rows(2, False)

    def broken(epoch: int, step: int, grad: np.ndarray) -> np.ndarray:
        if step == 3:
            raise ConnectionError("an all-reduce peer closed its connection")
        return grad

    with pytest.raises(ConnectionError, match="peer closed"):
        _train(MODELS["mlp"](), rows, True, broken, epochs=1)


def _rank(rank: int, addresses: list[str], listener: Any, out: Any) -> None:
    """One worker process: the per-step path, then the fused one, each from the same
    start over the same ring; puts its weights (bytes) both ways."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from loxodon.worker.allreduce import Ring

    ring = Ring(rank, addresses, listener, b"k" * 32, "t", timeout=120)
    rows = _rows(20 + rank, False)  # each rank its own rows
    weights = {}
    for fused in (False, True):
        replica = _train(MODELS["batchnorm"](), rows, fused, lambda e, s, g: ring.allreduce_mean(g))
        weights[fused] = b"".join(w.tobytes() for w in replica.model.get_weights())
    ring.close()
    out.put((rank, weights))


def test_two_ranks_over_the_ring_end_bit_identical_both_ways() -> None:
    from loxodon.worker.allreduce import listen

    ctx = mp.get_context("spawn")
    listeners = [listen("127.0.0.1") for _ in range(2)]
    addresses = [f"127.0.0.1:{s.getsockname()[1]}" for s in listeners]
    out = ctx.Queue()
    procs = [ctx.Process(target=_rank, args=(r, addresses, listeners[r], out)) for r in range(2)]
    for p in procs:
        p.start()
    try:
        results = dict(out.get(timeout=240) for _ in procs)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
        for s in listeners:
            s.close()
    assert all(p.exitcode == 0 for p in procs)
    first = results[0][False]
    assert results[0][True] == first and results[1][False] == first and results[1][True] == first

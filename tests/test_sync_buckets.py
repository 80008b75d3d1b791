"""Bucketed synchronous steps (``Replica.sync_steps_bucketed``): the gradient leaves the
traced step in buckets of variables, last layers first, each started on the ring's
reducing thread, and the step waits for all of them before applying. Without Spark:
the bucket layout; the same weights and metrics bit for bit as the per-step path
when the mean is element-wise; buckets started in their order every step; an error of
the ring comes out as it is; two ranks over a real ring end bit-identical, and equal
bit for bit to the unbucketed fused path, with an MLP of three Dense layers and one
with BatchNormalization."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest

from fixtures import batchnorm_mlp, mlp, random_partition
from loxodon.worker.data import Partition, aligned_empty
from loxodon.worker.replica import Replica, buckets

ROWS, WIDTH, CLASSES, BATCH, STEPS, EPOCHS = 256, 12, 4, 32, 20, 6
CAP = 1200  # bytes: every model below gets three or more buckets


MODELS: dict[str, Callable[[], keras.Model]] = {
    "mlp": lambda: mlp(WIDTH, (24, 16), CLASSES, seed=4, learning_rate=1e-2),
    "batchnorm": lambda: batchnorm_mlp(WIDTH, (24, 16), CLASSES),
}


def _rows(seed: int) -> Partition:
    return random_partition(seed, ROWS, WIDTH, CLASSES)


def test_buckets_take_the_last_variables_first_up_to_the_cap() -> None:
    sizes = [784 * 256, 256, 256 * 128, 128, 128 * 10, 10]  # the benchmark's MLP
    assert buckets(sizes, None) == buckets(sizes, 0) == [(0, 6)]
    assert buckets(sizes, 256 << 10) == [(1, 6), (0, 1)]
    assert buckets(sizes, 64 << 10) == [(3, 6), (2, 3), (1, 2), (0, 1)]
    assert buckets([5, 5, 5], 40) == [(1, 3), (0, 1)]  # 40 bytes: two variables fit
    assert buckets([5, 50, 5], 40) == [(2, 3), (1, 2), (0, 1)]  # too big: a bucket alone


class _Fake:
    """Stands for the ring: the mean with another worker's gradient (fixed per step and
    element, so the bucketing cannot change it), computed when started."""

    def __init__(self, sizes: int, steps: int) -> None:
        rng = np.random.default_rng(5)
        self.other = rng.standard_normal((steps, sizes)).astype(np.float32) * 0.1
        self.step, self.offset, self.started = 0, sizes, []
        self.pending: list[np.ndarray] = []

    def mean(self, step: int, grad: np.ndarray) -> np.ndarray:
        grad += self.other[step]
        grad /= np.float32(2)
        return grad

    def start(self, vector: np.ndarray) -> None:  # buckets arrive from the flat end back
        self.offset -= vector.size
        self.started.append((self.step, self.offset, vector.size))
        other = self.other[self.step, self.offset : self.offset + vector.size]
        self.pending.append((vector + other) / np.float32(2))

    def finish(self, count: int) -> list[np.ndarray]:
        assert self.offset == 0 and count == len(self.pending)
        out, self.pending = self.pending, []
        self.step, self.offset = self.step + 1, self.other.shape[1]
        return out


def test_bucketed_steps_equal_the_per_step_path_and_pass_an_error_on() -> None:
    """On the BatchNormalization model (Dense kernels and biases, and the non-trainable
    moving statistics whose changes travel in the vector too: every kind of slot the
    MLP has, and more): the same weights and metrics bit for bit as the per-step path,
    every bucket started in order every step. Then the same replica (the same traced
    step, so no second trace) meets a ring that fails at step 3: its error comes out
    as it is."""
    rows = _rows(9)
    results = {}
    for bucketed in (False, True):
        replica = Replica(MODELS["batchnorm"]())
        layout = buckets(replica.sizes, CAP)
        assert len(layout) >= 3
        fake = _Fake(replica.num_params, 2 * STEPS)
        replica.hold_rows(rows.x, rows.y)
        for epoch in range(2):
            replica.reset_metrics()
            rng = np.random.default_rng([1, epoch, 0])
            if bucketed:
                batches = rows.epoch_indices(BATCH, STEPS, rng)
                for span in (batches[:7], batches[7:]):
                    replica.sync_steps_bucketed(span, fake, CAP)
            else:
                for step, (x, y) in enumerate(rows.batches(BATCH, STEPS, rng)):
                    grad = replica.gradients(x, y)
                    replica.apply_gradients(fake.mean(epoch * STEPS + step, grad))
        results[bucketed] = (replica.model.get_weights(), replica.metrics())
        if bucketed:  # every step, every bucket, last variables first
            offsets = replica.offsets
            expected = [(int(offsets[lo]), int(offsets[hi] - offsets[lo])) for lo, hi in layout]
            assert fake.started == [(s, *b) for s in range(2 * STEPS) for b in expected]
    for a, b in zip(results[True][0], results[False][0], strict=True):
        assert a.tobytes() == b.tobytes()
    assert results[True][1] == results[False][1]

    broken = _Fake(replica.num_params, STEPS)
    finish = broken.finish

    def fail_at_step_3(count: int) -> list[np.ndarray]:
        if broken.step == 3:
            raise ConnectionError("an all-reduce peer closed its connection")
        return finish(count)

    broken.finish = fail_at_step_3  # type: ignore[method-assign]
    batches = rows.epoch_indices(BATCH, STEPS, np.random.default_rng(0))
    with pytest.raises(ConnectionError, match="peer closed"):
        replica.sync_steps_bucketed(batches, broken, CAP)
    assert broken.step == 3  # it failed where the ring did, not earlier


def _shard(rank: int) -> Partition:
    """Rank ``rank`` of 2's rows: those j with j mod 2 == rank of one data set, so that
    unshuffled step s of the two ranks (BATCH each) covers rows [2 BATCH s, 2 BATCH
    (s + 1)): plain Keras's step s at batch 2 BATCH."""
    full = _rows(20)
    features = aligned_empty((ROWS // 2, WIDTH))
    features[:] = full.x[rank::2]
    labels = full.y[rank::2, None].astype(np.float32)
    return Partition.from_matrices(features, labels, (WIDTH,), True)


def _rank(ring: Any, rows: Partition, replicas: dict[Any, Replica], out: dict[Any, Any]) -> None:
    """One worker: for each model, unbucketed (fused), then bucketed, each from the same
    start over the same ring, unshuffled; puts the weights both ways in ``out``."""
    batches = rows.epoch_indices(BATCH, ROWS // 2 // BATCH, None)
    try:
        for (name, cap), replica in replicas.items():
            replica.hold_rows(rows.x, rows.y)
            for _ in range(EPOCHS):
                if cap is None:
                    replica.sync_steps(batches, lambda i, g: ring.allreduce_mean(g))
                else:
                    replica.sync_steps_bucketed(batches, ring, cap)
            out[name, cap] = replica.model.get_weights()
    except BaseException as exc:
        out["error"] = exc
    finally:
        ring.close()


def test_two_ranks_over_the_ring_bucketed_identical_and_equal_to_unbucketed() -> None:
    """Two ranks as threads of this process (each blocks only in its own callouts, on
    sockets): no process starts TensorFlow again, and each trace is made once."""
    from loxodon.worker.allreduce import Ring, listen

    listeners = [listen("127.0.0.1") for _ in range(2)]
    addresses = [f"127.0.0.1:{s.getsockname()[1]}" for s in listeners]
    # Every replica built here, one at a time: the models' seeds set the global RNG.
    replicas = [
        {(name, cap): Replica(MODELS[name]()) for name in MODELS for cap in (None, CAP)}
        for _ in range(2)
    ]
    results: list[dict[Any, Any]] = [{}, {}]
    rings: list[Any] = [None, None]

    def connect(rank: int) -> None:
        rings[rank] = Ring(rank, addresses, listeners[rank], b"k" * 32, "t", timeout=120)

    try:
        joining = [threading.Thread(target=connect, args=(r,), daemon=True) for r in range(2)]
        for t in joining:
            t.start()
        for t in joining:
            t.join(timeout=60)
        assert all(rings), "the ring did not connect within 60 s"
        ranks = [
            threading.Thread(
                target=_rank, args=(rings[r], _shard(r), replicas[r], results[r]), daemon=True
            )
            for r in range(2)
        ]
        for t in ranks:
            t.start()
        for t in ranks:
            t.join(timeout=300)
            assert not t.is_alive(), "a rank did not finish within 300 s"
    finally:
        for s in listeners:
            s.close()
    for result in results:
        if "error" in result:
            raise result["error"]
    for name in MODELS:
        bucketed, unbucketed = results[0][name, CAP], results[0][name, None]
        for a, b, c in zip(bucketed, results[1][name, CAP], unbucketed, strict=True):
            assert a.tobytes() == b.tobytes()  # the ranks agree bit for bit
            # Exact: with two ranks each element of the mean is (a + b) / 2, one float32
            # sum (which commutes) and a halving, whatever bucket or chunk carries it; with
            # more ranks the sum order would follow the chunk's owner, which buckets move.
            assert a.tobytes() == c.tobytes()
    # Plain Keras at the global batch, unshuffled: the same steps (BatchNormalization
    # normalizes over each worker's half batch, so only the MLP), float sums aside.
    full = _rows(20)
    keras_model = MODELS["mlp"]()
    keras_model.fit(full.x, full.y, epochs=EPOCHS, batch_size=2 * BATCH, shuffle=False, verbose=0)
    for a, k in zip(results[0]["mlp", CAP], keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, k, rtol=0, atol=1e-4)

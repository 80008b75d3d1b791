"""Synchronous mode over the ring all-reduce (``sync_transport="allreduce"``,
the default) against the parameter-server path (``"server"``) and plain Keras.

Without shuffling, worker p of 2 holds the rows j with j mod 2 == p in index
order, so step s of the two workers (batch b each) covers exactly rows
[2bs, 2bs + 2b): plain Keras's step s at batch 2b, unshuffled. The mean of the
two workers' mean gradients is that batch's mean gradient, so the three runs
take the same steps and end within float rounding of each other (the sums run
in other orders). With float16 gradients on the wire the fit still learns. Reduced
in buckets (``sync_bucket_bytes``), the fit ends with the same weights bit for bit."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from pyspark.sql import SparkSession

import loxodon
from fixtures import mlp
from loxodon.datasets import digits

ROWS = 1280  # a multiple of the global batch: no short or wrapped batch
BATCH = 32  # per worker; plain Keras takes 2 x BATCH
EPOCHS = 4
WORKERS = 2


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, ...]:
    x, y, xt, yt = digits()
    return x[:ROWS], y[:ROWS], xt, yt


def _fit(
    spark: SparkSession, data: tuple, workers: int = WORKERS, **options: str
) -> loxodon.SparkModel:
    x, y, _, _ = data
    model = loxodon.SparkModel(
        mlp(64, 64, 10, seed=0, learning_rate=1e-2),
        mode="synchronous",
        num_workers=workers,
        spark=spark,
        **options,
    )
    model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=False, verbose=0)
    return model


@pytest.fixture(scope="module")
def ring(spark: SparkSession, data: tuple[np.ndarray, ...]) -> loxodon.SparkModel:
    """The default fit: synchronous over the ring, one reduction a step."""
    return _fit(spark, data, sync_transport="allreduce")


def _plain_keras(data: tuple, batch_size: int) -> keras.Model:
    """The same model fitted by plain Keras at ``batch_size``, rows in order."""
    x, y, _, _ = data
    model = mlp(64, 64, 10, seed=0, learning_rate=1e-2)
    model.fit(x, y, epochs=EPOCHS, batch_size=batch_size, shuffle=False, verbose=0)
    return model


def _assert_weights_close(*models: keras.Model) -> None:
    """Every model's weights within 1e-4 of the first's (Adam steps from the same start,
    where only the order of float32 sums differs)."""
    first, *others = (m.get_weights() for m in models)
    for other in others:
        for a, b in zip(first, other, strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-4)


def _accuracy(model: keras.Model, data: tuple) -> float:
    _, _, xt, yt = data
    return model.evaluate(xt, yt, verbose=0, return_dict=True)["accuracy"]


def test_allreduce_equals_the_server_path_and_plain_keras(
    spark: SparkSession, data: tuple[np.ndarray, ...], ring: loxodon.SparkModel
) -> None:
    keras_model = _plain_keras(data, WORKERS * BATCH)
    server = _fit(spark, data, sync_transport="server")
    _assert_weights_close(ring.master_network, server.master_network, keras_model)
    reference = _accuracy(keras_model, data)
    assert _accuracy(ring.master_network, data) >= 0.98 * reference
    # Each worker sent one gradient a step, over the ring (2 (N-1)/N = 1 vector for N = 2).
    worker = ring.last_fit["workers"][1]
    vector = 4 * keras_model.count_params()
    steps = EPOCHS * ROWS // (WORKERS * BATCH)
    assert worker["steps"] == steps
    assert 0 <= worker["bytes_sent"] - (1 + steps) * vector < vector // 2
    assert worker["ring_reductions"] == steps


def test_bucketed_reduction_ends_with_the_same_weights(
    spark: SparkSession, data: tuple[np.ndarray, ...], ring: loxodon.SparkModel
) -> None:
    """sync_bucket_bytes=1024 cuts the 64-64-10 MLP's gradient into four buckets (the
    last layer's bias, its kernel, the first bias, the first kernel), each reduced on
    its own. With two workers every element of the mean is (a + b) / 2 whatever bucket
    or chunk it travels in (one float32 sum, which commutes), so the weights are equal
    bit for bit to one reduction a step."""
    bucketed = _fit(spark, data, sync_bucket_bytes=1024)
    for a, b in zip(
        bucketed.master_network.get_weights(), ring.master_network.get_weights(), strict=True
    ):
        assert a.tobytes() == b.tobytes()
    steps = EPOCHS * ROWS // (WORKERS * BATCH)
    assert [w["ring_reductions"] for w in bucketed.last_fit["workers"]] == [4 * steps] * WORKERS


def test_float16_gradients_learn(spark: SparkSession, data: tuple[np.ndarray, ...]) -> None:
    half = _fit(spark, data, sync_precision="float16")
    reference = _accuracy(_plain_keras(data, WORKERS * BATCH), data)
    assert _accuracy(half.master_network, data) >= 0.98 * reference


def test_one_worker_sends_no_gradient(spark: SparkSession, data: tuple[np.ndarray, ...]) -> None:
    """Alone, a worker's gradient is the mean: over the all-reduce transport its steps
    reach neither the server nor a ring, while the server path sends one gradient (and a
    frame's header) a step; both take plain Keras's steps at the same batch."""
    keras_model = _plain_keras(data, BATCH)
    alone = _fit(spark, data, workers=1)
    server = _fit(spark, data, workers=1, sync_transport="server")
    _assert_weights_close(alone.master_network, server.master_network, keras_model)
    steps = EPOCHS * ROWS // BATCH
    assert alone.last_fit["workers"][0]["steps"] == server.last_fit["workers"][0]["steps"] == steps
    vector = 4 * keras_model.count_params()
    extra = server.last_fit["workers"][0]["bytes_sent"] - alone.last_fit["workers"][0]["bytes_sent"]
    # A SYNC frame's header is a few dozen bytes; the final archives may differ by a byte.
    assert 0 <= extra / steps - vector < 64, (extra, steps, vector)

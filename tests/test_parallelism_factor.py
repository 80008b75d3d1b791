"""``parallelism_factor``: k x N shards, claimed by the workers in turn each epoch.

The claim rule itself (own shards first, then the tail of the worker with the most left) is
shown exactly by ``ShardClaimsSuite``; here a fit shows that every shard is trained exactly once
per epoch, that the rows reach the workers from Spark's block manager, and that the model
learns as well as with one partition per worker."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.errors import IllegalArgumentException
from pyspark.sql import SparkSession

import loxodon
from fixtures import mlp
from loxodon.datasets import digits

EPOCHS = 8


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, ...]:
    return digits()


def _fit(spark: SparkSession, data: tuple[np.ndarray, ...], mode: str, factor: int) -> tuple:
    x, y, xt, yt = data
    model = mlp(64, 64, 10, seed=0, learning_rate=3e-3)
    sm = loxodon.SparkModel(
        model,
        mode=mode,
        num_workers=2,
        communication_window=4,
        parallelism_factor=factor,
        seed=3,
        spark=spark,
    )
    history = sm.fit(x, y, epochs=EPOCHS, batch_size=32, validation_split=0.1, verbose=0)
    accuracy = model.evaluate(xt, yt, verbose=0, return_dict=True)["accuracy"]
    return sm, history, accuracy


@pytest.mark.parametrize("mode", ["asynchronous", "adag"])
def test_every_shard_once_per_epoch_and_learns(
    spark: SparkSession, data: tuple[np.ndarray, ...], mode: str
) -> None:
    x, y, xt, yt = data
    plain = mlp(64, 64, 10, seed=0, learning_rate=3e-3)
    plain.fit(x, y, epochs=EPOCHS, batch_size=32, verbose=0)
    keras_accuracy = plain.evaluate(xt, yt, verbose=0, return_dict=True)["accuracy"]

    sm, history, accuracy = _fit(spark, data, mode, factor=3)
    workers = sm.last_fit["workers"]
    assert len(workers) == 2
    for epoch in range(EPOCHS):
        trained = sorted(j for w in workers for j in w["shards"][epoch])
        assert trained == list(range(6)), (epoch, [w["shards"][epoch] for w in workers])
    # Each worker trains its own shards (j mod 2) before anyone else's.
    for w, result in enumerate(sorted(workers, key=lambda r: r["shards"][0][0] % 2)):
        for claimed in result["shards"]:
            own = [j for j in claimed if j % 2 == w]
            assert claimed[: len(own)] == own, claimed
    assert sum(w["rows"] for w in workers) == sm.last_fit["rows"] < len(x)
    # Validation rows: each worker's own shards', each row evaluated once.
    assert len(history.history["val_accuracy"]) == EPOCHS
    assert history.history["val_accuracy"][-1] >= keras_accuracy - 0.1
    assert accuracy >= keras_accuracy - 0.05, (accuracy, keras_accuracy)


def test_refused_for_modes_with_rounds(spark: SparkSession, data: tuple[np.ndarray, ...]) -> None:
    x, y, _, _ = data
    sm = loxodon.SparkModel(
        mlp(64, 64, 10, seed=0),
        mode="synchronous",
        num_workers=2,
        parallelism_factor=2,
        spark=spark,
    )
    with pytest.raises(IllegalArgumentException, match="parallelism_factor: mode 'synchronous'"):
        sm.fit(x, y, epochs=1, verbose=0)


def test_factor_must_be_positive() -> None:
    with pytest.raises(ValueError, match="parallelism_factor"):
        loxodon.SparkModel(mlp(64, 64, 10, seed=0), mode="asynchronous", parallelism_factor=0)

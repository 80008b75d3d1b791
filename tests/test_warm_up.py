"""``loxodon.warm_up`` leaves one started Python worker per task slot in the
executor's pool (local mode: the driver JVM is the executor), and the next fit
leases those processes instead of starting new ones."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.errors import IllegalArgumentException
from pyspark.sql import SparkSession

import loxodon
from fixtures import mlp


def _pool(spark: SparkSession):
    return spark.sparkContext._jvm.loxodon.exec.PythonWorkerPool


def test_warm_up_starts_pooled_workers_that_fits_reuse(spark: SparkSession) -> None:
    assert loxodon.warm_up(spark, 2) == 2
    pool = _pool(spark)
    assert pool.idleCount() >= 2
    before = pool.idleCount()

    model = mlp(4, (), 2, seed=0, learning_rate=1e-3, metrics=())  # Adam at its default rate
    x = np.random.default_rng(0).normal(size=(64, 4))
    y = (x[:, 0] > 0).astype(int)
    loxodon.SparkModel(model, mode="synchronous", num_workers=2, spark=spark).fit(
        x, y, epochs=1, verbose=0
    )
    # The fit leased two idle workers and gave them back: no process was added.
    assert pool.idleCount() == before


def test_warm_up_needs_free_slots(spark: SparkSession) -> None:
    with pytest.raises(
        IllegalArgumentException, match="num_workers=64 but the cluster has only 2 free task slots"
    ):
        loxodon.warm_up(spark, 64)

"""NumPy rows placed by the driver and fetched from the parameter server train
exactly as the same rows sent through a DataFrame: same validation split, same
partitions, same order, so the same weights; bad arrays get the DataFrame
route's messages."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from pyspark.errors import IllegalArgumentException
from pyspark.sql import SparkSession

import loxodon
from fixtures import mlp
from loxodon import driver_data
from loxodon.datasets import digits


def make_mlp() -> keras.Model:
    return mlp(64, 32, 10, seed=3, learning_rate=1e-2)


def test_validation_hash_equals_the_scala_one(spark: SparkSession) -> None:
    """The split hash is written twice (the driver route places NumPy rows without a
    JVM round trip per row); both must agree bit for bit on every seed and row."""
    scala = spark.sparkContext._jvm.loxodon.data.BalancedPartitioning
    seeds = [0, 7, -5, 2**40 + 3, 2**63 - 1, -(2**63)]
    seeds += np.random.default_rng(17).integers(-(2**63), 2**63 - 1, 58, dtype=np.int64).tolist()
    for seed in seeds:
        for start in (0, 2**33 - 100):
            rows = np.arange(start, start + 2000, dtype=np.int64)
            expected = np.frombuffer(bytes(scala.uniformBytes(seed, start, 2000)), "<f8")
            np.testing.assert_array_equal(driver_data.uniform(seed, rows), expected, str(seed))


def test_placement_is_balanced_and_ordered() -> None:
    placement = driver_data.place(103, 4, seed=2, validation_split=0.3, val_rows=None)
    train = np.concatenate(placement.train)
    val = np.concatenate(placement.val)
    assert sorted(np.concatenate([train, val])) == list(range(103))
    assert max(map(len, placement.train)) - min(map(len, placement.train)) <= 1
    assert all(np.all(np.diff(p) > 0) for p in placement.train + placement.val)
    assert 15 < len(val) < 45  # about 30% of 103


@pytest.mark.parametrize(
    "validation", ["split", "data"], ids=["validation_split", "validation_data"]
)
def test_driver_route_trains_like_the_dataframe_route(spark: SparkSession, validation: str) -> None:
    x, y, xt, yt = digits()
    kwargs = {"validation_split": 0.2} if validation == "split" else {"validation_data": (xt, yt)}
    runs = []
    for upload in (True, False):
        model = make_mlp()
        spark_model = loxodon.SparkModel(
            model, mode="synchronous", num_workers=2, driver_upload=upload, seed=11, spark=spark
        )
        history = spark_model.fit(x, y, epochs=2, batch_size=32, verbose=0, **kwargs)
        runs.append((history.history, model.get_weights()))
    (h_up, w_up), (h_df, w_df) = runs
    assert h_up.keys() == h_df.keys() and "val_accuracy" in h_up
    for key in h_up:
        np.testing.assert_allclose(h_up[key], h_df[key], rtol=0, atol=1e-6, err_msg=key)
    for a, b in zip(w_up, w_df, strict=True):
        np.testing.assert_array_equal(a, b)
    assert h_up["val_accuracy"][-1] > 0.85


def test_driver_route_refuses_nan_labels_like_a_dataframe(spark: SparkSession) -> None:
    x, y = np.ones((32, 64)), np.zeros(32)
    y[[3, 9]] = np.nan
    model = loxodon.SparkModel(make_mlp(), num_workers=2, spark=spark)
    with pytest.raises(
        IllegalArgumentException, match="label_col: 2 rows of the training data have a NaN"
    ):
        model.fit(x, y, verbose=0)


def test_driver_route_refuses_mismatched_arrays(spark: SparkSession) -> None:
    model = loxodon.SparkModel(make_mlp(), num_workers=2, spark=spark)
    with pytest.raises(ValueError, match="x has 32 rows but y has 31"):
        model.fit(np.ones((32, 64)), np.zeros(31), verbose=0)
    with pytest.raises(ValueError, match=r"validation_data\[0\] has 8 rows"):
        model.fit(np.ones((32, 64)), np.zeros(32), validation_data=(np.ones((8, 64)), np.zeros(7)))

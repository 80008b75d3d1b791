"""SparkModel against plain Keras: synchronous equivalence, predict and evaluate
equality, callbacks on the driver, inputs of every kind, save and load."""

from __future__ import annotations

import csv
from pathlib import Path

import keras
import numpy as np
import pytest
from pyspark.sql import SparkSession

import loxodon
from fixtures import mlp
from loxodon.datasets import digits
from loxodon.utils import to_data_frame, to_labeled_point, to_simple_rdd


def make_mlp(seed: int = 0, lr: float = 1e-2) -> keras.Model:
    return mlp(64, 32, 10, seed=seed, optimizer="sgd", learning_rate=lr)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, ...]:
    return digits()


def test_synchronous_two_workers_equal_one_worker_with_double_batch(
    spark: SparkSession, data: tuple[np.ndarray, ...]
) -> None:
    x, y, _, _ = data
    n, batch = 512, 16
    x, y = x[:n], y[:n]
    spark_model = loxodon.SparkModel(make_mlp(), mode="synchronous", num_workers=2, spark=spark)
    spark_model.fit(x, y, epochs=1, batch_size=batch, shuffle=False, verbose=0)

    # Row i goes to partition i mod 2 (seed 0), in index order; step s of the
    # two workers together is one batch of 2b rows made of both their batches.
    parts = [np.arange(p, n, 2) for p in range(2)]
    order = np.concatenate(
        [
            np.concatenate([part[s * batch : (s + 1) * batch] for part in parts])
            for s in range(len(parts[0]) // batch)
        ]
    )
    reference = make_mlp()
    reference.fit(x[order], y[order], epochs=1, batch_size=2 * batch, shuffle=False, verbose=0)
    for got, want in zip(spark_model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_predict_and_evaluate_equal_keras(
    spark: SparkSession, data: tuple[np.ndarray, ...]
) -> None:
    x, y, xt, yt = data
    model = make_mlp()
    model.fit(x, y, epochs=2, verbose=0)
    spark_model = loxodon.SparkModel(model, num_workers=2, spark=spark)

    np.testing.assert_allclose(spark_model.predict(xt), model.predict(xt, verbose=0), atol=1e-5)
    got = spark_model.evaluate(xt, yt, return_dict=True)
    want = model.evaluate(xt, yt, verbose=0, return_dict=True)
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-4), key

    frame = to_data_frame(spark.sparkContext, xt, yt)
    scored = spark_model.predict(frame)
    assert "prediction" in scored.columns and scored.count() == len(xt)
    assert spark_model.evaluate(frame, return_dict=True)["accuracy"] == pytest.approx(
        want["accuracy"], abs=1e-4
    )


def test_callbacks_run_on_the_driver(
    spark: SparkSession, data: tuple[np.ndarray, ...], tmp_path: Path
) -> None:
    x, y, _, _ = data
    log = tmp_path / "log.csv"
    checkpoint = tmp_path / "best.keras"
    board = tmp_path / "board"
    stopper = keras.callbacks.EarlyStopping(monitor="loss", min_delta=10.0, patience=1)
    spark_model = loxodon.SparkModel(make_mlp(), mode="asynchronous", num_workers=2, spark=spark)
    history = spark_model.fit(
        x,
        y,
        epochs=10,
        batch_size=32,
        validation_split=0.2,
        verbose=0,
        callbacks=[
            stopper,
            keras.callbacks.CSVLogger(str(log)),
            keras.callbacks.ModelCheckpoint(str(checkpoint)),
            keras.callbacks.TensorBoard(str(board)),
        ],
    )
    epochs_run = len(history.history["loss"])
    assert epochs_run == 2, history.history  # no epoch improves loss by 10
    assert "val_loss" in history.history and "val_accuracy" in history.history
    rows = list(csv.DictReader(log.open()))
    assert len(rows) == epochs_run and "val_accuracy" in rows[0]
    assert keras.models.load_model(checkpoint).count_params() == spark_model.model.count_params()
    assert any(board.rglob("*tfevents*"))


def test_rdd_inputs_train(spark: SparkSession, data: tuple[np.ndarray, ...]) -> None:
    x, y, xt, yt = data
    sc = spark.sparkContext
    for rdd in (
        to_simple_rdd(sc, x, y),
        to_labeled_point(sc, x, np.eye(10)[y], categorical=True),
    ):
        spark_model = loxodon.SparkModel(make_mlp(lr=0.1), mode="synchronous", num_workers=2)
        spark_model.fit(rdd, epochs=8, batch_size=32, verbose=0)
        assert spark_model.evaluate(xt, yt, return_dict=True)["accuracy"] > 0.8
    predictions = spark_model.predict(sc.parallelize(list(xt[:10]), 2)).collect()
    np.testing.assert_allclose(
        np.stack(predictions), spark_model.model.predict(xt[:10], verbose=0), atol=1e-5
    )


def test_save_and_load_through_a_hadoop_uri(
    spark: SparkSession, data: tuple[np.ndarray, ...], tmp_path: Path
) -> None:
    _, _, xt, _ = data
    spark_model = loxodon.SparkModel(make_mlp(), mode="hogwild", num_workers=2, spark=spark)
    uri = (tmp_path / "saved").as_uri()
    spark_model.save(uri)
    loaded = loxodon.load_spark_model(uri, spark=spark)
    assert loaded.mode == "hogwild"
    np.testing.assert_allclose(
        loaded.model.predict(xt, verbose=0), spark_model.model.predict(xt, verbose=0), atol=1e-6
    )


def test_a_fit_started_from_another_thread_finds_the_session(
    spark: SparkSession, data: tuple[np.ndarray, ...]
) -> None:
    """SparkSession.getActiveSession() is per thread; a web service's or a notebook's
    worker thread still finds the running session (no spark= given), and trains
    exactly what the same fit trains on the main thread."""
    import threading

    x, y, _, _ = data
    x, y = x[:512], y[:512]
    outcome: dict[str, object] = {}

    def fit(spark: SparkSession | None) -> list[np.ndarray]:
        spark_model = loxodon.SparkModel(make_mlp(), mode="synchronous", num_workers=2, spark=spark)
        spark_model.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0)
        return spark_model.get_weights()

    def in_thread() -> None:
        try:
            outcome["weights"] = fit(None)
        except Exception as exc:  # reported to the test's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(timeout=300)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome
    for got, want in zip(outcome["weights"], fit(spark), strict=True):  # type: ignore[call-overload]
        np.testing.assert_allclose(got, want, atol=1e-6)

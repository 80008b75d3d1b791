"""Multi-input and multi-output Keras models (``loxodon.model_io``): a two-input
model (the digits' top and bottom halves as two inputs) and a two-output model (the
digit, and its ink as a regression, dict outputs with named losses) train on
local[2] to plain Keras's accuracy (same data, epochs, global batch and rate),
predict as the trained model does locally, evaluate with Keras's own metric names,
and bad column mappings are refused on the driver before any task starts."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

import loxodon
from fixtures import digits_halves, digits_halves_frame

EPOCHS, BATCH, WORKERS = 6, 32, 2


def _frame(spark: SparkSession, x: np.ndarray, y: np.ndarray) -> DataFrame:
    return digits_halves_frame(spark, x, y, ["top", "bottom", "pixels", "label", "ink"])


def two_inputs(learning_rate: float = 1e-2) -> keras.Model:
    keras.utils.set_random_seed(0)
    top, bottom = keras.Input((32,), name="top"), keras.Input((32,), name="bottom")
    h = keras.layers.Concatenate()([top, bottom])
    h = keras.layers.Dense(32, activation="relu")(h)
    model = keras.Model([top, bottom], keras.layers.Dense(10, activation="softmax")(h))
    model.compile(
        keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def two_outputs() -> keras.Model:
    keras.utils.set_random_seed(0)
    pixels = keras.Input((64,), name="pixels")
    h = keras.layers.Dense(32, activation="relu")(pixels)
    outputs = {
        "digit": keras.layers.Dense(10, activation="softmax", name="digit")(h),
        "ink": keras.layers.Dense(1, name="ink")(h),
    }
    model = keras.Model(pixels, outputs)
    model.compile(
        keras.optimizers.Adam(1e-2),
        loss={"digit": "sparse_categorical_crossentropy", "ink": "mse"},
        metrics={"digit": ["accuracy"], "ink": ["mae"]},
    )
    return model


@pytest.mark.parametrize(
    ("mode", "global_batch"), [("synchronous", BATCH * WORKERS), ("adag", BATCH)]
)
def test_two_inputs_reach_keras_accuracy(
    spark: SparkSession, digits_data: tuple[np.ndarray, ...], mode: str, global_batch: int
) -> None:
    """Synchronous steps average the workers' batches (a global batch of N x 32), adag's
    workers step on their own batches and the server divides each push by its window."""
    x, y, xt, yt = digits_data
    reference = two_inputs()
    reference.fit(digits_halves(x), y, epochs=EPOCHS, batch_size=global_batch, verbose=0)
    want = reference.evaluate(digits_halves(xt), yt, verbose=0, return_dict=True)

    model = two_inputs()
    options = {"communication_window": 4} if mode == "adag" else {}
    spark_model = loxodon.SparkModel(
        model, mode=mode, num_workers=WORKERS, spark=spark, driver_upload=False, **options
    )
    spark_model.fit(
        _frame(spark, x, y),
        features_col=["top", "bottom"],
        label_col="label",
        epochs=EPOCHS,
        batch_size=BATCH,
        verbose=0,
    )
    test = _frame(spark, xt, yt)
    got = spark_model.evaluate(
        test, features_col={"top": "top", "bottom": "bottom"}, return_dict=True
    )
    assert sorted(got) == sorted(want)
    local = model.evaluate(digits_halves(xt), yt, verbose=0, return_dict=True)
    print(mode, "loxodon", got, "keras", want)
    assert got["accuracy"] >= want["accuracy"] - 0.02, (mode, got, want)
    np.testing.assert_allclose(got["accuracy"], local["accuracy"], atol=1e-6)

    rows = spark_model.predict(test, features_col=["top", "bottom"]).select(
        "top", "bottom", "prediction"
    )
    rows = rows.toPandas()
    top, bottom = np.stack(rows["top"]), np.stack(rows["bottom"])
    np.testing.assert_allclose(
        np.stack(rows["prediction"]), model.predict([top, bottom], verbose=0), atol=1e-5
    )
    # NumPy in: a list of arrays per input, as Keras takes it.
    np.testing.assert_allclose(
        spark_model.predict(digits_halves(xt)),
        model.predict(digits_halves(xt), verbose=0),
        atol=1e-5,
    )


def test_two_outputs_reach_keras_accuracy(
    spark: SparkSession, digits_data: tuple[np.ndarray, ...]
) -> None:
    x, y, xt, yt = digits_data
    targets = lambda x, y: {"digit": y, "ink": x.mean(axis=1, keepdims=True)}  # noqa: E731
    reference = two_outputs()
    reference.fit(x, targets(x, y), epochs=EPOCHS, batch_size=BATCH * WORKERS, verbose=0)
    want = reference.evaluate(xt, targets(xt, yt), verbose=0, return_dict=True)

    model = two_outputs()
    spark_model = loxodon.SparkModel(
        model, mode="synchronous", num_workers=WORKERS, spark=spark, driver_upload=False
    )
    labels = {"digit": "label", "ink": "ink"}
    history = spark_model.fit(
        _frame(spark, x, y),
        features_col="pixels",
        label_col=labels,
        epochs=EPOCHS,
        batch_size=BATCH,
        verbose=0,
    )
    assert {"digit_accuracy", "ink_mae", "loss"} <= set(history.history)
    test = _frame(spark, xt, yt)
    got = spark_model.evaluate(test, features_col="pixels", label_col=labels, return_dict=True)
    assert sorted(got) == sorted(want)
    print("two outputs: loxodon", got, "keras", want)
    assert got["digit_accuracy"] >= want["digit_accuracy"] - 0.02, (got, want)
    assert got["ink_mae"] < 0.05, got  # the ink regression learned (its mean is about 0.3)

    local = model.predict(xt, verbose=0)
    rows = spark_model.predict(test, features_col="pixels").toPandas()
    assert "prediction" not in rows.columns
    pixels = np.stack(rows["pixels"])
    expect = model.predict(pixels, verbose=0)
    for name in ("digit", "ink"):
        np.testing.assert_allclose(np.stack(rows[f"prediction_{name}"]), expect[name], atol=1e-5)
    # NumPy in, a dict out (the same rows, in order), as Keras's predict returns it.
    preds = spark_model.predict(xt)
    assert sorted(preds) == ["digit", "ink"]
    for name in ("digit", "ink"):
        np.testing.assert_allclose(preds[name], local[name], atol=1e-5)
    # NumPy fit through the driver upload, dict labels as Keras takes them.
    driver = loxodon.SparkModel(two_outputs(), mode="synchronous", num_workers=WORKERS, spark=spark)
    driver.fit(x, targets(x, y), epochs=1, batch_size=BATCH, verbose=0)
    assert driver.evaluate(xt, targets(xt, yt), return_dict=True)["digit_accuracy"] > 0.8


def test_bad_mappings_are_refused_on_the_driver(
    spark: SparkSession, digits_data: tuple[np.ndarray, ...]
) -> None:
    x, y, _, _ = digits_data
    df = _frame(spark, x[:64], y[:64])
    inputs = loxodon.SparkModel(two_inputs(), mode="synchronous", num_workers=WORKERS, spark=spark)
    with pytest.raises(ValueError, match=r"2 inputs \['top', 'bottom'\] but 1 column group"):
        inputs.fit(df, features_col="pixels")
    with pytest.raises(ValueError, match=r"no input named \['nope'\]"):
        inputs.fit(df, features_col={"top": "top", "nope": "bottom"})
    with pytest.raises(ValueError, match=r"input 'bottom' hold 33 values per row but its shape"):
        inputs.fit(df, features_col=["top", ["bottom", "ink"]])
    with pytest.raises(ValueError, match="features_col: no column 'nope'"):
        inputs.fit(df, features_col=["top", "nope"])
    with pytest.raises(ValueError, match=r"the model has 2, got 3 arrays"):
        inputs.fit([x, x, x], y)

    outputs = loxodon.SparkModel(
        two_outputs(), mode="synchronous", num_workers=WORKERS, spark=spark
    )
    with pytest.raises(ValueError, match=r"column 'top' of output 'digit' has 32 values"):
        outputs.fit(df, features_col="pixels", label_col={"digit": "top", "ink": "ink"})
    shifted = df.withColumn("shifted", F.col("label") + 5)
    with pytest.raises(ValueError, match=r"range from 5 to 14 but output 'digit' has 10 units"):
        outputs.fit(shifted, features_col="pixels", label_col={"digit": "shifted", "ink": "ink"})
    with pytest.raises(ValueError, match="outputs are \\['digit', 'ink'\\], the dict names"):
        outputs.fit(df, features_col="pixels", label_col={"digit": "label"})
    with pytest.raises(ValueError, match="class_weight: Keras takes it for models of one output"):
        outputs.fit(df, features_col="pixels", label_col=["label", "ink"], class_weight={1: 2.0})

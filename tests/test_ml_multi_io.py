"""Multi-input and multi-output Keras models in the Spark ML stages: a model of two
inputs (the digits' top and bottom halves, an array and an ML Vector column) and two
outputs (the digit, and its ink as a regression) fits in a ``Pipeline`` with
``inputCols``/``labelCols`` to plain Keras's accuracy (same data, epochs, global batch
and rate), transforms into one column per output as the trained model predicts
locally, saves and loads with identical predictions, and bad column lists are refused
on the driver before any job runs."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fixtures import digits_halves, digits_halves_frame, two_in_two_out
from loxodon.ml import KerasEstimator, KerasModel

EPOCHS, BATCH, WORKERS = 6, 32, 2


def _frame(spark: SparkSession, x: np.ndarray, y: np.ndarray) -> DataFrame:
    return digits_halves_frame(spark, x, y, vectors=["bottom"])


def _scores(rows: DataFrame) -> dict[str, np.ndarray]:
    pdf = rows.select("label", "prediction_digit", "probability_ink").toPandas()
    return {
        "label": pdf["label"].to_numpy(),
        "digit": pdf["prediction_digit"].to_numpy(),
        "ink": np.array([v[1] for v in pdf["probability_ink"]]),  # [1 - p, p] of one unit
    }


def test_pipeline_fits_transforms_and_round_trips(
    spark: SparkSession, digits_data: tuple[np.ndarray, ...], tmp_path
) -> None:
    x, y, xt, yt = digits_data
    reference = two_in_two_out()
    targets = {"digit": y, "ink": x.mean(axis=1, keepdims=True)}
    reference.fit(digits_halves(x), targets, epochs=EPOCHS, batch_size=BATCH * WORKERS, verbose=0)
    want = float(np.mean(reference.predict(digits_halves(xt), verbose=0)["digit"].argmax(1) == yt))

    est = KerasEstimator(
        model=two_in_two_out(),
        inputCols=["top", "bottom"],
        labelCols=["label", "ink"],  # the outputs in Keras's order: a dict by sorted name
        mode="synchronous",
        numWorkers=WORKERS,
        epochs=EPOCHS,
        batchSize=BATCH,
    )
    fitted = Pipeline(stages=[est]).fit(_frame(spark, x, y))
    keras_stage = fitted.stages[0]
    assert keras_stage.getInputCols() == ["top", "bottom"]
    assert {"digit_accuracy", "ink_mae", "loss"} <= set(keras_stage.history)

    test = _frame(spark, xt, yt)
    out = fitted.transform(test)
    assert {"prediction_digit", "probability_digit", "prediction_ink", "probability_ink"} <= set(
        out.columns
    )
    assert "prediction" not in out.columns and "__loxodon_mio_features" not in out.columns
    scores = _scores(out)
    got = float(np.mean(scores["digit"] == scores["label"]))
    print("ml two in, two out: loxodon", got, "keras", want)
    assert got >= want - 0.02, (got, want)

    # The same rows, predicted by the trained model locally.
    rows = out.select("top", "bottom", "probability_digit").toPandas()
    top = np.stack(rows["top"])
    bottom = np.stack([v.toArray() for v in rows["bottom"]])
    local = keras_stage.getKerasModel().predict([top, bottom], verbose=0)
    np.testing.assert_allclose(
        np.stack([v.toArray() for v in rows["probability_digit"]]), local["digit"], atol=1e-5
    )
    np.testing.assert_allclose(scores["ink"], local["ink"][:, 0], atol=1e-5)

    fitted.write().save(str(tmp_path / "pm"))
    loaded = PipelineModel.load(str(tmp_path / "pm"))
    assert loaded.stages[0].getInputCols() == ["top", "bottom"]
    again = _scores(loaded.transform(test))
    np.testing.assert_array_equal(again["digit"], scores["digit"])
    np.testing.assert_array_equal(again["ink"], scores["ink"])

    # An unfitted stage round-trips its column lists too.
    est.write().save(str(tmp_path / "est"))
    est_loaded = KerasEstimator.load(str(tmp_path / "est"))
    assert est_loaded.getInputCols() == ["top", "bottom"]
    assert est_loaded.getLabelCols() == ["label", "ink"]


def _refused(spark: SparkSession, match: str, action) -> None:
    tracker = spark.sparkContext.statusTracker()
    before = set(tracker.getJobIdsForGroup())
    with pytest.raises(Exception, match=match):
        action()
    assert set(tracker.getJobIdsForGroup()) == before, "a job ran before the refusal"


def test_bad_column_lists_are_refused_before_any_job(
    spark: SparkSession, digits_data: tuple[np.ndarray, ...]
) -> None:
    x, y, _, _ = digits_data
    df = _frame(spark, x[:64], y[:64])
    model = two_in_two_out()

    def fit(**params):
        return lambda: KerasEstimator(model=model, numWorkers=WORKERS, **params).fit(df)

    _refused(
        spark,
        r"inputCols: the model has 2 inputs \[top, bottom\]; set inputCols to one column",
        fit(labelCols=["label", "ink"]),
    )
    _refused(
        spark,
        r"inputCols: the model has 2 input\(s\) \[top, bottom\] but 1 column\(s\) were given",
        fit(inputCols=["top"], labelCols=["label", "ink"]),
    )
    _refused(
        spark,
        r"inputCols: no column 'nope' in the input",
        fit(inputCols=["top", "nope"], labelCols=["label", "ink"]),
    )
    _refused(
        spark,
        r"labelCols: the model has 2 outputs \[digit, ink\]; set labelCols",
        fit(inputCols=["top", "bottom"]),
    )
    _refused(
        spark,
        r"labelCols: the model has 2 output\(s\) \[digit, ink\] but 3 column",
        fit(inputCols=["top", "bottom"], labelCols=["label", "ink", "ink"]),
    )
    trained = KerasModel.fromKerasModel(model)
    _refused(
        spark,
        r"KerasModel param inputCols: the model has 2 inputs",
        lambda: trained.transform(df),
    )
    # Widths need one aggregation (a job), still before any training task.
    with pytest.raises(Exception, match=r"column 'top' has 32 values per row but output 'digit'"):
        fit(inputCols=["top", "bottom"], labelCols=["top", "ink"])()
    wide = df.withColumn("wide", F.concat("top", F.array(F.lit(1.0))))
    with pytest.raises(Exception, match=r"column 'wide' has 33 values per row but the model's"):
        KerasEstimator(
            model=model,
            numWorkers=WORKERS,
            inputCols=["wide", "bottom"],
            labelCols=["label", "ink"],
        ).fit(wide)
    shifted = df.withColumn("shifted", F.col("label") + 5)
    with pytest.raises(Exception, match=r"range from 5 to 14 but output 'digit' has 10 units"):
        KerasEstimator(
            model=model,
            numWorkers=WORKERS,
            inputCols=["top", "bottom"],
            labelCols=["shifted", "ink"],
        ).fit(shifted)

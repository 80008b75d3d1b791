"""Pipelines across the two languages: a PipelineModel fitted and saved from
PySpark loads and scores in a Scala application (spark-submit) with the same
predictions; so does one of a two-input, two-output model (``inputCols`` and
``labelCols``), into the same column per output, and saved again by Scala it
loads back in PySpark with them; and one fitted and saved by a Scala
application, whose model's custom objects (a layer, an activation and a loss)
live in a Python module the executors import, loads and scores in PySpark with
the same predictions as in Scala."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.feature import StringIndexer, VectorAssembler
from pyspark.sql import DataFrame, SparkSession

from fixtures import digits_halves_frame, two_in_two_out
from loxodon.datasets import digits
from loxodon.ml import KerasEstimator
from submit import spark_submit

NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
LAYERS = Path(__file__).with_name("xlang_layers.py")


def write_rows(path: Path, x: np.ndarray, y: np.ndarray, first_id: int) -> None:
    columns = {"id": pa.array(np.arange(first_id, first_id + len(x), dtype=np.int64))}
    columns.update({f"f{i}": pa.array(x[:, i].astype(np.float64)) for i in range(x.shape[1])})
    columns["label_name"] = pa.array(NAMES[y])
    pq.write_table(pa.table(columns), path)


def mlp(custom: bool) -> keras.Model:
    keras.utils.set_random_seed(0)
    layers: list = [keras.Input((64,))]
    if custom:
        from xlang_layers import Scale, leaky

        layers += [Scale(), keras.layers.Dense(64, activation=leaky)]
    else:
        layers += [keras.layers.Dense(64, activation="relu")]
    model = keras.Sequential([*layers, keras.layers.Dense(10, activation="softmax")])
    loss: Any = "sparse_categorical_crossentropy"
    if custom:
        from xlang_layers import sparse_smoothed_crossentropy

        loss = sparse_smoothed_crossentropy
    model.compile(keras.optimizers.Adam(1e-2), loss, metrics=["accuracy"])
    return model


def predictions(spark: SparkSession, path: Path) -> dict[int, float]:
    return {r.id: r.prediction for r in spark.read.parquet(str(path)).collect()}


# The multi-output KerasModel's columns: one class index and one Vector per output.
PER_OUTPUT = ["prediction_digit", "probability_digit", "prediction_ink", "probability_ink"]


def per_output(frame: DataFrame) -> dict[int, tuple]:
    return {r.id: tuple(r[1:]) for r in frame.select("id", *PER_OUTPUT).collect()}


def test_python_pipeline_scores_identically_in_scala(spark: SparkSession, tmp_path: Path) -> None:
    x_train, y_train, x_test, y_test = digits()
    write_rows(tmp_path / "train.parquet", x_train, y_train, 0)
    write_rows(tmp_path / "test.parquet", x_test, y_test, len(x_train))
    train = spark.read.parquet(str(tmp_path / "train.parquet"))
    test = spark.read.parquet(str(tmp_path / "test.parquet"))
    pipeline = Pipeline(
        stages=[
            VectorAssembler(inputCols=[f"f{i}" for i in range(64)], outputCol="features"),
            StringIndexer(inputCol="label_name", outputCol="label"),
            KerasEstimator(model=mlp(False), mode="synchronous", numWorkers=2, epochs=6),
        ]
    )
    fitted = pipeline.fit(train)
    fitted.write().overwrite().save(str(tmp_path / "py-pipeline"))
    in_python = {
        r.id: r.prediction for r in fitted.transform(test).select("id", "prediction").collect()
    }
    accuracy = MulticlassClassificationEvaluator(metricName="accuracy").evaluate(
        fitted.transform(test)
    )
    assert accuracy > 0.85

    out = spark_submit(
        "loxodon.examples.ScorePipeline",
        [
            str(tmp_path / "py-pipeline"),
            str(tmp_path / "test.parquet"),
            str(tmp_path / "scala-preds"),
        ],
        cwd=tmp_path,
    )
    assert "KerasModel" in out.stdout
    assert predictions(spark, tmp_path / "scala-preds") == in_python


def test_scala_pipeline_with_custom_objects_scores_identically_in_python(
    spark: SparkSession, tmp_path: Path
) -> None:
    x_train, y_train, x_test, y_test = digits()
    write_rows(tmp_path / "train.parquet", x_train, y_train, 0)
    write_rows(tmp_path / "test.parquet", x_test, y_test, len(x_train))
    mlp(True).save(tmp_path / "custom.keras")

    out = spark_submit(
        "loxodon.examples.FitPipeline",
        [
            "--epochs=6",
            "--imports=xlang_layers",
            str(tmp_path / "custom.keras"),
            str(tmp_path / "train.parquet"),
            str(tmp_path / "test.parquet"),
            str(tmp_path / "scala-pipeline"),
            str(tmp_path / "scala-preds"),
        ],
        cwd=tmp_path,
        submit_options=["--files", str(LAYERS)],
    )
    found = re.search(r"^test accuracy: ([0-9.]+)$", out.stdout, re.MULTILINE)
    assert found and float(found.group(1)) > 0.85, out.stdout

    # This session's workers import xlang_layers from the SparkFiles directory too.
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    shutil.copy(LAYERS, shipped / LAYERS.name)
    spark.sparkContext.addFile(str(shipped / LAYERS.name))
    loaded = PipelineModel.load(str(tmp_path / "scala-pipeline"))
    assert type(loaded.stages[-1]).__name__ == "KerasModel"
    assert loaded.stages[-1].getImports() == ["xlang_layers"]
    test = spark.read.parquet(str(tmp_path / "test.parquet"))
    in_python = {
        r.id: r.prediction for r in loaded.transform(test).select("id", "prediction").collect()
    }
    assert in_python == predictions(spark, tmp_path / "scala-preds")


def test_python_multi_io_pipeline_scores_identically_in_scala_and_back(
    spark: SparkSession, digits_data: tuple[np.ndarray, ...], tmp_path: Path
) -> None:
    """The digits' halves in (an array and a Vector column), the digit and its ink out."""
    x, y, xt, yt = digits_data
    test_path = str(tmp_path / "test.parquet")
    columns = ["id", "top", "bottom", "label", "ink"]
    digits_halves_frame(spark, xt, yt, columns, vectors=["bottom"]).write.parquet(test_path)
    test = spark.read.parquet(test_path)
    estimator = KerasEstimator(
        model=two_in_two_out(),
        inputCols=["top", "bottom"],
        labelCols=["label", "ink"],
        mode="synchronous",
        numWorkers=2,
        epochs=2,
        batchSize=32,
    )
    fitted = Pipeline(stages=[estimator]).fit(digits_halves_frame(spark, x, y, vectors=["bottom"]))
    fitted.write().save(str(tmp_path / "py-pipeline"))
    in_python = per_output(fitted.transform(test))
    accuracy = np.mean([in_python[i][0] == yt[i] for i in range(len(yt))])
    print("multi-io pipeline, 2 epochs: digit accuracy", accuracy)
    assert accuracy > 0.8, accuracy  # the equalities below compare a trained model's outputs

    out = spark_submit(
        "loxodon.examples.ScorePipeline",
        [
            f"--columns={','.join(PER_OUTPUT)}",
            f"--resave={tmp_path / 'scala-copy'}",
            str(tmp_path / "py-pipeline"),
            test_path,
            str(tmp_path / "scala-preds"),
        ],
        cwd=tmp_path,
    )
    assert "KerasModel" in out.stdout
    assert per_output(spark.read.parquet(str(tmp_path / "scala-preds"))) == in_python

    copy = PipelineModel.load(str(tmp_path / "scala-copy"))
    assert copy.stages[0].getInputCols() == ["top", "bottom"]
    assert copy.stages[0].getLabelCols() == ["label", "ink"]
    assert per_output(copy.transform(test)) == in_python

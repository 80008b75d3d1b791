"""Spark ML front ends end to end on local[2]: KerasEstimator in a Pipeline,
persistence (same session and a fresh process), pretrained models, custom
objects, and errors that name the param."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyspark.errors import IllegalArgumentException
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.feature import OneHotEncoder, VectorAssembler
from pyspark.sql import DataFrame, SparkSession

import loxodon.ml.model
from fixtures import PIXELS, digits_pipeline, digits_pixels, mlp
from loxodon.ml import KerasEstimator, KerasModel

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def digits(spark: SparkSession) -> tuple[DataFrame, DataFrame]:
    df = spark.createDataFrame(digits_pixels()).repartition(2)
    train, test = df.randomSplit([0.8, 0.2], seed=1)
    return train.cache(), test.cache()


@pytest.fixture(scope="module")
def fitted(digits: tuple[DataFrame, DataFrame]) -> PipelineModel:
    train, _ = digits
    pipeline = digits_pipeline()
    return pipeline.fit(train)


def _accuracy(df: DataFrame) -> float:
    evaluator = MulticlassClassificationEvaluator(metricName="accuracy")
    return evaluator.evaluate(df)


def _predictions(df: DataFrame) -> list[float]:
    return [r.prediction for r in df.orderBy(*PIXELS).select("prediction").collect()]


def test_pipeline_learns_digits(fitted: PipelineModel, digits: tuple[DataFrame, DataFrame]) -> None:
    _, test = digits
    keras_stage = fitted.stages[-1]
    assert isinstance(keras_stage, KerasModel)
    assert keras_stage.getEpochs() == 8 and keras_stage.getMode() == "synchronous"
    history = keras_stage.history
    assert len(history["loss"]) == 8 and history["loss"][-1] < history["loss"][0]
    out = fitted.transform(test)
    assert dict(out.dtypes)["prediction"] == "double"
    assert dict(out.dtypes)["probability"] == "vector"
    assert _accuracy(out) > 0.85


def test_pipeline_model_round_trip(
    fitted: PipelineModel, digits: tuple[DataFrame, DataFrame], tmp_path: Path
) -> None:
    _, test = digits
    path = str(tmp_path / "pipeline")
    fitted.save(path)
    assert (tmp_path / "pipeline" / "stages").is_dir()
    loaded = PipelineModel.load(path)
    stage = loaded.stages[-1]
    assert isinstance(stage, KerasModel) and stage.uid == fitted.stages[-1].uid
    assert stage.getEpochs() == 8 and stage.history == fitted.stages[-1].history
    expected = _predictions(fitted.transform(test))
    assert _predictions(loaded.transform(test)) == expected

    # A fresh process (its own JVM and workers) loads it and scores the same rows.
    test_path = str(tmp_path / "test.parquet")
    test.write.parquet(test_path)
    script = textwrap.dedent(
        f"""
        import json
        import loxodon
        from pyspark.ml import PipelineModel
        from loxodon.ml import KerasModel
        spark = loxodon.spark_session("local[2]", app_name="ml-reload")
        spark.sparkContext.setLogLevel("ERROR")
        model = PipelineModel.load({path!r})
        assert isinstance(model.stages[-1], KerasModel), type(model.stages[-1])
        df = model.transform(spark.read.parquet({test_path!r}))
        cols = [f"p{{i}}" for i in range(64)]
        rows = df.orderBy(*cols).select("prediction").collect()
        print("PREDICTIONS " + json.dumps([r.prediction for r in rows]))
        spark.stop()
        """
    )
    env = dict(os.environ)
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("PREDICTIONS "))
    assert json.loads(line[len("PREDICTIONS ") :]) == expected


def test_pretrained_model_matches_keras_predict(
    fitted: PipelineModel, digits: tuple[DataFrame, DataFrame]
) -> None:
    _, test = digits
    keras_model = fitted.stages[-1].getKerasModel()
    pretrained = KerasModel.fromKerasModel(keras_model, inferenceBatchSize=64)
    assembled = VectorAssembler(inputCols=PIXELS, outputCol="features").transform(test)
    rows = pretrained.transform(assembled).orderBy(*PIXELS).collect()
    x = np.array([[r[c] for c in PIXELS] for r in rows], dtype=np.float32)
    expected = keras_model.predict(x, verbose=0)
    assert [r.prediction for r in rows] == [float(i) for i in expected.argmax(axis=1)]
    probs = np.array([r.probability.toArray() for r in rows])
    np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-5)

    raw = KerasModel.fromKerasModel(keras_model, outputMode="raw", predictionCol="out")
    first = raw.transform(assembled).orderBy(*PIXELS).first()
    np.testing.assert_allclose(first.out, expected[0], rtol=1e-4, atol=1e-5)


def test_one_hot_encoded_features(spark: SparkSession) -> None:
    rng = np.random.default_rng(0)
    color = rng.integers(0, 3, 300)
    rows = [(int(c), float(x), float(c)) for c, x in zip(color, rng.normal(size=300), strict=True)]
    df = spark.createDataFrame(rows, ["color", "x", "label"])
    pipeline = Pipeline(
        stages=[
            OneHotEncoder(inputCol="color", outputCol="colorVec", dropLast=False),
            VectorAssembler(inputCols=["colorVec", "x"], outputCol="features"),
            KerasEstimator(
                model=mlp(4, 8, 3, seed=0, learning_rate=1e-2), numWorkers=2, epochs=5, batchSize=16
            ),
        ]
    )
    out = pipeline.fit(df).transform(df)
    assert _accuracy(out) > 0.9


def test_custom_objects_fit_transform_save_load(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keras
    from pyspark import cloudpickle

    import custom_layers

    # The workers cannot import the tests folder: send the class by value.
    cloudpickle.register_pickle_by_value(custom_layers)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation=custom_layers.soft_relu),
            custom_layers.ScaleLayer(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=custom_layers.smoothed_sparse_crossentropy,
        metrics=["accuracy"],
    )
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4))
    rows = [([float(v) for v in r], float(r[0] > 0)) for r in x]
    df = spark.createDataFrame(rows, ["features", "label"])
    est = KerasEstimator(
        model=model,
        customObjects={
            "ScaleLayer": custom_layers.ScaleLayer,
            "soft_relu": custom_layers.soft_relu,
            "smoothed_sparse_crossentropy": custom_layers.smoothed_sparse_crossentropy,
        },
        numWorkers=2,
        epochs=8,
        mode="synchronous",
    )
    fitted = est.fit(df)
    history = fitted.history
    assert history["loss"][-1] < history["loss"][0]
    transformed = fitted.transform(df)
    assert _accuracy(transformed) > 0.9
    before = [r.prediction for r in transformed.collect()]
    path = str(tmp_path / "custom")
    monkeypatch.setattr(loxodon.ml.model, "_warned_pickled_save", False)
    with pytest.warns(UserWarning, match=r"pickled customObjects.*Prefer imports=") as warned:
        fitted.save(path)
        fitted.write().overwrite().save(path)  # once per process
    assert len(warned) == 1
    assert (tmp_path / "custom" / "keras" / "custom_objects.pkl").is_file()
    # Loading unpickles (runs code from the path): refused unless the user opts in.
    with pytest.raises(
        IllegalArgumentException,
        match=r"holds pickled custom objects .*spark.loxodon.allowPickledCustomObjects.*imports=",
    ):
        KerasModel.load(path)
    spark.conf.set("spark.loxodon.allowPickledCustomObjects", "true")
    try:
        loaded = KerasModel.load(path)
    finally:
        spark.conf.unset("spark.loxodon.allowPickledCustomObjects")
    assert [r.prediction for r in loaded.transform(df).collect()] == before
    restored = loaded.getKerasModel()
    assert any(isinstance(layer, custom_layers.ScaleLayer) for layer in restored.layers)


def test_bad_params_name_the_param(spark: SparkSession) -> None:
    from pyspark.errors import IllegalArgumentException

    with pytest.raises(ValueError, match="param mode: unknown value 'fastest'; choose one of"):
        KerasEstimator(mode="fastest")
    with pytest.raises(ValueError, match="param epochs must be >= 1, got -1"):
        KerasEstimator().setEpochs(-1)
    with pytest.raises(ValueError, match="param validationSplit"):
        KerasEstimator(validationSplit=1.5)
    with pytest.raises(ValueError, match="param frequency"):
        KerasEstimator(frequency="often")
    import keras

    raw = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="not compiled"):
        KerasEstimator(model=raw)
    est = KerasEstimator(model=mlp(2, 4, 2, seed=0, learning_rate=1e-2), featuresCol="pixels")
    df = spark.createDataFrame([([0.0, 1.0], 1.0)], ["features", "label"])
    with pytest.raises(IllegalArgumentException, match="param featuresCol: no column 'pixels'"):
        est.fit(df)
    with pytest.raises(IllegalArgumentException, match="param labelCol"):
        KerasEstimator(model=mlp(2, 4, 2, seed=0, learning_rate=1e-2), labelCol="y").fit(df)


def test_python_params_match_scala() -> None:
    est = KerasEstimator()
    model = KerasModel()
    for stage in (est, model):
        java = stage._java_obj
        for param in stage.params:
            jparam = java.getParam(param.name)
            assert param.doc == jparam.doc(), param.name
            if java.hasDefault(jparam):
                assert stage.getOrDefault(param) == _plain(java.getDefault(jparam).get())
            else:
                assert not stage.hasDefault(param), param.name


def _plain(value: Any) -> Any:
    return list(value) if not isinstance(value, str | int | float | bool) else value

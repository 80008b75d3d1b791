"""loxodon.compat.sparkflow: SparkFlow's README example (imports changed, the TF1
graph now a Keras model, digits instead of the MNIST CSV) against plain Keras,
CrossValidator over the learning rate, plain Pipeline/PipelineModel save and
load, pretrained .keras files and SavedModels as Transformers, and the param
mapping."""

from __future__ import annotations

import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.feature import OneHotEncoder, VectorAssembler
from pyspark.ml.linalg import DenseVector
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
from pyspark.sql import DataFrame, SparkSession

from loxodon.compat.sparkflow import (
    SparkAsyncDL,
    SparkAsyncDLModel,
    build_adam_config,
    build_graph,
    build_rmsprop_config,
    load_tensorflow_model,
)
from loxodon.compat.sparkflow.params import keras_optimizer
from loxodon.datasets import digits

PIXELS = [f"_c{i}" for i in range(1, 65)]
RUNS = 3


def _frame(spark: SparkSession, x: np.ndarray, y: np.ndarray) -> DataFrame:
    """Rows as SparkFlow's example read the MNIST CSV: label in _c0, pixels after it."""
    rows = [(float(label), *map(float, pixels)) for pixels, label in zip(x, y, strict=True)]
    return spark.createDataFrame(rows, ["_c0", *PIXELS]).repartition(2)


@pytest.fixture(scope="module")
def data(spark: SparkSession) -> tuple[Any, ...]:
    x, y, x_test, y_test = digits()
    return x, y, x_test, y_test, _frame(spark, x, y).cache(), _frame(spark, x_test, y_test).cache()


def small_model() -> Any:
    """SparkFlow's README network in Keras: 256-256 ReLU, 10 logits, softmax cross-entropy
    on one-hot labels (its inputs are 64 digits pixels here, not 784)."""
    import keras

    model = keras.Sequential(
        [
            keras.Input((64,), name="x"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10, name="out"),
        ]
    )
    model.compile(keras.optimizers.Adam(), keras.losses.CategoricalCrossentropy(from_logits=True))
    return model


def _accuracy(df: DataFrame, label: str = "_c0", prediction: str = "predicted") -> float:
    evaluator = MulticlassClassificationEvaluator(
        labelCol=label, predictionCol=prediction, metricName="accuracy"
    )
    return evaluator.evaluate(df)


def _readme_pipeline(df: DataFrame) -> PipelineModel:
    """SparkFlow's README example as written, but for the imports and the graph."""
    mg = build_graph(small_model)
    # Assemble and one hot encode
    va = VectorAssembler(inputCols=df.columns[1:65], outputCol="features")
    encoded = OneHotEncoder(inputCol="_c0", outputCol="labels", dropLast=False)

    spark_model = SparkAsyncDL(
        inputCol="features",
        tensorflowGraph=mg,
        tfInput="x:0",
        tfLabel="y:0",
        tfOutput="out:0",
        tfLearningRate=0.001,
        iters=20,
        predictionCol="predicted",
        labelCol="labels",
        verbose=1,
    )

    return Pipeline(stages=[va, encoded, spark_model]).fit(df)


@pytest.fixture(scope="module")
def readme_runs(data: tuple[Any, ...]) -> list[tuple[PipelineModel, float, float]]:
    import keras

    *_, train, test = data
    runs = []
    for run in range(RUNS):
        keras.utils.set_random_seed(run)
        start = time.monotonic()
        fitted = _readme_pipeline(train)
        runs.append((fitted, _accuracy(fitted.transform(test)), time.monotonic() - start))
    return runs


def test_readme_example_matches_plain_keras(
    data: tuple[Any, ...], readme_runs: list[tuple[PipelineModel, float, float]]
) -> None:
    import keras

    x, y, x_test, y_test, *_ = data
    plain, plain_seconds = [], []
    for run in range(RUNS):
        keras.utils.set_random_seed(run)
        model = small_model()
        model.optimizer.learning_rate = 0.001
        start = time.monotonic()
        # same epochs (iters=20), batch (miniBatchSize 128) and optimizer (Adam 0.001)
        model.fit(x, keras.utils.to_categorical(y, 10), epochs=20, batch_size=128, verbose=0)
        plain.append(float(np.mean(model.predict(x_test, verbose=0).argmax(1) == y_test)))
        plain_seconds.append(time.monotonic() - start)
    spark = [accuracy for _, accuracy, _ in readme_runs]
    print(
        f"\nSparkAsyncDL accuracy {spark} (spread {max(spark) - min(spark):.4f}), "
        f"seconds {[round(s, 1) for *_, s in readme_runs]}"
        f"\nplain Keras  accuracy {plain} (spread {max(plain) - min(plain):.4f}), "
        f"seconds {[round(s, 1) for s in plain_seconds]}"
    )
    assert statistics.mean(spark) >= statistics.mean(plain) - 0.02
    assert min(spark) > 0.9


def test_pipeline_round_trip_with_plain_load(
    data: tuple[Any, ...], readme_runs: list[tuple[PipelineModel, float, float]], tmp_path: Path
) -> None:
    *_, train, test = data
    fitted = readme_runs[0][0]
    stage = fitted.stages[-1]
    assert isinstance(stage, SparkAsyncDLModel)
    assert len(stage.history["loss"]) == 20  # iters -> epochs
    before = fitted.transform(test)
    assert before.schema["predicted"].dataType.typeName() == "double"
    assert set(before.columns) == set(test.columns) | {"features", "labels", "predicted"}

    fitted.write().overwrite().save(str(tmp_path / "model"))
    loaded = PipelineModel.load(str(tmp_path / "model"))
    assert isinstance(loaded.stages[-1], SparkAsyncDLModel)
    assert loaded.stages[-1].getPredictionCol() == "predicted"
    order = ["_c0", *PIXELS]
    want = [r.predicted for r in before.orderBy(*order).collect()]
    got = [r.predicted for r in loaded.transform(test).orderBy(*order).collect()]
    assert got == want

    # the unfitted pipeline too, graph and params included
    pipeline = Pipeline(
        stages=[
            VectorAssembler(inputCols=PIXELS, outputCol="features"),
            SparkAsyncDL(inputCol="features", tensorflowGraph=small_model(), tfLearningRate=0.003),
        ]
    )
    pipeline.write().overwrite().save(str(tmp_path / "pipeline"))
    estimator = Pipeline.load(str(tmp_path / "pipeline")).getStages()[-1]
    assert isinstance(estimator, SparkAsyncDL)
    assert estimator.getOrDefault("tfLearningRate") == 0.003
    assert bytes(estimator.getTensorflowGraph()) == bytes(
        pipeline.getStages()[-1].getTensorflowGraph()
    )


def _indexed_model(hidden: int = 32) -> Any:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(hidden, activation="relu", name="hidden"),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    return model


def test_cross_validator_tunes_learning_rate(data: tuple[Any, ...]) -> None:
    *_, train, test = data
    train = train.withColumnRenamed("_c0", "label")
    asyncdl = SparkAsyncDL(
        inputCol="features",
        tensorflowGraph=_indexed_model(),
        labelCol="label",
        predictionCol="prediction",
        iters=4,
        miniBatchSize=32,
        partitions=2,
        acquireLock=True,
    )
    pipeline = Pipeline(stages=[VectorAssembler(inputCols=PIXELS, outputCol="features"), asyncdl])
    rates = [1e-5, 1e-2]
    grid = ParamGridBuilder().addGrid(asyncdl.tfLearningRate, rates).build()
    cv = CrossValidator(
        estimator=pipeline,
        estimatorParamMaps=grid,
        evaluator=MulticlassClassificationEvaluator(metricName="accuracy"),
        numFolds=2,
        seed=7,
    )
    start = time.monotonic()
    cv_model = cv.fit(train)
    seconds = time.monotonic() - start
    best = int(np.argmax(cv_model.avgMetrics))
    accuracy = _accuracy(cv_model.transform(test), prediction="prediction")
    print(
        f"\nCV avgMetrics {cv_model.avgMetrics}, best test accuracy {accuracy:.4f}, {seconds:.0f}s"
    )
    assert rates[best] == 1e-2
    assert cv_model.avgMetrics[1] > cv_model.avgMetrics[0] + 0.2
    assert accuracy > 0.9
    trained = cv_model.bestModel.stages[-1].getKerasModel()
    assert float(trained.optimizer.learning_rate) == pytest.approx(1e-2)


def test_pretrained_keras_file_and_saved_model(
    spark: SparkSession, data: tuple[Any, ...], tmp_path: Path
) -> None:
    *_, test = data
    model = _indexed_model()  # untrained: inference only
    model.save(tmp_path / "m.keras")
    assembler = VectorAssembler(inputCols=PIXELS, outputCol="features")
    order = ["_c0", *PIXELS]
    features = assembler.transform(test).orderBy(*order)
    expected = np.asarray([r.features.toArray() for r in features.select("features").collect()])
    want = model.predict(expected, verbose=0)

    # .keras file: classification (argmax as double), and tfOutput cut at a layer
    keras_stage = load_tensorflow_model(
        str(tmp_path / "m.keras"),
        inputCol="features",
        tfInput="x:0",
        tfOutput="out:0",
        outputMode="classification",
    )
    got = [r.predicted for r in keras_stage.transform(features).collect()]
    assert got == [float(i) for i in want.argmax(1)]
    hidden = (
        load_tensorflow_model(
            str(tmp_path / "m.keras"), inputCol="features", tfOutput="hidden/Relu:0"
        )
        .transform(features)
        .first()
        .predicted
    )
    assert isinstance(hidden, DenseVector) and len(hidden) == 32

    # SavedModel directory: raw output as a DenseVector, inside a saved pipeline
    model.export(str(tmp_path / "saved"), verbose=False)
    pipeline = PipelineModel(
        stages=[
            assembler,
            load_tensorflow_model(str(tmp_path / "saved"), inputCol="features", tfInput="x:0"),
        ]
    )
    scored = pipeline.transform(test).orderBy(*order)
    raw = np.asarray([r.predicted.toArray() for r in scored.collect()])
    np.testing.assert_allclose(raw, want, atol=1e-5)
    pipeline.write().overwrite().save(str(tmp_path / "pipeline"))
    shutil.rmtree(tmp_path / "saved")  # the SavedModel travels inside the saved stage
    reloaded = PipelineModel.load(str(tmp_path / "pipeline")).transform(test).orderBy(*order)
    np.testing.assert_allclose(
        np.asarray([r.predicted.toArray() for r in reloaded.collect()]), raw, atol=0
    )


def test_param_defaults_and_optimizer_mapping() -> None:
    import keras

    est = SparkAsyncDL()
    defaults = {
        "inputCol": "transformed", "tfInput": "x:0", "tfLabel": None, "tfOutput": "out/Sigmoid:0",
        "iters": 1000, "partitions": 5, "miniBatchSize": 128, "miniStochasticIters": -1,
        "shufflePerIter": True, "tfDropout": None, "acquireLock": False, "verbose": 0,
        "toKeepDropout": False, "predictionCol": "predicted", "labelCol": None,
        "partitionShuffles": 1, "optimizerOptions": None, "port": 5000,
        "tfOptimizer": None, "tfLearningRate": None,
    }  # fmt: skip
    assert {name: est.getOrDefault(name) for name in defaults} == defaults
    model = SparkAsyncDLModel()
    model_defaults = {
        "inputCol": "encoded", "predictionCol": "predicted", "tfInput": None, "tfOutput": None,
        "tfDropout": None, "toKeepDropout": False, "outputMode": "auto",
    }  # fmt: skip
    assert {name: model.getOrDefault(name) for name in model_defaults} == model_defaults

    compiled = keras.optimizers.Adam(0.01, beta_1=0.8)
    assert keras_optimizer(None, None, None, compiled) is compiled
    same_class = keras_optimizer(None, 0.1, None, compiled)
    assert type(same_class) is keras.optimizers.Adam and same_class.beta_1 == 0.8
    assert float(same_class.learning_rate) == pytest.approx(0.1)
    rms = keras_optimizer("rmsprop", 0.5, build_rmsprop_config(learning_rate=0.02), compiled)
    assert type(rms) is keras.optimizers.RMSprop and rms.rho == 0.9 and rms.epsilon == 1e-10
    assert float(rms.learning_rate) == pytest.approx(0.02)  # the options' rate wins
    adam = keras_optimizer("adam", None, build_adam_config(beta2=0.99), compiled)
    assert adam.beta_2 == 0.99 and float(adam.learning_rate) == pytest.approx(0.001)
    momentum = keras_optimizer("momentum", 0.1, None, compiled)
    assert type(momentum) is keras.optimizers.SGD and momentum.momentum == 0.9
    with pytest.raises(ValueError, match="proximal_adagrad"):
        keras_optimizer("proximal_adagrad", 0.1, None, compiled)
    with pytest.raises(ValueError, match="unknown option"):
        keras_optimizer("adam", 0.1, json.dumps({"beta9": 1}), compiled)
    with pytest.raises(TypeError, match="keras.Model"):
        SparkAsyncDL(tensorflowGraph='{"meta_info_def": {}}')


def test_autoencoder_example_predicts_the_bottleneck(data: tuple[Any, ...]) -> None:
    """SparkFlow's autoencoder example: no labels (the input is the target) and
    tfOutput='out/Sigmoid:0' predicts the 'out' layer's output as a DenseVector."""
    import keras

    *_, train, _ = data

    def small_model() -> Any:
        model = keras.Sequential(
            [
                keras.Input((64,), name="x"),
                keras.layers.Dense(32, activation="relu"),
                keras.layers.Dense(16, activation="sigmoid", name="out"),
                keras.layers.Dense(32, activation="relu"),
                keras.layers.Dense(64, activation="sigmoid"),
            ]
        )
        model.compile("adam", "mean_squared_error")
        return model

    features = VectorAssembler(inputCols=PIXELS, outputCol="features").transform(train)
    spark_model = SparkAsyncDL(
        inputCol="features",
        tensorflowGraph=build_graph(small_model),
        tfInput="x:0",
        tfLabel=None,
        tfOutput="out/Sigmoid:0",
        tfOptimizer="adam",
        tfLearningRate=0.001,
        iters=3,
        predictionCol="predicted",
        partitions=4,
        miniBatchSize=256,
        verbose=1,
    ).fit(features)
    losses = spark_model.history["loss"]
    assert len(losses) == 3 and losses[-1] < losses[0]
    t = spark_model.transform(features).take(1)
    assert isinstance(t[0]["predicted"], DenseVector) and len(t[0]["predicted"]) == 16

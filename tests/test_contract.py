"""The facts Scala owns reach Python unchanged: param rules give the same verdict
and message in both languages, the stages carry exactly the contract's params,
and both front ends train a mode at the same effective learning rate."""

from __future__ import annotations

import inspect
from typing import Any

import keras
import numpy as np
import pytest
from pyspark.ml.linalg import Vectors
from pyspark.sql import SparkSession

import loxodon
from fixtures import mlp
from loxodon import contract
from loxodon.datasets import digits
from loxodon.ml import KerasEstimator, KerasModel

# (param, value): valid and invalid values of every rule kind, edges included.
CASES: list[tuple[str, Any]] = [
    ("epochs", 1),
    ("epochs", 0),
    ("epochs", -3),
    ("numWorkers", 2),
    ("batchSize", 0),
    ("easgdAlpha", 0.05),
    ("easgdAlpha", 0.0),
    ("easgdAlpha", -0.5),
    ("easgdAlpha", float("inf")),
    ("syncTimeoutMs", 1),
    ("syncTimeoutMs", 0),
    ("validationSplit", 0.0),
    ("validationSplit", 0.999),
    ("validationSplit", 1.0),
    ("validationSplit", -0.25),
    ("mode", "hogwild"),
    ("mode", "fastest"),
    ("mode", ""),
    ("outputMode", "raw"),
    ("outputMode", "probabilities"),
    ("frequency", "epoch"),
    ("frequency", "8"),
    ("frequency", "+3"),
    ("frequency", "0"),
    ("frequency", "-2"),
    ("frequency", "often"),
    ("frequency", "99999999999"),
    ("labelCol", "y"),
    ("labelCol", ""),
    ("featuresCols", ["a", "b"]),
    ("featuresCols", ["a", " "]),
    ("imports", []),
    ("imports", [""]),
    ("seed", -7),
    ("scaleLearningRate", False),
    ("syncTransport", "server"),
    ("syncTransport", "ring"),
    ("syncPrecision", "bfloat16"),
    ("syncPrecision", "int8"),
    ("syncBucketBytes", 0),
    ("syncBucketBytes", 65536),
    ("syncBucketBytes", -1),
]


def _java_value(spark: SparkSession, value: Any) -> Any:
    if isinstance(value, list):
        gateway = spark.sparkContext._gateway
        array = gateway.new_array(gateway.jvm.java.lang.String, len(value))
        for i, v in enumerate(value):
            array[i] = v
        return array
    return value


@pytest.mark.parametrize(("name", "value"), CASES, ids=[f"{n}={v!r}" for n, v in CASES])
def test_a_rule_says_the_same_in_python_and_scala(
    spark: SparkSession, name: str, value: Any
) -> None:
    scala = spark.sparkContext._jvm.loxodon.ml.KerasParams.problem(name, _java_value(spark, value))
    expected = None if scala.isEmpty() else scala.get()
    assert contract.rule_problem(contract.PARAM_SPECS[name], value) == expected


def test_the_stages_carry_exactly_the_contract_params(spark: SparkSession) -> None:
    names = {p["name"] for p in contract.PARAMS}
    transform = {p["name"] for p in contract.PARAMS if p["transform"]}
    est, model = KerasEstimator(), KerasModel()
    assert {p.name for p in est.params} == names == {p.name for p in model.params}
    for name in names:
        setter = "set" + name[0].upper() + name[1:]
        assert hasattr(est, setter) and hasattr(est, "get" + setter[3:]), name
        assert hasattr(model, setter) == (name in transform), name
    with pytest.raises(TypeError, match="unknown param.*epoch; known: .*epochs"):
        KerasEstimator(epoch=3)
    with pytest.raises(ValueError, match=r"^param epochs must be >= 1, got 0$"):
        KerasEstimator().setEpochs(0)


def test_spark_model_checks_its_arguments_with_the_scala_rules() -> None:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="^mode: unknown value 'fast'; choose one of single"):
        loxodon.SparkModel(model, mode="fast")
    with pytest.raises(ValueError, match="^communication_window must be >= 1, got 0$"):
        loxodon.SparkModel(model, communication_window=0)
    with pytest.raises(ValueError, match="^sync_transport: unknown value 'ring'; choose one of"):
        loxodon.SparkModel(model, sync_transport="ring")
    with pytest.raises(ValueError, match="^frequency must be 'epoch' or a positive number"):
        loxodon.SparkModel(model, mode="averaging", frequency=0)


def _mlp() -> keras.Model:
    return mlp(64, 16, 10, seed=5, optimizer="sgd", learning_rate=0.05)


def test_both_front_ends_train_averaging_at_the_same_scaled_rate(spark: SparkSession) -> None:
    """SparkModel and KerasEstimator fit the same rows with the same seed to the same
    weights: both multiply the learning rate by numWorkers in averaging mode (the rule
    is TrainParams.learningRateScale). Without the scale the weights differ."""
    x, y, _, _ = digits()
    x, y = x[:512], y[:512]
    rows = [(Vectors.dense(f), float(t)) for f, t in zip(x.tolist(), y.tolist(), strict=True)]
    df = spark.createDataFrame(rows, ["features", "label"]).repartition(2).cache()

    via_spark_model = _mlp()
    loxodon.SparkModel(via_spark_model, mode="averaging", num_workers=2, spark=spark).fit(
        df, epochs=2, batch_size=32, verbose=0
    )

    def estimator_weights(scale: bool) -> list[np.ndarray]:
        est = KerasEstimator(
            model=_mlp(), mode="averaging", numWorkers=2, epochs=2, scaleLearningRate=scale
        )
        return est.fit(df).getKerasModel().get_weights()

    scaled = estimator_weights(True)
    for a, b in zip(via_spark_model.get_weights(), scaled, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    unscaled = estimator_weights(False)
    assert max(np.abs(a - b).max() for a, b in zip(scaled, unscaled, strict=True)) > 1e-3
    java = KerasEstimator(mode="easgd", numWorkers=3)
    java._transfer_params_to_java()
    assert java._java_obj.trainParams(spark._jsparkSession).learningRateScale() == 4.0  # N + 1
    java = KerasEstimator(mode="eamsgd", numWorkers=3)
    java._transfer_params_to_java()
    momentum = inspect.signature(loxodon.SparkModel).parameters["momentum"].default
    assert java.getOrDefault("momentum") == momentum  # SparkModel states Scala's default
    scale = java._java_obj.trainParams(spark._jsparkSession).learningRateScale()
    assert scale == pytest.approx(4 * (1 - momentum))  # (N + 1)(1 - momentum)

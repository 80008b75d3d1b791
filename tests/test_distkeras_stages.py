"""loxodon.compat.distkeras's stages on tiny DataFrames: each transformer's
output (dist-keras's rules), ModelPredictor against Keras's own predict,
AccuracyEvaluator, and each trainer's mapping onto a native SparkModel mode
(mode, window, elastic rate, momentum) without training."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from pyspark.ml.linalg import DenseVector, SparseVector, Vectors

from loxodon.compat.distkeras import (
    ADAG,
    AEASGD,
    DOWNPOUR,
    EAMSGD,
    EASGD,
    AccuracyEvaluator,
    AsynchronousEASGD,
    AveragingTrainer,
    DenseTransformer,
    DynSGD,
    LabelIndexTransformer,
    MinMaxTransformer,
    ModelPredictor,
    OneHotTransformer,
    ReshapeTransformer,
    SingleTrainer,
)
from loxodon.spark_model import SparkModel


def test_one_hot(spark) -> None:
    frame = spark.createDataFrame([(3,), (0,)], ["label"])
    rows = OneHotTransformer(5, input_col="label", output_col="onehot").transform(frame).collect()
    assert [r.onehot for r in rows] == [[0.0, 0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0]]


def test_min_max_dense_reshape(spark) -> None:
    frame = spark.createDataFrame(
        [(Vectors.dense([0.0, 8.0, 16.0, 4.0, 12.0, 2.0]), 8.0)], ["features", "value"]
    )
    scaled = MinMaxTransformer(0, 16, 0, 1, "features", "scaled").transform(frame)
    scaled = MinMaxTransformer(0, 16, -1, 1, "value", "v", is_vector=False).transform(scaled)
    row = scaled.first()
    assert isinstance(row.scaled, DenseVector)
    np.testing.assert_allclose(row.scaled.toArray(), [0, 0.5, 1, 0.25, 0.75, 0.125])
    assert row.v == pytest.approx(0.0)

    sparse = spark.createDataFrame([(SparseVector(4, {1: 2.0, 3: 5.0}),)], ["sv"])
    dense = DenseTransformer("sv", "dv").transform(sparse).first().dv
    assert isinstance(dense, DenseVector) and list(dense) == [0.0, 2.0, 0.0, 5.0]

    matrix = ReshapeTransformer("features", "m", (2, 3)).transform(frame).first().m
    assert matrix == [[0.0, 8.0, 16.0], [4.0, 12.0, 2.0]]
    cube = ReshapeTransformer("features", "c", (-1, 1, 2)).transform(frame).first().c
    assert cube == [[[0.0, 8.0]], [[16.0, 4.0]], [[12.0, 2.0]]]


def test_label_index_and_accuracy(spark) -> None:
    frame = spark.createDataFrame(
        [
            (Vectors.dense([0.1, 0.6, 0.3]), 1.0),  # 0.6 reaches the threshold
            (Vectors.dense([0.56, 0.9, 0.0]), 1.0),  # the FIRST index reaching it wins
            (Vectors.dense([0.4, 0.15, 0.45]), 2.0),  # none does: the largest
            (Vectors.dense([0.0, 0.0, 0.0]), 2.0),  # nothing positive: default_index
        ],
        ["prediction", "label"],
    )
    indexed = LabelIndexTransformer(3, default_index=0).transform(frame)
    assert [r.prediction_index for r in indexed.collect()] == [1.0, 0.0, 2.0, 0.0]
    accuracy = AccuracyEvaluator(label_col="label", prediction_col="prediction_index")
    assert accuracy.evaluate(indexed) == pytest.approx(0.5)


def test_model_predictor(spark) -> None:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((2, 3)), keras.layers.Flatten(), keras.layers.Dense(4, activation="softmax")]
    )
    x = np.random.default_rng(0).random((5, 6))
    frame = spark.createDataFrame([(Vectors.dense(r), i) for i, r in enumerate(x)], ["f", "id"])
    nested = ReshapeTransformer("f", "matrix", (2, 3)).transform(frame)
    out = ModelPredictor(model, features_col="matrix", output_col="p").predict(nested)
    assert set(out.columns) == {"f", "id", "matrix", "p"}
    got = np.stack([r.p.toArray() for r in sorted(out.collect(), key=lambda r: r.id)])
    np.testing.assert_allclose(got, model.predict(x.reshape(5, 2, 3), verbose=0), atol=1e-6)


def uncompiled() -> keras.Model:
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])


def test_trainers_map_onto_native_modes(spark) -> None:
    sgd = keras.optimizers.SGD(0.05)
    expected = {
        SingleTrainer: ("single", {}),
        AveragingTrainer: ("averaging", {"num_workers": 2}),
        DOWNPOUR: ("asynchronous", {"communication_window": 5}),
        ADAG: ("adag", {"communication_window": 12}),
        DynSGD: ("dynsgd", {"communication_window": 5}),
        AEASGD: ("aeasgd", {"communication_window": 32}),
        EASGD: ("easgd", {"communication_window": 1}),
        EAMSGD: ("eamsgd", {"communication_window": 32, "momentum": 0.9}),
    }
    for cls, (mode, extra) in expected.items():
        model = uncompiled()
        trainer = cls(model, sgd, "categorical_crossentropy")
        options = trainer._spark_model_options()
        assert options["mode"] == mode and extra.items() <= options.items(), (cls, options)
        assert options.get("parallelism_factor", 1) == 1
        assert getattr(model, "optimizer", None) is None  # the caller's model stays uncompiled
        assert trainer.master_model.loss == "categorical_crossentropy"
    assert AsynchronousEASGD is AEASGD
    factored = DOWNPOUR(uncompiled(), sgd, "mse", parallelism_factor=3)._spark_model_options()
    assert factored["parallelism_factor"] == 3
    # dist-keras's elastic rate, alpha = learning_rate x rho, whatever the optimizer's rate.
    trainer = AEASGD(uncompiled(), sgd, "mse", rho=5.0, learning_rate=0.1)
    native = SparkModel(trainer.master_model, spark=spark, **trainer._spark_model_options())
    assert native._easgd_alpha() == pytest.approx(0.5)
    assert float(trainer.master_model.optimizer.learning_rate) == pytest.approx(0.05)
    # DOWNPOUR's README learning_rate is the worker optimizer's rate.
    downpour = DOWNPOUR(uncompiled(), sgd, "mse", learning_rate=0.01)
    assert float(downpour.master_model.optimizer.learning_rate) == pytest.approx(0.01)
    # The README's spelling of the window.
    assert AsynchronousEASGD(uncompiled(), communcation_window=7).communication_window == 7

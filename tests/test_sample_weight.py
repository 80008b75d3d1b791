"""Sample and class weights weigh the training rows' loss as in Keras: NumPy
``sample_weight`` and ``class_weight`` in ``SparkModel.fit`` (both the driver
upload and the DataFrame route), and a weight column (``sampleWeightCol``) in
``KerasEstimator``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import loxodon
from fixtures import PIXELS, mlp
from loxodon.datasets import digits
from loxodon.ml import KerasEstimator

EPOCHS, BATCH = 3, 32


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, ...]:
    return digits()


def _model() -> object:
    return mlp(64, 32, 10, seed=0, optimizer="sgd", learning_rate=0.05)


@pytest.mark.parametrize(
    ("driver_upload", "kind"), [(True, "sample"), (False, "sample"), (True, "class")]
)
def test_single_mode_equals_keras_fit_with_the_same_weights(
    spark: SparkSession, data: tuple[np.ndarray, ...], driver_upload: bool, kind: str
) -> None:
    x, y, _, _ = data
    x, y = x[:576], y[:576]  # whole batches: a worker wraps a short last batch, Keras not
    weighting = (
        {"sample_weight": np.random.default_rng(0).uniform(0.0, 2.0, len(x)).astype(np.float32)}
        if kind == "sample"
        else {"class_weight": {0: 3.0, 7: 0.5}}
    )
    reference = _model()
    reference.fit(
        x,
        y,
        epochs=EPOCHS,
        batch_size=BATCH,
        shuffle=False,
        verbose=0,
        **weighting,
    )
    spark_model = loxodon.SparkModel(
        _model(), mode="single", spark=spark, driver_upload=driver_upload
    )
    spark_model.fit(
        x,
        y,
        epochs=EPOCHS,
        batch_size=BATCH,
        shuffle=False,
        verbose=0,
        **weighting,
    )
    unweighted = _model()
    unweighted.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=False, verbose=0)
    for got, want, plain in zip(
        spark_model.get_weights(), reference.get_weights(), unweighted.get_weights(), strict=True
    ):
        np.testing.assert_allclose(got, want, atol=1e-5)
        assert not np.allclose(want, plain, atol=1e-3)  # the weights mattered


def test_class_weight_zero_makes_a_class_never_predicted(
    spark: SparkSession, data: tuple[np.ndarray, ...]
) -> None:
    x, y, xt, yt = data
    model = mlp(64, 32, 10, seed=0, learning_rate=1e-2)
    spark_model = loxodon.SparkModel(model, mode="synchronous", num_workers=2, spark=spark)
    spark_model.fit(x, y, epochs=8, batch_size=BATCH, verbose=0, class_weight={3: 0.0})
    predicted = model.predict(xt, verbose=0).argmax(axis=1)
    assert 3 not in set(predicted.tolist())
    others = yt != 3
    assert np.mean(predicted[others] == yt[others]) > 0.9


def test_estimator_sample_weight_col(spark: SparkSession, data: tuple[np.ndarray, ...]) -> None:
    x, y, xt, yt = data
    frame = pd.DataFrame(x, columns=PIXELS).assign(label=y.astype(float))
    df = spark.createDataFrame(frame).withColumn(
        "w", F.when(F.col("label") == 5, 0.0).otherwise(1.0)
    )
    estimator = KerasEstimator(
        model=mlp(64, 32, 10, seed=0, learning_rate=1e-2),
        featuresCols=PIXELS,
        sampleWeightCol="w",
        numWorkers=2,
        epochs=8,
        batchSize=BATCH,
        mode="synchronous",
    )
    assert estimator.getSampleWeightCol() == "w"
    fitted = estimator.fit(df)
    test = spark.createDataFrame(pd.DataFrame(xt, columns=PIXELS).assign(label=yt.astype(float)))
    out = fitted.transform(test).select("label", "prediction").toPandas()
    assert 5.0 not in set(out["prediction"])
    others = out[out["label"] != 5]
    assert (others["label"] == others["prediction"]).mean() > 0.9


def test_bad_weights_are_refused_on_the_driver(
    spark: SparkSession, data: tuple[np.ndarray, ...]
) -> None:
    x, y, _, _ = data
    spark_model = loxodon.SparkModel(_model(), mode="single", spark=spark)
    with pytest.raises(ValueError, match="sample_weight has 3 values for 1347 rows"):
        spark_model.fit(x, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="class_weight or sample weights, not both"):
        spark_model.fit(x, y, sample_weight=np.ones(len(x)), class_weight={1: 2.0})
    with pytest.raises(ValueError, match="finite and >= 0"):
        spark_model.fit(x, y, sample_weight=-np.ones(len(x)))
    df = spark.createDataFrame(pd.DataFrame(x[:64], columns=PIXELS).assign(label=y[:64] * 1.0))
    with pytest.raises(Exception, match="sample_weight_col: no column 'nope'"):
        spark_model.fit(df, features_col=PIXELS, sample_weight_col="nope")

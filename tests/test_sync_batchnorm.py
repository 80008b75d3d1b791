"""``synchronous`` mode combines non-trainable weights every step: each worker's
BatchNormalization updates its moving statistics from its own batch, and the
replicas take the mean of the workers' values (docs/design.md, "Modes").

Each worker normalizes its own batch of ``batch_size`` rows (as Keras's
MirroredStrategy does without SyncBatchNormalization), so training cannot match
plain Keras on one batch of N x batch_size within float tolerance: the moving
mean does (the mean of equal batches' means is the global batch's mean), the
moving variance is the mean of the workers' batch variances (it lacks the
variance between their means), and the trained model meets an accuracy bar."""

from __future__ import annotations

import keras
import numpy as np
from pyspark.sql import SparkSession

import loxodon
from loxodon.datasets import digits

ROWS, BATCH, MOMENTUM = 512, 16, 0.9


def bn_on_inputs() -> keras.Model:
    """BatchNormalization straight on the pixels: its statistics depend on the rows only."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.BatchNormalization(momentum=MOMENTUM, center=False, scale=False),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    return model


def test_moving_statistics_are_the_mean_of_the_workers_each_step(spark: SparkSession) -> None:
    x, y, _, _ = digits()
    x, y = x[:ROWS], y[:ROWS]
    spark_model = loxodon.SparkModel(bn_on_inputs(), mode="synchronous", num_workers=2, spark=spark)
    spark_model.fit(x, y, epochs=1, batch_size=BATCH, shuffle=False, verbose=0)
    bn = spark_model.model.layers[0]

    # Row i goes to partition i mod 2 (seed 0), in index order (as in test_spark_model).
    parts = [x[p::2] for p in range(2)]
    mean, var = np.zeros(64), np.ones(64)
    for s in range(len(parts[0]) // BATCH):
        batches = [part[s * BATCH : (s + 1) * BATCH].astype(np.float64) for part in parts]
        mean = MOMENTUM * mean + (1 - MOMENTUM) * np.mean([b.mean(0) for b in batches], axis=0)
        var = MOMENTUM * var + (1 - MOMENTUM) * np.mean([b.var(0) for b in batches], axis=0)
    np.testing.assert_allclose(bn.moving_mean.numpy(), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), var, rtol=1e-5, atol=1e-6)

    # Plain Keras on the same global batches (both workers' batch s together) has the same
    # moving mean; its variance is the global batch's, larger by the spread of the means.
    order = np.concatenate(
        [np.arange(p, ROWS, 2)[s * BATCH : (s + 1) * BATCH] for s in range(16) for p in range(2)]
    )
    reference = bn_on_inputs()
    reference.fit(x[order], y[order], epochs=1, batch_size=2 * BATCH, shuffle=False, verbose=0)
    np.testing.assert_allclose(
        bn.moving_mean.numpy(), reference.layers[0].moving_mean.numpy(), rtol=1e-5, atol=1e-6
    )
    assert np.all(bn.moving_variance.numpy() <= reference.layers[0].moving_variance.numpy() + 1e-6)


def bn_mlp() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def test_batchnorm_mlp_trains_to_plain_keras_accuracy(spark: SparkSession) -> None:
    x, y, xt, yt = digits()
    epochs = 5
    reference = bn_mlp()
    reference.fit(x, y, epochs=epochs, batch_size=2 * BATCH, verbose=0)
    want = reference.evaluate(xt, yt, verbose=0, return_dict=True)["accuracy"]

    spark_model = loxodon.SparkModel(bn_mlp(), mode="synchronous", num_workers=2, spark=spark)
    spark_model.fit(x, y, epochs=epochs, batch_size=BATCH, verbose=0)
    # The driver's model (inference uses the combined moving statistics).
    got = spark_model.model.evaluate(xt, yt, verbose=0, return_dict=True)["accuracy"]
    assert want > 0.93
    assert got >= want - 0.02, (got, want)

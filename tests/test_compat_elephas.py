"""Elephas's README examples, run as written there with only the imports changed
(and the data local: scikit-learn's digits, 64 features, instead of MNIST's 784),
on ``loxodon.compat.elephas``; each against plain Keras on the same data, model,
seed and epochs. ``LOXODON_COMPAT_SEED`` picks the seed (runs for the docs' spread).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any

import h5py
import keras
import numpy as np
import pytest
from pyspark.sql import SparkSession

from loxodon.datasets import digits

SEED = int(os.environ.get("LOXODON_COMPAT_SEED", "0"))
NB_CLASSES = 10
EPOCHS = 20  # the README's
CONFIG_EPOCHS = 50  # the set_* example (its 20 leave plain Keras short of its plateau)


def data() -> tuple[np.ndarray, ...]:
    x_train, y_train, x_test, y_test = digits()
    return x_train, keras.utils.to_categorical(y_train, NB_CLASSES), x_test, y_test


def readme_model() -> keras.Model:
    """The model of Elephas's README, input_dim 64 (digits) instead of 784."""
    from tensorflow.keras.layers import Activation, Dense, Dropout
    from tensorflow.keras.models import Sequential
    from tensorflow.keras.optimizers import SGD

    keras.utils.set_random_seed(SEED)
    model = Sequential()
    model.add(Dense(128, input_dim=64))
    model.add(Activation("relu"))
    model.add(Dropout(0.2))
    model.add(Dense(128))
    model.add(Activation("relu"))
    model.add(Dropout(0.2))
    model.add(Dense(10))
    model.add(Activation("softmax"))
    model.compile(loss="categorical_crossentropy", optimizer=SGD())
    return model


@functools.cache  # the README tests share readme_model: plain Keras trains it once
def plain_keras(
    build: Callable[[], keras.Model], epochs: int = EPOCHS, batch_size: int = 32
) -> float:
    x_train, y_train, x_test, y_test = data()
    model = build()
    model.fit(
        x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=0, validation_split=0.1
    )
    return accuracy(model.predict(x_test, verbose=0), y_test)


def accuracy(probabilities: Any, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(np.asarray(probabilities), axis=1) == labels))


def report(name: str, ours: float, plain: float, seconds: float) -> None:
    print(
        f"\nCOMPAT {name} seed={SEED} loxodon={ours:.4f} keras={plain:.4f} "
        f"diff={100 * (ours - plain):+.1f} points fit+score={seconds:.1f}s"
    )
    assert abs(ours - plain) <= 0.02, f"{name}: {ours:.4f} vs plain Keras {plain:.4f}"


def test_readme_basic_spark_integration(spark: SparkSession) -> None:
    sc = spark.sparkContext
    x_train, y_train, x_test, y_test = data()
    model = readme_model()
    start = time.time()
    # --- Elephas README, "Basic Spark integration" and "Distributed inference" ---
    from loxodon.compat.elephas.utils.rdd_utils import to_simple_rdd

    rdd = to_simple_rdd(sc, x_train, y_train)
    from loxodon.compat.elephas.spark_model import SparkModel

    spark_model = SparkModel(model, frequency="epoch", mode="asynchronous")
    spark_model.fit(rdd, epochs=20, batch_size=32, verbose=0, validation_split=0.1)
    predictions = spark_model.predict(x_test)  # perform inference
    evaluation = spark_model.evaluate(x_test, keras.utils.to_categorical(y_test, NB_CLASSES))
    # ---
    seconds = time.time() - start
    assert spark_model.mode == "asynchronous" and np.isfinite(evaluation)
    rdd_predictions = spark_model.predict(sc.parallelize(list(x_test[:50])))
    assert isinstance(rdd_predictions, list) and len(rdd_predictions) == 50
    np.testing.assert_allclose(np.stack(rdd_predictions), predictions[:50], atol=1e-5)
    report(
        "SparkModel asynchronous/epoch",
        accuracy(predictions, y_test),
        plain_keras(readme_model),
        seconds,
    )


def test_readme_mllib_integration(spark: SparkSession) -> None:
    sc = spark.sparkContext
    x_train, y_train, x_test, y_test = data()
    model = readme_model()
    nb_classes = NB_CLASSES
    start = time.time()
    # --- Elephas README, "Spark MLlib integration" ---
    from loxodon.compat.elephas.utils.rdd_utils import to_labeled_point

    lp_rdd = to_labeled_point(sc, x_train, y_train, categorical=True)
    from loxodon.compat.elephas.spark_model import SparkMLlibModel

    spark_model = SparkMLlibModel(model, frequency="batch", mode="hogwild")
    spark_model.train(
        lp_rdd,
        epochs=20,
        batch_size=32,
        verbose=0,
        validation_split=0.1,
        categorical=True,
        nb_classes=nb_classes,
    )
    # ---
    predictions = spark_model.predict(x_test)
    seconds = time.time() - start
    assert spark_model.mode == "hogwild" and spark_model.communication_window == 1
    report(
        "SparkMLlibModel hogwild/batch",
        accuracy(predictions, y_test),
        plain_keras(readme_model),
        seconds,
    )


def test_readme_spark_ml_integration(spark: SparkSession) -> None:
    sc = spark.sparkContext
    x_train, y_train, x_test, y_test = data()
    y_test = keras.utils.to_categorical(y_test, NB_CLASSES)
    model = readme_model()
    epochs, batch_size, nb_classes = EPOCHS, 32, NB_CLASSES
    start = time.time()
    # --- Elephas README, "Spark ML integration" ---
    from pyspark.mllib.evaluation import MulticlassMetrics

    from loxodon.compat.elephas import ElephasEstimator, to_data_frame

    df = to_data_frame(sc, x_train, y_train, categorical=True)
    test_df = to_data_frame(sc, x_test, y_test, categorical=True)
    estimator = ElephasEstimator(
        model,
        epochs=epochs,
        batch_size=batch_size,
        frequency="batch",
        mode="asynchronous",
        categorical=True,
        nb_classes=nb_classes,
    )
    fitted_model = estimator.fit(df)
    prediction = fitted_model.transform(test_df)
    pnl = prediction.select("label", "prediction")
    pnl.show(5)
    prediction_and_label = pnl.rdd.map(lambda row: (row.label, float(np.argmax(row.prediction))))
    metrics = MulticlassMetrics(prediction_and_label)
    print(metrics.weightedPrecision)
    print(metrics.weightedRecall)
    # ---
    seconds = time.time() - start
    assert dict(prediction.dtypes)["prediction"] == "array<double>"
    assert estimator.getValidationSplit() == 0.1  # Elephas's default
    # weighted recall is the accuracy; the estimator holds out Elephas's default 0.1
    report(
        "ElephasEstimator asynchronous/batch",
        metrics.weightedRecall,
        plain_keras(readme_model),
        seconds,
    )


def config_model() -> keras.Model:
    import custom_layers

    keras.utils.set_random_seed(SEED)
    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, activation=custom_layers.soft_relu),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def test_example_estimator_from_json_config_in_a_pipeline(
    spark: SparkSession, tmp_path: Any
) -> None:
    """Elephas's examples/ml_mlp_classification.py: the model as JSON plus optimizer
    config, loss and metrics through the set_* methods, mode synchronous, in a
    Pipeline; with a custom activation (set_custom_objects)."""
    from pyspark import cloudpickle
    from pyspark.ml import Pipeline
    from tensorflow.keras import optimizers

    import custom_layers
    from loxodon.compat.elephas.ml.adapter import to_data_frame
    from loxodon.compat.elephas.ml_model import ElephasEstimator, ElephasTransformer

    cloudpickle.register_pickle_by_value(custom_layers)
    sc = spark.sparkContext
    x_train, y_train, x_test, y_test = data()
    start = time.time()
    df = to_data_frame(sc, x_train, y_train, categorical=True)
    test_df = to_data_frame(sc, x_test, keras.utils.to_categorical(y_test), categorical=True)
    # the example's SGD(lr=0.01, decay=1e-6, momentum=0.9, nesterov=True); Keras 3 has no decay
    sgd = optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True)
    sgd_conf = optimizers.serialize(sgd)
    estimator = ElephasEstimator()
    estimator.set_keras_model_config(config_model().to_json())
    estimator.set_custom_objects({"soft_relu": custom_layers.soft_relu})
    estimator.set_optimizer_config(sgd_conf)
    estimator.set_mode("synchronous")
    estimator.set_loss("categorical_crossentropy")
    estimator.set_metrics(["acc"])
    estimator.set_epochs(CONFIG_EPOCHS)
    estimator.set_batch_size(64)
    estimator.set_validation_split(0.1)
    estimator.set_categorical_labels(True)
    estimator.set_nb_classes(NB_CLASSES)
    pipeline = Pipeline(stages=[estimator])
    fitted_pipeline = pipeline.fit(df)
    prediction = fitted_pipeline.transform(test_df)
    rows = prediction.select("label", "prediction").collect()
    seconds = time.time() - start
    ours = float(np.mean([np.argmax(r.prediction) == r.label for r in rows]))

    def compiled() -> keras.Model:
        model = config_model()
        model.compile(keras.optimizers.get(sgd_conf), "categorical_crossentropy", metrics=["acc"])
        return model

    plain = plain_keras(compiled, epochs=CONFIG_EPOCHS, batch_size=64)
    report("ElephasEstimator synchronous/epoch (set_*)", ours, plain, seconds)

    # the fitted stage saves and loads as an ElephasTransformer (Elephas's output column);
    # its pickled custom objects load only with the opt-in (this test's own, trusted path)
    stage = fitted_pipeline.stages[0]
    stage.write().overwrite().save(str(tmp_path / "transformer"))
    spark.conf.set("spark.loxodon.allowPickledCustomObjects", "true")
    try:
        reloaded = ElephasTransformer.load(str(tmp_path / "transformer"))
        assert isinstance(reloaded, ElephasTransformer)
        scored = reloaded.transform(test_df.limit(5))
        assert dict(scored.dtypes)["prediction"] == "array<double>"

        # the estimator saves and loads with Elephas's settings; native params hold the mapping
        path = str(tmp_path / "estimator")
        estimator.write().overwrite().save(path)
        loaded = ElephasEstimator.load(path)
        assert (loaded.get_mode(), loaded.get_frequency()) == ("synchronous", "epoch")
        assert loaded.getMode() == "averaging" and loaded.get_categorical_labels()
        assert loaded.get_nb_classes() == NB_CLASSES and loaded.get_metrics() == ["acc"]
        assert set(loaded.get_custom_objects()) == {"soft_relu"}
    finally:
        spark.conf.unset("spark.loxodon.allowPickledCustomObjects")


def test_h5_files_of_elephas_and_hadoop_round_trip(spark: SparkSession, tmp_path: Any) -> None:
    """An Elephas-saved .h5 loads (stand-in: Keras 3's legacy HDF5 ``model.save`` plus
    Elephas's ``distributed_config`` attribute, as Elephas's ``save`` writes it);
    ``save(to_hadoop=True)``/``load_spark_model(from_hadoop=True)`` round-trip."""
    from loxodon.compat.elephas.spark_model import SparkMLlibModel, load_spark_model

    x_test = data()[2][:20]
    model = readme_model()
    elephas_file = str(tmp_path / "elephas.h5")
    model.save(elephas_file)
    with h5py.File(elephas_file, mode="a") as f:  # what Elephas 6's save adds
        f.attrs["distributed_config"] = (
            b'{"class_name": "SparkMLlibModel", "config": {"parameter_server_mode": "socket", '
            b'"mode": "hogwild", "frequency": "batch", "num_workers": 2, "batch_size": 64}}'
        )
    loaded = load_spark_model(elephas_file)
    assert isinstance(loaded, SparkMLlibModel)
    assert (loaded.elephas_mode, loaded.mode, loaded.communication_window) == (
        "hogwild",
        "hogwild",
        1,
    )
    assert (loaded.parameter_server_mode, loaded.batch_size) == ("socket", 64)
    expected = model.predict(x_test, verbose=0)
    np.testing.assert_allclose(loaded.model.predict(x_test, verbose=0), expected, atol=1e-6)

    uri = (tmp_path / "hadoop" / "model.h5").as_uri()
    loaded.save(uri, to_hadoop=True)
    again = load_spark_model(uri, from_hadoop=True)
    assert again.get_config() == loaded.get_config()
    np.testing.assert_allclose(again.model.predict(x_test, verbose=0), expected, atol=1e-6)
    with pytest.raises(FileExistsError):
        loaded.save(elephas_file)


def test_elephas_arguments_are_checked(spark: SparkSession) -> None:
    from loxodon.compat.elephas import ElephasEstimator, SparkModel

    model = readme_model()
    sync = SparkModel(model, mode="synchronous", frequency="batch", port=4000)
    assert (sync.mode, sync.frequency, sync.elephas_frequency) == ("averaging", 1, "batch")
    assert SparkModel(model, mode="hogwild").communication_window == 2**31 - 1
    with pytest.raises(ValueError, match="mode must be one of"):
        SparkModel(model, mode="easgd")
    with pytest.raises(ValueError, match="frequency must be 'epoch' or 'batch'"):
        SparkModel(model, frequency="step")
    with pytest.raises(ValueError, match="parameter_server_mode"):
        SparkModel(model, parameter_server_mode="grpc")
    with pytest.raises(TypeError, match="unknown argument"):
        SparkModel(model, elephas_optimizer=None, nb_epoch=3)
    estimator = ElephasEstimator(model, mode="hogwild", frequency="batch", outputCol="out")
    assert (estimator.getMode(), estimator.getCommunicationWindow()) == ("hogwild", 1)
    assert estimator.getPredictionCol() == "out" and estimator.getOutputMode() == "raw"

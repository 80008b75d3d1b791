"""Bad input fails fast (seconds, never a hang) with an error naming the fix."""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest
from pyspark.errors import IllegalArgumentException
from pyspark.sql import SparkSession

import loxodon
from fixtures import mlp
from loxodon.utils import to_data_frame


def make_mlp(compile: bool = True) -> keras.Model:
    """8 inputs straight to a 4-way softmax; SGD at its default rate, no metrics."""
    return mlp(8, (), 4, seed=None, optimizer="sgd", metrics=(), compile=compile)


@pytest.fixture(scope="module")
def frame(spark: SparkSession):
    rng = np.random.default_rng(0)
    return to_data_frame(spark.sparkContext, rng.normal(size=(64, 8)), rng.integers(0, 4, 64))


def _fails_fast(
    fn, match: str, seconds: float = 60.0, error: type[Exception] = IllegalArgumentException
) -> None:
    """``fn`` raises ``error`` (the driver's check, before any task) matching ``match``,
    within ``seconds``."""
    started = time.monotonic()
    with pytest.raises(error, match=match):
        fn()
    assert time.monotonic() - started < seconds


def test_missing_feature_column(spark: SparkSession, frame) -> None:
    model = loxodon.SparkModel(make_mlp(), num_workers=2, spark=spark)
    _fails_fast(
        lambda: model.fit(frame, features_col="pixels", verbose=0),
        r"features_col: no column 'pixels' in the DataFrame \(available: features, label\)",
    )


def test_nan_labels(spark: SparkSession) -> None:
    x = np.ones((32, 8))
    y = np.zeros(32)
    y[3] = np.nan
    frame = to_data_frame(spark.sparkContext, x, y)
    model = loxodon.SparkModel(make_mlp(), num_workers=2, spark=spark)
    _fails_fast(
        lambda: model.fit(frame, verbose=0),
        r"label_col: 1 rows of the training data have a NaN or null label; drop them",
    )


def test_wrong_feature_width(spark: SparkSession) -> None:
    model = loxodon.SparkModel(make_mlp(), num_workers=2, spark=spark)
    x, y = np.ones((32, 5)), np.zeros(32)
    _fails_fast(
        lambda: model.fit(x, y, verbose=0),
        r"features_col: rows of the training data have 5 feature values but the model's "
        r"input shape \(8\) needs 8",
    )


def test_label_beyond_the_model_outputs(spark: SparkSession) -> None:
    model = loxodon.SparkModel(make_mlp(), num_workers=2, spark=spark)
    x, y = np.ones((32, 8)), np.full(32, 7)
    _fails_fast(
        lambda: model.fit(x, y, verbose=0),
        r"label_col: class indices of the training data range from 7 to 7 but the model's "
        r"output layer has 4 units \(classes 0 to 3\)",
    )


def test_uncompiled_model(spark: SparkSession, frame) -> None:
    model = loxodon.SparkModel(make_mlp(compile=False), num_workers=2, spark=spark)
    _fails_fast(
        lambda: model.fit(frame, verbose=0),
        r"the Keras model is not compiled: call model.compile\(",
        seconds=5,
        error=ValueError,
    )


def test_more_workers_than_task_slots(spark: SparkSession, frame) -> None:
    model = loxodon.SparkModel(make_mlp(), num_workers=5, spark=spark)
    _fails_fast(
        lambda: model.fit(frame, verbose=0),
        r"num_workers=5 but the cluster has only 2 free task slots",
        seconds=20,
    )


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="^mode: unknown value 'fastest'; choose one of single"):
        loxodon.SparkModel(make_mlp(), mode="fastest")
    with pytest.raises(ValueError, match="single"):
        loxodon.SparkModel(make_mlp(), mode="single", num_workers=2)
    with pytest.raises(ValueError, match="^frequency must be 'epoch' or a positive number"):
        loxodon.SparkModel(make_mlp(), mode="averaging", frequency=0)


def test_bucketed_reduction_outside_the_ring_names_the_fix(spark: SparkSession, frame) -> None:
    with pytest.raises(ValueError, match="^sync_bucket_bytes must be >= 0, got -1$"):
        loxodon.SparkModel(make_mlp(), mode="synchronous", sync_bucket_bytes=-1)
    fix = "use sync_bucket_bytes=0, or mode='synchronous' with sync_transport='allreduce'"
    for mode, transport in (("synchronous", "server"), ("averaging", "allreduce")):
        model = loxodon.SparkModel(
            make_mlp(),
            mode=mode,
            num_workers=2,
            sync_transport=transport,
            sync_bucket_bytes=4096,
            spark=spark,
        )
        _fails_fast(
            lambda model=model: model.fit(frame, verbose=0),
            rf"sync_bucket_bytes: .* got mode '{mode}' with sync_transport '{transport}'; {fix}",
            seconds=20,
        )


def test_bad_learning_rate_schedules() -> None:
    from loxodon.selection import Actions, ModelSelection, SearchStrategy, Trial
    from loxodon.selection.search import epoch_rates

    class Unbounded(SearchStrategy):  # a custom strategy that never says how long trials train
        def start(self) -> Actions:
            return Actions(add=[self._new_trial({})])

        def on_epoch(self, trial_id: int, epoch: int, value: float) -> Actions:
            return Actions(run=[trial_id])

    with pytest.raises(ValueError, match="Unbounded has no max_epochs"):
        ModelSelection(lambda p: None, Unbounded(), learning_rate_schedule=lambda e, r: r)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)))
    with pytest.raises(ValueError, match="already follows a LearningRateSchedule"):
        epoch_rates(lambda e, r: r, model, Trial(0, {}), 3)
    model.compile(keras.optimizers.SGD(0.1), "mse")
    assert epoch_rates(lambda e, r: r / (e + 1), model, Trial(0, {}), 3) == pytest.approx(
        [0.1, 0.05, 0.1 / 3]
    )
    with pytest.raises(ValueError, match="gave nan for trial 0"):
        epoch_rates(lambda e, r: float("nan"), model, Trial(0, {}), 2)


def test_spark_session_refuses_config_names_without_dots() -> None:
    with pytest.raises(ValueError, match=r"spark_driver_host is not a Spark config name"):
        loxodon.spark_session("local[1]", spark_driver_host="10.0.0.5")


# -- issue 21: NaN/Inf features, widths at inference, loss/label forms, empty data,
# custom objects the executors cannot load ---------------------------------------


def test_nan_or_infinite_features_in_a_dataframe(spark: SparkSession) -> None:
    # One NaN among 800 rows x 40 features used to train a model whose weights were all NaN.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(800, 40))
    x[17, 5], x[400, 0] = np.nan, np.inf
    frame = to_data_frame(spark.sparkContext, x, rng.integers(0, 4, 800))
    model = loxodon.SparkModel(mlp(40, (), 4, metrics=()), num_workers=2, spark=spark)
    _fails_fast(
        lambda: model.fit(frame, verbose=0),
        r"features_col: 2 rows of the training data have a NaN or infinite feature value; "
        r"drop them .* or impute them",
    )


def test_nan_or_infinite_features_in_numpy_arrays(spark: SparkSession) -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(800, 40)), rng.integers(0, 4, 800)
    x[3, 39] = -np.inf
    model = loxodon.SparkModel(mlp(40, (), 4, metrics=()), num_workers=2, spark=spark)
    _fails_fast(
        lambda: model.fit(x, y, validation_split=0.0, verbose=0),
        r"features_col: 1 rows of the training data have a NaN or infinite feature value",
    )
    val_x = rng.normal(size=(50, 40))
    val_x[[1, 2, 3], 0] = np.nan
    _fails_fast(
        lambda: model.fit(x[:3], y[:3], validation_data=(val_x, y[:50]), verbose=0),
        r"features_col: 3 rows of the validation data have a NaN or infinite feature value",
    )


def test_predict_and_evaluate_on_rows_of_the_wrong_width(spark: SparkSession) -> None:
    model = loxodon.SparkModel(make_mlp(), num_workers=2, spark=spark)
    x, y = np.ones((32, 5)), np.zeros(32)
    _fails_fast(
        lambda: model.predict(x),
        r"features_col: rows of the data to predict have 5 feature values but the model's "
        r"input shape \(8,\) needs 8",
        seconds=5,
        error=ValueError,
    )
    columns = spark.createDataFrame([tuple(float(v) for v in range(5))], list("abcde"))
    _fails_fast(
        lambda: model.predict(columns, features_col=list("abcde")),
        r"features_col: rows of the data to predict have 5 feature values but the model's "
        r"input shape \(8\) needs 8",
        seconds=20,
    )
    _fails_fast(
        lambda: model.evaluate(x, y),
        r"features_col: rows of the evaluation data have 5 feature values but the model's "
        r"input shape \(8\) needs 8",
    )


def test_one_hot_labels_with_a_sparse_loss(spark: SparkSession) -> None:
    x, y = np.ones((32, 8)), np.eye(4)[np.arange(32) % 4]
    for loss in (
        "sparse_categorical_crossentropy",
        keras.losses.SparseCategoricalCrossentropy(),
        keras.losses.sparse_categorical_crossentropy,
    ):
        net = mlp(8, (), 4, seed=None, optimizer="sgd", loss=loss, metrics=())
        model = loxodon.SparkModel(net, num_workers=2, spark=spark)
        _fails_fast(
            lambda model=model: model.fit(x, y, verbose=0),
            r"label_col: labels of the training data have 4 values per row \(one-hot\?\) but "
            r"the loss .*(sparse_categorical_crossentropy|SparseCategoricalCrossentropy).* "
            r"takes one class index per row; pass class indices",
        )


def test_the_label_rule_reads_keras_loss_objects_not_names() -> None:
    import custom_layers
    from loxodon.contract import INDEX_LOSSES, loss_name

    def sparse_looking_regression_loss(y_true, y_pred):  # named "sparse", takes values
        return keras.ops.mean(keras.ops.square(y_true - y_pred))

    assert loss_name(keras.losses.SparseCategoricalCrossentropy()) in INDEX_LOSSES
    assert loss_name(keras.losses.sparse_categorical_crossentropy) in INDEX_LOSSES
    assert loss_name("sparse_categorical_crossentropy") in INDEX_LOSSES
    assert loss_name(keras.losses.CategoricalCrossentropy()) not in INDEX_LOSSES
    assert loss_name(custom_layers.smoothed_sparse_crossentropy) is None
    assert loss_name(sparse_looking_regression_loss) is None


def test_a_custom_index_loss_trains(spark: SparkSession) -> None:
    """A custom loss taking class indices is neither refused nor given int labels by name
    (it once was, for containing "sparse"): its labels are not checked, and it learns."""
    from pyspark import cloudpickle

    import custom_layers

    cloudpickle.register_pickle_by_value(custom_layers)  # the executors cannot import tests/

    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 4))
    y = (x[:, 0] > 0).astype(np.float64)
    net = mlp(4, 16, 2, loss=custom_layers.smoothed_sparse_crossentropy, metrics=("accuracy",))
    model = loxodon.SparkModel(
        net,
        mode="synchronous",
        num_workers=2,
        custom_objects={"smoothed_sparse_crossentropy": custom_layers.smoothed_sparse_crossentropy},
        spark=spark,
    )
    model.fit(x, y, epochs=10, batch_size=32, validation_split=0.0, verbose=0)
    predicted = model.predict(x).argmax(axis=1)
    assert (predicted == y).mean() > 0.9


def test_regression_labels_must_match_the_output_width(spark: SparkSession) -> None:
    net = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    net.compile(keras.optimizers.SGD(0.01), keras.losses.MeanSquaredError())
    model = loxodon.SparkModel(net, num_workers=2, spark=spark)
    x, y = np.ones((32, 8)), np.ones((32, 3))
    _fails_fast(
        lambda: model.fit(x, y, verbose=0),
        r"label_col: labels of the training data have 3 values per row but the model's output "
        r"layer has 1 units \(loss .*MeanSquaredError.*\); give one label value per output unit",
    )


def test_empty_data(spark: SparkSession, frame) -> None:
    model = loxodon.SparkModel(make_mlp(), num_workers=2, spark=spark)
    _fails_fast(
        lambda: model.fit(frame.limit(0), verbose=0),
        r"the training data is empty \(0 rows\)",
    )
    _fails_fast(
        lambda: model.fit(np.ones((0, 8)), np.zeros(0), verbose=0),
        r"the training data is empty \(0 rows\)",
    )


def test_unregistered_custom_layer_names_the_fix(spark: SparkSession) -> None:
    import custom_layers
    from loxodon.keras_io import unknown_custom_classes

    net = keras.Sequential([keras.Input((8,)), custom_layers.ScaleLayer(), keras.layers.Dense(4)])
    net.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    model = loxodon.SparkModel(net, num_workers=2, spark=spark)
    _fails_fast(
        lambda: model.fit(np.ones((32, 8)), np.zeros(32), verbose=0),
        r"fit: the model uses custom objects the executors cannot load: ScaleLayer \(module "
        r"custom_layers\); pass it in custom_objects=.* or register it with "
        r"@keras.saving.register_keras_serializable\(\) .* imports=\[\.\.\.\]",
        seconds=5,
        error=ValueError,
    )
    assert unknown_custom_classes(net, {"ScaleLayer": custom_layers.ScaleLayer}, []) == []
    assert unknown_custom_classes(net, None, ["custom_layers"]) == []


def test_an_unknown_custom_object_on_a_worker_names_the_fix() -> None:
    """What a worker raises when the driver's check could not see the object (a custom
    function): Keras's error, rewrapped with the fix."""
    import custom_layers
    from loxodon.keras_io import load_model, model_to_archive

    net = keras.Sequential([keras.Input((8,)), custom_layers.ScaleLayer(), keras.layers.Dense(4)])
    net.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    with pytest.raises(TypeError, match=r"custom layer, loss or function is unknown.*imports="):
        load_model(model_to_archive(net))

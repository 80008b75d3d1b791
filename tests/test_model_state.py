"""A model's state as bytes, and the architecture key that lets trials share one
compiled model in a search worker: equal exactly when only names, initial
weights or a float learning rate differ; a state moved into another model of
the same architecture trains as the original would, bit for bit."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import fixtures
from loxodon.worker.model_state import ModelState, architecture_key


def mlp(units: int = 16, lr: float = 1e-2, seed: int = 0, **adam: float) -> keras.Model:
    """8 inputs, ``units`` hidden, 3 classes; Adam at ``lr`` with ``adam``'s options."""
    return fixtures.mlp(8, units, 3, seed=seed, optimizer=keras.optimizers.Adam(lr, **adam))


def functional(units: int) -> keras.Model:
    inputs = keras.Input((8,))
    hidden = keras.layers.Dense(units, activation="relu")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(
        keras.layers.Concatenate()([hidden, inputs])
    )
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def test_architecture_key_ignores_names_weights_and_learning_rate() -> None:
    base = architecture_key(mlp())
    assert architecture_key(mlp(lr=3e-3, seed=5)) == base  # other layer names, weights, rate
    assert architecture_key(functional(4)) == architecture_key(functional(4))


def test_architecture_key_survives_the_archive_round_trip() -> None:
    """The driver keys a trial's fresh model and a worker its loaded archive:
    the two must agree, or workers would load every trial's archive again."""
    from loxodon.keras_io import load_model, model_to_archive

    for model in (mlp(), functional(4)):
        assert architecture_key(load_model(model_to_archive(model))) == architecture_key(model)


def test_architecture_key_tells_apart_what_the_train_step_depends_on() -> None:
    base = architecture_key(mlp())
    assert architecture_key(mlp(units=32)) != base
    assert architecture_key(mlp(beta_1=0.8)) != base  # a constant inside the traced step
    other_loss = mlp()
    other_loss.compile(other_loss.optimizer, "categorical_crossentropy")
    assert architecture_key(other_loss) != base
    assert architecture_key(functional(4)) != architecture_key(functional(8))


def test_eager_and_compiled_packing_agree() -> None:
    model = mlp()
    x, y = np.random.default_rng(0).normal(size=(32, 8)).astype(np.float32), np.arange(32) % 3
    model.train_on_batch(x, y)
    codec = ModelState(model)
    assert bytes(codec.pack()) == bytes(codec.pack_eager())
    assert len(codec.pack()) == codec.nbytes


def test_the_step_counter_survives_the_fused_float_block_bit_for_bit() -> None:
    """The int64 step counter travels bitcast inside the float32 block: counts whose words
    are float32 denormals, NaNs or infinities must come back unchanged."""
    model = mlp()
    model.train_on_batch(np.zeros((4, 8), np.float32), np.zeros(4))
    codec, host = ModelState(model), ModelState(mlp(seed=3))
    host.pack()  # traced before the state arrives, as in a worker
    for count in (5, 2**31 + 7, 0x7FC00001_7F800000, -3):
        model.optimizer.iterations.assign(count)
        packed = bytes(codec.pack())
        assert packed == bytes(codec.pack_eager())
        host.unpack(packed)
        assert int(host.others[0].numpy()) == count
        assert bytes(host.pack()) == packed


def test_a_state_moved_into_another_model_trains_identically() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(64, 8)).astype(np.float32), rng.integers(0, 3, 64)
    original, host = mlp(lr=1e-2, seed=1), mlp(lr=1e-3, seed=2)
    assert architecture_key(original) == architecture_key(host)
    host.train_on_batch(x[:16], y[:16])  # the host has its own history, traced already
    original.train_on_batch(x[:16], y[:16])
    ModelState(host).unpack(ModelState(original).pack_eager())
    assert float(host.optimizer.learning_rate) == float(original.optimizer.learning_rate)
    for model in (original, host):
        for i in range(16, 64, 16):
            model.train_on_batch(x[i : i + 16], y[i : i + 16])
    for a, b in zip(original.get_weights(), host.get_weights(), strict=True):
        assert np.array_equal(a, b)
    assert int(host.optimizer.iterations) == int(original.optimizer.iterations) == 4


def test_unpack_refuses_a_state_of_another_size() -> None:
    codec = ModelState(mlp(units=16))
    other = ModelState(mlp(units=32)).pack_eager()
    with pytest.raises(ValueError, match="does not fit this model"):
        codec.unpack(other)


def test_a_search_workers_compiled_metric_reset_zeroes_metrics_built_after_it() -> None:
    from loxodon.worker.hop import _Compiled

    model = mlp()
    compiled = _Compiled(model, (None, None))
    x, y = np.ones((4, 8), np.float32), np.array([0, 1, 2, 0])
    compiled.reset_metrics()  # before the first step: the accuracy metric is not built yet
    for _ in range(2):
        model.train_on_batch(x, y)
        assert any(np.any(v.numpy()) for v in model.metrics_variables)
        compiled.reset_metrics()
        assert not any(np.any(v.numpy()) for v in model.metrics_variables)
    assert len(model.metrics_variables) == 4  # loss and accuracy: a total and a count each

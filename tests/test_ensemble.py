"""loxodon.Ensemble on digits: members trained at once by the model hopper
(every member on all rows) or one per share of the rows; the ensemble's
prediction is exactly the mean of its members', it is at least as accurate as
its average member, and a saved ensemble predicts the same after loading."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from loxodon import Ensemble, load_ensemble
from loxodon.datasets import digits


def mlp(seed: int) -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, ...]:
    return digits()


def member_accuracies(ensemble: Ensemble, x: np.ndarray, y: np.ndarray) -> list[float]:
    return [
        float(np.mean(np.argmax(m.predict(x, verbose=0), axis=1) == y))
        for m in ensemble.to_keras(merge=False)
    ]


def test_ensemble_all_rows(spark, data, tmp_path) -> None:
    x, y, x_test, y_test = data
    ensemble = Ensemble(mlp, num_models=3, data="all", num_workers=2, batch_size=32)
    history = ensemble.fit(x, y, epochs=4)
    assert len(history) == 3 and all(len(h["loss"]) == 4 for h in history)
    members = ensemble.to_keras(merge=False)
    weights = [m.layers[0].get_weights()[0] for m in members]
    assert not np.allclose(weights[0], weights[1])  # distinct seeds, distinct members

    predicted = ensemble.predict(x_test)
    mean = np.mean([m.predict(x_test, verbose=0) for m in members], axis=0)
    np.testing.assert_allclose(predicted, mean, atol=1e-6)

    accuracy = float(np.mean(np.argmax(predicted, axis=1) == y_test))
    each = member_accuracies(ensemble, x_test, y_test)
    members_mean = float(np.mean(each))
    print(f"\nensemble (all rows) {accuracy:.4f}, members {[round(a, 4) for a in each]}")
    assert accuracy >= members_mean - 1e-9 and accuracy > 0.9, (accuracy, members_mean)
    logs = ensemble.evaluate(x_test, y_test, return_dict=True)
    assert logs["accuracy"] == pytest.approx(accuracy, abs=1e-6)

    merged = ensemble.to_keras(merge=True)
    np.testing.assert_allclose(merged.predict(x_test, verbose=0), mean, atol=1e-6)

    path = f"file://{tmp_path}/ensemble"
    ensemble.save(path)
    loaded = load_ensemble(path)
    assert loaded.num_models == 3 and loaded.history == ensemble.history
    np.testing.assert_allclose(loaded.predict(x_test), predicted, atol=1e-6)


def test_ensemble_own_partition(spark, data) -> None:
    x, y, x_test, y_test = data
    template = mlp(0)
    ensemble = Ensemble(template, num_models=3, data="partition", seed=7, batch_size=32)
    history = ensemble.fit(x, y, epochs=8)
    assert all(len(h["loss"]) == 8 for h in history)
    # Disjoint shares of the rows, one per member (the DataFrame route: test_distkeras_readme).
    assert sum(ensemble.member_rows) == len(x) and min(ensemble.member_rows) >= len(x) // 3
    members = ensemble.to_keras(merge=False)
    assert len(members) == 3
    predicted = ensemble.predict(x_test)
    mean = np.mean([m.predict(x_test, verbose=0) for m in members], axis=0)
    np.testing.assert_allclose(predicted, mean, atol=1e-6)
    accuracy = float(np.mean(np.argmax(predicted, axis=1) == y_test))
    each = member_accuracies(ensemble, x_test, y_test)
    members_mean = float(np.mean(each))
    print(f"\nensemble (own share) {accuracy:.4f}, members {[round(a, 4) for a in each]}")
    assert accuracy >= members_mean - 1e-9 and accuracy > 0.85, (accuracy, members_mean)

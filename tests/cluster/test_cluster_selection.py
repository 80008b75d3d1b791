"""Model selection (model hopper parallelism) on the namespace cluster: each
worker host holds its partition, the models hop between the hosts through the
driver's parameter server, and every trial ends with exactly the weights of
sequential Keras training over the partitions in the logged visit order (the
same check as tests/test_selection_mop.py on local[2])."""

from __future__ import annotations

import json

import keras
import numpy as np
from pyspark.sql import DataFrame, SparkSession

from loxodon._jvm import java_session, python_api
from loxodon.datasets import digits
from loxodon.inputs import prepare
from loxodon.selection import GridSearch, ModelSelection, grid
from loxodon.worker.hop import unit_rng

SEED, SPLIT, WORKERS = 5, 0.2, 2


def digits_mlp(params: dict) -> keras.Model:
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(params["units"], activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(params["learning_rate"]),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def partitions(spark: SparkSession, x: np.ndarray, y: np.ndarray) -> dict:
    """The training rows each worker of the search holds, in its order."""
    prep = prepare(spark, x, y, "features", "label")
    params = {
        "num_workers": WORKERS,
        "seed": SEED,
        "validation_split": SPLIT,
        "features_col": prep.features_col,
        "label_col": prep.label_col,
    }
    jdf = python_api(spark).partitionRows(java_session(spark), prep.frame._jdf, json.dumps(params))
    rows: dict[int, tuple[list, list]] = {}
    for r in DataFrame(jdf, spark).collect():
        if r.part == 0:
            xs, ys = rows.setdefault(r.partition, ([], []))
            xs.append(r.features)
            ys.append(int(r.label[0]))
    return {p: (np.array(a, np.float32), np.array(b)) for p, (a, b) in rows.items()}


def test_mop_search_equals_sequential_training(cluster_spark: SparkSession) -> None:
    x, y, _, _ = digits()
    space = {"units": grid([16, 32]), "learning_rate": 1e-2, "batch_size": 32}
    search = ModelSelection(
        digits_mlp, GridSearch(space, epochs=2), num_workers=WORKERS, seed=SEED, verbose=0
    )
    result = search.fit(x, y, validation_split=SPLIT, keep_models=True)
    assert len(result.workers) == WORKERS and all(w["units"] > 0 for w in result.workers)
    assert max(result.final_values().values()) > 0.85

    parts = partitions(cluster_spark, x, y)
    for trial_id, trial in result.trials.items():
        visits = [
            u
            for u in result.schedule
            if u["kind"] == "train" and u["status"] == "done" and u["trial_id"] == trial_id
        ]
        assert len(visits) == 2 * WORKERS and {u["partition"] for u in visits} == {0, 1}
        sequential = digits_mlp(trial.params)
        for u in sorted(visits, key=lambda u: u["seq"]):
            xp, yp = parts[u["partition"]]
            order = unit_rng(SEED, trial_id, u["epoch"], u["partition"]).permutation(len(xp))
            sequential.fit(xp[order], yp[order], batch_size=32, epochs=1, shuffle=False, verbose=0)
        for a, b in zip(
            result.model(trial_id).get_weights(), sequential.get_weights(), strict=True
        ):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)

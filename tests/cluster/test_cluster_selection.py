"""Model selection (model hopper parallelism) on the namespace cluster: each
worker host holds its partition, the models hop between the hosts through the
driver's parameter server, and every trial ends with exactly the weights of
sequential Keras training over the partitions in the logged visit order (the
same check as tests/test_selection_mop.py on local[2])."""

from __future__ import annotations

import numpy as np
from pyspark.sql import SparkSession

from fixtures import digits_mlp, partition_rows
from loxodon.datasets import digits
from loxodon.selection import GridSearch, ModelSelection, grid
from loxodon.worker.hop import unit_rng

SEED, SPLIT, WORKERS = 5, 0.2, 2


def test_mop_search_equals_sequential_training(cluster_spark: SparkSession) -> None:
    x, y, _, _ = digits()
    space = {"units": grid([16, 32]), "learning_rate": 1e-2, "batch_size": 32}
    search = ModelSelection(
        digits_mlp, GridSearch(space, epochs=2), num_workers=WORKERS, seed=SEED, verbose=0
    )
    result = search.fit(x, y, validation_split=SPLIT, keep_models=True)
    assert len(result.workers) == WORKERS and all(w["units"] > 0 for w in result.workers)
    assert max(result.final_values().values()) > 0.85

    parts = partition_rows(cluster_spark, x, y, WORKERS, SEED, SPLIT)
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

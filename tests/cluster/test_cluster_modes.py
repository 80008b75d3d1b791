"""Every training mode on the namespace cluster, from a client-mode driver on
its own host: fit, predict and evaluate reach the accuracy of the same fit on
local[2] (within 2 points), and the workers on the worker hosts reached the
parameter server at the driver host's address, never over loopback. With a
parallelism factor, every shard is trained once per epoch, read from the block
manager of whichever host cached it."""

from __future__ import annotations

import numpy as np
import pytest
from clusterctl import Cluster, assert_reached_driver
from mode_fits import MODES, Fit
from pyspark.sql import SparkSession


@pytest.mark.parametrize("fit", MODES, ids=[fit.name for fit in MODES])
def test_mode_matches_local(
    cluster_spark: SparkSession, cluster: Cluster, local_reference: dict[str, float], fit: Fit
) -> None:
    model = fit.spark_model()
    history = model.fit(**fit.fit_args())
    assert len(history.history["loss"]) == fit.epochs
    assert history.history["loss"][-1] < history.history["loss"][0]

    _, _, x_test, y_test = fit.data()
    result = model.evaluate(x_test, y_test, return_dict=True)
    reference = local_reference[fit.name]
    assert abs(result["accuracy"] - reference) <= 0.02, (fit.name, result, reference)

    predicted = model.predict(x_test).argmax(axis=1)
    assert float(np.mean(predicted == y_test)) == pytest.approx(result["accuracy"], abs=1e-3)

    assert_reached_driver(model.last_fit, cluster, fit.workers)
    assert model.last_fit["attempts"] == 1, model.last_fit
    factor = fit.options.get("parallelism_factor", 1)
    if factor > 1:
        workers = model.last_fit["workers"]
        for epoch in range(fit.epochs):
            trained = sorted(j for w in workers for j in w["shards"][epoch])
            assert trained == list(range(factor * fit.workers)), (epoch, workers)

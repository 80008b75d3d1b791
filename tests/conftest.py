"""Shared fixtures: one local Spark session (with Loxodon's jar) per test run;
scikit-learn's digits, split as ``loxodon.datasets.digits`` does; one run of
``gpu_fits.py`` on ``local-cluster`` shared by the tests of separate executor
JVMs and of GPU resources; and MLflow pointed at a store of the run's own
(a search tracks into MLflow by default whenever mlflow is installed): a
session-wide SQLite store, and an experiment of its own for a test that reads back
what was logged."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyspark.sql import SparkSession

import loxodon
from fixtures import gpu_discovery_script, run_result
from loxodon.datasets import digits


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = loxodon.spark_session("local[2]", app_name="loxodon-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def digits_data() -> tuple[np.ndarray, ...]:
    """``x_train, y_train, x_test, y_test`` of :func:`loxodon.datasets.digits` (seed 0)."""
    return digits()


@pytest.fixture(scope="session", autouse=True)
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The run's MLflow tracking URI (a SQLite file under pytest's temporary
    folder), so that no search writes ``mlflow.db`` into the working folder."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        yield uri


@pytest.fixture
def mlflow_experiment(
    mlflow_store: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> tuple[Any, str]:
    """``(client, experiment_id)``: a new experiment named after the test, the
    one runs started without an experiment go to."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_store)
    name = re.sub(r"\W+", "-", request.node.nodeid)
    experiment_id = client.create_experiment(name, artifact_location=tmp_path.as_uri())
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", experiment_id)
    return client, experiment_id


@pytest.fixture(scope="session")
def local_cluster_fits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``gpu_fits.py``'s result for a synchronous and an asynchronous fit and a predict on
    ``local-cluster[2,1,2048]``: two executor JVMs of one (Spark-only, CUDA-less) GPU
    address each. One driver process for test_local_cluster and test_gpu_resources."""
    discovery = gpu_discovery_script(tmp_path_factory.mktemp("gpus"), ["0", "1"])
    script = Path(__file__).with_name("gpu_fits.py")
    return run_result([str(script), str(discovery), "2", "synchronous,asynchronous"], timeout=600)

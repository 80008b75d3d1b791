"""Fixtures of the tests on the namespace cluster (``make cluster-test``, which
runs pytest on the driver host). Without the cluster every test here is
skipped. Most tests share one client-mode SparkSession (a new driver costs
10-20 s). A test that starts other applications on the cluster (a new driver
process, spark-submit) asks for ``shared_session`` and stops it first, freeing
the cores the session holds; such tests run last, so the session starts once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

pytest.register_assert_rewrite("clusterctl", "faults")
from clusterctl import (  # noqa: E402
    Cluster,
    SharedSession,
    on_cluster,
    python_env,
    wait_for_executors,
)

HERE = Path(__file__).resolve().parent
SKIP_REASON = (
    "needs the multi-host namespace cluster: run `make cluster-test` "
    "(cluster/cluster.sh run ... sets LOXODON_CLUSTER_MASTER)"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mine = [item for item in items if HERE in item.path.parents]
    if not on_cluster():
        for item in mine:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))
        return
    # Tests that stop the shared session go last (stable sort keeps file order).
    items.sort(key=lambda item: item in mine and "shared_session" in item.fixturenames)


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    return Cluster.from_env()


@pytest.fixture(scope="session")
def _shared(cluster: Cluster) -> Iterator[SharedSession]:
    shared = SharedSession(cluster)
    yield shared
    shared.stop()


@pytest.fixture
def cluster_spark(_shared: SharedSession, _reference_run: subprocess.Popen) -> SparkSession:
    """The shared client-mode session, with at least two executors registered."""
    spark = _shared.get()
    wait_for_executors(spark, 2)
    return spark


@pytest.fixture
def shared_session(_shared: SharedSession) -> SharedSession:
    """The shared session's owner, for a test that must stop it."""
    return _shared


@pytest.fixture(scope="session")
def _reference_run() -> Iterator[subprocess.Popen]:
    """``reference_fits.py`` on local[2], started with the test session so that
    it overlaps the shared session's start; bound to loopback like every test
    outside the cluster."""
    env = python_env({k: v for k, v in os.environ.items() if k != "SPARK_LOCAL_IP"})
    with subprocess.Popen(
        [sys.executable, str(HERE / "reference_fits.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as run:
        yield run
        run.kill()


@pytest.fixture(scope="session")
def local_reference(_reference_run: subprocess.Popen) -> dict[str, float]:
    """Test accuracy of each fit of ``mode_fits`` on local[2]."""
    try:
        stdout, stderr = _reference_run.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        _reference_run.kill()
        raise
    lines = [line for line in stdout.splitlines() if line.startswith("REFERENCE ")]
    assert _reference_run.returncode == 0 and lines, stderr[-4000:]
    return json.loads(lines[-1][len("REFERENCE ") :])

"""The namespace cluster as the tests see it: its addresses (from the
``LOXODON_CLUSTER_*`` variables ``cluster/cluster.sh`` sets), the Spark configs
of a client-mode driver on the driver host, and the fault injections
(``cluster.sh kill-executor|stop-worker|start-worker|link``), and the
environment of the scripts the tests run as new Python processes. Imported by
the tests and by those scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

import loxodon

ENV_MASTER = "LOXODON_CLUSTER_MASTER"
TESTS = Path(__file__).resolve().parents[1]  # tests/: fixtures.py, submit.py


def on_cluster() -> bool:
    return bool(os.environ.get(ENV_MASTER))


def python_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` with ``tests/`` first on ``PYTHONPATH``, for the scripts the tests
    run as new Python processes (``reference_fits.py``, ``submit_train.py``):
    their ``mode_fits`` imports ``fixtures``, and pytest's ``sys.path`` is not
    inherited."""
    paths = [str(TESTS), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}


@dataclass(frozen=True)
class Cluster:
    master: str  # spark://198.18.0.10:7077
    master_json: str  # the master's web UI JSON
    driver_host: str  # the driver namespace's address
    run_dir: Path  # seen by every host (one filesystem)
    ctl: str  # cluster/cluster.sh

    @classmethod
    def from_env(cls) -> Cluster:
        env = os.environ
        return cls(
            master=env[ENV_MASTER],
            master_json=env["LOXODON_CLUSTER_MASTER_JSON"],
            driver_host=env["LOXODON_CLUSTER_DRIVER_HOST"],
            run_dir=Path(env["LOXODON_CLUSTER_DIR"]),
            ctl=env["LOXODON_CLUSTER_CTL"],
        )

    @property
    def shared(self) -> Path:
        """A folder every host sees at the same path."""
        return self.run_dir / "shared"

    def driver_conf(self) -> dict[str, str]:
        """Client mode from the driver namespace: the driver (and with it the
        parameter server) binds and advertises the namespace's address."""
        return {
            "spark.driver.host": self.driver_host,
            "spark.driver.bindAddress": self.driver_host,
            "spark.executor.memory": "1g",
            "spark.pyspark.python": os.environ.get("PYSPARK_PYTHON", sys.executable),
            "spark.ui.enabled": "false",
        }

    def _ctl(self, *args: str, timeout: float = 150) -> str:
        out = subprocess.run(
            [self.ctl, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if out.returncode != 0:
            raise RuntimeError(f"cluster.sh {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    def kill_executor(self, worker: int) -> list[int]:
        """kill -9 of the executor JVMs on host w<worker>; their pids."""
        return [int(p) for p in self._ctl("kill-executor", str(worker)).split()]

    def stop_worker(self, worker: int) -> None:
        """kill -9 of everything on host w<worker>: its Worker and executors."""
        self._ctl("stop-worker", str(worker))

    def start_worker(self, worker: int) -> None:
        """Starts (or restarts) host w<worker>'s Worker; returns once ALIVE."""
        self._ctl("start-worker", str(worker))

    def link(self, worker: int, up: bool) -> None:
        self._ctl("link", str(worker), "up" if up else "down", timeout=20)

    def alive_workers(self) -> list[str]:
        """The hosts of the workers the master lists as ALIVE."""
        with urllib.request.urlopen(self.master_json, timeout=5) as reply:
            state = json.load(reply)
        return sorted(w["host"] for w in state["workers"] if w["state"] == "ALIVE")


def worker_index(host: str) -> int:
    """198.18.0.1<i> is host w<i> (cluster/config.sh)."""
    last = int(host.rsplit(".", 1)[1])
    assert 11 <= last <= 19, host
    return last - 10


def executors(spark: Any) -> dict[str, int]:
    """Each executor host of ``spark``'s application and its running tasks."""
    infos = spark.sparkContext._jsc.sc().statusTracker().getExecutorInfos()
    driver = spark.conf.get("spark.driver.host")
    hosts: dict[str, int] = {}
    for info in infos:
        if info.host() != driver:
            hosts[info.host()] = hosts.get(info.host(), 0) + info.numRunningTasks()
    return hosts


def wait_for_executors(spark: Any, count: int, timeout: float = 120) -> dict[str, int]:
    """Until ``count`` executors have registered; fails naming those that did."""
    deadline = time.monotonic() + timeout
    while True:
        found = executors(spark)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{len(found)} executors after {timeout:.0f} s, not {count}: {found}"
            )
        time.sleep(0.5)


def assert_reached_driver(last_fit: dict[str, Any], cluster: Cluster, workers: int) -> None:
    """Each worker's socket went from its own host to the driver host's server."""
    assert len(last_fit["workers"]) == workers, last_fit
    hosts = set()
    for worker in last_fit["workers"]:
        peer_host, _, port = worker["ps_peer"].rpartition(":")
        assert peer_host == cluster.driver_host and int(port) > 0, worker
        assert worker["local_address"].startswith("198.18.0.1"), worker  # a worker host
        hosts.add(worker["local_address"])
    assert len(hosts) == workers, last_fit  # one task slot per host: distinct hosts


class SharedSession:
    """The client-mode session most tests share, started on first use."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.session: SparkSession | None = None

    def get(self) -> SparkSession:
        if self.session is None:
            session = loxodon.spark_session(
                self.cluster.master, app_name="loxodon-cluster-tests", **self.cluster.driver_conf()
            )
            session.sparkContext.setLogLevel("ERROR")
            self.session = session
            wait_for_executors(session, 2)
        return self.session

    def stop(self) -> None:
        """Frees the cluster's cores for other applications."""
        if self.session is not None:
            self.session.stop()
            self.session = None

"""Faults on the namespace cluster, mid-epoch, each bounded in time: the fit
completes within 2 points of the undisturbed fit (the same fit on local[2],
which the cluster matches: test_cluster_modes), or fails with a clear error
before its deadline; it never hangs.

- kill -9 of a worker host's executor JVM: the standalone Worker starts a new
  executor, the driver runs the barrier stage again (spark.loxodon.fit.maxAttempts)
  and it resumes from the parameter server's center;
- a worker host's link down for 10 s: the fit resumes, or fails within its sync
  deadline naming the unreachable worker;
- a worker host gone for good (its Worker and executor killed) while a third
  host has a free slot: the retried stage runs on the remaining slots."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from clusterctl import (
    Cluster,
    assert_reached_driver,
    executors,
    wait_for_executors,
    worker_index,
)
from faults import MidEpochFault, bounded_fit
from mode_fits import FAULTS, Fit
from pyspark.sql import SparkSession

DEADLINE_S = 300  # a fit takes 5-10 s undisturbed; a retry adds an executor's start
AFTER_EPOCH = 1  # the fault lands half-way through the second of 6 epochs


def busy_host(spark: SparkSession) -> str:
    """A worker host whose executor runs a task of the fit now."""
    busy = sorted(host for host, running in executors(spark).items() if running > 0)
    assert busy, f"no executor runs a task: {executors(spark)}"
    return busy[0]


def faulty_fit(spark: SparkSession, fit: Fit, action: Any, **extra: Any) -> tuple:
    model = fit.spark_model(spark=spark, **extra)  # the fit runs in a thread of its own
    fault = MidEpochFault(after_epoch=AFTER_EPOCH, action=action)
    outcome = bounded_fit(spark, model, DEADLINE_S, **fit.fit_args(), callbacks=[fault])
    assert fault.fired.wait(30), f"the fault never fired; the fit: {outcome}"
    assert fault.error is None, fault.error
    attempts = getattr(model, "last_fit", None) or {}
    print(f"{fit.name}: fault {fault.result}; fit {outcome}; attempts {attempts.get('attempts')}")
    return model, fault.result, outcome


def check_completed(outcome: dict, model: Any, fit: Fit, cluster: Cluster, reference: dict) -> None:
    assert "error" not in outcome, outcome["error"]
    history = outcome["history"].history
    assert len(history["loss"]) == fit.epochs, history  # each epoch once
    _, _, x_test, y_test = fit.data()
    accuracy = model.evaluate(x_test, y_test, return_dict=True)["accuracy"]
    assert abs(accuracy - reference[fit.name]) <= 0.02, (accuracy, reference, model.last_fit)
    assert_reached_driver(model.last_fit, cluster, model.num_workers)


@pytest.mark.parametrize("mode", ["synchronous", "asynchronous"])
def test_executor_killed_mid_fit(
    cluster_spark: SparkSession, cluster: Cluster, local_reference: dict, mode: str
) -> None:
    def kill() -> tuple[str, list[int]]:
        host = busy_host(cluster_spark)
        return host, cluster.kill_executor(worker_index(host))

    model, (host, pids), outcome = faulty_fit(cluster_spark, FAULTS[mode], kill)
    assert pids, host
    check_completed(outcome, model, FAULTS[mode], cluster, local_reference)
    assert model.last_fit["attempts"] >= 2, model.last_fit
    wait_for_executors(cluster_spark, 2)  # the Worker started a new executor


def test_link_down_for_ten_seconds(
    cluster_spark: SparkSession, cluster: Cluster, local_reference: dict
) -> None:
    sync_timeout = 20

    def link_down() -> str:
        host = busy_host(cluster_spark)
        cluster.link(worker_index(host), up=False)
        try:
            time.sleep(10)
        finally:
            cluster.link(worker_index(host), up=True)
        return host

    fit = FAULTS["synchronous"]
    model, host, outcome = faulty_fit(cluster_spark, fit, link_down, sync_timeout=sync_timeout)
    if "error" in outcome:
        message = str(outcome["error"])
        assert re.search(rf"{re.escape(host)}|worker \d|partition \d", message), message
        assert outcome["seconds"] < 10 + 3 * sync_timeout + 60, outcome
    else:
        check_completed(outcome, model, fit, cluster, local_reference)
    wait_for_executors(cluster_spark, 2)


def test_worker_host_gone_for_good(
    cluster_spark: SparkSession, cluster: Cluster, local_reference: dict
) -> None:
    third = 3
    if f"198.18.0.1{third}" not in cluster.alive_workers():
        cluster.start_worker(third)
    wait_for_executors(cluster_spark, 3)
    gone: list[int] = []

    def stop_host() -> str:
        host = busy_host(cluster_spark)
        cluster.stop_worker(worker_index(host))
        gone.append(worker_index(host))
        return host

    fit = FAULTS["synchronous"]
    try:
        model, host, outcome = faulty_fit(cluster_spark, fit, stop_host)
        check_completed(outcome, model, fit, cluster, local_reference)
        assert model.last_fit["attempts"] >= 2, model.last_fit
        assert host not in {w["local_address"] for w in model.last_fit["workers"]}, host
    finally:
        for worker in gone:  # the next tests find every host up again
            cluster.start_worker(worker)

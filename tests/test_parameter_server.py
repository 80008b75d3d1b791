"""The Scala parameter server, started through Py4J, driven by Python clients
in two separate processes: every operation of the wire protocol."""

from __future__ import annotations

import multiprocessing as mp
import time
from typing import Any

import numpy as np
import pytest
from pyspark.sql import SparkSession

import loxodon
from loxodon import PSClient, PSError
from loxodon.parameter_server import ServerAddress

N = 1000
ALPHA = 0.25
LAYOUT = {"weights": [{"name": "dense/kernel", "shape": [10, 100], "dtype": "float32"}]}


def _worker(address: ServerAddress, worker: int, results: Any) -> None:
    """One worker's script; every value it saw goes back through ``results``."""
    seen: dict[str, Any] = {"worker": worker}
    try:
        with address.connect(worker=worker, timeout=180) as ps:
            seen["register"] = ps.register()
            seen["initial"] = ps.pull()
            ps.sync(100, np.zeros(N, np.float32))  # barrier: both pulled before anyone pushes
            seen["push_counts"] = [ps.push(np.ones(N, np.float32)) for _ in range(100)]
            ps.sync(0, np.zeros(N, np.float32))  # barrier: both finished locked pushes
            seen["after_locked"] = ps.pull()
            ps.sync(1, np.zeros(N, np.float32))
            for _ in range(100):
                ps.push_hogwild(np.ones(N, np.float32))
            seen["mean"] = ps.sync(2, np.full(N, worker + 1.0, np.float32))
            seen["center_before_easgd"] = ps.pull()
            ps.sync(3, np.zeros(N, np.float32))  # nobody changes the center before EASGD
            x = np.full(N, 10.0 * worker, np.float32)
            seen["x"] = x
            seen["elastic"] = ps.easgd(x, round=4)
            ps.put_blob(f"model-{worker}", bytes([worker]) * 64)
            ps.sync(5, np.zeros(N, np.float32))
            seen["other_blob"] = ps.get_blob(f"model-{1 - worker}")
            seen["stats"] = ps.stats()
    except Exception as exc:  # surfaced to the test, which fails on it
        seen["error"] = repr(exc)
    results.put(seen)


def _run_workers(addresses: list[ServerAddress]) -> list[dict[str, Any]]:
    """Worker w runs in its own process with worker w's key, as a training task does."""
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(addresses[w], w, results)) for w in range(2)]
    for p in procs:
        p.start()
    seen = [results.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    return sorted(seen, key=lambda s: s["worker"])


def test_every_operation_from_two_processes(spark: SparkSession) -> None:
    with loxodon.start_parameter_server(
        spark, 2, N, layout=LAYOUT, sync_timeout=120, easgd_alpha=ALPHA
    ) as ps:
        seen = _run_workers([ps.worker_address(w) for w in range(2)])
        for s in seen:
            assert "error" not in s, s.get("error")
        final_center = ps.center()
        stats = ps.stats()

    for s in seen:
        assert s["register"] == {"num_params": N, "num_workers": 2, "layout": LAYOUT}
        np.testing.assert_array_equal(s["initial"], np.zeros(N, np.float32))
        # locked pushes sum exactly: 2 workers x 100 pushes of ones
        np.testing.assert_array_equal(s["after_locked"], np.full(N, 200.0, np.float32))
        np.testing.assert_array_equal(s["mean"], np.full(N, 1.5, np.float32))
        center = s["center_before_easgd"]
        # hogwild pushes may race, but each adds at most once
        assert np.all(center > 200.0) and np.all(center <= 400.0)
        np.testing.assert_allclose(s["elastic"], ALPHA * (s["x"] - center), rtol=1e-6)
        assert s["other_blob"] == bytes([1 - s["worker"]]) * 64
    assert all(counts == sorted(counts) for counts in (s["push_counts"] for s in seen))

    c = seen[0]["center_before_easgd"]
    expected = c + ALPHA * sum(s["x"] - c for s in seen)
    np.testing.assert_allclose(final_center, expected, rtol=1e-6)
    assert stats["updates"] >= 400
    assert set(stats["workers"]) >= {"0", "1"}


def test_wrong_secret_is_refused(spark: SparkSession) -> None:
    with loxodon.start_parameter_server(spark, 1, 10) as ps:
        with pytest.raises(PSError, match="refused"):
            PSClient(ps.address.host, ps.address.port, "00" * 32, timeout=10)
        with ps.connect() as client:  # the server is still serving others
            assert client.pull().shape == (10,)


def test_wrong_vector_length_is_an_error_and_the_connection_survives(spark: SparkSession) -> None:
    with loxodon.start_parameter_server(spark, 1, 10) as ps, ps.connect(worker=0) as client:
        with pytest.raises(PSError, match=r"\b3\b.*\b10\b|\b10\b.*\b3\b"):
            client.push(np.ones(3, np.float32))
        client.push(np.ones(10, np.float32))
        np.testing.assert_array_equal(client.pull(), np.ones(10, np.float32))
        with pytest.raises(PSError, match="no-such-model"):
            client.get_blob("no-such-model")


def test_sync_round_missing_a_worker_fails_within_its_deadline(spark: SparkSession) -> None:
    with (
        loxodon.start_parameter_server(spark, 2, 10, sync_timeout=0.5) as ps,
        ps.connect(worker=0, timeout=10) as client,
    ):
        started = time.monotonic()
        with pytest.raises(PSError) as info:
            client.sync(7, np.ones(10, np.float32))
        waited = time.monotonic() - started
    message = str(info.value)
    assert "round 7" in message and "1" in message.split("worker")[-1], message
    assert 0.4 <= waited < 5.0


def test_stop_flag_and_shutdown(spark: SparkSession) -> None:
    ps = loxodon.start_parameter_server(spark, 1, 10)
    try:
        with ps.connect(worker=0) as client:
            client.pull()
            assert not client.stop_requested
            ps.request_stop()
            client.pull()
            assert client.stop_requested
            client.shutdown()
        deadline = time.monotonic() + 10
        while ps.running and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not ps.running
    finally:
        ps.close()


def test_set_center_and_bad_arguments(spark: SparkSession) -> None:
    with loxodon.start_parameter_server(spark, 1, 5) as ps:
        ps.set_center(np.arange(5, dtype=np.float64))
        np.testing.assert_array_equal(ps.center(), np.arange(5, dtype=np.float32))
    with pytest.raises(ValueError, match="num_workers"):
        loxodon.start_parameter_server(spark, 0, 5)
    with pytest.raises(ValueError, match="max_frame_bytes"):
        loxodon.start_parameter_server(spark, 1, 1000, max_frame_bytes=100)

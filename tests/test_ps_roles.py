"""Roles, the blob cap, report checks and TLS of the parameter server, driven
from Python clients as a training task's worker would: every refusal's exact
ERROR, and that the driver's and the other workers' operations still work."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest
from pyspark.sql import SparkSession

import loxodon
from loxodon import PSClient, PSError
from loxodon.pinned_tls import PinMismatch
from loxodon.ps_client import Op


def test_a_worker_key_cannot_shutdown_stop_or_write_the_driver_blobs(spark: SparkSession) -> None:
    with loxodon.start_parameter_server(spark, 2, 10) as ps:
        with ps.connect_as(1, timeout=10) as w1:
            with pytest.raises(PSError) as info:
                w1.shutdown()
            assert str(info.value) == (
                "SHUTDOWN refused: SHUTDOWN needs the driver's key; worker 1's key cannot send it"
            )
            with pytest.raises(PSError) as info:
                w1.request_stop()
            assert str(info.value) == (
                "STOP refused: STOP needs the driver's key; worker 1's key cannot send it"
            )
            for name in ("loxodon/next_epoch", "loxodon/data/0/train/0", "sel/3/archive"):
                with pytest.raises(PSError) as info:
                    w1.put_blob(name, b"x")
                assert str(info.value) == (
                    f"PUT_BLOB refused: blob '{name}' is reserved: worker 1's key may not write it"
                )
            with pytest.raises(PSError) as info:
                w1.put_blob("loxodon/final_model", b"x")
            assert str(info.value) == (
                "PUT_BLOB refused: blob 'loxodon/final_model' is written by worker 0 only, "
                "not by worker 1"
            )
            w1.put_blob("loxodon/worker/1/state", b"mine")  # its own namespace
            w1.put_blob("user-blob", b"u")  # names outside the reserved prefixes
            assert w1.stats()["stopRequested"] is False  # the connection survived every ERROR
        with ps.connect_as(0, timeout=10) as w0:
            w0.put_blob("loxodon/initialized", b"1")
            with pytest.raises(PSError) as info:
                w0.put_blob("loxodon/initialized", b"2")
            assert str(info.value) == (
                "PUT_BLOB refused: blob 'loxodon/initialized' is written once; it already exists"
            )
            w0.put_blob("loxodon/final_model", b"model")
            w0.put_blob("loxodon/final_model", b"model2")  # a retried stage publishes again
            assert bytes(w0.get_blob("loxodon/worker/1/state")) == b"mine"
        assert ps.running
        with ps.connect() as driver:  # the driver's key may do all of it
            driver.put_blob("loxodon/next_epoch", b"3")
            driver.request_stop()
            assert driver.stats()["stopRequested"] is True


def test_a_worker_key_speaks_only_for_its_worker(spark: SparkSession) -> None:
    with loxodon.start_parameter_server(spark, 2, 10) as ps, ps.connect_as(0, timeout=10) as w0:
        w0.push(np.ones(10, np.float32))
        w0.worker = 1  # the same connection now names worker 1 in its frames
        with pytest.raises(PSError) as info:
            w0.push(np.ones(10, np.float32))
        assert str(info.value) == (
            "PUSH refused: this connection holds worker 0's key and cannot speak for worker 1"
        )
        w0.worker = 0
        np.testing.assert_array_equal(w0.pull(), np.ones(10, np.float32))
        # Worker 1's key does not open a connection that names worker 0, nor the driver.
        for worker in (0, -1):
            with pytest.raises(PSError, match="refused this client's key"):
                PSClient(
                    ps.address.host,
                    ps.address.port,
                    ps.worker_address(1).secret,
                    worker=worker,
                    timeout=10,
                )


def test_blob_store_cap(spark: SparkSession) -> None:
    with (
        loxodon.start_parameter_server(spark, 1, 10, max_blob_bytes=1000) as ps,
        ps.connect_as(0, timeout=10) as w0,
    ):
        w0.put_blob("a", b"x" * 600)
        with pytest.raises(PSError) as info:
            w0.put_blob("b", b"y" * 600)
        assert str(info.value) == (
            "blob 'b' (600 bytes) would bring the blob store to 1200 bytes, over its cap of "
            "1000 bytes (spark.loxodon.ps.maxBlobBytes)"
        )
        w0.put_blob("a", b"z" * 1000)  # replacing a blob counts only the difference
        assert bytes(w0.get_blob("a")) == b"z" * 1000
        with pytest.raises(PSError, match="no blob named 'b'"):
            w0.get_blob("b")


def test_malformed_epoch_reports_are_errors_naming_the_worker(spark: SparkSession) -> None:
    with loxodon.start_parameter_server(spark, 2, 10) as ps, ps.connect_as(1, timeout=10) as w1:
        with pytest.raises(PSError) as info:
            w1.epoch_end(4, {"samples": 32, "seconds": 0.5, "loss": 1.0})
        assert str(info.value) == (
            "EPOCH_END of epoch 4 from worker 1: the report lacks the numbers rows"
        )
        with pytest.raises(PSError) as info:
            w1.epoch_end(4, {"rows": "8", "samples": 32, "seconds": 0.5})
        assert str(info.value) == (
            "EPOCH_END of epoch 4 from worker 1: the report lacks the numbers rows"
        )
        w1._send(Op.EPOCH_END, b"[1, 2]", round=4)
        with pytest.raises(PSError) as info:
            w1._expect_ok_bytes()
        assert str(info.value) == (
            "EPOCH_END of epoch 4 from worker 1: the report is not a JSON object"
        )
        w1._send(Op.EPOCH_END, b"{rows:", round=4)
        with pytest.raises(PSError, match=r"^EPOCH_END of epoch 4 from worker 1: the report is "):
            w1._expect_ok_bytes()
        assert ps.stats()["openEpochs"] == 0  # nothing reached the epoch gate


@pytest.mark.parametrize("tls", [False, True])
def test_round_trip_in_clear_and_over_tls(spark: SparkSession, tls: bool) -> None:
    with loxodon.start_parameter_server(spark, 1, 1000, tls=tls) as ps:
        assert (ps.address.tls_sha256 is not None) == tls
        with ps.connect_as(0, timeout=10) as w0:
            delta = np.arange(1000, dtype=np.float32)
            assert w0.push(delta) == 1
            np.testing.assert_array_equal(w0.pull(), delta)
            w0.put_blob("big", bytes(range(256)) * 4096)
            assert bytes(w0.get_blob("big")) == bytes(range(256)) * 4096


def test_a_tls_server_refuses_clear_text_and_a_wrong_pin(spark: SparkSession) -> None:
    with loxodon.start_parameter_server(spark, 1, 10, tls=True) as ps:
        address = ps.worker_address(0)
        started = time.monotonic()
        # In clear, a client never sees the CHALLENGE: the server speaks only TLS.
        with pytest.raises((OSError, PSError)):
            PSClient(address.host, address.port, address.secret, worker=0, timeout=2)
        assert time.monotonic() - started < 10
        with pytest.raises(PinMismatch, match="not the pinned one"):
            PSClient(
                address.host, address.port, address.secret, 0, timeout=10, tls_sha256="ab" * 32
            )
        # A raw clear-text frame gets no reply in clear: the TLS layer drops the connection.
        with socket.create_connection((address.host, address.port), timeout=10) as raw:
            raw.sendall(b"\x00\x00\x00\x12" + b"\x01\x02" + b"\x00" * 16)
            try:
                data = raw.recv(64)
            except OSError:
                data = b""
            assert not data.startswith(b"\x00\x00\x00"), data  # never a protocol frame
        with address.connect(worker=0, timeout=10) as w0:  # still serving pinned clients
            assert w0.pull().shape == (10,)

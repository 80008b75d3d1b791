"""The pooled worker's end of the executor channel: its challenge, its
authentication deadline and its message bound (the JVM's end is tested in
``PythonWorkerPoolSuite``)."""

from __future__ import annotations

import hashlib
import hmac
import socket
import struct
import threading
import time

import pytest

from loxodon.contract import WORKER_AUTH_TIMEOUT_S
from loxodon.worker.__main__ import NONCE_BYTES, authenticate
from loxodon.worker.protocol import MAX_MESSAGE_BYTES, Channel, MessageType

SECRET = bytes(range(32))


def _jvm(sock: socket.socket, secret: bytes) -> None:
    """What ``PythonWorker.connect`` does: answer the nonce with its HMAC."""
    nonce = b""
    while len(nonce) < NONCE_BYTES:
        nonce += sock.recv(NONCE_BYTES - len(nonce))
    sock.sendall(hmac.new(secret, nonce, hashlib.sha256).digest())


@pytest.mark.parametrize("secret, accepted", [(SECRET, True), (bytes(32), False)])
def test_the_worker_challenges_and_checks_the_answer(secret: bytes, accepted: bool) -> None:
    worker_end, jvm_end = socket.socketpair()
    with jvm_end:
        thread = threading.Thread(target=_jvm, args=(jvm_end, secret))
        thread.start()
        sock = authenticate(worker_end, SECRET, None, timeout=5.0)
        thread.join(5)
        assert (sock is not None) == accepted
        if sock is None:
            assert worker_end.fileno() == -1  # dropped
        else:
            assert sock.gettimeout() is None  # a lease then waits on the JVM's own deadlines
            sock.close()


def test_the_answer_is_never_the_raw_secret() -> None:
    worker_end, jvm_end = socket.socketpair()
    with jvm_end:
        jvm_end.sendall(SECRET)  # the old protocol's proof: the secret itself
        assert authenticate(worker_end, SECRET, None, timeout=5.0) is None


def test_a_silent_connection_is_dropped_at_the_deadline() -> None:
    worker_end, jvm_end = socket.socketpair()
    with jvm_end:
        started = time.monotonic()
        assert authenticate(worker_end, SECRET, None, timeout=0.5) is None
        waited = time.monotonic() - started
    assert 0.4 <= waited < 3.0
    assert 1.0 <= WORKER_AUTH_TIMEOUT_S <= 60.0  # the deadline a pooled worker uses


def test_a_message_over_the_bound_is_refused_before_it_is_read() -> None:
    a, b = socket.socketpair()
    channel = Channel(a)
    try:
        b.sendall(struct.pack(">iB", MAX_MESSAGE_BYTES + 2, int(MessageType.TASK)))
        with pytest.raises(ValueError) as info:
            channel.read()
        assert str(info.value) == (
            f"a message of {MAX_MESSAGE_BYTES + 1} bytes from the JVM is outside the channel's "
            f"bound of 0 to {MAX_MESSAGE_BYTES} bytes"
        )
        b.sendall(struct.pack(">iB", 0, int(MessageType.TASK)))
        with pytest.raises(ValueError, match="a message of -1 bytes"):
            channel.read()
    finally:
        channel.close()
        b.close()

"""Entry point of a pooled worker: announce the port, then serve leases one at
a time until the executor JVM closes our stdin or kills us.

Each lease starts with a handshake bounded by ``WORKER_AUTH_TIMEOUT_S``: TLS
(this end as the TLS client, pinning the pool certificate's fingerprint) when
the JVM set ``LOXODON_WORKER_TLS_SHA256``, then a 32-byte challenge answered
with HMAC-SHA256(secret, nonce). A connection that fails or stays silent is
dropped and the worker accepts the next one.

TensorFlow is imported once here, before the first lease, and stays loaded
for every task and fit the process serves.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import socket
import ssl
import sys
import threading
import traceback

from loxodon import __version__, pinned_tls
from loxodon.contract import WORKER_AUTH_TIMEOUT_S
from loxodon.worker.protocol import Channel, ConnectionLost, MessageType

SECRET_ENV = "LOXODON_WORKER_SECRET"
THREADS_ENV = "LOXODON_WORKER_THREADS"
TLS_ENV = "LOXODON_WORKER_TLS_SHA256"
NONCE_BYTES = 32


def _watch_stdin() -> None:
    """Exit when the JVM that spawned us goes away (its end of stdin closes)."""
    sys.stdin.buffer.read()
    os._exit(0)


def authenticate(
    conn: socket.socket, secret: bytes, tls_sha256: str | None, timeout: float
) -> socket.socket | None:
    """The lease's socket once the JVM proved the secret (TLS first when
    ``tls_sha256``); None, with ``conn`` closed, if it did not within ``timeout``."""
    conn.settimeout(timeout)
    try:
        sock = pinned_tls.wrap(conn, tls_sha256) if tls_sha256 else conn
        nonce = secrets.token_bytes(NONCE_BYTES)
        sock.sendall(nonce)
        proof = b""
        while len(proof) < NONCE_BYTES:
            chunk = sock.recv(NONCE_BYTES - len(proof))
            if not chunk:
                break
            proof += chunk
    except (OSError, ssl.SSLError):  # a timeout, a reset, a failed or mismatched handshake
        conn.close()
        return None
    expected = hmac.new(secret, nonce, hashlib.sha256).digest()
    if not hmac.compare_digest(proof, expected):
        sock.close()
        return None
    sock.settimeout(None)
    return sock


def _serve_one(conn: socket.socket, secret: bytes, tls_sha256: str | None) -> None:
    sock = authenticate(conn, secret, tls_sha256, WORKER_AUTH_TIMEOUT_S)
    if sock is None:
        return
    channel = Channel(sock)
    try:
        from loxodon.worker.tasks import run_task

        spec = channel.read_json(MessageType.TASK)
        run_task(channel, spec)
    except ConnectionLost:
        pass
    except BaseException as exc:  # report everything, including KeyboardInterrupt
        with contextlib.suppress(OSError):
            channel.write_json(
                MessageType.ERROR,
                {
                    "type": type(exc).__name__,
                    "message": str(exc),
                    "traceback": traceback.format_exc(),
                },
            )
    finally:
        channel.close()


def main() -> None:
    secret_hex = os.environ.get(SECRET_ENV)
    if not secret_hex:
        sys.exit(f"{SECRET_ENV} is not set: this process is started by Loxodon's executor pool")
    secret = bytes.fromhex(secret_hex)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Tasks with a fractional spark.task.resource.gpu.amount share a GPU between workers:
    # each takes memory as it needs it instead of all of it at start.
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    import tensorflow as tf  # once per process, before the first lease

    threads = int(os.environ.get(THREADS_ENV, "0"))
    if threads > 0:
        # One worker per task slot: TF's default of one thread per core would
        # oversubscribe the executor when several workers share it.
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, threads))
    import loxodon.worker.tasks  # noqa: F401  Keras too, before the first lease

    server = socket.create_server(("127.0.0.1", 0))
    hello = {
        "port": server.getsockname()[1],
        "pid": os.getpid(),
        "python": ".".join(map(str, sys.version_info[:3])),
        "executable": sys.executable,
        "loxodon": __version__,
    }
    print("LOXODON_WORKER " + json.dumps(hello), flush=True)
    threading.Thread(target=_watch_stdin, daemon=True).start()
    while True:
        conn, _ = server.accept()
        _serve_one(conn, secret, os.environ.get(TLS_ENV) or None)


if __name__ == "__main__":
    main()

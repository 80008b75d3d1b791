"""Entry point of a pooled worker: announce the port, then serve leases one at
a time until the executor JVM closes our stdin or kills us.

TensorFlow is imported once here, before the first lease, and stays loaded
for every task and fit the process serves.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import socket
import sys
import threading
import traceback

from loxodon import __version__
from loxodon.worker.protocol import Channel, ConnectionLost, MessageType

SECRET_ENV = "LOXODON_WORKER_SECRET"
THREADS_ENV = "LOXODON_WORKER_THREADS"


def _watch_stdin() -> None:
    """Exit when the JVM that spawned us goes away (its end of stdin closes)."""
    sys.stdin.buffer.read()
    os._exit(0)


def _serve_one(conn: socket.socket, secret: bytes) -> None:
    conn.settimeout(None)
    proof = b""
    while len(proof) < len(secret):
        chunk = conn.recv(len(secret) - len(proof))
        if not chunk:
            return
        proof += chunk
    if not hmac.compare_digest(proof, secret):
        conn.close()
        return
    channel = Channel(conn)
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
        _serve_one(conn, secret)


if __name__ == "__main__":
    main()

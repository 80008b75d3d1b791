"""Driver-side handle of a parameter server running in the Spark driver's JVM.

The server itself is Scala (``loxodon.ps.ParameterServer``); this wrapper
starts it through the Py4J doorway, publishes the address and the keys that
the driver and each worker need, and stops it on every path (use it as a
context manager).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyspark.sql import SparkSession

from loxodon._jvm import java_session, python_api
from loxodon.ps_client import PSClient, as_f32


@dataclass(frozen=True)
class ServerAddress:
    """What a worker needs to reach the server; safe to ship in a Spark closure."""

    host: str
    port: int
    secret: str
    """The key this address authenticates with: the driver's, or one worker's."""
    tls_sha256: str | None = None

    def connect(self, worker: int = -1, timeout: float = 120.0) -> PSClient:
        return PSClient(
            self.host, self.port, self.secret, worker, timeout, tls_sha256=self.tls_sha256
        )


class ParameterServer:
    """A running parameter server; ``close()`` (or ``with``) stops it."""

    def __init__(self, java_server: Any) -> None:
        self._java = java_server
        self.address = ServerAddress(
            host=java_server.host(),
            port=int(java_server.port()),
            secret=java_server.driverKeyHex(),
            tls_sha256=java_server.tlsSha256(),
        )

    def worker_address(self, worker: int) -> ServerAddress:
        """The address with worker ``worker``'s own key (what its TASK spec carries)."""
        return ServerAddress(
            self.address.host,
            self.address.port,
            str(self._java.workerKeyHex(worker)),
            self.address.tls_sha256,
        )

    def __enter__(self) -> ParameterServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return bool(self._java.isRunning())

    def connect(self, worker: int = -1, timeout: float = 120.0) -> PSClient:
        """A client with the driver's key, speaking for ``worker`` (-1: the driver)."""
        return self.address.connect(worker, timeout)

    def connect_as(self, worker: int, timeout: float = 120.0) -> PSClient:
        """A client holding worker ``worker``'s own key, as a training task does."""
        return self.worker_address(worker).connect(worker, timeout)

    def set_center(self, vector: np.ndarray) -> None:
        """Replace the center vector (sent over the wire, not through Py4J)."""
        with self.connect() as client:
            current = client.pull()
            client.push(as_f32(vector) - current)

    def center(self) -> np.ndarray:
        """A copy of the current center vector."""
        with self.connect() as client:
            return client.pull()

    def stats(self) -> dict[str, Any]:
        return json.loads(self._java.statsJson())

    def request_stop(self) -> None:
        self._java.requestStop()

    def close(self) -> None:
        self._java.close()


def start_parameter_server(
    spark: SparkSession,
    num_workers: int,
    num_params: int,
    *,
    layout: dict[str, Any] | None = None,
    sync_timeout: float = 60.0,
    max_frame_bytes: int = 1 << 30,
    easgd_alpha: float = 0.1,
    max_blob_bytes: int = 0,
    tls: bool | None = None,
) -> ParameterServer:
    """Start a parameter server for one job in the driver JVM.

    It binds to the driver host of Spark's config on the port
    ``spark.loxodon.ps.port`` names (any free one by default); every blocking
    sync round fails after ``sync_timeout`` seconds naming the workers it is
    missing. ``max_blob_bytes`` caps the blob store (0: ``spark.loxodon.ps.maxBlobBytes``
    or the driver's max heap); ``tls`` forces TLS on or off (None: on when Spark
    encrypts, see README "Networking").
    """
    if num_workers < 1:
        raise ValueError(f"num_workers must be at least 1, got {num_workers}")
    if num_params < 1:
        raise ValueError(f"num_params must be at least 1, got {num_params}")
    if 4 * num_params + 64 > max_frame_bytes:
        raise ValueError(
            f"{num_params} float32 parameters need frames of {4 * num_params} bytes, over "
            f"max_frame_bytes={max_frame_bytes}: raise max_frame_bytes"
        )
    java_server = python_api(spark).startParameterServer(
        java_session(spark),
        int(num_workers),
        int(num_params),
        json.dumps(layout or {}),
        int(sync_timeout * 1000),
        int(max_frame_bytes),
        float(easgd_alpha),
        int(max_blob_bytes),
        "" if tls is None else str(bool(tls)).lower(),
    )
    return ParameterServer(java_server)

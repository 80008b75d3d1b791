"""Ring all-reduce among a synchronous fit's workers, over TCP connections between
them (docs/design.md, "Synchronous transport").

Each worker listens on the interface it reaches the parameter server by, publishes
``host:port`` as a blob of the fit's server, and after the setup round connects to
the next worker in rank order and accepts the previous one (an HMAC of the job's
secret proves a peer). A vector is cut into N chunks; N-1 reduce-scatter steps
leave worker r with chunk r+1 summed over all workers, N-1 all-gather steps hand
every worker every summed chunk. Each chunk is summed once, by its owner, then
copied: the result is bit-identical on every worker. Per worker and reduction,
2(N-1)/N of the vector goes out (the parameter-server path moves a whole vector
each way through the driver). Chunks may travel as float16 or bfloat16: sums are
kept in float32 and rounded for the wire at every hop; the owner rounds its own
copy too, so workers stay identical.

A reduction may also run on a background thread (:meth:`Ring.start`, :meth:`Ring.finish`):
the synchronous step starts each bucket of its gradient as soon as the backward pass has
produced it and waits for all of them before applying. That thread takes the buckets in
the order they were started, which the traced step makes the same on every worker.
"""

from __future__ import annotations

import hashlib
import hmac
import queue
import socket
import struct
import threading
import time
from typing import Any

import numpy as np

WIRE_DTYPES = ("float32", "float16", "bfloat16")
_RANK = struct.Struct(">i")


def wire_dtype(name: str) -> np.dtype:
    if name not in WIRE_DTYPES:
        raise ValueError(f"unknown all-reduce wire type {name!r}; choose one of {WIRE_DTYPES}")
    if name == "bfloat16":
        import ml_dtypes  # installed with TensorFlow

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def listen(host: str) -> socket.socket:
    """A listening socket on ``host``, port chosen by the system."""
    return socket.create_server((host, 0), backlog=8)


def _proof(secret: bytes, ring_id: str, rank: int) -> bytes:
    return hmac.new(secret, f"loxodon-ring/{ring_id}/{rank}".encode(), hashlib.sha256).digest()


def _recv_into(sock: socket.socket, view: memoryview) -> None:
    while view.nbytes:
        n = sock.recv_into(view)
        if n == 0:
            raise ConnectionError("an all-reduce peer closed its connection")
        view = view[n:]


class Ring:
    """This worker's place in the ring: a connection to the next rank, one from the
    previous, and a sender thread so that each step sends and receives at once."""

    def __init__(
        self,
        rank: int,
        addresses: list[str],
        listener: socket.socket | None,
        secret: bytes,
        ring_id: str,
        timeout: float = 600.0,
        dtype: str = "float32",
    ) -> None:
        self.rank, self.size = rank, len(addresses)
        self.wire = wire_dtype(dtype)
        self.bytes_sent = 0
        self.wait_seconds = 0.0  # in all-reductions: sending, receiving, adding
        self._next: socket.socket | None = None
        self._prev: socket.socket | None = None
        self._outbox: queue.Queue[Any] = queue.Queue()
        self._sent: queue.Queue[BaseException | None] = queue.Queue()
        self._timeout = timeout
        self.reductions = 0  # allreduce_mean calls: one a step, or one a bucket
        self._todo: queue.Queue[np.ndarray | None] = queue.Queue()
        self._done: queue.Queue[np.ndarray | BaseException] = queue.Queue()
        self._reducer: threading.Thread | None = None
        if self.size > 1:
            if listener is None:
                raise ValueError("a ring of more than one worker needs a listening socket")
            self._connect(addresses, listener, secret, ring_id, timeout)
            threading.Thread(target=self._send_loop, daemon=True).start()

    @classmethod
    def alone(cls, dtype: str = "float32") -> Ring:
        """The ring of a fit with one worker: its gradient is the mean, nothing is sent."""
        return cls(0, [""], None, b"", "", dtype=dtype)

    def _connect(
        self,
        addresses: list[str],
        listener: socket.socket,
        secret: bytes,
        ring_id: str,
        timeout: float,
    ) -> None:
        host, port = addresses[(self.rank + 1) % self.size].rsplit(":", 1)
        self._next = socket.create_connection((host, int(port)), timeout=timeout)
        self._next.sendall(_RANK.pack(self.rank) + _proof(secret, ring_id, self.rank))
        expected = (self.rank - 1) % self.size
        deadline = time.monotonic() + timeout
        while self._prev is None:
            listener.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                conn, _ = listener.accept()
            except TimeoutError as exc:
                raise TimeoutError(
                    f"all-reduce worker {expected} did not connect to worker {self.rank} "
                    f"within {timeout:.0f} s"
                ) from exc
            conn.settimeout(timeout)
            hello = bytearray(_RANK.size + 32)
            try:
                _recv_into(conn, memoryview(hello))
            except (ConnectionError, TimeoutError):
                conn.close()
                continue
            (rank,) = _RANK.unpack_from(hello)
            if rank == expected and hmac.compare_digest(
                bytes(hello[_RANK.size :]), _proof(secret, ring_id, rank)
            ):
                self._prev = conn
            else:
                conn.close()
        for s in (self._next, self._prev):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send_loop(self) -> None:
        while True:
            data = self._outbox.get()
            if data is None:
                return
            try:
                assert self._next is not None
                self._next.sendall(data)
                self._sent.put(None)
            except BaseException as exc:  # handed to the reducing thread
                self._sent.put(exc)

    def _exchange(self, out: np.ndarray, into: np.ndarray) -> None:
        """Send ``out`` to the next rank while receiving ``into`` from the previous."""
        self._outbox.put(memoryview(out.view(np.uint8)))  # bfloat16 has no buffer format
        self.bytes_sent += out.nbytes
        assert self._prev is not None
        _recv_into(self._prev, memoryview(into.view(np.uint8)))
        error = self._sent.get()
        if error is not None:
            raise error

    def allreduce_mean(self, vector: np.ndarray) -> np.ndarray:
        """The mean of every worker's ``vector`` (float32, the same length everywhere),
        identical bits on every worker; ``vector`` is overwritten with it."""
        self.reductions += 1
        if self.size == 1:
            return vector
        started = time.perf_counter()
        n, r = self.size, self.rank
        bounds = np.linspace(0, vector.size, n + 1).astype(np.int64)
        chunk = [vector[bounds[i] : bounds[i + 1]] for i in range(n)]
        largest = int(np.max(np.diff(bounds)))
        inbox = np.empty(largest, self.wire)
        lossy = self.wire != np.float32
        for s in range(n - 1):  # reduce-scatter
            send, recv = chunk[(r - s) % n], chunk[(r - s - 1) % n]
            self._exchange(send.astype(self.wire) if lossy else send, inbox[: recv.size])
            recv += inbox[: recv.size].astype(np.float32) if lossy else inbox[: recv.size]
        owned = chunk[(r + 1) % n]
        if lossy:
            owned[:] = owned.astype(self.wire).astype(np.float32)
        for s in range(n - 1):  # all-gather
            send, recv = chunk[(r + 1 - s) % n], chunk[(r - s) % n]
            self._exchange(send.astype(self.wire) if lossy else send, inbox[: recv.size])
            recv[:] = inbox[: recv.size]
        vector /= np.float32(n)
        self.wait_seconds += time.perf_counter() - started
        return vector

    def start(self, vector: np.ndarray) -> None:
        """Begin ``allreduce_mean(vector)`` on the ring's reducing thread and return at
        once; :meth:`finish` hands the results over in the same order. Reductions run
        one at a time, in the order started: every worker must start the same
        vectors in the same order."""
        if self._reducer is None:
            self._reducer = threading.Thread(target=self._reduce_loop, daemon=True)
            self._reducer.start()
        self._todo.put(vector)

    def finish(self, count: int) -> list[np.ndarray]:
        """The means of the next ``count`` vectors :meth:`start` was given, in order;
        an error of the ring (or none within its timeout) is raised here."""
        deadline = time.monotonic() + self._timeout
        results = []
        for _ in range(count):
            try:
                result = self._done.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(
                    f"all-reduce worker {self.rank}: a bucket's reduction did not finish "
                    f"within {self._timeout:.0f} s"
                ) from None
            if isinstance(result, BaseException):
                raise result
            results.append(result)
        return results

    def _reduce_loop(self) -> None:
        failed: BaseException | None = None
        while (vector := self._todo.get()) is not None:
            if failed is None:  # after an error the ring's position is lost: fail the rest
                try:
                    self._done.put(self.allreduce_mean(vector))
                    continue
                except BaseException as exc:
                    failed = exc
            self._done.put(failed)

    def close(self) -> None:
        self._todo.put(None)
        self._outbox.put(None)
        for s in (self._next, self._prev):
            if s is not None:
                s.close()

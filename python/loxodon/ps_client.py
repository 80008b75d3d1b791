"""Binary client of the parameter server (wire protocol v1, docs/design.md).

Vectors travel as little-endian float32: outgoing arrays are handed to the
socket as memoryviews and incoming ones are received straight into NumPy
buffers, so a 40 MB pull or push makes no intermediate copy and no pickle.
One request is in flight per client; every socket wait has a deadline.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import socket
import struct
import time
from typing import Any

import numpy as np

from loxodon import pinned_tls
from loxodon.contract import FLAGS, OPS, PROTOCOL_VERSION, header_format
from loxodon.pages import small_pages

_HEADER = struct.Struct(header_format())  # length, version, op, flags, worker, round, keyLen
_HEADER_AFTER_LENGTH = _HEADER.size - 4
_FLAG_STOP = FLAGS["STOP"]
_F32 = np.dtype("<f4")

Op = enum.IntEnum("Op", OPS)
"""Operation codes, owned by Scala's ``loxodon.ps.Op`` (read from ``contract.json``)."""


class PSError(RuntimeError):
    """An ERROR reply from the parameter server, or a broken connection."""


def as_f32(vector: np.ndarray) -> np.ndarray:
    """The vector as contiguous little-endian float32 (no copy if it already is)."""
    return np.ascontiguousarray(vector, dtype=_F32).reshape(-1)


class PSClient:
    """A connection to one parameter server, speaking for one worker.

    >>> with PSClient(host, port, secret_hex, worker=0) as ps:
    ...     ps.register()
    ...     center = ps.pull()
    ...     ps.push(delta)
    """

    def __init__(
        self,
        host: str,
        port: int,
        secret: str | bytes,
        worker: int = -1,
        timeout: float = 120.0,
        tls_sha256: str | None = None,
    ) -> None:
        self.worker = worker
        self.stop_requested = False
        self.num_params: int | None = None
        self.num_workers: int | None = None
        self.layout: dict[str, Any] | None = None
        # What this connection cost: frame bytes each way, and the seconds spent sending and
        # waiting for replies (the rest of a worker's step is its own computation).
        self.bytes_sent = 0
        self.bytes_received = 0
        self.wait_seconds = 0.0
        self._secret = bytes.fromhex(secret) if isinstance(secret, str) else secret
        self._header_buf = bytearray(_HEADER.size)
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._tls = tls_sha256 or None
        if self._tls:
            self._sock = pinned_tls.wrap(self._sock, self._tls)
        try:
            self._handshake()
        except BaseException:
            self._sock.close()
            raise

    @classmethod
    def for_job(cls, job: Any, worker: int = -1, timeout: float = 120.0) -> PSClient:
        """The driver's client of a running job's server (a Py4J ``JobHandle``):
        the driver's key, and TLS when the server speaks it."""
        return cls(
            str(job.psHost()),
            int(job.psPort()),
            str(job.psDriverKeyHex()),
            worker=worker,
            timeout=timeout,
            tls_sha256=job.psTlsSha256(),
        )

    @classmethod
    def from_spec(cls, ps_spec: dict[str, Any], worker: int, timeout: float = 120.0) -> PSClient:
        """Worker ``worker``'s client, from the ``ps`` object of its TASK spec
        (its own key, never the driver's)."""
        return cls(
            ps_spec["host"],
            int(ps_spec["port"]),
            ps_spec["secret"],
            worker=worker,
            timeout=timeout,
            tls_sha256=ps_spec.get("tls_sha256"),
        )

    # -- connection -------------------------------------------------------------
    def close(self) -> None:
        self._sock.close()

    @property
    def peer(self) -> str:
        """``host:port`` of the server this client is connected to."""
        host, port = self._sock.getpeername()[:2]
        return f"{host}:{port}"

    @property
    def tls(self) -> bool:
        """Whether this connection is TLS (the server's certificate pinned)."""
        return self._tls is not None

    @property
    def local_address(self) -> str:
        """This end's IP address (the interface the route to the server leaves by)."""
        return str(self._sock.getsockname()[0])

    def __enter__(self) -> PSClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _handshake(self) -> None:
        op, _, _, _, payload_len = self._read_header()
        if op != Op.CHALLENGE:
            raise PSError(f"expected CHALLENGE from the server, got op {op}")
        nonce = self._read_bytes(payload_len)
        mac = hmac.new(self._secret, nonce, hashlib.sha256).digest()
        try:
            self._send(Op.AUTH, payload=mac)
            self._expect_ok_bytes()
        except (ConnectionError, PSError) as exc:
            raise PSError(
                f"the parameter server refused this client's key (worker {self.worker})"
            ) from exc

    # -- framing ----------------------------------------------------------------
    def _send(
        self,
        op: Op,
        payload: bytes | memoryview | np.ndarray = b"",
        round: int = 0,
        key: str = "",
        tail: bytes | memoryview = b"",
    ) -> None:
        """Sends one frame; ``tail`` follows ``payload`` in it, with no copy to join them."""
        key_bytes = key.encode()
        body = memoryview(payload).cast("B") if len(payload) else memoryview(b"")
        after = memoryview(tail).cast("B") if len(tail) else memoryview(b"")
        header = _HEADER.pack(
            _HEADER_AFTER_LENGTH + len(key_bytes) + body.nbytes + after.nbytes,
            PROTOCOL_VERSION,
            int(op),
            0,
            self.worker,
            round,
            len(key_bytes),
        )
        buffers = [b for b in (memoryview(header + key_bytes), body, after) if b.nbytes]
        self.bytes_sent += sum(b.nbytes for b in buffers)
        started = time.perf_counter()
        while buffers:
            # An SSLSocket has no sendmsg: it encrypts one buffer at a time anyway.
            sent = self._sock.sendmsg(buffers) if self._tls is None else self._sock.send(buffers[0])
            while buffers and sent >= buffers[0].nbytes:
                sent -= buffers[0].nbytes
                buffers.pop(0)
            if buffers and sent:
                buffers[0] = buffers[0][sent:]
        self.wait_seconds += time.perf_counter() - started

    def _recv_into(self, view: memoryview) -> None:
        got = 0
        started = time.perf_counter()
        try:
            while got < view.nbytes:
                n = self._sock.recv_into(view[got:])
                if n == 0:
                    raise PSError("the parameter server closed the connection")
                got += n
        finally:
            self.bytes_received += got
            self.wait_seconds += time.perf_counter() - started

    def _read_bytes(self, n: int) -> bytes:
        buf = bytearray(n)
        self._recv_into(memoryview(buf))
        return bytes(buf)

    def _read_header(self) -> tuple[int, int, int, str, int]:
        """Read one reply header; returns (op, flags, round, key, payload length)."""
        self._recv_into(memoryview(self._header_buf))
        length, version, op, flags, _worker, rnd, key_len = _HEADER.unpack(self._header_buf)
        if version != PROTOCOL_VERSION:
            raise PSError(
                f"server speaks protocol version {version}, this client {PROTOCOL_VERSION}"
            )
        key = self._read_bytes(key_len).decode() if key_len else ""
        self.stop_requested = self.stop_requested or bool(flags & _FLAG_STOP)
        return op, flags, rnd, key, length - _HEADER_AFTER_LENGTH - key_len

    def _reply(self) -> int:
        """Read a reply header; raise on ERROR; return the payload length of an OK."""
        op, _, _, _, payload_len = self._read_header()
        if op == Op.ERROR:
            raise PSError(self._read_bytes(payload_len).decode(errors="replace"))
        if op != Op.OK:
            raise PSError(f"unexpected reply op {op}")
        return payload_len

    def _expect_ok_bytes(self) -> bytes:
        return self._read_bytes(self._reply())

    def _expect_vector(self, out: np.ndarray | None) -> np.ndarray:
        n = self._reply()
        if n % 4:
            raise PSError(f"vector reply of {n} bytes is not a float32 vector")
        if out is None or out.nbytes != n:
            out = np.empty(n // 4, dtype=_F32)
        self._recv_into(memoryview(out).cast("B"))
        return out

    # -- operations -------------------------------------------------------------
    def register(
        self, num_params: int | None = None, layout: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Announce this worker; returns the job's ``num_params``, ``num_workers``, ``layout``.

        A server started without a size adopts the first registrant's
        ``num_params`` and ``layout``; later registrants must match it.
        """
        payload = b""
        if num_params is not None:
            payload = struct.pack(">q", num_params) + json.dumps(layout or {}).encode()
        self._send(Op.REGISTER, payload)
        reply = self._expect_ok_bytes()
        self.num_params, self.num_workers = struct.unpack_from(">qi", reply)
        text = reply[12:].decode()
        self.layout = json.loads(text) if text else {}
        return {
            "num_params": self.num_params,
            "num_workers": self.num_workers,
            "layout": self.layout,
        }

    def pull(self, out: np.ndarray | None = None) -> np.ndarray:
        """The center vector, received into ``out`` when it has the right size."""
        self._send(Op.PULL)
        return self._expect_vector(out)

    def push(self, delta: np.ndarray) -> int:
        """Add ``delta`` to the center under the server's lock; returns the update count."""
        self._send(Op.PUSH, as_f32(delta))
        return struct.unpack(">q", self._expect_ok_bytes())[0]

    def push_hogwild(self, delta: np.ndarray) -> int:
        """Add ``delta`` to the center without a lock (Hogwild!); returns the update count."""
        self._send(Op.PUSH_HOGWILD, as_f32(delta))
        return struct.unpack(">q", self._expect_ok_bytes())[0]

    def push_adag(self, delta: np.ndarray, steps: int) -> int:
        """ADAG: add ``delta / steps`` (the local steps it accumulates) to the center under the
        lock; returns the update count."""
        self._send(Op.PUSH_ADAG, as_f32(delta), round=steps)
        return struct.unpack(">q", self._expect_ok_bytes())[0]

    def push_dynsgd(self, delta: np.ndarray) -> int:
        """DynSGD: add ``delta / (1 + staleness)`` to the center under the lock, staleness being
        the updates applied since this worker's last :meth:`pull`; returns the update count."""
        self._send(Op.PUSH_DYNSGD, as_f32(delta))
        return struct.unpack(">q", self._expect_ok_bytes())[0]

    def claim_shard(self, round: int) -> int:
        """The next shard this worker trains in the pass ``round`` (a fit with a parallelism
        factor): its own first, then a slower worker's; -1 once every shard is claimed."""
        self._send(Op.CLAIM_SHARD, round=round)
        return struct.unpack(">i", self._expect_ok_bytes())[0]

    def sync(self, round: int, vector: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Send ``vector`` for sync round ``round``; returns the mean over all workers."""
        self._send(Op.SYNC, as_f32(vector), round=round)
        return self._expect_vector(out)

    def easgd(self, weights: np.ndarray, round: int = -1) -> np.ndarray:
        """Elastic-averaging exchange: returns e = alpha (x - center); subtract it from x.
        With ``round >= 0`` all workers exchange together (synchronous EASGD)."""
        self._send(Op.EASGD, as_f32(weights), round=round)
        return self._expect_vector(None)

    def put_blob(self, name: str, data: bytes | memoryview) -> None:
        """Store a named blob (e.g. a model's weights and optimizer state)."""
        self._send(Op.PUT_BLOB, data, key=name)
        self._expect_ok_bytes()

    def get_blob(self, name: str) -> bytearray:
        """Fetch a named blob (received straight into a new buffer, no further
        copy); raises :class:`PSError` if it is absent."""
        self._send(Op.GET_BLOB, key=name)
        buf = bytearray(self._reply())
        self._recv_into(memoryview(buf))
        return buf

    def get_blob_into(self, name: str, out: np.ndarray | None) -> tuple[np.ndarray, int]:
        """Fetch a named blob into ``out`` (uint8; a new one when None or too small);
        returns the buffer holding it and its length. Reusing one buffer for many
        blobs touches its memory once, not once per blob (a new one is in small pages,
        :mod:`loxodon.pages`)."""
        self._send(Op.GET_BLOB, key=name)
        n = self._reply()
        if out is None or out.nbytes < n:
            out = small_pages(n)
        self._recv_into(memoryview(out)[:n])
        return out, n

    def stats(self) -> dict[str, Any]:
        """The server's counters (updates, bytes, per-worker requests, rounds)."""
        self._send(Op.STATS)
        return json.loads(self._expect_ok_bytes().decode())

    def request_stop(self) -> None:
        """Raise the job's stop flag; every later reply carries it."""
        self._send(Op.STOP)
        self._expect_ok_bytes()

    def epoch_end(self, epoch: int, report: dict[str, Any]) -> None:
        """Report this worker's epoch metrics and wait until the driver releases
        the epoch (its callbacks have run); then :attr:`stop_requested` says
        whether the fit ends here."""
        self._send(Op.EPOCH_END, json.dumps(report).encode(), round=epoch)
        self._expect_ok_bytes()

    def next_unit(
        self, report: dict[str, Any], blob_name: str = "", blob: bytes | memoryview = b""
    ) -> tuple[dict[str, Any], bytearray | None]:
        """Model selection: report the last unit (or ``{"hello": True}``), with the
        state it wrote (stored as ``blob_name``), and wait for the hop scheduler's
        next unit and the state it starts from (``None`` when it names none);
        ``{"kind": "stop"}`` ends the search."""
        if len(blob) and not blob_name:
            raise ValueError("a state sent with a report needs a blob name")
        text = json.dumps(report).encode()
        self._send(Op.NEXT_UNIT, struct.pack(">I", len(text)) + text, key=blob_name, tail=blob)
        n = self._reply()
        if n < 4:
            raise PSError(f"a NEXT_UNIT reply of {n} bytes lacks the unit's length")
        (size,) = struct.unpack(">I", self._read_bytes(4))
        if size > n - 4:
            raise PSError(f"a unit of {size} bytes does not fit a NEXT_UNIT reply of {n} bytes")
        unit = json.loads(self._read_bytes(size).decode())
        if n - 4 - size == 0:
            return unit, None
        state = bytearray(n - 4 - size)
        self._recv_into(memoryview(state))
        return unit, state

    def shutdown(self) -> None:
        """Ask the server to stop after replying."""
        self._send(Op.SHUTDOWN)
        self._expect_ok_bytes()

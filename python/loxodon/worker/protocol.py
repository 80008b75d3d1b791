"""Messages between an executor JVM task and its pooled Python worker.

``[int32 big-endian length][u8 type][payload]``; Arrow IPC streams follow
some messages raw on the same socket (docs/design.md, "Executor-side Python
workers"). This module frames; it knows nothing of training.
"""

from __future__ import annotations

import contextlib
import enum
import json
import socket
import ssl
import struct
from typing import Any

from loxodon.contract import WORKER_MAX_MESSAGE_BYTES, WORKER_MESSAGES

_HEAD = struct.Struct(">iB")

MAX_MESSAGE_BYTES: int = WORKER_MAX_MESSAGE_BYTES
"""The largest message payload either end accepts (Scala ``WorkerChannel.MaxMessageBytes``)."""


MessageType = enum.IntEnum("MessageType", WORKER_MESSAGES)
"""TASK, ATTACHMENT, EVENT, RESULT, ERROR: codes owned by Scala's ``WorkerChannel``."""


class ConnectionLost(ConnectionError):
    """The JVM side closed the socket (its task was killed or finished)."""


class Channel:
    """Framed messages over a connected socket, plus a file view for Arrow."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        # Arrow reads and writes IPC streams through these buffered file objects.
        self.reader = sock.makefile("rb", buffering=1 << 20)
        self.writer = sock.makefile("wb", buffering=1 << 20)

    @property
    def tls(self) -> bool:
        """Whether this lease runs over TLS (see ``loxodon.worker.__main__``)."""
        return isinstance(self.sock, ssl.SSLSocket)

    def _read_exact(self, n: int) -> bytes:
        data = self.reader.read(n)
        if data is None or len(data) < n:
            raise ConnectionLost("the JVM task closed the connection")
        return data

    def read(self) -> tuple[MessageType, bytes]:
        length, kind = _HEAD.unpack(self._read_exact(_HEAD.size))
        if length < 1 or length - 1 > MAX_MESSAGE_BYTES:
            raise ValueError(
                f"a message of {length - 1} bytes from the JVM is outside the channel's bound "
                f"of 0 to {MAX_MESSAGE_BYTES} bytes"
            )
        return MessageType(kind), self._read_exact(length - 1)

    def read_json(self, expected: MessageType) -> dict[str, Any]:
        kind, payload = self.read()
        if kind != expected:
            raise ValueError(f"expected a {expected.name} message, got {kind.name}")
        return json.loads(payload.decode())

    def read_attachment(self) -> bytes:
        kind, payload = self.read()
        if kind != MessageType.ATTACHMENT:
            raise ValueError(f"expected an ATTACHMENT message, got {kind.name}")
        return payload

    def write(self, kind: MessageType, payload: bytes) -> None:
        if len(payload) > MAX_MESSAGE_BYTES:
            raise ValueError(
                f"a {kind.name} message of {len(payload)} bytes exceeds the channel's bound of "
                f"{MAX_MESSAGE_BYTES} bytes"
            )
        self.writer.write(_HEAD.pack(len(payload) + 1, int(kind)))
        self.writer.write(payload)
        self.writer.flush()

    def write_json(self, kind: MessageType, message: dict[str, Any]) -> None:
        self.write(kind, json.dumps(message).encode())

    def close(self) -> None:
        for f in (self.reader, self.writer):
            with contextlib.suppress(OSError):
                f.close()
        self.sock.close()

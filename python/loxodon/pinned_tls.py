"""TLS client ends that pin a certificate's SHA-256 instead of checking a chain.

Loxodon's servers (the parameter server, and the executor JVM on a worker
channel) make a self-signed certificate per job or per worker pool
(Scala ``ServerTls``); its fingerprint reaches the client beside the key it
authenticates with, so matching that hash is the whole trust decision.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import ssl


class PinMismatch(ssl.SSLError):
    """The peer's certificate is not the one this client was told to expect."""


def _context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # No chain or host name to check: the fingerprint below is the check.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def wrap(sock: socket.socket, sha256_hex: str) -> ssl.SSLSocket:
    """``sock`` after a TLS handshake as the client, whose peer holds the
    certificate of fingerprint ``sha256_hex``; closes ``sock`` otherwise."""
    try:
        tls = _context().wrap_socket(sock, server_side=False)
    except BaseException:
        sock.close()
        raise
    der = tls.getpeercert(binary_form=True) or b""
    if not hmac.compare_digest(hashlib.sha256(der).hexdigest(), sha256_hex.lower()):
        tls.close()
        raise PinMismatch(
            f"the peer's TLS certificate is not the pinned one ({sha256_hex[:16]}...)"
        )
    return tls

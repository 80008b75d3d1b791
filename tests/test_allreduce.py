"""The synchronous mode's ring all-reduce (``loxodon.worker.allreduce``): three
peers in threads over loopback reduce exactly (small integers, so float32 sums in
any order are exact), every peer gets the same bits, and float16/bfloat16 on the
wire stay within their rounding of the exact mean."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from loxodon.worker.allreduce import Ring, listen

SECRET = b"s" * 32
PEERS = 3


def _reduce_all(vectors: list[np.ndarray], dtype: str = "float32", rounds: int = 1) -> list:
    listeners = [listen("127.0.0.1") for _ in vectors]
    addresses = [f"127.0.0.1:{s.getsockname()[1]}" for s in listeners]

    def peer(rank: int) -> list[np.ndarray]:
        ring = Ring(rank, addresses, listeners[rank], SECRET, "t", timeout=30, dtype=dtype)
        try:
            return [ring.allreduce_mean(vectors[rank].copy()) for _ in range(rounds)]
        finally:
            ring.close()

    with ThreadPoolExecutor(len(vectors)) as pool:
        results = [
            f.result(timeout=60) for f in [pool.submit(peer, r) for r in range(len(vectors))]
        ]
    for s in listeners:
        s.close()
    return results


@pytest.mark.parametrize("size", [1, 2, 7, 1000, 100_003])
def test_exact_mean_on_every_peer(size: int) -> None:
    rng = np.random.default_rng(size)
    # Integers times 3 (the peers), so that the mean is an integer too: exact in float32.
    vectors = [(3 * rng.integers(-50, 50, size)).astype(np.float32) for _ in range(PEERS)]
    expected = sum(v.astype(np.float64) for v in vectors) / PEERS
    results = _reduce_all(vectors, rounds=2)
    for per_peer in results:
        for got in per_peer:
            np.testing.assert_array_equal(got, expected.astype(np.float32))


@pytest.mark.parametrize(("dtype", "rtol"), [("float16", 2e-3), ("bfloat16", 2e-2)])
def test_half_precision_wire_is_close_and_identical_on_every_peer(dtype: str, rtol: float) -> None:
    rng = np.random.default_rng(7)
    vectors = [rng.uniform(0.5, 1.5, 10_001).astype(np.float32) for _ in range(PEERS)]
    expected = sum(v.astype(np.float64) for v in vectors) / PEERS
    results = [per_peer[0] for per_peer in _reduce_all(vectors, dtype)]
    for got in results:
        np.testing.assert_allclose(got, expected, rtol=rtol)
        np.testing.assert_array_equal(got, results[0])
    assert not np.array_equal(results[0], expected.astype(np.float32))  # it did round


def test_a_peer_with_another_secret_is_refused() -> None:
    listeners = [listen("127.0.0.1") for _ in range(2)]
    addresses = [f"127.0.0.1:{s.getsockname()[1]}" for s in listeners]

    def peer(rank: int) -> None:
        secret = SECRET if rank == 0 else b"x" * 32
        Ring(rank, addresses, listeners[rank], secret, "t", timeout=2)

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(peer, r) for r in range(2)]
        errors = [f.exception(timeout=30) for f in futures]
    assert all(isinstance(e, TimeoutError) for e in errors), errors
    assert "did not connect" in str(errors[0])

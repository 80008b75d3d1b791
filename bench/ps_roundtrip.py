"""Parameter-server round trips beside a raw-socket reference, in one run.

For 10k, 1M and 10M float32 parameters and 1, 2 and 4 concurrent client
processes it times (a) a pull plus a push through Loxodon's Netty server in
the driver JVM and (b) the same payload echoed by a plain Python socket server
on loopback: the physical reference, which moves the same bytes each way with
no protocol at all; (c) the PS round trip again over TLS (``tls=True``: what
``spark.network.crypto.enabled`` or ``spark.ssl.enabled`` turn on), the cost of
encryption in transit. It writes ``bench/results/ps_roundtrip.md``.

Run: ``make bench`` or ``.venv/bin/python bench/ps_roundtrip.py [--quick]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import socket
import statistics
import struct
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

import loxodon
from loxodon.parameter_server import ServerAddress
from notes import with_notes

RESULTS = Path(__file__).resolve().parent / "results" / "ps_roundtrip.md"
ROUNDS = 3
"""Timed runs of each system per configuration, alternated; the table gives their medians."""
_LEN = struct.Struct(">q")


# -- the raw-socket reference ------------------------------------------------------
def _recv_exact(sock: socket.socket, view: memoryview) -> None:
    got = 0
    while got < view.nbytes:
        n = sock.recv_into(view[got:])
        if n == 0:
            raise ConnectionError("peer closed")
        got += n


def _echo_connection(conn: socket.socket) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    header = bytearray(_LEN.size)
    buf = bytearray()
    with conn:
        while True:
            try:
                _recv_exact(conn, memoryview(header))
            except ConnectionError:
                return
            (n,) = _LEN.unpack(header)
            if len(buf) < n:
                buf = bytearray(n)
            view = memoryview(buf)[:n]
            _recv_exact(conn, view)
            conn.sendall(view)


def _echo_server(port_out: Any) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port_out.put(server.getsockname()[1])
    while True:
        conn, _ = server.accept()
        threading.Thread(target=_echo_connection, args=(conn,), daemon=True).start()


# -- clients -------------------------------------------------------------------------
def _warm_up(iters: int) -> int:
    """Untimed round trips before the clock, alike for both systems: the first ones of a
    size pay for fresh buffers (page faults) on both ends and for compilation in the JVM."""
    return max(3, iters // 10)


def _ps_client(address: ServerAddress, n: int, iters: int, start: Any, out: Any) -> None:
    delta = np.full(n, 1e-6, np.float32)
    with address.connect(worker=0, timeout=120) as ps:
        center = ps.pull()
        for _ in range(_warm_up(iters)):
            ps.pull(out=center)
            ps.push(delta)
        out.put("ready")
        start.wait()
        t0 = time.perf_counter()
        for _ in range(iters):
            ps.pull(out=center)
            ps.push(delta)
        out.put(time.perf_counter() - t0)


def _raw_client(port: int, n: int, iters: int, start: Any, out: Any) -> None:
    payload = np.full(n, 1e-6, np.float32)
    back = np.empty_like(payload)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(_warm_up(iters)):
            sock.sendmsg([_LEN.pack(payload.nbytes), memoryview(payload).cast("B")])
            _recv_exact(sock, memoryview(back).cast("B"))
        out.put("ready")
        start.wait()
        t0 = time.perf_counter()
        for _ in range(iters):
            sock.sendmsg([_LEN.pack(payload.nbytes), memoryview(payload).cast("B")])
            _recv_exact(sock, memoryview(back).cast("B"))
        out.put(time.perf_counter() - t0)


def _timed(ctx: Any, target: Any, args: tuple, clients: int) -> float:
    """Aggregate round trips per second of ``clients`` processes started together."""
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, start, out)) for _ in range(clients)]
    for p in procs:
        p.start()
    for _ in procs:  # every client is connected before the clock starts
        assert out.get(timeout=120) == "ready"
    start.set()
    walls = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    iters = args[-1]
    return clients * iters / max(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    opts = parser.parse_args()
    scale = 0.25 if opts.quick else 1.0
    sizes = {10_000: 1000, 1_000_000: 100, 10_000_000: 10}
    ctx = mp.get_context("spawn")

    port_q = ctx.Queue()
    echo = ctx.Process(target=_echo_server, args=(port_q,), daemon=True)
    echo.start()
    echo_port = port_q.get(timeout=30)

    spark = loxodon.spark_session("local[1]", app_name="loxodon-bench-ps")
    spark.sparkContext.setLogLevel("ERROR")
    rows = []
    try:
        for n, base_iters in sizes.items():
            iters = max(2, int(base_iters * scale))
            with (
                loxodon.start_parameter_server(spark, 4, n, tls=False) as ps,
                loxodon.start_parameter_server(spark, 4, n, tls=True) as tls,
            ):
                # The JVM compiles the large-vector paths during the first few hundred round
                # trips of a size: one untimed run of each system first.
                _timed(ctx, _ps_client, (ps.address, n, iters), 1)
                _timed(ctx, _ps_client, (tls.address, n, iters), 1)
                _timed(ctx, _raw_client, (echo_port, n, iters), 1)
                for clients in (1, 2, 4):
                    ps_rates, tls_rates, raw_rates = [], [], []
                    for _ in range(ROUNDS):  # alternated, so drifts in load hit all alike
                        ps_rates.append(_timed(ctx, _ps_client, (ps.address, n, iters), clients))
                        tls_rates.append(_timed(ctx, _ps_client, (tls.address, n, iters), clients))
                        raw_rates.append(_timed(ctx, _raw_client, (echo_port, n, iters), clients))
                    ps_rate, raw_rate = statistics.median(ps_rates), statistics.median(raw_rates)
                    tls_rate = statistics.median(tls_rates)
                    mb = 2 * 4 * n / 1e6  # bytes moved per round trip, both directions
                    rows.append((n, clients, ps_rate, ps_rate * mb, raw_rate * mb, tls_rate * mb))
                    print(
                        f"{n:>10,} params x {clients} clients: PS {ps_rate * mb:8.0f} MB/s, "
                        f"TLS {tls_rate * mb:8.0f} MB/s, raw {raw_rate * mb:8.0f} MB/s, "
                        f"ratio {ps_rate / raw_rate:.2f}",
                        flush=True,
                    )
    finally:
        spark.stop()
        echo.terminate()
    write_report(rows, opts.quick)


def write_report(rows: list[tuple[int, int, float, float, float, float]], quick: bool) -> None:
    lines = [
        "# Parameter server round trips",
        "",
        "One pull plus one push of N float32 parameters through Loxodon's Netty server "
        "(driver JVM, authenticated connection, framed protocol) against the same bytes "
        "echoed by a plain Python socket server on loopback, with 1, 2 and 4 concurrent "
        "client processes, measured side by side in one run of `bench/ps_roundtrip.py`. "
        f"Each figure is the median of {ROUNDS} timed runs, the two systems alternating, after "
        "one untimed run of each per vector size (the JVM compiles the large-vector paths "
        "then) and a few untimed round trips per client. The TLS columns time the same "
        "round trip against a second server with TLS on (`docs/design.md`, "
        '"Encryption in transit").'
        + (" Run with `--quick` (a quarter of the iterations)." if quick else ""),
        "",
        f"Machine: {platform.processor() or platform.machine()}, "
        f"{mp.cpu_count()} cores, Python {platform.python_version()}; "
        f"date {time.strftime('%Y-%m-%d')}.",
        "",
        "| params | clients | PS round trips/s | PS MB/s | raw socket MB/s | PS / raw "
        "| PS TLS MB/s | TLS / clear |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, clients, rate, ps_mb, raw_mb, tls_mb in rows:
        lines.append(
            f"| {n:,} | {clients} | {rate:,.1f} | {ps_mb:,.0f} | {raw_mb:,.0f} | "
            f"{ps_mb / raw_mb:.2f} | {tls_mb:,.0f} | {tls_mb / ps_mb:.2f} |"
        )
    big = [r for r in rows if r[0] >= 1_000_000]
    worst = min(r[3] / r[4] for r in big) if big else float("nan")
    lines += [
        "",
        f"Target: at 1M and 10M parameters the server reaches at least 0.5x the raw "
        f"socket's throughput. Worst ratio measured at those sizes: **{worst:.2f}** "
        f"({'met' if worst >= 0.5 else 'NOT met'}).",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(with_notes(RESULTS, "\n".join(lines)))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

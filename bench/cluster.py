"""Training on the multi-host namespace cluster with real link speeds.

Every mode trains the synthetic workload of ``bench/train.py`` (784-256-128-10,
235k parameters, batch 128) on the namespace cluster of ``cluster/`` (a master,
three one-core workers, a driver, each its own network namespace), with every
host's link unshaped, then shaped by ``tc`` to 10 Gbit/s and 1 Gbit/s (``tbf``
on both ends of each link). This kernel has no ``netem``: no delay is
emulated, so the links are fast-but-short, as in one rack.

Per run: samples/s over the epochs after the first (the driver's wall time
between epoch ends, gates included), bytes per sample on the driver's link
(its interface counters over the same epochs: the parameter server runs in the
driver, so every exchange crosses it) and the exchanges' frame bytes per
sample (the workers' own count), and time per step split into computation and
waiting for the server (the workers' clocks, epochs after the first).
The synchronous mode runs with 1, 2 and 3 workers; its step time is fitted to
``T(N) = c + w0 + k N`` and extrapolated to 8, 32 and 128 workers.

Writes ``bench/results/cluster.md`` and ``bench/results/cluster_scaling.png``.
Needs root (it builds the cluster). From the repository root::

    .venv/bin/python bench/cluster.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BATCH = 128
LINKS: list[tuple[str, str | None]] = [
    ("unshaped", None),
    ("10 Gbit/s", "10gbit"),
    ("1 Gbit/s", "1gbit"),
]
# tbf needs a bucket of at least rate / HZ; these leave room for a burst of frames.
BURST = {"10gbit": "4mb", "1gbit": "512kb"}
MODES: list[tuple[str, int, dict[str, Any]]] = [
    ("synchronous", 1, {}),
    ("synchronous", 2, {}),
    ("synchronous", 3, {}),
    ("averaging", 3, {"frequency": 10}),
    ("asynchronous", 3, {"communication_window": 4}),
    ("hogwild", 3, {"communication_window": 4}),
    ("easgd", 3, {"communication_window": 4}),
    ("aeasgd", 3, {"communication_window": 4}),
]


def _hosts(workers: int) -> list[str]:
    return ["driver", "master", *(f"w{i}" for i in range(1, workers + 1))]


def shape(rate: str | None, workers: int) -> None:
    """Rate-limits both ends of every host's link (cluster/config.sh names), or clears them."""
    for host in _hosts(workers):
        ends = [("lox-br", f"lox-{host}"), (f"lox-{host}", "eth0")]
        for ns, dev in ends:
            base = ["ip", "netns", "exec", ns, "tc", "qdisc"]
            subprocess.run([*base, "del", "dev", dev, "root"], capture_output=True, check=False)
            if rate is not None:
                subprocess.run(
                    [*base, "add", "dev", dev, "root", "tbf", "rate", rate]
                    + ["burst", BURST[rate], "latency", "50ms"],
                    check=True,
                    capture_output=True,
                )


def link_bytes() -> int:
    """Bytes through this (the driver's) namespace's eth0, both ways."""
    stats = Path("/sys/class/net/eth0/statistics")
    return sum(int((stats / f"{d}_bytes").read_text()) for d in ("rx", "tx"))


def epoch_clock() -> tuple[Any, list[tuple[float, int]]]:
    """A Keras callback noting (time, link bytes) at each epoch end on the driver, and its marks."""
    import keras

    marks: list[tuple[float, int]] = []

    class EpochClock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            marks.append((time.perf_counter(), link_bytes()))

    return EpochClock(), marks


def one_run(
    spark: Any, data: dict, weights: list, mode: str, n: int, opts: dict, epochs: int
) -> dict[str, Any]:
    """One fit; its rates, bytes and time split over the epochs after the first."""
    import keras

    import loxodon

    model = build_model()
    model.set_weights(weights)
    spark_model = loxodon.SparkModel(model, mode=mode, num_workers=n, spark=spark, **opts)
    clock, marks = epoch_clock()
    spark_model.fit(
        data["x_train"],
        data["y_train"],
        epochs=epochs,
        batch_size=BATCH,
        verbose=0,
        callbacks=[clock],
    )
    keras.backend.clear_session()
    fit = spark_model.last_fit
    workers = fit["workers"]
    (t0, b0), (t1, b1) = marks[0], marks[-1]
    steady = epochs - 1
    samples = sum(w["rows"] for w in workers) * steady
    steps = sum(w["steps"] // w["epochs_run"] * steady for w in workers)
    waited = sum(sum(w["epoch_wait_seconds"][1:]) for w in workers)
    busy = sum(sum(w["epoch_seconds"][1:]) for w in workers)
    exchanged = sum(w["bytes_sent"] + w["bytes_received"] for w in workers)
    all_samples = sum(w["rows"] for w in workers) * epochs
    return {
        "mode": mode,
        "workers": n,
        "options": opts,
        "samples_per_s": samples / (t1 - t0),
        "link_bytes_per_sample": (b1 - b0) / samples,
        "frame_bytes_per_sample": exchanged / all_samples,
        "compute_ms_per_step": 1000 * (busy - waited) / steps,
        "wait_ms_per_step": 1000 * waited / steps,
        "peers": sorted({w["ps_peer"].rsplit(":", 1)[0] for w in workers}),
        "attempts": fit["attempts"],
    }


def build_model() -> Any:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def fit_scaling(runs: list[dict]) -> dict[str, float]:
    """Least squares of the synchronous waiting per step on N, and the compute at N = 1."""
    sync = sorted((r for r in runs if r["mode"] == "synchronous"), key=lambda r: r["workers"])
    ns = np.array([r["workers"] for r in sync], float)
    wait = np.array([r["wait_ms_per_step"] for r in sync])
    k, w0 = np.polyfit(ns, wait, 1)
    return {"c": sync[0]["compute_ms_per_step"], "w0": float(w0), "k": float(k)}


def model_rate(fit: dict[str, float], n: int) -> float:
    """Samples/s of N synchronous workers by T(N) = c + w0 + k N (ms per step)."""
    # w0 may fit below zero (the waiting is not quite linear from N = 1); T stays positive.
    step_ms = max(fit["c"], fit["c"] + fit["w0"] + max(0.0, fit["k"]) * n)
    return n * BATCH / (step_ms / 1000)


def inside(opts: argparse.Namespace) -> None:
    """The benchmark proper, run by cluster.sh on the driver host."""
    sys.path.insert(0, str(ROOT / "bench"))
    import keras

    import loxodon
    from train import synthetic_arrays

    rows = 6000 if opts.quick else 30000
    epochs = 2 if opts.quick else 3
    data = synthetic_arrays(rows, 1000)
    weights = build_model().get_weights()
    keras.backend.clear_session()
    driver = os.environ["LOXODON_CLUSTER_DRIVER_HOST"]
    spark = loxodon.spark_session(
        os.environ["LOXODON_CLUSTER_MASTER"],
        app_name="loxodon-bench-cluster",
        **{
            "spark.driver.host": driver,
            "spark.driver.bindAddress": driver,
            "spark.executor.memory": "2g",
            "spark.ui.enabled": "false",
        },
    )
    spark.sparkContext.setLogLevel("ERROR")
    loxodon.warm_up(spark, 3)
    results: dict[str, list[dict]] = {}
    try:
        for label, rate in LINKS:
            shape(rate, 3)
            results[label] = []
            for mode, n, mode_opts in MODES:
                run = one_run(spark, data, weights, mode, n, mode_opts, epochs)
                print(label, json.dumps(run), flush=True)
                results[label].append(run)
    finally:
        shape(None, 3)
        spark.stop()
    out = Path(os.environ["LOXODON_BENCH_OUT"])
    out.write_text(json.dumps({"rows": rows, "epochs": epochs, "results": results}))


def _cell(run: dict) -> list[str]:
    return [
        f"{run['samples_per_s']:,.0f}",
        f"{run['link_bytes_per_sample']:,.0f}",
        f"{run['frame_bytes_per_sample']:,.0f}",
        f"{run['compute_ms_per_step']:.1f}",
        f"{run['wait_ms_per_step']:.1f}",
    ]


def write_report(measured: dict, seconds: float) -> None:
    results = measured["results"]
    lines = [
        "# Training on the namespace cluster, with shaped links",
        "",
        "Written by `bench/cluster.py` (notes in its docstring and below). "
        f"{measured['rows']:,} rows of the synthetic workload (784-256-128-10, 235,146 "
        f"parameters: 0.94 MB a vector), batch {BATCH}, {measured['epochs']} epochs; "
        "rates over the epochs after the first. One machine: "
        f"{os.cpu_count()} cores shared by three one-core workers, the driver and the master; "
        f"{platform.platform()}. The run took {seconds / 60:.1f} min.",
        "",
    ]
    header = (
        "| mode | workers | samples/s | driver-link bytes/sample | frame bytes/sample | "
        "compute ms/step | wait ms/step |"
    )
    for label, runs in results.items():
        lines += [f"## Links {label}", "", header, "|---|---|---|---|---|---|---|"]
        for run in runs:
            opts = ", ".join(f"{k}={v}" for k, v in run["options"].items())
            name = run["mode"] + (f" ({opts})" if opts else "")
            lines.append(f"| {name} | {run['workers']} | " + " | ".join(_cell(run)) + " |")
        peers = sorted({p for run in runs for p in run["peers"]})
        lines += ["", f"Workers dialled the parameter server at: {', '.join(peers)}.", ""]
    lines += ["## Synchronous scaling through the driver", ""]
    lines += [
        "Per step each synchronous worker sends its gradient (0.94 MB) to the parameter server "
        "in the driver and receives the mean: the driver's link carries N vectors each way per "
        "step, and the server adds N vectors. Model: T(N) = c + w0 + k N ms per step, c the "
        "computation of one step at N = 1, w0 + k N the waiting (least squares over N = 1, 2, "
        "3); samples/s = N x 128 / T(N).",
        "",
        "| links | c ms | w0 ms | k ms/worker | N=1 | N=2 | N=3 | N=8 | N=32 | N=128 | "
        "ceiling 128/k |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    fits = {}
    for label, runs in results.items():
        fit = fit_scaling(runs)
        fits[label] = fit
        cells = [f"{model_rate(fit, n):,.0f}" for n in (1, 2, 3, 8, 32, 128)]
        ceiling = BATCH / (fit["k"] / 1000) if fit["k"] > 0 else float("inf")
        lines.append(
            f"| {label} | {fit['c']:.1f} | {fit['w0']:.1f} | {fit['k']:.2f} | "
            + " | ".join(cells)
            + f" | {ceiling:,.0f} |"
        )
    lines += [""]
    plot_scaling(results, fits)
    lines += ["![synchronous scaling](cluster_scaling.png)", ""]
    (RESULTS / "cluster.md").write_text("\n".join(lines) + "\n" + NOTES)


NOTES = """## Notes
- **What limits it.** In synchronous mode every byte of every gradient goes
  through the driver's link and the driver's server, so the per-step waiting
  grows with N (k above) while each worker's computation stays fixed: the rate
  approaches the ceiling 128 / k samples/s however many workers are added. At
  1 Gbit/s one 0.94 MB vector takes 7.5 ms on the wire, so k cannot be below
  about 7.5 ms per worker per direction (the link is full duplex, so gradients
  in and means out overlap).
- **What would change it.** An all-reduce among the workers (ring: each link
  carries 2 (N - 1) / N vectors per step whatever N is, so T(N) stays near
  c + 2 x 7.5 ms at 1 Gbit/s), overlapping it with the backward pass, or fewer
  bytes (float16 gradients halve them). These are issue 20's work; this table is
  its baseline.
- **This machine.** All hosts share 2 cores, so with 3 workers the computation
  per step is slower than at N = 1 and part of the "wait" is a worker waiting
  for a slower sibling at the sync round, not for the wire. The fitted k is
  therefore an upper bound of the communication cost per worker on this box;
  the unshaped veth links (memory copies) are faster than either shaped rate.
- **No delay.** This kernel has no `netem`; links have rate limits but no
  latency, so round trips are sub-millisecond. On a real network add one round
  trip per exchange to the waiting.
- **Bytes.** Driver-link bytes are the driver namespace's `eth0` counters
  (both directions, Ethernet/IP/TCP headers included, Spark's own messages
  too) over the epochs after the first; frame bytes are the workers' count of
  parameter-server frames over the whole fit (the one-time row upload is not
  in either).
"""


def plot_scaling(results: dict, fits: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ns = np.array([1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128])
    for label, fit in fits.items():
        line = ax.plot(ns, [model_rate(fit, int(n)) for n in ns], label=f"model, {label}")[0]
        sync = [r for r in results[label] if r["mode"] == "synchronous"]
        ax.scatter(
            [r["workers"] for r in sync], [r["samples_per_s"] for r in sync], color=line.get_color()
        )
    c = next(iter(fits.values()))["c"]
    ax.plot(ns, ns * BATCH / (c / 1000), "k:", label="no communication (N x one worker)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("synchronous workers N")
    ax.set_ylabel("samples/s")
    ax.set_title("Synchronous mode through the driver's server: measured (dots), model (lines)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "cluster_scaling.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, 2 epochs")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.inside:
        inside(opts)
        return
    if os.geteuid() != 0:
        sys.exit("bench/cluster.py builds network namespaces: run it as root")
    out = ROOT / ".cache" / "bench" / "cluster.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, WORKERS="3", LOXODON_BENCH_OUT=str(out))
    cmd = [str(ROOT / "cluster" / "cluster.sh"), "run", sys.executable, __file__, "--inside"]
    started = time.perf_counter()
    subprocess.run(cmd + (["--quick"] if opts.quick else []), env=env, check=True, timeout=3600)
    write_report(json.loads(out.read_text()), time.perf_counter() - started)
    print(f"wrote {RESULTS / 'cluster.md'}")


if __name__ == "__main__":
    main()

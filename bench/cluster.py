"""Training on the multi-host namespace cluster with real link speeds.

Every mode trains the synthetic workload of ``bench/train.py`` (784-256-128-10,
235,146 parameters: a float32 gradient is 940,584 bytes, batch 128) on the
namespace cluster of ``cluster/`` (a master, three one-core workers, a driver,
each its own network namespace), with every host's link unshaped, then shaped by
``tc`` to 10 Gbit/s and 1 Gbit/s (``tbf`` on both ends of each link). This
kernel has no ``netem``: no delay is emulated, so the links are fast-but-short,
as in one rack.

Per run, over the epochs after the first (from the driver's first epoch end to
its last): samples/s (the driver's wall time, gates included); each host's link
bytes in each direction, read from the bridge's side of its veth pair (the
``lox-<host>`` ports in ``lox-br``: one ``ip -s -j`` call per epoch end), per
step of one worker, for the busiest worker host and for the driver, and as
multiples of the float32 gradient, next to the theory (ring all-reduce:
2(N-1)/N each way per worker and nothing through the driver; the driver's
server: one gradient each way per worker, N each way on the driver's link);
the workers' own count of bytes they sent (server frames and ring chunks); and
time per step split into computation and waiting for the exchange (the
workers' clocks). Synchronous mode runs with 1, 2 and 3 workers over both
transports (``sync_transport`` ``"server"`` and ``"allreduce"``), and over the
ring with float16 chunks at 3; each transport's step time is fitted to
``T(N) = c + w0 + k N``, the ring's also to ``c + w0 + k 2(N-1)/N``, and
extrapolated to 8, 32 and 128 workers.

Writes ``bench/results/cluster.md`` (its hand-written Notes kept, see
``bench/notes.py``) and ``bench/results/cluster_scaling.png``. Needs root (it
builds the cluster). From the repository root::

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

from notes import with_notes

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BATCH = 128
WORKER_HOSTS = ["w1", "w2", "w3"]
LINKS: list[tuple[str, str | None]] = [
    ("unshaped", None),
    ("10 Gbit/s", "10gbit"),
    ("1 Gbit/s", "1gbit"),
]
# tbf needs a bucket of at least rate / HZ; these leave room for a burst of frames.
BURST = {"10gbit": "4mb", "1gbit": "512kb"}
SERVER = {"sync_transport": "server"}
RING = {"sync_transport": "allreduce"}
MODES: list[tuple[str, int, dict[str, Any]]] = [
    *(("synchronous", n, SERVER) for n in (1, 2, 3)),
    *(("synchronous", n, RING) for n in (1, 2, 3)),
    ("synchronous", 3, {**RING, "sync_precision": "float16"}),
    ("averaging", 3, {"frequency": 10}),
    ("asynchronous", 3, {"communication_window": 4}),
    ("hogwild", 3, {"communication_window": 4}),
    ("easgd", 3, {"communication_window": 4}),
    ("aeasgd", 3, {"communication_window": 4}),
]
WIRE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


def _hosts(workers: int) -> list[str]:
    return ["driver", "master", *WORKER_HOSTS[:workers]]


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


def link_bytes() -> dict[str, tuple[int, int]]:
    """Each host's (sent, received) bytes so far: the bridge's port ``lox-<host>`` counts
    what the host sent as received and the other way round (Ethernet frames, headers
    included, as the veth hands them over: one count per segmentation-offload buffer)."""
    out = subprocess.run(
        ["ip", "-n", "lox-br", "-s", "-j", "link", "show"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    counts = {}
    for dev in json.loads(out):
        name = dev["ifname"]
        if name.startswith("lox-") and name != "lox-br0":
            stats = dev["stats64"]
            counts[name[4:]] = (stats["rx"]["bytes"], stats["tx"]["bytes"])
    return counts


def epoch_clock() -> tuple[Any, list[tuple[float, dict[str, tuple[int, int]]]]]:
    """A Keras callback noting (time, every host's link bytes) at each epoch end on the
    driver, and its marks."""
    import keras

    marks: list[tuple[float, dict[str, tuple[int, int]]]] = []

    class EpochClock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            marks.append((time.perf_counter(), link_bytes()))

    return EpochClock(), marks


def theory(mode: str, n: int, opts: dict) -> tuple[float, float] | None:
    """Synchronous gradients per step, each way: (per worker link, on the driver's link)."""
    if mode != "synchronous":
        return None
    if opts.get("sync_transport", "allreduce") == "server":
        return 1.0, float(n)
    wire = WIRE_BYTES[opts.get("sync_precision", "float32")] / 4
    return 2 * (n - 1) / n * wire, 0.0


def one_run(
    spark: Any, data: dict, weights: list, mode: str, n: int, opts: dict, epochs: int
) -> dict[str, Any]:
    """One fit; its rates, link bytes per step and time split over the epochs after the first."""
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
    # Steps one worker took over the steady epochs (synchronous workers take the same).
    worker_steps = max(w["steps"] // w["epochs_run"] for w in workers) * steady
    steps = sum(w["steps"] // w["epochs_run"] * steady for w in workers)
    waited = sum(sum(w["epoch_wait_seconds"][1:]) for w in workers)
    busy = sum(sum(w["epoch_seconds"][1:]) for w in workers)

    def per_step(host: str, way: int) -> float:
        return (b1[host][way] - b0[host][way]) / worker_steps

    sent = [per_step(h, 0) for h in WORKER_HOSTS]
    received = [per_step(h, 1) for h in WORKER_HOSTS]
    return {
        "mode": mode,
        "workers": n,
        "options": opts,
        "samples_per_s": samples / (t1 - t0),
        "worker_tx_per_step": max(sent),
        "worker_rx_per_step": max(received),
        "worker_tx_each": sent,
        "driver_tx_per_step": per_step("driver", 0),
        "driver_rx_per_step": per_step("driver", 1),
        # The workers' own count over the whole fit (server frames and ring chunks they sent).
        "counted_tx_per_step": max(w["bytes_sent"] / w["steps"] for w in workers),
        "theory": theory(mode, n, opts),
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


GRADIENT_BYTES = 4 * 235_146


def transport(run: dict) -> str | None:
    """``server``, ``allreduce`` (float32) or None (other modes, other precisions)."""
    if run["mode"] != "synchronous" or run["options"].get("sync_precision", "float32") != "float32":
        return None
    return run["options"].get("sync_transport", "allreduce")


# Gradients through the busiest link per step, as a function of N: what the waiting
# is fitted on. "linear" is T(N) = c + w0 + k N for either transport (the driver's
# link carries N); "ring" is the ring's own shape, 2 (N - 1) / N per worker link.
LOADS: dict[str, Any] = {"linear": lambda n: n, "ring": lambda n: 2 * (n - 1) / n}
FITS = [("server", "linear"), ("allreduce", "linear"), ("allreduce", "ring")]


def fit_scaling(runs: list[dict], name: str, load: str) -> dict[str, Any]:
    """Least squares of one transport's synchronous waiting per step on ``LOADS[load](N)``,
    and its computation at N = 1."""
    sync = sorted((r for r in runs if transport(r) == name), key=lambda r: r["workers"])
    x = np.array([LOADS[load](r["workers"]) for r in sync], float)
    wait = np.array([r["wait_ms_per_step"] for r in sync])
    k, w0 = np.polyfit(x, wait, 1)
    return {"c": sync[0]["compute_ms_per_step"], "w0": float(w0), "k": float(k), "load": load}


def model_rate(fit: dict[str, Any], n: int) -> float:
    """Samples/s of N synchronous workers by T(N) = c + w0 + k load(N) (ms per step)."""
    # w0 may fit below zero (the waiting is not quite linear from N = 1); T stays positive.
    step_ms = max(fit["c"], fit["c"] + fit["w0"] + max(0.0, fit["k"]) * LOADS[fit["load"]](n))
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
    modes = MODES[:8] if opts.quick else MODES  # quick: synchronous and averaging
    results: dict[str, list[dict]] = {}
    try:
        for label, rate in LINKS:
            shape(rate, 3)
            results[label] = []
            for mode, n, mode_opts in modes:
                run = one_run(spark, data, weights, mode, n, mode_opts, epochs)
                print(label, json.dumps(run), flush=True)
                results[label].append(run)
    finally:
        shape(None, 3)
        spark.stop()
    out = Path(os.environ["LOXODON_BENCH_OUT"])
    out.write_text(json.dumps({"rows": rows, "epochs": epochs, "results": results}))


def _bytes(value: float) -> str:
    return f"{value:,.0f} ({value / GRADIENT_BYTES:.2f}x)"


def _name(run: dict) -> str:
    opts = dict(run["options"])
    if run["mode"] == "synchronous":
        name = "synchronous, " + opts.pop("sync_transport", "allreduce")
        precision = opts.pop("sync_precision", "float32")
        return name + ("" if precision == "float32" else f", {precision}")
    text = ", ".join(f"{k}={v}" for k, v in opts.items())
    return run["mode"] + (f" ({text})" if text else "")


def _row(run: dict) -> str:
    expected = run["theory"]
    theory_cell = "" if expected is None else f"{expected[0]:.2f}x / {expected[1]:.2f}x"
    cells = [
        _name(run),
        str(run["workers"]),
        f"{run['samples_per_s']:,.0f}",
        _bytes(run["worker_tx_per_step"]),
        _bytes(run["worker_rx_per_step"]),
        _bytes(run["driver_tx_per_step"]),
        _bytes(run["driver_rx_per_step"]),
        theory_cell,
        _bytes(run["counted_tx_per_step"]),
        f"{run['compute_ms_per_step']:.1f}",
        f"{run['wait_ms_per_step']:.1f}",
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| mode | N | samples/s | worker tx B/step | worker rx B/step | driver tx B/step | "
    "driver rx B/step | theory: worker / driver, each way | workers' count, sent B/step | "
    "compute ms/step | wait ms/step |\n|---|---|---|---|---|---|---|---|---|---|---|"
)


def write_report(measured: dict, seconds: float) -> None:
    results = measured["results"]
    lines = [
        "# Training on the namespace cluster, with shaped links",
        "",
        "Written by `bench/cluster.py` (method in its docstring; notes below). "
        f"{measured['rows']:,} rows of the synthetic workload (784-256-128-10, 235,146 "
        f"parameters: a float32 gradient is {GRADIENT_BYTES:,} bytes, 1x below), batch {BATCH}, "
        f"{measured['epochs']} epochs; everything over the epochs after the first. One "
        f"machine: {os.cpu_count()} cores shared by three one-core workers, the driver, the "
        f"master and other work; {platform.platform()}. The run took {seconds / 60:.1f} min.",
        "",
        "Bytes are per step of one worker, from the link counters: *worker* is the busiest of "
        "the three worker hosts (max over w1..w3, idle hosts included), *driver* the driver's "
        "link; tx is what the host sent, rx what it received. The theory column is the "
        "synchronous gradients per step each way on a worker's link / on the driver's link; "
        "the workers' count is the payload the busiest worker sent by its own count (over the "
        "whole fit, per step).",
        "",
    ]
    for label, runs in results.items():
        lines += [f"## Links {label}", "", HEADER]
        lines += [_row(run) for run in runs]
        peers = sorted({p for run in runs for p in run["peers"]})
        lines += ["", f"Workers dialled the parameter server at: {', '.join(peers)}.", ""]
    lines += [
        "## Synchronous scaling, server and all-reduce",
        "",
        "Model per transport: T(N) = c + w0 + k load(N) ms per step, c the computation of one "
        "step at N = 1, w0 + k load(N) the waiting (least squares over N = 1, 2, 3, float32); "
        "samples/s = N x 128 / T(N). load(N) = N (*linear*, the issue's T(N) = c + w0 + k N: "
        "the driver's link carries N gradients each way) for both transports, and "
        "2 (N - 1) / N (*ring*: what a ring puts on each worker's link) for the all-reduce.",
        "",
        "| links | transport | load(N) | c ms | w0 ms | k ms | N=1 | N=2 | N=3 | N=8 | N=32 | "
        "N=128 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    fits: dict[tuple[str, str, str], dict[str, Any]] = {}
    for label, runs in results.items():
        for name, load in FITS:
            fit = fit_scaling(runs, name, load)
            fits[label, name, load] = fit
            cells = [f"{model_rate(fit, n):,.0f}" for n in (1, 2, 3, 8, 32, 128)]
            lines.append(
                f"| {label} | {name} | {load} | {fit['c']:.1f} | {fit['w0']:.1f} | "
                f"{fit['k']:.2f} | " + " | ".join(cells) + " |"
            )
    lines += [""]
    plot_scaling(results, fits)
    lines += ["![synchronous scaling](cluster_scaling.png)", ""]
    path = RESULTS / "cluster.md"
    path.write_text(with_notes(path, "\n".join(lines)))


def plot_scaling(results: dict, fits: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(13, 4.5), sharey=True)
    ns = np.array([1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128])
    styles = {
        ("server", "linear"): ("tab:red", "-"),
        ("allreduce", "linear"): ("tab:blue", "-"),
        ("allreduce", "ring"): ("tab:blue", "--"),
    }
    for ax, label in zip(np.atleast_1d(axes), results, strict=True):
        for (name, load), (color, style) in styles.items():
            fit = fits[label, name, load]
            rates = [model_rate(fit, int(n)) for n in ns]
            ax.plot(ns, rates, color=color, linestyle=style, label=f"{name}: {load} fit")
        for name, color in (("server", "tab:red"), ("allreduce", "tab:blue")):
            sync = [r for r in results[label] if transport(r) == name]
            ax.scatter(
                [r["workers"] for r in sync],
                [r["samples_per_s"] for r in sync],
                color=color,
                label=f"{name}: measured",
            )
        c = fits[label, "server", "linear"]["c"]
        ax.plot(ns, ns * BATCH / (c / 1000), "k:", label="N x one worker")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("synchronous workers N")
        ax.set_title(f"links {label}")
    np.atleast_1d(axes)[0].set_ylabel("samples/s")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.suptitle("Synchronous mode over the server and the ring: measured (dots), fits (lines)")
    fig.tight_layout()
    fig.savefig(RESULTS / "cluster_scaling.png", dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, 2 epochs, fewer modes")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--report-only", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.inside:
        inside(opts)
        return
    out = ROOT / ".cache" / "bench" / "cluster.json"
    if opts.report_only:  # rewrites the report from the last run's measurements
        measured = json.loads(out.read_text())
        write_report(measured, measured.get("seconds", 0.0))
        return
    if os.geteuid() != 0:
        sys.exit("bench/cluster.py builds network namespaces: run it as root")
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, WORKERS="3", LOXODON_BENCH_OUT=str(out))
    cmd = [str(ROOT / "cluster" / "cluster.sh"), "run", sys.executable, __file__, "--inside"]
    started = time.perf_counter()
    subprocess.run(cmd + (["--quick"] if opts.quick else []), env=env, check=True, timeout=3600)
    measured = json.loads(out.read_text())
    measured["seconds"] = time.perf_counter() - started
    out.write_text(json.dumps(measured))
    write_report(measured, measured["seconds"])
    print(f"wrote {RESULTS / 'cluster.md'}")


if __name__ == "__main__":
    main()

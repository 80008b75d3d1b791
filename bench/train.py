"""Training throughput and accuracy, side by side in one run on the same cores:
plain single-process Keras (TensorFlow on every core, and on one thread), the
communication-free ceiling (2 one-thread Keras processes, each on half the rows,
started together, exchanging nothing), every Loxodon mode (2 workers on
``local[2]``; synchronous over both transports) and Elephas 7.3 (its
synchronous, asynchronous and hogwild modes, 2 workers).

Three workloads, the same compiled model and initial weights for every system
(the first two by default, ``--workloads`` picks; the CNN's report is
``bench/results/train-cnn.md``):

* MNIST-1D (generated locally): an MLP 40-100-100-10 with Adam, the same epochs
  and batch size for all; reports test accuracy and the wall time to reach it.
* A seeded synthetic set, 200k x 784, 10 classes labelled by a fixed random
  teacher network (so it is learnable): an MLP 784-256-128-10; reports samples
  per second (rows x epochs / fit wall time) and test accuracy.
* ``cnn``: the CNN of ``examples/images_cnn.py`` (the cluster report's MNIST
  net: two convolutions, max pooling, dropout, a dense layer) at 28 x 28 x 1,
  on scikit-learn's digits upscaled to 28 x 28 and augmented to ``--cnn-rows``
  rows by seeded shifts and noise (test rows from held-out digits); reports
  samples per second and test accuracy.

Every run is its own subprocess with a wall-clock limit (killed, with its
whole process group, when it passes it, and recorded as hung), so one stuck
parameter server cannot stall the benchmark. Elephas runs in its own
virtualenv, created on first use under ``.cache/bench/elephas-venv``
(``pip install elephas==7.3.0``) and reused after. Writes
``bench/results/train.md`` (``--output`` elsewhere); each run's log is kept in
``.cache/bench/logs/``.

Run from the repository root (the jar must be built, ``make jar``)::

    .venv/bin/python bench/train.py [--quick] [--workloads cnn --output bench/results/train-cnn.md]

``--quick`` is a smoke run on small data with fewer epochs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from loxodon.contract import MODES, OVERLAPPED_MODES
from notes import with_notes
from train_common import RESULT_PREFIX, RunResult

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results" / "train.md"
CACHE = ROOT / ".cache" / "bench"
ELEPHAS_VENV = CACHE / "elephas-venv"
ELEPHAS_VERSION = "7.3.0"
LOGS = CACHE / "logs"

LOXODON_MODES = MODES
ELEPHAS_MODES = ("synchronous", "asynchronous", "hogwild")
WORKERS = 2
# Fractions of the communication-free ceiling's samples/s (issue 20).
THROUGHPUT_TARGETS = {"asynchronous": 0.9, "hogwild": 0.9, "averaging": 0.9, "synchronous": 0.8}
SYNC_TRANSPORTS = ("allreduce", "server")
ACCURACY_POINTS = 2.0
CNN_SIZE = 28  # the cluster report's MNIST images
CNN_EXAMPLE = ROOT / "examples" / "images_cnn.py"


# -- workloads ---------------------------------------------------------------------
@dataclass
class Workload:
    key: str
    title: str
    layers: tuple[int, ...]  # input, hidden..., classes
    epochs: int
    batch_size: int
    timeout_s: int
    arrays: dict[str, np.ndarray] = field(repr=False)
    model: str = "mlp"  # or "cnn": examples/images_cnn.py's net, CNN_SIZE square

    @property
    def rows(self) -> int:
        return len(self.arrays["x_train"])

    @property
    def model_title(self) -> str:
        if self.model == "cnn":
            return (
                f"the CNN of `examples/images_cnn.py` on {CNN_SIZE} x {CNN_SIZE} x 1 "
                "(conv 32, conv 64, max pool, dropout, dense 128, dropout, 10; Adam 1e-3)"
            )
        return f"model {'-'.join(map(str, self.layers))} (Adam 1e-3)"


def mnist1d_arrays(quick: bool) -> dict[str, np.ndarray]:
    from loxodon.datasets import mnist1d

    x, y, x_test, y_test = mnist1d(num_samples=2000 if quick else 5000)
    return {"x_train": x, "y_train": y, "x_test": x_test, "y_test": y_test}


def synthetic_arrays(rows: int, test_rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Gaussian inputs labelled by argmax of a fixed random 784-64-10 tanh teacher."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((784, 64)).astype(np.float32) / np.sqrt(784.0)
    w2 = rng.standard_normal((64, 10)).astype(np.float32)
    x = rng.standard_normal((rows + test_rows, 784), dtype=np.float32)
    y = np.argmax(np.tanh(x @ w1 * 2.0) @ w2, axis=1).astype(np.int64)
    return {"x_train": x[:rows], "y_train": y[:rows], "x_test": x[rows:], "y_test": y[rows:]}


def digit_images(rows: int, test_rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    """scikit-learn's digits as CNN_SIZE-square gray images (0-255): each 8 x 8 digit upscaled
    3x and padded, then ``rows`` (``test_rows``) copies of the training (held-out) digits of
    :func:`loxodon.datasets.digits`'s split, each shifted up to 2 pixels each way, with noise."""
    from loxodon.datasets import digits

    x, y, x_test, y_test = digits(seed)
    rng = np.random.default_rng(seed)
    pad = (CNN_SIZE - 24) // 2

    def images(xs: np.ndarray, ys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        pick = rng.integers(0, len(xs), n)
        big = np.kron(xs[pick].reshape(n, 8, 8), np.ones((3, 3), np.float32)) * 255.0
        out = np.zeros((n, CNN_SIZE, CNN_SIZE), np.float32)
        out[:, pad : pad + 24, pad : pad + 24] = big
        shifts = rng.integers(-2, 3, (n, 2))
        for dy, dx in {tuple(int(v) for v in s) for s in shifts}:
            rows_at = np.all(shifts == (dy, dx), axis=1)
            out[rows_at] = np.roll(out[rows_at], (dy, dx), axis=(1, 2))
        out += rng.normal(0.0, 16.0, out.shape).astype(np.float32)
        return np.clip(out, 0.0, 255.0)[..., None], ys[pick]

    x_train, y_train = images(x, y, rows)
    x_held, y_held = images(x_test, y_test, test_rows)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_held, "y_test": y_held}


WORKLOADS = ("mnist1d", "synthetic", "cnn")


def workloads(
    quick: bool,
    timeout: int | None,
    rows: int | None = None,
    cnn_rows: int | None = None,
    keys: Iterable[str] = WORKLOADS,
) -> list[Workload]:
    """The workloads named in ``keys``, in WORKLOADS order (only their data is made)."""
    keys = set(keys)
    works = []
    if "mnist1d" in keys:
        works.append(
            Workload(
                key="mnist1d",
                title="MNIST-1D",
                layers=(40, 100, 100, 10),
                epochs=3 if quick else 20,
                batch_size=64,
                timeout_s=timeout or (240 if quick else 420),
                arrays=mnist1d_arrays(quick),
            )
        )
    if "synthetic" in keys:
        default_rows, test_rows = (20_000, 2_000) if quick else (200_000, 10_000)
        rows = rows or default_rows
        works.append(
            Workload(
                key="synthetic",
                title=f"Synthetic {rows // 1000}k x 784",
                layers=(784, 256, 128, 10),
                epochs=1 if quick else 3,
                batch_size=128,
                timeout_s=timeout or (300 if quick else 900),
                arrays=synthetic_arrays(rows, test_rows),
            )
        )
    if "cnn" in keys:
        cnn_rows = cnn_rows or (3_000 if quick else 20_000)
        works.append(
            Workload(
                key="cnn",
                title=f"CNN, digits {CNN_SIZE} x {CNN_SIZE} x 1, {cnn_rows:,} rows",
                layers=(CNN_SIZE * CNN_SIZE, 10),
                epochs=1 if quick else 2,
                batch_size=64,
                timeout_s=timeout or (300 if quick else 1200),
                arrays=digit_images(cnn_rows, 1_000 if quick else 2_000),
                model="cnn",
            )
        )
    return works


def _cnn(seed: int) -> object:
    """``examples/images_cnn.py``'s CNN at CNN_SIZE (loaded by path: examples are not a package)."""
    spec = importlib.util.spec_from_file_location("images_cnn", CNN_EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_cnn(seed, size=CNN_SIZE)


def save_workload(work: Workload, workdir: Path, seed: int = 0) -> None:
    """data.npz and the compiled model (same initial weights for every system)."""
    import keras

    workdir.mkdir(parents=True, exist_ok=True)
    np.savez(workdir / "data.npz", **work.arrays)
    if work.model == "cnn":
        model = _cnn(seed)
    else:
        keras.utils.set_random_seed(seed)
        inputs, *hidden, classes = work.layers
        model = keras.Sequential(
            [keras.Input((inputs,))]
            + [keras.layers.Dense(n, activation="relu") for n in hidden]
            + [keras.layers.Dense(classes, activation="softmax")]
        )
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    model.optimizer.build(model.trainable_variables)  # saved with its (zero) slots
    model.save(workdir / "model.keras")


# -- the Elephas virtualenv --------------------------------------------------------
def elephas_python() -> Path:
    """The Elephas virtualenv's interpreter, installing it once (a stamp file marks
    a finished install, so an interrupted one is redone)."""
    python, stamp = ELEPHAS_VENV / "bin" / "python", ELEPHAS_VENV / ".installed"
    if stamp.exists():
        return python
    print(f"installing elephas=={ELEPHAS_VERSION} into {ELEPHAS_VENV} ...", flush=True)
    base = shutil.which("python3") or sys.executable
    subprocess.run([base, "-m", "venv", "--clear", str(ELEPHAS_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, f"elephas=={ELEPHAS_VERSION}"], check=True)
    stamp.touch()
    return python


def venv_versions(python: Path, packages: tuple[str, ...]) -> str:
    code = (
        "import importlib.metadata as m, sys; "
        f"print(', '.join(f'{{p}} {{m.version(p)}}' for p in {list(packages)!r}))"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return out.stdout.strip() or out.stderr.strip().splitlines()[-1]


# -- running one configuration -----------------------------------------------------
@dataclass
class Run:
    workload: str
    system: str
    mode: str
    settings: str
    result: RunResult | None = None
    status: str = "ok"
    detail: str = ""


def _terminate(proc: subprocess.Popen) -> None:
    """End the runner and everything it started (JVM, Python workers, servers)."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _parse(log: Path) -> RunResult | None:
    lines = [
        ln for ln in log.read_text(errors="replace").splitlines() if ln.startswith(RESULT_PREFIX)
    ]
    return RunResult(**json.loads(lines[-1][len(RESULT_PREFIX) :])) if lines else None


def _error_tail(log: Path, lines: int = 6) -> str:
    text = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    errors = [ln for ln in text if "Error" in ln or "Exception" in ln]
    return (errors[-1] if errors else " | ".join(text[-lines:])).strip()[:300]


def execute(run: Run, cmd: list[str], env: dict[str, str], timeout: int) -> Run:
    LOGS.mkdir(parents=True, exist_ok=True)
    name = f"{run.workload}-{run.system}-{run.mode}-{run.settings}".lower()
    log = LOGS / ("".join(c if c.isalnum() or c in "-_" else "_" for c in name) + ".log")
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
        )
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _terminate(proc)
            run.status, run.detail = "hung", f"hung (timeout {timeout} s)"
            return run
        finally:
            _terminate(proc)  # stray children of a finished runner
    run.result = _parse(log)
    if rc != 0 or run.result is None:
        run.status, run.detail = "failed", f"failed (exit {rc}): {_error_tail(log)}"
    return run


def runner_env(python: Path, loxodon_checkout: bool = False) -> dict[str, str]:
    """The runner's environment; ``loxodon_checkout``: import Loxodon from this checkout
    (its ``python/``), whatever the virtualenv's install points at."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SPARK_HOME")}
    if loxodon_checkout:
        env["PYTHONPATH"] = str(ROOT / "python")
    env.update(
        PYSPARK_PYTHON=str(python), PYSPARK_DRIVER_PYTHON=str(python), TF_CPP_MIN_LOG_LEVEL="2"
    )
    # NumPy advises huge pages for arrays from 4 MiB; where THP defrag is "madvise" their
    # first write compacts memory (seconds per GB, growing with the host's uptime), which
    # moved the Keras rows and the ceiling by 1.6x between runs (results' notes). Off for
    # every system, so the rows measure training, not the kernel.
    env["NUMPY_MADVISE_HUGEPAGE"] = "0"
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def common_args(work: Workload, workdir: Path, mode: str) -> list[str]:
    args = {"workdir": workdir, "mode": mode, "epochs": work.epochs}
    args |= {"batch-size": work.batch_size, "workers": WORKERS}
    return [part for key, value in args.items() for part in (f"--{key}", str(value))]


def planned_runs(work: Workload, opts: argparse.Namespace) -> list[tuple[Run, str, str, list[str]]]:
    """(run, interpreter, runner mode, runner arguments) for every configuration asked for."""
    plan: list[tuple[Run, str, str, list[str]]] = []
    ceilings = opts.ceiling_runs if "keras" in opts.systems else 0

    def ceiling(i: int) -> tuple[Run, str, str, list[str]]:
        settings = f"{WORKERS} processes x 1 thread, 1/{WORKERS} rows, run {i + 1} of {ceilings}"
        return Run(work.key, "Keras", "ceiling", settings), "loxodon", "ceiling", []

    if "keras" in opts.systems:
        plan.append((Run(work.key, "Keras", "plain", "1 process"), "loxodon", "keras", []))
        plan.append(
            (Run(work.key, "Keras", "plain", "1 process, 1 thread"), "loxodon", "keras1", [])
        )
        plan.append(ceiling(0))
    first = len(plan)
    if "loxodon" in opts.systems:
        for mode in [m for m in LOXODON_MODES if m in opts.modes]:
            extra = ["--window", str(opts.window), "--frequency", opts.frequency]
            transports = SYNC_TRANSPORTS if mode == "synchronous" else (None,)
            for transport in transports:
                more = ["--sync-transport", transport] if transport else []
                run = Run(work.key, "Loxodon", mode, _loxodon_settings(mode, opts, transport))
                plan.append((run, "loxodon", mode, extra + more))
            if opts.overlap and mode in OVERLAPPED_MODES:  # after the default: targets judge it
                run = Run(work.key, "Loxodon", mode, _loxodon_settings(mode, opts) + ", overlapped")
                plan.append((run, "loxodon", mode, [*extra, "--exchange-overlap"]))
    # The host's speed drifts within a run (the ceiling alone took 8.5 to 14.3 s in runs an
    # hour apart): the other ceiling runs are spread evenly through the Loxodon rows, and
    # every ratio is taken against their median.
    for i in range(1, ceilings):
        at = first + i * (len(plan) - first) // max(1, ceilings - 1) + i - 1
        plan.insert(at, ceiling(i))
    if "elephas" in opts.systems:
        for mode in ELEPHAS_MODES:
            settings = "frequency=epoch" + ("" if mode == "synchronous" else ", http PS")
            plan.append((Run(work.key, "Elephas", mode, settings), "elephas", mode, []))
    return plan


def _loxodon_settings(mode: str, opts: argparse.Namespace, transport: str | None = None) -> str:
    if mode == "single":
        return "1 worker"
    if mode == "averaging":
        return f"frequency={opts.frequency}"
    if mode == "synchronous":
        return f"every step, {transport}"
    return f"window={opts.window}"


def run_workload(work: Workload, opts: argparse.Namespace, tmp: Path) -> list[Run]:
    workdir = tmp / work.key
    save_workload(work, workdir)
    runs = []
    for run, interpreter, mode, extra in planned_runs(work, opts):
        if interpreter == "elephas" and opts.elephas_python is None:
            run.status, run.detail = "failed", f"not run: {opts.elephas_error}"
            runs.append(run)
            continue
        python = Path(sys.executable) if interpreter == "loxodon" else opts.elephas_python
        script = BENCH / ("train_runner.py" if interpreter == "loxodon" else "elephas_runner.py")
        cmd = [str(python), str(script), *common_args(work, workdir, mode), *extra]
        runs.append(execute(run, cmd, runner_env(python, interpreter == "loxodon"), work.timeout_s))
        _print_run(run)
    return runs


def _print_run(run: Run) -> None:
    name = f"{run.workload:>9} {run.system:>7} {run.mode:<12} {run.settings[:24]:<24}"
    if run.result is None or run.status != "ok":
        print(f"{name} {run.detail}", flush=True)
        return
    r = run.result
    print(
        f"{name} acc {r.accuracy:.4f}  {r.seconds:8.1f} s  {r.samples_per_s:10,.0f} samples/s",
        flush=True,
    )


# -- the report --------------------------------------------------------------------
def machine_info() -> list[str]:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            ln.split(":", 1)[1].strip()
            for ln in cpuinfo.read_text().splitlines()
            if ln.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    mem = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(meminfo.read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    return [f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}"]


def _java_version() -> str:
    out = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    return (out.stderr or out.stdout).splitlines()[0] if (out.stderr or out.stdout) else "unknown"


def software_info(opts: argparse.Namespace) -> list[str]:
    lox = venv_versions(Path(sys.executable), ("tensorflow-cpu", "keras", "pyspark", "numpy"))
    lines = [
        f"Loxodon side (and plain Keras): Python {platform.python_version()}, {lox}",
        f"Java: {_java_version()}",
    ]
    if opts.elephas_python is not None:
        pkgs = ("elephas", "tensorflow", "keras", "pyspark", "numpy")
        lines.append(f"Elephas side: {venv_versions(opts.elephas_python, pkgs)}")
    return lines


def _ratio(rate: float, base: RunResult | None) -> str:
    return f"{rate / base.samples_per_s:.2f}x" if base else "n/a"


def _cell(run: Run, keras: RunResult | None, ceiling: RunResult | None) -> str:
    settings = f"{run.system} {run.mode} ({run.settings})"
    if run.result is None or run.status != "ok":
        return f"| {settings} | {run.detail} | | | | | | |"
    r = run.result
    wait = f"{100 * r.wait_share:.0f}%" if r.wait_share is not None else ""
    steps = f"{r.worker_rate:,.0f}" if r.worker_rate else ""
    return (
        f"| {settings} | {r.accuracy:.4f} | {r.seconds:.1f} | {r.samples_per_s:,.0f} "
        f"| {_ratio(r.samples_per_s, keras)} | {_ratio(r.samples_per_s, ceiling)} | {wait} "
        f"| {steps} |"
    )


def _keras(runs: list[Run], workload: str, settings: str = "1 process") -> RunResult | None:
    """Plain Keras's result (``settings``: its default-thread or one-thread run)."""
    found = [
        r.result
        for r in runs
        if r.workload == workload
        and r.system == "Keras"
        and r.mode == "plain"
        and r.settings == settings
        and r.status == "ok"
    ]
    return found[0] if found else None


def _ceiling(runs: list[Run], workload: str) -> RunResult | None:
    """The median of the workload's ceiling runs by samples/s (the lower middle one)."""
    found = sorted(
        (r.result for r in runs if r.workload == workload and r.mode == "ceiling" and r.result),
        key=lambda result: result.samples_per_s,
    )
    return found[(len(found) - 1) // 2] if found else None


def workload_table(work: Workload, runs: list[Run]) -> list[str]:
    keras, ceiling = _keras(runs, work.key), _ceiling(runs, work.key)
    lines = [
        f"## {work.title}",
        "",
        f"{work.rows:,} training rows, {work.model_title}, "
        f"{work.epochs} epochs, batch {work.batch_size}, per-run limit {work.timeout_s} s.",
        "",
        "| system / mode | test accuracy | seconds | samples/s | vs plain Keras | vs ceiling "
        "| exchange wait | worker epochs samples/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [_cell(r, keras, ceiling) for r in runs if r.workload == work.key]
    return [*lines, ""]


def _loxodon(runs: list[Run], workload: str, mode: str) -> Run | None:
    """The mode's first run (synchronous: over the first of ``SYNC_TRANSPORTS``)."""
    found = [r for r in runs if r.workload == workload and r.system == "Loxodon" and r.mode == mode]
    return found[0] if found else None


def _rate_target(name: str, run: Run | None, base: RunResult | None, bar: float) -> str:
    if run is None or run.result is None or base is None:
        return f"| {name} | {run.detail if run else 'not run'} | no |"
    ratio = run.result.samples_per_s / base.samples_per_s
    return f"| {name} | {ratio:.2f}x | {'yes' if ratio >= bar else 'NO'} |"


def target_lines(runs: list[Run], throughput_key: str, accuracy_key: str) -> list[str]:
    lines = ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    ceiling, keras_acc = _ceiling(runs, throughput_key), _keras(runs, accuracy_key)
    for mode, bar in THROUGHPUT_TARGETS.items():
        name = f"Loxodon {mode} >= {bar}x the ceiling's samples/s ({throughput_key})"
        lines.append(_rate_target(name, _loxodon(runs, throughput_key, mode), ceiling, bar))
    name = f"Loxodon single >= 1.0x one-thread plain Keras samples/s ({throughput_key})"
    keras1 = _keras(runs, throughput_key, "1 process, 1 thread")
    lines.append(_rate_target(name, _loxodon(runs, throughput_key, "single"), keras1, 1.0))
    for mode in LOXODON_MODES:
        run = _loxodon(runs, accuracy_key, mode)
        name = f"Loxodon {mode} within {ACCURACY_POINTS:g} points of plain Keras ({accuracy_key})"
        if run is None or run.result is None or keras_acc is None:
            lines.append(f"| {name} | {run.detail if run else 'not run'} | no |")
            continue
        gap = 100 * (run.result.accuracy - keras_acc.accuracy)
        lines.append(
            f"| {name} | {gap:+.1f} points | {'yes' if gap >= -ACCURACY_POINTS else 'NO'} |"
        )
    return [*lines, ""]


def write_report(
    works: list[Workload], runs: list[Run], opts: argparse.Namespace, meta: dict[str, str]
) -> None:
    lines = [
        "# Training: Loxodon vs plain Keras vs Elephas",
        "",
        "Measured side by side in one run of `bench/train.py`"
        + (" **--quick** (smoke run: small data, few epochs)" if opts.quick else "")
        + f", every system on the same {os.cpu_count()} cores: plain single-process Keras "
        "(TensorFlow using every core, and on one thread), the communication-free ceiling "
        f"({WORKERS} one-thread Keras processes, each on 1/{WORKERS} of the rows, started "
        "together, exchanging nothing: samples/s = all rows x epochs / the slowest one's "
        "seconds; its accuracy is the mean of its shards' models, each trained on "
        f"1/{WORKERS} of the rows; it runs {opts.ceiling_runs} times, spread evenly through "
        "the Loxodon rows, because the host's speed drifts within a run, and every ratio "
        f"to it is to their median), Loxodon with {WORKERS} workers on `local[{WORKERS}]` "
        f"(`single` uses 1), Elephas {ELEPHAS_VERSION} with {WORKERS} workers on "
        f"`local[{WORKERS}]` in its own virtualenv. Every run starts from the same "
        "compiled model and initial weights, runs in its own process under a wall-clock "
        "limit with `NUMPY_MADVISE_HUGEPAGE=0` (NumPy's huge-page advice makes the first "
        "write of large arrays cost seconds on hosts whose THP defrag is `madvise`), and "
        "is timed over `fit` alone (NumPy arrays in, trained model out: for the "
        "Spark systems this includes moving the data to the workers and launching the job). "
        "Before the clock, as plain Keras imports TensorFlow before its clock, the Spark "
        "session is started, and for Loxodon `loxodon.warm_up` starts the pooled Python "
        "workers (TensorFlow imported once per process; Elephas's workers are PySpark's and "
        "cannot be started ahead). samples/s = training rows x "
        "epochs / fit seconds. Accuracy is on the held-out test rows. Exchange wait: the "
        "Loxodon workers' share of their epoch time spent sending to and waiting on the "
        "parameter server or the all-reduce ring (the rest is their own steps). Worker "
        "epochs samples/s: the workers' steps x batch / their epoch seconds, summed over "
        "workers (the fit without the data upload, job launch and validation).",
        "",
        f"Date: {meta['date']}. Machine: {machine_info()[0]}.",
        *[f"{s}." for s in software_info(opts)],
        f"Load average (1 min) before / after the benchmark: {meta['load_before']} / "
        f"{os.getloadavg()[0]:.2f}. Other work may have been running on this shared "
        "machine during the measurement; all systems were measured in the same run.",
        "",
    ]
    for work in works:
        lines += workload_table(work, runs)
    keys = [w.key for w in works]
    throughput = next((w for w in works if w.key == "synthetic"), works[-1])
    accuracy = works[keys.index("mnist1d")] if "mnist1d" in keys else works[0]
    lines += target_lines(runs, throughput.key, accuracy.key)
    lines += [
        f"Throughput targets are judged on {throughput.title} (the bigger workload: start-up "
        f"is a smaller share of the fit); the accuracy target on {accuracy.title} after the "
        "same epochs. Logs of every run: `.cache/bench/logs/`.",
        "",
    ]
    out = opts.output
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(with_notes(out, "\n".join(lines)))
    print(f"wrote {out}")


# -- main ---------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small data, few epochs (smoke run)")
    parser.add_argument("--systems", default="keras,loxodon,elephas", help="comma-separated subset")
    parser.add_argument("--window", type=int, default=4, help="Loxodon communication window")
    parser.add_argument("--frequency", default="epoch", help="Loxodon averaging frequency")
    parser.add_argument("--timeout", type=int, default=None, help="per-run limit in seconds")
    parser.add_argument("--rows", type=int, default=None, help="synthetic training rows")
    parser.add_argument("--cnn-rows", type=int, default=None, help="cnn training rows")
    parser.add_argument(
        "--workloads",
        default="mnist1d,synthetic",
        help="comma-separated subset of mnist1d, synthetic, cnn (default: the first two)",
    )
    parser.add_argument(
        "--no-overlap",
        dest="overlap",
        action="store_false",
        help="skip the exchange_overlap runs of the modes that have one",
    )
    parser.add_argument(
        "--ceiling-runs",
        type=int,
        default=3,
        help="times the ceiling runs, spread through the Loxodon rows (ratios: their median)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="the report to write")
    parser.add_argument(
        "--modes", default=",".join(LOXODON_MODES), help="comma-separated Loxodon modes to run"
    )
    opts = parser.parse_args()
    if opts.ceiling_runs < 1:
        parser.error(f"--ceiling-runs must be at least 1, got {opts.ceiling_runs}")
    opts.systems = {s.strip() for s in opts.systems.split(",")}
    opts.modes = {m.strip() for m in opts.modes.split(",")}
    opts.workloads = {w.strip() for w in opts.workloads.split(",")}
    return opts


def prepare_elephas(opts: argparse.Namespace) -> None:
    opts.elephas_python, opts.elephas_error = None, ""
    if "elephas" not in opts.systems:
        return
    try:
        opts.elephas_python = elephas_python()
    except (subprocess.CalledProcessError, OSError) as exc:
        opts.elephas_error = f"Elephas {ELEPHAS_VERSION} could not be installed: {exc}"


def main() -> None:
    opts = parse_args()
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_before": f"{os.getloadavg()[0]:.2f}",
    }
    prepare_elephas(opts)
    unknown = opts.workloads - set(WORKLOADS)
    if unknown:
        raise SystemExit(f"unknown workloads {sorted(unknown)}: pick from {', '.join(WORKLOADS)}")
    works = workloads(opts.quick, opts.timeout, opts.rows, opts.cnn_rows, opts.workloads)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="loxodon-bench-train-") as tmp:
        for work in works:
            runs += run_workload(work, opts, Path(tmp))
    write_report(works, runs, opts, meta)


if __name__ == "__main__":
    main()

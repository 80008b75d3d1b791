"""What the training benchmark's runners share: loading the workload a run was
handed, and the one-line JSON result the orchestrator (``bench/train.py``) reads.

It imports only NumPy and Keras, so both Loxodon's virtualenv and the Elephas
virtualenv can use it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

RESULT_PREFIX = "BENCH_RESULT "


@dataclass
class RunResult:
    """One (system, mode, workload) run, as the runner reports it."""

    accuracy: float
    seconds: float
    samples_per_s: float
    rows: int
    epochs: int
    # Loxodon: the workers' share of epoch time spent sending to and waiting on the server
    # or the ring (None for other systems).
    wait_share: float | None = None
    # Loxodon: samples/s of the workers' epochs alone (steps x batch / epoch seconds, summed
    # over workers): no data upload, job launch or validation.
    worker_rate: float | None = None


@dataclass
class Workload:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    model_path: Path


def runner_args(description: str) -> argparse.Namespace:
    """The command line every runner accepts."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--workdir", type=Path, required=True, help="data.npz and model.keras")
    parser.add_argument("--mode", required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--window", type=int, default=1, help="communication window")
    parser.add_argument("--frequency", default="epoch")
    parser.add_argument("--sync-transport", default=None, help="Loxodon synchronous transport")
    parser.add_argument(
        "--exchange-overlap", action="store_true", help="Loxodon: overlap window exchanges"
    )
    return parser.parse_args()


def load_workload(workdir: Path) -> Workload:
    with np.load(workdir / "data.npz") as data:
        arrays = {k: data[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    return Workload(**arrays, model_path=workdir / "model.keras")


def load_model(path: Path) -> Any:
    import keras

    return keras.models.load_model(path)


def timed(fit: Callable[[], object]) -> float:
    """Wall seconds of ``fit()``."""
    started = time.perf_counter()
    fit()
    return time.perf_counter() - started


def report(
    accuracy: float,
    seconds: float,
    rows: int,
    epochs: int,
    wait_share: float | None = None,
    worker_rate: float | None = None,
) -> None:
    """Print the result line the orchestrator parses (the last such line wins)."""
    rate = rows * epochs / seconds
    result = RunResult(float(accuracy), seconds, rate, rows, epochs, wait_share, worker_rate)
    print(RESULT_PREFIX + json.dumps(asdict(result)), flush=True)


def quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

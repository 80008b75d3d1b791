"""Checkpoint and resume: a driver process killed (SIGKILL) mid-fit, and the same
fit started with the same ``checkpoint_dir`` in another driver (the test's), resumes at
the epoch after the last checkpoint and ends with the weights of an uninterrupted
fit: bit for bit in ``synchronous`` mode (deterministic: every step applies the
same all-reduced mean gradient with the same optimizer state), at the same
accuracy in ``asynchronous`` mode (whose pushes interleave as the threads run).
A checkpoint of another fit, or of a finished one, is refused before any task.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from pyspark.errors import IllegalArgumentException
from pyspark.sql import SparkSession

from checkpoint_fit import digits
from fixtures import mlp
from loxodon import SparkModel
from loxodon.ml import KerasEstimator
from loxodon.utils import to_data_frame

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "checkpoint_fit.py"
EPOCHS = 5
PROCESS_DEADLINE_S = 300.0  # a loaded shared machine: Spark, the JVM and TensorFlow start
CHECKPOINT = re.compile(r"epoch-(\d+)$")


def _latest_epoch(directory: Path) -> int | None:
    epochs = [int(m.group(1)) for p in directory.glob("epoch-*") if (m := CHECKPOINT.match(p.name))]
    return max(epochs) if epochs else None


def _launch(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "python"), env.get("PYTHONPATH")]))
    env.pop("PYSPARK_DRIVER_PYTHON", None)
    with open(log, "wb") as out:
        # Its own process group: its JVM and Python workers go with it at teardown.
        return subprocess.Popen(
            [sys.executable, str(SCRIPT), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


def _killed_then_resumed(tmp_path: Path, mode: str) -> tuple[int, dict]:
    """Runs the fit in a driver process of its own, SIGKILLs it once a checkpoint
    exists, then runs the same fit again in this process (another driver, its own
    Spark application); returns the checkpoint's epoch and the second run's result."""
    ckpt = tmp_path / "ckpt"
    first = _launch(
        [mode, str(EPOCHS), ckpt.as_uri(), str(tmp_path / "first.npz"), "3"], tmp_path / "1.log"
    )
    try:
        deadline = time.monotonic() + PROCESS_DEADLINE_S
        while (_latest_epoch(ckpt) or 0) < 1:
            log = tmp_path / "1.log"
            assert first.poll() is None, f"the first driver ended early:\n{_tail(log)}"
            assert time.monotonic() < deadline, f"no checkpoint in time:\n{_tail(log)}"
            time.sleep(0.2)
        first.send_signal(signal.SIGKILL)  # the driver process itself, mid-fit
        first.wait(timeout=30)
    finally:
        _kill_group(first)  # what it left: its JVM, its Python workers
    killed_at = _latest_epoch(ckpt)
    assert killed_at is not None and killed_at < EPOCHS - 1, killed_at
    x, y = digits()
    model = SparkModel(mlp(64, 32, 10, seed=0), mode=mode, num_workers=2, seed=0)
    history = model.fit(x, y, epochs=EPOCHS, batch_size=32, verbose=0, checkpoint_dir=ckpt.as_uri())
    return killed_at, {
        "weights": model.get_weights(),
        "history": history.history,
        "initial_epoch": model.last_fit["initial_epoch"],
        "epochs_run": model.last_fit["epochs_run"],
    }


def _reference(mode: str) -> tuple[list[np.ndarray], dict]:
    """The same fit, uninterrupted, with no checkpoint_dir (in this process)."""
    x, y = digits()
    model = SparkModel(mlp(64, 32, 10, seed=0), mode=mode, num_workers=2, seed=0)
    history = model.fit(x, y, epochs=EPOCHS, batch_size=32, verbose=0)
    return model.get_weights(), history.history


def _accuracy(weights: list[np.ndarray]) -> float:
    x, y = digits()
    model = mlp(64, 32, 10, seed=0)
    model.set_weights(weights)
    return float(model.evaluate(x, y, verbose=0, return_dict=True)["accuracy"])


def _assert_resumed(killed_at: int, result: dict) -> None:
    assert result["initial_epoch"] == killed_at + 1
    assert result["epochs_run"] == EPOCHS - killed_at - 1
    assert len(result["history"]["loss"]) == EPOCHS  # the checkpoint's epochs, then the resumed


def test_a_killed_synchronous_fit_resumes_bit_for_bit(spark: SparkSession, tmp_path: Path) -> None:
    killed_at, result = _killed_then_resumed(tmp_path, "synchronous")
    _assert_resumed(killed_at, result)
    weights, history = _reference("synchronous")
    for got, want in zip(result["weights"], weights, strict=True):
        np.testing.assert_array_equal(got, want)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(result["history"][key], history[key], rtol=1e-6)


def test_a_killed_asynchronous_fit_resumes_at_the_same_accuracy(
    spark: SparkSession, tmp_path: Path
) -> None:
    killed_at, result = _killed_then_resumed(tmp_path, "asynchronous")
    _assert_resumed(killed_at, result)
    resumed = _accuracy(result["weights"])
    uninterrupted = _accuracy(_reference("asynchronous")[0])
    assert resumed > 0.9 and uninterrupted > 0.9, (resumed, uninterrupted)
    assert abs(resumed - uninterrupted) <= 0.03, (resumed, uninterrupted)


def test_a_checkpoint_of_another_or_a_finished_fit_is_refused(
    spark: SparkSession, tmp_path: Path
) -> None:
    x, y = digits()
    uri = (tmp_path / "ckpt").as_uri()
    # The Spark ML stage writes it; SparkModel reads it: one fingerprint for both front ends.
    frame = to_data_frame(spark.sparkContext, x[:400], y[:400])
    estimator = KerasEstimator(
        model=mlp(64, 32, 10, seed=0), mode="synchronous", numWorkers=2, epochs=2, batchSize=32
    ).setCheckpointDir(uri)
    estimator.fit(frame)
    assert _latest_epoch(tmp_path / "ckpt") == 1

    def refused(model: keras.Model, match: str, **fit: object) -> None:
        started = time.monotonic()
        spark_model = SparkModel(model, mode="synchronous", num_workers=2, seed=0)
        with pytest.raises(IllegalArgumentException, match=match):
            spark_model.fit(x[:400], y[:400], epochs=2, checkpoint_dir=uri, verbose=0, **fit)
        assert time.monotonic() - started < 60  # on the driver, before any task

    same = r"batch_size is 32 there, 16 here.*new checkpoint_dir"
    refused(mlp(64, 32, 10, seed=0), same, batch_size=16)
    refused(mlp(64, 16, 10, seed=0), r"the model's architecture differs.*new checkpoint_dir")
    refused(mlp(64, 32, 10, seed=0), r"holds a finished fit \(epoch 2 of 2\).*new checkpoint_dir")
    with pytest.raises(IllegalArgumentException, match=r"checkpoint_dir \(checkpointDir\) 'nosuch"):
        SparkModel(mlp(64, 32, 10, seed=0), mode="synchronous", num_workers=2).fit(
            x[:400], y[:400], checkpoint_dir="nosuchfs://host/ckpt", verbose=0
        )

"""A fit survives the loss of a Python worker, in every mode.

At the end of epoch 2 (of 8) a Keras callback sends SIGKILL to one of the
fit's pooled Python workers (a child of the driver JVM: the executors of
``local[2]``), while the workers wait at the epoch gate. The barrier stage
fails (Spark never retries a failed barrier result stage: ``BarrierRunSuite``
shows it), and ``BarrierRun`` submits it again; the new attempt resumes from
the parameter server's center at the first unreleased epoch. Each fit must
complete with every epoch in its history once, report 2 attempts (the kill
hit the fit), and score within 2 points of the same fit undisturbed.

The asynchronous modes are not deterministic (push order depends on timing:
``test_training_modes`` records 0.92-0.97 over repeated undisturbed runs), so
a 2-point bar against one undisturbed run would sit inside their noise; they
are held to the bar ``test_training_modes`` holds them to instead (90% of
plain Keras at the same rate) and to finishing every epoch once.
"""

from __future__ import annotations

import os
import signal

import keras
import numpy as np
import pytest
from pyspark.sql import SparkSession

import loxodon
from fixtures import mode_learning_rate
from loxodon.datasets import digits
from test_training_modes import BATCH, EPOCHS, make_mlp

KILL_AT_EPOCH = 2
TIMING_DEPENDENT = ("asynchronous", "hogwild", "aeasgd")


def _pooled_workers() -> list[int]:
    """Pids of the Python workers of this process's driver JVM (``local`` executors)."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{parent}/stat") as f:
                grandparent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if b"loxodon.worker" in cmdline and grandparent == me:
            found.append(int(entry))
    return sorted(found)


def _connected(pid: int) -> bool:
    """Whether the process holds an established TCP connection: a leased worker holds
    its lease's and the parameter server's; an idle pooled one only listens."""
    try:
        inodes = {
            os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1]
            for fd in os.listdir(f"/proc/{pid}/fd")
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")
        }
        rows = []
        for table in ("tcp", "tcp6"):
            with open(f"/proc/{pid}/net/{table}") as f:
                rows += [line.split() for line in f.readlines()[1:]]
    except OSError:
        return False
    return any(row[3] == "01" and row[9] in inodes for row in rows)  # 01: ESTABLISHED


class KillOneWorker(keras.callbacks.Callback):
    """SIGKILLs one of the fit's Python workers (a leased one, not an idle pooled one:
    the pool of ``local[2]`` may hold two while a one-worker fit uses one) at the end
    of ``epoch``."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch
        self.killed: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == self.epoch and self.killed is None:
            pids = [pid for pid in _pooled_workers() if _connected(pid)]
            assert pids, f"no leased Python worker to kill among {_pooled_workers()}"
            self.killed = pids[-1]
            os.kill(self.killed, signal.SIGKILL)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, ...]:
    return digits()


def _fit(
    spark: SparkSession, data: tuple, mode: str, callbacks: list
) -> tuple[loxodon.SparkModel, dict, float]:
    x, y, xt, yt = data
    rate = mode_learning_rate(mode)
    model = loxodon.SparkModel(
        make_mlp(learning_rate=rate),
        mode=mode,
        num_workers=1 if mode == "single" else 2,
        communication_window=4,
        spark=spark,
    )
    history = model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0, callbacks=callbacks)
    accuracy = model.evaluate(xt, yt, return_dict=True)["accuracy"]
    return model, history.history, accuracy


@pytest.mark.parametrize(
    "mode", ["single", "synchronous", "averaging", "asynchronous", "hogwild", "easgd", "aeasgd"]
)
def test_fit_survives_a_killed_python_worker(
    spark: SparkSession, data: tuple[np.ndarray, ...], mode: str
) -> None:
    kill = KillOneWorker(KILL_AT_EPOCH)
    model, history, accuracy = _fit(spark, data, mode, [kill])
    assert kill.killed is not None
    assert model.last_fit["attempts"] == 2, model.last_fit
    assert len(history["loss"]) == EPOCHS  # each epoch once, none lost, none twice
    assert model.last_fit["epochs_run"] == EPOCHS - KILL_AT_EPOCH - 1
    if mode in TIMING_DEPENDENT:
        x, y, xt, yt = data
        reference = make_mlp(learning_rate=mode_learning_rate(mode))
        reference.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0)
        keras_accuracy = reference.evaluate(xt, yt, verbose=0, return_dict=True)["accuracy"]
        assert accuracy >= 0.9 * keras_accuracy, (mode, accuracy, keras_accuracy)
    else:
        undisturbed = _fit(spark, data, mode, [])
        assert undisturbed[0].last_fit["attempts"] == 1
        assert abs(accuracy - undisturbed[2]) <= 0.02, (mode, accuracy, undisturbed[2])

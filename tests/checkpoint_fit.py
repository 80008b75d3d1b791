"""A driver process for tests/test_checkpoint_resume.py: one seeded fit of the
digits MLP on local[2] with ``checkpoint_dir``, run as its own process so the
test can kill it (SIGKILL) mid-fit and resume the same fit in its own driver.

Usage: ``python tests/checkpoint_fit.py MODE EPOCHS CHECKPOINT_DIR OUT.npz [PAUSE_S]``.
``PAUSE_S`` > 0 makes every epoch's end wait that long on the driver (a callback),
so the test has time to kill the process between two checkpoints. At the end it
writes the trained weights, the history and the first epoch it trained to OUT.npz.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import keras
import numpy as np
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loxodon  # noqa: E402
from fixtures import mlp  # noqa: E402
from loxodon import SparkModel  # noqa: E402


class Pause(keras.callbacks.Callback):
    """Holds each epoch's end on the driver (the workers wait at the epoch gate)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        time.sleep(self.seconds)


def digits() -> tuple[np.ndarray, np.ndarray]:
    data = load_digits()
    return (data.data / 16.0).astype(np.float32), data.target.astype(np.int64)


def main(mode: str, epochs: int, checkpoint_dir: str, out: str, pause: float) -> None:
    spark = loxodon.spark_session("local[2]", app_name="loxodon-checkpoint-test")
    spark.sparkContext.setLogLevel("ERROR")
    x, y = digits()
    model = SparkModel(mlp(64, 32, 10, seed=0), mode=mode, num_workers=2, seed=0)
    callbacks = [Pause(pause)] if pause > 0 else []
    history = model.fit(
        x, y, epochs=epochs, batch_size=32, verbose=0, callbacks=callbacks,
        checkpoint_dir=checkpoint_dir,
    )  # fmt: skip
    weights = model.get_weights()
    np.savez(
        out,
        *weights,
        history=json.dumps(history.history),
        initial_epoch=model.last_fit["initial_epoch"],
        epochs_run=model.last_fit["epochs_run"],
    )
    spark.stop()


if __name__ == "__main__":
    pause = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], pause)

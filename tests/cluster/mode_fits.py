"""The fits the cluster tests compare with ``local[2]``: one small MLP on
scikit-learn's digits per training mode, at the learning rates
``tests/test_training_modes.py`` found to converge. Shared by the tests and by
``reference_fits.py``, which runs the same fits on ``local[2]``.

The modes without a lock-step (asynchronous, hogwild) depend on the timing of
the pushes. At a constant 3e-3 their accuracy ranged from 0.929 to 0.973 on the
cluster and 0.944 to 0.964 on local[2] (3 runs each): two runs could differ by
4 points, so a 2-point bar would test timing luck. With Adam's rate decaying
from 3e-3 to 0 over the fit (cosine), 8 runs on each ranged from 0.947 to
0.956: the late stale updates that moved the final weights are small.

The fault tests need epochs long enough for a fault to land inside one (an
epoch of digits takes 0.1 s on the cluster): their fits see the training rows
``FAULT_REPEAT`` times per epoch."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

import loxodon
from fixtures import mlp
from loxodon.datasets import digits

BATCH = 32
SEED = 0
TRAIN_ROWS = 1347  # digits(seed=SEED)'s training rows
FAULT_REPEAT = 8


@dataclass(frozen=True)
class Fit:
    name: str  # test id and key of the local[2] reference
    mode: str
    options: dict[str, Any] = field(default_factory=dict)
    epochs: int = 8
    repeat: int = 1  # times each training row appears in an epoch

    @property
    def workers(self) -> int:
        return 1 if self.mode == "single" else 2

    def learning_rate(self) -> float | keras.optimizers.schedules.LearningRateSchedule:
        if self.mode in ("asynchronous", "hogwild"):
            rows = math.ceil(TRAIN_ROWS * self.repeat / self.workers)
            return keras.optimizers.schedules.CosineDecay(
                3e-3, self.epochs * math.ceil(rows / BATCH)
            )
        return 1e-2

    def make_mlp(self) -> keras.Model:
        return mlp(64, 64, 10, seed=SEED, learning_rate=self.learning_rate())

    def spark_model(self, **extra: Any) -> loxodon.SparkModel:
        return loxodon.SparkModel(
            self.make_mlp(), mode=self.mode, num_workers=self.workers, **self.options, **extra
        )

    def data(self) -> tuple[np.ndarray, ...]:
        """``x, y, x_test, y_test``: digits, the training rows repeated."""
        x, y, x_test, y_test = digits(seed=SEED)
        assert len(x) == TRAIN_ROWS
        return np.tile(x, (self.repeat, 1)), np.tile(y, self.repeat), x_test, y_test

    def fit_args(self) -> dict[str, Any]:
        x, y, _, _ = self.data()
        return {"data": x, "y": y, "epochs": self.epochs, "batch_size": BATCH, "verbose": 0}


MODES = [
    Fit("single", "single"),
    Fit("synchronous", "synchronous"),
    Fit("averaging", "averaging", {"frequency": "epoch"}),
    Fit("asynchronous", "asynchronous", {"communication_window": 4}),
    Fit("hogwild", "hogwild", {"communication_window": 4}),
    # 6 shards for 2 workers: a worker reads the shards cached on the other host from Spark's
    # block manager over the network.
    Fit(
        "asynchronous-shards", "asynchronous", {"communication_window": 4, "parallelism_factor": 3}
    ),
    Fit("easgd", "easgd", {"communication_window": 4}),
    Fit("aeasgd", "aeasgd", {"communication_window": 4}),
]
FAULTS = {
    fit.mode: Fit(f"{fit.mode}-long", fit.mode, fit.options, epochs=6, repeat=FAULT_REPEAT)
    for fit in MODES
    if fit.mode in ("synchronous", "asynchronous")
}

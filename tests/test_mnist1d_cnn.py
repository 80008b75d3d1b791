"""The convolutional network of the MNIST-1D paper (``examples/mnist1d_cnn.py``)
on NumPy input of shape (N, 40, 1) learns at the learning rate plain Keras uses
(Adam 1e-2), within 2 points of plain Keras on the same data, epochs and global
batch, in the modes whose workers meet in rounds (their runs repeat): each
mode's default rate rule (``TrainParams.learningRateScale``: 1, N, N + 1) is
what makes it match. The asynchronous family is not asserted here: its result
depends on the order of the pushes, and aeasgd, which reached 0.913 against
Keras's 0.915 in one run, reached 0.889 in the next (a 2-point bar sits inside
that spread); test_training_modes bounds those modes on digits instead."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from pyspark.sql import SparkSession

import loxodon
from loxodon.datasets import mnist1d

EPOCHS = 30


def _example() -> ModuleType:
    path = Path(__file__).parent.parent / "examples" / "mnist1d_cnn.py"
    spec = importlib.util.spec_from_file_location("mnist1d_cnn", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXAMPLE = _example()


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, ...]:
    x, y, xt, yt = mnist1d()
    return x[..., None], y, xt[..., None], yt


@pytest.fixture(scope="module")
def keras_accuracy(data: tuple[np.ndarray, ...]) -> float:
    x, y, xt, yt = data
    plain = EXAMPLE.build_cnn()
    plain.fit(x, y, epochs=EPOCHS, batch_size=EXAMPLE.BATCH, verbose=0)
    return plain.evaluate(xt, yt, verbose=0, return_dict=True)["accuracy"]


@pytest.mark.parametrize(
    "mode",
    ["synchronous", "averaging", "easgd"],
)
def test_conv1d_matches_keras_at_its_rate(
    spark: SparkSession, data: tuple[np.ndarray, ...], keras_accuracy: float, mode: str
) -> None:
    x, y, xt, yt = data
    sm = loxodon.SparkModel(EXAMPLE.build_cnn(), mode=mode, num_workers=2, spark=spark)
    sm.fit(x, y, epochs=EPOCHS, batch_size=EXAMPLE.batch_size(mode, 2), verbose=0)
    accuracy = sm.evaluate(xt, yt, return_dict=True)["accuracy"]
    assert accuracy >= keras_accuracy - 0.02, (mode, accuracy, keras_accuracy)

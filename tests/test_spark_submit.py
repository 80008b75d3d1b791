"""The Scala example application, run the way a Scala user runs it: spark-submit
with Loxodon's jar on --jars and the examples jar as the application.

`make test` builds the examples jar first (`make examples-jar`)."""

from __future__ import annotations

import re
from pathlib import Path

import keras
import numpy as np

from fixtures import mlp, write_parquet
from loxodon.datasets import digits
from submit import spark_submit


def test_train_from_keras_with_spark_submit(tmp_path: Path) -> None:
    x_train, y_train, x_test, y_test = digits()
    write_parquet(tmp_path / "train.parquet", x_train, y_train)
    write_parquet(tmp_path / "test.parquet", x_test, y_test)
    mlp(64, 64, 10, seed=0, learning_rate=1e-2).save(tmp_path / "model.keras")
    trained = tmp_path / "trained.keras"

    out = spark_submit(
        "loxodon.examples.TrainFromKeras",
        [
            "--mode=synchronous",
            "--workers=2",
            "--epochs=8",
            str(tmp_path / "model.keras"),
            str(tmp_path / "train.parquet"),
            str(tmp_path / "test.parquet"),
            str(trained),
        ],
        cwd=tmp_path,
    )
    report = f"stdout:\n{out.stdout}\nstderr (tail):\n{out.stderr[-4000:]}"

    epochs = re.findall(r"^epoch (\d+)/8: .*accuracy=", out.stdout, re.MULTILINE)
    assert epochs == [str(e) for e in range(1, 9)], report
    found = re.search(r"^test accuracy: ([0-9.]+)$", out.stdout, re.MULTILINE)
    assert found, report
    accuracy = float(found.group(1))
    assert accuracy > 0.85, report
    evaluated = re.search(r"^test evaluate: .*\baccuracy=([0-9.]+)", out.stdout, re.MULTILINE)
    assert evaluated and abs(float(evaluated.group(1)) - accuracy) < 2e-3, report

    model = keras.saving.load_model(trained)
    local = float(np.mean(model.predict(x_test, verbose=0).argmax(axis=1) == y_test))
    # Printed with 4 decimals; float rounding may flip at most one borderline row.
    assert abs(local - accuracy) <= 1.0 / len(y_test) + 1e-4, (local, accuracy)

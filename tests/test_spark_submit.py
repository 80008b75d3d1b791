"""The Scala example application, run the way a Scala user runs it: spark-submit
with Loxodon's jar on --jars and the examples jar as the application.

`make test` builds the examples jar first (`make examples-jar`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.find_spark_home import _find_spark_home

from loxodon.datasets import digits

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_JARS = ROOT / "examples" / "scala" / "target" / "scala-2.13"


def examples_jar() -> Path:
    jars = sorted(EXAMPLES_JARS.glob("loxodon-examples_2.13-*.jar"))
    if not jars:
        pytest.fail(
            f"no examples jar in {EXAMPLES_JARS}: build it with `make examples-jar` "
            "(build/sbt examples/package); `make test` does so before pytest",
            pytrace=False,
        )
    return jars[-1]


def loxodon_jar() -> str:
    out = subprocess.run(
        [sys.executable, "-m", "loxodon", "jar"], capture_output=True, text=True, timeout=60
    )
    if out.returncode != 0:
        pytest.fail(f"`python -m loxodon jar` failed: {out.stderr.strip()}", pytrace=False)
    return out.stdout.strip()


def write_parquet(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    x = np.ascontiguousarray(x, dtype=np.float32)
    offsets = pa.array(np.arange(0, x.size + 1, x.shape[1], dtype=np.int32))
    features = pa.ListArray.from_arrays(offsets, pa.array(x.reshape(-1)))
    table = pa.table({"features": features, "label": pa.array(y.astype(np.float64))})
    assert table.schema.field("features").type == pa.list_(pa.float32())
    pq.write_table(table, path)


def make_mlp() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def test_train_from_keras_with_spark_submit(tmp_path: Path) -> None:
    app_jar = examples_jar()
    lox_jar = loxodon_jar()
    x_train, y_train, x_test, y_test = digits()
    write_parquet(tmp_path / "train.parquet", x_train, y_train)
    write_parquet(tmp_path / "test.parquet", x_test, y_test)
    make_mlp().save(tmp_path / "model.keras")
    trained = tmp_path / "trained.keras"

    spark_submit = Path(_find_spark_home()) / "bin" / "spark-submit"
    python = sys.executable
    env = {**os.environ, "PYSPARK_PYTHON": python}
    env.pop("PYSPARK_DRIVER_PYTHON", None)
    cmd = [
        str(spark_submit),
        "--master",
        "local[2]",
        "--driver-memory",
        "1g",
        "--jars",
        lox_jar,
        "--conf",
        f"spark.pyspark.python={python}",
        "--conf",
        "spark.ui.enabled=false",
        "--class",
        "loxodon.examples.TrainFromKeras",
        str(app_jar),
        "--mode=synchronous",
        "--workers=2",
        "--epochs=8",
        str(tmp_path / "model.keras"),
        str(tmp_path / "train.parquet"),
        str(tmp_path / "test.parquet"),
        str(trained),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=env, cwd=tmp_path)
    report = f"stdout:\n{out.stdout}\nstderr (tail):\n{out.stderr[-4000:]}"
    assert out.returncode == 0, report

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

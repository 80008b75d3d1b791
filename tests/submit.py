"""Running the Scala example applications the way a Scala user runs them:
spark-submit with Loxodon's jar on --jars and the examples jar as the
application (`make test` builds it first with `make examples-jar`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from pyspark.find_spark_home import _find_spark_home

from fixtures import mlp, write_parquet
from loxodon.datasets import digits

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_JARS = ROOT / "examples" / "scala" / "target" / "scala-2.13"


def examples_jar() -> Path:
    # The matrix (tests/matrix) runs the examples built for its own Spark line.
    if os.environ.get("LOXODON_EXAMPLES_JAR"):
        return Path(os.environ["LOXODON_EXAMPLES_JAR"])
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


def spark_submit(
    main_class: str, args: list[str], cwd: Path, submit_options: list[str] | None = None
) -> subprocess.CompletedProcess:
    """Runs ``main_class`` of the examples jar on local[2]; the executors' Python
    workers use this interpreter. Fails the test with both outputs if it fails."""
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
        loxodon_jar(),
        "--conf",
        f"spark.pyspark.python={python}",
        "--conf",
        "spark.ui.enabled=false",
        *(submit_options or []),
        "--class",
        main_class,
        str(examples_jar()),
        *args,
    ]
    # A backstop only (every wait inside has its own deadline): a run took 150-300 s at a load
    # of 20 on 2 cores (the matrix, Spark 3.5 and 4.0).
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=cwd)
    assert out.returncode == 0, f"stdout:\n{out.stdout}\nstderr (tail):\n{out.stderr[-4000:]}"
    return out


def train_from_keras(tmp_path: Path, epochs: int) -> tuple[str, float, float]:
    """Trains the digits MLP with the ``TrainFromKeras`` example (synchronous, 2 workers,
    ``epochs``) under spark-submit, from a ``.keras`` file and Parquet tables written here.
    Returns its stdout, the test accuracy it printed, and the accuracy of the ``.keras``
    file it wrote when Keras loads it here; fails unless the application printed one."""
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
            f"--epochs={epochs}",
            str(tmp_path / "model.keras"),
            str(tmp_path / "train.parquet"),
            str(tmp_path / "test.parquet"),
            str(trained),
        ],
        cwd=tmp_path,
    )
    found = re.search(r"^test accuracy: ([0-9.]+)$", out.stdout, re.MULTILINE)
    assert found, f"stdout:\n{out.stdout}\nstderr (tail):\n{out.stderr[-4000:]}"
    model = keras.saving.load_model(trained)
    local = float(np.mean(model.predict(x_test, verbose=0).argmax(axis=1) == y_test))
    return out.stdout, float(found.group(1)), local

"""spark-submit against the namespace cluster's master in client mode, from
the driver host, as a user runs it: the Scala example application (the
examples jar, Loxodon's jar on --jars) and a Python application."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import keras
import numpy as np
from clusterctl import Cluster, SharedSession, assert_reached_driver, python_env
from mode_fits import MODES
from pyspark.find_spark_home import _find_spark_home

from fixtures import write_parquet
from submit import examples_jar, loxodon_jar

HERE = Path(__file__).resolve().parent
SYNCHRONOUS = next(fit for fit in MODES if fit.name == "synchronous")


def spark_submit(cluster: Cluster, app: list[str], cwd: Path) -> subprocess.CompletedProcess:
    python = sys.executable
    env = python_env({**os.environ, "PYSPARK_PYTHON": python, "PYSPARK_DRIVER_PYTHON": python})
    cmd = [
        str(Path(_find_spark_home()) / "bin" / "spark-submit"),
        "--master",
        cluster.master,
        "--deploy-mode",
        "client",
        "--jars",
        loxodon_jar(),
        *(
            arg
            for key, value in cluster.driver_conf().items()
            for arg in ("--conf", f"{key}={value}")
        ),
        *app,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=env, cwd=cwd)
    assert out.returncode == 0, f"stdout:\n{out.stdout}\nstderr (tail):\n{out.stderr[-4000:]}"
    return out


def test_scala_application(shared_session: SharedSession, cluster: Cluster) -> None:
    shared_session.stop()  # the application needs the executors' cores
    where = cluster.shared / f"submit-scala-{uuid.uuid4().hex[:8]}"
    where.mkdir(parents=True)
    x, y, x_test, y_test = SYNCHRONOUS.data()
    write_parquet(where / "train.parquet", x, y)
    write_parquet(where / "test.parquet", x_test, y_test)
    SYNCHRONOUS.make_mlp().save(where / "model.keras")
    trained = where / "trained.keras"
    args = ["--mode=synchronous", "--workers=2", f"--epochs={SYNCHRONOUS.epochs}"]
    paths = [where / "model.keras", where / "train.parquet", where / "test.parquet", trained]
    out = spark_submit(
        cluster,
        [
            "--class",
            "loxodon.examples.TrainFromKeras",
            str(examples_jar()),
            *args,
            *map(str, paths),
        ],
        cwd=where,
    )
    report = f"stdout:\n{out.stdout}\nstderr (tail):\n{out.stderr[-4000:]}"
    epochs = re.findall(rf"^epoch (\d+)/{SYNCHRONOUS.epochs}: .*accuracy=", out.stdout, re.M)
    assert epochs == [str(e) for e in range(1, SYNCHRONOUS.epochs + 1)], report
    found = re.search(r"^test accuracy: ([0-9.]+)$", out.stdout, re.MULTILINE)
    assert found and float(found.group(1)) > 0.9, report

    model = keras.saving.load_model(trained)
    local = float(np.mean(model.predict(x_test, verbose=0).argmax(axis=1) == y_test))
    # Printed with 4 decimals; float rounding may flip at most one borderline row.
    assert abs(local - float(found.group(1))) <= 1.0 / len(y_test) + 1e-4, (local, report)


def test_python_application(
    shared_session: SharedSession, cluster: Cluster, local_reference: dict[str, float]
) -> None:
    shared_session.stop()  # the application needs the executors' cores
    out = spark_submit(cluster, [str(HERE / "submit_train.py")], cwd=HERE)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, out.stderr[-4000:]
    result = json.loads(lines[-1][len("RESULT ") :])
    assert result["epochs"] == SYNCHRONOUS.epochs
    assert abs(result["accuracy"] - local_reference["synchronous"]) <= 0.02, result
    assert_reached_driver(result["last_fit"], cluster, SYNCHRONOUS.workers)

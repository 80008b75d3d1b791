"""A fit with Spark's encryption on: the parameter server's connections and
the executors' channels to their Python workers are TLS, and the trained
weights are bit for bit those of the same fit in clear text (synchronous mode
is deterministic). The encrypted fit runs in a driver process of its own, since
the setting is read when the Spark application starts; the clear one runs in the
test's session meanwhile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from pyspark.sql import SparkSession

import loxodon
from fixtures import mlp
from loxodon.datasets import digits

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

SCRIPT = """
import json, sys
import numpy as np
import loxodon
from fixtures import mlp
from loxodon.datasets import digits

out, conf = sys.argv[1], json.loads(sys.argv[2])
spark = loxodon.spark_session("local[2]", app_name="loxodon-tls-fit", **conf)
spark.sparkContext.setLogLevel("ERROR")
x, y, _, _ = digits()
model = loxodon.SparkModel(
    mlp(64, 64, 10, seed=0, learning_rate=1e-2), mode="synchronous", num_workers=2, spark=spark
)
history = model.fit(x[:512], y[:512], epochs=2, batch_size=32, verbose=0)
np.save(out + ".npy", np.concatenate([w.ravel() for w in model.master_network.get_weights()]))
workers = [{k: w[k] for k in ("ps_tls", "channel_tls")} for w in model.last_fit["workers"]]
json.dump({"workers": workers, "loss": history.history["loss"]}, open(out + ".json", "w"))
spark.stop()
"""


def _start(tmp_path: Path, conf: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'python'}{os.pathsep}{TESTS}"}
    with open(tmp_path / "tls.log", "wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(tmp_path / "tls"), json.dumps(conf)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _clear_fit(spark: SparkSession) -> tuple[np.ndarray, list[dict]]:
    """SCRIPT's fit, in this process's Spark application (no encryption)."""
    x, y, _, _ = digits()
    model = loxodon.SparkModel(
        mlp(64, 64, 10, seed=0, learning_rate=1e-2), mode="synchronous", num_workers=2, spark=spark
    )
    model.fit(x[:512], y[:512], epochs=2, batch_size=32, verbose=0)
    weights = np.concatenate([w.ravel() for w in model.master_network.get_weights()])
    workers = [{k: w[k] for k in ("ps_tls", "channel_tls")} for w in model.last_fit["workers"]]
    return weights, workers


def test_a_fit_over_tls_trains_the_same_weights_as_in_clear(
    spark: SparkSession, tmp_path: Path
) -> None:
    # Spark requires its own authentication under its encryption.
    spark_crypto = {"spark.authenticate": "true", "spark.network.crypto.enabled": "true"}
    proc = _start(tmp_path, spark_crypto)
    try:
        clear, plain_workers = _clear_fit(spark)
        code = proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, (tmp_path / "tls.log").read_text()[-4000:]
    encrypted = np.load(tmp_path / "tls.npy")
    tls = json.loads((tmp_path / "tls.json").read_text())
    assert tls["workers"] == [{"ps_tls": True, "channel_tls": True}] * 2
    assert plain_workers == [{"ps_tls": False, "channel_tls": False}] * 2
    assert tls["loss"][-1] < tls["loss"][0]
    np.testing.assert_array_equal(encrypted, clear)

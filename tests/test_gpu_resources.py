"""Spark's ``gpu`` resource scheduling reaches the Python workers, on a machine
without a GPU: ``local-cluster[2,1,1024]``, one GPU per worker, executor and
task, and a discovery script that gives one worker address ``0`` and the other
``1`` (each worker discovers on its own, ``fixtures.gpu_discovery_script``).
Each fit worker must see, as ``CUDA_VISIBLE_DEVICES``, exactly the address Spark
gave its task, the two workers different ones; each predict task's model reads the variable in its
own worker process and writes it into every prediction.

No GPU is touched: TensorFlow finds no CUDA device behind the addresses and
runs on the CPU, so this runs in CI. ``test_gpu.py`` is the run on a real GPU.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fixtures import gpu_discovery_script
from loxodon.worker import devices

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import keras, numpy as np, loxodon
    from loxodon.datasets import digits

    discovery = sys.argv[1]
    spark = loxodon.spark_session(
        "local-cluster[2,1,1024]",
        app_name="loxodon-gpu-resources",
        **{
            "spark.worker.resource.gpu.amount": "1",
            "spark.worker.resource.gpu.discoveryScript": discovery,
            "spark.executor.resource.gpu.amount": "1",
            "spark.task.resource.gpu.amount": "1",
        },
    )
    spark.sparkContext.setLogLevel("ERROR")
    x, y, xt, yt = digits()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    spark_model = loxodon.SparkModel(model, mode="synchronous", num_workers=2)
    spark_model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    accuracy = spark_model.evaluate(xt, yt, return_dict=True)["accuracy"]


    class VisibleGpu(keras.layers.Layer):
        # Traced in the predicting worker: its CUDA_VISIBLE_DEVICES, -1 when unset.
        def call(self, inputs):
            gpu = float(os.environ.get("CUDA_VISIBLE_DEVICES", "-1"))
            return keras.ops.zeros_like(inputs[:, :1]) + gpu


    probe = keras.Sequential([keras.Input((64,)), VisibleGpu()])
    predicted = loxodon.SparkModel(
        probe, num_workers=2, custom_objects={"VisibleGpu": VisibleGpu}
    ).predict(xt)
    print("RESULT " + json.dumps({
        "workers": [w["devices"] for w in spark_model.last_fit["workers"]],
        "accuracy": accuracy,
        "predicted": sorted({float(v) for v in np.asarray(predicted).ravel()}),
        "rows": int(np.asarray(predicted).shape[0]),
        "test_rows": int(len(xt)),
    }))
    spark.stop()
    """
)


@pytest.mark.cluster
def test_each_worker_sees_exactly_its_tasks_gpu(tmp_path: Path) -> None:
    discovery = gpu_discovery_script(tmp_path, ["0", "1"])
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(discovery)],
        capture_output=True,
        text=True,
        timeout=420,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, run.stderr[-4000:]
    result = json.loads(lines[-1][len("RESULT ") :])
    workers = result["workers"]
    assert len(workers) == 2, result
    for seen in workers:
        assert len(seen["task_gpus"]) == 1, result
        assert seen["visible_gpus"] == seen["task_gpus"][0], result
        assert seen["gpus"] == [], result  # no CUDA here: the addresses are Spark's only
    assert sorted(d["visible_gpus"] for d in workers) == ["0", "1"], result
    assert result["accuracy"] > 0.85, result
    assert result["rows"] == result["test_rows"], result
    # Both predict tasks ran under one GPU address each, the two executors' two addresses.
    assert result["predicted"] == [0.0, 1.0], result


def test_a_worker_refuses_a_task_whose_gpus_it_does_not_see(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    with pytest.raises(RuntimeError, match="task 3 holds GPUs '0' but .*='1'"):
        devices.check({"gpus": "0", "partition": 3})
    devices.check({"gpus": "1", "partition": 3})
    devices.check({"gpus": "", "partition": 3})  # no gpu resource: the environment is not ours
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    with pytest.raises(RuntimeError, match="None"):
        devices.check({"gpus": "0,1", "partition": 0})
    devices.check({"partition": 0})

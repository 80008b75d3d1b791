"""The driver of ``test_gpu.py``, one process (one SparkContext): a fit per mode
and a distributed predict on ``local-cluster`` with Spark's ``gpu`` resources,
printing ``RESULT <json>``: per mode the accuracy, plain Keras's at the same
rate, the epochs run and each worker's ``devices`` report; for the predict its
accuracy and what each row's worker saw; the count of executors.

    python tests/gpu_fits.py DISCOVERY_SCRIPT NUM_GPUS MODE[,MODE...]

Runs on a machine without a GPU too (the reports then list no TensorFlow GPU),
which is how it is checked where ``test_gpu.py`` skips.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")  # the driver's Keras shares the GPU

import keras
import numpy as np

import loxodon
from fixtures import MODE_OPTIONS, mlp, mode_learning_rate
from loxodon.datasets import digits

EPOCHS = 8
BATCH = 32


class GpuProbe(keras.layers.Layer):
    """Traced in the predicting worker: its CUDA_VISIBLE_DEVICES (-1 unset) and how many
    GPUs its TensorFlow has, as two columns of every row."""

    def call(self, inputs: Any) -> Any:
        import tensorflow as tf

        visible = float(os.environ.get("CUDA_VISIBLE_DEVICES", "-1").split(",")[0])
        found = float(len(tf.config.list_logical_devices("GPU")))
        zeros = keras.ops.zeros_like(inputs[:, :1])
        return keras.ops.concatenate([zeros + visible, zeros + found], axis=1)


def session(discovery: str, gpus: int) -> object:
    """Two executors of one GPU each, or, with one GPU, one executor whose two tasks share it."""
    separate = gpus >= 2
    return loxodon.spark_session(
        "local-cluster[2,1,2048]" if separate else "local-cluster[1,2,4096]",
        app_name="loxodon-gpu",
        **{
            "spark.worker.resource.gpu.amount": "1",
            "spark.worker.resource.gpu.discoveryScript": discovery,
            "spark.executor.resource.gpu.amount": "1",
            "spark.task.resource.gpu.amount": "1" if separate else "0.5",
        },
    )


def main() -> None:
    discovery, gpus, modes = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
    spark = session(discovery, gpus)
    spark.sparkContext.setLogLevel("ERROR")
    x, y, xt, yt = digits()
    references: dict[float, float] = {}
    fits, models = {}, {}
    for mode in modes:
        rate = mode_learning_rate(mode)
        if rate not in references:
            plain = mlp(64, 64, 10, seed=0, learning_rate=rate)
            plain.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0)
            references[rate] = plain.evaluate(xt, yt, verbose=0, return_dict=True)["accuracy"]
        workers = 1 if mode == "single" else 2
        model = loxodon.SparkModel(
            mlp(64, 64, 10, seed=0, learning_rate=rate),
            mode=mode,
            num_workers=workers,
            **MODE_OPTIONS[mode],
        )
        history = model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0)
        fits[mode] = {
            "accuracy": model.evaluate(xt, yt, return_dict=True)["accuracy"],
            "epochs": len(history.history["loss"]),
            "reference": references[rate],
            "workers": [w["devices"] for w in model.last_fit["workers"]],
        }
        models[mode] = model
    trained = models.get("synchronous", next(iter(models.values()))).master_network
    inputs = keras.Input((64,))
    joined = keras.Model(inputs, keras.layers.Concatenate()([trained(inputs), GpuProbe()(inputs)]))
    rows = np.asarray(
        loxodon.SparkModel(joined, num_workers=2, custom_objects={"GpuProbe": GpuProbe}).predict(xt)
    )
    predict = {
        "accuracy": float(np.mean(np.argmax(rows[:, :10], axis=1) == yt)),
        "visible": sorted({float(v) for v in rows[:, 10]}),
        "gpus_seen": sorted({float(v) for v in rows[:, 11]}),
        "rows": int(rows.shape[0]),
    }
    executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1  # less the driver
    print("RESULT " + json.dumps({"fits": fits, "predict": predict, "executors": executors}))
    spark.stop()


if __name__ == "__main__":
    main()

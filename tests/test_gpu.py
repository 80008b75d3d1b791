"""Training and prediction on a real GPU, through Spark's ``gpu`` resources.

Runs only where TensorFlow sees a GPU (``pip install 'loxodon[gpu]'``, README
"GPUs"); elsewhere, tensorflow-cpu included, it is skipped with the reason, so
CI stays green. ``test_gpu_resources.py`` checks the same plumbing without one.

One driver process on ``local-cluster``: with two GPUs or more, two executors of
one GPU each (one per task); with one, a single executor whose two tasks share
it (``spark.task.resource.gpu.amount=0.5``). The discovery script hands each
worker one of the GPUs TensorFlow sees here. Every mode fits once and must reach 90% of plain
Keras's accuracy (the bar of ``test_training_modes``); each worker must have
seen exactly its task's GPU, found it in TensorFlow and kept the model's weights
there. A distributed predict of the synchronous model must score as well, its
workers also on their task's GPU. The test prints the GPUs it ran on.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fixtures import gpu_discovery_script, run_result
from loxodon.contract import MODES

tf = pytest.importorskip("tensorflow")

PHYSICAL = tf.config.list_physical_devices("GPU")
if not PHYSICAL:
    pytest.skip(
        f"not run: TensorFlow {tf.__version__} sees no GPU (built with CUDA: "
        f"{tf.test.is_built_with_cuda()}; tensorflow-cpu never does). Install "
        "'loxodon[gpu]' on a machine with an NVIDIA GPU, see README 'GPUs'",
        allow_module_level=True,
    )

SCRIPT = Path(__file__).with_name("gpu_fits.py")


def _addresses() -> list[str]:
    """The GPU addresses of this machine as the executors will number them."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        return [a for a in visible.split(",") if a][: len(PHYSICAL)]
    return [str(i) for i in range(len(PHYSICAL))]


def test_every_mode_and_predict_on_gpu(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    addresses = _addresses()
    discovery = gpu_discovery_script(tmp_path, addresses)
    result = run_result(
        [str(SCRIPT), str(discovery), str(len(addresses)), ",".join(MODES)], timeout=1800
    )
    separate = len(addresses) >= 2
    names = set()
    for mode, fit in result["fits"].items():
        assert fit["accuracy"] >= 0.9 * fit["reference"], (mode, fit)
        for devices in fit["workers"]:
            assert len(devices["task_gpus"]) == 1, (mode, devices)
            assert devices["visible_gpus"] == devices["task_gpus"][0], (mode, devices)
            assert len(devices["gpus"]) == 1, (mode, devices)
            assert "GPU" in (devices["weights_device"] or ""), (mode, devices)
            names.add(devices["gpus"][0]["name"] or devices["gpus"][0]["device"])
        if separate and len(fit["workers"]) == 2:
            assert len({d["visible_gpus"] for d in fit["workers"]}) == 2, (mode, fit)
    predict = result["predict"]
    assert predict["accuracy"] >= 0.9 * result["fits"]["synchronous"]["reference"], predict
    assert predict["gpus_seen"] == [1.0], predict  # every row predicted in a 1-GPU process
    assert set(predict["visible"]) <= {float(a) for a in addresses}, predict
    with capsys.disabled():
        print(f"\ntest_gpu ran on {sorted(names)} (addresses {addresses}): {result['fits']}")

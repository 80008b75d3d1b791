"""Spark's ``gpu`` resource scheduling reaches the Python workers, on a machine
without a GPU: ``test_gpu.py``'s driver (``gpu_fits.py``, the ``local_cluster_fits``
fixture) on ``local-cluster[2,1,2048]``, one GPU per worker, executor and task, and a
discovery script that gives one worker address ``0`` and the other ``1`` (each worker
discovers on its own, ``fixtures.gpu_discovery_script``). Each fit worker must see, as
``CUDA_VISIBLE_DEVICES``, exactly the address Spark gave its task, the two workers
different ones; each predict task's model reads the variable in its own worker process
and writes it into every prediction.

No GPU is touched: TensorFlow finds no CUDA device behind the addresses and
runs on the CPU, so this runs in CI. ``test_gpu.py`` is the run on a real GPU.
"""

from __future__ import annotations

from typing import Any

import pytest

from loxodon.worker import devices


@pytest.mark.cluster
def test_each_worker_sees_exactly_its_tasks_gpu(local_cluster_fits: dict[str, Any]) -> None:
    result = local_cluster_fits
    fit = result["fits"]["synchronous"]
    workers = fit["workers"]
    assert len(workers) == 2, result
    for seen in workers:
        assert len(seen["task_gpus"]) == 1, result
        assert seen["visible_gpus"] == seen["task_gpus"][0], result
        assert seen["gpus"] == [], result  # no CUDA here: the addresses are Spark's only
    assert sorted(d["visible_gpus"] for d in workers) == ["0", "1"], result
    assert fit["accuracy"] >= 0.9 * fit["reference"], result
    predict = result["predict"]
    assert predict["rows"] == 450, result  # every test row of digits, once
    assert predict["accuracy"] >= 0.9 * fit["reference"], result
    # Both predict tasks ran under one GPU address each, the two executors' two addresses,
    # and found no GPU in TensorFlow.
    assert predict["visible"] == [0.0, 1.0], result
    assert predict["gpus_seen"] == [0.0], result


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

"""Synchronous and asynchronous training on ``local-cluster[2,1,2048]``: two
separate executor JVMs, so the jar, closures, worker pools and the parameter
server's network traffic are all real. One driver process (``gpu_fits.py``, the
``local_cluster_fits`` fixture, shared with ``test_gpu_resources``) runs both.

The asynchronous run trains at Adam's 3e-3, as ``test_training_modes`` does and
for the same reason: at 1e-2, stale-summed updates let its accuracy after 6
epochs range from 0.84 to 0.96 (5 runs, two under the 0.9 bar, one of them a
fresh-clone CI run); at 3e-3, 8 runs gave 0.953-0.967."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.cluster
@pytest.mark.parametrize("mode", ["synchronous", "asynchronous"])
def test_training_on_separate_executor_jvms(local_cluster_fits: dict[str, Any], mode: str) -> None:
    result = local_cluster_fits
    fit = result["fits"][mode]
    assert result["executors"] == 2, result
    assert fit["epochs"] == 8, fit
    assert fit["accuracy"] > 0.9, fit
    assert fit["accuracy"] >= 0.9 * fit["reference"], fit

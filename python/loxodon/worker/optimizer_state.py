"""A worker's optimizer state for checkpoints (docs/design.md, "Checkpoint and resume").

With a ``checkpoint_dir`` every worker PUTs its optimizer's variables (the step
counter, Adam's moments, ...) as the blob :func:`blob_name` before each
EPOCH_END, as a NumPy ``.npz`` of the arrays in variable order; the driver
writes them into the checkpoint. A resumed fit's driver PUTs them back under
the same names, and the checkpoint's center as :data:`RESUME_CENTER`, before
the workers start. The learning rate is left out: it is the fit's (the
archive's, set by the driver's callbacks), not the checkpoint's.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from loxodon.ps_client import PSClient, PSError

RESUME_CENTER = "loxodon/resume/center"  # Scala: Checkpoints.ResumeCenterBlob


def blob_name(worker: int) -> str:
    """Scala: ``Checkpoints.optimizerBlob``."""
    return f"loxodon/worker/{worker}/optimizer"


def _variables(model: Any) -> list[Any]:
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    rate = getattr(optimizer, "_learning_rate", None)
    return [v for v in optimizer.variables if v is not rate]


def pack(model: Any) -> bytes:
    """The optimizer's variables (but the rate) as ``.npz`` bytes."""
    out = io.BytesIO()
    np.savez(out, *[np.asarray(v.numpy()) for v in _variables(model)])
    return out.getvalue()


def unpack(model: Any, data: bytes) -> None:
    """Assigns what :func:`pack` wrote; a state of another optimizer is a ValueError."""
    variables = _variables(model)
    with np.load(io.BytesIO(data)) as arrays:
        values = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    shapes = [(tuple(v.shape), np.dtype(v.dtype)) for v in variables]
    found = [(a.shape, a.dtype) for a in values]
    if shapes != found:
        raise ValueError(
            f"the checkpoint's optimizer state ({len(found)} variables) does not fit this "
            f"model's optimizer ({len(shapes)} variables, or other shapes); resume with the "
            "same model and optimizer, or pass a new checkpoint_dir"
        )
    for v, a in zip(variables, values, strict=True):
        v.assign(a)


def publish(ps: PSClient, worker: int, model: Any) -> None:
    ps.put_blob(blob_name(worker), pack(model))


def restore(ps: PSClient, worker: int, model: Any) -> bool:
    """Takes this worker's last published (or resumed) optimizer state, if there is one."""
    try:
        data = bytes(ps.get_blob(blob_name(worker)))
    except PSError:
        return False
    unpack(model, data)
    return True


def resume_center(ps: PSClient) -> np.ndarray | None:
    """The center a resumed fit starts from, or None for a fresh fit."""
    try:
        return np.frombuffer(bytes(ps.get_blob(RESUME_CENTER)), np.float32).copy()
    except PSError:
        return None

"""Keras models as bytes and as flat vectors, for the driver and the workers.

Models travel as Keras's own ``.keras`` archive. Weights travel as one flat
float32 vector: the concatenation of ``model.weights`` in order (the layout
agreed at job start).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Any

import numpy as np


def load_model(archive: bytes, custom_objects: dict[str, Any] | None = None) -> Any:
    """A compiled Keras model from the bytes of a ``.keras`` archive."""
    import keras

    with tempfile.TemporaryDirectory(prefix="loxodon-model-") as tmp:
        path = os.path.join(tmp, "model.keras")
        with open(path, "wb") as f:
            f.write(archive)
        return keras.models.load_model(path, custom_objects=custom_objects, compile=True)


def model_to_archive(model: Any) -> bytes:
    """The bytes of ``model.save(...)`` in Keras's own ``.keras`` format."""
    with tempfile.TemporaryDirectory(prefix="loxodon-model-") as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        with open(path, "rb") as f:
            return f.read()


def require_one_input_and_output(model: Any, where: str) -> None:
    """Refuses a model with several inputs or outputs: rows carry one features array and
    one label array, so such a model would be fed wrongly, not refused, by the workers."""
    inputs, outputs = getattr(model, "inputs", None) or [], getattr(model, "outputs", None) or []
    if len(inputs) > 1 or len(outputs) > 1:
        raise ValueError(
            f"{where}: the model has {len(inputs)} inputs and {len(outputs)} outputs; Loxodon "
            "trains models of one input and one output. Give the model one Input of all "
            "features, split inside it (slicing layers), and train one output at a time"
        )


def archive_digest(archive: bytes) -> str:
    return hashlib.sha256(archive).hexdigest()


class WeightLayout:
    """The flat float32 view of ``model.weights``, in order."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.variables = list(model.weights)
        self.shapes = [tuple(v.shape) for v in self.variables]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.offsets = np.cumsum([0, *self.sizes])
        self.num_params = int(self.offsets[-1])

    def get_flat(self) -> np.ndarray:
        return np.concatenate(
            [np.asarray(v.numpy(), np.float32).reshape(-1) for v in self.variables]
        )

    def set_flat(self, flat: np.ndarray) -> None:
        for v, shape, start, end in zip(
            self.variables, self.shapes, self.offsets[:-1], self.offsets[1:], strict=True
        ):
            v.assign(flat[start:end].reshape(shape).astype(v.dtype))

    def layout(self) -> dict[str, Any]:
        return {
            "weights": [
                {"name": v.path, "shape": list(s), "dtype": str(v.dtype)}
                for v, s in zip(self.variables, self.shapes, strict=True)
            ]
        }

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

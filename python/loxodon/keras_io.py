"""Keras models as bytes and as flat vectors, for the driver and the workers.

Models travel as Keras's own ``.keras`` archive. Weights travel as one flat
float32 vector: the concatenation of ``model.weights`` in order (the layout
agreed at job start).
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from typing import Any

import numpy as np

CUSTOM_OBJECTS_FIX = (
    "pass it in custom_objects={'Name': object} (SparkModel(custom_objects=...), "
    "KerasEstimator(customObjects=...)), or register it with "
    "@keras.saving.register_keras_serializable() in an importable module and name that module "
    "in imports=[...] (ship it with spark-submit --py-files or SparkContext.addPyFile)"
)
"""How to make a custom layer, loss or function known to the executors."""

_KERAS_PACKAGES = frozenset({"keras", "keras_hub", "keras_cv", "keras_nlp", "builtins", "loxodon"})
"""Top-level packages whose objects Keras finds by itself when it loads a model (and
Loxodon's own layers and models, registered by :func:`load_model`)."""


def load_model(archive: bytes, custom_objects: dict[str, Any] | None = None) -> Any:
    """A compiled Keras model from the bytes of a ``.keras`` archive; a custom object
    that this process cannot find is a TypeError naming the fix."""
    import keras

    import loxodon.text  # noqa: F401  (registers Loxodon's own serializable model)

    with tempfile.TemporaryDirectory(prefix="loxodon-model-") as tmp:
        path = os.path.join(tmp, "model.keras")
        with open(path, "wb") as f:
            f.write(archive)
        try:
            return keras.models.load_model(path, custom_objects=custom_objects, compile=True)
        except (TypeError, ValueError) as exc:
            text = str(exc)
            if "Could not locate" not in text and "could not be deserialized" not in text:
                raise
            cause = next((line for line in text.splitlines() if "Could not locate" in line), "")
            raise TypeError(
                "the Keras model could not be loaded here: a custom layer, loss or function is "
                f"unknown{f' ({cause.strip()})' if cause else ''}; {CUSTOM_OBJECTS_FIX}"
            ) from exc


def unknown_custom_classes(
    model: Any, custom_objects: dict[str, Any] | None, imports: list[str]
) -> list[str]:
    """The custom classes in ``model`` (layers, a subclassed model, loss or metric
    objects) that a worker loading its archive would not find: neither in
    ``custom_objects`` (nor imported along with them), nor in a module under
    ``imports``. Read from the model's own serialized config, on the driver."""
    import keras

    custom = custom_objects or {}
    modules = set(imports)
    modules |= {getattr(v, "__module__", "") for v in custom.values()}
    modules |= {type(v).__module__ for v in custom.values()}
    found: list[str] = []

    def known(module: str) -> bool:
        return module.split(".")[0] in _KERAS_PACKAGES or any(
            module == m or module.startswith(m + ".") for m in modules if m
        )

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            module, name = node.get("module"), node.get("class_name")
            if isinstance(module, str) and isinstance(name, str) and not known(module):
                registered = node.get("registered_name") or name
                if registered not in custom and name not in custom:
                    found.append(f"{name} (module {module})")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(keras.saving.serialize_keras_object(model))
    if getattr(model, "compiled", False):
        walk(model.get_compile_config())
    return sorted(set(found))


def require_loadable(
    model: Any, custom_objects: dict[str, Any] | None, imports: list[str], where: str
) -> None:
    """ValueError on the driver, before any task starts, when the workers could not
    load ``model`` (see :func:`unknown_custom_classes`)."""
    unknown = unknown_custom_classes(model, custom_objects, imports)
    if unknown:
        raise ValueError(
            f"{where}: the model uses custom objects the executors cannot load: "
            f"{', '.join(unknown)}; {CUSTOM_OBJECTS_FIX}"
        )


def model_to_archive(model: Any) -> bytes:
    """The bytes of ``model.save(...)`` in Keras's own ``.keras`` format."""
    with tempfile.TemporaryDirectory(prefix="loxodon-model-") as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        with open(path, "rb") as f:
            return f.read()


_SAVE_RECORD = "metadata.json"
"""The archive's entry of Keras's version and the save's date: not part of the model."""


def archive_digest(archive: bytes) -> str:
    """A digest of the model an archive holds: every entry's name and bytes but the
    save record's. Each ``model.save`` writes a new date there (and in the entries'
    timestamps), so hashing the file would make every ``predict`` call a new model to
    the workers' cache, reloaded and traced again (seconds for a text model)."""
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            for name in sorted(z.namelist()):
                if name != _SAVE_RECORD:
                    data = z.read(name)
                    digest.update(f"{name}\0{len(data)}\0".encode())
                    digest.update(data)
    except zipfile.BadZipFile:
        return hashlib.sha256(archive).hexdigest()
    return digest.hexdigest()


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

"""``SavedModelLayer``: a TensorFlow SavedModel as a Keras layer that travels
inside a ``.keras`` archive.

``keras.layers.TFSMLayer`` only records the SavedModel's path, so a model built
on it loads nowhere the directory is not (an executor, another cluster), and
only with unsafe deserialization. This layer copies the SavedModel's files into
the archive's assets (``save_assets``) and restores them into a private
temporary directory on load (``load_assets``), so the archive is self-contained
and loads in safe mode wherever this module is imported (Loxodon's workers
import it through the ``imports`` param of the stage that carries it).
The layer has no Keras weights: it is for inference.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from typing import Any

import keras

_SUBDIR = "saved_model"


def _private_copy(source: str) -> str:
    target = tempfile.mkdtemp(prefix="loxodon-savedmodel-")
    atexit.register(shutil.rmtree, target, True)
    shutil.copytree(source, os.path.join(target, _SUBDIR))
    return os.path.join(target, _SUBDIR)


def _endpoint_of(loaded: Any, endpoint: str) -> Any:
    """The callable ``endpoint`` of a loaded SavedModel: an attribute (``model.export``'s
    ``serve``) or a signature (``tf.saved_model.save``'s ``serving_default``)."""
    if hasattr(loaded, endpoint):
        return getattr(loaded, endpoint)
    if endpoint in loaded.signatures:
        return loaded.signatures[endpoint]
    known = sorted(loaded.signatures) + [
        name for name in ("serve", "serving_default") if hasattr(loaded, name)
    ]
    raise ValueError(f"the SavedModel has no endpoint {endpoint!r}; it has {known}")


def input_width(directory: str, endpoint: str = "serve") -> int:
    """The feature count of the SavedModel's endpoint (its one input's last dimension)."""
    import tensorflow as tf

    fn = _endpoint_of(tf.saved_model.load(directory), endpoint)
    concrete = fn.concrete_functions[0] if hasattr(fn, "concrete_functions") else fn
    args, kwargs = concrete.structured_input_signature
    specs = [s for s in tf.nest.flatten((args, kwargs)) if isinstance(s, tf.TensorSpec)]
    if len(specs) != 1 or specs[0].shape.rank != 2 or specs[0].shape[-1] is None:
        raise ValueError(
            f"expected one input of shape (batch, features) at endpoint {endpoint!r}, got {specs}"
        )
    return int(specs[0].shape[-1])


@keras.saving.register_keras_serializable(package="loxodon")
class SavedModelLayer(keras.layers.Layer):
    """Calls a SavedModel's endpoint; the SavedModel's files travel in the archive."""

    def __init__(
        self,
        directory: str | None = None,
        endpoint: str = "serve",
        output_width: int | None = None,
        **kwargs: Any,
    ):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.output_width = output_width
        self._directory: str | None = None
        self._fn: Any = None
        if directory is not None:
            self._restore(_private_copy(directory))

    def _restore(self, directory: str) -> None:
        import tensorflow as tf

        self._directory = directory
        self._loaded = tf.saved_model.load(directory)  # kept alive: it owns the variables
        self._fn = _endpoint_of(self._loaded, self.endpoint)

    def call(self, inputs: Any) -> Any:
        if self._fn is None:
            raise RuntimeError("SavedModelLayer called before its SavedModel was restored")
        out = self._fn(inputs)
        if isinstance(out, dict):
            if len(out) != 1:
                raise ValueError(f"endpoint {self.endpoint!r} returns {sorted(out)}; expected one")
            out = next(iter(out.values()))
        return out

    def compute_output_spec(self, inputs: Any) -> Any:
        import tensorflow as tf

        if self._fn is not None and self.output_width is None:
            # model building: trace the endpoint once for its output width
            out = self._fn(tf.zeros((1, *inputs.shape[1:]), inputs.dtype))
            if isinstance(out, dict):
                out = next(iter(out.values()))
            self.output_width = int(out.shape[-1])
        # while deserializing (no SavedModel yet) the width comes from the config
        return keras.KerasTensor((inputs.shape[0], self.output_width), dtype="float32")

    def save_assets(self, dir_path: str) -> None:
        if self._directory is None:
            raise RuntimeError("SavedModelLayer has no SavedModel to save")
        shutil.copytree(self._directory, os.path.join(dir_path, _SUBDIR))

    def load_assets(self, dir_path: str) -> None:
        # dir_path is removed once loading ends: keep a private copy
        self._restore(_private_copy(os.path.join(dir_path, _SUBDIR)))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "endpoint": self.endpoint,
            "output_width": self.output_width,
        }


def saved_model_as_keras(directory: str, endpoint: str = "serve") -> Any:
    """A ``keras.Model`` (features in, the endpoint's output out) around the
    SavedModel in ``directory`` (a local directory)."""
    width = input_width(directory, endpoint)
    inputs = keras.Input((width,), name="features")
    return keras.Model(inputs, SavedModelLayer(directory, endpoint, name="saved_model")(inputs))

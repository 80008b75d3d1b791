"""``KerasModel``: the Python wrapper of the Scala ``loxodon.ml.KerasModel``.

A trained (``KerasEstimator.fit``) or pretrained (``KerasModel.fromKerasModel``,
``KerasModel.fromPath``) Keras model as a Spark ML Transformer. ``transform``
adds ``predictionCol`` (the argmax class index as a double) and
``probabilityCol`` (an ML Vector), or with ``outputMode="raw"`` the raw output
as ``array<float>``. ``history`` is the per-epoch logs of the fit, as in Keras's
``History.history``; ``getKerasModel()`` gives the trained ``keras.Model``.
"""

from __future__ import annotations

import json
import pickle
import warnings
from typing import Any

from pyspark.ml.util import JavaMLWritable
from pyspark.ml.wrapper import JavaModel

from loxodon.ml.params import KerasParams, LoxodonMLReadable, add_setters

ALLOW_PICKLED_CONF = "spark.loxodon.allowPickledCustomObjects"
"""The Spark conf that lets a saved stage's pickled custom objects be loaded
(``KerasPersistence`` in Scala refuses them otherwise)."""

_warned_pickled_save = False


def warn_pickled_save(java_obj: Any) -> None:
    """Warns, once per process, when a stage that holds pickled custom objects is
    saved: loading it back will unpickle them, that is, run code from the saved path."""
    global _warned_pickled_save
    if _warned_pickled_save or java_obj.getCustomObjects() is None:
        return
    _warned_pickled_save = True
    warnings.warn(
        "saving a Keras stage with pickled customObjects: loading it runs code from the saved "
        f"path, so KerasModel.load/KerasEstimator.load refuse it unless {ALLOW_PICKLED_CONF}"
        "=true. Prefer imports=[...]: modules that register the objects with "
        "@keras.saving.register_keras_serializable(), importable on the executors",
        UserWarning,
        stacklevel=3,
    )


def pickle_custom_objects(custom_objects: dict[str, Any] | None) -> bytes | None:
    """A cloudpickle of ``custom_objects`` (None when empty), as the workers read it."""
    if not custom_objects:
        return None
    if not isinstance(custom_objects, dict):
        raise TypeError(
            f"customObjects must be a dict of name -> object, got {type(custom_objects).__name__}"
        )
    from pyspark import cloudpickle

    return cloudpickle.dumps(custom_objects)


class KerasModel(JavaModel, KerasParams, JavaMLWritable, LoxodonMLReadable):
    """A Keras model as a Spark ML Transformer (see the module docstring)."""

    def __init__(self, java_model: Any = None) -> None:
        super().__init__(java_model)
        if java_model is None:
            # Also the path of JavaParams._from_java (persistence), which then
            # replaces this fresh JVM object with the loaded one.
            self._java_obj = self._new_java_obj("loxodon.ml.KerasModel", self.uid)
        else:
            self._transfer_params_from_java()

    @classmethod
    def fromKerasModel(
        cls, model: Any, customObjects: dict[str, Any] | None = None, **params: Any
    ) -> KerasModel:
        """A pretrained ``keras.Model`` as a Transformer (``params``: e.g. ``featuresCol``)."""
        from loxodon.keras_io import model_to_archive

        if not hasattr(model, "save") or not hasattr(model, "layers"):
            raise TypeError(
                f"KerasModel.fromKerasModel: expected a keras.Model, got {type(model).__name__}"
            )
        out = cls()
        out._java_obj.setModelArchive(model_to_archive(model))
        out._java_obj.setCustomObjects(pickle_custom_objects(customObjects))
        return out._set_checked(**params)

    @classmethod
    def fromPath(
        cls, path: str, customObjects: dict[str, Any] | None = None, **params: Any
    ) -> KerasModel:
        """A pretrained ``.keras`` file at ``path`` (any Hadoop URI) as a Transformer."""
        out = cls()
        out._java_obj.setModelPath(path)
        out._java_obj.setCustomObjects(pickle_custom_objects(customObjects))
        return out._set_checked(**params)

    def _to_java(self) -> Any:  # what ML persistence (save, Pipeline.save) calls
        warn_pickled_save(self._java_obj)
        return super()._to_java()

    @property
    def history(self) -> dict[str, list[float]]:
        """Per-epoch logs of the fit, ``{"loss": [...], "accuracy": [...], ...}``."""
        return json.loads(self._java_obj.historyJson())

    def getModelArchive(self) -> bytes:
        """The bytes of the ``.keras`` archive."""
        archive = self._java_obj.getModelArchive()
        if archive is None:
            raise ValueError("this KerasModel holds no Keras model")
        return bytes(archive)

    def getCustomObjects(self) -> dict[str, Any] | None:
        """The custom objects set on the model or its estimator (None if none)."""
        data = self._java_obj.getCustomObjects()
        # cloudpickle made by this user's own driver (same trust as a PySpark closure)
        return pickle.loads(bytes(data)) if data is not None else None

    def getKerasModel(self) -> Any:
        """The (trained) ``keras.Model``."""
        from loxodon.keras_io import load_model

        return load_model(self.getModelArchive(), self.getCustomObjects())


add_setters(KerasModel, transform_only=True)

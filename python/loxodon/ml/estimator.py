"""``KerasEstimator``: the Python wrapper of the Scala ``loxodon.ml.KerasEstimator``.

It trains a compiled Keras model data-parallel on a DataFrame, as a Spark ML
Estimator, so it can sit in a ``Pipeline`` after ``VectorAssembler``,
``StringIndexer`` or ``OneHotEncoder``::

    est = KerasEstimator(model=mlp, numWorkers=2, epochs=8, mode="synchronous")
    model = Pipeline(stages=[assembler, indexer, est]).fit(train)

The Keras model is not a Param: it travels as the bytes of its ``.keras``
archive (``setModel``), saved with the stage (``Pipeline.save``/``load`` in
Python and Scala). Custom layers, losses and functions: the default path is
``imports`` (modules that register them with
``@keras.saving.register_keras_serializable()``, importable on the executors),
which saves only module names. ``setCustomObjects`` (a cloudpickle of a dict)
also works, but a saved stage holding one warns when saved and is refused by
``load`` unless ``spark.loxodon.allowPickledCustomObjects=true``, since
unpickling runs code from the saved path.
"""

from __future__ import annotations

from typing import Any

from pyspark.ml.util import JavaMLWritable
from pyspark.ml.wrapper import JavaEstimator

from loxodon.ml.model import KerasModel, pickle_custom_objects, warn_pickled_save
from loxodon.ml.params import KerasParams, LoxodonMLReadable, add_setters


def _archive_of(model: Any, where: str) -> bytes:
    from loxodon.keras_io import model_to_archive

    if not hasattr(model, "save") or not hasattr(model, "layers"):
        raise TypeError(f"{where}: expected a keras.Model, got {type(model).__name__}")
    compiled = getattr(model, "compiled", getattr(model, "optimizer", None) is not None)
    if not compiled or getattr(model, "optimizer", None) is None:
        raise ValueError(
            f"{where}: the Keras model is not compiled: call "
            "model.compile(optimizer=..., loss=...) before fitting"
        )
    return model_to_archive(model)


class KerasEstimator(JavaEstimator[KerasModel], KerasParams, JavaMLWritable, LoxodonMLReadable):
    """Fits a compiled Keras model on a DataFrame with Loxodon's data-parallel trainer.

    ``model`` (a compiled ``keras.Model``) and ``customObjects`` (a dict of custom
    layers, losses, ...) are keyword arguments besides the params (listed below,
    from the Scala stage); each param has ``getX`` and ``setX``.
    """

    def __init__(
        self, *, model: Any = None, customObjects: dict[str, Any] | None = None, **params: Any
    ) -> None:
        super().__init__()
        self._java_obj = self._new_java_obj("loxodon.ml.KerasEstimator", self.uid)
        self.setParams(model=model, customObjects=customObjects, **params)

    def setParams(
        self, *, model: Any = None, customObjects: dict[str, Any] | None = None, **params: Any
    ) -> KerasEstimator:
        """Sets the given params (and the model and custom objects when given)."""
        self._set_checked(**params)
        if customObjects is not None:
            self.setCustomObjects(customObjects)
        if model is not None:
            self.setModel(model)
        return self

    def setModel(self, model: Any) -> KerasEstimator:
        """Sets the compiled ``keras.Model`` to train (sent as its ``.keras`` archive)."""
        self._java_obj.setModelArchive(_archive_of(model, "KerasEstimator.setModel"))
        return self

    def setModelPath(self, path: str) -> KerasEstimator:
        """Reads the compiled ``.keras`` file to train from ``path`` (any Hadoop URI)."""
        self._java_obj.setModelPath(path)
        return self

    def setCustomObjects(self, customObjects: dict[str, Any] | None) -> KerasEstimator:
        """Sets the Keras custom objects (cloudpickled; the workers unpickle them)."""
        self._java_obj.setCustomObjects(pickle_custom_objects(customObjects))
        return self

    def _to_java(self) -> Any:  # what ML persistence (save, Pipeline.save) calls
        warn_pickled_save(self._java_obj)
        return super()._to_java()

    def _create_model(self, java_model: Any) -> KerasModel:
        return KerasModel(java_model)


add_setters(KerasEstimator, transform_only=False)

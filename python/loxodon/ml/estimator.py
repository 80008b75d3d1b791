"""``KerasEstimator``: the Python wrapper of the Scala ``loxodon.ml.KerasEstimator``.

It trains a compiled Keras model data-parallel on a DataFrame, as a Spark ML
Estimator, so it can sit in a ``Pipeline`` after ``VectorAssembler``,
``StringIndexer`` or ``OneHotEncoder``::

    est = KerasEstimator(model=mlp, numWorkers=2, epochs=8, mode="synchronous")
    model = Pipeline(stages=[assembler, indexer, est]).fit(train)

The Keras model is not a Param: it travels as the bytes of its ``.keras``
archive (``setModel``); custom objects travel as a cloudpickle of a dict
(``setCustomObjects``). Both are saved with the stage and survive
``Pipeline.save``/``load`` in Python and Scala.
"""

from __future__ import annotations

from typing import Any

from pyspark import keyword_only
from pyspark.ml.util import JavaMLWritable
from pyspark.ml.wrapper import JavaEstimator

from loxodon.ml.model import KerasModel, pickle_custom_objects
from loxodon.ml.params import KerasParams, LoxodonMLReadable


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
    layers, losses, ...) are keyword arguments besides the params.
    """

    @keyword_only
    def __init__(
        self,
        *,
        model: Any = None,
        customObjects: dict[str, Any] | None = None,
        mode: str = "asynchronous",
        frequency: str | int = "epoch",
        communicationWindow: int = 1,
        easgdAlpha: float | None = None,
        numWorkers: int | None = None,
        epochs: int = 1,
        batchSize: int = 32,
        validationSplit: float = 0.0,
        seed: int = 0,
        shuffle: bool = True,
        featuresCol: str = "features",
        featuresCols: list[str] | None = None,
        labelCol: str = "label",
        predictionCol: str = "prediction",
        probabilityCol: str = "probability",
        outputMode: str = "classification",
        inferenceBatchSize: int = 1024,
        syncTimeoutMs: int = 120000,
        imports: list[str] | None = None,
    ) -> None:
        super().__init__()
        self._java_obj = self._new_java_obj("loxodon.ml.KerasEstimator", self.uid)
        kwargs = self._input_kwargs
        self.setParams(**kwargs)

    @keyword_only
    def setParams(
        self,
        *,
        model: Any = None,
        customObjects: dict[str, Any] | None = None,
        mode: str = "asynchronous",
        frequency: str | int = "epoch",
        communicationWindow: int = 1,
        easgdAlpha: float | None = None,
        numWorkers: int | None = None,
        epochs: int = 1,
        batchSize: int = 32,
        validationSplit: float = 0.0,
        seed: int = 0,
        shuffle: bool = True,
        featuresCol: str = "features",
        featuresCols: list[str] | None = None,
        labelCol: str = "label",
        predictionCol: str = "prediction",
        probabilityCol: str = "probability",
        outputMode: str = "classification",
        inferenceBatchSize: int = 1024,
        syncTimeoutMs: int = 120000,
        imports: list[str] | None = None,
    ) -> KerasEstimator:
        """Sets the given params (and the model and custom objects when given)."""
        kwargs = dict(self._input_kwargs)
        model = kwargs.pop("model", None)
        custom = kwargs.pop("customObjects", None)
        self._set_checked(**kwargs)
        if custom is not None:
            self.setCustomObjects(custom)
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

    def setMode(self, value: str) -> KerasEstimator:
        return self._set(mode=value)

    def setFrequency(self, value: str | int) -> KerasEstimator:
        return self._set(frequency=value)

    def setCommunicationWindow(self, value: int) -> KerasEstimator:
        return self._set(communicationWindow=value)

    def setEasgdAlpha(self, value: float) -> KerasEstimator:
        return self._set(easgdAlpha=value)

    def setNumWorkers(self, value: int) -> KerasEstimator:
        return self._set(numWorkers=value)

    def setEpochs(self, value: int) -> KerasEstimator:
        return self._set(epochs=value)

    def setBatchSize(self, value: int) -> KerasEstimator:
        return self._set(batchSize=value)

    def setValidationSplit(self, value: float) -> KerasEstimator:
        return self._set(validationSplit=value)

    def setSeed(self, value: int) -> KerasEstimator:
        return self._set(seed=value)

    def setShuffle(self, value: bool) -> KerasEstimator:
        return self._set(shuffle=value)

    def setFeaturesCol(self, value: str) -> KerasEstimator:
        return self._set(featuresCol=value)

    def setFeaturesCols(self, value: list[str]) -> KerasEstimator:
        return self._set(featuresCols=value)

    def setLabelCol(self, value: str) -> KerasEstimator:
        return self._set(labelCol=value)

    def setPredictionCol(self, value: str) -> KerasEstimator:
        return self._set(predictionCol=value)

    def setProbabilityCol(self, value: str) -> KerasEstimator:
        return self._set(probabilityCol=value)

    def setOutputMode(self, value: str) -> KerasEstimator:
        return self._set(outputMode=value)

    def setInferenceBatchSize(self, value: int) -> KerasEstimator:
        return self._set(inferenceBatchSize=value)

    def setSyncTimeoutMs(self, value: int) -> KerasEstimator:
        return self._set(syncTimeoutMs=value)

    def setImports(self, value: list[str]) -> KerasEstimator:
        return self._set(imports=value)

    def _create_model(self, java_model: Any) -> KerasModel:
        return KerasModel(java_model)

"""``SparkAsyncDLModel``: SparkFlow's fitted Transformer over Loxodon's ``KerasModel``,
and the persistence both SparkFlow stages share.

``transform`` runs the held ``loxodon.ml.KerasModel`` (Scala inference on the
executors' pooled Python workers) and writes ``predictionCol`` as SparkFlow
did: the argmax index as a double for classification; for raw output a double
when the model gives one value per row, else a ``DenseVector``. Nothing else is
added to the rows.

Persistence is pyspark's Python-stage format: ``metadata/`` holds the params
(``DefaultParamsWriter``), and the Keras model is saved beside it, a Spark ML
``KerasModel`` under ``keras/`` (the estimator: ``tensorflowGraph.keras``).
Plain ``Pipeline.load``/``PipelineModel.load`` read pipelines holding them
(SparkFlow needed ``PysparkPipelineWrapper.unwrap`` and dill).
"""

from __future__ import annotations

from typing import Any

from pyspark import keyword_only
from pyspark.ml import Model
from pyspark.ml.util import (
    DefaultParamsReader,
    DefaultParamsWriter,
    MLReadable,
    MLReader,
    MLWritable,
    MLWriter,
)
from pyspark.sql import DataFrame, SparkSession

from loxodon.compat.sparkflow.params import SparkFlowModelParams


class KerasArchive(bytes):
    """The bytes of a ``.keras`` archive, with a short ``repr`` (for ``explainParams``)."""

    def __repr__(self) -> str:
        return f"<.keras archive, {len(self)} bytes>"


def to_archive(value: Any) -> KerasArchive:
    """``tensorflowGraph``'s converter: a compiled keras.Model or ``.keras`` bytes."""
    if isinstance(value, (bytes, bytearray)):
        return KerasArchive(value)
    if hasattr(value, "save") and hasattr(value, "layers"):
        if getattr(value, "optimizer", None) is None:
            raise ValueError(
                "param tensorflowGraph: the Keras model is not compiled: call "
                "model.compile(optimizer=..., loss=...) first"
            )
        from loxodon.keras_io import model_to_archive

        return KerasArchive(model_to_archive(value))
    raise TypeError(
        "param tensorflowGraph: expected a compiled keras.Model or the bytes of its .keras "
        f"archive, got {type(value).__name__} (TF1 graphs from SparkFlow's build_graph are "
        "not supported: build the network in Keras)"
    )


def _api() -> tuple[Any, Any]:
    from loxodon._jvm import java_session, python_api

    spark = SparkSession.active()
    return python_api(spark), java_session(spark)


def write_bytes(uri: str, data: bytes) -> None:
    api, jspark = _api()
    api.writeFile(jspark, uri, bytearray(data), True)


def read_bytes(uri: str) -> bytes:
    api, jspark = _api()
    return bytes(api.readFile(jspark, uri))


class _Writer(MLWriter):
    def __init__(self, instance: Any) -> None:
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        stage = self.instance
        params = {p.name: v for p, v in stage._paramMap.items() if p.name != "tensorflowGraph"}
        DefaultParamsWriter.saveMetadata(
            stage, path, self.sparkSession, extraMetadata=stage._extra_metadata(), paramMap=params
        )
        stage._save_extra(path)


class _Reader(MLReader):
    def __init__(self, cls: type) -> None:
        super().__init__()
        self.cls = cls

    def load(self, path: str) -> Any:
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        stage = self.cls()
        stage._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(stage, metadata)
        stage._load_extra(path, metadata)
        return stage


class StageReadWrite(MLReadable, MLWritable):
    """``write()``/``read()`` of the SparkFlow stages (see the module docstring)."""

    def write(self) -> MLWriter:
        return _Writer(self)

    @classmethod
    def read(cls) -> MLReader:
        return _Reader(cls)

    def _extra_metadata(self) -> dict[str, Any]:
        return {}

    def _save_extra(self, path: str) -> None:
        pass

    def _load_extra(self, path: str, metadata: dict[str, Any]) -> None:
        pass


class SparkAsyncDLModel(Model, SparkFlowModelParams, StageReadWrite):
    """A trained or pretrained Keras model as a Transformer with SparkFlow's params.

    ``history`` holds the per-epoch logs of the fit that made it (empty after a
    load); ``kerasStage`` is the ``loxodon.ml.KerasModel`` it runs and
    ``getKerasModel()`` the ``keras.Model``.
    """

    @keyword_only
    def __init__(
        self,
        inputCol: str | None = None,
        tfInput: str | None = None,
        tfOutput: str | None = None,
        tfDropout: str | None = None,
        toKeepDropout: bool | None = None,
        predictionCol: str | None = None,
        outputMode: str | None = None,
    ) -> None:
        super().__init__()
        self._set_model_defaults()
        self._setDefault(inputCol="encoded", tfInput=None, tfOutput=None)  # SparkFlow's
        self._set(**self._input_kwargs)
        self.kerasStage: Any = None
        self.history: dict[str, list[float]] = {}

    @keyword_only
    def setParams(self, **kwargs: Any) -> SparkAsyncDLModel:
        """Sets params by their SparkFlow names."""
        return self._set(**self._input_kwargs)

    def setKerasStage(self, stage: Any) -> SparkAsyncDLModel:
        """Sets the ``loxodon.ml.KerasModel`` this Transformer runs."""
        self.kerasStage = stage
        return self

    def getKerasModel(self) -> Any:
        """The (trained) ``keras.Model``."""
        return self._stage().getKerasModel()

    def _stage(self) -> Any:
        if self.kerasStage is None:
            raise ValueError("this SparkAsyncDLModel holds no Keras model")
        return self.kerasStage

    def _transform(self, dataset: DataFrame) -> DataFrame:
        from pyspark.ml.functions import array_to_vector
        from pyspark.sql import functions as F

        out, tmp = self.getPredictionCol(), f"__{self.uid}_out"
        stage = self._stage()
        stage.set(stage.featuresCol, self.getInputCol())
        if self.getOutputMode() == "classification":
            stage.set(stage.outputMode, "classification")
            stage.set(stage.predictionCol, out)
            stage.set(stage.probabilityCol, tmp)
            return stage.transform(dataset).drop(tmp)
        stage.set(stage.outputMode, "raw")
        stage.set(stage.predictionCol, tmp)
        scored = stage.transform(dataset)
        if self._output_width() == 1:
            value = F.col(tmp).getItem(0).cast("double")
        else:
            value = array_to_vector(F.col(tmp))
        return scored.withColumn(out, value).drop(tmp)

    def _output_width(self) -> int | None:
        if not hasattr(self, "_width"):
            import importlib

            stage = self._stage()
            for module in stage.getOrDefault(stage.imports):  # e.g. SavedModelLayer's
                importlib.import_module(module)
            self._width = self.getKerasModel().outputs[0].shape[-1]
        return self._width

    def copy(self, extra: dict[Any, Any] | None = None) -> SparkAsyncDLModel:
        that = super().copy(extra)
        if self.kerasStage is not None:
            that.kerasStage = self.kerasStage.copy()
        return that

    def _save_extra(self, path: str) -> None:
        self._stage().write().save(path + "/keras")

    def _load_extra(self, path: str, metadata: dict[str, Any]) -> None:
        from loxodon.ml import KerasModel

        self.kerasStage = KerasModel.load(path + "/keras")

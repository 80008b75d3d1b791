"""Saving and loading the Elephas Spark ML stages: the native stage's files, plus
``elephas.json`` beside them with the settings only Elephas had (a stage saved by
the native ``KerasEstimator`` has none and loads with Elephas's defaults)."""

from __future__ import annotations

import json
import pickle
from typing import Any

import keras
from py4j.protocol import Py4JJavaError
from pyspark.ml.util import JavaMLWriter

from loxodon._jvm import java_session, python_api, running_session
from loxodon.ml.params import LoxodonMLReader

SIDECAR = "elephas.json"


def _session() -> Any:
    spark = running_session()
    if spark is None:
        raise RuntimeError("saving or loading an Elephas stage needs an active SparkSession")
    return spark


def _sidecar_settings(stage: Any) -> bytes:
    settings = dict(stage._elephas)
    loss = settings["loss"]
    if loss is not None and not isinstance(loss, str):
        settings["loss"] = keras.losses.serialize(loss)
    return json.dumps(settings).encode("utf8")


class ElephasWriter(JavaMLWriter):
    """The native stage's files, plus ``elephas.json`` with Elephas's settings."""

    def __init__(self, instance: Any) -> None:
        super().__init__(instance)
        self._stage = instance

    def save(self, path: str) -> None:
        super().save(path)
        spark = _session()
        python_api(spark).writeFile(
            java_session(spark),
            f"{path.rstrip('/')}/{SIDECAR}",
            _sidecar_settings(self._stage),
            True,
        )


class ElephasReader(LoxodonMLReader):
    """Loads the native JVM stage into an Elephas stage, with ``elephas.json``
    when one was saved beside it (a stage saved natively has none)."""

    _jvm_class = ""

    @classmethod
    def _java_loader_class(cls, clazz: type) -> str:  # type: ignore[override]
        return cls._jvm_class

    def load(self, path: str) -> Any:
        java_obj = self._jread.load(path)
        stage = self._clazz()
        stage._java_obj = java_obj
        stage._resetUid(java_obj.uid())
        stage._transfer_params_from_java()
        if hasattr(stage, "_elephas"):  # an ElephasEstimator
            spark = _session()
            try:
                data = python_api(spark).readFile(
                    java_session(spark), f"{path.rstrip('/')}/{SIDECAR}"
                )
                stage._elephas.update(json.loads(bytes(data)))
            except Py4JJavaError:
                pass  # saved by the native KerasEstimator: Elephas's defaults
            pickled = java_obj.getCustomObjects()
            # cloudpickle written by this user's own driver (as a PySpark closure)
            stage._custom_objects = pickle.loads(bytes(pickled)) if pickled is not None else {}
        return stage


class EstimatorReader(ElephasReader):
    _jvm_class = "loxodon.ml.KerasEstimator"


class TransformerReader(ElephasReader):
    _jvm_class = "loxodon.ml.KerasModel"

"""The Params shared by :class:`~loxodon.ml.KerasEstimator` and
:class:`~loxodon.ml.KerasModel`, mirroring ``loxodon.ml.KerasParams`` in Scala.

Names, docs and defaults are the Scala ones (a test compares them). Each param's
type converter also validates, so a bad value fails when it is set, with an
error naming the param (``param epochs must be >= 1, got -1``), before anything
reaches the JVM.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import (
    HasFeaturesCol,
    HasLabelCol,
    HasPredictionCol,
    HasProbabilityCol,
)
from pyspark.ml.util import JavaMLReadable, JavaMLReader

MODES = ("single", "synchronous", "averaging", "asynchronous", "hogwild", "easgd", "aeasgd")
OUTPUT_MODES = ("classification", "raw")


def _one_of(name: str, choices: tuple[str, ...]) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        text = TypeConverters.toString(value)
        if text not in choices:
            raise ValueError(
                f"param {name}: unknown value {text!r}; choose one of {', '.join(choices)}"
            )
        return text

    return convert


def _int_at_least_one(name: str) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool):
            raise TypeError(f"param {name} must be an integer, got {value!r}")
        number = TypeConverters.toInt(value)
        if number < 1:
            raise ValueError(f"param {name} must be >= 1, got {number}")
        return number

    return convert


def _positive_float(name: str) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        number = TypeConverters.toFloat(value)
        if not 0 < number < float("inf"):
            raise ValueError(f"param {name} must be > 0, got {number}")
        return number

    return convert


def _split(value: Any) -> float:
    number = TypeConverters.toFloat(value)
    if not 0 <= number < 1:
        raise ValueError(f"param validationSplit must be in [0, 1), got {number}")
    return number


def _timeout(value: Any) -> int:
    number = TypeConverters.toInt(value)
    if number <= 0:
        raise ValueError(f"param syncTimeoutMs must be > 0, got {number}")
    return number


def _frequency(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return str(value)
    if isinstance(value, str) and (value == "epoch" or (value.isdigit() and int(value) >= 1)):
        return value
    raise ValueError(
        f"param frequency must be 'epoch' or a positive number of batches, got {value!r}"
    )


def _column(name: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        text = TypeConverters.toString(value)
        if not text:
            raise ValueError(f"param {name} must name a column, got {text!r}")
        return text

    return convert


def _names(name: str) -> Callable[[Any], list[str]]:
    def convert(value: Any) -> list[str]:
        names = TypeConverters.toListString(value)
        if any(not n.strip() for n in names):
            raise ValueError(f"param {name} has an empty name: {names!r}")
        return names

    return convert


def _param(name: str, doc: str, converter: Callable[[Any], Any]) -> Param[Any]:
    return Param(Params._dummy(), name, doc, typeConverter=converter)


class KerasParams(HasFeaturesCol, HasLabelCol, HasPredictionCol, HasProbabilityCol):
    """Params of the Keras stages (the same names, docs and defaults as in Scala)."""

    mode: Param[str] = _param(
        "mode", f"training mode: one of {', '.join(MODES)}", _one_of("mode", MODES)
    )
    frequency: Param[str] = _param(
        "frequency",
        "how often averaging mode averages weights: 'epoch' or a positive number of batches",
        _frequency,
    )
    communicationWindow: Param[int] = _param(
        "communicationWindow",
        "batches a worker trains between pushes in asynchronous/hogwild/aeasgd modes (>= 1)",
        _int_at_least_one("communicationWindow"),
    )
    easgdAlpha: Param[float] = _param(
        "easgdAlpha",
        "elastic averaging rate of easgd/aeasgd (> 0); 0.9 / numWorkers when unset",
        _positive_float("easgdAlpha"),
    )
    numWorkers: Param[int] = _param(
        "numWorkers",
        "data-parallel workers (barrier tasks, >= 1); the SparkContext's defaultParallelism "
        "when unset",
        _int_at_least_one("numWorkers"),
    )
    epochs: Param[int] = _param(
        "epochs", "passes over the training data (>= 1)", _int_at_least_one("epochs")
    )
    batchSize: Param[int] = _param(
        "batchSize",
        "rows per training step on each worker (>= 1)",
        _int_at_least_one("batchSize"),
    )
    validationSplit: Param[float] = _param(
        "validationSplit", "fraction of the rows held out for validation metrics, in [0, 1)", _split
    )
    seed: Param[int] = _param(
        "seed", "seed of partitioning, validation split and shuffling", TypeConverters.toInt
    )
    shuffle: Param[bool] = _param(
        "shuffle", "whether workers reshuffle their rows every epoch", TypeConverters.toBoolean
    )
    featuresCol: Param[str] = _param(
        "featuresCol",
        "features column: an ML Vector, an array of numbers, or a numeric column",
        _column("featuresCol"),
    )
    featuresCols: Param[list[str]] = _param(
        "featuresCols",
        "several numeric feature columns, used instead of featuresCol when set and not empty",
        _names("featuresCols"),
    )
    labelCol: Param[str] = _param(
        "labelCol",
        "label column: a class index or value, an array of numbers, or an ML Vector (one-hot)",
        _column("labelCol"),
    )
    predictionCol: Param[str] = _param(
        "predictionCol", "prediction column name", _column("predictionCol")
    )
    probabilityCol: Param[str] = _param(
        "probabilityCol",
        "column of class probabilities (an ML Vector) in classification output mode",
        _column("probabilityCol"),
    )
    outputMode: Param[str] = _param(
        "outputMode",
        "'classification': prediction = argmax class index (Double) plus probabilityCol "
        "(Vector); 'raw': prediction = the model's raw output (array<float>)",
        _one_of("outputMode", OUTPUT_MODES),
    )
    inferenceBatchSize: Param[int] = _param(
        "inferenceBatchSize",
        "rows per predict batch in transform (>= 1)",
        _int_at_least_one("inferenceBatchSize"),
    )
    syncTimeoutMs: Param[int] = _param(
        "syncTimeoutMs",
        "milliseconds a sync round waits for missing workers before the fit fails (> 0)",
        _timeout,
    )
    imports: Param[list[str]] = _param(
        "imports",
        "Python modules the workers import before loading the model (custom objects "
        "registered with keras.saving.register_keras_serializable)",
        _names("imports"),
    )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._setDefault(
            mode="asynchronous",
            frequency="epoch",
            communicationWindow=1,
            epochs=1,
            batchSize=32,
            validationSplit=0.0,
            seed=0,
            shuffle=True,
            featuresCol="features",
            labelCol="label",
            predictionCol="prediction",
            probabilityCol="probability",
            outputMode="classification",
            inferenceBatchSize=1024,
            syncTimeoutMs=120000,
            imports=[],
        )

    def getMode(self) -> str:
        return self.getOrDefault(self.mode)

    def getFrequency(self) -> str:
        return self.getOrDefault(self.frequency)

    def getCommunicationWindow(self) -> int:
        return self.getOrDefault(self.communicationWindow)

    def getEasgdAlpha(self) -> float:
        return self.getOrDefault(self.easgdAlpha)

    def getNumWorkers(self) -> int:
        return self.getOrDefault(self.numWorkers)

    def getEpochs(self) -> int:
        return self.getOrDefault(self.epochs)

    def getBatchSize(self) -> int:
        return self.getOrDefault(self.batchSize)

    def getValidationSplit(self) -> float:
        return self.getOrDefault(self.validationSplit)

    def getSeed(self) -> int:
        return self.getOrDefault(self.seed)

    def getShuffle(self) -> bool:
        return self.getOrDefault(self.shuffle)

    def getFeaturesCols(self) -> list[str]:
        return self.getOrDefault(self.featuresCols)

    def getOutputMode(self) -> str:
        return self.getOrDefault(self.outputMode)

    def getInferenceBatchSize(self) -> int:
        return self.getOrDefault(self.inferenceBatchSize)

    def getSyncTimeoutMs(self) -> int:
        return self.getOrDefault(self.syncTimeoutMs)

    def getImports(self) -> list[str]:
        return self.getOrDefault(self.imports)

    def _set_checked(self, **kwargs: Any) -> Any:
        """Sets the given params, skipping None (an unset optional param)."""
        return self._set(**{k: v for k, v in kwargs.items() if v is not None})


class LoxodonMLReader(JavaMLReader):
    """Reads a stage saved by Scala or Python: the JVM class is ``loxodon.ml.<Name>``
    (pyspark's reader would look for ``loxodon.ml.model.<Name>``)."""

    @classmethod
    def _java_loader_class(cls, clazz: type) -> str:
        return "loxodon.ml." + clazz.__name__


class LoxodonMLReadable(JavaMLReadable):
    """``read()``/``load(path)`` through :class:`LoxodonMLReader`."""

    @classmethod
    def read(cls) -> LoxodonMLReader:
        return LoxodonMLReader(cls)

"""Elephas's ``elephas.ml_model``: ``ElephasEstimator`` and ``ElephasTransformer``,
as subclasses of Loxodon's Spark ML stages :class:`loxodon.ml.KerasEstimator`
and :class:`loxodon.ml.KerasModel`.

What Elephas had and the native stages do not, the subclasses add:
Elephas's snake_case setters and getters (``set_keras_model_config``,
``set_optimizer_config``, ``set_loss``, ``set_categorical_labels``,
``set_nb_classes``, ``set_custom_objects``, ...); a model given as Elephas
gave it (a JSON config plus optimizer, loss and metrics, compiled at ``fit``)
or as a compiled ``keras.Model``; class-index labels one-hot encoded when
``categorical`` is set; Elephas's modes and frequencies; and a ``prediction``
column holding the model's output vector (``array<double>``), or one double
for a regression loss, as Elephas's transformer gave it. Elephas-only
settings are saved beside the native stage as ``elephas.json``.
"""

from __future__ import annotations

from typing import Any

import keras
from pyspark.ml.util import JavaMLWriter
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from loxodon.compat.elephas.ml_persistence import ElephasWriter, EstimatorReader, TransformerReader
from loxodon.compat.elephas.modes import native_schedule
from loxodon.ml.estimator import KerasEstimator
from loxodon.ml.model import KerasModel
from loxodon.ml.params import LoxodonMLReader

_REGRESSION_LOSSES = frozenset(
    {
        "mean_squared_error",
        "mean_absolute_error",
        "mse",
        "mae",
        "cosine_proximity",
        "cosine_similarity",
        "mean_absolute_percentage_error",
        "mean_squared_logarithmic_error",
        "logcosh",
        "log_cosh",
        "huber",
    }
)
# Elephas's settings the native params cannot hold, with Elephas's defaults
# (its estimator also defaulted to epochs=10, validation_split=0.1, num_workers=8).
_ELEPHAS_DEFAULTS: dict[str, Any] = {
    "keras_model_config": None,
    "optimizer_config": None,
    "loss": None,
    "metrics": ["acc"],
    "mode": "asynchronous",
    "frequency": "epoch",
    "categorical": True,
    "nb_classes": 10,
    "verbose": 0,
}
# Elephas's keyword -> (native param, or None for an Elephas-only setting).
_NATIVE_NAME = {
    "epochs": "epochs",
    "batch_size": "batchSize",
    "validation_split": "validationSplit",
    "num_workers": "numWorkers",
    "featuresCol": "featuresCol",
    "labelCol": "labelCol",
    "outputCol": "predictionCol",
    "inference_batch_size": "inferenceBatchSize",
}


def model_type_of_loss(loss: Any) -> str:
    """'regression' for Elephas's regression losses, else 'classification' (its rule)."""
    name = loss if isinstance(loss, str) else getattr(loss, "__name__", None)
    if name is None and hasattr(loss, "get_config"):
        name = loss.get_config().get("name")
    return "regression" if name in _REGRESSION_LOSSES else "classification"


class ElephasTransformer(KerasModel):
    """A fitted Elephas model: ``transform`` adds ``outputCol`` (default ``prediction``)
    holding the model's output vector as ``array<double>`` (a double for a regression
    loss), not the native class index. ``get_model()`` gives the trained Keras model."""

    model_type: str | None = None

    def _transform(self, dataset: DataFrame) -> DataFrame:
        self._set(outputMode="raw")
        out = super()._transform(dataset)
        col = self.getPredictionCol()
        if self._model_type() == "regression":
            return out.withColumn(col, F.col(col)[0].cast("double"))
        return out.withColumn(col, F.col(col).cast("array<double>"))

    def _model_type(self) -> str:
        if self.model_type is None:
            self.model_type = model_type_of_loss(getattr(self.getKerasModel(), "loss", None))
        return self.model_type

    def getOutputCol(self) -> str:
        return self.getPredictionCol()

    def setOutputCol(self, value: str) -> ElephasTransformer:
        return self._set(predictionCol=value)

    def get_model(self) -> keras.Model:
        """The trained Keras model."""
        return self.getKerasModel()

    @property
    def weights(self) -> list[Any]:
        return self.getKerasModel().get_weights()

    @classmethod
    def read(cls) -> LoxodonMLReader:
        return TransformerReader(cls)


class ElephasEstimator(KerasEstimator):
    """Elephas's Spark ML estimator on Loxodon's ``KerasEstimator``.

    Takes the model either as Elephas's README shows (a compiled ``keras.Model``,
    positional) or as its examples do (``set_keras_model_config(model.to_json())``
    with ``set_optimizer_config``, ``set_loss``, ``set_metrics``; compiled at fit).
    Keywords are Elephas's (``epochs``, ``batch_size``, ``mode``, ``frequency``,
    ``categorical``, ``nb_classes``, ``outputCol``, ...) or native params.
    """

    def __init__(self, model: keras.Model | None = None, **kwargs: Any) -> None:
        super().__init__()
        self._elephas: dict[str, Any] = dict(_ELEPHAS_DEFAULTS)
        self._set(outputMode="raw", epochs=10, validationSplit=0.1)  # Elephas's defaults
        self._apply_schedule()
        if model is not None:
            self.setModel(model)
            self._elephas["loss"] = model.loss
        self.set_params(**kwargs)

    def copy(self, extra: dict[Any, Any] | None = None) -> ElephasEstimator:
        that = super().copy(extra)
        that._elephas = dict(self._elephas)
        return that

    # -- Elephas's setters and getters ---------------------------------------------
    def set_params(self, **kwargs: Any) -> ElephasEstimator:
        """Sets Elephas's settings by keyword (and native params by their names)."""
        native: dict[str, Any] = {}
        for key, value in kwargs.items():
            if key in _NATIVE_NAME:
                native[_NATIVE_NAME[key]] = value
            elif key == "custom_objects":
                self.set_custom_objects(value)
            elif key in _ELEPHAS_DEFAULTS:
                getattr(self, _SETTER.get(key, f"set_{key}"))(value)
            else:
                native[key] = value
        self._set_checked(**native)
        return self

    def _apply_schedule(self) -> None:
        schedule = native_schedule(self._elephas["mode"], self._elephas["frequency"])
        self._set(
            mode=schedule.mode,
            frequency=schedule.frequency,
            communicationWindow=schedule.communication_window,
        )

    def set_mode(self, mode: str) -> ElephasEstimator:
        native_schedule(mode, self._elephas["frequency"])  # checks before storing
        self._elephas["mode"] = mode
        self._apply_schedule()
        return self

    def get_mode(self) -> str:
        return self._elephas["mode"]

    def set_frequency(self, frequency: str | int) -> ElephasEstimator:
        native_schedule(self._elephas["mode"], frequency)
        self._elephas["frequency"] = frequency
        self._apply_schedule()
        return self

    def get_frequency(self) -> str | int:
        return self._elephas["frequency"]

    def set_keras_model_config(self, keras_model_config: str) -> ElephasEstimator:
        """The model as JSON (``model.to_json()``), compiled at fit from the optimizer
        config, loss and metrics."""
        self._elephas["keras_model_config"] = keras_model_config
        return self

    def get_keras_model_config(self) -> str | None:
        return self._elephas["keras_model_config"]

    def set_optimizer_config(self, optimizer_config: Any) -> ElephasEstimator:
        """``keras.optimizers.serialize(opt)`` (or a name, as ``keras.optimizers.get`` takes)."""
        self._elephas["optimizer_config"] = optimizer_config
        return self

    def get_optimizer_config(self) -> Any:
        return self._elephas["optimizer_config"]

    def set_loss(self, loss: Any) -> ElephasEstimator:
        self._elephas["loss"] = loss
        return self

    def get_loss(self) -> Any:
        return self._elephas["loss"]

    def set_metrics(self, metrics: list[Any] | None) -> ElephasEstimator:
        self._elephas["metrics"] = metrics
        return self

    def get_metrics(self) -> list[Any] | None:
        return self._elephas["metrics"]

    def set_categorical_labels(self, categorical: bool) -> ElephasEstimator:
        """Whether the label column holds class indices to one-hot encode (``nb_classes``)."""
        self._elephas["categorical"] = bool(categorical)
        return self

    def get_categorical_labels(self) -> bool:
        return self._elephas["categorical"]

    def set_nb_classes(self, nb_classes: int | None) -> ElephasEstimator:
        self._elephas["nb_classes"] = None if nb_classes is None else int(nb_classes)
        return self

    def get_nb_classes(self) -> int | None:
        return self._elephas["nb_classes"]

    def set_verbosity(self, verbose: int) -> ElephasEstimator:
        """Recorded only: the native stage prints no per-epoch progress."""
        self._elephas["verbose"] = int(verbose)
        return self

    def get_verbosity(self) -> int:
        return self._elephas["verbose"]

    def set_custom_objects(self, custom_objects: dict[str, Any] | None) -> ElephasEstimator:
        """Custom layers, activations, losses: used to build the model here and
        shipped (cloudpickled) to the workers."""
        self._custom_objects = dict(custom_objects or {})
        self.setCustomObjects(self._custom_objects or None)
        return self

    def get_custom_objects(self) -> dict[str, Any]:
        return dict(getattr(self, "_custom_objects", {}))

    def set_epochs(self, epochs: int) -> ElephasEstimator:
        return self._set(epochs=epochs)

    def get_epochs(self) -> int:
        return self.getEpochs()

    def set_batch_size(self, batch_size: int) -> ElephasEstimator:
        return self._set(batchSize=batch_size)

    def get_batch_size(self) -> int:
        return self.getBatchSize()

    def set_validation_split(self, validation_split: float) -> ElephasEstimator:
        return self._set(validationSplit=validation_split)

    def get_validation_split(self) -> float:
        return self.getValidationSplit()

    def set_num_workers(self, num_workers: int) -> ElephasEstimator:
        return self._set(numWorkers=num_workers)

    def get_num_workers(self) -> int | None:
        return self.getOrDefault(self.numWorkers) if self.isDefined(self.numWorkers) else None

    def set_inference_batch_size(self, batch_size: int) -> ElephasEstimator:
        return self._set(inferenceBatchSize=batch_size)

    def get_inference_batch_size(self) -> int:
        return self.getInferenceBatchSize()

    def getOutputCol(self) -> str:
        return self.getPredictionCol()

    def setOutputCol(self, value: str) -> ElephasEstimator:
        return self._set(predictionCol=value)

    def get_config(self) -> dict[str, Any]:
        """Elephas's settings (as its ``get_config``), with the native ones they set."""
        return {
            **self._elephas,
            "epochs": self.get_epochs(),
            "batch_size": self.get_batch_size(),
            "validation_split": self.get_validation_split(),
            "num_workers": self.get_num_workers(),
            "featuresCol": self.getFeaturesCol(),
            "labelCol": self.getLabelCol(),
            "outputCol": self.getOutputCol(),
        }

    # -- fit --------------------------------------------------------------------------
    def _compile_from_config(self) -> None:
        cfg = self._elephas
        if cfg["optimizer_config"] is None or cfg["loss"] is None:
            raise ValueError(
                "set_keras_model_config needs set_optimizer_config and set_loss too "
                "(or pass a compiled keras.Model to ElephasEstimator)"
            )
        model = keras.models.model_from_json(
            cfg["keras_model_config"], custom_objects=self.get_custom_objects() or None
        )
        model.compile(
            optimizer=keras.optimizers.get(cfg["optimizer_config"]),
            loss=cfg["loss"],
            metrics=cfg["metrics"],
        )
        self.setModel(model)

    def _fit(self, dataset: DataFrame) -> ElephasTransformer:
        if self._elephas["keras_model_config"] is not None:
            self._compile_from_config()
        label = self.getLabelCol()
        if not self._elephas["categorical"]:
            model = super()._fit(dataset)
        else:
            classes = self._elephas["nb_classes"]
            if not classes:
                raise ValueError("categorical=True needs nb_classes (the number of classes)")
            one_hot = f"__elephas_one_hot_{label}"
            expr = (
                f"transform(sequence(0, {classes - 1}), "
                f"i -> IF(i = CAST(`{label}` AS INT), 1.0D, 0.0D))"
            )
            self._set(labelCol=one_hot)
            try:
                model = super()._fit(dataset.withColumn(one_hot, F.expr(expr)))
            finally:
                self._set(labelCol=label)
            model._set(labelCol=label)
        loss = self._elephas["loss"]
        model.model_type = model_type_of_loss(loss) if loss is not None else None
        return model

    def _create_model(self, java_model: Any) -> ElephasTransformer:
        return ElephasTransformer(java_model)

    # -- persistence ---------------------------------------------------------------
    def write(self) -> JavaMLWriter:
        return ElephasWriter(self)

    @classmethod
    def read(cls) -> LoxodonMLReader:
        return EstimatorReader(cls)


_SETTER = {"categorical": "set_categorical_labels", "verbose": "set_verbosity"}

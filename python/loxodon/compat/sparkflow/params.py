"""SparkFlow's Params (names, docs, defaults) and how its optimizer names and
``optimizerOptions`` become a Keras 3 optimizer.

``SparkAsyncDL`` and ``SparkAsyncDLModel`` declare SparkFlow's params here, on
top of pyspark's ``HasInputCol``/``HasPredictionCol``/``HasLabelCol``; the
mapping of each to Loxodon is in ``docs/compat/sparkflow.md``.
"""

from __future__ import annotations

import json
from typing import Any

from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasPredictionCol

OUTPUT_MODES = ("auto", "classification", "raw")

# SparkFlow's tfOptimizer names -> Keras 3 optimizer classes (names in keras.optimizers)
OPTIMIZERS: dict[str, str] = {
    "adam": "Adam",
    "rmsprop": "RMSprop",
    "momentum": "SGD",
    "adadelta": "Adadelta",
    "adagrad": "Adagrad",
    "gradient_descent": "SGD",
    "ftrl": "Ftrl",
}
# TF1 names with no Keras 3 counterpart
NO_KERAS_OPTIMIZER = ("adagrad_da", "proximal_adagrad", "proximal_gradient_descent")

# TF1 optimizer options -> Keras 3 argument names (None: dropped, no counterpart)
OPTION_NAMES: dict[str, str | None] = {
    "learning_rate": "learning_rate",
    "beta1": "beta_1",
    "beta2": "beta_2",
    "epsilon": "epsilon",
    "decay": "rho",  # RMSProp's decay is Keras's rho
    "rho": "rho",
    "momentum": "momentum",
    "centered": "centered",
    "use_nesterov": "nesterov",
    "initial_accumulator": "initial_accumulator_value",
    "initial_accumulator_value": "initial_accumulator_value",
    "use_locking": None,
}


def _optional_string(value: Any) -> str | None:
    return None if value is None else TypeConverters.toString(value)


def _output_mode(value: Any) -> str:
    mode = TypeConverters.toString(value)
    if mode not in OUTPUT_MODES:
        raise ValueError(f"param outputMode must be one of {', '.join(OUTPUT_MODES)}, got {mode!r}")
    return mode


def _p(name: str, doc: str, converter: Any) -> Param:
    return Param(Params._dummy(), name, doc, typeConverter=converter)


class SparkFlowModelParams(HasInputCol, HasPredictionCol):
    """The params SparkFlow's ``SparkAsyncDLModel`` had, plus ``outputMode``."""

    tfInput = _p(
        "tfInput", "SparkFlow: the graph's input tensor; accepted, unused", _optional_string
    )
    tfOutput = _p(
        "tfOutput",
        "SparkFlow: the tensor predicted; here a layer name ('out' of 'out/Sigmoid:0') "
        "whose output is predicted when the model has such a layer, else the model's output",
        _optional_string,
    )
    tfDropout = _p(
        "tfDropout", "SparkFlow: the dropout placeholder; accepted, unused", _optional_string
    )
    toKeepDropout = _p(
        "toKeepDropout", "SparkFlow: dropout's meaning; accepted, unused", TypeConverters.toBoolean
    )
    outputMode = _p(
        "outputMode",
        "Loxodon: 'classification' (predictionCol = argmax index, a double), 'raw' "
        "(predictionCol = the output: a double for one value, else a DenseVector), or 'auto' "
        "(classification when labelCol is set and the output has several values)",
        _output_mode,
    )

    def _set_model_defaults(self) -> None:
        self._setDefault(
            inputCol="transformed",
            predictionCol="predicted",
            tfInput="x:0",
            tfOutput="out/Sigmoid:0",
            tfDropout=None,
            toKeepDropout=False,
            outputMode="auto",
        )

    def getTfInput(self) -> str | None:
        return self.getOrDefault(self.tfInput)

    def getTfOutput(self) -> str | None:
        return self.getOrDefault(self.tfOutput)

    def getTfDropout(self) -> str | None:
        return self.getOrDefault(self.tfDropout)

    def getToKeepDropout(self) -> bool:
        return self.getOrDefault(self.toKeepDropout)

    def getOutputMode(self) -> str:
        return self.getOrDefault(self.outputMode)


def layer_name(tf_output: str | None) -> str | None:
    """The layer a SparkFlow tensor name points at: ``'out/Sigmoid:0'`` -> ``'out'``."""
    if not tf_output:
        return None
    return tf_output.split(":")[0].split("/")[0] or None


def keras_optimizer(
    name: str | None, learning_rate: float | None, options: str | None, compiled: Any
) -> Any:
    """The optimizer a fit uses: ``compiled`` (the model's own) with each given part
    replaced. ``name`` picks the class (SparkFlow's names), ``options`` (SparkFlow's
    JSON, TF1 argument names) its arguments, ``learning_rate`` the rate unless
    ``options`` carries one. None of the three: ``compiled`` itself."""
    import keras

    if name is None and learning_rate is None and options is None:
        return compiled
    kwargs: dict[str, Any] = {}
    if name is None:
        cls = type(compiled)
        kwargs.update(compiled.get_config())
        kwargs.pop("name", None)
    else:
        if name in NO_KERAS_OPTIMIZER or name not in OPTIMIZERS:
            raise ValueError(
                f"param tfOptimizer: {name!r} has no Keras 3 optimizer here; "
                f"use one of {', '.join(sorted(OPTIMIZERS))}"
            )
        cls = getattr(keras.optimizers, OPTIMIZERS[name])
        if name == "momentum":
            kwargs["momentum"] = 0.9  # SparkFlow's default for 'momentum'
        kwargs["learning_rate"] = float(keras.ops.convert_to_numpy(compiled.learning_rate))
    if learning_rate is not None:
        kwargs["learning_rate"] = learning_rate
    for key, value in (json.loads(options) if options else {}).items():
        if key not in OPTION_NAMES:
            raise ValueError(f"param optimizerOptions: unknown option {key!r}")
        if OPTION_NAMES[key] is not None:
            kwargs[OPTION_NAMES[key]] = value
    return cls(**kwargs)

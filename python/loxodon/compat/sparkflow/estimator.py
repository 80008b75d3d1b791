"""``SparkAsyncDL``: SparkFlow's Estimator, training a compiled Keras model with
Loxodon's ``KerasEstimator``.

Every SparkFlow param is here with its name, default and meaning;
``tensorflowGraph`` takes a compiled ``keras.Model`` (or its ``.keras`` bytes)
where SparkFlow took a serialized TF1 graph. ``_fit`` translates the params
(``iters`` -> epochs, ``acquireLock`` -> mode, ``partitions`` -> workers, ...),
recompiles the model when ``tfOptimizer``/``tfLearningRate``/``optimizerOptions``
are set, fits a ``loxodon.ml.KerasEstimator`` and wraps its ``KerasModel`` in a
``SparkAsyncDLModel``. Optimizer and rate are Params, so ``ParamGridBuilder``
and ``CrossValidator`` tune them.
"""

from __future__ import annotations

import math
from typing import Any

from pyspark import keyword_only
from pyspark.ml import Estimator
from pyspark.ml.param import TypeConverters
from pyspark.ml.param.shared import HasLabelCol
from pyspark.sql import DataFrame

from loxodon.compat.sparkflow.model import SparkAsyncDLModel, StageReadWrite, to_archive
from loxodon.compat.sparkflow.params import (
    SparkFlowModelParams,
    _optional_string,
    _p,
    keras_optimizer,
    layer_name,
)


def _optional_float(value: Any) -> float | None:
    return None if value is None else TypeConverters.toFloat(value)


class SparkAsyncDL(Estimator, SparkFlowModelParams, HasLabelCol, StageReadWrite):
    """SparkFlow's ``SparkAsyncDL`` over Loxodon (mapping: ``docs/compat/sparkflow.md``)."""

    tensorflowGraph = _p(
        "tensorflowGraph", "a compiled keras.Model, or the bytes of its .keras archive", to_archive
    )
    tfLabel = _p(
        "tfLabel", "SparkFlow: the graph's label tensor; accepted, unused", _optional_string
    )
    tfOptimizer = _p(
        "tfOptimizer",
        "optimizer name (adam, rmsprop, momentum, adadelta, adagrad, gradient_descent, ftrl); "
        "unset: the model's compiled optimizer",
        _optional_string,
    )
    tfLearningRate = _p(
        "tfLearningRate", "learning rate; unset: the compiled optimizer's", _optional_float
    )
    iters = _p(
        "iters", "training iterations: passes over each partition (epochs)", TypeConverters.toInt
    )
    partitions = _p(
        "partitions", "partitions trained on: the workers of the fit", TypeConverters.toInt
    )
    miniBatchSize = _p(
        "miniBatchSize", "rows per step; -1: the whole partition", TypeConverters.toInt
    )
    miniStochasticIters = _p(
        "miniStochasticIters",
        "random mini-batches per iteration instead of a full pass; -1: a full pass",
        TypeConverters.toInt,
    )
    verbose = _p("verbose", "> 0: print each epoch's logs after the fit", TypeConverters.toInt)
    acquireLock = _p(
        "acquireLock",
        "True: locked pushes (mode asynchronous); False: hogwild",
        TypeConverters.toBoolean,
    )
    shufflePerIter = _p(
        "shufflePerIter", "reshuffle each partition every epoch", TypeConverters.toBoolean
    )
    partitionShuffles = _p(
        "partitionShuffles",
        "repeats of the whole training (multiplies the epochs)",
        TypeConverters.toInt,
    )
    optimizerOptions = _p(
        "optimizerOptions",
        "JSON of optimizer arguments (TF1 names, build_adam_config)",
        _optional_string,
    )
    port = _p(
        "port", "SparkFlow's Flask port; accepted, unused (see the docs)", TypeConverters.toInt
    )

    @keyword_only
    def __init__(
        self,
        inputCol: str | None = None,
        tensorflowGraph: Any = None,
        tfInput: str | None = None,
        tfLabel: str | None = None,
        tfOutput: str | None = None,
        tfOptimizer: str | None = None,
        tfLearningRate: float | None = None,
        iters: int | None = None,
        predictionCol: str | None = None,
        partitions: int | None = None,
        miniBatchSize: int | None = None,
        miniStochasticIters: int | None = None,
        acquireLock: bool | None = None,
        shufflePerIter: bool | None = None,
        tfDropout: str | None = None,
        toKeepDropout: bool | None = None,
        verbose: int | None = None,
        labelCol: str | None = None,
        partitionShuffles: int | None = None,
        optimizerOptions: str | None = None,
        port: int | None = None,
        outputMode: str | None = None,
    ) -> None:
        super().__init__()
        self._set_model_defaults()
        self._setDefault(
            labelCol=None,
            tfLabel=None,
            tfOptimizer=None,
            tfLearningRate=None,
            iters=1000,
            partitions=5,
            miniBatchSize=128,
            miniStochasticIters=-1,
            shufflePerIter=True,
            acquireLock=False,
            verbose=0,
            partitionShuffles=1,
            optimizerOptions=None,
            port=5000,
        )
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> SparkAsyncDL:
        """Sets params by their SparkFlow names."""
        return self._set(**self._input_kwargs)

    def getTensorflowGraph(self) -> bytes:
        return self.getOrDefault(self.tensorflowGraph)

    def _fit(self, dataset: DataFrame) -> SparkAsyncDLModel:
        import keras

        from loxodon.keras_io import load_model
        from loxodon.ml import KerasEstimator

        if not self.isDefined(self.tensorflowGraph):
            raise ValueError("SparkAsyncDL: set tensorflowGraph to a compiled keras.Model")
        g = self.getOrDefault
        model = load_model(bytes(g(self.tensorflowGraph)))
        optimizer = keras_optimizer(
            g(self.tfOptimizer), g(self.tfLearningRate), g(self.optimizerOptions), model.optimizer
        )
        if optimizer is not model.optimizer:
            config = model.get_compile_config()
            config["optimizer"] = keras.optimizers.serialize(optimizer)
            model.compile_from_config(config)

        label = g(self.labelCol) or g(self.inputCol)  # no labels: the input is the target
        workers = max(
            1, min(g(self.partitions), dataset.sparkSession.sparkContext.defaultParallelism)
        )
        batch, epochs = g(self.miniBatchSize), g(self.iters)
        if batch <= 0 or g(self.miniStochasticIters) >= 1:
            rows_per_worker = math.ceil(dataset.count() / workers)
            batch = rows_per_worker if batch <= 0 else batch
            if g(self.miniStochasticIters) >= 1:  # iters x msi steps, as whole epochs
                steps_per_epoch = math.ceil(rows_per_worker / batch)
                epochs = math.ceil(epochs * g(self.miniStochasticIters) / steps_per_epoch)
        estimator = KerasEstimator(
            model=model,
            featuresCol=g(self.inputCol),
            labelCol=label,
            numWorkers=workers,
            epochs=max(1, epochs) * g(self.partitionShuffles),
            batchSize=batch,
            mode="asynchronous" if g(self.acquireLock) else "hogwild",
            shuffle=g(self.shufflePerIter),
        )
        fitted = estimator.fit(dataset)
        if g(self.verbose) > 0:
            for epoch, logs in enumerate(_per_epoch(fitted.history)):
                print(f"SparkAsyncDL epoch {epoch + 1}: {logs}")
        return self._wrap(fitted, model)

    def _wrap(self, fitted: Any, compiled: Any) -> SparkAsyncDLModel:
        """The SparkAsyncDLModel of a fit: cut at tfOutput's layer when the model has it."""
        from loxodon.ml import KerasModel

        cut = layer_name(self.getTfOutput())
        names = [layer.name for layer in compiled.layers]
        keras_stage = fitted
        if cut in names and cut != names[-1]:
            import keras

            trained = fitted.getKerasModel()
            keras_stage = KerasModel.fromKerasModel(
                keras.Model(trained.inputs, trained.get_layer(cut).output)
            )
        out = SparkAsyncDLModel(
            inputCol=self.getInputCol(),
            predictionCol=self.getPredictionCol(),
            tfInput=self.getTfInput(),
            tfOutput=self.getTfOutput(),
            tfDropout=self.getTfDropout(),
            toKeepDropout=self.getToKeepDropout(),
            outputMode=self._resolved_mode(compiled, keras_stage is not fitted),
        )
        out.history = fitted.history
        return out.setKerasStage(keras_stage)

    def _resolved_mode(self, model: Any, cut: bool) -> str:
        mode = self.getOutputMode()
        if mode != "auto":
            return mode
        units = model.outputs[0].shape[-1]
        supervised = self.getOrDefault(self.labelCol) is not None
        return "classification" if supervised and not cut and (units or 0) > 1 else "raw"

    def _save_extra(self, path: str) -> None:
        if self.isDefined(self.tensorflowGraph):
            from loxodon.compat.sparkflow.model import write_bytes

            write_bytes(path + "/tensorflowGraph.keras", bytes(self.getTensorflowGraph()))

    def _load_extra(self, path: str, metadata: dict[str, Any]) -> None:
        if metadata.get("hasGraph"):
            from loxodon.compat.sparkflow.model import read_bytes

            self._set(tensorflowGraph=read_bytes(path + "/tensorflowGraph.keras"))

    def _extra_metadata(self) -> dict[str, Any]:
        return {"hasGraph": self.isDefined(self.tensorflowGraph)}


def _per_epoch(history: dict[str, list[float]]) -> list[dict[str, float]]:
    epochs = max((len(v) for v in history.values()), default=0)
    return [{k: v[i] for k, v in history.items() if i < len(v)} for i in range(epochs)]

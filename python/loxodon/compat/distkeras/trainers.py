"""dist-keras's trainers on Loxodon's engine: the constructor arguments of
``distkeras.trainers`` and ``.train(dataframe) -> keras.Model``, each mapped
onto a native :class:`loxodon.SparkModel` mode or :class:`loxodon.Ensemble`
(docs/compat/distkeras.md has the table and every difference).

Like dist-keras, a trainer takes an UNCOMPILED model and compiles a copy of
it with ``worker_optimizer``, ``loss`` and ``metrics``; the caller's model is
left as it was, and ``train`` returns the trained copy.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

import keras
from pyspark.sql import DataFrame

from loxodon.compat.distkeras.columns import flat_features

# The loss and optimizer dist-keras's first releases hard-coded in their workers
# (its README examples pass neither).
DEFAULT_LOSS = "categorical_crossentropy"
DEFAULT_OPTIMIZER = "adagrad"


def compile_copy(
    keras_model: keras.Model,
    worker_optimizer: str | keras.optimizers.Optimizer,
    loss: Any,
    metrics: Sequence[Any] | None,
    loss_weights: Any = None,
    learning_rate: float | None = None,
) -> keras.Model:
    """A copy of ``keras_model`` (same weights) compiled as dist-keras's workers
    compile it; ``learning_rate``, when given, is the optimizer's rate."""
    model = keras.models.clone_model(keras_model)
    model.set_weights(keras_model.get_weights())
    if isinstance(worker_optimizer, str):
        optimizer = keras.optimizers.get(worker_optimizer)
    else:  # a fresh instance: one optimizer object cannot serve two models
        optimizer = worker_optimizer.__class__.from_config(worker_optimizer.get_config())
    if learning_rate is not None:
        optimizer.learning_rate = float(learning_rate)
    model.compile(optimizer, loss, metrics=list(metrics or []), loss_weights=loss_weights)
    return model


class Trainer:
    """What every dist-keras trainer shares: the compiled copy of the model, the
    columns, epochs and batch size, the training time and the history."""

    mode: ClassVar[str] = "single"

    def __init__(
        self,
        keras_model: keras.Model,
        worker_optimizer: str | keras.optimizers.Optimizer = DEFAULT_OPTIMIZER,
        loss: Any = DEFAULT_LOSS,
        metrics: Sequence[Any] | None = ("accuracy",),
        features_col: str | list[str] = "features",
        label_col: str = "label",
        num_epoch: int = 1,
        batch_size: int = 32,
        loss_weights: Any = None,
        learning_rate: float | None = None,
    ) -> None:
        self.master_model = compile_copy(
            keras_model, worker_optimizer, loss, metrics, loss_weights, learning_rate
        )
        self.worker_optimizer = worker_optimizer
        self.loss = loss
        self.metrics = list(metrics or [])
        self.features_column = features_col
        self.label_column = label_col
        self.num_epoch = num_epoch
        self.batch_size = batch_size
        self.training_time = 0.0
        self.history: dict[str, list[float]] = {}

    # -- dist-keras's accessors -------------------------------------------------------
    def get_training_time(self) -> float:
        """Seconds the last ``train`` took."""
        return self.training_time

    def get_history(self) -> dict[str, list[float]]:
        """The last ``train``'s logs: metric -> one value per epoch."""
        return self.history

    def get_averaged_history(self) -> dict[str, list[float]]:
        """The same as :meth:`get_history`: Loxodon's epoch logs are already the
        row-weighted mean over the workers."""
        return self.history

    def set_num_epoch(self, num_epoch: int) -> None:
        self.num_epoch = num_epoch

    def get_num_epoch(self) -> int:
        return self.num_epoch

    def set_minibatch_size(self, size: int) -> None:
        self.batch_size = size

    def get_minibatch_size(self) -> int:
        return self.batch_size

    # -- training ---------------------------------------------------------------------
    def train(self, dataframe: DataFrame, shuffle: bool = False) -> Any:
        """Trains on ``dataframe`` and returns the trained Keras model.
        ``shuffle`` is accepted for dist-keras's signature: Loxodon shuffles
        every partition's rows each epoch anyway (seeded)."""
        frame, features = flat_features(dataframe, self.features_column)
        started = time.time()
        try:
            return self._train(frame, features)
        finally:
            self.training_time = time.time() - started

    def _spark_model_options(self) -> dict[str, Any]:
        return {"mode": self.mode}

    def _train(self, frame: DataFrame, features: str | list[str]) -> Any:
        from loxodon.spark_model import SparkModel

        spark_model = SparkModel(
            self.master_model, scale_learning_rate=False, **self._spark_model_options()
        )
        history = spark_model.fit(
            frame,
            epochs=self.num_epoch,
            batch_size=self.batch_size,
            features_col=features,
            label_col=self.label_column,
            verbose=0,
        )
        self.history = {k: [float(v) for v in vs] for k, vs in history.history.items()}
        return spark_model.model


class SingleTrainer(Trainer):
    """One worker trains on all rows: native ``single``."""

    mode = "single"


class DistributedTrainer(Trainer):
    """A trainer with ``num_workers`` replicas; ``master_port`` is accepted and
    unused (Loxodon's parameter server picks its own port)."""

    mode = "asynchronous"

    def __init__(
        self,
        keras_model: keras.Model,
        worker_optimizer: str | keras.optimizers.Optimizer = DEFAULT_OPTIMIZER,
        loss: Any = DEFAULT_LOSS,
        metrics: Sequence[Any] | None = ("accuracy",),
        num_workers: int = 2,
        batch_size: int = 32,
        features_col: str | list[str] = "features",
        label_col: str = "label",
        num_epoch: int = 1,
        master_port: int = 5000,
        loss_weights: Any = None,
        learning_rate: float | None = None,
    ) -> None:
        super().__init__(
            keras_model,
            worker_optimizer,
            loss,
            metrics,
            features_col,
            label_col,
            num_epoch,
            batch_size,
            loss_weights,
            learning_rate,
        )
        self.num_workers = num_workers
        self.master_port = master_port
        self.parallelism_factor = 1

    def set_num_workers(self, num_workers: int) -> None:
        self.num_workers = num_workers

    def get_num_workers(self) -> int:
        return self.num_workers

    def set_parallelism_factor(self, factor: int) -> None:
        """``factor`` x ``num_workers`` partitions, each worker training its
        partitions in turn (dist-keras's name)."""
        if factor < 1:
            raise ValueError(f"parallelism_factor must be at least 1, got {factor}")
        self.parallelism_factor = factor

    def get_parallelism_factor(self) -> int:
        return self.parallelism_factor

    def _spark_model_options(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "num_workers": self.num_workers,
            "parallelism_factor": self.parallelism_factor,
        }


class AveragingTrainer(DistributedTrainer):
    """Replicas averaged after every epoch: native ``averaging``, ``frequency="epoch"``."""

    mode = "averaging"


class AsynchronousDistributedTrainer(DistributedTrainer):
    """The asynchronous trainers: ``communication_window`` local batches between
    exchanges with the parameter server, ``parallelism_factor`` as in dist-keras."""

    default_window: ClassVar[int] = 5

    def __init__(
        self,
        keras_model: keras.Model,
        worker_optimizer: str | keras.optimizers.Optimizer = DEFAULT_OPTIMIZER,
        loss: Any = DEFAULT_LOSS,
        metrics: Sequence[Any] | None = ("accuracy",),
        num_workers: int = 2,
        batch_size: int = 32,
        features_col: str | list[str] = "features",
        label_col: str = "label",
        num_epoch: int = 1,
        communication_window: int | None = None,
        master_port: int = 5000,
        loss_weights: Any = None,
        learning_rate: float | None = None,
        parallelism_factor: int = 1,
        communcation_window: int | None = None,
    ) -> None:
        super().__init__(
            keras_model,
            worker_optimizer,
            loss,
            metrics,
            num_workers,
            batch_size,
            features_col,
            label_col,
            num_epoch,
            master_port,
            loss_weights,
            learning_rate,
        )
        # ``communcation_window``: the spelling of dist-keras's README example.
        window = communication_window if communication_window is not None else communcation_window
        self.communication_window = window if window is not None else self.default_window
        self.set_parallelism_factor(parallelism_factor)

    def _spark_model_options(self) -> dict[str, Any]:
        return super()._spark_model_options() | {"communication_window": self.communication_window}


class DOWNPOUR(AsynchronousDistributedTrainer):
    """Native ``asynchronous``: push the local delta, pull the center, every
    ``communication_window`` batches. ``learning_rate`` (README) sets the worker
    optimizer's rate."""

    mode = "asynchronous"


class ADAG(AsynchronousDistributedTrainer):
    """Native ``adag``: the server adds delta / its local steps (``communication_window``)."""

    mode = "adag"
    default_window = 12


class DynSGD(AsynchronousDistributedTrainer):
    """Native ``dynsgd``: the server adds delta / (1 + the push's staleness)."""

    mode = "dynsgd"


# dist-keras's ``distkeras.trainers`` holds every trainer: so does this module.
from loxodon.compat.distkeras.elastic import AEASGD, EAMSGD, EASGD, AsynchronousEASGD  # noqa: E402
from loxodon.compat.distkeras.ensemble import EnsembleTrainer  # noqa: E402

__all__ = [
    "ADAG",
    "AEASGD",
    "DOWNPOUR",
    "EAMSGD",
    "EASGD",
    "AsynchronousDistributedTrainer",
    "AsynchronousEASGD",
    "AveragingTrainer",
    "DistributedTrainer",
    "DynSGD",
    "EnsembleTrainer",
    "SingleTrainer",
    "Trainer",
]

"""dist-keras's elastic averaging trainers (EASGD, AEASGD alias
AsynchronousEASGD, EAMSGD) on the native ``easgd``, ``aeasgd`` and ``eamsgd``
modes, with dist-keras's rule for the elastic rate: alpha = ``learning_rate``
x ``rho``, independent of the worker optimizer's own rate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from loxodon.compat.distkeras.trainers import (
    DEFAULT_LOSS,
    DEFAULT_OPTIMIZER,
    AsynchronousDistributedTrainer,
)


class AEASGD(AsynchronousDistributedTrainer):
    """Native ``aeasgd``: every ``communication_window`` batches the worker moves
    by E = alpha (W - C) towards the center and the center by E towards it, with
    alpha = ``learning_rate`` x ``rho`` (dist-keras's rule). ``learning_rate``
    is the elastic rate only: the worker optimizer keeps its own."""

    mode = "aeasgd"
    default_window = 32

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
        rho: float = 5.0,
        learning_rate: float = 0.1,
        master_port: int = 5000,
        loss_weights: Any = None,
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
            communication_window,
            master_port,
            loss_weights,
            None,  # the elastic rate, not the optimizer's
            parallelism_factor,
            communcation_window,
        )
        self.rho = rho
        self.learning_rate = learning_rate

    def alpha(self) -> float:
        return self.learning_rate * self.rho

    def _spark_model_options(self) -> dict[str, Any]:
        # Native alpha = (the compiled optimizer's rate) x easgd_rho; dist-keras's is
        # learning_rate x rho, whatever the optimizer's rate.
        rate = float(keras.ops.convert_to_numpy(self.master_model.optimizer.learning_rate))
        return super()._spark_model_options() | {"easgd_rho": self.alpha() / rate}


# The README's name for the same trainer.
AsynchronousEASGD = AEASGD


class EASGD(AEASGD):
    """Native ``easgd``: the synchronous elastic averaging of the README, every
    ``communication_window`` batches (default 1: every batch)."""

    mode = "easgd"
    default_window = 1

    def __init__(self, keras_model: keras.Model, *args: Any, **kwargs: Any) -> None:
        if len(args) < 11:  # learning_rate not given positionally: the README's default
            kwargs.setdefault("learning_rate", 0.01)
        super().__init__(keras_model, *args, **kwargs)


class EAMSGD(AEASGD):
    """Native ``eamsgd``: AEASGD with Nesterov ``momentum`` on the local steps."""

    mode = "eamsgd"

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
        rho: float = 5.0,
        learning_rate: float = 0.1,
        momentum: float = 0.9,
        master_port: int = 5000,
        loss_weights: Any = None,
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
            communication_window,
            rho,
            learning_rate,
            master_port,
            loss_weights,
            parallelism_factor,
            communcation_window,
        )
        self.momentum = momentum

    def _spark_model_options(self) -> dict[str, Any]:
        return super()._spark_model_options() | {"momentum": self.momentum}

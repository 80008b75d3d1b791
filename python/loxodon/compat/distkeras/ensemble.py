"""dist-keras's ``EnsembleTrainer`` on :class:`loxodon.Ensemble`: ``num_models``
members, each trained on its own share of the rows (``data="partition"``, as
dist-keras trains one model per partition), returned as a list of models or,
with ``merge_models=True``, as one model averaging their outputs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import keras
from pyspark.sql import DataFrame

from loxodon.compat.distkeras.columns import flat_features
from loxodon.compat.distkeras.trainers import DEFAULT_LOSS, DEFAULT_OPTIMIZER, Trainer


class EnsembleTrainer(Trainer):
    """``num_models`` (README) or ``num_ensembles`` (later releases) members.

    Unlike dist-keras, where every member starts from the given model's
    weights, member i starts from fresh initial weights under seed ``seed + i``
    (:meth:`loxodon.Ensemble.build_member`), so members differ by more than
    their data.
    """

    def __init__(
        self,
        keras_model: keras.Model,
        worker_optimizer: str | keras.optimizers.Optimizer = DEFAULT_OPTIMIZER,
        loss: Any = DEFAULT_LOSS,
        metrics: Sequence[Any] | None = ("accuracy",),
        features_col: str | list[str] = "features",
        label_col: str = "label",
        batch_size: int = 32,
        num_ensembles: int = 2,
        loss_weights: Any = None,
        num_models: int | None = None,
        merge_models: bool = False,
        num_epoch: int = 1,
        seed: int = 0,
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
        )
        self.num_models = num_models if num_models is not None else num_ensembles
        self.merge_models = merge_models
        self.seed = seed
        self.ensemble: Any = None
        self.member_histories: list[dict[str, list[float]]] = []

    def train(self, dataframe: DataFrame, shuffle: bool = False) -> Any:
        """The trained members (a list), or one merged model (``merge_models``)."""
        from loxodon.ensemble import Ensemble

        frame, features = flat_features(dataframe, self.features_column)
        started = time.time()
        try:
            self.ensemble = Ensemble(
                self.master_model,
                num_models=self.num_models,
                data="partition",
                seed=self.seed,
                batch_size=self.batch_size,
            )
            self.member_histories = self.ensemble.fit(
                frame, epochs=self.num_epoch, features_col=features, label_col=self.label_column
            )
        finally:
            self.training_time = time.time() - started
        self.history = _mean_history(self.member_histories)
        return self.ensemble.to_keras(merge=self.merge_models)

    def get_executor_history(self, executor_id: int) -> dict[str, list[float]]:
        """Member ``executor_id``'s logs (one member per task)."""
        return self.member_histories[executor_id]


def _mean_history(histories: list[dict[str, list[float]]]) -> dict[str, list[float]]:
    """Per metric and epoch, the mean over the members."""
    if not histories:
        return {}
    return {
        key: [sum(h[key][e] for h in histories) / len(histories) for e in range(len(values))]
        for key, values in histories[0].items()
    }

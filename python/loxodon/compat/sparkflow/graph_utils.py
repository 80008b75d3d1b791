"""SparkFlow's ``graph_utils`` and ``pipeline_util`` names, for Keras models.

``build_graph(func)`` calls ``func`` (which now returns a compiled
``keras.Model`` instead of building a TF1 graph) and gives the ``.keras`` bytes
``SparkAsyncDL(tensorflowGraph=...)`` takes. The ``build_*_config`` helpers make
``optimizerOptions`` JSON with SparkFlow's (TF1) argument names and defaults;
``use_locking`` is accepted and has no effect. ``PysparkPipelineWrapper.unwrap``
returns its argument: plain ``PipelineModel.load`` already gives working stages.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from loxodon.compat.sparkflow.model import KerasArchive, to_archive

T = TypeVar("T")


def build_graph(func: Callable[[], Any]) -> KerasArchive:
    """The ``.keras`` bytes of the compiled Keras model ``func()`` returns."""
    return to_archive(func())


def generate_config(**kwargs: Any) -> str:
    return json.dumps(kwargs)


def build_adam_config(
    learning_rate: float = 0.001,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float = 1e-8,
    use_locking: bool = False,
) -> str:
    return generate_config(
        learning_rate=learning_rate,
        beta1=beta1,
        beta2=beta2,
        epsilon=epsilon,
        use_locking=use_locking,
    )


def build_rmsprop_config(
    learning_rate: float = 0.001,
    decay: float = 0.9,
    momentum: float = 0.0,
    epsilon: float = 1e-10,
    use_locking: bool = False,
    centered: bool = False,
) -> str:
    return generate_config(
        learning_rate=learning_rate,
        decay=decay,
        momentum=momentum,
        epsilon=epsilon,
        use_locking=use_locking,
        centered=centered,
    )


def build_momentum_config(
    learning_rate: float = 0.001,
    momentum: float = 0.9,
    use_locking: bool = False,
    use_nesterov: bool = False,
) -> str:
    return generate_config(
        learning_rate=learning_rate,
        momentum=momentum,
        use_locking=use_locking,
        use_nesterov=use_nesterov,
    )


def build_adadelta_config(
    learning_rate: float = 0.001,
    rho: float = 0.95,
    epsilon: float = 1e-8,
    use_locking: bool = False,
) -> str:
    return generate_config(
        learning_rate=learning_rate, rho=rho, epsilon=epsilon, use_locking=use_locking
    )


def build_adagrad_config(
    learning_rate: float = 0.001, initial_accumulator: float = 0.1, use_locking: bool = False
) -> str:
    return generate_config(
        learning_rate=learning_rate,
        initial_accumulator=initial_accumulator,
        use_locking=use_locking,
    )


def build_gradient_descent(learning_rate: float = 0.001, use_locking: bool = False) -> str:
    return generate_config(learning_rate=learning_rate, use_locking=use_locking)


class PysparkPipelineWrapper:
    """SparkFlow's loading shim; not needed here (``unwrap`` is the identity)."""

    @staticmethod
    def unwrap(pipeline: T) -> T:
        return pipeline

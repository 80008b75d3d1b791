"""SparkFlow's API over Loxodon: ``SparkAsyncDL`` / ``SparkAsyncDLModel`` with
SparkFlow's param names, defaults and meanings, taking a compiled Keras model
where SparkFlow took a TF1 graph; its helpers (``build_graph``,
``build_adam_config``, ...), ``load_tensorflow_model`` and
``attach_tensorflow_model_to_pipeline``. The mapping of every param and each
difference: ``docs/compat/sparkflow.md``.

SparkFlow's module paths map to this one package::

    from sparkflow.tensorflow_async import SparkAsyncDL        # before
    from loxodon.compat.sparkflow import SparkAsyncDL          # now
"""

from loxodon.compat.sparkflow.estimator import SparkAsyncDL
from loxodon.compat.sparkflow.graph_utils import (
    PysparkPipelineWrapper,
    build_adadelta_config,
    build_adagrad_config,
    build_adam_config,
    build_gradient_descent,
    build_graph,
    build_momentum_config,
    build_rmsprop_config,
)
from loxodon.compat.sparkflow.loader import (
    attach_tensorflow_model_to_pipeline,
    load_tensorflow_model,
)
from loxodon.compat.sparkflow.model import SparkAsyncDLModel

__all__ = [
    "PysparkPipelineWrapper",
    "SparkAsyncDL",
    "SparkAsyncDLModel",
    "attach_tensorflow_model_to_pipeline",
    "build_adadelta_config",
    "build_adagrad_config",
    "build_adam_config",
    "build_gradient_descent",
    "build_graph",
    "build_momentum_config",
    "build_rmsprop_config",
    "load_tensorflow_model",
]

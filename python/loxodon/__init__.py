"""Loxodon: train and serve Keras models data-parallel on Apache Spark.

Names that need Keras (and so TensorFlow) load on first use, so that
``python -m loxodon jar`` and the parameter-server client stay light.
"""

from loxodon._jvm import LoxodonJarMissingError, jar_path, spark_session, warm_up
from loxodon._lazy import lazy_names as _lazy_names
from loxodon.parameter_server import ParameterServer, start_parameter_server
from loxodon.ps_client import PSClient, PSError

__version__ = "0.1.0"

_LAZY = {
    "SparkModel": "loxodon.spark_model",
    "load_spark_model": "loxodon.spark_model",
    "TrainingError": "loxodon.training_job",
    "Ensemble": "loxodon.ensemble",
    "load_ensemble": "loxodon.ensemble",
    "image_folder": "loxodon.images",
    "class_names": "loxodon.images",
    "text_classifier": "loxodon.text",
}

__all__ = [
    "Ensemble",
    "LoxodonJarMissingError",
    "PSClient",
    "PSError",
    "ParameterServer",
    "SparkModel",
    "TrainingError",
    "__version__",
    "class_names",
    "image_folder",
    "jar_path",
    "load_ensemble",
    "load_spark_model",
    "spark_session",
    "start_parameter_server",
    "text_classifier",
    "warm_up",
]

__getattr__ = _lazy_names(__name__, _LAZY)

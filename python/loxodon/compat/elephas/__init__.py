"""``loxodon.compat.elephas``: Elephas's API on Loxodon's engine, so an Elephas
program runs by changing its imports (``docs/compat/elephas.md``).

==========================================  ==========================================
Elephas                                     here
==========================================  ==========================================
``elephas.spark_model.SparkModel``          :class:`SparkModel`
``elephas.spark_model.SparkMLlibModel``     :class:`SparkMLlibModel`
``elephas.spark_model.load_spark_model``    :func:`load_spark_model`
``elephas.ml_model.ElephasEstimator``       :class:`ElephasEstimator`
``elephas.ml_model.ElephasTransformer``     :class:`ElephasTransformer`
``elephas.utils.rdd_utils.*``               :func:`to_simple_rdd`, :func:`to_labeled_point`, ...
``elephas.ml.adapter.to_data_frame``        :func:`to_data_frame`
==========================================  ==========================================

The sub-modules ``spark_model``, ``ml_model``, ``utils.rdd_utils`` and
``ml.adapter`` carry Elephas's module names too.
"""

from loxodon.compat.elephas.ml_model import ElephasEstimator, ElephasTransformer
from loxodon.compat.elephas.spark_model import (
    AsynchronousSparkModel,
    SparkMLlibModel,
    SparkModel,
    load_spark_model,
)
from loxodon.utils.rdd_utils import (
    from_labeled_point,
    to_data_frame,
    to_labeled_point,
    to_simple_rdd,
)

__all__ = [
    "AsynchronousSparkModel",
    "ElephasEstimator",
    "ElephasTransformer",
    "SparkMLlibModel",
    "SparkModel",
    "from_labeled_point",
    "load_spark_model",
    "to_data_frame",
    "to_labeled_point",
    "to_simple_rdd",
]

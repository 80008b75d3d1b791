"""Spark ML front ends of Loxodon: :class:`KerasEstimator` and :class:`KerasModel`.

Wrappers of the Scala ``loxodon.ml`` classes in the manner of ``pyspark.ml``.
``JavaParams._from_java`` maps the JVM class ``loxodon.ml.KerasModel`` to this
package's ``KerasModel``, so ``PipelineModel.load`` rebuilds these wrappers.
"""

from loxodon.ml.estimator import KerasEstimator
from loxodon.ml.model import KerasModel

__all__ = ["KerasEstimator", "KerasModel"]

"""The RDD-based MLlib path of Elephas: ``SparkMLlibModel`` trains on an RDD of
``LabeledPoint``, so Elephas programs written against ``elephas.spark_model.
SparkMLlibModel`` port by changing their imports."""

from loxodon.mllib.mllib_model import SparkMLlibModel

__all__ = ["SparkMLlibModel"]

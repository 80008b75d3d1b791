"""Elephas's ``elephas.ml.adapter``: ``to_data_frame`` (features as an ML Vector,
``label`` a class index when ``categorical``)."""

from loxodon.utils.rdd_utils import to_data_frame

__all__ = ["to_data_frame"]

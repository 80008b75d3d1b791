"""Elephas's ``elephas.utils.rdd_utils``, under its module name."""

from loxodon.utils.rdd_utils import (
    from_labeled_point,
    to_data_frame,
    to_labeled_point,
    to_simple_rdd,
)

__all__ = ["from_labeled_point", "to_data_frame", "to_labeled_point", "to_simple_rdd"]

"""Elephas-compatible helpers, so an Elephas program ports by changing imports."""

from loxodon.utils.rdd_utils import (
    from_labeled_point,
    to_data_frame,
    to_labeled_point,
    to_simple_rdd,
)

__all__ = ["from_labeled_point", "to_data_frame", "to_labeled_point", "to_simple_rdd"]

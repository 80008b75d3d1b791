"""Elephas's ``elephas.utils``: the NumPy <-> RDD helpers (Loxodon's own, which
keep Elephas's names and meanings)."""

from loxodon.utils.rdd_utils import (
    from_labeled_point,
    to_data_frame,
    to_labeled_point,
    to_simple_rdd,
)

__all__ = ["from_labeled_point", "to_data_frame", "to_labeled_point", "to_simple_rdd"]

"""The driver's half of multi-input and multi-output models (:mod:`loxodon.model_io`):
checks a DataFrame's columns against each input and output before any task starts,
and folds them into the one flat features column and one flat label column the Scala
side trains on; NumPy lists and dicts of arrays are flattened the same way.

One aggregation measures every array or Vector column (widths, label ranges); the
Scala checks then run on the flat columns (nulls, NaNs, equal widths per row).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from loxodon.model_io import ModelIO, Slot

FEATURES = "__loxodon_mio_features"
LABEL = "__loxodon_mio_label"


def _column(df: DataFrame, name: str, param: str) -> tuple[Column, int | None]:
    """A column as array<float>, with its width when the schema states it."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.ml.linalg import VectorUDT

    fields = {f.name: f for f in df.schema.fields}
    if name not in fields:
        raise ValueError(
            f"{param}: no column '{name}' in the DataFrame (available: "
            f"{', '.join(df.columns)}); set {param} to one of them"
        )
    t = fields[name].dataType
    if isinstance(t, T.NumericType):
        return F.array(F.col(name).cast("float")), 1
    if isinstance(t, T.ArrayType) and isinstance(t.elementType, T.NumericType):
        return F.col(name).cast("array<float>"), None
    if isinstance(t, VectorUDT):
        return vector_to_array(F.col(name), "float32"), None
    raise ValueError(
        f"{param}: column '{name}' has type {t.simpleString()}; it must be numeric, an array "
        "of numbers or an ML Vector"
    )


def _measure(df: DataFrame, arrays: dict[str, Column], labels: dict[str, Column]) -> dict:
    """Widths of the array columns and the first values' range of the label columns."""
    aggs = []
    for key, c in arrays.items():
        width = F.when(c.isNotNull(), F.size(c))
        aggs += [F.min(width).alias(f"min_{key}"), F.max(width).alias(f"max_{key}")]
    for key, c in labels.items():
        aggs += [
            F.min(F.element_at(c, 1)).alias(f"lo_{key}"),
            F.max(F.element_at(c, 1)).alias(f"hi_{key}"),
        ]
    return df.agg(*aggs).first().asDict() if aggs else {}


def _width(key: str, known: int | None, m: dict, what: str) -> int | None:
    if known is not None:
        return known
    lo, hi = m.get(f"min_{key}"), m.get(f"max_{key}")
    if lo is not None and lo != hi:
        raise ValueError(
            f"{what}: rows have between {lo} and {hi} values; every row must have the same number"
        )
    return lo


def flat_frame(df: DataFrame, io: ModelIO, features_col: Any, label_col: Any) -> DataFrame:
    """``df`` with :data:`FEATURES` (and, with ``label_col``, :data:`LABEL`) added, after
    checking each input's columns and each output's label column against the model."""
    groups = io.input_groups(features_col)
    label_cols = io.label_columns(label_col) if label_col is not None else []
    feats = [[(c, *_column(df, c, "features_col")) for c in g] for g in groups]
    labs = [(c, *_column(df, c, "label_col")) for c in label_cols]
    arrays = {
        f"f{i}_{j}": e for i, g in enumerate(feats) for j, (_, e, w) in enumerate(g) if w is None
    }
    arrays |= {f"l{i}": e for i, (_, e, w) in enumerate(labs) if w is None}
    m = _measure(df, arrays, {f"l{i}": e for i, (_, e, _) in enumerate(labs)})
    for i, (slot, g) in enumerate(zip(io.inputs, feats, strict=True)):
        widths = [
            _width(f"f{i}_{j}", w, m, f"features_col: column '{c}'")
            for j, (c, _, w) in enumerate(g)
        ]
        if None not in widths and sum(widths) != slot.width:  # None: no rows (Scala refuses)
            raise ValueError(
                f"features_col: the columns {[c for c, _, _ in g]} of input '{slot.name}' hold "
                f"{sum(widths)} values per row but its shape {slot.shape} needs {slot.width}; "
                "give that input the matching column(s)"
            )
    for i, (slot, (c, _, w)) in enumerate(zip(io.outputs if labs else [], labs, strict=True)):
        _check_label(
            slot,
            c,
            _width(f"l{i}", w, m, f"label_col: column '{c}'"),
            m.get(f"lo_l{i}"),
            m.get(f"hi_l{i}"),
        )
    out = df.withColumn(FEATURES, F.concat(*(e for g in feats for _, e, _ in g)))
    return out.withColumn(LABEL, F.concat(*(e for _, e, _ in labs))) if labs else out


def _check_label(
    slot: Slot, col: str, width: int | None, lo: float | None, hi: float | None
) -> None:
    if width is None:
        return
    if width != slot.label_width:
        need = (
            "one class index (its loss takes class indices)"
            if slot.index_labels
            else (f"{slot.width} values (its shape {slot.shape})")
        )
        raise ValueError(
            f"label_col: column '{col}' of output '{slot.name}' has {width} values per row but "
            f"that output needs {need}; choose the matching column or change the loss"
        )
    if slot.index_labels and lo is not None and (lo < 0 or hi >= slot.width):
        raise ValueError(
            f"label_col: class indices in column '{col}' range from {int(lo)} to {int(hi)} but "
            f"output '{slot.name}' has {slot.width} units (classes 0 to {slot.width - 1}); fix "
            "the labels or the output layer"
        )


def split_predictions(frame: DataFrame, io: ModelIO, prediction_col: str) -> DataFrame:
    """The flat prediction column as one array column per output,
    ``<prediction_col>_<output name>``, in place of the flat one."""
    start = 1
    for slot in io.outputs:
        frame = frame.withColumn(
            f"{prediction_col}_{slot.name}", F.slice(F.col(prediction_col), start, slot.width)
        )
        start += slot.width
    return frame.drop(prediction_col)


def require_supported(io: ModelIO, class_weight: Any, parallelism_factor: int) -> None:
    """What multi-input/output fits do not take, refused before anything starts."""
    if class_weight and len(io.outputs) > 1:
        raise ValueError(
            "class_weight: Keras takes it for models of one output only; weigh the rows with "
            "sample_weight (or sample_weight_col) instead"
        )
    if parallelism_factor > 1:
        raise ValueError(
            "parallelism_factor > 1 is not supported for models of several inputs or outputs; "
            "use parallelism_factor=1"
        )


def flat_arrays(io: ModelIO, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """NumPy ``x``/``y`` (lists or dicts of arrays) as one flat row each."""
    return io.flatten_x(x), (None if y is None else io.flatten_y(y))

"""A partition's rows inside the worker: Arrow in, NumPy out, kept for the
whole fit and reshuffled each epoch with a seed from (seed, epoch, partition);
and the compiled steps those rows go through in batches of any size
(:class:`OpenBatchFunction`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from loxodon.model_io import ModelIO, num_rows, take
from loxodon.pages import small_pages

TENSOR_ALIGNMENT = 64
"""Bytes TensorFlow's CPU tensors are aligned to (``EIGEN_MAX_ALIGN_BYTES``)."""


def read_stream(source: IO[bytes]) -> pa.Table:
    """Read one Arrow IPC stream (to its end-of-stream marker) as a table."""
    return ipc.open_stream(source).read_all()


def open_batch_spec(rows: np.ndarray) -> Any:
    """The ``tf.TensorSpec`` of batches of ``rows``: their shape with the batch size
    left open."""
    import tensorflow as tf

    return tf.TensorSpec((None, *rows.shape[1:]), tf.as_dtype(rows.dtype))


class OpenBatchFunction:
    """``fn`` as a ``tf.function`` traced on its first call for batches of any size.

    Traced for the first batch's shape, a step is traced again, relaxed, for a
    pass's shorter last batch (``reduce_retracing``): about 0.24 s more for a
    small MLP. Traced for the first call's arrays with their batch dimension
    open, one graph serves every batch, with the same ops, so the same results.
    """

    def __init__(self, fn: Callable[..., Any], jit_compile: bool | None = None) -> None:
        import tensorflow as tf

        self._fn = tf.function(fn, reduce_retracing=True, jit_compile=jit_compile)
        self._traced = False

    def __call__(self, *args: Any) -> Any:
        if not self._traced:
            import tensorflow as tf

            specs = tf.nest.map_structure(
                lambda a: open_batch_spec(a) if isinstance(a, np.ndarray) else a, args
            )
            self._fn.get_concrete_function(*specs)
            self._traced = True
        return self._fn(*args)


def aligned_empty(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    """An uninitialised, writable, C-contiguous array whose data starts on a 64-byte
    boundary: TensorFlow's alignment, so :meth:`Replica.hold_rows` can wrap it in a
    tensor with no copy (DLPack). In small pages (:mod:`loxodon.pages`): a fit's rows
    are written once, and huge pages cost seconds to fault in on a fragmented host."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = small_pages(nbytes + TENSOR_ALIGNMENT)
    start = -raw.ctypes.data % TENSOR_ALIGNMENT
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def list_values(chunk: pa.Array, name: str) -> np.ndarray:
    """A ``fixed_size_list<float32>[k]`` array's values as an (n, k) view (no copy when
    they are float32 without nulls)."""
    if not pa.types.is_fixed_size_list(chunk.type):
        raise TypeError(f"column {name!r} must be fixed_size_list<float32>, got {chunk.type}")
    width = chunk.type.list_size
    values = chunk.flatten().to_numpy(zero_copy_only=False)  # flatten honours slices
    return values.reshape(len(chunk), width)


def column_matrix(table: pa.Table, name: str) -> np.ndarray:
    """A ``fixed_size_list<float32>[k]`` column as an (n, k) float32 array, copied once
    from the column's chunks into one aligned, writable block (:func:`aligned_empty`)."""
    column = table.column(name)
    if not pa.types.is_fixed_size_list(column.type):
        raise TypeError(f"column {name!r} must be fixed_size_list<float32>, got {column.type}")
    out = aligned_empty((len(column), column.type.list_size))
    filled = 0
    for chunk in column.chunks:
        out[filled : filled + len(chunk)] = list_values(chunk, name)
        filled += len(chunk)
    return out


def row_weights(
    labels: np.ndarray, sparse: bool, weighted: bool, class_weight: dict[str, float] | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels without the sample weight a ``weighted`` label ends with, and the rows' weights
    (times Keras's ``class_weight`` of each row's class: the index, or the one-hot argmax)."""
    weights = None
    if weighted:
        labels, weights = labels[:, :-1], labels[:, -1].copy()
    if class_weight:
        classes = labels[:, 0] if labels.shape[1] == 1 else labels.argmax(axis=1)
        by_class = np.ones(max(int(classes.max()) + 1, *(int(k) + 1 for k in class_weight)))
        for k, w in class_weight.items():
            by_class[int(k)] = w
        per_class = by_class[classes.astype(np.int64)].astype(np.float32)
        weights = per_class if weights is None else weights * per_class
    return labels, weights


@dataclass
class Partition:
    """Features shaped for the model and labels shaped for its loss (and, for weighted
    training rows, each row's loss weight ``w``); for a multi-input or multi-output model
    ``x``/``y`` are the list or dict of arrays it takes (:mod:`loxodon.model_io`)."""

    x: Any
    y: Any
    w: np.ndarray | None = None

    @property
    def rows(self) -> int:
        return num_rows(self.x)

    @classmethod
    def from_table(
        cls,
        table: pa.Table,
        input_shape: tuple[int, ...] | ModelIO,
        sparse_labels: bool,
        weighted: bool = False,
        class_weight: dict[str, float] | None = None,
    ) -> Partition:
        if isinstance(input_shape, ModelIO):
            return cls._multi(table, input_shape, weighted)
        if table.num_rows == 0:
            return cls(np.zeros((0, *input_shape), np.float32), None)
        labels = column_matrix(table, "label") if "label" in table.column_names else None
        return cls.from_matrices(
            column_matrix(table, "features"),
            labels,
            input_shape,
            sparse_labels,
            weighted,
            class_weight,
        )

    @classmethod
    def from_matrices(
        cls,
        features: np.ndarray,
        labels: np.ndarray | None,
        input_shape: tuple[int, ...],
        sparse_labels: bool,
        weighted: bool = False,
        class_weight: dict[str, float] | None = None,
    ) -> Partition:
        """Rows from their (n, width) features and (n, k) labels (None for none), the
        wire's two columns as matrices; ``features`` is reshaped, not copied."""
        n = len(features)
        if n == 0:
            return cls(np.zeros((0, *input_shape), np.float32), None)
        expected = int(np.prod(input_shape))
        if features.shape[1] != expected:
            raise ValueError(
                f"features have {features.shape[1]} values per row but the model's input "
                f"shape {tuple(input_shape)} needs {expected}: check featuresCol"
            )
        x = features.reshape(n, *input_shape)
        y, w = None, None
        if labels is not None:
            labels, w = row_weights(labels, sparse_labels, weighted, class_weight)
            y = labels[:, 0].astype(np.int32) if sparse_labels and labels.shape[1] == 1 else labels
        return cls(x, y, w)

    @classmethod
    def _multi(cls, table: pa.Table, io: ModelIO, weighted: bool) -> Partition:
        """Rows split into the model's inputs and outputs (no class_weight: Keras has none
        for several outputs, and the driver refuses it)."""
        if table.num_rows == 0:
            return cls(io.split_x(np.zeros((0, sum(s.width for s in io.inputs)), np.float32)), None)
        x = io.split_x(column_matrix(table, "features"))
        y, w = None, None
        if "label" in table.column_names:
            labels, w = row_weights(column_matrix(table, "label"), False, weighted, None)
            y = io.split_y(labels)
        return cls(x, y, w)

    def epoch_indices(
        self, batch_size: int, steps: int, rng: np.random.Generator | None
    ) -> np.ndarray:
        """The rows of the epoch's ``steps`` batches of ``batch_size`` (at most
        ``rows``) rows, one batch a row (int32), wrapping around so every worker runs
        the same number of steps; shuffled when ``rng`` is given. A partition smaller
        than a batch gives the tail of its order from each batch's start instead
        (batches of varying size, :meth:`batches` only)."""
        if self.rows < batch_size:
            raise ValueError("a partition smaller than a batch has batches of varying size")
        order = rng.permutation(self.rows) if rng is not None else np.arange(self.rows)
        starts = (np.arange(steps) * batch_size) % self.rows
        tiled = np.concatenate([order, order[:batch_size]])  # batch s: tiled[start : start + b]
        return tiled[starts[:, None] + np.arange(batch_size)].astype(np.int32)

    def batches(
        self, batch_size: int, steps: int, rng: np.random.Generator | None
    ) -> Iterator[tuple[np.ndarray, Any]]:
        """The epoch's batches as arrays (the rows of :meth:`epoch_indices`);
        weighted rows come as ``(x, (y, w))``."""
        assert self.y is not None
        if self.rows >= batch_size:
            for idx in self.epoch_indices(batch_size, steps, rng):
                yield self._batch(idx)
            return
        order = rng.permutation(self.rows) if rng is not None else np.arange(self.rows)
        for step in range(steps):
            yield self._batch(order[(step * batch_size) % self.rows :])

    def _batch(self, idx: np.ndarray) -> tuple[np.ndarray, Any]:
        assert self.y is not None
        y = take(self.y, idx)
        return take(self.x, idx), (y if self.w is None else (y, self.w[idx]))


def epoch_rng(seed: int, epoch: int, partition: int) -> np.random.Generator:
    """The shuffle of one partition in one epoch, reproducible from its triple."""
    return np.random.default_rng([seed, epoch, partition])

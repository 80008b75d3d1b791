"""One worker's copy of the model: its flat weights (shared layout with the
parameter server) and its compiled local-train and gradient steps.

Gradients use the weights' layout, so every vector on the wire has one length;
a non-trainable weight's slot carries the change the step's forward pass made to
it (BatchNormalization's moving statistics; zero for a frozen weight), so the
synchronous mean applies the mean change: each step the replicas take the mean
of the workers' values. Local steps between two exchanges run inside one traced
call (:meth:`Replica.train_steps`), gathering their batches from the
partition's rows held as tensors: one Python call and no NumPy copy per window
instead of per step. Synchronous steps run the same way (:meth:`Replica.sync_steps`):
each step's flat gradient leaves the graph only for the workers' mean (a
``tf.numpy_function`` between the gradient and its application), so a span of
steps is one call too. Bucketed (:meth:`Replica.sync_steps_bucketed`), the gradient
leaves in buckets of variables, last layers first (:func:`buckets`), each started on
the ring's reducing thread as soon as the backward pass has produced it, and the
step waits for all of them before applying. The window modes' exchanges run inside
their epoch's call the same way (:meth:`Replica.window_steps`): at a window's end the
graph concatenates the variables, calls out once for the exchange and assigns the
center it returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from loxodon.keras_io import WeightLayout
from loxodon.model_io import num_rows
from loxodon.worker.data import TENSOR_ALIGNMENT, OpenBatchFunction


def _held(rows: np.ndarray) -> Any:
    """``rows`` as a tensor: the same memory when TensorFlow can take it as it is (a
    writable, C-contiguous array aligned as its own tensors are, e.g. the worker's
    partitions, :func:`~loxodon.worker.data.aligned_empty`, on a host without GPUs,
    where a tensor is placed on the GPU), else a copy. A partition's rows are a fit's
    biggest allocation: a copy of hundreds of MB costs seconds on a busy host."""
    import tensorflow as tf

    if (
        isinstance(rows, np.ndarray)
        and rows.size
        and rows.flags.c_contiguous
        and rows.flags.writeable
        and rows.ctypes.data % TENSOR_ALIGNMENT == 0
        and not tf.config.list_logical_devices("GPU")
    ):
        return tf.experimental.dlpack.from_dlpack(rows.__dlpack__())
    return tf.constant(rows)


def _gather(tf: Any, rows: Any, idx: Any) -> Any:
    """Rows ``idx`` of a held tensor, or of each tensor of a list, dict or tuple of them."""
    return tf.nest.map_structure(lambda a: tf.gather(a, idx), rows)


class Overlapped(Protocol):
    """A reduction that runs beside the step (:class:`~loxodon.worker.allreduce.Ring`)."""

    def start(self, vector: np.ndarray) -> None: ...

    def finish(self, count: int) -> list[np.ndarray]: ...


def buckets(sizes: Sequence[int], cap_bytes: int | None) -> list[tuple[int, int]]:
    """Variables ``[lo, hi)`` per bucket, the last variables' first (the backward pass
    produces their gradients first): each bucket takes the variables before it while
    its float32 bytes stay within ``cap_bytes`` (a bigger variable is a bucket alone).
    ``cap_bytes`` 0 or None: one bucket of all. The same on every worker (a function
    of the model's layout)."""
    if not cap_bytes:
        return [(0, len(sizes))]
    out: list[tuple[int, int]] = []
    hi, used = len(sizes), 0
    for lo in range(len(sizes) - 1, -1, -1):
        size = 4 * sizes[lo]
        if used and used + size > cap_bytes:
            out.append((lo + 1, hi))
            hi, used = lo + 1, 0
        used += size
    out.append((0, hi))
    return out


class Replica(WeightLayout):
    """A worker's model: flat weights plus its train and gradient steps."""

    def __init__(self, model: Any) -> None:
        import tensorflow as tf

        super().__init__(model)
        self._trainable_ids = {id(v) for v in model.trainable_weights}
        self.trainable_mask = [id(v) in self._trainable_ids for v in self.variables]
        self._tf = tf
        # y is the labels, or (labels, sample weights) for weighted rows.
        self._train_step = OpenBatchFunction(
            lambda x, y: model.train_step((x, *y) if isinstance(y, tuple) else (x, y))
        )
        self._grad_step = OpenBatchFunction(self._gradients)
        self._apply_step = tf.function(self._apply, reduce_retracing=True)
        self._read_flat = tf.function(self._concat)
        flat_spec = tf.TensorSpec((self.num_params,), tf.float32)
        self._write_flat = tf.function(self._assign_flat, input_signature=[flat_spec])
        self._steps_fn: Any = None
        self._sync_fn: Any = None
        self._bucketed_fns: dict[tuple[tuple[int, int], ...], Any] = {}
        self._signature: list[Any] = []
        self._buckets: list[tuple[int, int]] = []
        self._overlapped: Overlapped | None = None
        # (step, event, bucket, perf_counter) of the bucketed callouts when a list: for
        # benchmarks checking that a bucket starts before the backward pass ends.
        self.trace: list[tuple[int, str, int, float]] | None = None
        self._window_fn: Any = None
        self._rows: tuple[Any, Any] | None = None
        # The Python function the running traced call calls out to, and what it raised.
        self._callout: Callable[[int, np.ndarray], np.ndarray] | None = None
        self._callout_error: BaseException | None = None

    # -- rows held as tensors -------------------------------------------------------------
    def hold_rows(self, x: Any, y: Any, w: np.ndarray | None = None) -> None:
        """Keep a partition's rows as tensors for :meth:`train_steps` and :meth:`sync_steps`
        (one copy per fit); ``x``/``y`` may be the list or dict of arrays of a
        multi-input/output model, ``w`` the rows' loss weights."""
        tf = self._tf
        held_y = tf.nest.map_structure(_held, y)
        self._rows = (
            tf.nest.map_structure(_held, x),
            held_y if w is None else (held_y, _held(w)),
        )
        spec = tf.TensorSpec((None, None), tf.int32)
        x_spec, y_spec = (
            tf.nest.map_structure(lambda a: tf.TensorSpec((None, *a.shape[1:]), a.dtype), t)
            for t in self._rows
        )
        signature = self._signature = [x_spec, y_spec, spec]
        self._bucketed_fns = {}
        self._steps_fn = tf.function(self._steps, input_signature=signature)
        self._sync_fn = tf.function(self._sync_steps, input_signature=signature)
        ends = tf.TensorSpec((None,), tf.bool)
        self._window_fn = tf.function(self._window_steps, input_signature=[*signature, ends])

    def train_steps(self, batches: np.ndarray) -> None:
        """Local optimizer steps, one per row of ``batches`` (indices into the held
        rows), in one traced call: Keras's ``train_step`` in a loop (as
        ``steps_per_execution`` runs it), the same ops as one call per batch."""
        assert self._rows is not None, "hold_rows first"
        self._steps_fn(*self._rows, batches)

    def sync_steps(
        self, batches: np.ndarray, reduce: Callable[[int, np.ndarray], np.ndarray]
    ) -> None:
        """Synchronous steps, one per row of ``batches``, in one traced call: each
        step's flat gradient (:meth:`gradients`'s) goes to ``reduce(i, gradient)`` (``i``:
        the step's row; it may overwrite and return the vector) and its result is applied
        (:meth:`apply_gradients`'s ops): the same steps as those two calls per batch. An
        exception ``reduce`` raises is raised here as it is."""
        self._calling_out(reduce, self._sync_fn, batches)

    def window_steps(
        self,
        batches: np.ndarray,
        ends: np.ndarray,
        exchange: Callable[[int, np.ndarray], np.ndarray],
    ) -> None:
        """Local optimizer steps, one per row of ``batches`` (:meth:`train_steps`'s ops),
        in one traced call; after each step ``i`` where ``ends[i]``, the weights as one
        flat vector (:meth:`get_flat`'s) go to ``exchange(i, flat)`` (``flat`` is valid
        during the call only) and the variables are assigned the vector it returns
        (:meth:`set_flat`'s ops, from a copy: the caller may reuse its buffer). The same
        steps and exchanges as :meth:`train_steps` per window with ``get_flat``,
        ``exchange`` and ``set_flat`` between. An exception ``exchange`` raises is raised
        here as it is."""
        self._calling_out(exchange, self._window_fn, batches, np.asarray(ends, bool))

    def _calling_out(
        self, callout: Callable[[int, np.ndarray], np.ndarray], fn: Any, *args: Any
    ) -> None:
        """Run the traced ``fn`` over the held rows with ``callout`` as its call out; an
        error of ``callout`` (which TensorFlow wraps in an ``OpError``) comes out as it is."""
        assert self._rows is not None, "hold_rows first"
        self._callout, self._callout_error = callout, None
        try:
            fn(*self._rows, *args)
        except self._tf.errors.OpError:
            if self._callout_error is not None:
                raise self._callout_error from None
            raise
        finally:
            self._callout = None

    def _call_out(self, step: Any, vector: np.ndarray) -> np.ndarray:
        assert self._callout is not None
        try:
            return self._callout(int(step), vector)
        except BaseException as exc:
            self._callout_error = exc
            raise

    def sync_steps_bucketed(
        self, batches: np.ndarray, ring: Overlapped, cap_bytes: int | None
    ) -> None:
        """:meth:`sync_steps` with the gradient reduced in :func:`buckets` of at most
        ``cap_bytes``: each bucket goes to ``ring.start`` once the backward pass has
        produced it, in the same order every step (a chain of control dependencies),
        and ``ring.finish`` hands back the means before the step applies them. An
        exception of the ring is raised here as it is."""
        assert self._rows is not None, "hold_rows first"
        layout = tuple(buckets(self.sizes, cap_bytes))
        if layout not in self._bucketed_fns:
            self._buckets = list(layout)
            self._bucketed_fns[layout] = self._tf.function(
                self._bucketed_steps, input_signature=self._signature
            )
        self._buckets, self._overlapped, self._callout_error = list(layout), ring, None
        try:
            self._bucketed_fns[layout](*self._rows, batches)
        except self._tf.errors.OpError:
            if self._callout_error is not None:
                raise self._callout_error from None
            raise
        finally:
            self._overlapped = None

    def _start_numpy(self, step: np.ndarray, bucket: np.ndarray, grad: np.ndarray) -> np.ndarray:
        assert self._overlapped is not None
        try:
            if self.trace is not None:
                self.trace.append((int(step), "start", int(bucket), time.perf_counter()))
            self._overlapped.start(np.array(grad, np.float32))  # the tensor's memory is reused
            return np.array(bucket, np.int32)
        except BaseException as exc:
            self._callout_error = exc
            raise

    def _finish_numpy(self, step: np.ndarray, last: np.ndarray) -> np.ndarray:
        assert self._overlapped is not None
        try:
            if self.trace is not None:
                self.trace.append((int(step), "wait", int(last), time.perf_counter()))
            means = self._overlapped.finish(len(self._buckets))
            if self.trace is not None:
                self.trace.append((int(step), "done", int(last), time.perf_counter()))
            return np.concatenate(means[::-1])  # buckets run from the last variables back
        except BaseException as exc:
            self._callout_error = exc
            raise

    def _bucketed_steps(self, x: Any, y: Any, batches: Any) -> None:
        tf = self._tf
        for i in tf.range(tf.shape(batches)[0]):
            parts = self._gradient_parts(_gather(tf, x, batches[i]), _gather(tf, y, batches[i]))
            token = tf.constant(-1, tf.int32)
            for k, (lo, hi) in enumerate(self._buckets):
                # After the previous bucket's start (a control input): the starts run in this order.
                with tf.control_dependencies([token]):
                    grad = tf.concat(parts[lo:hi], axis=0)
                token = tf.numpy_function(
                    self._start_numpy, [i, tf.constant(k), grad], tf.int32, stateful=True
                )
            mean = tf.numpy_function(self._finish_numpy, [i, token], tf.float32, stateful=True)
            self._apply(tf.ensure_shape(mean, [self.num_params]))

    def _reduce_numpy(self, step: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """The graph's call out to ``reduce``; ``grad`` may be the tensor's own memory."""
        return self._call_out(step, np.array(grad, np.float32))

    def _exchange_numpy(self, step: np.ndarray, flat: np.ndarray) -> np.ndarray:
        """The graph's call out to ``exchange``. Its result is copied: TensorFlow may take
        an aligned array's memory as a tensor's, and a variable its input's buffer."""
        return np.array(self._call_out(step, flat), np.float32)

    def _steps(self, x: Any, y: Any, batches: Any) -> None:
        tf, model = self._tf, self.model
        for i in tf.range(tf.shape(batches)[0]):
            xs, ys = _gather(tf, x, batches[i]), _gather(tf, y, batches[i])
            model.train_step((xs, *ys) if isinstance(ys, tuple) else (xs, ys))

    def _sync_steps(self, x: Any, y: Any, batches: Any) -> None:
        tf = self._tf
        for i in tf.range(tf.shape(batches)[0]):
            grad = self._gradients(_gather(tf, x, batches[i]), _gather(tf, y, batches[i]))
            mean = tf.numpy_function(self._reduce_numpy, [i, grad], tf.float32, stateful=True)
            self._apply(tf.ensure_shape(mean, grad.shape))

    def _window_steps(self, x: Any, y: Any, batches: Any, ends: Any) -> None:
        tf, model = self._tf, self.model
        for i in tf.range(tf.shape(batches)[0]):
            xs, ys = _gather(tf, x, batches[i]), _gather(tf, y, batches[i])
            model.train_step((xs, *ys) if isinstance(ys, tuple) else (xs, ys))
            if ends[i]:
                center = tf.numpy_function(
                    self._exchange_numpy, [i, self._concat()], tf.float32, stateful=True
                )
                self._assign_flat(tf.ensure_shape(center, (self.num_params,)))

    # -- flat weights ---------------------------------------------------------------------
    def get_flat(self) -> np.ndarray:
        """The weights as one new float32 vector, read in one traced call (not one eager
        read per variable and a concatenation: a window's exchange does this each time)."""
        return self._read_flat().numpy()

    def set_flat(self, flat: np.ndarray) -> None:
        """Assign every variable from one float32 vector, in one traced call. From a copy:
        TensorFlow may take an aligned array's memory as it is, and a variable may adopt
        its input's buffer, while the loops write into ``flat`` afterwards (a pull)."""
        self._write_flat(np.array(flat, np.float32))

    def _concat(self) -> Any:
        tf = self._tf
        return tf.concat([tf.reshape(tf.cast(v, tf.float32), [-1]) for v in self.variables], 0)

    def _assign_flat(self, flat: Any) -> None:
        tf = self._tf
        for v, start, end, shape in zip(
            self.variables, self.offsets[:-1], self.offsets[1:], self.shapes, strict=True
        ):
            v.assign(tf.cast(tf.reshape(flat[int(start) : int(end)], shape), v.dtype))

    # -- steps --------------------------------------------------------------------------
    def train_on_batch(self, x: np.ndarray, y: np.ndarray) -> None:
        """One local optimizer step (Keras's own ``train_step``; metrics accumulate)."""
        self._train_step(x, y)

    def gradients(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The flat gradient of the batch's mean loss (metrics accumulate)."""
        return self._grad_step(x, y).numpy()

    def apply_gradients(self, flat_grad: np.ndarray) -> None:
        self._apply_step(self._tf.constant(flat_grad))

    def _gradients(self, x: Any, y: Any) -> Any:
        return self._tf.concat(self._gradient_parts(x, y), axis=0)

    def _gradient_parts(self, x: Any, y: Any) -> list[Any]:
        """Per variable, its flat float32 slot of :meth:`gradients`'s vector."""
        tf, model = self._tf, self.model
        frozen = [v for v in self.variables if id(v) not in self._trainable_ids]
        before = [tf.identity(v) for v in frozen]
        y, weights = y if isinstance(y, tuple) else (y, None)
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=weights, training=True)
        tracker = getattr(model, "_loss_tracker", None)
        if tracker is not None:
            tracker.update_state(loss, sample_weight=tf.shape(tf.nest.flatten(x)[0])[0])
        model.compute_metrics(x, y, y_pred, sample_weight=weights)
        grads = dict(
            zip(
                (id(v) for v in model.trainable_weights),
                tape.gradient(loss, model.trainable_weights),
                strict=True,
            )
        )
        changes = {}
        for v, old in zip(frozen, before, strict=True):
            changes[id(v)] = tf.reshape(tf.cast(v, tf.float32) - tf.cast(old, tf.float32), [-1])
            v.assign(old)  # back to the value all replicas share; _apply adds the mean change
        parts = [
            tf.reshape(grads[id(v)], [-1]) if trainable else changes[id(v)]
            for v, trainable in zip(self.variables, self.trainable_mask, strict=True)
        ]
        return [tf.cast(p, tf.float32) for p in parts]

    def _apply(self, flat_grad: Any) -> None:
        tf, model = self._tf, self.model
        pieces = []
        for v, trainable, start, end, shape in zip(
            self.variables,
            self.trainable_mask,
            self.offsets[:-1],
            self.offsets[1:],
            self.shapes,
            strict=True,
        ):
            part = tf.reshape(flat_grad[int(start) : int(end)], shape)
            if trainable:
                pieces.append((part, v))
            else:
                v.assign_add(tf.cast(part, v.dtype))
        model.optimizer.apply_gradients(pieces)

    # -- metrics ------------------------------------------------------------------------
    def reset_metrics(self) -> None:
        self.model.reset_metrics()

    def metrics(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.model.get_metrics_result().items()}

    def evaluate(self, x: Any, y: Any, batch_size: int) -> dict[str, float]:
        """Keras ``evaluate`` on these rows (means over rows)."""
        if num_rows(x) == 0:
            return {}
        result = self.model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
        return {k: float(v) for k, v in result.items()}

"""A model's training state as bytes, and which models can share one compiled graph.

A model's state is its weights plus its optimizer's variables (step counter,
learning rate, slots), packed as raw bytes in variable order: that is what
hops between workers in a model-selection search. Two models whose layers,
loss, metrics and optimizer differ only in names and learning rate have the
same variables in the same order, so one compiled Keras model can train
either of them by swapping states: :func:`architecture_key` says when.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np


def state_variables(model: Any) -> tuple[list[Any], list[Any]]:
    """The model's state variables (weights, then the optimizer's), split into
    the float32 ones and the others; builds the optimizer if it is not yet."""
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    variables = list(model.weights) + list(optimizer.variables)
    floats = [v for v in variables if np.dtype(v.dtype) == np.float32]
    others = [v for v in variables if np.dtype(v.dtype) != np.float32]
    return floats, others


def _nbytes(v: Any) -> int:
    return int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize


def _flat_bytes(v: Any) -> np.ndarray:
    return np.ascontiguousarray(v.numpy()).reshape(-1).view(np.uint8)


class ModelState:
    """Packs and unpacks a model's state as bytes: the float32 variables as one
    block, then the others (the optimizer's int64 step counter) one by one.

    The whole state is gathered and scattered by two compiled functions (one
    TensorFlow call each way instead of one per variable); the others travel
    inside the same float32 block, bitcast, when their item size is a multiple
    of 4 bytes (an int64 is two float32 words with the same bytes), so a pack
    is one tensor and one copy out, and an unpack one copy in. They are traced
    on first use, so a codec made only to pack once costs nothing to build.
    """

    def __init__(self, model: Any) -> None:
        self.floats, self.others = state_variables(model)
        self.float_bytes = sum(_nbytes(v) for v in self.floats)
        self.nbytes = self.float_bytes + sum(_nbytes(v) for v in self.others)
        # Others that fit the float32 block bitcast; any other dtype is read and written eagerly.
        self._fused = all(np.dtype(v.dtype).itemsize % 4 == 0 for v in self.others)
        self._gather: Any = None
        self._scatter: Any = None

    def _compile(self) -> None:
        import tensorflow as tf

        variables = self.floats + (self.others if self._fused else [])
        # float32 words per variable, and the words each one's item spans (1 for float32).
        words = [int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize // 4 for v in variables]

        def as_words(v: Any) -> Any:
            flat = tf.reshape(v.value, [-1])
            if v.dtype == tf.float32:
                return flat
            return tf.reshape(tf.bitcast(flat, tf.float32), [-1])

        def from_words(part: Any, v: Any) -> Any:
            if v.dtype == tf.float32:
                return tf.reshape(part, v.shape)
            per_item = np.dtype(v.dtype).itemsize // 4
            items = tf.reshape(part, [-1, per_item]) if per_item > 1 else part
            return tf.reshape(tf.bitcast(items, v.dtype), v.shape)

        def gather() -> Any:
            return tf.concat([as_words(v) for v in variables], 0)

        def scatter(flat: Any) -> None:
            for v, part in zip(variables, tf.split(flat, words), strict=True):
                v.assign(from_words(part, v))

        # Concrete functions: calling one skips tf.function's signature matching (~0.1-0.15 ms
        # a call each way on a 1 MB state, a sixth of a pack).
        total = sum(words)
        self._gather = tf.function(gather).get_concrete_function()
        self._scatter = tf.function(scatter).get_concrete_function(
            tf.TensorSpec([total], tf.float32)
        )

    def pack(self) -> memoryview:
        """The state as one contiguous byte buffer (a view; no further copy)."""
        if self.floats and self._gather is None:
            self._compile()
        parts = [self._gather().numpy().view(np.uint8)] if self.floats else []
        if not (self._fused and self.floats):
            parts += [_flat_bytes(v) for v in self.others]
        return memoryview(np.concatenate(parts) if len(parts) != 1 else parts[0])

    def pack_eager(self) -> memoryview:
        """Same bytes as :meth:`pack`, variable by variable, with nothing to trace:
        for a model packed once (a trial's initial state)."""
        parts = [_flat_bytes(v) for v in self.floats + self.others]
        return memoryview(np.concatenate(parts) if parts else np.zeros(0, np.uint8))

    def unpack(self, state: bytes | memoryview) -> None:
        if len(state) != self.nbytes:
            raise ValueError(
                f"a model state of {len(state)} bytes does not fit this model ({self.nbytes} "
                "bytes of weights and optimizer variables)"
            )
        if self.floats:
            if self._scatter is None:
                self._compile()
            import tensorflow as tf

            block = self.nbytes if self._fused else self.float_bytes
            self._scatter(tf.constant(np.frombuffer(state, np.float32, block // 4)))
            if self._fused:
                return
        self._assign_others(state)

    def unpack_eager(self, state: bytes | memoryview) -> None:
        """Same as :meth:`unpack`, variable by variable, with nothing to trace."""
        offset = 0
        for v in self.floats:
            count = int(np.prod(v.shape))
            v.assign(np.frombuffer(state, np.float32, count, offset).reshape(tuple(v.shape)))
            offset += 4 * count
        self._assign_others(state)

    def _assign_others(self, state: bytes | memoryview) -> None:
        offset = self.float_bytes
        for v in self.others:
            dtype = np.dtype(v.dtype)
            count = int(np.prod(v.shape))
            v.assign(np.frombuffer(state, dtype, count, offset).reshape(tuple(v.shape)))
            offset += count * dtype.itemsize


def follows_learning_rate_schedule(optimizer: Any) -> bool:
    """Whether the optimizer's rate is a Keras ``LearningRateSchedule`` (a function of
    the step, not a variable that can be set)."""
    import keras

    return isinstance(
        getattr(optimizer, "_learning_rate", None), keras.optimizers.schedules.LearningRateSchedule
    )


def architecture_key(model: Any) -> str:
    """A digest of what the compiled train step depends on: the layer graph and
    configs, the loss, the metrics and the optimizer's class and settings, with
    every name canonicalised and a float learning rate left out (it is a
    variable, carried in the state). Models with equal keys can share one
    compiled model; unequal keys only cost a compilation, never a wrong step."""
    config = {"model": model.get_config(), "compile": model.get_compile_config()}
    optimizer = config["compile"].get("optimizer") if config["compile"] else None
    settings = optimizer.get("config") if isinstance(optimizer, dict) else None
    if isinstance(settings, dict) and isinstance(settings.get("learning_rate"), int | float):
        settings.pop("learning_rate")
    names: dict[str, str] = {}
    _collect_names(config, names)
    canonical = _rename(config, names)
    text = json.dumps(canonical, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def _collect_names(node: Any, names: dict[str, str]) -> None:
    if isinstance(node, dict):
        name = node.get("name")
        if isinstance(name, str) and name not in names:
            names[name] = f"#{len(names)}"
        for value in node.values():
            _collect_names(value, names)
    elif isinstance(node, list | tuple):
        for value in node:
            _collect_names(value, names)


def _rename(node: Any, names: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _rename(v, names) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_rename(v, names) for v in node]
    if isinstance(node, str):
        return names.get(node, node)
    return node

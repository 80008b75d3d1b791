"""A model-selection worker (model hopper parallelism): it holds one partition
for the whole search and trains whichever model the driver's hop scheduler
sends it, one sub-epoch at a time.

A unit arrives through the parameter server (op NEXT_UNIT) and names the
model's archive blob, the blob of its current state (empty: the archive's own
weights) and the blob to write. A model's state is its weights plus its
optimizer's variables, packed as raw bytes in variable order: a hop is one
blob put and one blob get, with no file and no serialisation format beyond
the bytes themselves. Compiled models stay cached per process, so a model
seen before costs only the state copy.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from loxodon.keras_io import load_model, model_to_archive
from loxodon.ps_client import PSClient
from loxodon.worker.data import Partition

_MAX_CACHED_MODELS = 32
_EVAL_BATCH = 1024
# Sub-epochs of more steps than this go through model.fit (see HopWorker._train).
_BATCHWISE_MAX_STEPS = 96


class ModelState:
    """Packs and unpacks a model's weights and optimizer variables as bytes.

    The float32 variables travel as one concatenated block, gathered and
    scattered by two compiled functions (one TensorFlow call each way instead
    of one per variable); the few others (the optimizer's int64 step counter)
    follow one by one.
    """

    def __init__(self, model: Any) -> None:
        import tensorflow as tf

        optimizer = model.optimizer
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        variables = list(model.weights) + list(optimizer.variables)
        self.floats = [v for v in variables if np.dtype(v.dtype) == np.float32]
        self.others = [v for v in variables if np.dtype(v.dtype) != np.float32]
        self.float_bytes = sum(_nbytes(v) for v in self.floats)
        self.nbytes = self.float_bytes + sum(_nbytes(v) for v in self.others)
        sizes = [int(np.prod(v.shape)) for v in self.floats]
        floats = self.floats

        def gather() -> Any:
            return tf.concat([tf.reshape(v.value, [-1]) for v in floats], 0)

        def scatter(flat: Any) -> None:
            for v, part in zip(floats, tf.split(flat, sizes), strict=True):
                v.assign(tf.reshape(part, v.shape))

        self._gather = tf.function(gather) if floats else None
        self._scatter = tf.function(scatter) if floats else None
        self._tf = tf

    def pack(self) -> memoryview:
        """The state as one contiguous byte buffer (a view; no further copy)."""
        parts = [self._gather().numpy().view(np.uint8)] if self._gather is not None else []
        parts += [np.ascontiguousarray(v.numpy()).reshape(-1).view(np.uint8) for v in self.others]
        return memoryview(np.concatenate(parts) if len(parts) != 1 else parts[0])

    def unpack(self, state: bytes | memoryview) -> None:
        if len(state) != self.nbytes:
            raise ValueError(
                f"a model state of {len(state)} bytes does not fit this model ({self.nbytes} "
                "bytes of weights and optimizer variables)"
            )
        if self._scatter is not None:
            flat = np.frombuffer(state, np.float32, self.float_bytes // 4)
            self._scatter(self._tf.constant(flat))
        offset = self.float_bytes
        for v in self.others:
            dtype = np.dtype(v.dtype)
            count = int(np.prod(v.shape))
            v.assign(np.frombuffer(state, dtype, count, offset).reshape(tuple(v.shape)))
            offset += count * dtype.itemsize


def _nbytes(v: Any) -> int:
    return int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize


class _Cached:
    def __init__(self, model: Any, initial: memoryview, codec: ModelState, data: _Data) -> None:
        self.model = model
        self.initial = initial
        self.codec = codec
        self.train, self.val = data


_Data = tuple[Partition, Partition]


class HopWorker:
    """Serves units until the scheduler says stop; returns the task's RESULT."""

    def __init__(
        self,
        ps: PSClient,
        spec: dict[str, Any],
        tables: tuple[Any, Any],
        shape_data: Callable[[Any, Any], _Data],
        on_event: Callable[[dict[str, Any]], None],
    ) -> None:
        self.ps = ps
        self.partition = int(spec["partition"])
        self.seed = int(spec.get("seed", 0))
        self.fault = spec.get("fault_injection") or {}
        self.first_life = int(spec.get("attempt", 0)) == 0 and int(spec.get("restart", 0)) == 0
        self.tables = tables
        self.shape_data = shape_data
        self.shaped: dict[Any, _Data] = {}
        self.on_event = on_event
        self.models: OrderedDict[int, _Cached] = OrderedDict()

    def serve(self) -> dict[str, Any]:
        report: dict[str, Any] = {"hello": True}
        units, busy, started = 0, 0.0, time.perf_counter()
        while True:
            unit = self.ps.next_unit(report)
            kind = unit["kind"]
            if kind == "stop":
                break
            t0 = time.perf_counter()
            report = {"unit": unit["unit"], **self._run(kind, unit)}
            report["seconds"] = seconds = time.perf_counter() - t0
            busy += seconds
            units += 1
            self.on_event({"kind": kind, "unit": unit["unit"], "trial_id": unit["model"]})
        return {
            "partition": self.partition,
            "units": units,
            "rows": self.tables[0].num_rows,
            "busy_seconds": busy,
            "seconds": time.perf_counter() - started,
            "data_bytes": int(sum(t.nbytes for t in self.tables)),
        }

    # -- units ---------------------------------------------------------------------------
    def _run(self, kind: str, unit: dict[str, Any]) -> dict[str, Any]:
        """Runs one unit; returns its report (rows and logs)."""
        cached = self._model(unit)
        state = self.ps.get_blob(unit["state"]) if unit["state"] else cached.initial
        cached.codec.unpack(state)
        if kind == "train":
            logs = self._train(cached, unit)
            self.ps.put_blob(unit["out"], cached.codec.pack())
            report = {"rows": cached.train.rows, "logs": logs}
            if unit.get("evaluate"):  # task-parallel: this worker validates on its full copy
                val_logs, report["val_rows"] = self._evaluate(cached, unit)
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            return report
        if kind == "eval":
            logs, rows = self._evaluate(cached, unit)
            return {"rows": rows, "logs": logs}
        if kind == "export":
            self.ps.put_blob(unit["out"], model_to_archive(cached.model))
            return {"rows": 0, "logs": {}}
        raise ValueError(f"unknown unit kind {kind!r}")

    def _evaluate(self, cached: _Cached, unit: dict[str, Any]) -> tuple[dict[str, float], int]:
        val = cached.val
        if val.rows == 0 or val.y is None:
            return {}, 0
        logs = _WeightedMean()
        for i in range(0, val.rows, _EVAL_BATCH):
            xb, yb = val.x[i : i + _EVAL_BATCH], val.y[i : i + _EVAL_BATCH]
            logs.add(len(xb), cached.model.test_on_batch(xb, yb, return_dict=True))
        return logs.means(), val.rows

    def _train(self, cached: _Cached, unit: dict[str, Any]) -> dict[str, float]:
        """One pass over the partition in this sub-epoch's shuffled order.

        Both paths run Keras's own compiled train function on the same batches,
        hence give the weights of ``model.fit(x[order], y[order],
        shuffle=False)``: short passes go batch by batch (``train_on_batch``),
        which skips fit's fixed cost of ~50 ms per call; long ones use ``fit``,
        whose per-step cost is lower.
        """
        train, model = cached.train, cached.model
        rng = unit_rng(self.seed, int(unit["model"]), int(unit["epoch"]), self.partition)
        order = rng.permutation(train.rows)
        assert train.y is not None
        x, y = train.x[order], train.y[order]
        batch = int(unit["batch_size"])
        die = self.first_life and self.fault.get("unit") == unit["unit"]
        if -(-train.rows // batch) > _BATCHWISE_MAX_STEPS:
            history = model.fit(
                x,
                y,
                batch_size=batch,
                epochs=1,
                shuffle=False,
                verbose=0,
                callbacks=[_die_mid_unit()] if die else [],
            )
            return {k: float(v[-1]) for k, v in history.history.items()}
        logs = _WeightedMean()
        for step, i in enumerate(range(0, train.rows, batch)):
            if die and step == 2:
                _die_now()
            xb, yb = x[i : i + batch], y[i : i + batch]
            logs.add(len(xb), model.train_on_batch(xb, yb, return_dict=True))
        return logs.means()

    def _model(self, unit: dict[str, Any]) -> _Cached:
        model_id = int(unit["model"])
        cached = self.models.get(model_id)
        if cached is None:
            model = load_model(self.ps.get_blob(unit["archive"]))
            if unit.get("learning_rate") is not None:
                model.optimizer.learning_rate = float(unit["learning_rate"])
            codec = ModelState(model)
            data = self.shape_data(model, self.tables)
            cached = _Cached(model, codec.pack(), codec, data)
            self.models[model_id] = cached
            while len(self.models) > _MAX_CACHED_MODELS:
                self.models.popitem(last=False)
        self.models.move_to_end(model_id)
        return cached


def unit_rng(seed: int, model: int, epoch: int, partition: int) -> np.random.Generator:
    """The shuffle of one sub-epoch: reproducible from (seed, model, epoch, partition),
    whatever worker runs it and whenever."""
    return np.random.default_rng([seed, model, epoch, partition])


def _die_now() -> None:
    """Test hook (``fault_injection``): the process dies mid-unit, as a crash would."""
    os._exit(3)


def _die_mid_unit() -> Any:
    import keras

    class DieMidUnit(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if batch >= 2:
                _die_now()

    return DieMidUnit()


class _WeightedMean:
    """Row-weighted means of per-batch logs (Keras's own epoch means, batch by batch)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.rows = 0

    def add(self, rows: int, logs: dict[str, Any]) -> None:
        self.rows += rows
        for k, v in logs.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v) * rows

    def means(self) -> dict[str, float]:
        return {k: v / self.rows for k, v in self.sums.items()} if self.rows else {}

"""A model-selection worker (model hopper parallelism): it holds one partition
for the whole search and trains whichever model the driver's hop scheduler
sends it, one sub-epoch at a time.

A unit arrives through the parameter server (op NEXT_UNIT) and names the
model's archive blob, the blob of its current state (the driver stores each
trial's first state as a blob too; empty: the archive's own weights, as the
Scala front end sends) and the blob to write. A model's state is its weights plus its
optimizer's variables, packed as raw bytes in variable order, with no file and
no serialisation format beyond the bytes themselves
(:mod:`loxodon.worker.model_state`). A hop rides on the exchange that hands
out units: the state a unit wrote goes to the store with its report, and the
next unit comes with the state it starts from, one round trip per unit.

Compiled models stay cached per process, one per architecture: trials that
differ only in learning rate, batch size or initial weights share one model
and one traced train step, so any trial of a known architecture costs only
the state copy; an archive is loaded once per architecture (and for a trial
whose first state only its archive holds).
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from loxodon.keras_io import load_model, model_to_archive
from loxodon.model_io import take
from loxodon.ps_client import PSClient
from loxodon.worker.data import OpenBatchFunction, Partition
from loxodon.worker.model_state import ModelState, architecture_key

_MAX_COMPILED = 16
_MAX_TRIALS = 64
_EVAL_BATCH = 1024


class _Compiled:
    """One compiled model per architecture (:func:`architecture_key`), with the
    partition shaped for its input; every trial of that architecture trains in
    it by swapping states, so Keras traces its train step once per worker."""

    def __init__(self, model: Any, data: _Data) -> None:
        self.model = model
        self.codec = ModelState(model)
        self.train, self.val = data
        self._reset: Any = None
        self._reset_variables = -1
        # Keras's own steps, traced once for any batch size (model.train_function would
        # trace again for a pass's shorter last batch, ~0.24 s per architecture).
        jit = bool(model.jit_compile)
        self.train_step = OpenBatchFunction(model.train_step, jit_compile=jit)
        self.test_step = OpenBatchFunction(model.test_step, jit_compile=jit)

    def reset_metrics(self) -> None:
        """``model.reset_metrics()`` as one compiled call: eagerly it assigns every
        metric variable one by one (~0.9 ms), and a unit resets before it trains
        and before it validates. Traced again whenever the metrics' variables
        change (Keras builds them on the first step)."""
        count = len(self.model.metrics_variables)
        if count != self._reset_variables:
            import tensorflow as tf

            self._reset = tf.function(self.model.reset_metrics)
            self._reset_variables = count
        self._reset()


class _Trial:
    """What a worker keeps of one trial: its architecture and, once it has
    loaded the trial's archive, its initial state."""

    def __init__(self, key: str, initial: memoryview | None) -> None:
        self.key = key
        self.initial = initial


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
        # Task-parallel workers hold the same rows: a unit's shuffle must not depend on
        # which of them runs it, or the search would not be reproducible.
        self.shuffle_partition = 0 if spec.get("replicated") else self.partition
        self.seed = int(spec.get("seed", 0))
        self.fault = spec.get("fault_injection") or {}
        self.first_life = int(spec.get("attempt", 0)) == 0 and int(spec.get("restart", 0)) == 0
        self.tables = tables
        self.shape_data = shape_data
        self.on_event = on_event
        self.compiled: OrderedDict[str, _Compiled] = OrderedDict()
        self.trials: OrderedDict[int, _Trial] = OrderedDict()
        self.archive_loads = 0  # archives loaded to train (exports not counted)

    def serve(self) -> dict[str, Any]:
        report: dict[str, Any] = {"hello": True}
        out_name, out = "", memoryview(b"")
        units, busy, started = 0, 0.0, time.perf_counter()
        while True:
            # The state the last unit wrote goes with its report; the next unit comes
            # with the state it starts from: one exchange per unit.
            unit, state = self.ps.next_unit(report, out_name, out)
            kind = unit["kind"]
            if kind == "stop":
                break
            t0 = time.perf_counter()
            done, written = self._run(kind, unit, state)
            out_name, out = (unit["out"], written) if written is not None else ("", memoryview(b""))
            report = {"unit": unit["unit"], **done}
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
            "archive_loads": self.archive_loads,
        }

    # -- units ---------------------------------------------------------------------------
    def _run(
        self, kind: str, unit: dict[str, Any], state: bytearray | None
    ) -> tuple[dict[str, Any], memoryview | bytes | None]:
        """Runs one unit from ``state`` (None: the trial's initial state); returns its
        report (rows and logs) and the blob it wrote, if any."""
        trial, compiled = self._model(unit)
        if unit["state"] and state is None:
            raise RuntimeError(
                f"unit {unit['unit']} names state {unit['state']!r} but came without it"
            )
        start = state if state is not None else trial.initial
        assert start is not None  # _model loads the initial state when the unit needs it
        compiled.codec.unpack(start)
        rates = unit.get("learning_rates")
        if rates and kind == "train":  # the epoch's rate (learning_rate_schedule)
            compiled.model.optimizer.learning_rate = rates[min(int(unit["epoch"]), len(rates) - 1)]
        if kind == "train":
            report: dict[str, Any] = {}
            # The first sub-epoch of an epoch starts from the last epoch's final state: it
            # validates that epoch here before training (one eval unit fewer).
            if unit.get("evaluate_first"):
                report["prior_logs"], report["prior_val_rows"] = self._evaluate(compiled, unit)
            logs = self._train(compiled, unit)
            written = compiled.codec.pack()
            report.update(rows=compiled.train.rows, logs=logs)
            # Task-parallel: validate on the full copy; MOP: the epoch's last sub-epoch
            # validates on this partition's rows (one eval unit fewer).
            if unit.get("evaluate"):
                val_logs, report["val_rows"] = self._evaluate(compiled, unit)
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            return report, written
        if kind == "eval":
            logs, rows = self._evaluate(compiled, unit)
            return {"rows": rows, "logs": logs}, None
        if kind == "export":
            # The trial's own model (its names, its compile config) with the trained state.
            own = self._load(unit)
            ModelState(own).unpack_eager(start)
            return {"rows": 0, "logs": {}}, model_to_archive(own)
        raise ValueError(f"unknown unit kind {kind!r}")

    def _evaluate(self, compiled: _Compiled, unit: dict[str, Any]) -> tuple[dict[str, float], int]:
        val = compiled.val
        if val.rows == 0 or val.y is None:
            return {}, 0
        compiled.reset_metrics()
        logs: Any = {}
        for i in range(0, val.rows, _EVAL_BATCH):
            end = i + _EVAL_BATCH
            logs = compiled.test_step(
                (take(val.x, slice(i, end)), take(val.y, slice(i, end)), None)
            )
        return _floats(logs), val.rows

    def _train(self, compiled: _Compiled, unit: dict[str, Any]) -> dict[str, float]:
        """One pass over the partition in this sub-epoch's shuffled order.

        Calls Keras's own train step, compiled (:class:`OpenBatchFunction`), batch
        by batch, with the metrics reset once per pass as fit does, hence gives
        the weights of ``model.fit(x[order], y[order], shuffle=False)``. It is
        cheaper than ``fit`` at every length measured (7 to 266 steps of a small
        MLP: fit sets up a data adapter, an iterator and callbacks per call,
        60-100 ms, and costs more per step) and than ``train_on_batch`` (which
        resets the metrics and converts the logs to NumPy at every step).
        """
        train = compiled.train
        rng = unit_rng(self.seed, int(unit["model"]), int(unit["epoch"]), self.shuffle_partition)
        order = rng.permutation(train.rows)
        assert train.y is not None
        x, y = take(train.x, order), take(train.y, order)
        batch = int(unit["batch_size"])
        die = self.first_life and self.fault.get("unit") == unit["unit"]
        compiled.reset_metrics()
        logs: Any = {}
        for n, i in enumerate(range(0, train.rows, batch)):
            if die and n == 2:
                _die_now()
            rows = slice(i, i + batch)
            logs = compiled.train_step((take(x, rows), take(y, rows), None))
        return _floats(logs)

    def _model(self, unit: dict[str, Any]) -> tuple[_Trial, _Compiled]:
        """The unit's trial and the compiled model of its architecture.

        The trial's archive is loaded only when this worker has no compiled
        model of its architecture yet, or when the unit starts from the trial's
        initial state and the worker has not kept it. The driver names the
        architecture in the unit (``arch``), so a trial arriving mid-epoch from
        another worker costs no load at all when its architecture is known here.
        """
        model_id = int(unit["model"])
        trial = self.trials.get(model_id)
        if trial is None and unit.get("arch"):
            trial = self._remember(model_id, _Trial(str(unit["arch"]), None))
        compiled = self.compiled.get(trial.key) if trial is not None else None
        if compiled is None or (trial is not None and trial.initial is None and not unit["state"]):
            loaded = self._load(unit)
            self.archive_loads += 1
            # The worker's own key decides what shares a compiled model; the driver's
            # only ever finds a model compiled under the same key.
            key = architecture_key(loaded)
            if trial is None:
                trial = self._remember(model_id, _Trial(key, None))
            trial.key = key
            if trial.initial is None:
                trial.initial = ModelState(loaded).pack_eager()
            compiled = self.compiled.get(key)
            if compiled is None:
                compiled = _Compiled(loaded, self.shape_data(loaded, self.tables))
                self.compiled[key] = compiled
                _evict(self.compiled, _MAX_COMPILED)
        assert trial is not None
        self.trials.move_to_end(model_id)
        self.compiled.move_to_end(trial.key)
        return trial, compiled

    def _remember(self, model_id: int, trial: _Trial) -> _Trial:
        self.trials[model_id] = trial
        _evict(self.trials, _MAX_TRIALS)
        return trial

    def _load(self, unit: dict[str, Any]) -> Any:
        """The trial's model from its archive, with the unit's learning rate."""
        model = load_model(self.ps.get_blob(unit["archive"]))
        if unit.get("learning_rate") is not None:
            model.optimizer.learning_rate = float(unit["learning_rate"])
        return model


def _evict(cache: OrderedDict[Any, Any], limit: int) -> None:
    while len(cache) > limit:
        cache.popitem(last=False)


def unit_rng(seed: int, model: int, epoch: int, partition: int) -> np.random.Generator:
    """The shuffle of one sub-epoch: reproducible from (seed, model, epoch, partition),
    whatever worker runs it and whenever."""
    return np.random.default_rng([seed, model, epoch, partition])


def _die_now() -> None:
    """Test hook (``fault_injection``, set only from the test-only Spark conf
    ``spark.loxodon.test.faults``): the process dies mid-unit, as a crash would."""
    os._exit(3)


def _floats(logs: Any) -> dict[str, float]:
    """A compiled function's logs (the metrics' running means) as Python floats."""
    return {k: float(v) for k, v in logs.items()}

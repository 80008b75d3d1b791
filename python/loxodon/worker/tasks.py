"""What a leased worker does with one TASK: train, predict or evaluate.

Models are cached by the digest of their archive, so repeated predict and
evaluate tasks on one pooled process load the model once.
"""

from __future__ import annotations

import os
import pickle
import sys
import time
from collections import OrderedDict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from loxodon import driver_data
from loxodon.contract import INDEX_LOSSES, loss_name
from loxodon.keras_io import archive_digest, load_model
from loxodon.model_io import ModelIO
from loxodon.ps_client import PSClient
from loxodon.worker import devices, loops, modes
from loxodon.worker.data import Partition, read_stream
from loxodon.worker.protocol import Channel, MessageType
from loxodon.worker.replica import Replica
from loxodon.worker.shards import ShardFeed

_MODEL_CACHE: OrderedDict[str, Any] = OrderedDict()
_CACHE_SIZE = 4


def _model(archive: bytes, custom_objects: dict[str, Any] | None, fresh: bool) -> Any:
    """Load the archive, reusing a cached copy unless the task will train it."""
    if fresh:
        return load_model(archive, custom_objects)
    key = archive_digest(archive)
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = load_model(archive, custom_objects)
        while len(_MODEL_CACHE) > _CACHE_SIZE:
            _MODEL_CACHE.popitem(last=False)
    _MODEL_CACHE.move_to_end(key)
    return _MODEL_CACHE[key]


def _sparse_labels(model: Any) -> bool:
    """Whether the compiled loss is one of Keras's losses that take class indices
    (the list the Scala ``LossLabels`` owns); a custom loss gets the labels as floats."""
    return loss_name(getattr(model, "loss", None)) in INDEX_LOSSES


def _input_shape(model: Any) -> tuple[int, ...] | ModelIO:
    """The input shape rows are reshaped to, or, for a model of several inputs or outputs,
    its :class:`ModelIO` (rows split per input and output)."""
    io = ModelIO(model)
    if io.multi:
        return io
    shape = model.inputs[0].shape if getattr(model, "inputs", None) else model.input_shape
    return tuple(int(d) for d in shape[1:])


def _add_spark_files(root: str | None) -> None:
    """Put the executor's SparkFiles directory (and the .zip/.egg files in it) on
    sys.path, as PySpark does for its own workers, so that modules shipped with
    ``--files``, ``--py-files`` or ``SparkContext.addFile`` are importable."""
    import glob
    import importlib

    if not root or not os.path.isdir(root):
        return
    entries = [root, *sorted(glob.glob(os.path.join(root, "*.zip")))]
    entries += sorted(glob.glob(os.path.join(root, "*.egg")))
    for entry in entries:
        if entry not in sys.path:
            sys.path.insert(1, entry)
    importlib.invalidate_caches()  # files may have arrived since the last import


def _import_modules(names: list[str]) -> None:
    """Import the modules that define (and register with Keras) custom objects,
    for front ends that cannot pickle them (a Scala application)."""
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ImportError(
                f"custom-objects module {name!r} is not importable by the executors' Python "
                f"({sys.executable}): {exc}. Install it there, or ship it with spark-submit "
                "--files (--py-files for a package zip) or SparkContext.addFile"
            ) from exc


def run_task(channel: Channel, spec: dict[str, Any]) -> None:
    devices.check(spec)
    _add_spark_files(spec.get("spark_files"))
    _import_modules(list(spec.get("imports", [])))
    if spec["kind"] == "hop":
        channel.write_json(MessageType.RESULT, _hop(channel, spec))
        return
    attachments = {name: channel.read_attachment() for name in spec.get("attachments", [])}
    custom = attachments.get("custom_objects")
    # cloudpickle output, produced by the user's own driver: the same trust as
    # any PySpark closure, and never read from the parameter-server network.
    custom_objects = pickle.loads(custom) if custom else None
    kind = spec["kind"]
    model = _model(attachments["model"], custom_objects, fresh=(kind == "train"))
    input_shape = _input_shape(model)
    sparse = _sparse_labels(model)
    if kind == "train" and spec.get("num_shards"):
        channel.write_json(MessageType.RESULT, _train(channel, spec, model, None, None))
        return
    if kind == "train":
        started, timings = time.perf_counter(), {}
        first, val = _fit_partitions(channel, spec, input_shape, sparse, timings)
        timings["receive"] = time.perf_counter() - started
        result = _train(channel, spec, model, first, val, timings)
        channel.write_json(MessageType.RESULT, result)
        return
    first = Partition.from_table(read_stream(channel.reader), input_shape, sparse)
    if kind == "evaluate":
        result = _evaluate(model, first, int(spec.get("batch_size", 1024)))
    elif kind == "predict":
        _predict(channel, model, first, int(spec.get("batch_size", 1024)))
        return
    else:
        raise ValueError(f"unknown task kind {kind!r}")
    channel.write_json(MessageType.RESULT, result)


def _fit_partitions(
    channel: Channel,
    spec: dict[str, Any],
    shape: tuple[int, ...] | ModelIO,
    sparse: bool,
    timings: dict[str, float],
) -> tuple[Partition, Partition]:
    """A fit's training and validation rows, shaped for the model. Validation rows are
    not weighted (as Keras's validation_split), only stripped of the weight. Uploaded
    rows add where their time went to ``timings`` (:func:`driver_data.fetch_matrices`)."""
    weighted, class_weight = bool(spec.get("sample_weight")), spec.get("class_weight")
    names = spec.get("driver_data")
    if names is None or isinstance(shape, ModelIO):
        train_table, val_table = _fit_tables(channel, spec)
        return (
            Partition.from_table(train_table, shape, sparse, weighted, class_weight),
            Partition.from_table(val_table, shape, sparse, weighted),
        )
    # Uploaded rows go straight from the server into the matrices the model reads.
    with PSClient.from_spec(spec["ps"], worker=int(spec["partition"])) as ps:
        wait = float(spec.get("client_timeout", 600.0))
        train, val = (
            driver_data.fetch_matrices(ps, names[p], wait, timings) for p in ("train", "val")
        )
    empty = np.zeros((0, int(np.prod(shape))), np.float32)
    return (
        Partition.from_matrices(*(train or (empty, None)), shape, sparse, weighted, class_weight),
        Partition.from_matrices(*(val or (empty, None)), shape, sparse, weighted),
    )


def _fit_tables(channel: Channel, spec: dict[str, Any]) -> tuple[pa.Table, pa.Table]:
    """A fit's or search's training and validation rows: from the task's stream,
    or, when the driver uploaded them (``driver_data``), from the job's parameter
    server."""
    names = spec.get("driver_data")
    if names is None:
        return read_stream(channel.reader), read_stream(channel.reader)
    ps_spec = spec["ps"]
    with PSClient.from_spec(ps_spec, worker=int(spec["partition"])) as ps:
        wait = float(spec.get("client_timeout", 600.0))
        return (
            driver_data.fetch(ps, names["train"], wait),
            driver_data.fetch(ps, names["val"], wait),
        )


def _train(
    channel: Channel,
    spec: dict[str, Any],
    model: Any,
    rows: Partition | None,
    val: Partition | None,
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Trains on ``rows`` and ``val``, or, when both are None, on the shards the worker claims
    (a parallelism factor, :mod:`loxodon.worker.shards`)."""
    if rows is not None and rows.rows == 0:
        raise ValueError(f"partition {spec['partition']} received no training rows")
    ps_spec = spec["ps"]
    worker = int(spec["partition"])
    with PSClient.from_spec(
        ps_spec, worker=worker, timeout=float(spec.get("client_timeout", 600.0))
    ) as ps:
        replica = Replica(model)
        ps.register(replica.num_params, replica.layout())
        ctx = modes.Context(
            replica, ps, worker, int(spec["num_workers"]), int(spec.get("attempt", 0)), spec
        )
        if rows is None:
            shape, sparse = _input_shape(model), _sparse_labels(model)
            weighted, class_weight = bool(spec.get("sample_weight")), spec.get("class_weight")
            ctx.shards = ShardFeed(
                channel,
                ps,
                worker,
                ctx.num_workers,
                int(spec["num_shards"]),
                lambda t: Partition.from_table(t, shape, sparse, weighted, class_weight),
                lambda t: Partition.from_table(t, shape, sparse, weighted),
            )
            rows, val = Partition(np.zeros((0, 1), np.float32), None), ctx.shards.validation()
        try:
            result = loops.train(
                ctx, rows, val, lambda e: channel.write_json(MessageType.EVENT, e), timings
            )
        finally:
            if ctx.ring is not None:
                ctx.ring.close()
        result |= {
            "ps_peer": ps.peer,
            "local_address": ps.local_address,
            "ps_tls": ps.tls,
            "channel_tls": channel.tls,
            "devices": devices.report(spec, model),
        }
    return result


def _shape_for(model: Any, tables: tuple[pa.Table, pa.Table]) -> tuple[Partition, Partition]:
    """A search's rows shaped for one of its models (its input shape and label form)."""
    shape, sparse = _input_shape(model), _sparse_labels(model)
    return tuple(Partition.from_table(t, shape, sparse) for t in tables)  # type: ignore[return-value]


def _hop(channel: Channel, spec: dict[str, Any]) -> dict[str, Any]:
    from loxodon.worker.hop import HopWorker

    tables = _fit_tables(channel, spec)
    if tables[0].num_rows == 0:
        raise ValueError(f"partition {spec['partition']} received no training rows")
    ps_spec = spec["ps"]
    with PSClient.from_spec(
        ps_spec, worker=int(spec["partition"]), timeout=float(spec.get("client_timeout", 600.0))
    ) as ps:
        worker = HopWorker(
            ps, spec, tables, _shape_for, lambda e: channel.write_json(MessageType.EVENT, e)
        )
        return worker.serve()


def _evaluate(model: Any, rows: Partition, batch_size: int) -> dict[str, Any]:
    if rows.rows == 0 or rows.y is None:
        return {"rows": 0}
    metrics = model.evaluate(rows.x, rows.y, batch_size=batch_size, verbose=0, return_dict=True)
    return {"rows": rows.rows, **{k: float(v) for k, v in metrics.items()}}


def _predict(channel: Channel, model: Any, rows: Partition, batch_size: int) -> None:
    preds = (
        model.predict(rows.x, batch_size=batch_size, verbose=0)
        if rows.rows
        else np.zeros((0, 1), np.float32)
    )
    io = ModelIO(model)
    if io.multi and rows.rows:
        preds = io.flatten_predictions(preds)
    preds = np.asarray(preds, np.float32).reshape(rows.rows, -1)
    width = preds.shape[1]
    column = pa.FixedSizeListArray.from_arrays(pa.array(preds.reshape(-1)), width)
    table = pa.table({"prediction": column})
    channel.write_json(MessageType.RESULT, {"rows": rows.rows, "width": width})
    with ipc.new_stream(channel.writer, table.schema) as writer:
        writer.write_table(table)
    channel.writer.flush()

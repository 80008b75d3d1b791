"""NumPy rows of a fit, placed by the driver and uploaded to the job's parameter
server, from which each worker fetches its own partition.

Arrays handed to ``fit`` already sit in the driver's memory. Sending them
through a DataFrame (Arrow into Spark rows, a persisted copy, a counting job,
a shuffle into N partitions, Arrow again for the worker) cost more than
training a few epochs did. Here the driver computes the placement of the
Scala ``BalancedPartitioning`` itself (same validation hash, same modulo
placement, same order within a partition, so both routes train identically),
cuts each partition into Arrow IPC chunks and PUTs them as blobs; the Scala
``Trainer.startDriverData`` checks what was measured with the same messages as
for a DataFrame, and launches the barrier stage once the chunks are stored.

Used when the arrays fit comfortably in the driver JVM's heap (the blobs live
there until the fit ends); bigger arrays take the DataFrame route.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from loxodon.pages import small_pages
from loxodon.ps_client import PSClient, PSError

CHUNK_BYTES = 64 << 20
"""Target size of one uploaded chunk (well under the server's frame limit)."""

HEAP_SHARE = 0.25
"""The driver route is taken when the rows need at most this share of the driver JVM's heap."""

_U64 = np.uint64


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 (wrapping), as in ``BalancedPartitioning.mix``."""
    z = z + _U64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    return z ^ (z >> _U64(31))


def uniform(seed: int, rows: np.ndarray) -> np.ndarray:
    """``BalancedPartitioning.uniform(seed, row)`` for every row: numbers in [0, 1)."""
    with np.errstate(over="ignore"):
        base = _mix(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=_U64))[0]
        z = _mix(base + rows.astype(_U64))
    return (z >> _U64(11)).astype(np.float64) * (1.0 / (1 << 53))


def spread(indices: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    """Row ``j`` of ``indices`` goes to partition ``(j + seed) mod n``, in order."""
    return [indices[(p - seed) % n :: n] for p in range(n)]


@dataclass
class Placement:
    """Row indices per partition: training rows into ``x``, validation rows into ``val_x``."""

    train: list[np.ndarray]
    val: list[np.ndarray]


def place(rows: int, n: int, seed: int, validation_split: float, val_rows: int | None) -> Placement:
    """The partitions of a fit of ``rows`` rows (``val_rows`` separate validation rows, if any)."""
    index = np.arange(rows, dtype=np.int64)
    if val_rows is not None:
        train, val = index, np.arange(val_rows, dtype=np.int64)
    elif validation_split > 0:
        is_val = uniform(seed, index) < validation_split
        train, val = index[~is_val], index[is_val]
    else:
        train, val = index, index[:0]
    return Placement(spread(train, n, seed), spread(val, n, seed))


def label_matrix(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    return y.reshape(len(y), int(np.prod(y.shape[1:])))  # -1 cannot be inferred with 0 rows


def non_finite_rows(x: np.ndarray) -> np.ndarray:
    """Which rows of ``x`` hold a NaN or infinite value (integers never do), in
    blocks of rows so that the mask of one block is all the extra memory used."""
    bad = np.zeros(len(x), dtype=bool)
    if not np.issubdtype(x.dtype, np.inexact):
        return bad
    flat = x.reshape(len(x), int(np.prod(x.shape[1:])))
    step = max(1, (16 << 20) // max(1, flat.shape[1] * flat.itemsize))
    for start in range(0, len(flat), step):
        bad[start : start + step] = ~np.isfinite(flat[start : start + step]).all(axis=1)
    return bad


def measure(width: int, labels: np.ndarray, non_finite: int = 0) -> dict[str, Any]:
    """What ``TrainingData.measure`` reports for a DataFrame, for rows of ``width``
    feature values, these labels (one row each) and ``non_finite`` rows with a NaN
    or infinite feature value."""
    rows = len(labels)
    if rows == 0:
        return {"rows": 0, "min_width": 0, "max_width": 0, "null_features": 0, "label": None}
    floats = label_matrix(labels).astype(np.float64, copy=False)
    first = floats[:, 0]
    finite = first[~np.isnan(first)]
    return {
        "rows": rows,
        "min_width": width,
        "max_width": width,
        "null_features": 0,
        "non_finite_features": int(non_finite),
        "label": {
            "min_width": floats.shape[1],
            "max_width": floats.shape[1],
            "bad": int(np.isnan(floats).any(axis=1).sum()),
            "max_first": float(finite.max()) if len(finite) else 0.0,
            "min_first": float(finite.min()) if len(finite) else 0.0,
        },
    }


def fixed_list(matrix: np.ndarray) -> pa.FixedSizeListArray:
    """Rows of ``matrix`` as a ``fixed_size_list<float32>`` column (the wire form of
    features and labels)."""
    flat = np.ascontiguousarray(matrix, dtype=np.float32).reshape(len(matrix), -1)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), flat.shape[1])


def rows_per_chunk(x: np.ndarray, y: np.ndarray) -> int:
    """Rows of ``x`` and ``y`` in one chunk of about CHUNK_BYTES (at least one)."""
    row_bytes = 4 * (int(np.prod(x.shape[1:])) + label_matrix(y[:1]).shape[1])
    return max(1, CHUNK_BYTES // max(1, row_bytes))


def _consecutive(take: np.ndarray) -> bool:
    return bool(len(take)) and take[-1] - take[0] == len(take) - 1 and (np.diff(take) == 1).all()


def _gather(flat: np.ndarray, take: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """Rows ``take`` of the (rows, width) ``flat`` as a float32 matrix: a view for a run
    of consecutive rows, else gathered into ``scratch`` (reused chunk after chunk, so
    its pages are touched once), else (another dtype) a new array."""
    if flat.dtype == np.float32 and _consecutive(take):
        return flat[take[0] : take[-1] + 1]
    if flat.dtype == np.float32 and len(take) <= len(scratch):
        return np.take(flat, take, axis=0, out=scratch[: len(take)])
    return np.ascontiguousarray(flat[take], dtype=np.float32)


def _tables(x: np.ndarray, y: np.ndarray, rows: np.ndarray) -> Iterator[pa.Table]:
    """Tables of ``features`` and ``label`` for ``rows``, about CHUNK_BYTES each; a
    table's features may be a view of a scratch array the next table overwrites."""
    per_chunk = rows_per_chunk(x, y)
    labels, flat = label_matrix(y), x.reshape(len(x), int(np.prod(x.shape[1:])))
    shape = (min(per_chunk, len(rows)), flat.shape[1])
    scratch = small_pages(4 * shape[0] * shape[1]).view(np.float32).reshape(shape)
    for start in range(0, len(rows), per_chunk):
        take = rows[start : start + per_chunk]
        features = fixed_list(_gather(flat, take, scratch))
        yield pa.table({"features": features, "label": fixed_list(labels[take])})


def _write(table: pa.Table, out: pa.Buffer | None) -> tuple[pa.Buffer, int]:
    """``table`` as an Arrow IPC stream written into ``out`` (a new buffer when None or
    too small); returns the buffer and the stream's length. Reusing one buffer spares
    a fresh allocation, and the page faults of its first touch, per chunk; a new one
    is in small pages (:mod:`loxodon.pages`)."""
    mock = pa.MockOutputStream()
    with ipc.new_stream(mock, table.schema) as writer:
        writer.write_table(table)
    size = mock.size()
    if out is None or out.size < size:
        out = pa.py_buffer(small_pages(size))
    with ipc.new_stream(pa.FixedSizeBufferWriter(out), table.schema) as writer:
        writer.write_table(table)
    return out, size


def chunks(x: np.ndarray, y: np.ndarray, rows: np.ndarray) -> Iterator[pa.Buffer]:
    """Arrow IPC streams of ``features`` and ``label`` for ``rows``, about CHUNK_BYTES
    each, made one at a time into one buffer reused for the next: each chunk must be
    sent (or copied) before the next is asked for."""
    out: pa.Buffer | None = None
    for table in _tables(x, y, rows):
        out, size = _write(table, out)
        yield out.slice(0, size)


def blob_name(partition: int, part: str, chunk: int) -> str:
    """As ``DriverData.blobName`` names it."""
    return f"loxodon/data/{partition}/{part}/{chunk}"


def fits_driver(spark: Any, x: np.ndarray, val_x: np.ndarray | None) -> bool:
    """Whether the rows (as float32) fit in HEAP_SHARE of the driver JVM's heap."""
    total = x.size + (val_x.size if val_x is not None else 0)
    heap = spark.sparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory()
    return 4 * total <= HEAP_SHARE * heap


class DriverFit:
    """The arrays of one fit and their placement; ``layout_json`` for the Scala side,
    ``upload`` into the job's parameter server."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        validation: tuple[np.ndarray, np.ndarray] | None,
        num_workers: int,
        seed: int,
        validation_split: float,
    ) -> None:
        self.x, self.y = x, y
        self.val_x, self.val_y = validation if validation is not None else (x, y)
        self.separate_validation = validation is not None
        self.placement = place(
            len(x),
            num_workers,
            seed,
            validation_split,
            len(self.val_x) if validation is not None else None,
        )
        self.chunk_counts = {
            part: [-(-len(rows) // rows_per_chunk(px, py)) for rows in partitions]
            for part, px, py, partitions in self._parts()
        }

    def _parts(self) -> list[tuple[str, np.ndarray, np.ndarray, list[np.ndarray]]]:
        return [
            ("train", self.x, self.y, self.placement.train),
            ("val", self.val_x, self.val_y, self.placement.val),
        ]

    def layout_json(self) -> str:
        """The layout ``DriverData.fromJson`` reads; chunk counts are known before upload."""
        width = int(np.prod(self.x.shape[1:]))
        train_rows = np.concatenate(self.placement.train)
        val_rows = np.concatenate(self.placement.val)
        val_width = int(np.prod(self.val_x.shape[1:]))
        bad = non_finite_rows(self.x)
        val_bad = non_finite_rows(self.val_x) if self.separate_validation else bad
        validation = (
            measure(val_width, self.val_y[val_rows], val_bad[val_rows].sum())
            if len(val_rows)
            else None
        )
        return json.dumps(
            {
                "train": measure(width, self.y[train_rows], bad[train_rows].sum()),
                "validation": validation,
                "train_rows": [len(r) for r in self.placement.train],
                "val_rows": [len(r) for r in self.placement.val],
                "train_chunks": self.chunk_counts["train"],
                "val_chunks": self.chunk_counts["val"],
            }
        )

    def _schedule(self) -> Iterator[tuple[str, pa.Table]]:
        """Every chunk's name and table, the training rows' first, each partition's k-th
        chunk before any partition's (k + 1)-th."""
        for part, x, y, partitions in self._parts():
            streams = [_tables(x, y, rows) for rows in partitions]
            counts = [0] * len(streams)
            while any(s is not None for s in streams):
                for p, stream in enumerate(streams):
                    table = next(stream, None) if stream is not None else None
                    if table is None:
                        streams[p] = None
                        continue
                    yield blob_name(p, part, counts[p]), table
                    counts[p] += 1
            if counts != self.chunk_counts[part]:
                raise AssertionError("chunk count differs from the announced layout")

    def upload(self, ps: PSClient) -> int:
        """PUTs every chunk in :meth:`_schedule`'s order, so that every worker can start
        receiving early; returns the bytes sent. A background thread sends each chunk
        while this one builds the next: two IPC buffers take turns, so at most two chunks
        exist at once, and a buffer is written again only once its PUT has returned
        (every PUT is bounded by the client's socket timeout)."""
        sent = 0
        buffers: list[pa.Buffer | None] = [None, None]
        puts: list[Future[None] | None] = [None, None]
        with ThreadPoolExecutor(1, thread_name_prefix="loxodon-upload") as sender:
            for k, (name, table) in enumerate(self._schedule()):
                turn = k % 2
                if (put := puts[turn]) is not None:
                    put.result()  # raises the PUT's error, if any
                out, size = _write(table, buffers[turn])
                buffers[turn] = out
                puts[turn] = sender.submit(ps.put_blob, name, memoryview(out.slice(0, size)))
                sent += size
            for put in puts:
                if put is not None:
                    put.result()
        return sent

    def start(self, job: Any, overlap: bool = False) -> None:
        """Uploads into the server of ``job`` (a fit's or a search's, started by a
        ``startDriverData*`` call) and launches its stage; closes the job on failure.
        With ``overlap`` the stage is launched first: its workers start (lease, model,
        setup) and receive each chunk as it arrives (:func:`fetch_matrices` waits for
        it), while the driver still uploads the rest."""
        try:
            with PSClient.for_job(job) as ps:
                if overlap:
                    job.start()
                self.upload(ps)
            if not overlap:
                job.start()
        except BaseException:
            job.close()
            raise


CHUNK_WAIT_S = 0.005
"""First pause before asking again for a chunk the driver has not uploaded yet (doubling
up to CHUNK_WAIT_MAX_S)."""

CHUNK_WAIT_MAX_S = 0.05
"""The longest pause between two asks for an absent chunk: a chunk arriving just after an
ask waits at most this long, while an ask (a small request the server refuses) costs
well under a millisecond."""


def _get_chunk(
    ps: PSClient,
    name: str,
    out: np.ndarray | None,
    wait_s: float,
    spent: dict[str, float] | None = None,
) -> tuple[np.ndarray, int]:
    """Blob ``name`` into ``out`` (:meth:`PSClient.get_blob_into`), asking again while the
    server has none of that name, for up to ``wait_s`` seconds: the driver may still be
    uploading it (``DriverFit.start`` with ``overlap``). ``spent`` adds up the seconds of
    the successful GET (``receive_get``) and of waiting for the driver (``receive_wait``)."""
    started = time.perf_counter()
    give_up, pause = time.monotonic() + wait_s, CHUNK_WAIT_S
    while True:
        asked = time.perf_counter()
        try:
            got = ps.get_blob_into(name, out)
        except PSError as exc:
            if not str(exc).startswith("no blob named"):
                raise
            if time.monotonic() >= give_up:
                raise PSError(f"the driver did not upload {name} within {wait_s:.0f} s") from exc
        else:
            if spent is not None:
                done = time.perf_counter()
                spent["receive_get"] = spent.get("receive_get", 0.0) + done - asked
                spent["receive_wait"] = spent.get("receive_wait", 0.0) + asked - started
            return got
        time.sleep(pause)
        pause = min(CHUNK_WAIT_MAX_S, 2 * pause)


def fetch_matrices(
    ps: PSClient, names: list[str], wait_s: float = 0.0, spent: dict[str, float] | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The features and labels of the named chunks as two (rows, width) float32 matrices
    (the worker's side of a fit; None when there are no chunks). Each chunk arrives in
    one reused buffer and is copied once, into matrices allocated for all of them: a
    chunk holds at most as many rows as the first (:func:`chunks`), so ``len(names)``
    first chunks bound the rows, and pages past the rows are never touched. A chunk not
    uploaded yet is waited for up to ``wait_s`` seconds. ``spent`` adds up where the time
    went (:func:`_get_chunk`; ``receive_copy``: decoding and copying)."""
    from loxodon.worker.data import aligned_empty, list_values

    buffer: np.ndarray | None = None
    features: np.ndarray | None = None
    labels: np.ndarray | None = None
    filled = 0
    for name in names:
        buffer, size = _get_chunk(ps, name, buffer, wait_s, spent)
        copying = time.perf_counter()
        table = ipc.open_stream(pa.py_buffer(buffer[:size])).read_all()
        parts = {c: table.column(c).chunks for c in ("features", "label")}
        rows = table.num_rows
        if features is None or labels is None:
            bound = rows * len(names)
            features = aligned_empty((bound, table.schema.field("features").type.list_size))
            labels = aligned_empty((bound, table.schema.field("label").type.list_size))
        if filled + rows > len(features):
            raise ValueError(f"chunk {name} holds more rows than the first chunk")
        for column, out in (("features", features), ("label", labels)):
            at = filled
            for chunk in parts[column]:
                out[at : at + len(chunk)] = list_values(chunk, column)
                at += len(chunk)
        filled += rows
        del table, parts  # views of the buffer the next chunk overwrites
        if spent is not None:
            spent["receive_copy"] = spent.get("receive_copy", 0.0) + time.perf_counter() - copying
    if features is None or labels is None:
        return None
    return features[:filled], labels[:filled]


def fetch(ps: PSClient, names: list[str], wait_s: float = 0.0) -> pa.Table:
    """The rows of the named chunks as one table (the worker's side of a search, and of
    a fit of a model of several inputs or outputs), each waited for up to ``wait_s``."""
    tables = [
        ipc.open_stream(pa.py_buffer(_get_chunk(ps, name, None, wait_s)[0])).read_all()
        for name in names
    ]
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]

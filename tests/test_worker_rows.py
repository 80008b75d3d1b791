"""A fit's rows on their way into a worker, without Spark: the driver's Arrow chunks
(built in reused buffers) fetched into the worker's matrices give the placed rows bit
for bit; a column of several chunks becomes one aligned, writable matrix; TensorFlow
holds such a matrix without a copy, and the fused steps over it (weighted rows too)
train the same weights, bit for bit, as one call per batch."""

from __future__ import annotations

import keras
import numpy as np
import pyarrow as pa
import pytest

from fixtures import mlp
from loxodon import driver_data
from loxodon.ps_client import PSError
from loxodon.worker.data import TENSOR_ALIGNMENT, Partition, aligned_empty, column_matrix
from loxodon.worker.replica import Replica, _held


class BlobsInMemory:
    """The parameter server's GET_BLOB, for blobs the test holds (copied in, as the
    socket would)."""

    def __init__(self, blobs: list[bytes]) -> None:
        self.blobs = blobs
        self.buffers: set[int] = set()

    def get_blob_into(self, name: str, out: np.ndarray | None) -> tuple[np.ndarray, int]:
        blob = self.blobs[int(name)]
        if out is None or out.nbytes < len(blob):
            out = np.empty(len(blob), np.uint8)
        out[: len(blob)] = np.frombuffer(blob, np.uint8)
        self.buffers.add(out.ctypes.data)
        return out, len(blob)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_uploaded_rows_arrive_bit_for_bit(
    monkeypatch: pytest.MonkeyPatch, dtype: type, workers: int
) -> None:
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((3001, 6, 4)) * 1e3).astype(dtype)
    y = rng.integers(0, 9, 3001)
    monkeypatch.setattr(driver_data, "CHUNK_BYTES", 4 * 25 * 400)  # 400 rows a chunk
    placement = driver_data.place(len(x), workers, seed=11, validation_split=0.2, val_rows=None)
    for rows in placement.train + placement.val:
        # Each chunk is copied out before the next is built (the buffers are reused).
        blobs = [buf.to_pybytes() for buf in driver_data.chunks(x, y, rows)]
        assert len(blobs) == -(-len(rows) // 400)
        server = BlobsInMemory(blobs)
        fetched = driver_data.fetch_matrices(server, [str(k) for k in range(len(blobs))])
        assert fetched is not None
        features, labels = fetched
        expected = x[rows].reshape(len(rows), -1).astype(np.float32)
        assert features.dtype == np.float32 and features.tobytes() == expected.tobytes()
        assert labels.tobytes() == y[rows].astype(np.float32).reshape(-1, 1).tobytes()
        assert features.ctypes.data % TENSOR_ALIGNMENT == 0 and features.flags.writeable
        assert len(server.buffers) == 1  # one receive buffer for every chunk
    assert driver_data.fetch_matrices(BlobsInMemory([]), []) is None


def test_a_column_of_several_chunks_becomes_one_aligned_matrix() -> None:
    rng = np.random.default_rng(2)
    parts = [rng.standard_normal((n, 5)).astype(np.float32) for n in (7, 1, 12)]
    column = pa.chunked_array([driver_data.fixed_list(p) for p in parts])
    table = pa.table({"features": column.slice(3)})  # a slice: offsets inside the chunks
    matrix = column_matrix(table, "features")
    assert matrix.tobytes() == np.concatenate(parts)[3:].tobytes()
    assert matrix.ctypes.data % TENSOR_ALIGNMENT == 0 and matrix.flags.writeable
    with pytest.raises(TypeError, match="fixed_size_list"):
        column_matrix(pa.table({"features": pa.array([1.0, 2.0])}), "features")


def test_aligned_rows_are_held_without_a_copy() -> None:
    rows = aligned_empty((300, 8))
    rows[:] = np.arange(rows.size, dtype=np.float32).reshape(rows.shape)
    held = _held(rows)
    rows[4, 2] = -1.0  # the tensor reads the same memory
    assert float(held[4, 2]) == -1.0
    unaligned = np.frombuffer(bytearray(rows.nbytes + 4), np.uint8)[4:].view(np.float32)
    copied = _held(unaligned.reshape(rows.shape))
    unaligned[0] = 7.0
    assert float(copied[0, 0]) == 0.0


def _trained(fused: bool, rows: Partition, epochs: int) -> list[np.ndarray]:
    model = mlp(24, 16, 5, seed=4, learning_rate=1e-2)
    replica = Replica(model)
    if fused:
        replica.hold_rows(rows.x, rows.y, rows.w)
    for epoch in range(epochs):
        rng = np.random.default_rng([1, epoch, 0])
        if fused:
            batches = rows.epoch_indices(32, 20, rng)
            replica.train_steps(batches[:7])  # two spans, as between two exchanges
            replica.train_steps(batches[7:])
        else:
            for x, y in rows.batches(32, 20, rng):
                replica.train_on_batch(x, y)
    return [np.asarray(w) for w in model.get_weights()]


@pytest.mark.parametrize("weighted", [False, True])
def test_fused_steps_over_held_rows_train_like_one_call_per_batch(weighted: bool) -> None:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(9)
    features = aligned_empty((500, 24))
    features[:] = rng.standard_normal(features.shape)
    labels = rng.integers(0, 5, (500, 1)).astype(np.float32)
    if weighted:  # each row's loss weight in the label's last column, as on the wire
        labels = np.concatenate([labels, rng.uniform(0, 2, (500, 1)).astype(np.float32)], 1)
    rows = Partition.from_matrices(features, labels, (24,), sparse_labels=True, weighted=weighted)
    fused, plain = _trained(True, rows, 2), _trained(False, rows, 2)
    for a, b in zip(fused, plain, strict=True):
        assert a.tobytes() == b.tobytes()


class LateBlobs(BlobsInMemory):
    """Each blob is absent for its first ``misses`` requests, as while the driver still
    uploads it; records the names PUT, in order."""

    def __init__(self, blobs: list[bytes], misses: int) -> None:
        super().__init__(blobs)
        self.misses = misses
        self.asked: dict[str, int] = {}
        self.put: list[str] = []

    def get_blob_into(self, name: str, out: np.ndarray | None) -> tuple[np.ndarray, int]:
        self.asked[name] = self.asked.get(name, 0) + 1
        if self.asked[name] <= self.misses:
            raise PSError(f"no blob named '{name}'")
        return super().get_blob_into(name, out)

    def put_blob(self, name: str, data: memoryview) -> None:
        self.put.append(name)


def test_a_worker_waits_for_chunks_still_being_uploaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver_data, "CHUNK_WAIT_S", 0.001)
    monkeypatch.setattr(driver_data, "CHUNK_BYTES", 4 * 3 * 10)  # 10 rows a chunk
    x = np.arange(35 * 2, dtype=np.float32).reshape(35, 2)
    y = np.arange(35) % 3
    blobs = [buf.to_pybytes() for buf in driver_data.chunks(x, y, np.arange(35))]
    names = [str(k) for k in range(len(blobs))]
    server = LateBlobs(blobs, misses=3)
    features, labels = driver_data.fetch_matrices(server, names, wait_s=30)  # type: ignore[misc]
    assert features.tobytes() == x.tobytes() and server.asked == {n: 4 for n in names}
    with pytest.raises(PSError, match="did not upload 0 within 0 s"):
        driver_data.fetch_matrices(LateBlobs(blobs, misses=10**6), names, wait_s=0.05)
    with pytest.raises(PSError, match="did not upload"):
        driver_data.fetch(LateBlobs(blobs, misses=10**6), names, wait_s=0.05)
    assert driver_data.fetch(LateBlobs(blobs, misses=2), names, wait_s=30).num_rows == 35


def test_the_driver_uploads_every_partitions_first_chunks_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(driver_data, "CHUNK_BYTES", 4 * 3 * 10)
    x, y = np.zeros((52, 2), np.float32), np.zeros(52)
    fit = driver_data.DriverFit(x, y, None, 2, seed=0, validation_split=0.25)
    server = LateBlobs([], misses=0)
    fit.upload(server)  # type: ignore[arg-type]
    train = [n for n in server.put if "/train/" in n]
    assert train[:4] == [driver_data.blob_name(p, "train", k) for k in (0,) for p in (0, 1)] + [
        driver_data.blob_name(p, "train", 1) for p in (0, 1)
    ]
    assert server.put[: len(train)] == train  # validation chunks after every training one
    for part in ("train", "val"):
        for p, count in enumerate(fit.chunk_counts[part]):
            assert [n for n in server.put if n.startswith(f"loxodon/data/{p}/{part}/")] == [
                driver_data.blob_name(p, part, k) for k in range(count)
            ]

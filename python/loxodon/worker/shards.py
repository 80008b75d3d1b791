"""The rows of a fit with a parallelism factor k, placed in k x N shards.

Which shard a worker trains next comes from the parameter server (CLAIM_SHARD: the worker's own
shards first, shard j being worker j mod N's, then the last one left of the worker with the most
left); the shard's rows come from the executor JVM (a ROWS message), which reads them from Spark's
block manager, wherever the shard is cached. A shard stays in this worker once received, so a
worker holds its own shards and those it took over. Validation rows are the worker's own shards',
so each is evaluated by exactly one worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from loxodon.ps_client import PSClient
from loxodon.worker.data import Partition, epoch_rng, read_stream
from loxodon.worker.protocol import Channel, MessageType


class ShardFeed:
    """One worker's view of the shards: claims them each epoch and yields their batches."""

    def __init__(
        self,
        channel: Channel,
        ps: PSClient,
        worker: int,
        num_workers: int,
        num_shards: int,
        train_rows: Callable[[pa.Table], Partition],
        val_rows: Callable[[pa.Table], Partition],
    ) -> None:
        """``train_rows`` and ``val_rows`` shape a shard's tables for the model (as
        the rows of a fit without shards are shaped: weights, class weights)."""
        self._channel, self._ps = channel, ps
        self._train_rows, self._val_rows = train_rows, val_rows
        self._cache: dict[int, tuple[Partition, Partition]] = {}
        self.own = list(range(worker, num_shards, num_workers))
        # Per epoch: the shards this worker trained, and their rows.
        self.claimed: list[int] = []
        self.rows = 0

    def shard(self, j: int) -> tuple[Partition, Partition]:
        """Shard ``j``'s training and validation rows, asked of the executor the first time."""
        if j not in self._cache:
            self._channel.write_json(MessageType.ROWS, {"shard": j})
            train = self._train_rows(read_stream(self._channel.reader))
            val = self._val_rows(read_stream(self._channel.reader))
            self._cache[j] = (train, val)
        return self._cache[j]

    def own_rows(self) -> int:
        """The training rows of this worker's own shards."""
        return sum(self.shard(j)[0].rows for j in self.own)

    def validation(self) -> Partition:
        """The validation rows of this worker's own shards."""
        shards = [self.shard(j)[1] for j in self.own]
        parts = [p for p in shards if p.rows]
        if not parts:
            return shards[0]
        ys = [p.y for p in parts]
        y = np.concatenate(ys) if all(v is not None for v in ys) else None  # type: ignore[arg-type]
        return Partition(np.concatenate([p.x for p in parts]), y)

    def batches(
        self, pass_id: int, epoch: int, batch_size: int, seed: int, shuffle: bool
    ) -> Iterator[tuple[np.ndarray, Any]]:
        """The batches of every shard this worker claims in ``epoch`` (pass ``pass_id``), each
        shard shuffled with a seed from (seed, epoch, shard) and cut into its own batches."""
        self.claimed, self.rows = [], 0
        while (j := self._ps.claim_shard(pass_id)) >= 0:
            rows = self.shard(j)[0]
            self.claimed.append(j)
            self.rows += rows.rows
            if rows.rows == 0:
                continue
            steps = -(-rows.rows // batch_size)
            rng = epoch_rng(seed, epoch, j) if shuffle else None
            yield from rows.batches(batch_size, steps, rng)

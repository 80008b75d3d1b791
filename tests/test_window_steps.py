"""The Downpour family's exchanges fused into the epoch's traced call
(``Replica.window_steps``: every window the graph hands the weights to the mode's
exchange through a ``tf.numpy_function`` and assigns the center it returns) against
the per-window path (``train_steps`` per window, then ``get_flat``, the exchange and
``set_flat`` in Python), without Spark: with a window that does not divide the
epoch's steps, each of asynchronous, hogwild, adag and dynsgd sends the same requests
with the same payloads bit for bit and ends with the same weights and metrics; an
error of the exchange comes out of the fused call as it is."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fixtures import mlp
from loxodon.worker.data import Partition, aligned_empty
from loxodon.worker.loops import _run_steps
from loxodon.worker.modes import MODE_CLASSES, Context, Mode
from loxodon.worker.replica import Replica

ROWS, WIDTH, CLASSES, BATCH, STEPS, WINDOW, EPOCHS = 300, 12, 4, 32, 20, 3, 2
DOWNPOUR_MODES = ["asynchronous", "hogwild", "adag", "dynsgd"]


class ScriptedServer:
    """What the Downpour modes use of a ``PSClient``: records every push (its op, the
    steps ADAG sends, the delta's bytes) and answers a pull with a center that moved by
    the worker's scaled pushes and by another worker's seeded change (so a pull is never
    the worker's own weights)."""

    def __init__(self, center: np.ndarray, fail_at_push: int | None = None) -> None:
        self.center = center.copy()
        self.sent: list[tuple[str, int, bytes]] = []
        self.pulls = 0
        self.other = np.random.default_rng(11)
        self.fail_at_push = fail_at_push

    def _add(self, op: str, delta: np.ndarray, scale: float, steps: int = 0) -> int:
        if len(self.sent) == self.fail_at_push:
            raise ConnectionError("the parameter server closed the connection")
        self.sent.append((op, steps, delta.tobytes()))
        self.center += delta / np.float32(scale)
        return len(self.sent)

    def push(self, delta: np.ndarray) -> int:
        return self._add("PUSH", delta, 1)

    def push_hogwild(self, delta: np.ndarray) -> int:
        return self._add("PUSH_HOGWILD", delta, 1)

    def push_adag(self, delta: np.ndarray, steps: int) -> int:
        return self._add("PUSH_ADAG", delta, steps, steps)

    def push_dynsgd(self, delta: np.ndarray) -> int:
        return self._add("PUSH_DYNSGD", delta, 2)

    def pull(self, out: np.ndarray | None = None) -> np.ndarray:
        self.pulls += 1
        self.center += self.other.standard_normal(self.center.size).astype(np.float32) * 1e-3
        if out is None:
            return self.center.copy()
        out[:] = self.center
        return out


def _rows() -> Partition:
    rng = np.random.default_rng(9)
    features = aligned_empty((ROWS, WIDTH))
    features[:] = rng.standard_normal(features.shape)
    labels = rng.integers(0, CLASSES, (ROWS, 1)).astype(np.float32)
    return Partition.from_matrices(features, labels, (WIDTH,), True)


def _model() -> keras.Model:
    return mlp(WIDTH, 16, CLASSES, seed=4, learning_rate=1e-2)


def _train(mode_name: str, fused: bool, server: ScriptedServer | None = None) -> tuple:
    """``EPOCHS`` epochs of ``mode_name``: fused as the worker loop runs them (one call
    an epoch), or per window (``Mode.span``, the local steps' call, then the exchange)."""
    rows = _rows()
    replica = Replica(_model())
    replica.hold_rows(rows.x, rows.y, rows.w)
    server = server or ScriptedServer(replica.get_flat())
    spec = {"mode": mode_name, "communication_window": WINDOW}
    ctx = Context(replica, server, 0, 2, 0, spec)  # type: ignore[arg-type]
    mode = MODE_CLASSES[mode_name](ctx)
    for epoch in range(EPOCHS):
        rng = np.random.default_rng([1, epoch, 0])
        replica.reset_metrics()
        if fused:
            _run_steps(mode, epoch, rows, BATCH, STEPS, rng)
        else:
            batches = rows.epoch_indices(BATCH, STEPS, rng)
            for first in range(0, STEPS, WINDOW):
                Mode.span(mode, epoch, first, batches[first : first + WINDOW])
        mode.end_epoch(epoch, STEPS)
    return server, replica.model.get_weights(), replica.metrics(), ctx.phases


@pytest.mark.parametrize("mode", DOWNPOUR_MODES)
def test_fused_exchanges_equal_the_per_window_path(mode: str) -> None:
    fused_server, fused_weights, fused_metrics, phases = _train(mode, fused=True)
    server, weights, metrics, _ = _train(mode, fused=False)
    windows = -(-STEPS // WINDOW)  # 6 full windows and a partial one of 2 steps
    assert len(fused_server.sent) == EPOCHS * windows and fused_server.pulls == EPOCHS * windows
    assert fused_server.sent == server.sent  # every push: op, steps, delta bit for bit
    if mode == "adag":
        full, rest = [WINDOW] * (STEPS // WINDOW), [STEPS % WINDOW]
        assert [steps for _, steps, _ in fused_server.sent] == (full + rest) * EPOCHS
    for a, b in zip(fused_weights, weights, strict=True):
        assert a.tobytes() == b.tobytes()
    assert fused_metrics == metrics
    # The in-graph exchanges time their parts inside the call; only the partial windows
    # read and write the weights from Python.
    assert {"local", "delta", "push", "pull", "get_flat", "set_flat"} <= phases.keys()


def test_an_error_of_the_exchange_comes_out_as_it_is() -> None:
    server = ScriptedServer(Replica(_model()).get_flat(), fail_at_push=2)
    with pytest.raises(ConnectionError, match="closed the connection"):
        _train("asynchronous", fused=True, server=server)
    assert len(server.sent) == 2  # the third exchange raised; nothing after it ran

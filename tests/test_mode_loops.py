"""Each mode's worker rule (``loxodon.worker.modes``) against the real parameter
server, with scripted steps instead of a model: a replica whose local step adds
a known integer vector and whose gradient is that vector. The replicas and the
center must end exactly where the mode's rule puts them (mean gradient, weight
averaging, windowed deltas with and without the lock, the elastic pull), and
each worker must send exactly the requests its mode makes. Values are small
dyadic numbers, so float32 arithmetic in any order is exact."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import keras
import numpy as np
import pytest
from pyspark.sql import SparkSession

from loxodon.parameter_server import ParameterServer, start_parameter_server
from loxodon.ps_client import PSError
from loxodon.worker.learning_rate import scale_learning_rate
from loxodon.worker.modes import MODE_CLASSES, Context, Mode
from loxodon.worker.overlap import Background

N = 2  # workers
STEPS = 5  # batches in the epoch: with a window of 2, exchanges after steps 2, 4 and the rest
LR = 0.5  # the scripted optimizer: w -= LR * gradient
ALPHA = 0.25  # elastic rate of the server
W0 = np.array([1, 2, 3, 4], np.float32)


def delta(worker: int, step: int) -> np.ndarray:
    """The local step (and the gradient) of ``worker`` at ``step``: small integers."""
    w, s = worker + 1, step + 1
    return np.array([w, s, (w * s) % 3, -(s % 2)], np.float32)


class ScriptedReplica:
    """What the loops use of a ``Replica``, with scripted steps."""

    def __init__(self) -> None:
        self.w = W0.copy()
        self.num_params = W0.size

    def train_on_batch(self, x: np.ndarray, y: Any) -> None:
        self.w = self.w + x

    def gradients(self, x: np.ndarray, y: Any) -> np.ndarray:
        return x.copy()

    def apply_gradients(self, grad: np.ndarray) -> None:
        self.w = self.w - np.float32(LR) * grad

    def get_flat(self) -> np.ndarray:
        return self.w.copy()

    def set_flat(self, flat: np.ndarray) -> None:
        self.w = np.asarray(flat, np.float32).copy()


@pytest.fixture
def server(spark: SparkSession) -> Iterator[ParameterServer]:
    with start_parameter_server(spark, N, W0.size, sync_timeout=60.0, easgd_alpha=ALPHA) as ps:
        ps.set_center(W0)
        yield ps


def _contexts(server: ParameterServer, mode: str, spec: dict[str, Any]) -> list[Context]:
    contexts = []
    for worker in range(N):
        client = server.connect(worker=worker, timeout=60)
        client.register()
        client.pull()  # as every worker does at the start of a fit (DynSGD counts from here)
        contexts.append(
            Context(ScriptedReplica(), client, worker, N, 0, {"mode": mode, **spec})  # type: ignore[arg-type]
        )
    return contexts


def _settled(mode: Mode) -> None:
    """Let the mode's overlapped exchange in flight finish (its result not taken yet),
    so interleaved workers reach the server in a known order."""
    background = getattr(mode, "background", None)
    assert background is None or background.settle(60)


def _run(server: ParameterServer, mode: str, spec: dict[str, Any], together: bool) -> tuple:
    """One epoch of ``mode`` on both workers: in two threads when its rounds are
    synchronous (``together``), else interleaved step by step in this thread (so the
    asynchronous order, worker 0 then 1 at each step, is known; an overlapped exchange
    finishes before the other worker goes on). Returns the final replicas, the center,
    and the requests the workers sent by op."""
    contexts = _contexts(server, mode, spec)
    before = server.stats()["ops"]
    modes: list[Mode] = [MODE_CLASSES[mode](ctx) for ctx in contexts]

    def epoch(worker: int) -> None:
        for step in range(STEPS):
            modes[worker].step(0, step, delta(worker, step), None)
        modes[worker].end_epoch(0, STEPS)

    if together:
        with ThreadPoolExecutor(N) as pool:
            for future in [pool.submit(epoch, w) for w in range(N)]:
                future.result(timeout=120)
    else:
        for step in range(STEPS):
            for worker in range(N):
                modes[worker].step(0, step, delta(worker, step), None)
                _settled(modes[worker])
        for worker in range(N):
            modes[worker].end_epoch(0, STEPS)
    after = server.stats()["ops"]
    for ctx in contexts:
        ctx.ps.close()
    sent = {op: after[op] - before.get(op, 0) for op in after if after[op] != before.get(op, 0)}
    sent.pop("STATS", None)
    return [ctx.replica.w for ctx in contexts], server.center(), sent


def _elastic_schedule(w: list, delta: Any, exchange: Any, together: bool) -> None:
    """The reference order of the elastic modes' local steps and exchanges (window 2): all
    workers at once (easgd's rounds) or each on its own (aeasgd), then the epoch's end."""
    for step in range(STEPS):
        for i in range(N):
            w[i] = w[i] + delta(i, step)
            if not together and (step + 1) % 2 == 0:
                exchange([i])
        if together and (step + 1) % 2 == 0:
            exchange(list(range(N)))
    if together:
        exchange(list(range(N)))
    else:
        for i in range(N):
            exchange([i])


def test_synchronous_applies_the_mean_gradient_every_step(server: ParameterServer) -> None:
    replicas, center, sent = _run(server, "synchronous", {}, together=True)
    expected = W0.copy()
    for step in range(STEPS):
        expected -= np.float32(LR) * (delta(0, step) + delta(1, step)) / N
    for w in replicas:
        np.testing.assert_array_equal(w, expected)
    np.testing.assert_array_equal(center, expected)
    assert sent == {"SYNC": N * STEPS, "PULL": 1, "PUSH": 1}


@pytest.mark.parametrize("frequency", [2, "epoch"])
def test_averaging_averages_every_frequency_batches_and_at_the_end(
    server: ParameterServer, frequency: int | str
) -> None:
    replicas, center, sent = _run(server, "averaging", {"frequency": frequency}, together=True)
    w = [W0.copy() for _ in range(N)]
    rounds = 0
    for step in range(STEPS):
        w = [w[i] + delta(i, step) for i in range(N)]
        if frequency != "epoch" and (step + 1) % frequency == 0:
            w, rounds = [sum(w) / N] * N, rounds + 1
    if frequency == "epoch" or STEPS % frequency:
        w, rounds = [sum(w) / N] * N, rounds + 1
    for got in replicas:
        np.testing.assert_array_equal(got, w[0])
    np.testing.assert_array_equal(center, w[0])
    assert rounds == (3 if frequency == 2 else 1)
    assert sent == {"SYNC": N * rounds, "PULL": 1, "PUSH": 1}


def _interleaved(w: list[np.ndarray], exchange: Callable[[int], None]) -> None:
    """The reference of an asynchronous epoch with a window of 2, in _run's order: at each
    step worker 0 then 1 takes its local step and, every second step, exchanges; then
    each exchanges the rest (STEPS is odd)."""
    for step in range(STEPS):
        for i in range(N):
            w[i] = w[i] + delta(i, step)
            if (step + 1) % 2 == 0:
                exchange(i)
    for i in range(N):
        exchange(i)


def _assert_ends(replicas: list, center: np.ndarray, w: list, c: np.ndarray) -> None:
    np.testing.assert_array_equal(center, c)
    for got, want in zip(replicas, w, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("mode", ["asynchronous", "hogwild"])
def test_downpour_pushes_each_window_delta_and_pulls_the_center(
    server: ParameterServer, mode: str
) -> None:
    """Asynchronous (locked add) and hogwild (lock-free add) make the same exchange:
    push the replica's change since its last pull, then take the center."""
    replicas, center, sent = _run(server, mode, {"communication_window": 2}, together=False)
    c = W0.copy()
    w, anchor = [W0.copy() for _ in range(N)], [W0.copy() for _ in range(N)]

    def exchange(i: int) -> None:
        nonlocal c
        c = c + (w[i] - anchor[i])
        w[i], anchor[i] = c.copy(), c.copy()

    _interleaved(w, exchange)
    _assert_ends(replicas, center, w, c)
    push = "PUSH_HOGWILD" if mode == "hogwild" else "PUSH"
    assert sent == {push: N * 3, "PULL": N * 3}


@pytest.mark.parametrize("mode", ["adag", "dynsgd"])
def test_adag_and_dynsgd_scale_each_push_on_the_server(server: ParameterServer, mode: str) -> None:
    """adag: the center takes delta / the local steps it holds (the window, or the rest
    of the epoch). dynsgd: delta / (1 + the updates applied since this worker's last pull)."""
    replicas, center, sent = _run(server, mode, {"communication_window": 2}, together=False)
    c = W0.copy()
    w, anchor = [W0.copy() for _ in range(N)], [W0.copy() for _ in range(N)]
    updates = 1  # the driver's set_center
    pulled = [updates] * N
    pushes: list[list[int]] = [[] for _ in range(N)]
    staleness_seen = []

    def exchange(i: int) -> None:
        nonlocal c, updates
        # adag: the local steps the delta holds: the window of 2, or 1 for the epoch's rest.
        divisor = (2 if len(pushes[i]) < 2 else 1) if mode == "adag" else 1 + updates - pulled[i]
        pushes[i].append(divisor)
        staleness_seen.append(updates - pulled[i])
        c = c + (w[i] - anchor[i]) / np.float32(divisor)
        updates += 1
        pulled[i] = updates
        w[i], anchor[i] = c.copy(), c.copy()

    _interleaved(w, exchange)
    assert staleness_seen == [0, 1, 1, 1, 1, 1]  # worker 1 always pushes after worker 0
    _assert_ends(replicas, center, w, c)
    push = "PUSH_ADAG" if mode == "adag" else "PUSH_DYNSGD"
    assert sent == {push: N * 3, "PULL": N * 3}


def test_eamsgd_steps_with_momentum_and_pulls_elastically(server: ParameterServer) -> None:
    """eamsgd: each local step starts from the look-ahead x + m v, v = m v + step, and
    every window the worker and the center pull toward each other as in aeasgd."""
    m = np.float32(0.5)
    spec = {"communication_window": 2, "momentum": float(m)}
    replicas, center, sent = _run(server, "eamsgd", spec, together=False)
    c, a = W0.copy(), np.float32(ALPHA)
    w, v = [W0.copy() for _ in range(N)], [np.zeros_like(W0) for _ in range(N)]

    def exchange(i: int) -> None:
        nonlocal c
        elastic = a * (w[i] - c)
        w[i] = w[i] - elastic
        c = c + elastic

    for step in range(STEPS):
        for i in range(N):
            ahead = w[i] + m * v[i]
            w[i] = ahead + delta(i, step)
            v[i] = m * v[i] + (w[i] - ahead)
            if (step + 1) % 2 == 0:
                exchange(i)
    for i in range(N):
        exchange(i)
    np.testing.assert_array_equal(center, c)
    for got, want in zip(replicas, w, strict=True):
        np.testing.assert_array_equal(got, want)
    assert sent == {"EASGD": N * 3}


@pytest.mark.parametrize("mode", ["easgd", "aeasgd"])
def test_elastic_averaging_pulls_replicas_and_center_together(
    server: ParameterServer, mode: str
) -> None:
    """easgd: every window all workers meet; each e_i = alpha (x_i - c) with the same c,
    then c += sum e_i. aeasgd: one worker at a time, c += e as it comes."""
    together = mode == "easgd"
    replicas, center, sent = _run(server, mode, {"communication_window": 2}, together=together)
    c, w = W0.copy(), [W0.copy() for _ in range(N)]
    a = np.float32(ALPHA)

    def exchange(workers: list[int]) -> None:
        nonlocal c
        elastic = {i: a * (w[i] - c) for i in workers}
        for i in workers:
            w[i] = w[i] - elastic[i]
        c = c + sum(elastic.values())

    _elastic_schedule(w, delta, exchange, together)
    np.testing.assert_array_equal(center, c)
    for got, want in zip(replicas, w, strict=True):
        np.testing.assert_array_equal(got, want)
    assert sent == {"EASGD": N * 3}


def test_single_trains_alone_and_publishes_its_replica(spark: SparkSession) -> None:
    with start_parameter_server(spark, 1, W0.size) as server:
        server.set_center(np.zeros_like(W0))
        client = server.connect(worker=0, timeout=60)
        client.register()
        replica = ScriptedReplica()
        mode = MODE_CLASSES["single"](Context(replica, client, 0, 1, 0, {"mode": "single"}))  # type: ignore[arg-type]
        for step in range(STEPS):
            mode.step(0, step, delta(0, step), None)
        mode.end_epoch(0, STEPS)
        client.close()
        expected = W0 + sum(delta(0, s) for s in range(STEPS))
        np.testing.assert_array_equal(replica.w, expected)
        np.testing.assert_array_equal(server.center(), expected)


def test_the_learning_rate_scale_multiplies_a_fixed_rate_only() -> None:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.125), loss="mse")
    assert scale_learning_rate(model, 4.0) == 0.125
    assert float(model.optimizer.learning_rate) == 0.5
    assert scale_learning_rate(model, 1.0) is None and float(model.optimizer.learning_rate) == 0.5
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    assert scale_learning_rate(model, 4.0) is None  # a schedule is the user's: left alone
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.1)


@pytest.mark.parametrize("mode", ["asynchronous", "hogwild"])
def test_overlapped_downpour_goes_on_from_the_last_pull_plus_its_own_change(
    server: ParameterServer, mode: str
) -> None:
    """exchange_overlap: a window's push and pull run while the next window trains; at
    its end the worker takes the center that pull returned, adds its change since the
    push and pushes that change. Every local step reaches the center once; the epoch
    ends on the center after the worker's last push, with the same requests."""
    spec = {"communication_window": 2, "exchange_overlap": True}
    replicas, center, sent = _run(server, mode, spec, together=False)
    c = W0.copy()
    w, anchor = [W0.copy() for _ in range(N)], [W0.copy() for _ in range(N)]
    pulled: list[np.ndarray | None] = [None] * N

    def exchange(i: int) -> None:
        nonlocal c
        change = w[i] - anchor[i]
        if pulled[i] is not None:
            w[i] = pulled[i] + change
        anchor[i] = w[i].copy()
        c = c + change  # the push, then the pull, before the other worker goes on
        pulled[i] = c.copy()

    _interleaved(w, exchange)
    for i in range(N):  # the epoch's end takes the last pull
        w[i], pulled[i] = pulled[i] + (w[i] - anchor[i]), None
    _assert_ends(replicas, center, w, c)
    push = "PUSH_HOGWILD" if mode == "hogwild" else "PUSH"
    assert sent == {push: N * 3, "PULL": N * 3}


@pytest.mark.parametrize("mode", ["easgd", "aeasgd"])
def test_overlapped_elastic_averaging_applies_each_pull_one_window_late(
    server: ParameterServer, mode: str
) -> None:
    """exchange_overlap: the elastic term e = alpha (x - c) of the weights a window
    sent is subtracted at the end of the next window, before that window's weights
    are sent; the epoch's end subtracts the last one. easgd's rounds still meet."""
    together = mode == "easgd"
    spec = {"communication_window": 2, "exchange_overlap": True}
    replicas, center, sent = _run(server, mode, spec, together=together)
    c, w = W0.copy(), [W0.copy() for _ in range(N)]
    a = np.float32(ALPHA)
    late: list[np.ndarray | None] = [None] * N

    def exchange(workers: list[int]) -> None:
        nonlocal c
        for i in workers:
            if late[i] is not None:
                w[i] = w[i] - late[i]
        elastic = {i: a * (w[i] - c) for i in workers}
        for i in workers:
            late[i] = elastic[i]
        c = c + sum(elastic.values())

    _elastic_schedule(w, delta, exchange, together)
    for i in range(N):
        w[i] = w[i] - late[i]
    np.testing.assert_array_equal(center, c)
    for got, want in zip(replicas, w, strict=True):
        np.testing.assert_array_equal(got, want)
    assert sent == {"EASGD": N * 3}


def test_an_overlapped_exchange_raises_its_error_and_waits_no_longer_than_the_timeout() -> None:
    class Client:
        wait_seconds = 0.0

    background = Background(Client(), timeout=0.2)  # type: ignore[arg-type]

    def refused() -> None:
        raise PSError("the parameter server closed the connection")

    background.start(refused)
    with pytest.raises(PSError, match="closed the connection"):
        background.result()
    assert not background.pending
    release = threading.Event()
    background.start(lambda: release.wait(30))
    with pytest.raises(PSError, match=r"did not finish within 0.2 s"):
        background.result()
    release.set()

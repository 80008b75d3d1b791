"""The worker's epoch loop for every training mode (docs/design.md, "Lifecycle of a fit").

:func:`train` runs the epochs of the chosen mode (:mod:`loxodon.worker.modes`):
shuffling, the fused spans of local steps, metrics, validation, the epoch gate and
the driver's learning rate; it agrees on the starting weights and publishes the
trained model.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from loxodon.keras_io import model_to_archive
from loxodon.ps_client import PSError
from loxodon.worker import allreduce, optimizer_state
from loxodon.worker.data import Partition, epoch_rng
from loxodon.worker.learning_rate import WorkerRate
from loxodon.worker.modes import MODE_CLASSES, MODES, Context, Mode, round_id

INITIALIZED = "loxodon/initialized"
NEXT_EPOCH = "loxodon/next_epoch"
FINAL_MODEL = "loxodon/final_model"
RING_ADDRESS = "loxodon/worker/{worker}/ring/{attempt}"  # a worker key writes its own
_SETUP_EPOCH = (1 << 20) - 1


def _validation(ctx: Context, mode: Mode, val: Partition, batch_size: int) -> dict[str, float]:
    if val.rows == 0 or val.y is None:
        return {}
    r = ctx.replica
    local = None
    if mode.evaluates_center:
        local = r.get_flat()
        r.set_flat(ctx.ps.pull())
    result = r.evaluate(val.x, val.y, batch_size)
    if local is not None:
        r.set_flat(local)
    return {f"val_{k}": v for k, v in result.items()}


def _run_steps(
    mode: Mode,
    epoch: int,
    rows: Partition,
    batch_size: int,
    steps: int,
    rng: np.random.Generator | None,
) -> None:
    """One epoch's steps: those up to each exchange in one call (fused modes; the
    whole epoch for ``synchronous`` and the Downpour family without overlap, whose
    exchanges run inside the call), else one call per batch."""
    if not (mode.fused and rows.rows >= batch_size):
        for step, (x, y) in enumerate(rows.batches(batch_size, steps, rng)):
            mode.step(epoch, step, x, y)
        return
    batches = rows.epoch_indices(batch_size, steps, rng)
    step = 0
    while step < steps:
        period = mode.period or steps
        count = min(period - step % period, steps - step)
        mode.span(epoch, step, batches[step : step + count])
        step += count


def train(
    ctx: Context,
    train_rows: Partition,
    val: Partition,
    send_event: Any,
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The whole fit on this worker: epochs of the chosen mode, gated by the driver.
    ``timings`` (seconds by phase, e.g. the rows' receipt) gains this loop's phases and
    goes into the result, so a benchmark sees where a fit's time outside the steps went."""
    timings = dict(timings or {})
    clock = time.perf_counter()
    spec = ctx.spec
    rate = WorkerRate(ctx.replica.model, float(spec.get("learning_rate_scale", 1)))
    mode_name = spec["mode"]
    if mode_name not in MODE_CLASSES:
        raise ValueError(f"unknown mode {mode_name!r}; choose one of {', '.join(MODES)}")
    batch_size, steps = int(spec["batch_size"]), int(spec["steps_per_epoch"])
    seed, shuffle = int(spec.get("seed", 0)), bool(spec.get("shuffle", True))
    uses_ring = mode_name == "synchronous" and spec.get("sync_transport") == "allreduce"
    listener = _publish_ring_address(ctx) if uses_ring and ctx.num_workers > 1 else None
    initial_epoch = _start(ctx, int(spec.get("initial_epoch", 0)))
    checkpoint = bool(spec.get("checkpoint"))
    if checkpoint:  # a resumed fit's (or a retried stage's) optimizer state, when there is one
        optimizer_state.restore(ctx.ps, ctx.worker, ctx.replica.model)
    if listener is not None:
        ctx.ring = _join_ring(ctx, listener)
    elif uses_ring:  # one worker: no ring to join, and no server round per step either
        ctx.ring = allreduce.Ring.alone(str(spec.get("sync_precision", "float32")))
    rate.follow_driver(ctx.ps)  # a resumed stage takes the rate its epochs ran at
    mode = MODE_CLASSES[mode_name](ctx)
    timings["start"] = time.perf_counter() - clock
    clock = time.perf_counter()
    if mode.fused and ctx.shards is None and train_rows.y is not None:
        ctx.replica.hold_rows(train_rows.x, train_rows.y, train_rows.w)
    timings["hold"] = time.perf_counter() - clock
    validation_seconds, gate_seconds = 0.0, 0.0
    epochs_run, total_steps, epoch_seconds, epoch_waits = 0, 0, [], []
    shards_claimed: list[list[int]] = []
    for epoch in range(initial_epoch, int(spec["epochs"])):
        rng = epoch_rng(seed, epoch, ctx.worker) if shuffle else None
        ctx.replica.reset_metrics()
        rate.epoch_started()
        started, waited = time.perf_counter(), _wait_seconds(ctx)
        feed = ctx.shards
        if feed is None:
            _run_steps(mode, epoch, train_rows, batch_size, steps, rng)
            epoch_steps = steps
        else:  # shards of varying sizes, claimed one at a time: a call per batch
            epoch_steps = 0
            pass_id = round_id(ctx.attempt, epoch, 0)
            for step, (x, y) in enumerate(feed.batches(pass_id, epoch, batch_size, seed, shuffle)):
                mode.step(epoch, step, x, y)
                epoch_steps = step + 1
        mode.end_epoch(epoch, epoch_steps)
        seconds = time.perf_counter() - started
        epoch_seconds.append(seconds)
        epoch_waits.append(_wait_seconds(ctx) - waited)
        clock = time.perf_counter()
        report = {
            "rows": train_rows.rows if feed is None else feed.rows,
            "samples": epoch_steps * batch_size,
            **({} if feed is None else {"shards": len(feed.claimed)}),
            "seconds": seconds,
            **ctx.replica.metrics(),
            "val_rows": val.rows,
            **_validation(ctx, mode, val, batch_size),
        }
        validation_seconds += time.perf_counter() - clock
        send_event({"epoch": epoch, **report})
        epochs_run += 1
        total_steps += epoch_steps
        if feed is not None:
            shards_claimed.append(feed.claimed)
        if checkpoint:  # the driver checkpoints it once every worker reached the gate
            optimizer_state.publish(ctx.ps, ctx.worker, ctx.replica.model)
        clock = time.perf_counter()
        ctx.ps.epoch_end(epoch, report)
        gate_seconds += time.perf_counter() - clock
        if ctx.ps.stop_requested:
            break
        rate.follow_driver(ctx.ps)
    clock = time.perf_counter()
    if ctx.worker == 0:
        rate.restore_unscaled()
        _publish_final_model(ctx)
    timings |= {"validation": validation_seconds, "gate": gate_seconds}
    timings["finish"] = time.perf_counter() - clock
    return {
        "epochs_run": epochs_run,
        "rows": train_rows.rows if ctx.shards is None else ctx.shards.own_rows(),
        # Where the time of the epochs went: steps, seconds, and of those the seconds spent
        # sending to and waiting on the server (per epoch: the first one also traces).
        "steps": total_steps,
        "epoch_seconds": epoch_seconds,
        "epoch_wait_seconds": epoch_waits,
        "learning_rates": rate.per_epoch,
        # Seconds outside the epochs' steps, by phase (receive, convert, start, hold,
        # validation, gate: waiting for the driver's release, finish).
        "timings": timings,
        "phases": ctx.phases,
        "bytes_sent": ctx.ps.bytes_sent + (ctx.ring.bytes_sent if ctx.ring else 0),
        "bytes_received": ctx.ps.bytes_received,
        **({"ring_reductions": ctx.ring.reductions} if ctx.ring is not None else {}),
        # With a parallelism factor: the shards this worker trained, per epoch, in order.
        **({"shards": shards_claimed} if ctx.shards is not None else {}),
    }


def _start(ctx: Context, initial_epoch: int) -> int:
    """Agree on the starting weights and epoch.

    A first attempt starts from the archive's weights (or a resumed fit's
    checkpointed center), which worker 0 writes to the center. A retried stage
    (a worker died) resumes from the center and from the epoch after the last
    one the driver released, so nothing trained before the failure is lost.
    """
    ps = ctx.ps
    if ctx.worker == 0:
        try:
            ps.get_blob(INITIALIZED)
        except PSError:
            resumed = optimizer_state.resume_center(ps) if ctx.spec.get("checkpoint") else None
            if resumed is not None:
                ctx.replica.set_flat(resumed)
            ctx.set_center_from_model()
            ps.put_blob(INITIALIZED, b"1")
    ps.sync(round_id(ctx.attempt, _SETUP_EPOCH, 0), np.zeros(ctx.replica.num_params, np.float32))
    ctx.replica.set_flat(ps.pull())
    try:
        return max(initial_epoch, int(ps.get_blob(NEXT_EPOCH).decode()))
    except PSError:
        return initial_epoch


def _wait_seconds(ctx: Context) -> float:
    """Seconds spent so far sending to and waiting on the server and the ring."""
    return ctx.ps.wait_seconds + (ctx.ring.wait_seconds if ctx.ring else 0.0)


def _publish_ring_address(ctx: Context) -> Any:
    """Listen on the interface the server is reached by; publish ``host:port`` as a
    blob before the setup round, after which every worker's address is there."""
    listener = allreduce.listen(ctx.ps.local_address)
    host, port = listener.getsockname()[:2]
    key = RING_ADDRESS.format(attempt=ctx.attempt, worker=ctx.worker)
    ctx.ps.put_blob(key, f"{host}:{port}".encode())
    return listener


def _join_ring(ctx: Context, listener: Any) -> allreduce.Ring:
    addresses = [
        ctx.ps.get_blob(RING_ADDRESS.format(attempt=ctx.attempt, worker=w)).decode()
        for w in range(ctx.num_workers)
    ]
    try:
        return allreduce.Ring(
            ctx.worker,
            addresses,
            listener,
            bytes.fromhex(ctx.spec["ps"]["ring_key"]),
            str(ctx.attempt),
            timeout=float(ctx.spec.get("client_timeout", 600.0)),
            dtype=str(ctx.spec.get("sync_precision", "float32")),
        )
    finally:
        listener.close()


def _publish_final_model(ctx: Context) -> None:
    """Worker 0 stores the trained model (center weights, its optimizer state)
    as a ``.keras`` archive for front ends that have no Python model."""
    ctx.replica.set_flat(ctx.ps.pull())
    ctx.ps.put_blob(FINAL_MODEL, model_to_archive(ctx.replica.model))

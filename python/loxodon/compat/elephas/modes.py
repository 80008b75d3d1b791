"""Elephas's ``mode`` and ``frequency`` translated into Loxodon's native schedule.

Elephas had three modes and two frequencies:

- ``synchronous``: every worker trains on its partition from the same weights,
  then the driver averages the workers' weights (deltas); ``frequency`` was ignored;
- ``asynchronous``: workers pull the weights from a parameter server, train
  ``frequency`` (one epoch or one batch) and push their delta, applied under a lock;
- ``hogwild``: the same as ``asynchronous`` without the lock.

:func:`native_schedule` gives the native ``SparkModel``/``KerasEstimator``
settings with the closest meaning (docs/compat/elephas.md has the table and
the reasons). ``frequency='batch'`` exchanges after every batch (the native
number of batches 1); ``'epoch'`` exchanges once per epoch, at its end (the
native ``communication_window`` :data:`EPOCH_WINDOW`: a window no partition
reaches, so the only exchange is the end-of-epoch one).
"""

from __future__ import annotations

from dataclasses import dataclass

ELEPHAS_MODES: tuple[str, ...] = ("synchronous", "asynchronous", "hogwild")
ELEPHAS_FREQUENCIES: tuple[str, ...] = ("epoch", "batch")
PARAMETER_SERVER_MODES: tuple[str, ...] = ("http", "socket")

EPOCH_WINDOW: int = 2**31 - 1
"""A native ``communication_window`` larger than any partition's batches per epoch:
asynchronous and hogwild workers then exchange only at the end of each epoch."""

_NATIVE_MODE = {"synchronous": "averaging", "asynchronous": "asynchronous", "hogwild": "hogwild"}


@dataclass(frozen=True)
class NativeSchedule:
    """The native settings of one Elephas ``mode``/``frequency`` pair."""

    mode: str
    frequency: str | int
    communication_window: int


def _batches(frequency: str | int) -> int | None:
    """Batches between exchanges: None for 'epoch', 1 for 'batch', k for an int k."""
    if frequency == "epoch":
        return None
    if frequency == "batch":
        return 1
    if isinstance(frequency, int) and not isinstance(frequency, bool) and frequency >= 1:
        return frequency
    raise ValueError(
        f"frequency must be 'epoch' or 'batch' (or a positive number of batches), got {frequency!r}"
    )


def check_mode(mode: str) -> str:
    """``mode`` if it is one of Elephas's modes, else a ValueError naming them."""
    if mode not in ELEPHAS_MODES:
        raise ValueError(
            f"mode must be one of {', '.join(ELEPHAS_MODES)} (Elephas's modes), got {mode!r}; "
            "Loxodon's other modes (single, averaging, easgd, aeasgd, and synchronous in its "
            "native meaning) are on loxodon.SparkModel"
        )
    return mode


def check_parameter_server_mode(parameter_server_mode: str) -> str:
    """Elephas's ``parameter_server_mode`` ('http' or 'socket'): checked, then unused."""
    if parameter_server_mode not in PARAMETER_SERVER_MODES:
        raise ValueError(
            f"parameter_server_mode must be 'http' or 'socket', got {parameter_server_mode!r}"
        )
    return parameter_server_mode


def check_port(port: int | None) -> int | None:
    """Elephas's ``port``: checked, then unused (``spark.loxodon.ps.port`` sets Loxodon's)."""
    if port is not None and not (isinstance(port, int) and 0 <= port <= 65535):
        raise ValueError(f"port must be an int in 0..65535, got {port!r}")
    return port


def native_schedule(mode: str, frequency: str | int) -> NativeSchedule:
    """The native mode, ``frequency`` and ``communication_window`` for Elephas's
    ``mode`` and ``frequency``."""
    batches = _batches(frequency)
    native = _NATIVE_MODE[check_mode(mode)]
    if native == "averaging":
        return NativeSchedule(native, "epoch" if batches is None else batches, 1)
    return NativeSchedule(native, "epoch", EPOCH_WINDOW if batches is None else batches)

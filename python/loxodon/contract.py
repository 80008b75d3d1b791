"""The facts the JVM owns and Python reads: ``contract.json``, written by the
Scala ``loxodon.Contract`` (``make contract``; a Scala test fails when it is stale).

- the wire protocol: version, frame header, op codes, reply flags;
- the message types between an executor task and its Python worker;
- the training modes, and those whose learning rate is scaled by the number of workers;
- the Spark ML params of the Keras stages, with their types, docs, defaults and rules.

A file, not a Py4J call, because the Python training workers have no JVM gateway.
:func:`rule_problem` checks a value against a param's rule exactly as
``loxodon.ml.ParamRule`` does in Scala, with the same message.
"""

from __future__ import annotations

import json
import math
import re
from importlib import resources
from typing import Any

_CONTRACT: dict[str, Any] = json.loads(
    resources.files("loxodon").joinpath("contract.json").read_text(encoding="utf-8")
)

PROTOCOL_VERSION: int = _CONTRACT["protocol"]["version"]
HEADER_FIELDS: list[tuple[str, str]] = [
    (f["name"], f["type"]) for f in _CONTRACT["protocol"]["header"]
]
OPS: dict[str, int] = _CONTRACT["protocol"]["ops"]
FLAGS: dict[str, int] = _CONTRACT["protocol"]["flags"]
WORKER_MESSAGES: dict[str, int] = _CONTRACT["workerMessages"]
WORKER_MAX_MESSAGE_BYTES: int = _CONTRACT["workerChannel"]["maxMessageBytes"]
WORKER_AUTH_TIMEOUT_S: float = _CONTRACT["workerChannel"]["authTimeoutMs"] / 1000.0
MODES: tuple[str, ...] = tuple(_CONTRACT["modes"]["all"])
LR_SCALED_MODES: tuple[str, ...] = tuple(_CONTRACT["modes"]["learningRateScaled"])
OVERLAPPED_MODES: tuple[str, ...] = tuple(_CONTRACT["modes"]["overlapped"])
OUTPUT_MODES: tuple[str, ...] = tuple(_CONTRACT["outputModes"])
INDEX_LOSSES: frozenset[str] = frozenset(_CONTRACT["indexLosses"])
"""Keras's names of the losses that take class indices (``LossLabels`` in Scala)."""
PARAMS: list[dict[str, Any]] = _CONTRACT["params"]
"""One dict per param: name, type, doc, default (absent when none), rule (+ its
arguments) and transform (whether a ``KerasModel`` sets it too)."""

PARAM_SPECS: dict[str, dict[str, Any]] = {p["name"]: p for p in PARAMS}

_STRUCT_CODES = {"uint8": "B", "uint16": "H", "int32": "i", "int64": "q"}


def loss_name(loss: Any) -> str | None:
    """The Keras name of a compiled loss, as ``LossLabels`` reads it from the saved
    config: a string as given; a loss object or function defined by Keras itself, its
    class or function name; None for anything else (a custom loss, several losses)."""
    if isinstance(loss, str):
        return loss
    module = getattr(loss, "__module__", None) or type(loss).__module__
    if not str(module).startswith("keras."):
        return None
    return getattr(loss, "__name__", None) or type(loss).__name__


def header_format() -> str:
    """The frame header as a big-endian ``struct`` format."""
    return ">" + "".join(_STRUCT_CODES[kind] for _, kind in HEADER_FIELDS)


def _number(value: float) -> str:
    """A number as Java's ``toString`` writes it, for the messages (1.5, -0.5, Infinity)."""
    if isinstance(value, float):
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if math.isnan(value):
            return "NaN"
    return str(value)


def rule_problem(spec: dict[str, Any], value: Any) -> str | None:
    """What is wrong with ``value`` for the param ``spec`` ("name ...why"), or None.

    ``value`` has already been converted to the param's type."""
    name, rule = spec["name"], spec["rule"]
    if rule == "atLeast":
        return None if value >= spec["min"] else f"{name} must be >= {spec['min']}, got {value}"
    if rule == "positive":
        ok = value > 0 and not math.isinf(value)
        return None if ok else f"{name} must be > 0, got {_number(value)}"
    if rule == "inRange":
        lower, upper = spec["lower"], spec["upper"]
        if lower <= value < upper:
            return None
        bounds = ", ".join(str(int(b)) if float(b).is_integer() else str(b) for b in (lower, upper))
        return f"{name} must be in [{bounds}), got {_number(value)}"
    if rule == "oneOf":
        if value in spec["values"]:
            return None
        return f"{name}: unknown value '{value}'; choose one of {', '.join(spec['values'])}"
    if rule == "epochOrBatches":
        whole = re.fullmatch(r"[+-]?[0-9]+", value) is not None
        ok = value == "epoch" or (whole and 1 <= int(value) < 2**31)
        why = "must be 'epoch' or a positive number of batches"
        return None if ok else f"{name} {why}, got '{value}'"
    if rule == "columnName":
        return None if value else f"{name} must name a column, got '{value}'"
    if rule == "names":
        return None if all(n.strip() for n in value) else f"{name} has an empty name"
    if rule == "free":
        return None
    raise ValueError(f"contract.json: unknown rule {rule!r} of param {name} (a newer jar?)")


def require_valid(param: str, value: Any, shown_as: str | None = None) -> None:
    """Raises ValueError when ``value`` breaks the rule of the Spark ML param
    ``param``; the message names ``shown_as`` (e.g. a snake_case argument)."""
    spec = PARAM_SPECS[param]
    problem = rule_problem({**spec, "name": shown_as or param}, value)
    if problem is not None:
        raise ValueError(problem)

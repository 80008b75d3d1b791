"""The Params shared by :class:`~loxodon.ml.KerasEstimator` and
:class:`~loxodon.ml.KerasModel`, built from the Scala ``loxodon.ml.KerasParams``.

Nothing about a param is declared here: its name, type, doc, default and rule
come from ``contract.json`` (:mod:`loxodon.contract`), so a param added in
Scala appears here, with a getter and setters, without a Python change. Each
param's type converter also checks the rule, so a bad value fails when it is
set, with the Scala message (``param epochs must be >= 1, got -1``), before
anything reaches the JVM.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import JavaMLReadable, JavaMLReader

from loxodon.contract import PARAMS, rule_problem


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return TypeConverters.toInt(value)


def _frequency_text(value: Any) -> str:
    """``frequency`` is a string in Spark ML; an int number of batches is accepted too."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return TypeConverters.toString(value)


_TYPES: dict[str, Callable[[Any], Any]] = {
    "int": _integer,
    "long": _integer,
    "double": TypeConverters.toFloat,
    "boolean": TypeConverters.toBoolean,
    "string": TypeConverters.toString,
    "string[]": TypeConverters.toListString,
}


def _converter(spec: dict[str, Any]) -> Callable[[Any], Any]:
    """Converts to the param's type, then checks its rule; errors name the param."""
    to_type = _frequency_text if spec["rule"] == "epochOrBatches" else _TYPES[spec["type"]]

    def convert(value: Any) -> Any:
        try:
            converted = to_type(value)
        except TypeError as e:
            raise TypeError(f"param {spec['name']}: {e}") from None
        problem = rule_problem(spec, converted)
        if problem is not None:
            raise ValueError(f"param {problem}")
        return converted

    return convert


def _accessor(prefix: str, name: str) -> str:
    return prefix + name[0].upper() + name[1:]


class KerasParams(Params):
    """Params of the Keras stages: every param of ``contract.json``, with a
    ``getX`` for each (setters are on the stages)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._setDefault(**{p["name"]: p["default"] for p in PARAMS if "default" in p})

    def _set_checked(self, **kwargs: Any) -> Any:
        """Sets the given params, skipping None (an unset optional param); an unknown
        name is refused with the known ones."""
        unknown = sorted(set(kwargs) - PARAM_NAMES)
        if unknown:
            raise TypeError(
                f"{type(self).__name__}: unknown param(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(PARAM_NAMES))}"
            )
        return self._set(**{k: v for k, v in kwargs.items() if v is not None})


PARAM_NAMES: frozenset[str] = frozenset(p["name"] for p in PARAMS)


def _getter(name: str) -> Callable[[KerasParams], Any]:
    def get(self: KerasParams) -> Any:
        return self.getOrDefault(getattr(self, name))

    get.__name__ = _accessor("get", name)
    get.__doc__ = f"The value of ``{name}`` (or its default)."
    return get


def _setter(name: str) -> Callable[[Any, Any], Any]:
    def set_(self: Any, value: Any) -> Any:
        return self._set(**{name: value})

    set_.__name__ = _accessor("set", name)
    set_.__doc__ = f"Sets ``{name}``."
    return set_


for _spec in PARAMS:
    _name = _spec["name"]
    setattr(KerasParams, _name, Param(Params._dummy(), _name, _spec["doc"], _converter(_spec)))
    setattr(KerasParams, _accessor("get", _name), _getter(_name))


def add_setters(stage: type, transform_only: bool) -> None:
    """Gives ``stage`` a ``setX`` for every param (only the transform params when
    ``transform_only``), and lists the params in its docstring."""
    lines = []
    for spec in PARAMS:
        if transform_only and not spec["transform"]:
            continue
        setattr(stage, _accessor("set", spec["name"]), _setter(spec["name"]))
        default = f" (default {spec['default']!r})" if "default" in spec else ""
        lines.append(f"    - ``{spec['name']}``: {spec['doc']}{default}")
    stage.__doc__ = (stage.__doc__ or "") + "\n\n    Params:\n\n" + "\n".join(lines) + "\n"


class LoxodonMLReader(JavaMLReader):
    """Reads a stage saved by Scala or Python: the JVM class is ``loxodon.ml.<Name>``
    (pyspark's reader would look for ``loxodon.ml.model.<Name>``)."""

    @classmethod
    def _java_loader_class(cls, clazz: type) -> str:
        return "loxodon.ml." + clazz.__name__


class LoxodonMLReadable(JavaMLReadable):
    """``read()``/``load(path)`` through :class:`LoxodonMLReader`."""

    @classmethod
    def read(cls) -> LoxodonMLReader:
        return LoxodonMLReader(cls)

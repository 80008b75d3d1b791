"""Names a package loads on first use (a PEP 562 module ``__getattr__``), so
that importing the package stays light: :mod:`loxodon` defers what needs
Keras, :mod:`loxodon.selection` its Spark engine."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """The ``__getattr__`` of ``package``: ``names`` maps each lazy name to the
    module that defines it. The first use imports that module and keeps the
    value in the package, so later uses find it there."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__

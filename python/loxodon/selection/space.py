"""Search spaces: the hyperparameters a search varies, and how to sample them.

A space is a plain ``dict`` from names to :class:`Dimension` objects or
constants (constants pass through unchanged). Fit parameters are ordinary
keys: ``batch_size`` and ``learning_rate`` are read by the search engine,
everything else goes to ``model_fn``.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


class Dimension(ABC):
    """One searchable hyperparameter."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Any:
        """A random value."""

    def grid_values(self, name: str) -> list[Any]:
        """The values a grid search crosses; continuous dimensions have none."""
        raise ValueError(
            f"{name!r} is a continuous dimension ({self!r}): a grid search needs choice() or "
            "grid() values; use RandomSearch or TPESearch for continuous ranges"
        )


@dataclass(frozen=True)
class Choice(Dimension):
    values: tuple[Any, ...]

    def sample(self, rng: np.random.Generator) -> Any:
        return self.values[int(rng.integers(len(self.values)))]

    def grid_values(self, name: str) -> list[Any]:
        return list(self.values)


@dataclass(frozen=True)
class Grid(Choice):
    """Explicit grid values (sampled uniformly by random searches)."""


@dataclass(frozen=True)
class Uniform(Dimension):
    low: float
    high: float

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class LogUniform(Dimension):
    low: float
    high: float

    def sample(self, rng: np.random.Generator) -> float:
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))


@dataclass(frozen=True)
class RandInt(Dimension):
    """Integers in ``[low, high)``, as NumPy's ``integers``."""

    low: int
    high: int

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high))

    def grid_values(self, name: str) -> list[Any]:
        return list(range(self.low, self.high))


def _values(values: Sequence[Any], what: str) -> tuple[Any, ...]:
    if isinstance(values, str | bytes) or len(values) == 0:
        raise ValueError(f"{what} needs a non-empty sequence of values, got {values!r}")
    return tuple(values)


def choice(values: Sequence[Any]) -> Dimension:
    """One of ``values``."""
    return Choice(_values(values, "choice()"))


def grid(values: Sequence[Any]) -> Dimension:
    """Explicit values for a grid search to cross."""
    return Grid(_values(values, "grid()"))


def uniform(low: float, high: float) -> Dimension:
    """A float uniformly in ``[low, high)``."""
    if not low < high:
        raise ValueError(f"uniform() needs low < high, got {low}, {high}")
    return Uniform(float(low), float(high))


def loguniform(low: float, high: float) -> Dimension:
    """A float whose logarithm is uniform in ``[log low, log high)`` (e.g. learning rates)."""
    if not 0 < low < high:
        raise ValueError(f"loguniform() needs 0 < low < high, got {low}, {high}")
    return LogUniform(float(low), float(high))


def randint(low: int, high: int) -> Dimension:
    """An integer in ``[low, high)`` (``high`` excluded, as in NumPy)."""
    if not low < high:
        raise ValueError(f"randint() needs low < high, got {low}, {high}")
    return RandInt(int(low), int(high))


def sample(space: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """One configuration: every dimension sampled (in key order), constants kept."""
    return {k: v.sample(rng) if isinstance(v, Dimension) else v for k, v in space.items()}


def grid_points(space: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The cartesian product of the space's dimensions, the last key varying fastest."""
    keys = list(space)
    axes = [
        space[k].grid_values(k) if isinstance(space[k], Dimension) else [space[k]] for k in keys
    ]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes)]

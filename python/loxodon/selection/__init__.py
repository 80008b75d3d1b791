"""Model selection with model hopper parallelism: search spaces, strategies
(grid, random, TPE, Hyperband, ASHA), the Spark engine and its result."""

from loxodon.selection.halving import ASHA, Hyperband, hyperband_brackets
from loxodon.selection.result import SelectionResult
from loxodon.selection.search import ModelSelection
from loxodon.selection.space import choice, grid, grid_points, loguniform, randint, sample, uniform
from loxodon.selection.strategies import (
    Actions,
    GridSearch,
    RandomSearch,
    SearchStrategy,
    TPESearch,
    Trial,
)

__all__ = [
    "ASHA",
    "Actions",
    "GridSearch",
    "Hyperband",
    "ModelSelection",
    "RandomSearch",
    "SearchStrategy",
    "SelectionResult",
    "TPESearch",
    "Trial",
    "choice",
    "grid",
    "grid_points",
    "hyperband_brackets",
    "loguniform",
    "randint",
    "sample",
    "uniform",
]

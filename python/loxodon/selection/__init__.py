"""Model selection with model hopper parallelism: search spaces, strategies
(grid, random, TPE, Hyperband, ASHA, PBT), plots, tracking, the Spark engine and
its result.

The search logic imports neither Spark nor Keras; the engine's names
(``ModelSelection``, ``SelectionResult``) load on first use, as in
:mod:`loxodon`, so that strategies and their tests stay light.
"""

from loxodon._lazy import lazy_names as _lazy_names
from loxodon.selection.halving import ASHA, Hyperband, hyperband_brackets
from loxodon.selection.pbt import PBT
from loxodon.selection.plots import gantt, learning_curves
from loxodon.selection.space import (
    Dimension,
    choice,
    grid,
    grid_points,
    loguniform,
    randint,
    sample,
    uniform,
)
from loxodon.selection.strategies import (
    Actions,
    GridSearch,
    RandomSearch,
    SearchStrategy,
    TPESearch,
    Trial,
)
from loxodon.selection.tracking import Tracker, tracker

_LAZY = {
    "ModelSelection": "loxodon.selection.search",
    "SelectionResult": "loxodon.selection.result",
}

__all__ = [
    "ASHA",
    "Actions",
    "Dimension",
    "GridSearch",
    "Hyperband",
    "ModelSelection",
    "PBT",
    "RandomSearch",
    "SearchStrategy",
    "SelectionResult",
    "TPESearch",
    "Tracker",
    "Trial",
    "choice",
    "gantt",
    "grid",
    "grid_points",
    "hyperband_brackets",
    "learning_curves",
    "loguniform",
    "randint",
    "sample",
    "tracker",
    "uniform",
]

__getattr__ = _lazy_names(__name__, _LAZY)

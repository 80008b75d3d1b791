"""Search strategies: which configurations train, and for how many epochs.

A strategy knows nothing of Spark. The engine (:mod:`loxodon.selection.search`)
calls :meth:`SearchStrategy.start` once and :meth:`SearchStrategy.report`
after every epoch of every trial, and carries out the returned
:class:`Actions`: ``add`` trials start their first epoch, ``run`` trials train
one more epoch, ``stop`` trials end. A trial neither run nor stopped waits
(e.g. at a synchronous rung) until a later report resumes or stops it. The
search ends when no trial trains and the last actions were empty.

An added trial with a ``parent`` (population-based training's exploit) does
not start from scratch: it continues from a copy of the parent's state (its
weights and optimizer variables) after the parent's ``start_epoch`` epochs,
its last reported one, with its own training-time params; its epochs are
numbered on from ``start_epoch``. The parent must be paused there (neither
training nor asked for more epochs), and may be run or stopped in the same
actions.

This module holds the fixed-budget strategies (grid, random, TPE);
:mod:`loxodon.selection.halving` holds Hyperband and ASHA,
:mod:`loxodon.selection.pbt` population-based training.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loxodon.selection.space import (
    Choice,
    Dimension,
    LogUniform,
    RandInt,
    Uniform,
    grid_points,
    sample,
)

INSTALL_SELECTION = "pip install 'loxodon[selection]'"
"""How to install what model selection needs beyond Loxodon (optuna, matplotlib)."""


@dataclass(frozen=True)
class Trial:
    """One configuration of a search; with a ``parent``, a continuation of the
    parent's state after its first ``start_epoch`` epochs (see the module docstring)."""

    trial_id: int
    params: dict[str, Any]
    bracket: int = 0
    parent: int | None = None
    start_epoch: int = 0


@dataclass
class Actions:
    """What the engine does next (see the module docstring)."""

    add: list[Trial] = field(default_factory=list)
    run: list[int] = field(default_factory=list)
    stop: dict[int, str] = field(default_factory=dict)

    def extend(self, other: Actions) -> Actions:
        self.add += other.add
        self.run += other.run
        self.stop.update(other.stop)
        return self


class SearchStrategy(ABC):
    """Base of every strategy: the objective's direction, the values seen, the decisions."""

    max_epochs: int | None = None
    """The most epochs any trial trains (None: no bound known)."""

    def __init__(self, mode: str = "max") -> None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.mode = mode
        self.values: dict[int, list[float]] = {}
        self._decisions: list[dict[str, Any]] = []
        self._next_id = 0

    @abstractmethod
    def start(self) -> Actions:
        """The first trials."""

    @abstractmethod
    def on_epoch(self, trial_id: int, epoch: int, value: float) -> Actions:
        """The decision after ``trial_id`` completed ``epoch`` with ``value``."""

    def next_decision(self, trial_id: int, epochs_done: int) -> int:
        """The epoch count at which this strategy next decides about ``trial_id``:
        it surely trains until then, so the engine asks for those epochs at once
        (a worker can then validate an epoch inside the next one's first unit)."""
        return epochs_done + 1

    def report(self, trial_id: int, epoch: int, value: float) -> Actions:
        """Records ``value`` (the objective after 0-based ``epoch``) and decides."""
        if math.isnan(value):
            raise ValueError(f"trial {trial_id} reported a NaN objective after epoch {epoch}")
        self.values.setdefault(trial_id, []).append(float(value))
        return self.on_epoch(trial_id, epoch, float(value))

    @property
    def decisions(self) -> list[dict[str, Any]]:
        """Every decision so far, in order."""
        return list(self._decisions)

    def best(self) -> int | None:
        """The trial with the best last reported value (ties: the lower id)."""
        if not self.values:
            return None
        sign = 1.0 if self.mode == "max" else -1.0
        return min(self.values, key=lambda t: (-sign * self.values[t][-1], t))

    # -- helpers for subclasses ----------------------------------------------------------
    def _new_trial(
        self,
        params: dict[str, Any],
        bracket: int = 0,
        parent: int | None = None,
        start_epoch: int = 0,
    ) -> Trial:
        trial = Trial(self._next_id, dict(params), bracket, parent, start_epoch)
        self._next_id += 1
        return trial

    def _decide(
        self,
        trial_id: int,
        epoch: int,
        action: str,
        reason: str,
        rung: int = 0,
        bracket: int = 0,
        **extra: Any,
    ) -> None:
        """Records a decision; ``extra`` keys (e.g. PBT's ``donor`` and ``params``)
        join the record."""
        last = self.values.get(trial_id, [float("nan")])[-1]
        self._decisions.append(
            {
                "trial_id": trial_id,
                "epoch": epoch,
                "rung": rung,
                "bracket": bracket,
                "action": action,
                "value": last,
                "reason": reason,
                **extra,
            }
        )


class _FixedBudget(SearchStrategy):
    """Every trial trains ``epochs`` epochs; at most ``max_concurrent`` at once."""

    def __init__(self, epochs: int, mode: str, max_concurrent: int | None) -> None:
        super().__init__(mode)
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        if max_concurrent is not None and max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
        self.epochs = self.max_epochs = epochs
        self.max_concurrent = max_concurrent
        self.running = 0

    @abstractmethod
    def _propose(self) -> dict[str, Any] | None:
        """The next configuration, or None when there are no more."""

    def _completed(self, trial_id: int, value: float) -> None:
        """Hook: a trial finished its epochs with ``value``."""

    def _fill(self) -> Actions:
        actions = Actions()
        while self.max_concurrent is None or self.running < self.max_concurrent:
            params = self._propose()
            if params is None:
                break
            actions.add.append(self._new_trial(params))
            self.running += 1
        return actions

    def start(self) -> Actions:
        return self._fill()

    def next_decision(self, trial_id: int, epochs_done: int) -> int:
        return self.epochs

    def on_epoch(self, trial_id: int, epoch: int, value: float) -> Actions:
        if epoch + 1 < self.epochs:
            return Actions(run=[trial_id])
        self.running -= 1
        self._decide(trial_id, epoch, "complete", "completed")
        self._completed(trial_id, value)
        return Actions(stop={trial_id: "completed"}).extend(self._fill())


class GridSearch(_FixedBudget):
    """Every point of the space's grid (``choice``/``grid`` dimensions crossed)."""

    def __init__(
        self,
        space: Mapping[str, Any],
        epochs: int,
        mode: str = "max",
        max_concurrent: int | None = None,
    ) -> None:
        super().__init__(epochs, mode, max_concurrent)
        self._points = grid_points(space)

    def _propose(self) -> dict[str, Any] | None:
        return self._points.pop(0) if self._points else None


class _Sampled(_FixedBudget):
    """``num_samples`` configurations of ``space``, each drawn by :meth:`_sample`."""

    def __init__(
        self,
        space: Mapping[str, Any],
        num_samples: int,
        epochs: int,
        mode: str,
        max_concurrent: int | None,
    ) -> None:
        super().__init__(epochs, mode, max_concurrent)
        if num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}")
        self.space = dict(space)
        self.remaining = num_samples

    @abstractmethod
    def _sample(self) -> dict[str, Any]:
        """The next configuration."""

    def _propose(self) -> dict[str, Any] | None:
        if self.remaining == 0:
            return None
        self.remaining -= 1
        return self._sample()


class RandomSearch(_Sampled):
    """``num_samples`` configurations sampled from the space (seeded)."""

    def __init__(
        self,
        space: Mapping[str, Any],
        num_samples: int,
        epochs: int,
        seed: int = 0,
        mode: str = "max",
        max_concurrent: int | None = None,
    ) -> None:
        super().__init__(space, num_samples, epochs, mode, max_concurrent)
        self.rng = np.random.default_rng(seed)

    def _sample(self) -> dict[str, Any]:
        return sample(self.space, self.rng)


class TPESearch(_Sampled):
    """Tree-structured Parzen estimators (optuna's ``TPESampler``, ask/tell): each
    new configuration is proposed from the final values of the completed ones
    (a value is told when its trial completes). ``max_concurrent`` trials train
    at once; the first ``n_startup`` configurations are random.

    ``choice``/``grid`` values that optuna cannot store (lists, tuples, dicts) are
    searched by their index, so the study's params show the index; the trial's
    params always hold the value itself.
    """

    def __init__(
        self,
        space: Mapping[str, Any],
        num_samples: int,
        epochs: int,
        seed: int = 0,
        mode: str = "max",
        max_concurrent: int = 2,
        n_startup: int = 5,
    ) -> None:
        super().__init__(space, num_samples, epochs, mode, max_concurrent)
        try:
            import optuna
        except ImportError as exc:
            raise ImportError(f"TPESearch needs optuna: {INSTALL_SELECTION}") from exc
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.searched = {
            k: _OptunaDimension(k, v) for k, v in self.space.items() if isinstance(v, Dimension)
        }
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup)
        direction = "maximize" if mode == "max" else "minimize"
        self.study = optuna.create_study(sampler=sampler, direction=direction)
        self.asked: dict[int, Any] = {}  # our trial id -> optuna's trial, until told

    def _sample(self) -> dict[str, Any]:
        asked = self.study.ask({k: d.distribution for k, d in self.searched.items()})
        # _fill() turns this proposal into the next trial, so it gets self._next_id.
        self.asked[self._next_id] = asked
        return {
            k: self.searched[k].decode(asked.params[k]) if k in self.searched else v
            for k, v in self.space.items()
        }

    def _completed(self, trial_id: int, value: float) -> None:
        self.study.tell(self.asked.pop(trial_id), value)


_OPTUNA_CHOICE_TYPES = (type(None), bool, int, float, str)


class _OptunaDimension:
    """A dimension as an optuna distribution, and the way back to its value."""

    def __init__(self, name: str, dim: Dimension) -> None:
        import optuna.distributions as d

        self.values: tuple[Any, ...] | None = None  # set when choices go by index
        if isinstance(dim, Choice):
            if all(isinstance(v, _OPTUNA_CHOICE_TYPES) for v in dim.values):
                self.distribution: Any = d.CategoricalDistribution(list(dim.values))
            else:
                self.values = dim.values
                self.distribution = d.CategoricalDistribution(list(range(len(dim.values))))
        elif isinstance(dim, LogUniform):
            self.distribution = d.FloatDistribution(dim.low, dim.high, log=True)
        elif isinstance(dim, Uniform):
            self.distribution = d.FloatDistribution(dim.low, dim.high)
        elif isinstance(dim, RandInt):
            self.distribution = d.IntDistribution(
                dim.low, dim.high - 1
            )  # optuna's high is inclusive
        else:
            raise ValueError(f"TPESearch cannot search {name!r} ({dim!r})")

    def decode(self, value: Any) -> Any:
        return value if self.values is None else self.values[value]

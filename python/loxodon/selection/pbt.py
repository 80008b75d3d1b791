"""Population-based training (Jaderberg et al., 2017) as a search strategy.

A population of trials, sampled from the space, trains in generations of
``ready_epochs`` epochs. When every live trial has finished a generation, the
bottom ``quantile`` (by the last objective) is replaced: each loser stops, and
a NEW trial continues from a copy of a random top-quantile trial's state
(weights and optimizer variables, through the model store: EXPLOIT) with that
trial's params perturbed (EXPLORE). The others train on. Trials end at
``max_epochs``.

Synchronous generations (not Ray Tune's asynchronous PBT) make a search
depend only on its seed and the values reported, never on timing, and every
donor is paused at the generation's boundary when it is copied, so its state
is exactly the one it reported.

An exploit is a new trial (``Trial.parent`` = the donor, ``start_epoch`` = the
generation's boundary) rather than the loser restarted: a trial's params and
its state then never change under it, its history stays one line of epochs,
and the lineage is the chain of parents (``SelectionResult.lineage``).

Only training-time params may be searched (``learning_rate``, set on the
optimizer's rate variable, and ``batch_size``): a child trains the donor's
weights, so it must have the donor's architecture.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from loxodon.selection.space import Choice, Dimension, LogUniform, RandInt, Uniform, sample
from loxodon.selection.strategies import Actions, SearchStrategy

TRAINING_PARAMS = ("learning_rate", "batch_size")
"""The params PBT may search: the engine applies them without a new architecture."""


class PBT(SearchStrategy):
    """Synchronous population-based training over ``space`` (see the module docstring).

    Args:
        space: the search space; its dimensions must be ``TRAINING_PARAMS``
            (anything else the model needs is a constant).
        population_size: trials training at once, from first to last epoch.
        max_epochs: epochs every lineage trains.
        ready_epochs: the perturbation interval, in epochs.
        quantile: the fraction of the population replaced at each boundary
            (and the fraction donors are drawn from): ``ceil(n * quantile)``
            trials, at most half of them.
        resample_probability: the chance that a perturbed param is drawn
            afresh from its dimension instead of perturbed.
        factors: what a continuous (or integer) param is multiplied by, one
            drawn at random; the product is clipped to the dimension's bounds.
            A choice moves to a neighbouring value instead (clipped at the ends).
        seed: every sample, donor and perturbation.
        mode: ``"max"`` or ``"min"`` the objective.
    """

    def __init__(
        self,
        space: Mapping[str, Any],
        population_size: int,
        max_epochs: int,
        ready_epochs: int,
        quantile: float = 0.25,
        resample_probability: float = 0.25,
        factors: Sequence[float] = (0.8, 1.2),
        seed: int = 0,
        mode: str = "max",
    ) -> None:
        super().__init__(mode)
        if population_size < 2:
            raise ValueError(f"population_size must be at least 2, got {population_size}")
        if not 1 <= ready_epochs <= max_epochs:
            raise ValueError(
                f"need 1 <= ready_epochs <= max_epochs, got {ready_epochs}, {max_epochs}"
            )
        if not 0 < quantile <= 0.5:
            raise ValueError(f"quantile must be in (0, 0.5], got {quantile}")
        if not 0 <= resample_probability <= 1:
            raise ValueError(f"resample_probability must be in [0, 1], got {resample_probability}")
        if not factors or any(f <= 0 for f in factors):
            raise ValueError(f"factors must be positive numbers, got {factors!r}")
        self.space = dict(space)
        self.searched = _perturbable(self.space)
        self.population_size = population_size
        self.max_epochs = max_epochs
        self.ready_epochs = ready_epochs
        self.quantile = quantile
        self.resample_probability = resample_probability
        self.factors = tuple(float(f) for f in factors)
        self.rng = np.random.default_rng(seed)
        self.params: dict[int, dict[str, Any]] = {}
        self.live: set[int] = set()
        self.waiting: set[int] = set()
        self.completed: set[int] = set()
        self.generation = 0

    def start(self) -> Actions:
        actions = Actions()
        for _ in range(self.population_size):
            trial = self._new_trial(sample(self.space, self.rng))
            self.params[trial.trial_id] = trial.params
            self.live.add(trial.trial_id)
            actions.add.append(trial)
        return actions

    def next_decision(self, trial_id: int, epochs_done: int) -> int:
        return min(self.max_epochs, (epochs_done // self.ready_epochs + 1) * self.ready_epochs)

    def on_epoch(self, trial_id: int, epoch: int, value: float) -> Actions:
        done = epoch + 1
        if done >= self.max_epochs:
            self.live.discard(trial_id)
            self.completed.add(trial_id)
            self._decide(trial_id, epoch, "complete", "completed", self.generation)
            return Actions(stop={trial_id: "completed"})
        if done % self.ready_epochs:
            return Actions(run=[trial_id])
        self.waiting.add(trial_id)
        if self.waiting != self.live:
            return Actions()  # wait at the boundary for the rest of the population
        return self._exploit(done)

    def best(self) -> int | None:
        """The best trial among those that trained ``max_epochs`` (a replaced
        trial's last value is from an earlier epoch)."""
        if not self.completed:
            return super().best()
        sign = 1.0 if self.mode == "max" else -1.0
        return min(self.completed, key=lambda t: (-sign * self.values[t][-1], t))

    def _exploit(self, done: int) -> Actions:
        """The generation's decision: the bottom quantile replaced by perturbed
        copies of the top quantile, the rest trained on."""
        sign = -1.0 if self.mode == "max" else 1.0
        ranked = sorted(self.live, key=lambda t: (sign * self.values[t][-1], t))
        n = len(ranked)
        k = min(math.ceil(n * self.quantile), n // 2)
        top, bottom, survivors = ranked[:k], ranked[n - k :], ranked[: n - k]
        g, epoch = self.generation, done - 1
        actions = Actions(run=sorted(survivors))
        for t in survivors:
            self._decide(t, epoch, "continue", f"generation {g}: not in the bottom {k} of {n}", g)
        for loser in bottom:
            donor = top[int(self.rng.integers(len(top)))]
            params = self._explore(self.params[donor])
            child = self._new_trial(params, parent=donor, start_epoch=done)
            c = child.trial_id
            reason = f"generation {g}: in the bottom {k} of {n}; trial {c} continues trial {donor}"
            actions.stop[loser] = reason
            self._decide(loser, epoch, "stop", reason, g)
            self._decide(
                c,
                epoch,
                "exploit",
                f"generation {g}: trial {donor}'s state after epoch {done}, perturbed params, "
                f"in place of trial {loser}",
                g,
                value=self.values[donor][-1],
                donor=donor,
                replaced=loser,
                params=dict(params),
            )
            self.params[c] = child.params
            actions.add.append(child)
        self.live = set(survivors) | {t.trial_id for t in actions.add}
        self.waiting = set()
        self.generation += 1
        return actions

    def _explore(self, params: dict[str, Any]) -> dict[str, Any]:
        """The donor's params, each searched one resampled (``resample_probability``)
        or perturbed, within its dimension's bounds."""
        new = dict(params)
        for key, dim in self.searched.items():
            if self.rng.random() < self.resample_probability:
                new[key] = dim.sample(self.rng)
            elif isinstance(dim, Choice):
                i = dim.values.index(new[key]) + (1 if self.rng.random() < 0.5 else -1)
                new[key] = dim.values[min(max(i, 0), len(dim.values) - 1)]
            else:
                factor = self.factors[int(self.rng.integers(len(self.factors)))]
                new[key] = _clip(dim, new[key] * factor)
        return new


def _clip(dim: Dimension, value: float) -> float | int:
    if isinstance(dim, RandInt):
        return int(min(max(round(value), dim.low), dim.high - 1))
    assert isinstance(dim, Uniform | LogUniform)
    return float(min(max(value, dim.low), dim.high))


def _perturbable(space: Mapping[str, Any]) -> dict[str, Dimension]:
    """The space's dimensions; refuses any PBT cannot perturb under a running model."""
    searched = {k: v for k, v in space.items() if isinstance(v, Dimension)}
    for key, dim in searched.items():
        if key not in TRAINING_PARAMS:
            raise ValueError(
                f"PBT can search only training-time params {TRAINING_PARAMS}, not {key!r} "
                f"({dim!r}): a child continues from its donor's weights, so it keeps the "
                f"donor's architecture; make {key!r} a constant, or search it with another "
                "strategy"
            )
        if not isinstance(dim, Choice | Uniform | LogUniform | RandInt):
            raise ValueError(f"PBT cannot perturb {key!r}: unknown dimension {dim!r}")
    return searched

"""Early-stopping searches by successive halving: Hyperband and ASHA.

Budgets are in epochs. Both stop the configurations their rule says to stop
and record each decision with its rung and bracket.

* :class:`Hyperband` (Li et al., JMLR 2018) runs all its brackets at once
  (the engine interleaves them on the same workers); inside a bracket,
  successive halving is synchronous: a rung is decided when every live trial
  of the bracket has reached it.
* :class:`ASHA` (Li et al., MLSys 2020) decides each trial alone, the moment
  it reaches a rung, against the values recorded at that rung so far: the
  "stopping" variant (as Ray Tune's ``AsyncHyperBandScheduler``), not the
  promote-from-paused one, so no trial ever waits. Unlike Ray Tune, the
  arriving value is part of the values its cutoff is taken from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from loxodon.selection.space import sample
from loxodon.selection.strategies import Actions, SearchStrategy


def hyperband_brackets(
    max_epochs: int, eta: int, min_epochs: int = 1
) -> list[list[tuple[int, int]]]:
    """Each bracket's rungs as (trials, epochs) pairs, most exploratory bracket first.

    With R = max_epochs / min_epochs and s_max = floor(log_eta R), bracket s
    starts n = ceil((s_max + 1) / (s + 1) * eta^s) trials at r = R eta^-s
    units; rung i keeps floor(n eta^-i) trials (at least 1) at r eta^i units.
    Epoch budgets are r eta^i x min_epochs rounded half up to an integer, at
    least 1 and at most max_epochs; with eta >= 2 consecutive rungs of a bracket
    stay distinct after rounding, and the last rung of every bracket is
    exactly max_epochs.
    """
    if eta < 2:
        raise ValueError(f"eta must be at least 2, got {eta}")
    if max_epochs < min_epochs or min_epochs < 1:
        raise ValueError(f"need 1 <= min_epochs <= max_epochs, got {min_epochs}, {max_epochs}")
    r_max = max_epochs / min_epochs
    s_max = int(math.floor(math.log(r_max, eta) + 1e-9))
    brackets = []
    for s in range(s_max, -1, -1):
        n = int(math.ceil((s_max + 1) / (s + 1) * eta**s))
        r = r_max * eta**-s
        rungs = []
        for i in range(s + 1):
            trials = max(1, int(math.floor(n * eta**-i)))
            epochs = max(1, math.floor(r * eta**i * min_epochs + 0.5))
            rungs.append((trials, min(epochs, max_epochs)))
        brackets.append(rungs)
    return brackets


class Hyperband(SearchStrategy):
    """Hyperband over ``space``: every bracket at once, synchronous halving within each.

    Bracket 0 is the most exploratory (most trials, fewest epochs at its first
    rung; see :func:`hyperband_brackets`); trial ids run through the brackets in
    order. When every live trial of a bracket has completed a rung's epochs, the
    best ``floor(n / eta)`` of the ``n`` (the next rung's size) go on and the rest
    stop; equal values rank the lower trial id first. Trials that reached the
    rung early wait (neither run nor stopped) until that decision.
    """

    def __init__(
        self,
        space: Mapping[str, Any],
        max_epochs: int,
        eta: int = 3,
        min_epochs: int = 1,
        seed: int = 0,
        mode: str = "max",
    ) -> None:
        super().__init__(mode)
        self.brackets = hyperband_brackets(max_epochs, eta, min_epochs)
        self.max_epochs = max_epochs
        self.eta = eta
        self.rng = np.random.default_rng(seed)
        self.space = dict(space)
        self.bracket_of: dict[int, int] = {}
        self.rung_of: dict[int, int] = {}  # the rung each live trial is training towards
        self.live: dict[int, set[int]] = {}
        self.waiting: dict[int, set[int]] = {}

    def start(self) -> Actions:
        actions = Actions()
        for b, rungs in enumerate(self.brackets):
            self.live[b], self.waiting[b] = set(), set()
            for _ in range(rungs[0][0]):
                trial = self._new_trial(sample(self.space, self.rng), bracket=b)
                self.bracket_of[trial.trial_id] = b
                self.rung_of[trial.trial_id] = 0
                self.live[b].add(trial.trial_id)
                actions.add.append(trial)
        return actions

    def next_decision(self, trial_id: int, epochs_done: int) -> int:
        return self.brackets[self.bracket_of[trial_id]][self.rung_of[trial_id]][1]

    def on_epoch(self, trial_id: int, epoch: int, value: float) -> Actions:
        b = self.bracket_of[trial_id]
        rungs = self.brackets[b]
        rung = self.rung_of[trial_id]
        if epoch + 1 < rungs[rung][1]:
            return Actions(run=[trial_id])
        if rung == len(rungs) - 1:
            self.live[b].discard(trial_id)
            self._decide(trial_id, epoch, "complete", "completed", rung, b)
            return Actions(stop={trial_id: "completed"})
        self.waiting[b].add(trial_id)
        if self.waiting[b] != self.live[b]:
            return Actions()  # wait at the rung for the bracket's other trials
        return self._halve(b, rung, epoch)

    def _halve(self, b: int, rung: int, epoch: int) -> Actions:
        keep_n = self.brackets[b][rung + 1][0]
        sign = -1.0 if self.mode == "max" else 1.0
        ranked = sorted(self.live[b], key=lambda t: (sign * self.values[t][-1], t))
        keep, drop = ranked[:keep_n], ranked[keep_n:]
        actions = Actions(run=sorted(keep))
        for t in keep:
            self.rung_of[t] = rung + 1
            self._decide(t, epoch, "promote", f"rung {rung} of bracket {b}: top {keep_n}", rung, b)
        for t in drop:
            reason = f"rung {rung} of bracket {b}: not in the top {keep_n} of {len(ranked)}"
            actions.stop[t] = reason
            self._decide(t, epoch, "stop", reason, rung, b)
        self.live[b] = set(keep)
        self.waiting[b] = set()
        return actions


class ASHA(SearchStrategy):
    """Asynchronous successive halving, one bracket.

    Rungs sit at ``min_epochs * eta^k`` epochs below ``max_epochs``. When a trial
    completes a rung's epochs, its value joins the values recorded at that rung,
    and the trial goes on iff its value is at least the ``1 - 1/eta`` quantile of
    them (NumPy's ``percentile``, linear interpolation; ``mode="min"`` negates
    the values first). So the first trial at a rung always goes on, and a value
    equal to the cutoff (a tie) goes on. A trial that does not go on is stopped
    at once; nothing is revoked later. A trial reaching ``max_epochs`` completes.
    New trials start while fewer than ``max_concurrent`` train, until
    ``num_samples`` exist.
    """

    def __init__(
        self,
        space: Mapping[str, Any],
        num_samples: int,
        max_epochs: int,
        min_epochs: int = 1,
        eta: int = 3,
        seed: int = 0,
        mode: str = "max",
        max_concurrent: int = 4,
    ) -> None:
        super().__init__(mode)
        if eta < 2:
            raise ValueError(f"eta must be at least 2, got {eta}")
        if not 1 <= min_epochs <= max_epochs:
            raise ValueError(f"need 1 <= min_epochs <= max_epochs, got {min_epochs}, {max_epochs}")
        if num_samples < 1 or max_concurrent < 1:
            raise ValueError(
                f"num_samples and max_concurrent must be at least 1, got {num_samples}, "
                f"{max_concurrent}"
            )
        self.space = dict(space)
        self.num_samples = num_samples
        self.max_epochs = max_epochs
        self.eta = eta
        self.max_concurrent = max_concurrent
        self.rng = np.random.default_rng(seed)
        self.rungs: list[int] = []
        budget = min_epochs
        while budget < max_epochs:
            self.rungs.append(budget)
            budget *= eta
        self.recorded: dict[int, list[float]] = {r: [] for r in self.rungs}
        self.running: set[int] = set()
        self.created = 0

    def _fill(self) -> Actions:
        actions = Actions()
        while len(self.running) < self.max_concurrent and self.created < self.num_samples:
            trial = self._new_trial(sample(self.space, self.rng))
            self.created += 1
            self.running.add(trial.trial_id)
            actions.add.append(trial)
        return actions

    def start(self) -> Actions:
        return self._fill()

    def next_decision(self, trial_id: int, epochs_done: int) -> int:
        return min([r for r in self.rungs if r > epochs_done] + [self.max_epochs])

    def on_epoch(self, trial_id: int, epoch: int, value: float) -> Actions:
        done = epoch + 1
        if done >= self.max_epochs:
            return self._end(trial_id, epoch, "complete", "completed", len(self.rungs))
        if done not in self.recorded:
            return Actions(run=[trial_id])
        rung = self.rungs.index(done)
        values = self.recorded[done]
        values.append(value)
        signed = np.asarray(values) if self.mode == "max" else -np.asarray(values)
        cutoff = float(np.percentile(signed, (1 - 1 / self.eta) * 100))
        mine = value if self.mode == "max" else -value
        if mine >= cutoff:
            self._decide(trial_id, epoch, "promote", f"rung {rung}: in the top 1/{self.eta}", rung)
            return Actions(run=[trial_id])
        reason = f"rung {rung} at epoch {done}: below the top 1/{self.eta} of {len(values)}"
        return self._end(trial_id, epoch, "stop", reason, rung)

    def _end(self, trial_id: int, epoch: int, action: str, reason: str, rung: int) -> Actions:
        self.running.discard(trial_id)
        self._decide(trial_id, epoch, action, reason, rung)
        return Actions(stop={trial_id: reason}).extend(self._fill())

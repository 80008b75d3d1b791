"""Search strategies on scripted metrics (no Spark): spaces, grid and random
budgets, Hyperband's brackets and synchronous halving, ASHA's asynchronous
promotions, TPE on a known objective, plots and tracking."""

from __future__ import annotations

import sys
import types
from collections import deque

import numpy as np
import pytest

from loxodon.selection import (
    ASHA,
    GridSearch,
    Hyperband,
    RandomSearch,
    TPESearch,
    choice,
    grid,
    grid_points,
    hyperband_brackets,
    sample,
    uniform,
)
from loxodon.selection.plots import gantt, learning_curves
from loxodon.selection.strategies import Trial
from loxodon.selection.tracking import Tracker, tracker


def drive(strategy, curve, order: str = "fifo", max_steps: int = 10_000):
    """A tiny engine: trains trials one epoch at a time (FIFO, or LIFO to interleave
    differently), reports ``curve(trial, epoch)``; returns epochs run per trial and
    the peak number of trials training at once."""
    actions = strategy.start()
    params: dict[int, dict] = {}
    epochs: dict[int, int] = {}
    queue: deque[int] = deque()
    peak = 0

    def apply(a):
        for t in a.add:
            params[t.trial_id] = t.params
            epochs[t.trial_id] = 0
            queue.append(t.trial_id)
        queue.extend(a.run)
        for t in a.stop:
            assert t not in queue, f"trial {t} stopped while queued"

    apply(actions)
    for _ in range(max_steps):
        if not queue:
            break
        peak = max(peak, len(set(queue)))
        t = queue.popleft() if order == "fifo" else queue.pop()
        e = epochs[t]
        epochs[t] += 1
        apply(strategy.report(t, e, curve(params[t], t, e)))
    assert not queue, "the search did not end"
    return epochs, peak


def test_grid_points_cross_choices_and_refuse_continuous_dims():
    space = {"a": grid([1, 2]), "b": choice(["x", "y", "z"]), "c": 7}
    points = grid_points(space)
    assert len(points) == 6
    assert points[0] == {"a": 1, "b": "x", "c": 7} and points[-1] == {"a": 2, "b": "z", "c": 7}
    with pytest.raises(ValueError, match="'lr' is a continuous dimension"):
        grid_points({"lr": uniform(0.1, 0.2)})
    s1 = sample({"lr": uniform(0.1, 0.2), "a": choice([1, 2])}, np.random.default_rng(3))
    s2 = sample({"lr": uniform(0.1, 0.2), "a": choice([1, 2])}, np.random.default_rng(3))
    assert s1 == s2 and 0.1 <= s1["lr"] < 0.2


def test_grid_and_random_train_every_trial_exactly_its_epochs():
    g = GridSearch({"u": grid([1, 2, 3, 4])}, epochs=3, max_concurrent=2)
    epochs, peak = drive(g, lambda p, t, e: p["u"] * 0.1 + e * 0.01)
    assert epochs == {0: 3, 1: 3, 2: 3, 3: 3} and peak == 2
    assert g.best() == 3
    assert [d["action"] for d in g.decisions] == ["complete"] * 4

    r = RandomSearch({"x": uniform(0, 1)}, num_samples=5, epochs=2, seed=1)
    epochs, _ = drive(r, lambda p, t, e: p["x"])
    assert sorted(epochs.values()) == [2] * 5


def test_hyperband_brackets_are_the_textbook_ones():
    assert hyperband_brackets(9, 3) == [
        [(9, 1), (3, 3), (1, 9)],
        [(5, 3), (1, 9)],
        [(3, 9)],
    ]
    assert hyperband_brackets(81, 3)[0][0] == (81, 1)


def test_hyperband_halves_each_bracket_synchronously():
    hb = Hyperband({"q": uniform(0, 1)}, max_epochs=9, eta=3, seed=0)

    def curve(params, t, e):
        return t + e * 0.001  # a higher trial id is a better trial

    epochs, _ = drive(hb, curve)
    assert len(epochs) == 9 + 5 + 3
    # Bracket 0 (trials 0-8): rung 0 keeps the top 3 (6, 7, 8), rung 1 keeps 8.
    assert {t: epochs[t] for t in range(9)} == {
        **{t: 1 for t in range(6)},
        6: 3,
        7: 3,
        8: 9,
    }
    # Bracket 1 (trials 9-13): 5 at 3 epochs, the best (13) goes to 9.
    assert {t: epochs[t] for t in range(9, 14)} == {9: 3, 10: 3, 11: 3, 12: 3, 13: 9}
    # Bracket 2 (trials 14-16): 3 trials, 9 epochs each.
    assert all(epochs[t] == 9 for t in (14, 15, 16))
    stops = [d for d in hb.decisions if d["action"] == "stop"]
    assert {d["trial_id"] for d in stops if d["bracket"] == 0 and d["rung"] == 0} == set(range(6))
    assert all("bracket" in d["reason"] for d in stops)


def test_hyperband_never_stops_a_trial_before_its_peers_reach_the_rung():
    hb = Hyperband({"q": uniform(0, 1)}, max_epochs=9, eta=3, seed=0)
    actions = hb.start()
    first = [t.trial_id for t in actions.add if t.bracket == 0]
    # Eight of bracket 0's nine trials reach rung 0: nothing is decided yet.
    for t in first[:8]:
        assert hb.report(t, 0, 0.5).stop == {}
    decided = hb.report(first[8], 0, 0.9)
    assert len(decided.stop) == 6 and first[8] in decided.run


def test_asha_promotes_early_arrivals_that_synchronous_halving_would_stop():
    asha = ASHA({"x": uniform(0, 1)}, num_samples=4, max_epochs=4, eta=2, max_concurrent=4)
    trials = [t.trial_id for t in asha.start().add]
    assert trials == [0, 1, 2, 3]
    # Rung 0 (1 epoch): trial 0 arrives first with 0.1 and is promoted (alone at the
    # rung); later and better arrivals do not revoke that.
    assert asha.report(0, 0, 0.1).run == [0]
    assert asha.report(1, 0, 0.9).run == [1]
    a2 = asha.report(2, 0, 0.2)  # the median of (0.1, 0.9, 0.2) is 0.2: promoted
    assert a2.run == [2]
    a3 = asha.report(3, 0, 0.05)
    assert 3 in a3.stop and "rung 0" in a3.stop[3]
    # A synchronous rule (top half of 4 values at rung 0) would have kept only 1 and 2.
    promoted = {d["trial_id"] for d in asha.decisions if d["action"] == "promote"}
    assert promoted == {0, 1, 2}


def test_asha_respects_max_concurrent_and_num_samples():
    asha = ASHA({"x": uniform(0, 1)}, num_samples=10, max_epochs=9, eta=3, max_concurrent=3)
    epochs, peak = drive(asha, lambda p, t, e: p["x"] + 0.01 * e, order="lifo")
    assert len(epochs) == 10 and peak <= 3
    assert max(epochs.values()) == 9
    assert all(v in (1, 3, 9) for v in epochs.values())


def test_tpe_finds_the_optimum_of_a_scripted_objective():
    def run(seed):
        tpe = TPESearch({"x": uniform(0, 1)}, num_samples=30, epochs=1, seed=seed)
        drive(tpe, lambda p, t, e: -((p["x"] - 0.3) ** 2))
        return tpe

    tpe = run(4)
    best = tpe.best()
    xs = {t.number: t.params["x"] for t in tpe.study.trials}
    assert abs(xs[best] - 0.3) < 0.1
    assert [t.params for t in run(4).study.trials] == [t.params for t in tpe.study.trials]


def test_plots_write_pngs(tmp_path):
    history = [
        {"trial_id": t, "epoch": e, "val_accuracy": 0.5 + 0.1 * e}
        for t in (0, 1)
        for e in range(3 - t)
    ]
    schedule = [
        {
            "worker": w,
            "trial_id": t,
            "epoch": 0,
            "partition": w,
            "kind": k,
            "start_s": s,
            "end_s": s + 1.0,
            "status": "done",
        }
        for w, t, k, s in [(0, 0, "train", 0.0), (1, 1, "train", 0.0), (0, 1, "eval", 1.0)]
    ]
    a = learning_curves(history, "val_accuracy", str(tmp_path / "c.png"))
    b = gantt(schedule, str(tmp_path / "g.png"))
    for path in (a, b):
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_tracking_is_a_noop_without_mlflow_and_nests_runs_with_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import fails
    assert type(tracker()) is Tracker

    calls = []

    class Info:
        def __init__(self, run_id):
            self.run_id, self.experiment_id = run_id, "exp"

    class Run:
        def __init__(self, run_id):
            self.info = Info(run_id)

    class Client:
        def create_run(self, experiment_id, tags):
            calls.append(("create_run", tags["mlflow.parentRunId"], tags["mlflow.runName"]))
            return Run(f"r{len(calls)}")

        def log_param(self, run_id, k, v):
            calls.append(("param", run_id, k, v))

        def log_metric(self, run_id, k, v, step):
            calls.append(("metric", run_id, k, v, step))

        def set_tag(self, run_id, k, v):
            calls.append(("tag", run_id, k, v))

        def set_terminated(self, run_id):
            calls.append(("end", run_id))

    fake = types.SimpleNamespace(
        start_run=lambda run_name: calls.append(("start", run_name)) or Run("parent"),
        log_params=lambda p: calls.append(("params", p)),
        end_run=lambda: calls.append(("end_parent",)),
        tracking=types.SimpleNamespace(MlflowClient=Client),
    )
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    t = tracker()
    t.start_search("s", {"n": 2})
    t.start_trial(Trial(0, {"lr": 0.1}))
    t.log_epoch(0, 1, {"val_accuracy": 0.8})
    t.end_trial(0, "completed")
    t.end_search()
    assert ("create_run", "parent", "trial-0") in calls
    assert ("param", "r3", "lr", 0.1) in calls
    assert ("metric", "r3", "val_accuracy", 0.8, 1) in calls
    assert calls[-1] == ("end_parent",)


def test_tensorboard_scalars_per_trial(tmp_path, monkeypatch):
    import tensorflow as tf

    monkeypatch.setitem(sys.modules, "mlflow", None)
    t = tracker(tensorboard_dir=str(tmp_path))
    t.start_search("s", {})
    t.start_trial(Trial(3, {"lr": 0.1}))
    t.log_epoch(3, 0, {"val_accuracy": 0.5})
    t.log_epoch(3, 1, {"val_accuracy": 0.75})
    t.end_search()
    seen = []
    for path in (tmp_path / "trial-3").iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                seen.append((event.step, value.tag, float(tf.make_ndarray(value.tensor))))
    assert seen == [(0, "val_accuracy", 0.5), (1, "val_accuracy", 0.75)]

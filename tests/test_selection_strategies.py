"""Search strategies on scripted metrics (no Spark, no Keras): spaces, grid and
random budgets, Hyperband's brackets and synchronous halving, ASHA's
asynchronous promotions, TPE on a known objective, plots and tracking.

Every strategy runs under :func:`drive`, a tiny engine that checks the
contract the real one relies on (no action on an ended trial, no trial left
paused, the concurrency bound) while it feeds scripted values."""

from __future__ import annotations

import re
import sys
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import mlflow
import numpy as np
import pytest

from loxodon.selection import (
    ASHA,
    GridSearch,
    Hyperband,
    RandomSearch,
    TPESearch,
    Tracker,
    Trial,
    choice,
    gantt,
    grid,
    grid_points,
    hyperband_brackets,
    learning_curves,
    loguniform,
    randint,
    sample,
    tracker,
    uniform,
)
from loxodon.selection.tracking import MlflowTracker


@dataclass
class Run:
    """What :func:`drive` saw."""

    params: dict[int, dict] = field(default_factory=dict)
    brackets: dict[int, int] = field(default_factory=dict)
    epochs: dict[int, int] = field(default_factory=dict)  # epochs trained per trial
    reasons: dict[int, str] = field(default_factory=dict)  # why each trial ended
    peak: int = 0  # most trials training at once
    stops: list[tuple[int, str, dict[int, int]]] = field(default_factory=list)
    # (trial, reason, epochs of every trial still live just before the stop)


def drive(strategy, value, order: str = "fifo", max_reports: int = 10_000) -> Run:
    """Trains one epoch at a time (the oldest request first, or the newest with
    ``order="lifo"``) and reports ``value(run, trial_id, epoch)``. The engine asks
    a running trial's epochs up to ``next_decision`` at once: before then, every
    report must let the trial train on."""
    run = Run()
    training: deque[int] = deque()
    promised: dict[int, int] = {}

    def start(t):
        training.append(t)
        promised[t] = strategy.next_decision(t, run.epochs[t])
        assert promised[t] > run.epochs[t], "a running trial trains at least one more epoch"

    def apply(actions):
        live = {t: run.epochs[t] for t in run.epochs if t not in run.reasons}
        for trial in actions.add:
            assert trial.trial_id == len(run.epochs), "trial ids go 0, 1, 2 ... in order"
            if trial.parent is not None:  # it continues the paused parent's last state
                assert trial.parent in live and trial.parent not in training, trial
                assert live[trial.parent] == trial.start_epoch, trial
            run.params[trial.trial_id] = trial.params
            run.brackets[trial.trial_id] = trial.bracket
            run.epochs[trial.trial_id] = trial.start_epoch
            start(trial.trial_id)
        for t in actions.run:
            assert t in live and t not in training, f"run {t}: not a paused live trial"
            assert run.epochs[t] >= promised[t] or promised[t] == strategy.next_decision(
                t, run.epochs[t]
            ), f"trial {t}: the decision promised at epoch {promised[t]} moved"
            start(t)
        for t, reason in actions.stop.items():
            assert t in live and t not in training, f"stop {t}: not a paused live trial"
            run.reasons[t] = reason
            run.stops.append((t, reason, live))
        run.peak = max(run.peak, len(training))

    apply(strategy.start())
    for _ in range(max_reports):
        if not training:
            break
        t = training.popleft() if order == "fifo" else training.pop()
        epoch = run.epochs[t]
        run.epochs[t] += 1
        actions = strategy.report(t, epoch, value(run, t, epoch))
        if run.epochs[t] < promised[t]:
            assert actions.run == [t] and not actions.stop, (
                f"trial {t} was promised {promised[t]} epochs, decided after {run.epochs[t]}"
            )
        apply(actions)
    assert not training, "the search did not end"
    assert set(run.reasons) == set(run.epochs), "a trial was left paused"
    return run


def table(values: dict[int, list[float]]):
    """A scripted objective: ``values[trial][epoch]``."""
    return lambda run, t, epoch: values[t][epoch]


def param(name: str, fn=lambda v: v):
    """An objective computed from a trial's param (``fn(value)``, the same every epoch)."""
    return lambda run, t, epoch: fn(run.params[t][name])


def test_grid_points_cross_choice_and_grid_dims_in_a_stable_order():
    space = {"a": grid([1, 2]), "b": choice(["x", "y", "z"]), "c": 7}
    assert grid_points(space) == [{"a": a, "b": b, "c": 7} for a in (1, 2) for b in ("x", "y", "z")]
    assert grid_points({"n": randint(2, 5)}) == [{"n": 2}, {"n": 3}, {"n": 4}]
    for dim in (uniform(0.1, 0.2), loguniform(1e-4, 1e-1)):
        with pytest.raises(ValueError, match=r"'lr' is a continuous dimension.*choice\(\)"):
            grid_points({"a": grid([1, 2]), "lr": dim})


def test_sample_is_seeded_and_keeps_constants_and_ranges():
    space = {
        "lr": loguniform(1e-4, 1e-1),
        "u": uniform(-1, 1),
        "n": randint(3, 5),
        "act": choice(["relu", "tanh"]),
        "epochs": 4,
    }
    draws = [sample(space, np.random.default_rng(7)) for _ in range(2)]
    assert draws[0] == draws[1]
    many = [sample(space, rng) for rng in [np.random.default_rng(1)] for _ in range(200)]
    assert {d["n"] for d in many} == {3, 4}  # randint excludes high, like NumPy
    assert {d["act"] for d in many} == {"relu", "tanh"}
    assert all(1e-4 <= d["lr"] < 1e-1 and -1 <= d["u"] < 1 and d["epochs"] == 4 for d in many)
    with pytest.raises(ValueError, match="low < high"):
        randint(3, 3)
    with pytest.raises(ValueError, match="non-empty"):
        choice([])


def test_grid_search_trains_every_point_its_epochs_within_max_concurrent():
    g = GridSearch({"u": grid([1, 4, 3, 2])}, epochs=3, max_concurrent=2)
    run = drive(g, lambda run, t, e: run.params[t]["u"] * 0.1 + e * 0.01)
    assert [run.params[t]["u"] for t in range(4)] == [1, 4, 3, 2]
    assert run.epochs == {0: 3, 1: 3, 2: 3, 3: 3}
    assert run.reasons == {t: "completed" for t in range(4)}
    assert run.peak == 2
    assert g.best() == 1
    assert [(d["trial_id"], d["epoch"], d["action"]) for d in g.decisions] == [
        (0, 2, "complete"),
        (1, 2, "complete"),
        (2, 2, "complete"),
        (3, 2, "complete"),
    ]
    assert drive(GridSearch({"u": grid([1, 2, 3])}, epochs=1), param("u")).peak == 3


@pytest.mark.parametrize("max_concurrent", [None, 1, 3])
def test_random_search_trains_num_samples_seeded_trials_their_epochs(max_concurrent):
    def make(seed, mode="max"):
        space = {"x": uniform(0, 1)}
        return RandomSearch(space, 5, epochs=2, seed=seed, mode=mode, max_concurrent=max_concurrent)

    search = make(1)
    run = drive(search, param("x", lambda x: -x), order="lifo")
    assert run.epochs == {t: 2 for t in range(5)}
    assert run.reasons == {t: "completed" for t in range(5)}
    assert run.peak == (5 if max_concurrent is None else max_concurrent)
    # Same seed, same trials (whatever the order of arrivals); another seed, others.
    assert drive(make(1), param("x")).params == run.params
    assert drive(make(2), param("x")).params != run.params
    lowest = min(run.params, key=lambda t: run.params[t]["x"])
    assert search.best() == lowest  # the objective was -x
    minimising = make(1, mode="min")
    drive(minimising, param("x"))
    assert minimising.best() == lowest


def test_best_breaks_ties_by_the_lower_trial_id():
    g = GridSearch({"u": grid([1, 2, 3])}, epochs=1)
    drive(g, table({0: [0.5], 1: [0.9], 2: [0.9]}))
    assert g.best() == 1
    assert GridSearch({"u": grid([1])}, epochs=1).best() is None


def test_hyperband_brackets_are_the_textbook_ones():
    assert hyperband_brackets(9, 3) == [
        [(9, 1), (3, 3), (1, 9)],
        [(5, 3), (1, 9)],
        [(3, 9)],
    ]
    # Li et al. 2018, Table 1 (R = 81, eta = 3).
    assert hyperband_brackets(81, 3) == [
        [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
        [(34, 3), (11, 9), (3, 27), (1, 81)],
        [(15, 9), (5, 27), (1, 81)],
        [(8, 27), (2, 81)],
        [(5, 81)],
    ]
    # Budgets in min_epochs units; fractional budgets round half up.
    assert hyperband_brackets(27, 3, min_epochs=3) == [
        [(9, 3), (3, 9), (1, 27)],
        [(5, 9), (1, 27)],
        [(3, 27)],
    ]
    assert hyperband_brackets(10, 2)[0] == [(8, 1), (4, 3), (2, 5), (1, 10)]


def _hyperband_table() -> dict[int, list[float]]:
    """Objective per trial and epoch for Hyperband(max_epochs=9, eta=3): 17 trials,
    bracket 0 = trials 0-8, bracket 1 = 9-13, bracket 2 = 14-16."""
    values = {t: [0.0] * 9 for t in range(17)}
    # Bracket 0, rung 0 (epoch 1): the top 3 are 1, 5, 3.
    for t, v in {0: 0.5, 1: 0.9, 2: 0.1, 3: 0.7, 4: 0.3, 5: 0.8, 6: 0.2, 7: 0.6, 8: 0.4}.items():
        values[t][0] = v
    # Rung 1 (epoch 3): 5 overtakes 1, so 5 alone goes on.
    values[1][1:3] = [0.91, 0.92]
    values[3][1:3] = [0.75, 0.80]
    values[5][1:9] = [0.85, 0.95, 0.96, 0.96, 0.97, 0.97, 0.98, 0.98]
    # Bracket 1, rung 0 (epoch 3): only epoch 3 counts (epochs 1-2 rank the other way).
    for t, v in {9: 0.6, 10: 0.4, 11: 0.8, 12: 0.7, 13: 0.5}.items():
        values[t][:3] = [1 - v, 1 - v, v]
    return values


@pytest.mark.parametrize("mode", ["max", "min"])
@pytest.mark.parametrize("order", ["fifo", "lifo"])
def test_hyperband_halves_each_bracket_synchronously(order, mode):
    sign = 1.0 if mode == "max" else -1.0
    values = {t: [sign * v for v in vs] for t, vs in _hyperband_table().items()}
    hb = Hyperband({"q": uniform(0, 1)}, max_epochs=9, eta=3, seed=0, mode=mode)
    run = drive(hb, table(values), order=order)

    assert run.brackets == {t: 0 if t < 9 else 1 if t < 14 else 2 for t in range(17)}
    assert run.epochs == {
        **dict.fromkeys([0, 2, 4, 6, 7, 8], 1),
        **dict.fromkeys([1, 3], 3),
        5: 9,
        **dict.fromkeys([9, 10, 12, 13], 3),
        11: 9,
        **dict.fromkeys([14, 15, 16], 9),
    }
    decided = {(d["trial_id"], d["bracket"], d["rung"], d["action"]) for d in hb.decisions}
    assert decided == {
        *[(t, 0, 0, "promote") for t in (1, 3, 5)],
        *[(t, 0, 0, "stop") for t in (0, 2, 4, 6, 7, 8)],
        (5, 0, 1, "promote"),
        *[(t, 0, 1, "stop") for t in (1, 3)],
        (5, 0, 2, "complete"),
        (11, 1, 0, "promote"),
        *[(t, 1, 0, "stop") for t in (9, 10, 12, 13)],
        (11, 1, 1, "complete"),
        *[(t, 2, 0, "complete") for t in (14, 15, 16)],
    }
    assert len(hb.decisions) == len(decided)
    assert run.reasons[0] == "rung 0 of bracket 0: not in the top 3 of 9"
    assert run.reasons[1] == "rung 1 of bracket 0: not in the top 1 of 3"
    assert run.reasons[9] == "rung 0 of bracket 1: not in the top 1 of 5"
    assert run.reasons[5] == "completed"
    assert hb.best() == 5  # 0.98 (or -0.98) after 9 epochs

    # No rung decision before every live peer of the bracket completed the rung's epochs.
    budgets = hyperband_brackets(9, 3)
    for _trial, reason, live in run.stops:
        if reason == "completed":
            continue
        rung, bracket = (int(w) for w in reason.split(":")[0].split()[1::3])
        peers = {t: e for t, e in live.items() if run.brackets[t] == bracket}
        assert set(peers.values()) == {budgets[bracket][rung][1]}, (reason, peers)


def test_hyperband_trials_wait_at_a_rung_until_the_last_peer_arrives():
    hb = Hyperband({"q": uniform(0, 1)}, max_epochs=9, eta=3, seed=0)
    added = hb.start().add
    assert [len([t for t in added if t.bracket == b]) for b in range(3)] == [9, 5, 3]
    assert [t.params for t in added] == [
        t.params for t in Hyperband({"q": uniform(0, 1)}, max_epochs=9, eta=3, seed=0).start().add
    ]
    for t in range(8):
        waiting = hb.report(t, 0, t / 10)
        assert (waiting.add, waiting.run, waiting.stop) == ([], [], {})  # paused
    decided = hb.report(8, 0, 0.05)
    assert decided.run == [5, 6, 7]
    assert sorted(decided.stop) == [0, 1, 2, 3, 4, 8]


@pytest.mark.parametrize("mode", ["max", "min"])
def test_asha_decides_each_arrival_against_its_rung_so_far(mode):
    s = 1.0 if mode == "max" else -1.0
    asha = ASHA(
        {"x": uniform(0, 1)}, num_samples=5, max_epochs=9, eta=3, max_concurrent=3, mode=mode
    )
    assert [t.trial_id for t in asha.start().add] == [0, 1, 2]
    # Rungs at 1 and 3 epochs; cutoff = the 2/3 quantile of the rung's values so far.
    assert asha.report(0, 0, s * 0.5).run == [0]  # alone at rung 0: goes on
    second = asha.report(1, 0, s * 0.3)  # cutoff of (.5, .3) is .433
    assert second.stop == {1: "rung 0 at epoch 1: below the top 1/3 of 2"}
    assert [t.trial_id for t in second.add] == [3]  # a free slot: the next trial
    assert asha.report(2, 0, s * 0.7).run == [2]  # cutoff .567
    assert asha.report(3, 0, s * 0.55).run == [3]  # cutoff .55: a tie goes on
    for t in (0, 2):
        assert asha.report(t, 1, s * 0.1).run == [t]  # between rungs: train on
    assert asha.report(0, 2, s * 0.6).run == [0]  # alone at rung 1
    assert asha.report(2, 2, s * 0.8).run == [2]  # cutoff of (.6, .8) is .733
    asha.report(3, 1, s * 0.1)
    third = asha.report(3, 2, s * 0.58)  # cutoff of (.6, .8, .58) is .667
    assert list(third.stop) == [3] and [t.trial_id for t in third.add] == [4]
    last = asha.report(4, 0, s * 0.5)  # cutoff of (.5, .3, .7, .55, .5) is .533
    assert list(last.stop) == [4] and last.add == []  # num_samples reached
    for t in (0, 2):
        for epoch in range(3, 8):
            asha.report(t, epoch, s * 0.9)
        assert asha.report(t, 8, s * 0.9).stop == {t: "completed"}
    assert [(d["trial_id"], d["rung"], d["action"]) for d in asha.decisions] == [
        (0, 0, "promote"),
        (1, 0, "stop"),
        (2, 0, "promote"),
        (3, 0, "promote"),
        (0, 1, "promote"),
        (2, 1, "promote"),
        (3, 1, "stop"),
        (4, 0, "stop"),
        (0, 2, "complete"),
        (2, 2, "complete"),
    ]
    # Asynchronous: trial 0 went on from rung 0 on arrival with 0.5; a synchronous
    # rung over the same five values would have kept only the top floor(5/3) = 1: trial 2.
    assert asha.best() == 0


def test_asha_lets_ties_at_the_cutoff_go_on():
    asha = ASHA({"x": uniform(0, 1)}, num_samples=3, max_epochs=4, eta=2, max_concurrent=3)
    asha.start()
    assert [asha.report(t, 0, 0.4).run for t in range(3)] == [[0], [1], [2]]


@pytest.mark.parametrize("order", ["fifo", "lifo"])
def test_asha_respects_max_concurrent_and_num_samples(order):
    def search():
        return ASHA({"x": uniform(0, 1)}, num_samples=10, max_epochs=9, eta=3, max_concurrent=3)

    run = drive(search(), lambda run, t, e: run.params[t]["x"] + 0.01 * e, order=order)
    assert sorted(run.epochs) == list(range(10)) and run.peak == 3
    assert set(run.epochs.values()) <= {1, 3, 9} and max(run.epochs.values()) == 9
    expected_reason = {1: "rung 0 at epoch 1: below", 3: "rung 1 at epoch 3: below", 9: "completed"}
    for t, reason in run.reasons.items():
        assert reason.startswith(expected_reason[run.epochs[t]]), (t, reason)
    assert run.params == drive(search(), lambda run, t, e: run.params[t]["x"], order=order).params


def test_tpe_finds_the_optimum_of_a_scripted_objective():
    def search(seed):
        tpe = TPESearch({"x": uniform(0, 1)}, num_samples=30, epochs=1, seed=seed)
        run = drive(tpe, param("x", lambda x: -((x - 0.3) ** 2)))
        return tpe, run

    tpe, run = search(4)
    assert len(run.epochs) == 30 and run.peak == 2
    assert abs(run.params[tpe.best()]["x"] - 0.3) < 0.1
    assert search(4)[1].params == run.params
    assert search(5)[1].params != run.params


def test_tpe_minimises_over_mixed_dimensions_and_unstorable_choices():
    space = {
        "layers": choice([[64, 32], [128]]),
        "lr": loguniform(1e-3, 1.0),
        "n": randint(1, 4),
        "batch_size": 32,
    }
    tpe = TPESearch(space, num_samples=12, epochs=2, seed=0, mode="min", max_concurrent=3)
    run = drive(tpe, lambda run, t, e: abs(np.log10(run.params[t]["lr"]) + 2) + e)
    assert run.peak == 3 and run.epochs == {t: 2 for t in range(12)}
    seen = [run.params[t] for t in range(12)]
    assert {tuple(p["layers"]) for p in seen} == {(64, 32), (128,)}
    assert {p["n"] for p in seen} <= {1, 2, 3} and {p["batch_size"] for p in seen} == {32}
    assert {t.params["layers"] for t in tpe.study.trials} == {0, 1}  # by index
    assert [t.value for t in tpe.study.trials] == [
        abs(np.log10(p["lr"]) + 2) + 1 for p in seen
    ]  # the final epoch's value is told


def test_tpe_without_optuna_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match=re.escape("optuna: pip install 'loxodon[selection]'")):
        TPESearch({"x": uniform(0, 1)}, num_samples=2, epochs=1)


def test_plots_without_matplotlib_say_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    history = [{"trial_id": 0, "epoch": 0, "loss": 1.0}]
    with pytest.raises(
        ImportError, match=re.escape("matplotlib: pip install 'loxodon[selection]'")
    ):
        learning_curves(history, "loss", str(tmp_path / "c.png"))


def test_plots_write_pngs(tmp_path):
    history = [
        {"trial_id": t, "epoch": e, "val_accuracy": 0.5 + 0.1 * e, "loss": 1.0 - 0.1 * e}
        for t in (0, 1, 2)
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
        }
        for w, t, k, s in [(0, 0, "train", 0.0), (1, 1, "train", 0.0), (0, 1, "eval", 1.0)]
    ]
    many = [
        {
            "worker": t % 4,
            "trial_id": t,
            "epoch": 0,
            "partition": 0,
            "kind": "train",
            "start_s": float(t),
            "end_s": t + 0.9,
        }
        for t in range(40)
    ]
    paths = [
        learning_curves(history, "val_accuracy", str(tmp_path / "c.png")),
        gantt(schedule, str(tmp_path / "g.png")),
        gantt(many, str(tmp_path / "g40.png")),
    ]
    assert paths == [str(tmp_path / n) for n in ("c.png", "g.png", "g40.png")]
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    with pytest.raises(ValueError, match="'val_auc'"):
        learning_curves(history, "val_auc", str(tmp_path / "none.png"))


def test_the_noop_tracker_does_nothing(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow fails
    t = tracker()
    assert type(t) is Tracker
    assert t.start_search("s", {"n": 1}) is None
    assert t.start_trial(Trial(0, {"lr": 0.1})) is None
    assert t.log_epoch(0, 0, {"loss": 1.0}) is None
    assert t.end_trial(0, "completed") is None and t.end_search() is None
    with pytest.raises(ImportError, match=re.escape("mlflow: pip install 'loxodon[tracking]'")):
        tracker(enabled=True)


def _runs(client, experiment_id: str) -> dict[str, Any]:
    """The experiment's runs by name, read back from the store."""
    return {run.info.run_name: run for run in client.search_runs([experiment_id])}


def _steps(client, run_id: str, key: str) -> list[tuple[int, float]]:
    """A metric's logged history as ``(step, value)``, by step."""
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def test_the_mlflow_tracker_nests_a_run_per_trial_with_params_and_stepped_metrics(
    mlflow_experiment,
):
    client, experiment_id = mlflow_experiment
    assert type(tracker(enabled=False)) is Tracker
    t = tracker()
    assert isinstance(t, MlflowTracker)
    t.start_search("search", {"strategy": "ASHA", "num_workers": 2})
    t.start_trial(Trial(0, {"lr": 0.1}))
    t.start_trial(Trial(1, {"lr": 0.2, "units": 16}, bracket=1, parent=0, start_epoch=1))
    t.log_epoch(0, 0, {"val_accuracy": 0.5})
    t.log_epoch(0, 1, {"val_accuracy": 0.75, "loss": 0.25})
    t.log_epoch(1, 1, {"val_accuracy": 0.25})
    t.end_trial(1, "rung 0 at epoch 1: below the top 1/3 of 2")
    t.end_trial(0, "completed")
    t.end_search()

    runs = _runs(client, experiment_id)
    assert set(runs) == {"search", "trial-0", "trial-1"}
    search, first, second = runs["search"], runs["trial-0"], runs["trial-1"]
    assert search.data.params == {"strategy": "ASHA", "num_workers": "2"}
    assert search.info.status == "FINISHED" and "mlflow.parentRunId" not in search.data.tags
    assert search.data.metrics == {}
    for trial in (first, second):
        assert trial.data.tags["mlflow.parentRunId"] == search.info.run_id
        assert trial.info.status == "FINISHED"
    assert first.data.params == {"lr": "0.1", "bracket": "0"}
    assert second.data.params == {
        "lr": "0.2",
        "units": "16",
        "bracket": "1",
        "parent": "0",  # a PBT child: its donor and the epoch it continues from
        "start_epoch": "1",
    }
    assert _steps(client, first.info.run_id, "val_accuracy") == [(0, 0.5), (1, 0.75)]
    assert _steps(client, first.info.run_id, "loss") == [(1, 0.25)]
    assert _steps(client, second.info.run_id, "val_accuracy") == [(1, 0.25)]
    assert first.data.metrics == {"val_accuracy": 0.75, "loss": 0.25}  # the latest
    assert second.data.metrics == {"val_accuracy": 0.25}
    assert first.data.tags["loxodon.status"] == "completed"
    assert second.data.tags["loxodon.status"] == "rung 0 at epoch 1: below the top 1/3 of 2"
    assert client.list_artifacts(first.info.run_id) == []  # the tracker logs no artifacts
    assert mlflow.active_run() is None


def test_the_mlflow_tracker_kills_open_trial_runs_when_the_search_ends_early(mlflow_experiment):
    client, experiment_id = mlflow_experiment
    t = tracker()
    t.start_search("search", {})
    t.start_trial(Trial(0, {}))
    t.start_trial(Trial(1, {}))
    t.end_trial(1, "completed")
    t.end_search()
    runs = _runs(client, experiment_id)
    statuses = {name: run.info.status for name, run in runs.items()}
    assert statuses == {"search": "KILLED", "trial-0": "KILLED", "trial-1": "FINISHED"}
    assert "loxodon.status" not in runs["trial-0"].data.tags
    assert mlflow.active_run() is None


def test_the_mlflow_tracker_nests_the_search_in_an_active_run(mlflow_experiment):
    client, experiment_id = mlflow_experiment
    with mlflow.start_run(run_name="outer") as outer:
        t = tracker()
        t.start_search("search", {})
        t.start_trial(Trial(0, {}))
        t.end_trial(0, "completed")
        t.end_search()
        assert mlflow.active_run().info.run_id == outer.info.run_id  # left open
    runs = _runs(client, experiment_id)
    assert set(runs) == {"outer", "search", "trial-0"}
    assert runs["search"].data.tags["mlflow.parentRunId"] == outer.info.run_id
    assert runs["trial-0"].data.tags["mlflow.parentRunId"] == runs["search"].info.run_id
    assert runs["outer"].info.status == "FINISHED"


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

"""Population-based training: on scripted metrics (no Spark, under the
strategies' test engine ``drive``) the bottom quantile exploits the top one at
every boundary, perturbed params stay in bounds and a seed reproduces the
search; the driver builds a child's first state from its paused parent's
committed one (a stand-in job and store, no Spark); on Spark, a MOP search on
digits starts every exploited child from its donor's state bit for bit and
finds a good model."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fixtures import digits_mlp
from loxodon.datasets import digits
from loxodon.ps_client import PSClient
from loxodon.selection import PBT, ModelSelection, Trial, choice, loguniform, randint, uniform
from loxodon.selection.search import _SearchRun
from loxodon.worker.model_state import ModelState, architecture_key
from test_selection_strategies import drive

SPACE = {
    "units": 16,
    "learning_rate": loguniform(1e-4, 1e-1),
    "batch_size": choice([16, 32, 64, 128]),
}


def closeness(run, t, epoch):
    """The nearer a trial's learning rate to 1e-2, the better; it improves with epochs."""
    return -abs(math.log10(run.params[t]["learning_rate"]) + 2) + 0.01 * epoch


def exploits(pbt: PBT) -> list[dict]:
    return [d for d in pbt.decisions if d["action"] == "exploit"]


@pytest.mark.parametrize("mode", ["max", "min"])
def test_the_bottom_quantile_exploits_the_top_at_every_boundary(mode):
    sign = 1.0 if mode == "max" else -1.0
    pbt = PBT(SPACE, population_size=8, max_epochs=6, ready_epochs=2, quantile=0.25, mode=mode)
    run = drive(pbt, lambda r, t, e: sign * closeness(r, t, e))

    # Two boundaries (epochs 2 and 4) x ceil(8 * 0.25) = 2 losers: 4 children, 12 trials.
    assert len(run.epochs) == 12
    done = exploits(pbt)
    assert [d["rung"] for d in done] == [0, 0, 1, 1]
    for d in done:
        child = d["trial_id"]
        start = d["epoch"] + 1
        assert start in (2, 4) and run.epochs[child] == 6
        loser, donor = d["replaced"], d["donor"]
        assert run.epochs[loser] == start and "continues trial" in run.reasons[loser]
        assert run.params[child] == d["params"]
        # Everyone live was at the boundary; the donor was in the top 2, the loser in the bottom 2.
        _, _, live = next(s for s in run.stops if s[0] == loser)
        assert set(live.values()) == {start}
        ranked = sorted(live, key=lambda t: (-sign * pbt.values[t][start - 1 - _first(pbt, t)], t))
        assert donor in ranked[:2] and loser in ranked[-2:]
    # The final population trained to max_epochs and completed; the losers did not.
    completed = {t for t, reason in run.reasons.items() if reason == "completed"}
    assert len(completed) == 8 and all(run.epochs[t] == 6 for t in completed)
    assert pbt.best() in completed


def _first(pbt: PBT, t: int) -> int:
    """The first epoch a trial reported (a child starts at its boundary)."""
    starts = {d["trial_id"]: d["epoch"] + 1 for d in exploits(pbt)}
    return starts.get(t, 0)


def test_explore_multiplies_or_resamples_within_the_bounds():
    space = {
        "learning_rate": loguniform(1e-3, 2e-3),
        "batch_size": randint(16, 20),
    }
    pbt = PBT(
        space, population_size=8, max_epochs=40, ready_epochs=1, quantile=0.5, seed=3,
        resample_probability=0.0,
    )  # fmt: skip
    drive(pbt, lambda r, t, e: r.params[t]["batch_size"] + e)
    assert len(exploits(pbt)) == 39 * 4
    clipped = 0
    for d in exploits(pbt):
        donor = pbt.params[d["donor"]]
        lr, batch = d["params"]["learning_rate"], d["params"]["batch_size"]
        assert 1e-3 <= lr <= 2e-3 and 16 <= batch <= 19
        if lr in (1e-3, 2e-3):
            clipped += 1
        else:
            assert lr / donor["learning_rate"] == pytest.approx(0.8) or lr / donor[
                "learning_rate"
            ] == pytest.approx(1.2)
        assert batch == min(max(round(donor["batch_size"] * 0.8), 16), 19) or batch == min(
            max(round(donor["batch_size"] * 1.2), 16), 19
        )
    assert clipped > 0  # the narrow range makes some products leave it

    resampled = PBT(
        {"learning_rate": uniform(0.1, 0.2), "batch_size": choice([8, 16, 32])},
        population_size=4, max_epochs=20, ready_epochs=1, resample_probability=1.0,
    )  # fmt: skip
    drive(resampled, lambda r, t, e: r.params[t]["learning_rate"])
    values = [d["params"]["learning_rate"] for d in exploits(resampled)]
    assert all(0.1 <= v < 0.2 for v in values) and len(set(values)) == len(values)


def test_a_choice_moves_to_a_neighbour():
    pbt = PBT(
        {"learning_rate": 1e-2, "batch_size": choice([8, 16, 32, 64])},
        population_size=4, max_epochs=30, ready_epochs=1, resample_probability=0.0, seed=1,
    )  # fmt: skip
    drive(pbt, lambda r, t, e: float(np.sin(t + e)))
    values = (8, 16, 32, 64)
    for d in exploits(pbt):
        i = values.index(pbt.params[d["donor"]]["batch_size"])
        j = values.index(d["params"]["batch_size"])
        assert j in (max(i - 1, 0), min(i + 1, 3))
        assert d["params"]["learning_rate"] == 1e-2


def test_a_seed_reproduces_the_search_and_the_decisions_give_the_lineage():
    def search(seed: int) -> PBT:
        pbt = PBT(SPACE, population_size=4, max_epochs=6, ready_epochs=2, seed=seed)
        drive(pbt, closeness)
        return pbt

    a, b, c = search(7), search(7), search(8)
    assert a.decisions == b.decisions and a.params == b.params
    assert a.params != c.params
    # Each child's decision names its donor; following them gives each trial's ancestors.
    parent = {d["trial_id"]: d["donor"] for d in exploits(a)}
    assert set(parent) == {4, 5}  # population 4: one loser at epochs 2 and 4
    assert all(p < child for child, p in parent.items())


def test_only_training_time_params_may_be_searched():
    with pytest.raises(ValueError, match=r"only training-time params .* not 'units'"):
        PBT({"units": choice([8, 16]), "learning_rate": 1e-2}, 4, max_epochs=4, ready_epochs=2)
    with pytest.raises(ValueError, match="quantile"):
        PBT(SPACE, 4, max_epochs=4, ready_epochs=2, quantile=0.6)
    with pytest.raises(ValueError, match="ready_epochs"):
        PBT(SPACE, 4, max_epochs=4, ready_epochs=5)


class _Job:
    """The two SelectionJob calls a child's state needs: the logged schedule
    (a lost unit's output never committed) and the first-state blob names."""

    def scheduleJson(self) -> str:  # noqa: N802 (the JVM's name)
        units = [(0, 0, "done"), (1, 1, "done"), (2, 0, "done"), (3, 0, "lost")]
        return json.dumps(
            [{"seq": q, "trial_id": t, "kind": "train", "status": s} for q, t, s in units]
            + [{"seq": 4, "trial_id": 0, "kind": "eval", "status": "done"}]
        )

    def initialStateBlob(self, trial_id: int) -> str:  # noqa: N802
        return f"sel/{trial_id}/initial"


class _Store(dict):
    def get_blob(self, name: str) -> bytes:
        return self[name]


def test_the_engine_continues_a_child_from_its_paused_parents_committed_state():
    """No Spark: the driver's half of an exploit against a stand-in job and store."""
    parent = digits_mlp({"units": 8, "learning_rate": 1e-2})
    rng = np.random.default_rng(0)
    parent.fit(rng.random((64, 64)), rng.integers(0, 10, 64), verbose=0)  # Adam's slots move
    run = _SearchRun.__new__(_SearchRun)  # only the state _inherited_state reads
    run.job, run.ps = _Job(), _Store({"sel/0/state/2": bytes(ModelState(parent).pack_eager())})
    run.trials = {0: Trial(0, {"units": 8, "learning_rate": 1e-2})}
    run.epochs_done, run.requested, run.running = {0: 2}, {0: 2}, set()
    run.arch = {0: architecture_key(parent)}

    def inherit(params: dict, start: int = 2) -> ModelState:
        trial = Trial(1, params, parent=0, start_epoch=start)
        model = digits_mlp(params)
        unit = {"learning_rate": params["learning_rate"], "arch": architecture_key(model)}
        state = run._inherited_state(trial, model, unit)
        fresh = digits_mlp(params)
        ModelState(fresh).unpack_eager(state)
        return fresh

    child = inherit({"units": 8, "learning_rate": 5e-3})
    assert child.optimizer.learning_rate.numpy() == np.float32(5e-3)
    assert child.optimizer.iterations.numpy() == parent.optimizer.iterations.numpy() == 2
    lr = child.optimizer.learning_rate.path
    for a, b in zip(parent.weights + parent.optimizer.variables,
                    child.weights + child.optimizer.variables, strict=True):  # fmt: skip
        assert b.path == lr or np.array_equal(a.numpy(), b.numpy()), a.path

    with pytest.raises(ValueError, match="another architecture than its parent 0"):
        inherit({"units": 16, "learning_rate": 5e-3})
    with pytest.raises(ValueError, match="has reported 2 epochs"):
        inherit({"units": 8, "learning_rate": 5e-3}, start=1)
    run.requested[0] = 4
    with pytest.raises(ValueError, match="was asked for 4"):
        inherit({"units": 8, "learning_rate": 5e-3})


def pbt_on_digits(spark, seed: int, monkeypatch: pytest.MonkeyPatch | None = None):
    """A MOP search of population 4 on digits (2 workers, 6 epochs, exploits at
    epochs 2 and 4); with ``monkeypatch``, also every state blob the driver
    read and every first state it stored, by name."""
    x, y, x_test, y_test = digits()
    cut = int(0.8 * len(x))
    blobs: dict[str, bytes] = {}
    if monkeypatch is not None:
        put, get = PSClient.put_blob, PSClient.get_blob

        def spy_put(self, name, data):
            blobs[name] = bytes(data)
            return put(self, name, data)

        def spy_get(self, name):
            data = get(self, name)
            blobs[name] = bytes(data)
            return data

        monkeypatch.setattr(PSClient, "put_blob", spy_put)
        monkeypatch.setattr(PSClient, "get_blob", spy_get)
    space = {
        "units": 32,
        "learning_rate": loguniform(1e-3, 3e-2),
        "batch_size": choice([32, 64]),
    }
    pbt = PBT(space, population_size=4, max_epochs=6, ready_epochs=2, seed=seed)
    search = ModelSelection(digits_mlp, pbt, num_workers=2, seed=seed, verbose=0)
    result = search.fit(x[:cut], y[:cut], validation_data=(x[cut:], y[cut:]))
    test_accuracy = result.best_model().evaluate(x_test, y_test, verbose=0)[1]
    return result, blobs, (x[cut:], y[cut:]), test_accuracy


def test_mop_children_start_from_their_donors_state_bit_for_bit(spark, monkeypatch):
    result, blobs, (x_val, y_val), test_accuracy = pbt_on_digits(spark, 0, monkeypatch)
    done = [d for d in result.decisions if d["action"] == "exploit"]
    assert len(done) == 2 and len(result.trials) == 6
    epochs = {(h["trial_id"], h["epoch"]): h for h in result.history}
    for d in done:
        child, donor, start = d["trial_id"], d["donor"], d["epoch"] + 1
        assert result.trials[child].parent == donor and result.trials[child].start_epoch == start
        assert result.trials[child].params == d["params"]
        assert sorted(e for t, e in epochs if t == child) == list(range(start, 6))
        # The donor's committed state after epoch `start`, by the schedule (which counts
        # each trial's epochs from 0): its last train unit of that epoch.
        local = start - 1 - result.trials[donor].start_epoch
        seq = max(
            u["seq"]
            for u in result.schedule
            if (u["trial_id"], u["epoch"], u["kind"], u["status"])
            == (donor, local, "train", "done")
        )
        donor_state = blobs[f"sel/{donor}/state/{seq}"]
        child_state = blobs[f"sel/{child}/initial"]
        donor_model, child_model = (digits_mlp(result.trials[t].params) for t in (donor, child))
        ModelState(donor_model).unpack_eager(donor_state)
        ModelState(child_model).unpack_eager(child_state)
        for a, b in zip(donor_model.weights, child_model.weights, strict=True):
            assert np.array_equal(a.numpy(), b.numpy()), (child, a.path)
        lr = child_model.optimizer.learning_rate
        for a, b in zip(
            donor_model.optimizer.variables, child_model.optimizer.variables, strict=True
        ):
            if b.path == lr.path:
                assert b.numpy() == np.float32(d["params"]["learning_rate"])
            else:
                assert np.array_equal(a.numpy(), b.numpy()), (child, b.path)
        # The state read is the one the donor reported after that epoch: its validation
        # logs are the copied weights' accuracy and loss on the validation rows.
        loss, accuracy = donor_model.evaluate(x_val, y_val, verbose=0)
        reported = epochs[(donor, start - 1)]
        assert accuracy == pytest.approx(reported["val_accuracy"], abs=1e-6)
        assert loss == pytest.approx(reported["val_loss"], rel=1e-4)
    best = result.best_trial
    assert best is not None and result.lineage(best)[-1] == best
    assert result.trials[result.lineage(best)[0]].parent is None
    print(f"PBT best val accuracy {result.best_value:.4f}, test {test_accuracy:.4f}")
    # Measured over seeds 0, 1, 2: best val accuracy 0.948, 0.959, 0.956, test 0.971, 0.978,
    # 0.958 (seed 0 again under this test: 0.952, 0.976); chance is 0.1.
    assert result.best_value > 0.9 and test_accuracy > 0.85

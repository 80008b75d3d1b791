"""Model hopper parallelism on Spark: one configuration trained by MOP equals
the same model trained sequentially over the partitions in the logged visit
order with the same shuffles; a worker killed mid sub-epoch loses only that
sub-epoch; replaying a logged schedule reproduces every weight bit for bit;
a grid on MNIST-1D finds a model as good as plain Keras's best of the same
grid; task-parallel execution and ASHA run on the same engine."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pyspark.errors import IllegalArgumentException

from fixtures import digits_mlp, partition_rows
from loxodon._jvm import java_session, python_api
from loxodon.datasets import digits, mnist1d
from loxodon.selection import ASHA, GridSearch, ModelSelection, grid
from loxodon.worker.hop import unit_rng


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, ...]:
    return digits()


def test_mop_equals_sequential_training_in_visit_order(spark, data):
    """With a per-epoch learning-rate schedule: each epoch's sub-epochs train at its rate."""
    x, y, _, _ = data
    params = {"units": 32, "learning_rate": 1e-2, "batch_size": 32}
    search = ModelSelection(
        digits_mlp,
        GridSearch(params, epochs=2),
        num_workers=2,
        seed=5,
        learning_rate_schedule=lambda epoch, base: base * 0.3**epoch,
    )
    result = search.fit(x, y, validation_split=0.2)
    hopped = result.best_model()

    parts = partition_rows(spark, x, y, 2, 5, 0.2)
    sequential = digits_mlp(params)
    visits = [u for u in result.schedule if u["kind"] == "train" and u["status"] == "done"]
    assert len(visits) == 4 and {u["partition"] for u in visits} == {0, 1}
    for u in sorted(visits, key=lambda u: u["seq"]):
        xp, yp = parts[u["partition"]]
        order = unit_rng(5, u["trial_id"], u["epoch"], u["partition"]).permutation(len(xp))
        sequential.optimizer.learning_rate = 1e-2 * 0.3 ** u["epoch"]
        sequential.fit(xp[order], yp[order], batch_size=32, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(hopped.get_weights(), sequential.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    assert result.final_values()[0] > 0.85


def test_killed_worker_loses_one_unit_and_replay_is_bit_identical(spark, data):
    x, y, _, _ = data
    space = {"units": grid([16, 32]), "learning_rate": 1e-2, "batch_size": 64}

    def search() -> ModelSelection:
        return ModelSelection(digits_mlp, GridSearch(space, epochs=2), num_workers=2, seed=3)

    # The test-only conf (not a user setting) makes the worker running unit 2 die once.
    spark.conf.set("spark.loxodon.test.faults", json.dumps({"unit": 2}))
    try:
        faulty = search().fit(x, y, validation_split=0.2, keep_models=True)
    finally:
        spark.conf.unset("spark.loxodon.test.faults")
    statuses = [u["status"] for u in faulty.schedule]
    assert statuses.count("lost") == 1, faulty.schedule
    assert set(faulty.final_values()) == {0, 1}
    assert all(len([h for h in faulty.history if h["trial_id"] == t]) == 2 for t in (0, 1))

    replayed = search().fit(x, y, validation_split=0.2, keep_models=True, replay=faulty)
    for trial_id in (0, 1):
        for a, b in zip(
            faulty.model(trial_id).get_weights(),
            replayed.model(trial_id).get_weights(),
            strict=True,
        ):
            assert np.array_equal(a, b), f"trial {trial_id} differs after replay"


@pytest.mark.parametrize("execution", ["mop", "task"])
def test_uploaded_numpy_rows_search_exactly_as_a_dataframe(spark, data, execution):
    """The driver's upload (the default for NumPy) and the DataFrame route give
    the same partitions in the same order, so the same weights (MOP replays the
    first run's visit order; task-parallel needs no replay, its shuffles do not
    depend on the worker); the two trials share one architecture, so they also
    share a compiled model in each worker."""
    x, y, _, _ = data
    space = {"units": 16, "learning_rate": grid([1e-2, 3e-3]), "batch_size": 64}

    def search(upload: bool, replay=None):
        return ModelSelection(
            digits_mlp,
            GridSearch(space, epochs=2),
            num_workers=2,
            seed=4,
            execution=execution,
            driver_upload=upload,
            verbose=0,
        ).fit(x, y, validation_split=0.2, keep_models=True, replay=replay)

    uploaded = search(True)
    results = [uploaded, search(False, replay=uploaded if execution == "mop" else None)]
    histories = [sorted(r.history, key=lambda h: (h["trial_id"], h["epoch"])) for r in results]
    assert histories[0] == histories[1]
    for trial_id in (0, 1):
        weights = [r.model(trial_id).get_weights() for r in results]
        assert all(np.array_equal(a, b) for a, b in zip(*weights, strict=True)), trial_id
    assert results[0].model(0).optimizer.learning_rate.numpy() == pytest.approx(1e-2)
    assert results[0].model(1).optimizer.learning_rate.numpy() == pytest.approx(3e-3)


def test_grid_of_8_on_mnist1d_matches_plain_keras_best(spark):
    x, y, x_test, y_test = mnist1d(num_samples=5000, seed=42)
    cut = int(0.8 * len(x))
    x_val, y_val, x_tr, y_tr = x[cut:], y[cut:], x[:cut], y[:cut]
    space = {
        "inputs": 40,
        "units": grid([32, 128]),
        "learning_rate": grid([1e-3, 3e-3]),
        "batch_size": grid([32, 128]),
    }
    epochs = 12
    search = ModelSelection(digits_mlp, GridSearch(space, epochs=epochs), num_workers=2, seed=0)
    result = search.fit(x_tr, y_tr, validation_data=(x_val, y_val), keep_models=True)
    assert len(result.trials) == 8 and len(result.history) == 8 * epochs
    # The driver stores each trial's first state as a blob and names its architecture,
    # so a worker loads an archive only to compile an architecture it has not seen
    # (2 here): not once per trial, nor once per trial per worker.
    assert [w["archive_loads"] for w in result.workers] == [2, 2]

    plain_test, plain_val = {}, {}
    for trial_id, trial in result.trials.items():
        model = digits_mlp(trial.params)
        model.fit(x_tr, y_tr, batch_size=trial.params["batch_size"], epochs=epochs, verbose=0)
        plain_val[trial_id] = model.evaluate(x_val, y_val, verbose=0)[1]
        plain_test[trial_id] = model.evaluate(x_test, y_test, verbose=0)[1]
    mop_test = {t: result.model(t).evaluate(x_test, y_test, verbose=0)[1] for t in result.trials}
    best = max(plain_val, key=plain_val.get)
    # One run's test accuracy moves by about a point with the shuffle alone (measured: 0.9 to
    # 2.1 points between shuffle seeds here), so plain Keras's best configuration is scored as
    # the mean of three runs that differ only in their shuffles.
    reruns = [plain_test[best]]
    for shuffle_seed in (1, 2):
        model, order_rng = (
            digits_mlp(result.trials[best].params),
            np.random.default_rng(shuffle_seed),
        )
        for _ in range(epochs):
            o = order_rng.permutation(len(x_tr))
            model.fit(
                x_tr[o],
                y_tr[o],
                batch_size=result.trials[best].params["batch_size"],
                epochs=1,
                shuffle=False,
                verbose=0,
            )
        reruns.append(model.evaluate(x_test, y_test, verbose=0)[1])
    plain_best = float(np.mean(reruns))
    mop_best = mop_test[result.best_trial]
    print(f"MOP best test accuracy {mop_best:.4f}, plain Keras best {plain_best:.4f} {reruns}")
    print("per trial (MOP, plain):", {t: (mop_test[t], plain_test[t]) for t in mop_test})
    # The MOP model is one run with its own visit order and shuffles, so beyond the 1 point
    # the bar allows for that run's own shuffle noise: twice the spread of the three plain
    # reruns (CI saw MOP 0.544 against reruns 0.567/0.554/0.552 once; the per-trial
    # differences there averaged -0.3 points, no bias).
    noise = 2 * float(np.std(reruns, ddof=1))
    assert mop_best >= plain_best - 0.01 - noise, (mop_best, plain_best, noise)
    assert mop_best > 0.5  # chance is 0.1; a one-hidden-layer MLP reaches about 0.55 here


def test_task_parallel_and_asha_on_the_engine(spark, data):
    x, y, _, _ = data
    space = {"units": grid([8, 32]), "learning_rate": 1e-2, "batch_size": 64}
    task = ModelSelection(
        digits_mlp, GridSearch(space, epochs=2), num_workers=2, execution="task"
    ).fit(x, y, validation_split=0.2)
    train_units = [u for u in task.schedule if u["kind"] == "train"]
    assert len(train_units) == 4 and not any(u["kind"] == "eval" for u in task.schedule)
    assert max(task.final_values().values()) > 0.85
    assert all(w["rows"] == sum(r["rows"] for r in task.workers) / 2 for w in task.workers)

    asha = ASHA(
        {"units": grid([4, 8, 16, 32, 64]), "learning_rate": 1e-2, "batch_size": 64},
        num_samples=6,
        max_epochs=4,
        min_epochs=1,
        eta=2,
        seed=0,
    )
    result = ModelSelection(digits_mlp, asha, num_workers=2).fit(x, y, validation_split=0.2)
    epochs_run = {t: sum(1 for h in result.history if h["trial_id"] == t) for t in result.trials}
    stopped = {d["trial_id"] for d in result.decisions if d["action"] == "stop"}
    assert stopped and all(epochs_run[t] < 4 for t in stopped)
    assert max(epochs_run.values()) == 4
    assert result.best_value > 0.85


def test_a_search_tracks_what_it_ran_in_mlflow(spark, data, mlflow_experiment):
    """What a search logs to MLflow equals its own result, read back from the
    store: one parent run with the search's settings, one child run per trial
    with its params, every epoch's logs at step = epoch, each trial's end."""
    client, experiment_id = mlflow_experiment
    x, y, _, _ = data
    asha = ASHA(
        {"units": grid([8, 16, 32]), "learning_rate": 1e-2, "batch_size": 64},
        num_samples=3,
        max_epochs=2,
        min_epochs=1,
        eta=2,
        seed=0,
    )
    search = ModelSelection(digits_mlp, asha, num_workers=2, tracking=True, verbose=0)
    result = search.fit(x, y, validation_split=0.2)

    runs = {run.info.run_name: run for run in client.search_runs([experiment_id])}
    parent = runs.pop("loxodon-selection")
    assert parent.data.params == {"execution": "mop", "num_workers": "2"}
    assert parent.info.status == "FINISHED"
    assert set(runs) == {f"trial-{t}" for t in result.trials}
    ends = {d["trial_id"]: d["reason"] for d in result.decisions if d["action"] != "promote"}
    for trial_id, trial in result.trials.items():
        run = runs[f"trial-{trial_id}"]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.params == {k: str(v) for k, v in trial.params.items()} | {"bracket": "0"}
        assert run.info.status == "FINISHED"
        assert run.data.tags["loxodon.status"] == ends[trial_id]
        epochs = [h for h in result.history if h["trial_id"] == trial_id]
        for key in set(epochs[0]) - {"trial_id", "epoch"}:
            logged = client.get_metric_history(run.info.run_id, key)
            assert sorted((m.step, m.value) for m in logged) == [
                (h["epoch"], h[key]) for h in epochs
            ], (trial_id, key)


def test_trials_are_added_from_blobs_the_driver_put(spark):
    """The Python driver PUTs each trial's archive and first state over its own
    parameter-server connection and adds the trial by name; a missing blob is a
    clear error, not a trial that fails later on a worker."""
    from loxodon.inputs import driver_placement
    from loxodon.keras_io import model_to_archive
    from loxodon.ps_client import PSClient

    x, y, _, _ = digits()
    model = digits_mlp({"units": 8, "learning_rate": 1e-2})
    archive = model_to_archive(model)
    placed = driver_placement(spark, x, y, None, 2, 0, 0.2)
    assert placed is not None
    params = {"num_workers": 2, "seed": 0, "validation_split": 0.2}
    params |= {"features_col": "features", "label_col": "label"}
    job = python_api(spark).startDriverDataSelection(
        java_session(spark), placed.layout_json(), archive, json.dumps(params), None, False
    )
    try:
        with pytest.raises(IllegalArgumentException, match="model 0: no blob 'sel/0/archive'"):
            job.addStoredModel(0, False, '{"batch_size": 8}')
        with PSClient.for_job(job) as ps:
            ps.put_blob(str(job.archiveBlob(0)), archive)
            job.addStoredModel(0, False, '{"batch_size": 8}')
            ps.put_blob(str(job.archiveBlob(1)), archive)
            with pytest.raises(IllegalArgumentException, match="model 1: no blob 'sel/1/initial'"):
                job.addStoredModel(1, True, '{"batch_size": 8}')
            assert bytes(ps.get_blob(str(job.archiveBlob(0)))) == archive
    finally:
        job.close()

"""The README's PySpark snippet runs as written (in this test's Spark session)."""

from __future__ import annotations

import re
from pathlib import Path

from pyspark.sql import SparkSession

README = Path(__file__).resolve().parents[1] / "README.md"


def _snippet(heading: str) -> str:
    text = README.read_text()
    section = text[text.index(heading) :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"no python block under {heading!r}"
    return match.group(1)


def test_pyspark_training_snippet(spark: SparkSession, tmp_path: Path) -> None:
    code = _snippet("## Training from PySpark").replace(
        "file:///tmp/mnist1d-model", (tmp_path / "model").as_uri()
    )
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)
    accuracy = scope["spark_model"].evaluate(scope["x_test"], scope["y_test"], return_dict=True)[
        "accuracy"
    ]
    assert accuracy > 0.45  # chance is 0.1; plain Keras reaches about 0.55-0.6
    assert scope["probabilities"].shape == (len(scope["x_test"]), 10)
    assert (tmp_path / "model" / "model.keras").is_file()


def test_pipelines_snippet(spark: SparkSession, tmp_path: Path) -> None:
    code = _snippet("## Spark ML Pipelines").replace(
        "/tmp/digits-pipeline", str(tmp_path / "pipeline")
    )
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)
    assert scope["accuracy"] > 0.85
    test = scope["test"]
    key = scope["pixels"]
    before = [r.prediction for r in scope["fitted"].transform(test).orderBy(*key).collect()]
    after = [r.prediction for r in scope["reloaded"].transform(test).orderBy(*key).collect()]
    assert before == after


def test_model_selection_snippet(spark: SparkSession, tmp_path: Path) -> None:
    code = _snippet("## Model selection").replace("/tmp/", f"{tmp_path}/")
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)
    result = scope["result"]
    assert result.best_value > 0.85
    assert (tmp_path / "curves.png").stat().st_size > 0
    assert (tmp_path / "schedule.png").stat().st_size > 0
    stopped = {d["trial_id"] for d in result.decisions if d["action"] == "stop"}
    assert stopped, "ASHA with eta=2 stops some of 6 trials"

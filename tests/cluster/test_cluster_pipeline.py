"""A Spark ML Pipeline with a KerasEstimator on the namespace cluster: fitted
by the shared driver, saved to a path every host sees (the executors write
part of it), then loaded and scored by a new driver process on the driver
host, which gets the same predictions."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

from clusterctl import Cluster
from pyspark.ml.evaluation import MulticlassClassificationEvaluator

from conftest import SharedSession
from fixtures import digits_pipeline, digits_pixels

HERE = Path(__file__).resolve().parent


def test_pipeline_saved_on_the_cluster_scores_in_a_new_driver(
    shared_session: SharedSession, cluster: Cluster
) -> None:
    spark = shared_session.get()
    frame = digits_pixels()
    frame["id"] = range(len(frame))
    train, test = spark.createDataFrame(frame).repartition(2).randomSplit([0.8, 0.2], seed=1)
    pipeline = digits_pipeline()
    fitted = pipeline.fit(train)
    scored = fitted.transform(test)
    accuracy = MulticlassClassificationEvaluator(metricName="accuracy").evaluate(scored)
    assert accuracy > 0.9, accuracy
    expected = [r.prediction for r in scored.orderBy("id").select("prediction").collect()]

    where = cluster.shared / f"pipeline-{uuid.uuid4().hex[:8]}"
    fitted.save(f"file://{where}/model")
    test.write.parquet(f"file://{where}/test.parquet")
    shared_session.stop()  # the new driver needs the executors' cores

    run = subprocess.run(
        [
            sys.executable,
            str(HERE / "score_pipeline.py"),
            f"{where}/model",
            f"{where}/test.parquet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("SCORED ")]
    assert run.returncode == 0 and lines, run.stderr[-4000:]
    result = json.loads(lines[-1][len("SCORED ") :])
    assert result["predictions"] == expected
    assert all(host.startswith("198.18.0.1") for host in result["executors"]), result

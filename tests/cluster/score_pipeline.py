"""A new driver process on the driver host: loads a saved PipelineModel with a
KerasEstimator stage and scores a Parquet table, both from paths every host
sees; prints ``SCORED {"predictions": [...], "executors": [...]}``.

Usage: score_pipeline.py PIPELINE_PATH TEST_PARQUET"""

from __future__ import annotations

import json
import sys

from clusterctl import Cluster, executors, wait_for_executors
from pyspark.ml import PipelineModel

import loxodon
from loxodon.ml import KerasModel


def main(pipeline_path: str, test_path: str) -> None:
    cluster = Cluster.from_env()
    spark = loxodon.spark_session(
        cluster.master, app_name="loxodon-cluster-score", **cluster.driver_conf()
    )
    spark.sparkContext.setLogLevel("ERROR")
    wait_for_executors(spark, 2)
    model = PipelineModel.load(pipeline_path)
    assert isinstance(model.stages[-1], KerasModel), type(model.stages[-1])
    scored = model.transform(spark.read.parquet(test_path))
    rows = scored.orderBy("id").select("prediction").collect()
    hosts = sorted(executors(spark))
    spark.stop()
    print("SCORED " + json.dumps({"predictions": [r.prediction for r in rows], "executors": hosts}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

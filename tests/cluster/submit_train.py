"""A Python application for ``spark-submit --master spark://...``: the master,
jars and configs come from spark-submit, not from the script. Trains the
synchronous fit of ``mode_fits`` and prints
``RESULT {"accuracy": .., "epochs": .., "last_fit": {..}}``."""

from __future__ import annotations

import json

from mode_fits import MODES
from pyspark.sql import SparkSession

FIT = next(fit for fit in MODES if fit.name == "synchronous")


def main() -> None:
    spark = SparkSession.builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    model = FIT.spark_model(spark=spark)
    history = model.fit(**FIT.fit_args())
    _, _, x_test, y_test = FIT.data()
    accuracy = model.evaluate(x_test, y_test, return_dict=True)["accuracy"]
    result = {"accuracy": accuracy, "epochs": len(history.history["loss"])}
    spark.stop()
    print("RESULT " + json.dumps(result | {"last_fit": model.last_fit}))


if __name__ == "__main__":
    main()

"""Runs every fit of ``mode_fits`` (``MODES`` and ``FAULTS``) on ``local[2]``
(this process's own driver, over loopback) and prints ``REFERENCE {"<name>":
test accuracy, ...}``: what the cluster tests compare with. Run by the cluster
conftest in a subprocess, because a process holds one SparkContext and the
tests' is the cluster's."""

from __future__ import annotations

import json

from mode_fits import FAULTS, MODES

import loxodon


def main() -> None:
    spark = loxodon.spark_session("local[2]", app_name="loxodon-cluster-reference")
    spark.sparkContext.setLogLevel("ERROR")
    accuracy = {}
    for fit in [*MODES, *FAULTS.values()]:
        model = fit.spark_model()
        model.fit(**fit.fit_args())
        _, _, x_test, y_test = fit.data()
        accuracy[fit.name] = model.evaluate(x_test, y_test, return_dict=True)["accuracy"]
    spark.stop()
    print("REFERENCE " + json.dumps(accuracy))


if __name__ == "__main__":
    main()

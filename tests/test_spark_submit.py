"""The Scala example application, run the way a Scala user runs it: spark-submit
with Loxodon's jar on --jars and the examples jar as the application.

`make test` builds the examples jar first (`make examples-jar`)."""

from __future__ import annotations

import re
from pathlib import Path

from loxodon.datasets import digits
from submit import train_from_keras


def test_train_from_keras_with_spark_submit(tmp_path: Path) -> None:
    stdout, accuracy, local = train_from_keras(tmp_path, epochs=8)
    epochs = re.findall(r"^epoch (\d+)/8: .*accuracy=", stdout, re.MULTILINE)
    assert epochs == [str(e) for e in range(1, 9)], stdout
    assert accuracy > 0.85, stdout
    evaluated = re.search(r"^test evaluate: .*\baccuracy=([0-9.]+)", stdout, re.MULTILINE)
    assert evaluated and abs(float(evaluated.group(1)) - accuracy) < 2e-3, stdout
    # Printed with 4 decimals; float rounding may flip at most one borderline row.
    assert abs(local - accuracy) <= 1.0 / len(digits()[3]) + 1e-4, (local, accuracy)

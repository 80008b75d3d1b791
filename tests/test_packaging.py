"""The jar travels with the package and a session without it gets a clear error."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import loxodon


def test_python_m_loxodon_jar_prints_the_bundled_jar() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "loxodon", "jar"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert Path(out) == loxodon.jar_path()
    assert Path(out).is_file() and Path(out).suffix == ".jar"


def test_session_without_the_jar_names_the_config_to_add() -> None:
    script = textwrap.dedent(
        """
        from pyspark.sql import SparkSession
        import loxodon
        spark = SparkSession.builder.master("local[1]").getOrCreate()
        try:
            loxodon.start_parameter_server(spark, 1, 10)
        except loxodon.LoxodonJarMissingError as exc:
            print("ERROR:", exc)
        finally:
            spark.stop()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert "ERROR:" in result.stdout, result.stderr[-2000:]
    message = result.stdout
    assert f"spark.jars={loxodon.jar_path()}" in message
    assert "loxodon.spark_session" in message

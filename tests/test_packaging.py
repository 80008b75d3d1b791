"""The jars travel with the package, the one of the running Spark line is picked, and a
session without it (or an unsupported Spark) gets a clear error."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pyspark
import pytest

import loxodon
from loxodon._jars import LoxodonJarMissingError, pick_jar, pyspark_scala_version


def test_python_m_loxodon_jar_prints_the_bundled_jar() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "loxodon", "jar"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert Path(out) == loxodon.jar_path()
    assert Path(out).is_file() and Path(out).suffix == ".jar"
    # The dev venv runs pyspark 4.3 on Scala 2.13 (its wheel's jars).
    assert pyspark.__version__.startswith("4.3.") and pyspark_scala_version() == "2.13"
    assert Path(out).name == f"loxodon-spark4.3_2.13-{loxodon.__version__}.jar"


BUNDLE = ["3.5_2.12", "3.5_2.13", "4.0_2.13", "4.3_2.13"]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A jars folder as the wheel carries it (empty files: only the names count)."""
    for line in BUNDLE:
        (tmp_path / f"loxodon-spark{line}-0.1.0.jar").touch()
    return tmp_path


@pytest.mark.parametrize(
    ("spark", "scala", "jar"),
    [
        ("3.5.9", "2.12.18", "3.5_2.12"),
        ("3.5.0", "2.13.8", "3.5_2.13"),
        ("3.5.6", None, "3.5_2.13"),
        ("4.0.5", "2.13.16", "4.0_2.13"),
        ("4.1.4", "2.13.17", "4.0_2.13"),
        ("4.2.1", None, "4.0_2.13"),
        ("4.3.0", "2.13.18", "4.3_2.13"),
        ("4.3.1.dev0", "2.13", "4.3_2.13"),
    ],
)
def test_the_jar_of_the_spark_line_and_scala_is_picked(bundle, spark, scala, jar) -> None:
    assert pick_jar(spark, scala, bundle) == bundle / f"loxodon-spark{jar}-0.1.0.jar"


@pytest.mark.parametrize(
    ("spark", "scala", "says"),
    [
        ("3.4.4", "2.12.17", "Spark 3.4.4 is not supported"),
        ("5.0.0", "2.13.18", "Spark 5.0.0 is not supported"),
        ("4.0.1", "2.12.18", "Spark 4.0.1 with Scala 2.12.18 is not supported"),
    ],
)
def test_an_unsupported_version_names_the_supported_ones(bundle, spark, scala, says) -> None:
    with pytest.raises(LoxodonJarMissingError) as err:
        pick_jar(spark, scala, bundle)
    message = str(err.value)
    assert says in message
    assert "Spark 3.5 (Scala 2.12 or 2.13)" in message and "Spark 4.3 (Scala 2.13)" in message


def test_a_missing_line_jar_says_how_to_build_it(tmp_path: Path) -> None:
    (tmp_path / "loxodon-spark4.3_2.13-0.1.0.jar").touch()
    with pytest.raises(LoxodonJarMissingError) as err:
        pick_jar("3.5.9", "2.12.18", tmp_path)
    message = str(err.value)
    assert "loxodon-spark3.5_2.12-<version>.jar" in message
    assert "loxodon-spark4.3_2.13-0.1.0.jar" in message and "make jars" in message


def test_python_m_loxodon_jar_picks_for_another_spark() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "loxodon", "jar", "--spark", "2.4.8"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and "Spark 2.4.8 is not supported" in out.stderr


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

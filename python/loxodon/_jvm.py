"""The one place that touches Py4J: the jar's location, a SparkSession that
carries it, and the ``loxodon.PythonAPI`` doorway into the Scala side."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from pyspark import SparkContext
from pyspark.sql import SparkSession

_JAR_DIR = Path(__file__).resolve().parent / "jars"


class LoxodonJarMissingError(RuntimeError):
    """Raised when a Spark session cannot see Loxodon's jar."""


def jar_path() -> Path:
    """Path of the bundled Loxodon jar (for ``spark-submit --jars``)."""
    jars = sorted(_JAR_DIR.glob("loxodon*.jar"))
    if not jars:
        raise LoxodonJarMissingError(
            f"no Loxodon jar in {_JAR_DIR}: this install carries no JVM half. "
            "From a source checkout, run `make jar` (it builds with build/sbt and copies "
            "the jar there)."
        )
    return jars[-1]


def spark_session(
    master: str = "local[2]", app_name: str = "loxodon", **conf: str | int | float | bool
) -> SparkSession:
    """Start (or get) a SparkSession with Loxodon's jar on the driver and executor
    class paths. Further Spark configs are passed by their dotted names, as
    ``**{"spark.driver.host": "10.0.0.5"}``."""
    undotted = [key for key in conf if "." not in key]
    if undotted:
        raise ValueError(
            f"spark_session: {', '.join(undotted)} is not a Spark config name; pass configs by "
            'their dotted names, e.g. **{"spark.driver.host": "10.0.0.5"}'
        )
    jar = str(jar_path())
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.jars", jar)
        .config("spark.driver.extraClassPath", jar)
        .config("spark.executor.extraClassPath", jar)
        .config("spark.ui.showConsoleProgress", "false")
    )
    if master.startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
        # Local executors run on this machine: give them this interpreter, as
        # PySpark's own shell does, rather than whatever `python3` is on PATH.
        # PySpark reads the variable, Loxodon's worker pool reads the config.
        os.environ["PYSPARK_PYTHON"] = sys.executable
        builder = builder.config("spark.pyspark.python", sys.executable)
    for key, value in conf.items():
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else value)
    return builder.getOrCreate()


def running_session() -> SparkSession | None:
    """The SparkSession this thread should use: its active one, else the process's
    default one (``getActiveSession`` is per thread, so a fit started from a web
    service's or a notebook's worker thread would otherwise find none)."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    default = SparkSession._instantiatedSession
    if default is not None and default.sparkContext._jsc is not None:
        return default
    context = SparkContext._active_spark_context  # a context started without a session
    if context is not None and context._jsc is not None:
        return SparkSession.builder.getOrCreate()
    return None


def _missing_jar_message() -> str:
    try:
        where = str(jar_path())
    except LoxodonJarMissingError:
        where = "<path printed by `python -m loxodon jar`>"
    return (
        "Loxodon's jar is not on this Spark session's class path. Start the session with "
        "loxodon.spark_session(...), or add the config "
        f"spark.jars={where} (with spark.driver.extraClassPath={where} when the driver "
        f"JVM is already running), or pass `--jars {where}` to spark-submit/pyspark."
    )


def python_api(spark: SparkSession) -> Any:
    """The ``loxodon.PythonAPI`` Scala object of this session's JVM."""
    jvm = spark.sparkContext._jvm
    if jvm is None:
        raise RuntimeError("the SparkContext has no JVM gateway (was it stopped?)")
    api = jvm.loxodon.PythonAPI
    # Py4J answers a JavaPackage, not an error, for a class it cannot load.
    try:
        api.version()
    except Exception as exc:  # noqa: BLE001 - Py4J raises several types here
        raise LoxodonJarMissingError(_missing_jar_message()) from exc
    return api


def java_session(spark: SparkSession) -> Any:
    """The JVM ``SparkSession`` behind a PySpark session."""
    return spark._jsparkSession


def warm_up(spark: SparkSession | None = None, num_workers: int | None = None) -> int:
    """Start the executors' Python workers now (one per task slot, or ``num_workers``),
    so the first fit does not wait for them to import TensorFlow. Workers stay in
    their executor's pool for later fits, predictions and searches. Returns the
    number of workers leased; fails like a fit when fewer task slots are free."""
    spark = spark or SparkSession.builder.getOrCreate()
    n = num_workers or spark.sparkContext.defaultParallelism
    return int(python_api(spark).warmUpWorkers(java_session(spark), n))

"""The one place that touches Py4J: the jar's location, a SparkSession that
carries it, and the ``loxodon.PythonAPI`` doorway into the Scala side."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pyspark
from pyspark import SparkContext
from pyspark.sql import SparkSession

from loxodon._jars import LoxodonJarMissingError, pick_jar, pyspark_scala_version


def jar_path(spark: SparkSession | None = None) -> Path:
    """Path of the bundled Loxodon jar that fits this PySpark (for ``spark-submit --jars``):
    the jar of PySpark's Spark line, built for the Scala of ``spark``'s JVM when given,
    else of the Spark distribution PySpark launches."""
    if spark is not None and spark.sparkContext._jvm is not None:
        jvm = spark.sparkContext._jvm
        return pick_jar(spark.version, jvm.scala.util.Properties.versionNumberString())
    return pick_jar(pyspark.__version__, pyspark_scala_version())


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


def required_session(owner: str) -> SparkSession:
    """``running_session()``, or an error naming how to start one (or pass it to ``owner``)."""
    active = running_session()
    if active is None:
        raise RuntimeError(
            "no active SparkSession: start one with loxodon.spark_session(...) or pass "
            f"spark= to {owner}"
        )
    return active


def _missing_jar_message(spark: SparkSession) -> str:
    try:
        where = str(jar_path(spark))
    except LoxodonJarMissingError as exc:
        return f"Loxodon's jar is not on this Spark session's class path, and {exc}"
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
        raise LoxodonJarMissingError(_missing_jar_message(spark)) from exc
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

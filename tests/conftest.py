"""Shared fixtures: one local Spark session (with Loxodon's jar) per test run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

import loxodon


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = loxodon.spark_session("local[2]", app_name="loxodon-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()

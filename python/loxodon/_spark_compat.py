"""The PySpark calls that differ between the supported Spark lines: Arrow tables into
and out of DataFrames are public API from Spark 4.0 on (``createDataFrame`` of a
``pyarrow.Table``, ``DataFrame.toArrow``); on Spark 3.5 the same goes through rows
and PySpark's own Arrow collect."""

from __future__ import annotations

import pyarrow as pa
import pyspark
from pyspark.sql import DataFrame, SparkSession

ARROW_API = int(pyspark.__version__.split(".")[0]) >= 4


def frame_of_arrow(spark: SparkSession, table: pa.Table) -> DataFrame:
    """A DataFrame of ``table``'s rows (fixed-size lists become Spark arrays)."""
    if ARROW_API:
        return spark.createDataFrame(table)
    from pyspark.sql.pandas.types import from_arrow_schema

    # Spark 3.5 maps variable-size lists only, and takes no Arrow table: go through rows.
    lists = pa.schema(
        pa.field(f.name, pa.list_(f.type.value_type), f.nullable)
        if pa.types.is_fixed_size_list(f.type)
        else f
        for f in table.schema
    )
    table = table.cast(lists)
    return spark.createDataFrame(table.to_pylist(), schema=from_arrow_schema(lists))


def arrow_of_frame(frame: DataFrame) -> pa.Table:
    """``frame``'s rows collected to the driver as one Arrow table."""
    if ARROW_API:
        return frame.toArrow()
    from pyspark.sql.pandas.types import to_arrow_schema

    batches = frame._collect_as_arrow()
    if not batches:
        return to_arrow_schema(frame.schema).empty_table()
    return pa.Table.from_batches(batches)

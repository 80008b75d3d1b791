"""Images as training and inference data.

A DataFrame column of Spark's ``image`` source (``spark.read.format("image")``)
or of encoded files (``binaryFile``'s ``content``: PNG, JPEG, BMP, GIF) is a
``features_col`` like any other: the executors' tasks decode each image and
resize it to the model's input shape (height, width, channels), as Keras's
``image_dataset_from_directory`` does (float 0-255, RGB, bilinear), so the
driver never holds pixels. :func:`image_folder` reads the layout most users
have, one sub-folder per class.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from loxodon._jvm import java_session, python_api, running_session


def image_folder(path: str, spark: SparkSession | None = None) -> DataFrame:
    """The images under ``path`` (any Hadoop FileSystem URI), one sub-folder per
    class: columns ``path``, ``content`` (the file's bytes) and ``label`` (the
    class index in sorted folder-name order; :func:`class_names` reads the
    names back). Fit with ``features_col="content"``."""
    session = spark or running_session()
    if session is None:
        raise RuntimeError("image_folder needs a SparkSession (loxodon.spark_session)")
    jdf = python_api(session).imageFolder(java_session(session), path)
    return DataFrame(jdf, session)


def class_names(df: DataFrame, label_col: str = "label") -> list[str]:
    """The class names a label column carries in its Spark ML metadata (set by
    :func:`image_folder` or ``StringIndexer``)."""
    attr = df.schema[label_col].metadata.get("ml_attr", {})
    names = attr.get("vals")
    if names is None:
        raise ValueError(f"column {label_col!r} carries no class names in its metadata")
    return list(names)

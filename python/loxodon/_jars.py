"""Which of the bundled jars fits the running Spark: one jar per supported Spark
line and Scala version, named ``loxodon-spark<line>_<scala>-<version>.jar``, picked
by PySpark's version and the Scala version of Spark's JVM (or of its jars)."""

from __future__ import annotations

import re
from pathlib import Path

JAR_DIR = Path(__file__).resolve().parent / "jars"

# Spark minor version -> the line whose jar runs on it. One 4.0 jar serves 4.0-4.2
# (the private API the shims use is the same there); 4.3 changed it and has its own.
SPARK_LINES: dict[str, str] = {
    "3.5": "3.5",
    "4.0": "4.0",
    "4.1": "4.0",
    "4.2": "4.0",
    "4.3": "4.3",
}
# The Scala versions each line's jars are built for.
SCALA_VERSIONS: dict[str, tuple[str, ...]] = {
    "3.5": ("2.12", "2.13"),
    "4.0": ("2.13",),
    "4.3": ("2.13",),
}
_JAR_NAME = re.compile(r"loxodon-spark(\d+\.\d+)_(\d+\.\d+)-.+\.jar")


class LoxodonJarMissingError(RuntimeError):
    """Raised when a Spark session cannot see Loxodon's jar, or no bundled jar fits its
    Spark and Scala versions."""


def supported_versions() -> str:
    """The supported Spark and Scala versions, in words for an error message."""
    by_line: dict[str, list[str]] = {}
    for minor, line in SPARK_LINES.items():
        by_line.setdefault(line, []).append(minor)
    parts = [
        f"Spark {'/'.join(minors)} (Scala {' or '.join(SCALA_VERSIONS[line])})"
        for line, minors in by_line.items()
    ]
    return ", ".join(parts)


def spark_line(spark_version: str) -> str:
    """The jar line of a Spark version such as ``3.5.6`` or ``4.2.0.dev1``."""
    match = re.match(r"(\d+)\.(\d+)", spark_version)
    minor = f"{match.group(1)}.{match.group(2)}" if match else spark_version
    if minor not in SPARK_LINES:
        raise LoxodonJarMissingError(
            f"Spark {spark_version} is not supported by Loxodon; supported: "
            f"{supported_versions()}. Install a supported pyspark (pip install 'pyspark>=3.5,<5')."
        )
    return SPARK_LINES[minor]


def scala_of_jars_dir(jars_dir: Path) -> str | None:
    """The Scala binary version (``2.12``/``2.13``) of a Spark distribution's jars, read off
    its ``scala-library-2.x.y.jar``; None when it has none."""
    for jar in sorted(jars_dir.glob("scala-library-*.jar")):
        match = re.match(r"scala-library-(\d+\.\d+)\.", jar.name)
        if match:
            return match.group(1)
    return None


def pyspark_scala_version() -> str | None:
    """The Scala version of the Spark that PySpark launches (``SPARK_HOME`` or the wheel)."""
    try:
        from pyspark.find_spark_home import _find_spark_home

        home = Path(_find_spark_home())
    except Exception:  # noqa: BLE001 - no Spark home found: the caller decides
        return None
    return scala_of_jars_dir(home / "jars")


def pick_jar(spark_version: str, scala_version: str | None, jar_dir: Path = JAR_DIR) -> Path:
    """The bundled jar for Spark ``spark_version`` on Scala ``scala_version`` (binary or full
    version; None: the line's only or newest Scala). Raises LoxodonJarMissingError naming
    the supported versions, or how to build the jar, when none fits."""
    line = spark_line(spark_version)
    scala = ".".join(scala_version.split(".")[:2]) if scala_version else None
    if scala is not None and scala not in SCALA_VERSIONS[line]:
        raise LoxodonJarMissingError(
            f"Spark {spark_version} with Scala {scala_version} is not supported by Loxodon; "
            f"supported: {supported_versions()}."
        )
    found: dict[tuple[str, str], Path] = {}
    for jar in sorted(jar_dir.glob("loxodon-spark*.jar")):
        match = _JAR_NAME.fullmatch(jar.name)
        if match:
            found[(match.group(1), match.group(2))] = jar
    wanted = [scala] if scala else sorted(SCALA_VERSIONS[line], reverse=True)
    for candidate in wanted:
        if (line, candidate) in found:
            return found[(line, candidate)]
    name = f"loxodon-spark{line}_{wanted[0]}-<version>.jar"
    raise LoxodonJarMissingError(
        f"no Loxodon jar for Spark {spark_version} / Scala {scala or wanted[0]} ({name}) in "
        f"{jar_dir}; this install carries "
        f"{', '.join(p.name for p in found.values()) or 'no JVM half'}. From a source "
        "checkout, run `make jar` (Spark 4.3) or `make jars` (every line); they build with "
        "build/sbt and copy the jars there."
    )

"""Command line: ``python -m loxodon jar`` prints the path of the bundled jar that fits
the installed PySpark (or ``--spark``/``--scala``); ``versions`` lists the supported ones."""

from __future__ import annotations

import argparse
import sys

from loxodon import __version__
from loxodon._jars import pick_jar, pyspark_scala_version, supported_versions
from loxodon._jvm import LoxodonJarMissingError, jar_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loxodon", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    jar = sub.add_parser(
        "jar", help="print the path of the bundled jar for this PySpark (for spark-submit --jars)"
    )
    jar.add_argument("--spark", help="pick for this Spark version instead of PySpark's")
    jar.add_argument("--scala", help="pick for this Scala version instead of Spark's jars'")
    sub.add_parser("version", help="print Loxodon's version")
    sub.add_parser("versions", help="print the supported Spark and Scala versions")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(__version__)
        return 0
    if args.command == "versions":
        print(supported_versions())
        return 0
    try:
        if args.spark or args.scala:
            import pyspark

            scala = args.scala or (None if args.spark else pyspark_scala_version())
            print(pick_jar(args.spark or pyspark.__version__, scala))
        else:
            print(jar_path())
    except LoxodonJarMissingError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

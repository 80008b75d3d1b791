"""Command line: ``python -m loxodon jar`` prints the bundled jar's path."""

from __future__ import annotations

import argparse
import sys

from loxodon import __version__
from loxodon._jvm import LoxodonJarMissingError, jar_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loxodon", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("jar", help="print the path of the bundled jar (for spark-submit --jars)")
    sub.add_parser("version", help="print Loxodon's version")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(__version__)
        return 0
    try:
        print(jar_path())
    except LoxodonJarMissingError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

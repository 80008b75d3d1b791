"""The hand-written "## Notes" of a benchmark's results file, kept across reruns.

A benchmark script rewrites its tables on every run; the measurement notes
below them are prose a person wrote (what a number means, what was tried).
``with_notes`` appends the file's current Notes section to the new report, so a
rerun keeps them; a person revises them when the numbers move.
"""

from __future__ import annotations

from pathlib import Path

HEADING = "## Notes"


def with_notes(path: Path, report: str) -> str:
    """``report``, followed by the Notes section ``path`` holds now (if any, and if
    ``report`` has none of its own)."""
    if HEADING in report or not path.exists():
        return report
    current = path.read_text()
    start = current.find("\n" + HEADING)
    if start < 0:
        return report
    return report.rstrip("\n") + "\n" + current[start:].rstrip("\n") + "\n"

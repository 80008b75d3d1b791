"""Prints how many workers the standalone master at URL (its /json/ page) lists
as ALIVE, optionally only those on the given hosts; prints 0 when the master
does not answer. Used by cluster.sh's bounded wait loops."""

from __future__ import annotations

import json
import sys
import urllib.request


def alive(url: str, hosts: set[str]) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            state = json.load(reply)
    except (OSError, ValueError):
        return 0
    alive = [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]
    return sum(1 for w in alive if not hosts or w["host"] in hosts)


if __name__ == "__main__":
    print(alive(sys.argv[1], set(sys.argv[2:])))

"""Hogwild!: as asynchronous, but the server adds deltas without a lock."""

from common import run

if __name__ == "__main__":
    run("hogwild", mode="hogwild", communication_window=4, num_workers=2)

"""DOWNPOUR: push the local delta and pull the center every 4 local batches."""

from common import run

if __name__ == "__main__":
    run("asynchronous", mode="asynchronous", communication_window=4, num_workers=2)

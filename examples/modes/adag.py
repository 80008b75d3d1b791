"""ADAG: as asynchronous, but the server divides each pushed delta by the local steps it holds."""

from common import run

if __name__ == "__main__":
    run("adag", mode="adag", communication_window=4, num_workers=2)

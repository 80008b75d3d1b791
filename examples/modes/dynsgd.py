"""DynSGD: as asynchronous, but the server divides each pushed delta by 1 + its
staleness (the updates other workers made since this worker last pulled)."""

from common import run

if __name__ == "__main__":
    run("dynsgd", mode="dynsgd", communication_window=4, num_workers=2)

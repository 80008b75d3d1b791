"""One worker, no communication: the baseline every other mode is measured against."""

from common import run

if __name__ == "__main__":
    run("single", mode="single")

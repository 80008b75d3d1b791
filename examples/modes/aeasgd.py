"""Asynchronous elastic averaging: each worker's elastic exchange is applied on arrival."""

from common import run

if __name__ == "__main__":
    run("aeasgd", mode="aeasgd", communication_window=4, num_workers=2)

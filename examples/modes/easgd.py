"""Synchronous elastic averaging (EASGD): workers and center pull toward each other every
4 batches, with alpha = learning rate x rho."""

from common import run

if __name__ == "__main__":
    run("easgd", mode="easgd", communication_window=4, easgd_rho=5.0, num_workers=2)

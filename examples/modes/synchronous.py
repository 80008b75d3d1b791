"""Synchronous SGD: every step the server averages both workers' gradients, so the
two replicas stay identical (SGD with batch 2 x batch_size)."""

from common import run

if __name__ == "__main__":
    run("synchronous", mode="synchronous", num_workers=2)

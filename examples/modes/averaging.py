"""Model averaging: local training, weights averaged every 10 batches and at each epoch end."""

from common import run

if __name__ == "__main__":
    run("averaging", mode="averaging", frequency=10, num_workers=2)

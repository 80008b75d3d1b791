"""EAMSGD: asynchronous elastic averaging whose local steps carry Nesterov momentum
(0.5 here: Adam already keeps momentum of its own)."""

from common import run

if __name__ == "__main__":
    run("eamsgd", mode="eamsgd", communication_window=4, momentum=0.5, num_workers=2)

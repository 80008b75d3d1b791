"""Real data sets generated locally (nothing is downloaded): MNIST-1D and
scikit-learn's digits, split and scaled the same way for tests, examples and
benchmarks."""

from __future__ import annotations

import numpy as np


def mnist1d(num_samples: int = 5000, seed: int = 42) -> tuple[np.ndarray, ...]:
    """MNIST-1D (Greydanus 2020), generated from its templates: 40 features,
    10 classes; returns ``x_train, y_train, x_test, y_test`` (80/20 split)."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = num_samples
    args.seed = seed
    data = make_dataset(args)
    x, x_test = data["x"].astype(np.float32), data["x_test"].astype(np.float32)
    mean, std = x.mean(), x.std()
    return (
        (x - mean) / std,
        data["y"].astype(np.int64),
        (x_test - mean) / std,
        data["y_test"].astype(np.int64),
    )


def digits(seed: int = 0, test_fraction: float = 0.25) -> tuple[np.ndarray, ...]:
    """scikit-learn's 8x8 digits (1797 rows, 64 features, 10 classes), scaled to
    [0, 1]; returns ``x_train, y_train, x_test, y_test``."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(len(x) * (1 - test_fraction))
    train, test = order[:cut], order[cut:]
    return x[train], y[train], x[test], y[test]

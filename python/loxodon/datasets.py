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


def digits_image_folders(root: str, seed: int = 0, size: int = 16) -> tuple[str, str]:
    """scikit-learn's digits written as gray PNG files, ``size`` x ``size``
    pixels (upscaled from 8 x 8), in the class-folder layout
    (``<root>/train/<digit>/<n>.png`` and ``<root>/test/...``, split as
    :func:`digits`); returns the train and test folders."""
    import os

    from PIL import Image

    x, y, x_test, y_test = digits(seed)
    folders = []
    for part, (xs, ys) in {"train": (x, y), "test": (x_test, y_test)}.items():
        folder = os.path.join(root, part)
        for i, (row, label) in enumerate(zip(xs, ys, strict=True)):
            os.makedirs(os.path.join(folder, str(label)), exist_ok=True)
            pixels = np.round(row.reshape(8, 8) * 255).astype(np.uint8)
            image = Image.fromarray(pixels, mode="L").resize((size, size), Image.BILINEAR)
            image.save(os.path.join(folder, str(label), f"{i:04d}.png"))
        folders.append(folder)
    return folders[0], folders[1]


def load_image_folder(folder: str, height: int, width: int, channels: int = 1) -> tuple:
    """The images of a class-folder layout as ``(x, y)`` NumPy arrays, decoded and
    resized as Keras's ``image_dataset_from_directory`` does (PIL, then
    ``tf.image.resize`` bilinear; float 0-255); classes in sorted folder order."""
    import os

    import tensorflow as tf
    from PIL import Image

    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    classes = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    xs, ys = [], []
    for label, name in enumerate(classes):
        for file in sorted(os.listdir(os.path.join(folder, name))):
            image = np.asarray(Image.open(os.path.join(folder, name, file)).convert(mode))
            image = image.reshape(*image.shape[:2], channels).astype(np.float32)
            xs.append(tf.image.resize(image, (height, width), "bilinear").numpy())
            ys.append(label)
    return np.stack(xs), np.asarray(ys, np.int64)

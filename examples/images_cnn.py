"""A CNN on image files: scikit-learn's digits written as 16 x 16 PNG files in
class folders, read with ``loxodon.image_folder`` (decoded in the executors),
trained on Spark with 2 workers in the shape of the cluster report's MNIST
net, its test accuracy printed beside plain Keras's on the same pixels.

Run with ``.venv/bin/python examples/images_cnn.py [--mode synchronous]``.
"""

from __future__ import annotations

import argparse
import tempfile

import keras

import loxodon
from loxodon.datasets import digits_image_folders, load_image_folder

SIZE = 16


def build_cnn(seed: int = 0, size: int = SIZE) -> keras.Model:
    """The net on ``size`` x ``size`` gray images of 0-255 pixels (``bench/train.py`` builds it
    at 28 x 28, the cluster report's MNIST size)."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((size, size, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Dropout(0.25, seed=seed),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dropout(0.5, seed=seed),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", default="synchronous")
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    # Synchronous steps on the mean gradient of both workers' batches: 2 x 16 = Keras's 32.
    batch = 16 if args.mode == "synchronous" else 32

    spark = loxodon.spark_session("local[2]", app_name="loxodon-images")
    with tempfile.TemporaryDirectory() as root:
        train_dir, test_dir = digits_image_folders(root, size=SIZE)
        train = loxodon.image_folder(train_dir, spark=spark)
        test = loxodon.image_folder(test_dir, spark=spark)
        print(f"{train.count()} training images, classes {loxodon.class_names(train)}")

        x, y = load_image_folder(train_dir, SIZE, SIZE)
        x_test, y_test = load_image_folder(test_dir, SIZE, SIZE)
        plain = build_cnn()
        plain.fit(x, y, epochs=args.epochs, batch_size=32, verbose=0)
        plain_acc = plain.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]

        model = loxodon.SparkModel(build_cnn(), mode=args.mode, num_workers=2, spark=spark)
        model.fit(train, epochs=args.epochs, batch_size=batch, features_col="content")
        result = model.evaluate(test, features_col="content", return_dict=True)
    print(f"test accuracy: loxodon {args.mode} {result['accuracy']:.4f}, keras {plain_acc:.4f}")
    spark.stop()


if __name__ == "__main__":
    main()

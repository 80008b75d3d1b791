"""Images as features: files of a class-folder layout (``binaryFile``) and
Spark's ``image`` source are decoded and resized in the executors' tasks, to
exactly what Keras's own loading gives (PIL, then ``tf.image.resize``); a
convolutional network in the shape of the cluster report's MNIST net trains on
them as plain Keras does on the same pixels."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import keras
import numpy as np
import pytest
from pyspark.errors import IllegalArgumentException
from pyspark.sql import SparkSession

import loxodon
from loxodon.datasets import digits_image_folders, load_image_folder

SIZE = 16


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return digits_image_folders(str(tmp_path_factory.mktemp("digits")), size=SIZE)


def predicted(frame, order: str) -> np.ndarray:
    """The ``prediction`` column of ``frame`` in ``order`` as one array."""
    return np.array([r.prediction for r in frame.orderBy(order).collect()], np.float32)


def identity(height: int, width: int, channels: int) -> keras.Model:
    """A model whose prediction is its input, flattened: the decoded pixels."""
    model = keras.Sequential([keras.Input((height, width, channels)), keras.layers.Flatten()])
    model.compile(loss="mse")
    return model


@pytest.mark.parametrize(("height", "width"), [(SIZE, SIZE), (11, 23)])
def test_decoded_as_keras_decodes(
    spark: SparkSession, folders: tuple[str, str], height: int, width: int
) -> None:
    train, _ = folders
    df = loxodon.image_folder(train, spark=spark)
    assert loxodon.class_names(df) == [str(d) for d in range(10)]
    x, y = load_image_folder(train, height, width)
    rows = df.orderBy("path").collect()
    assert [r.label for r in rows] == list(y)  # sorted class folders, sorted files
    sm = loxodon.SparkModel(identity(height, width, 1), num_workers=2, spark=spark)
    got = predicted(sm.predict(df, features_col="content"), "path")
    np.testing.assert_allclose(got, x.reshape(len(x), -1), atol=1e-3)


def test_spark_image_source_rgb(spark: SparkSession, folders: tuple[str, str]) -> None:
    train, _ = folders
    df = spark.read.format("image").load(f"{train}/3")
    from PIL import Image

    files = sorted(Path(train, "3").iterdir())
    expected = np.stack(
        [np.asarray(Image.open(f).convert("RGB"), np.float32).reshape(-1) for f in files]
    )
    sm = loxodon.SparkModel(identity(SIZE, SIZE, 3), num_workers=2, spark=spark)
    got = predicted(sm.predict(df, features_col="image"), "image.origin")
    np.testing.assert_allclose(got, expected, atol=1e-3)


def test_open_input_shape_refused(spark: SparkSession, folders: tuple[str, str]) -> None:
    df = loxodon.image_folder(folders[0], spark=spark)
    model = keras.Sequential([keras.Input((None, None, 1)), keras.layers.GlobalAveragePooling2D()])
    model.compile(loss="mse")
    sm = loxodon.SparkModel(model, num_workers=2, spark=spark)
    with pytest.raises(IllegalArgumentException, match="holds images, but the model's input"):
        sm.predict(df, features_col="content")


def _example() -> ModuleType:
    """``examples/images_cnn.py``, whose CNN (the cluster report's MNIST net on 16 x 16
    gray images) the training test trains."""
    path = Path(__file__).parent.parent / "examples" / "images_cnn.py"
    spec = importlib.util.spec_from_file_location("images_cnn", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXAMPLE = _example()
assert EXAMPLE.SIZE == SIZE
cnn = EXAMPLE.build_cnn


EPOCHS = 6


# Each against plain Keras with the same global batch: synchronous steps with the mean gradient
# of 2 x 16 rows, averaging makes local steps of 32 rows. Not yet the asynchronous family: at
# Adam's compiled 1e-3, asynchronous (window 4) reached 0.953 where Keras reached 0.996 (stale
# summed deltas; the default rate for those modes is still open, issue 19).
@pytest.mark.parametrize(
    ("mode", "options", "batch"),
    [
        ("synchronous", {}, 16),
        ("averaging", {"frequency": "epoch"}, 32),
    ],
)
def test_cnn_on_image_files_matches_keras(
    spark: SparkSession, folders: tuple[str, str], mode: str, options: dict, batch: int
) -> None:
    train, test = folders
    x, y = load_image_folder(train, SIZE, SIZE)
    xt, yt = load_image_folder(test, SIZE, SIZE)
    plain = cnn()
    plain.fit(x, y, epochs=EPOCHS, batch_size=32, verbose=0)
    keras_accuracy = plain.evaluate(xt, yt, verbose=0, return_dict=True)["accuracy"]

    model = cnn()
    sm = loxodon.SparkModel(model, mode=mode, num_workers=2, spark=spark, **options)
    sm.fit(
        loxodon.image_folder(train, spark=spark),
        epochs=EPOCHS,
        batch_size=batch,
        features_col="content",
        verbose=0,
    )
    result = sm.evaluate(
        loxodon.image_folder(test, spark=spark), features_col="content", return_dict=True
    )
    assert result["accuracy"] >= keras_accuracy - 0.02, (mode, result, keras_accuracy)

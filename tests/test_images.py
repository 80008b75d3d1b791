"""Images as features: files of a class-folder layout (``binaryFile``) and
Spark's ``image`` source are decoded and resized in the executors' tasks, to
exactly what Keras's own loading gives (PIL, then ``tf.image.resize``); a
convolutional network in the shape of the cluster report's MNIST net trains on
them in every mode at Keras's learning rate (each mode's default rate rule) as
plain Keras does on the same pixels: within 2 points in the modes that meet in
rounds, within 5 in the asynchronous family (see ``ASYNC_BAR``)."""

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
ROUND_MODES = ("synchronous", "averaging", "easgd")
"""Modes whose workers meet in rounds: their runs repeat, so they are held to 2 points."""
ASYNC_MODES = ("asynchronous", "hogwild", "adag", "dynsgd", "aeasgd", "eamsgd")
ASYNC_BAR = 0.05
"""How far below plain Keras the asynchronous family may end: its result depends on the order of
the workers' pushes. Measured at this rate rule, against Keras's 0.9956 (450 test images, 0.22
points each): asynchronous 0.9711 and 0.9911 in two runs, aeasgd 0.9911 and 0.9778, hogwild
0.9889, adag 0.9933, dynsgd 0.9867, eamsgd 0.9889: 0.2 to 2.4 points below Keras, asynchronous
alone 2 points apart from run to run. A 2-point bar sits inside that spread; 5 points, twice the
worst deficit, outside it. The round-based modes repeat and keep 2 (synchronous 0.9844, averaging
0.9867, easgd 0.9911)."""


@pytest.fixture(scope="module")
def keras_accuracy(folders: tuple[str, str]) -> float:
    """Plain Keras on the same pixels, epochs and global batch (32) at Adam's 1e-3."""
    train, test = folders
    x, y = load_image_folder(train, SIZE, SIZE)
    xt, yt = load_image_folder(test, SIZE, SIZE)
    plain = cnn()
    plain.fit(x, y, epochs=EPOCHS, batch_size=32, verbose=0)
    return plain.evaluate(xt, yt, verbose=0, return_dict=True)["accuracy"]


@pytest.fixture(scope="module")
def image_frames(spark: SparkSession, folders: tuple[str, str]):  # noqa: ANN201
    """The training and test files as cached ``binaryFile`` frames, read once for every mode."""
    frames = [loxodon.image_folder(f, spark=spark).cache() for f in folders]
    for f in frames:
        f.count()
    yield frames
    for f in frames:
        f.unpersist()


# Each mode at its default rate rule (TrainParams.learningRateScale) against plain Keras with the
# same global batch: synchronous steps with the mean gradient of 2 x 16 rows, the others make
# local steps of 32 rows (averaging once an epoch).
@pytest.mark.parametrize("mode", ROUND_MODES + ASYNC_MODES)
def test_cnn_on_image_files_matches_keras(
    spark: SparkSession, image_frames: list, keras_accuracy: float, mode: str
) -> None:
    train, test = image_frames
    options = {"frequency": "epoch"} if mode == "averaging" else {}
    sm = loxodon.SparkModel(cnn(), mode=mode, num_workers=2, spark=spark, **options)
    batch = 16 if mode == "synchronous" else 32
    sm.fit(train, epochs=EPOCHS, batch_size=batch, features_col="content", verbose=0)
    result = sm.evaluate(test, features_col="content", return_dict=True)
    bar = 0.02 if mode in ROUND_MODES else ASYNC_BAR
    assert result["accuracy"] >= keras_accuracy - bar, (mode, result, keras_accuracy)

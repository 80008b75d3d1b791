"""Text as features: a string column reaches the model as code points (the JVM's
encoding equals :func:`loxodon.text.encode` exactly), a keras-hub classifier
tokenizes them in the workers, predicts there as it does locally, and fine-tunes
on a seeded topic task as plain Keras does on the same rows (in rounds and
asynchronously); both local preset
formats (Keras ``save_to_preset``, a HuggingFace checkpoint directory) load to
the model that wrote them."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from pyspark.errors import IllegalArgumentException
from pyspark.sql import SparkSession

import loxodon

pytest.importorskip("keras_hub", reason="text models need loxodon[text]")
from loxodon import datasets_text, text  # noqa: E402

MAX_CHARS = 96
SEQUENCE = 16
RATE = 1e-3
EPOCHS = 3


@pytest.fixture(scope="module")
def presets(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, str, str]:
    """The tiny classifier, pretrained on sentences of the topics (as a checkpoint one
    fine-tunes would be), its Keras preset and its HuggingFace checkpoint."""
    root = tmp_path_factory.mktemp("presets")
    classifier = datasets_text.pretrained_tiny_bert(seed=1, sequence_length=SEQUENCE)
    classifier.save_to_preset(str(root / "keras"))
    tokenizer = classifier.preprocessor.tokenizer
    datasets_text.write_hf_bert(classifier.backbone, tokenizer, str(root / "hf"))
    return classifier, str(root / "keras"), str(root / "hf")


def frame(spark: SparkSession, texts: list[str], labels: np.ndarray | None = None):  # noqa: ANN201
    rows = [(i, t, int(labels[i]) if labels is not None else 0) for i, t in enumerate(texts)]
    return spark.createDataFrame(rows, "id long, text string, label long")


def test_presets_load_as_saved(presets: tuple[object, str, str]) -> None:
    classifier, keras_dir, hf_dir = presets
    texts, _ = datasets_text.topic_sentences(16, seed=3)
    codes = text.encode(texts, MAX_CHARS)
    # The Keras preset with its own head: what keras-hub predicts on the strings.
    own = text.text_classifier(keras_dir, max_chars=MAX_CHARS, sequence_length=SEQUENCE)
    expected = classifier.predict(texts, verbose=0)
    np.testing.assert_allclose(own.predict(codes, verbose=0), expected, atol=1e-5)
    # The HuggingFace checkpoint has no head: a new one, the same in both formats.
    heads = []
    for preset in (keras_dir, hf_dir):
        keras.utils.set_random_seed(7)
        heads.append(text.text_classifier(preset, 3, MAX_CHARS, SEQUENCE))
    np.testing.assert_array_equal(
        heads[0].classifier.get_layer("logits").kernel.numpy(),
        heads[1].classifier.get_layer("logits").kernel.numpy(),
    )
    np.testing.assert_allclose(
        heads[1].predict(codes, verbose=0), heads[0].predict(codes, verbose=0), atol=1e-5
    )
    with pytest.raises(ValueError, match="not a local directory"):
        text.text_classifier(str(Path(hf_dir) / "absent"), 3)


def test_string_column_is_encoded_as_python_encodes(spark: SparkSession) -> None:
    texts = ["plain words", "accents: é, ü, ß", "beyond the BMP: 🐘 ok", "", "x" * 150]
    identity = keras.Sequential([keras.Input((MAX_CHARS,)), keras.layers.Flatten()])
    identity.compile(loss="mse")
    sm = loxodon.SparkModel(identity, num_workers=2, spark=spark)
    rows = sm.predict(frame(spark, texts), features_col="text").orderBy("id").collect()
    got = np.array([r.prediction for r in rows], np.float32)
    np.testing.assert_array_equal(got, text.encode(texts, MAX_CHARS))


def test_distributed_predict_equals_local(
    spark: SparkSession, presets: tuple[object, str, str]
) -> None:
    _, keras_dir, _ = presets
    model = text.text_classifier(keras_dir, max_chars=MAX_CHARS, sequence_length=SEQUENCE)
    texts, _ = datasets_text.topic_sentences(300, seed=4)
    sm = loxodon.SparkModel(model, num_workers=2, spark=spark)
    rows = sm.predict(frame(spark, texts), features_col="text").orderBy("id").collect()
    got = np.array([r.prediction for r in rows], np.float32)
    expected = model.predict(text.encode(texts, MAX_CHARS), verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_saves_of_one_model_share_the_workers_cache_key(presets: tuple[object, str, str]) -> None:
    """Each save writes a new date into the archive; the workers' model cache keys on the
    model (config, weights, the tokenizer's vocabulary), so a repeated predict reuses the
    loaded, traced model, and a changed weight does not."""
    import time

    from loxodon.keras_io import archive_digest, model_to_archive

    _, keras_dir, _ = presets
    model = text.text_classifier(keras_dir, 3, MAX_CHARS, SEQUENCE)
    first = model_to_archive(model)
    time.sleep(1.1)  # the save record's date has seconds
    second = model_to_archive(model)
    assert first != second
    assert archive_digest(first) == archive_digest(second)
    kernel = model.classifier.get_layer("logits").kernel
    kernel.assign(kernel.numpy() + 1.0)
    assert archive_digest(model_to_archive(model)) != archive_digest(first)


def test_string_column_needs_a_text_model(spark: SparkSession) -> None:
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten()])
    model.compile(loss="mse")
    sm = loxodon.SparkModel(model, num_workers=2, spark=spark)
    with pytest.raises(IllegalArgumentException, match="holds strings, but the model's input"):
        sm.predict(frame(spark, ["a"]), features_col="text")


@pytest.fixture(scope="module")
def topic_task(
    presets: tuple[object, str, str],
) -> tuple[list, np.ndarray, list, np.ndarray, float]:
    """Training and test sentences, and the test accuracy plain Keras reaches fine-tuning
    the preset on them with batches of 32."""
    _, keras_dir, _ = presets
    train, y = datasets_text.topic_sentences(800, seed=11)
    test, yt = datasets_text.topic_sentences(400, seed=12)
    plain = fresh(keras_dir)
    plain.fit(text.encode(train, MAX_CHARS), y, epochs=EPOCHS, batch_size=32, verbose=0)
    codes = text.encode(test, MAX_CHARS)
    accuracy = plain.evaluate(codes, yt, verbose=0, return_dict=True)["accuracy"]
    return train, y, test, yt, accuracy


def fresh(preset: str) -> keras.Model:
    keras.utils.set_random_seed(0)
    return text.text_classifier(preset, 3, MAX_CHARS, SEQUENCE, learning_rate=RATE)


ASYNC_BAR = 0.05
"""How far below plain Keras ``asynchronous`` may end: its result depends on the order of the
workers' pushes. One run each of the asynchronous family on this task: asynchronous 0.860,
hogwild 0.8825, aeasgd 0.8675 against Keras's 0.8675 (0.75 points below to 1.5 above); on the
image CNN (test_images.py) the family's runs ended 0.2 to 2.4 points below Keras, asynchronous
alone 2 points apart from run to run. 5 points sits outside both; the round-based modes repeat
and keep 2 (easgd 0.8775)."""


# Each against plain Keras with the same global batch: synchronous steps with the mean gradient
# of 2 x 16 rows, the others local steps of 32 rows at their default rate rule (averaging each
# epoch at twice the rate, easgd at N + 1 = 3 times). Chance is 1/3; the preset's backbone tells
# the topics apart, its new head starts from nothing.
@pytest.mark.parametrize(
    ("mode", "options", "batch"),
    [
        ("synchronous", {}, 16),
        ("averaging", {"frequency": "epoch"}, 32),
        ("easgd", {}, 32),
        ("asynchronous", {}, 32),
    ],
)
def test_fine_tune_matches_keras(
    spark: SparkSession,
    presets: tuple[object, str, str],
    topic_task: tuple,
    mode: str,
    options: dict,
    batch: int,
) -> None:
    _, keras_dir, _ = presets
    train, y, test, yt, keras_accuracy = topic_task
    sm = loxodon.SparkModel(fresh(keras_dir), mode=mode, num_workers=2, spark=spark, **options)
    sm.fit(frame(spark, train, y), epochs=EPOCHS, batch_size=batch, features_col="text", verbose=0)
    result = sm.evaluate(frame(spark, test, yt), features_col="text", return_dict=True)
    assert keras_accuracy >= 0.8, keras_accuracy
    bar = ASYNC_BAR if mode == "asynchronous" else 0.02
    assert result["accuracy"] >= keras_accuracy - bar, (mode, result, keras_accuracy)

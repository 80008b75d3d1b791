"""Text as training and inference data: keras-hub classifiers on string columns.

A string column is a ``features_col`` like any other: the executors' tasks turn
each string into its Unicode code points (floats, cut or padded with 0 to the
model's input width; ``TextColumns`` in the JVM, :func:`encode` for arrays the
driver holds), and the model turns them back into strings
(:class:`CodepointClassifier`) and tokenizes them with its keras-hub preprocessor.
Rows stay fixed-width float arrays, so placement, Arrow and the workers'
batching are those of every other input; tokenization happens in the workers,
in the model's own graph, never on the driver.

:func:`text_classifier` builds such a model from a keras-hub preset directory:
a Keras preset (``save_to_preset``) or a HuggingFace checkpoint directory
(``config.json``, ``model.safetensors``, ``vocab.txt``, ``tokenizer_config.json``)
that keras-hub's converters read. Nothing is downloaded: give a local path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import keras
import numpy as np

DEFAULT_MAX_CHARS = 512
"""Code points per row unless told: longer strings are cut (a tokenizer with a
``sequence_length`` of 128 rarely needs more)."""


def codepoints_to_text(codes: Any) -> Any:
    """Rows of Unicode code points (float, 0-padded at the end) as UTF-8 strings
    (TensorFlow: keras-hub's tokenizers are TensorFlow ops on every backend)."""
    import tensorflow as tf

    points = tf.RaggedTensor.from_tensor(tf.cast(codes, tf.int32), padding=0)
    return tf.strings.unicode_encode(points, "UTF-8")


@keras.saving.register_keras_serializable(package="loxodon")
class CodepointClassifier(keras.Model):
    """A keras-hub ``TextClassifier`` behind its preprocessor, fed code points:
    ``classifier(preprocessor(text))``. A subclassed model rather than a functional
    one because a tokenizer's vocabulary is a saved asset, loaded after a
    functional graph would already have called it."""

    def __init__(self, classifier: Any, preprocessor: Any, max_chars: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.classifier = classifier
        self.preprocessor = preprocessor
        self.max_chars = int(max_chars)

    @property
    def input_shape(self) -> tuple[int | None, int]:
        return (None, self.max_chars)

    def call(self, codes: Any, training: bool = False) -> Any:
        tokens = self.preprocessor(codepoints_to_text(codes))
        return self.classifier(tokens, training=training)

    def build(self, input_shape: Any = None) -> None:
        # The classifier is a built functional model; the preprocessor has no weights
        # (and no vocabulary yet while a saved model is being loaded).
        self.built = True

    def get_build_config(self) -> dict[str, Any]:
        return {"input_shape": [None, self.max_chars]}

    def build_from_config(self, config: dict[str, Any]) -> None:
        self.build()

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "classifier": keras.saving.serialize_keras_object(self.classifier),
            "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
            "max_chars": self.max_chars,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CodepointClassifier:
        config = dict(config)
        for key in ("classifier", "preprocessor"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def encode(texts: Iterable[str], max_chars: int) -> np.ndarray:
    """Strings as the (n, ``max_chars``) float32 code points a string column becomes
    in the tasks (the first ``max_chars`` code points, padded with 0): for NumPy
    ``fit``/``predict`` input and for plain Keras on the same rows."""
    rows = [[ord(c) for c in t[:max_chars]] for t in texts]
    out = np.zeros((len(rows), max_chars), np.float32)
    for i, points in enumerate(rows):
        out[i, : len(points)] = points
    return out


def text_classifier(
    preset: str,
    num_classes: int | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    sequence_length: int | None = None,
    learning_rate: float = 5e-5,
    **kwargs: Any,
) -> keras.Model:
    """A compiled classifier of strings: ``keras_hub.models.TextClassifier.from_preset``
    of the local directory ``preset`` (either format; ``kwargs`` go to it, e.g.
    ``dropout``), behind the preset's preprocessor, in a :class:`CodepointClassifier`
    (truncating to ``sequence_length`` tokens when given). Its input is
    ``max_chars`` code points; it outputs ``num_classes`` logits (a new head; without
    ``num_classes``, the preset's own classifier head, which a HuggingFace checkpoint
    does not have), compiled as
    keras-hub compiles its classifiers (Adam at ``learning_rate``, sparse
    categorical cross-entropy from logits, accuracy). Fit it on a string column
    and a class-index label column."""
    import keras_hub

    if not os.path.isdir(preset):
        raise ValueError(
            f"preset: {preset!r} is not a local directory; Loxodon loads presets from disk "
            "only (save one with save_to_preset, or a HuggingFace checkpoint directory)"
        )
    if max_chars <= 0:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    preprocessor_args = {} if sequence_length is None else {"sequence_length": sequence_length}
    preprocessor = keras_hub.models.TextClassifierPreprocessor.from_preset(
        preset, **preprocessor_args
    )
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    task = keras_hub.models.TextClassifier.from_preset(preset, preprocessor=None, **kwargs)
    model = CodepointClassifier(task, preprocessor, max_chars, name=f"{task.name}_on_text")
    model.build()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model

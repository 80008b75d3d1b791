"""A custom Keras layer, activation and loss for the Spark ML tests (none is
registered with Keras, so each must travel as a custom object)."""

from __future__ import annotations

from typing import Any

import keras


class ScaleLayer(keras.layers.Layer):
    """Multiplies its input by one trainable scalar."""

    def build(self, input_shape: Any) -> None:
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def call(self, inputs: Any) -> Any:
        return inputs * self.scale


def soft_relu(x: Any) -> Any:
    """A custom activation: softplus with a steeper knee."""
    return keras.ops.softplus(4.0 * x) / 4.0


def smoothed_sparse_crossentropy(y_true: Any, y_pred: Any) -> Any:
    """A custom loss: two-class sparse cross-entropy with label smoothing."""
    labels = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
    y_true = keras.ops.one_hot(labels, 2)
    return keras.losses.categorical_crossentropy(y_true, y_pred, label_smoothing=0.05)

"""A custom layer and activation registered with Keras, for the cross-language
tests: a Scala application names this module in `imports` and ships it to the
executors with `--files`; nothing is pickled."""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="loxodon_xlang")
class Scale(keras.layers.Layer):
    """Multiplies its input by one trainable scalar."""

    def build(self, input_shape: Any) -> None:
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def call(self, inputs: Any) -> Any:
        return inputs * self.scale


@keras.saving.register_keras_serializable(package="loxodon_xlang")
def leaky(x: Any) -> Any:
    return keras.activations.leaky_relu(x, negative_slope=0.05)


@keras.saving.register_keras_serializable(package="loxodon_xlang")
def sparse_smoothed_crossentropy(y_true: Any, y_pred: Any) -> Any:
    """Sparse cross-entropy with a little label smoothing (a custom loss)."""
    y_true = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"), 10)
    return keras.losses.categorical_crossentropy(y_true, y_pred, label_smoothing=0.05)

"""A custom Keras layer for the Spark ML tests (not registered with Keras, so
it must travel as a custom object)."""

from __future__ import annotations

from typing import Any

import keras


class ScaleLayer(keras.layers.Layer):
    """Multiplies its input by one trainable scalar."""

    def build(self, input_shape: Any) -> None:
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def call(self, inputs: Any) -> Any:
        return inputs * self.scale

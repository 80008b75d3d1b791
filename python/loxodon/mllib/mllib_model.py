"""``SparkMLlibModel``: a :class:`loxodon.SparkModel` fed with LabeledPoints.

Labels are class indices in a ``LabeledPoint``; with ``categorical=True`` they
become one-hot rows of ``nb_classes`` (for a ``categorical_crossentropy``
model), as in Elephas.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from pyspark import RDD

from loxodon.spark_model import SparkModel


class SparkMLlibModel(SparkModel):
    """Elephas's MLlib-style model: ``train(labeled_points, ...)`` and ``predict(vectors)``."""

    def train(
        self,
        labeled_points: RDD,
        epochs: int = 10,
        batch_size: int = 32,
        verbose: int = 0,
        validation_split: float = 0.0,
        categorical: bool = False,
        nb_classes: int | None = None,
        **fit_args: Any,
    ) -> keras.callbacks.History:
        """Train on an RDD of ``LabeledPoint``; one-hot labels if ``categorical``."""
        if categorical:
            if nb_classes is None:
                raise ValueError("categorical=True needs nb_classes (the number of classes)")
            classes = int(nb_classes)

            def one_hot(point: Any) -> tuple[np.ndarray, np.ndarray]:
                label = int(point.label)
                if not 0 <= label < classes:
                    raise ValueError(f"label {label} is outside 0..{classes - 1} (nb_classes)")
                row = np.zeros(classes, np.float32)
                row[label] = 1.0
                return point.features.toArray(), row

            data: RDD = labeled_points.map(one_hot)
        else:
            data = labeled_points
        return self.fit(
            data,
            epochs=epochs,
            batch_size=batch_size,
            verbose=verbose,
            validation_split=validation_split,
            **fit_args,
        )

    def predict(self, data: Any, **kwargs: Any) -> Any:
        """Predictions for an RDD of MLlib vectors (or anything ``SparkModel.predict`` takes)."""
        if isinstance(data, RDD):
            data = data.map(lambda v: v.toArray() if hasattr(v, "toArray") else v)
        return super().predict(data, **kwargs)

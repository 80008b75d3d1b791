"""The Elephas MLlib path: LabeledPoint RDDs in, a trained model out."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import SparkSession

from fixtures import mlp
from loxodon.datasets import digits
from loxodon.mllib import SparkMLlibModel
from loxodon.utils import from_labeled_point, to_labeled_point


def test_train_on_labeled_points_with_one_hot_labels(spark: SparkSession) -> None:
    x, y, xt, yt = digits()
    model = mlp(64, 64, 10, seed=0, learning_rate=1e-2, loss="categorical_crossentropy")
    points = to_labeled_point(spark.sparkContext, x, y)
    features, labels = from_labeled_point(points, categorical=True, nb_classes=10)
    np.testing.assert_allclose(features, x, atol=1e-6)
    assert labels.shape == (len(x), 10)

    mllib_model = SparkMLlibModel(model, mode="synchronous", num_workers=2)
    history = mllib_model.train(points, epochs=4, batch_size=32, categorical=True, nb_classes=10)
    assert len(history.history["loss"]) == 4
    accuracy = mllib_model.evaluate(xt, np.eye(10)[yt], return_dict=True)["accuracy"]
    assert accuracy > 0.85

    vectors = points.map(lambda p: p.features)
    predictions = np.stack(mllib_model.predict(vectors).collect())
    np.testing.assert_allclose(predictions, model.predict(x, verbose=0), atol=1e-5)

    with pytest.raises(ValueError, match="nb_classes"):
        mllib_model.train(points, categorical=True)

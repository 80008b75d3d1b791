"""Pretrained models as SparkFlow Transformers: ``load_tensorflow_model`` and
``attach_tensorflow_model_to_pipeline``, SparkFlow's names and arguments.

SparkFlow read a TF1 checkpoint (``path.meta`` + the latest checkpoint); here
``path`` is a Keras ``.keras`` file (any Hadoop URI) or a TensorFlow SavedModel
directory (local; written by ``model.export(dir)`` or ``tf.saved_model.save``),
which travels inside the stage as a :class:`~loxodon.compat.saved_model.SavedModelLayer`.
"""

from __future__ import annotations

import os
from typing import Any

from pyspark.ml import PipelineModel

from loxodon.compat.sparkflow.model import SparkAsyncDLModel, read_bytes
from loxodon.compat.sparkflow.params import layer_name

SAVED_MODEL_MODULE = "loxodon.compat.saved_model"


def _is_saved_model(path: str) -> bool:
    local = path[len("file://") :] if path.startswith("file://") else path
    return os.path.isdir(local) and os.path.exists(os.path.join(local, "saved_model.pb"))


def load_tensorflow_model(
    path: str,
    inputCol: str,
    tfInput: str | None = None,
    tfOutput: str | None = None,
    predictionCol: str = "predicted",
    tfDropout: str | None = None,
    toKeepDropout: bool = False,
    outputMode: str = "raw",
    endpoint: str = "serve",
) -> SparkAsyncDLModel:
    """A pretrained model at ``path`` as a ``SparkAsyncDLModel``.

    ``outputMode`` ``'raw'`` (SparkFlow's behaviour: the output, a double when it
    is one value, else a DenseVector) or ``'classification'`` (its argmax as a
    double). ``tfOutput`` naming a layer of a ``.keras`` model predicts that
    layer's output. ``endpoint``: the SavedModel's function (``serve`` for
    ``model.export``, ``serving_default`` for ``tf.saved_model.save`` signatures).
    """
    import keras

    from loxodon.keras_io import load_model
    from loxodon.ml import KerasModel

    if _is_saved_model(path):
        from loxodon.compat.saved_model import saved_model_as_keras

        local = path[len("file://") :] if path.startswith("file://") else path
        stage = KerasModel.fromKerasModel(
            saved_model_as_keras(local, endpoint), imports=[SAVED_MODEL_MODULE]
        )
    else:
        model = load_model(read_bytes(path))
        cut = layer_name(tfOutput)
        if cut in [layer.name for layer in model.layers[:-1]]:
            model = keras.Model(model.inputs, model.get_layer(cut).output)
        stage = KerasModel.fromKerasModel(model)
    params = {"tfInput": tfInput, "tfOutput": tfOutput, "tfDropout": tfDropout}
    out = SparkAsyncDLModel(
        inputCol=inputCol,
        predictionCol=predictionCol,
        toKeepDropout=toKeepDropout,
        outputMode=outputMode,
        **{k: v for k, v in params.items() if v is not None},
    )
    return out.setKerasStage(stage)


def attach_tensorflow_model_to_pipeline(
    path: str,
    pipelineModel: PipelineModel,
    inputCol: str,
    tfInput: str | None = None,
    tfOutput: str | None = None,
    predictionCol: str = "predicted",
    tfDropout: str | None = None,
    toKeepDropout: bool = False,
    **kwargs: Any,
) -> PipelineModel:
    """``pipelineModel`` followed by the pretrained model at ``path``."""
    stage = load_tensorflow_model(
        path, inputCol, tfInput, tfOutput, predictionCol, tfDropout, toKeepDropout, **kwargs
    )
    return PipelineModel(stages=[pipelineModel, stage])

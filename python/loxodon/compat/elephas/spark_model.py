"""Elephas's ``elephas.spark_model``: ``SparkModel``, ``SparkMLlibModel`` and
``load_spark_model``, with Elephas's signatures, on Loxodon's native classes.

The classes subclass the native :class:`loxodon.SparkModel` and
:class:`loxodon.mllib.SparkMLlibModel`; what they add is translation:
Elephas's ``mode``/``frequency`` become the native schedule
(:mod:`loxodon.compat.elephas.modes`), ``parameter_server_mode`` and ``port``
are checked and recorded (Loxodon's parameter server is its own), ``predict``
on an RDD returns a list as Elephas's did, and ``save``/``load_spark_model``
read and write Elephas's ``.h5`` file (a Keras HDF5 model with the Elephas
settings in its ``distributed_config`` attribute), locally or on any Hadoop
FileSystem (``to_hadoop``/``from_hadoop``).
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import keras
import numpy as np
from pyspark import RDD
from pyspark.sql import SparkSession

from loxodon import spark_model as native
from loxodon._jvm import java_session, python_api, running_session
from loxodon.compat.elephas.modes import (
    check_parameter_server_mode,
    check_port,
    native_schedule,
)
from loxodon.mllib import mllib_model as native_mllib

_NATIVE_KEYWORDS = frozenset(
    {"seed", "sync_timeout", "imports", "scale_learning_rate", "driver_upload", "spark"}
)
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class SparkModel(native.SparkModel):
    """Elephas's ``SparkModel(model, mode, frequency, parameter_server_mode,
    num_workers, custom_objects, batch_size, port)`` on Loxodon's engine.

    ``mode`` is Elephas's (``synchronous``, ``asynchronous``, ``hogwild``) and
    ``frequency`` is ``'epoch'`` or ``'batch'``; the native mode they map to is
    in ``self.mode`` (``self.elephas_mode`` keeps Elephas's name). ``batch_size``
    is the default of ``fit``, ``predict`` and ``evaluate``. ``port`` defaults to
    None, not Elephas's 4000: it is recorded only. Keyword arguments of the native
    class (``seed``, ``scale_learning_rate``, ``spark``, ...) pass through.
    """

    def __init__(
        self,
        model: keras.Model,
        mode: str = "asynchronous",
        frequency: str | int = "epoch",
        parameter_server_mode: str = "http",
        num_workers: int | None = None,
        custom_objects: dict[str, Any] | None = None,
        batch_size: int = 32,
        port: int | None = None,
        **kwargs: Any,
    ) -> None:
        unknown = sorted(set(kwargs) - _NATIVE_KEYWORDS)
        if unknown:
            raise TypeError(
                f"{type(self).__name__}: unknown argument(s) {', '.join(unknown)}; besides "
                f"Elephas's it takes {', '.join(sorted(_NATIVE_KEYWORDS))}"
            )
        schedule = native_schedule(mode, frequency)
        super().__init__(
            model,
            mode=schedule.mode,
            frequency=schedule.frequency,
            num_workers=num_workers,
            communication_window=schedule.communication_window,
            custom_objects=custom_objects,
            **kwargs,
        )
        self.elephas_mode = mode
        self.elephas_frequency = frequency
        self.parameter_server_mode = check_parameter_server_mode(parameter_server_mode)
        self.port = check_port(port)
        self.batch_size = batch_size
        self.training_histories: list[dict[str, list[float]]] = []

    def get_config(self) -> dict[str, Any]:
        """Elephas's settings, as its ``get_config`` gave them (saved in ``.h5`` files)."""
        return {
            "parameter_server_mode": self.parameter_server_mode,
            "mode": self.elephas_mode,
            "frequency": self.elephas_frequency,
            "num_workers": self._num_workers,
            "batch_size": self.batch_size,
        }

    def fit(self, rdd: Any, **kwargs: Any) -> keras.callbacks.History:
        """Train on ``rdd`` (Elephas: an RDD of ``(x, y)``; anything the native ``fit``
        takes works). ``kwargs`` are Keras's (``epochs``, ``batch_size``, ``verbose``,
        ``validation_split``, ``callbacks``, ...); returns the History (Elephas: None)."""
        kwargs.setdefault("batch_size", self.batch_size)
        history = super().fit(rdd, **kwargs)
        self.training_histories.append(history.history)
        return history

    def predict(self, data: Any, **kwargs: Any) -> Any:
        """Predictions in row order: a NumPy array for a NumPy array, and, as in
        Elephas, a list of arrays for an RDD (its rows are collected to the driver)."""
        kwargs.setdefault("batch_size", self.batch_size)
        if isinstance(data, RDD):
            rows = np.asarray(data.map(lambda x: np.asarray(x, np.float32)).collect())
            return list(super().predict(rows, **kwargs))
        return super().predict(data, **kwargs)

    def evaluate(self, x_test: Any, y_test: Any = None, **kwargs: Any) -> Any:
        """Loss (and metrics) over all rows, weighted by rows; Keras-only ``kwargs``
        (``verbose``, ``steps``) are accepted and ignored."""
        keep = {k: v for k, v in kwargs.items() if k in ("batch_size", "return_dict")}
        keep.setdefault("batch_size", self.batch_size)
        return super().evaluate(x_test, y_test, **keep)

    def save(self, file_name: str, overwrite: bool = False, to_hadoop: bool = False) -> None:
        """Elephas's ``.h5``: the Keras model (legacy HDF5) with this model's settings
        in the file's ``distributed_config`` attribute; ``to_hadoop`` writes it to
        any Hadoop FileSystem URI through Spark (no ``hadoop`` CLI needed)."""
        if not file_name.endswith(".h5"):
            raise ValueError(f"file name must end with '.h5' (Elephas's format), got {file_name!r}")
        if not to_hadoop and os.path.exists(file_name) and not overwrite:
            raise FileExistsError(f"{file_name} exists; pass overwrite=True to replace it")
        data = elephas_h5_bytes(self.model, type(self).__name__, self.get_config())
        if to_hadoop:
            python_api(self.spark).writeFile(java_session(self.spark), file_name, data, overwrite)
        else:
            with open(file_name, "wb") as f:
                f.write(data)


class SparkMLlibModel(SparkModel, native_mllib.SparkMLlibModel):
    """Elephas's ``SparkMLlibModel``: ``train`` on an RDD of ``LabeledPoint``
    (``categorical``/``nb_classes`` one-hot the labels), ``predict`` on MLlib
    vectors and matrices. ``num_workers`` defaults to Spark's parallelism (Elephas: 4)."""

    def __init__(
        self,
        model: keras.Model,
        mode: str = "asynchronous",
        frequency: str | int = "epoch",
        parameter_server_mode: str = "http",
        num_workers: int | None = None,
        elephas_optimizer: Any = None,
        custom_objects: dict[str, Any] | None = None,
        batch_size: int = 32,
        port: int | None = None,
        **kwargs: Any,
    ) -> None:
        if elephas_optimizer is not None:
            raise ValueError(
                "elephas_optimizer is gone (Elephas removed it too): compile the Keras model "
                "with the optimizer to use"
            )
        super().__init__(
            model,
            mode=mode,
            frequency=frequency,
            parameter_server_mode=parameter_server_mode,
            num_workers=num_workers,
            custom_objects=custom_objects,
            batch_size=batch_size,
            port=port,
            **kwargs,
        )

    def train(
        self,
        labeled_points: RDD,
        epochs: int = 10,
        batch_size: int = 32,
        verbose: int = 0,
        validation_split: float = 0.1,
        categorical: bool = False,
        nb_classes: int | None = None,
        **fit_args: Any,
    ) -> keras.callbacks.History:
        """Elephas's ``train``, with its defaults (``validation_split=0.1``)."""
        return native_mllib.SparkMLlibModel.train(
            self,
            labeled_points,
            epochs=epochs,
            batch_size=batch_size,
            verbose=verbose,
            validation_split=validation_split,
            categorical=categorical,
            nb_classes=nb_classes,
            **fit_args,
        )

    def predict(self, data: Any, **kwargs: Any) -> Any:
        """An MLlib ``Vector`` or ``Matrix`` in, the same kind out (predicted on the
        driver, as in Elephas); an RDD of vectors gives a list of arrays."""
        from pyspark.mllib.linalg import DenseMatrix, Matrix, Vector, Vectors

        if isinstance(data, Vector):
            out = self.model.predict(data.toArray().reshape(1, -1), verbose=0)
            return Vectors.dense(np.asarray(out, np.float64).reshape(-1))
        if isinstance(data, Matrix):
            out = np.asarray(self.model.predict(data.toArray(), verbose=0), np.float64)
            return DenseMatrix(out.shape[0], out.shape[1], out.reshape(-1, order="F"))
        if isinstance(data, RDD):
            data = data.map(lambda v: v.toArray() if hasattr(v, "toArray") else v)
        return SparkModel.predict(self, data, **kwargs)


class AsynchronousSparkModel(SparkModel):
    """Elephas 7's name for its parameter-server model, with its argument order
    (``model, num_workers, custom_objects, batch_size, mode, frequency, ...``)."""

    def __init__(
        self,
        model: keras.Model,
        num_workers: int | None = None,
        custom_objects: dict[str, Any] | None = None,
        batch_size: int = 32,
        mode: str = "asynchronous",
        frequency: str | int = "epoch",
        parameter_server_mode: str = "http",
        port: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            model,
            mode=mode,
            frequency=frequency,
            parameter_server_mode=parameter_server_mode,
            num_workers=num_workers,
            custom_objects=custom_objects,
            batch_size=batch_size,
            port=port,
            **kwargs,
        )


def elephas_h5_bytes(model: keras.Model, class_name: str, config: dict[str, Any]) -> bytes:
    """The bytes of an Elephas ``.h5`` file: ``model`` in Keras's legacy HDF5 format
    with ``{"class_name", "config"}`` as JSON in the ``distributed_config`` attribute."""
    import h5py

    with tempfile.TemporaryDirectory(prefix="loxodon-elephas-") as tmp:
        path = os.path.join(tmp, "model.h5")
        model.save(path)
        with h5py.File(path, mode="a") as f:
            f.attrs["distributed_config"] = json.dumps(
                {"class_name": class_name, "config": config}
            ).encode("utf8")
        with open(path, "rb") as f:
            return f.read()


def _read(file_name: str, from_hadoop: bool, spark: SparkSession | None) -> bytes:
    if not from_hadoop:
        with open(file_name, "rb") as f:
            return f.read()
    session = spark or running_session()
    if session is None:
        raise RuntimeError("from_hadoop=True needs an active SparkSession (loxodon.spark_session)")
    return bytes(python_api(session).readFile(java_session(session), file_name))


def _elephas_settings(class_name: str, config: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments from a saved ``distributed_config``. Elephas 7 wrote its
    synchronous model as class ``SparkModel`` without a ``mode``; enum values may be
    written as ``Mode.HOGWILD``."""
    settings: dict[str, Any] = {}
    for key in ("mode", "frequency", "parameter_server_mode", "num_workers", "batch_size", "port"):
        value = config.get(key)
        if isinstance(value, str) and "." in value and key in ("mode", "frequency"):
            value = value.rsplit(".", 1)[1].lower()
        if value is not None:
            settings[key] = value
    if class_name == "SparkModel" and "mode" not in config:
        settings["mode"] = "synchronous"
    return settings


def load_spark_model(
    file_name: str,
    from_hadoop: bool = False,
    custom_objects: dict[str, Any] | None = None,
    spark: SparkSession | None = None,
) -> SparkModel:
    """A ``SparkModel`` (or ``SparkMLlibModel``) from an ``.h5`` file saved by Elephas
    or by :meth:`SparkModel.save`; ``from_hadoop`` reads any Hadoop FileSystem URI.
    A file without ``distributed_config`` (a plain Keras ``.h5`` or ``.keras``) gets
    Elephas's default settings."""
    data = _read(file_name, from_hadoop, spark)
    class_name, config = "SparkModel", {"mode": "asynchronous"}
    if data.startswith(_HDF5_SIGNATURE):
        import h5py

        with tempfile.TemporaryDirectory(prefix="loxodon-elephas-") as tmp:
            path = os.path.join(tmp, "model.h5")
            with open(path, "wb") as f:
                f.write(data)
            model = keras.models.load_model(path, custom_objects=custom_objects)
            with h5py.File(path, mode="r") as f:
                saved = f.attrs.get("distributed_config")
            if saved is not None:
                saved = json.loads(saved)
                class_name, config = saved.get("class_name", class_name), saved.get("config", {})
    else:
        from loxodon.keras_io import load_model

        model = load_model(data, custom_objects)
    classes = {"SparkMLlibModel": SparkMLlibModel, "AsynchronousSparkModel": AsynchronousSparkModel}
    cls = classes.get(class_name, SparkModel)
    extra = {"spark": spark} if spark is not None else {}
    return cls(
        model, custom_objects=custom_objects, **_elephas_settings(class_name, config), **extra
    )

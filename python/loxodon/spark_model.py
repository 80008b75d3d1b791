"""``SparkModel``: a compiled Keras model trained, evaluated and used for
prediction on Spark with Keras's own ``fit``/``predict``/``evaluate`` shape.

The facade is thin: it turns the data into a DataFrame, the model into its
``.keras`` archive, and hands both to the Scala ``Trainer`` (the same code a
Scala application calls). Keras callbacks run here, on the driver, once per
epoch, against the parameter server's current center weights.
"""

from __future__ import annotations

import json
from typing import Any

import keras
import numpy as np
from pyspark import RDD
from pyspark.sql import DataFrame, SparkSession

from loxodon._jvm import java_session, python_api, required_session, running_session
from loxodon._spark_compat import arrow_of_frame
from loxodon.checkpoint import restore_history, resume_point
from loxodon.contract import require_valid
from loxodon.driver_callbacks import DriverCallbacks
from loxodon.driver_data import DriverFit
from loxodon.inputs import (
    ROW_INDEX,
    SAMPLE_WEIGHT,
    Prepared,
    driver_placement,
    prepare,
    weighted_labels,
)
from loxodon.keras_io import load_model, model_to_archive, require_loadable
from loxodon.model_io import ModelIO
from loxodon.model_io_frames import (
    FEATURES,
    LABEL,
    flat_arrays,
    flat_frame,
    require_supported,
    split_predictions,
)
from loxodon.training_job import run_training

_SAVED_MODEL = "model.keras"
_SAVED_CONFIG = "loxodon.json"


def _require_compiled(model: keras.Model) -> None:
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        raise ValueError(
            "the Keras model is not compiled: call model.compile(optimizer=..., loss=..., "
            "metrics=[...]) before handing it to SparkModel"
        )


def _require_input_width(model: Any, x: np.ndarray) -> None:
    """Rows of ``x`` must hold as many values as the model's input takes."""
    shape = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else ()
    if not shape or any(d is None for d in shape) or x.ndim < 1:
        return
    needed, width = int(np.prod(shape)), int(np.prod(x.shape[1:]))
    if width != needed:
        raise ValueError(
            f"features_col: rows of the data to predict have {width} feature values but the "
            f"model's input shape {tuple(int(d) for d in shape)} needs {needed}; pass rows of "
            "that width or change the model's input"
        )


def _flat_data(io: ModelIO, data: Any, y: Any, features_col: Any, label_col: Any) -> tuple:
    """A multi-input/output model's data as one flat features and label vector per row:
    a DataFrame gains the two flat columns, NumPy lists or dicts of arrays become arrays."""
    if isinstance(data, DataFrame):
        if y is not None:
            raise ValueError("y must be None when data is a DataFrame: name label_col instead")
        flat = flat_frame(data, io, features_col, label_col)
        return flat, None, FEATURES, (LABEL if label_col is not None else None)
    if isinstance(data, RDD):
        raise TypeError(
            "an RDD feeds models of one input and one output; pass a DataFrame (a column or "
            "list of columns per input) or NumPy arrays (a list or dict per input and output)"
        )
    x, flat_y = flat_arrays(io, data, y)
    return x, flat_y, "features", "label"


def _custom_objects_bytes(custom_objects: dict[str, Any] | None) -> bytes | None:
    if not custom_objects:
        return None
    from pyspark import cloudpickle

    return cloudpickle.dumps(custom_objects)


def _sample_weights(data: Any, sample_weight: Any, column: str | None) -> np.ndarray | None:
    """NumPy ``sample_weight`` checked against NumPy ``data`` (None when not given)."""
    if column is not None and not isinstance(data, DataFrame):
        raise ValueError("sample_weight_col names a DataFrame column: pass sample_weight= instead")
    if sample_weight is None:
        return None
    if not isinstance(data, np.ndarray):
        raise ValueError(
            "sample_weight= goes with NumPy x; for a DataFrame name its column: sample_weight_col="
        )
    weights = np.asarray(sample_weight, np.float32).reshape(-1)
    if len(weights) != len(data):
        raise ValueError(f"sample_weight has {len(weights)} values for {len(data)} rows of x")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("sample_weight must be finite and >= 0 for every row")
    return weights


def _class_weights(class_weight: dict[int, float]) -> dict[str, float]:
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict of class to weight, got {class_weight!r}")
    return {str(int(k)): float(v) for k, v in class_weight.items()}


def _unweighted_validation(validation_data: Any) -> Any:
    """``(x, y)`` validation rows with weight 1 (validation is not weighted)."""
    if not (isinstance(validation_data, tuple) and len(validation_data) == 2):
        return validation_data
    x, y = validation_data
    return x, weighted_labels(y, np.ones(len(x), np.float32))


class SparkModel:
    """Data-parallel training of a compiled Keras model on Spark.

    ``mode`` is one of ``loxodon.contract.MODES``: ``single``, ``synchronous``,
    ``averaging``, ``asynchronous``, ``hogwild``, ``adag``, ``dynsgd``, ``easgd``,
    ``aeasgd``, ``eamsgd`` (docs/design.md, "Modes").
    ``frequency`` is ``"epoch"`` or a number of batches (averaging mode);
    ``communication_window`` is the number of local batches between exchanges
    (the asynchronous and elastic modes); ``momentum`` is eamsgd's. In the modes
    whose center moves by the mean of the workers' local steps or is pulled toward
    them (``averaging``, ``adag``, ``easgd``, ``aeasgd``, ``eamsgd``), an epoch on N workers
    moves the model less than plain Keras's, so by default the workers scale the
    optimizer's learning rate: by N in averaging (the linear scaling rule), N + 1
    in easgd/aeasgd, (N + 1)(1 - momentum) in eamsgd, the communication window in
    adag, whose server divides each push by its steps (``TrainParams.
    learningRateScale``; ``synchronous`` is left alone: its mean gradient is
    exactly one step of batch N x batch_size, for which the user chose the
    rate); ``scale_learning_rate=False`` keeps it as compiled. The trained model
    keeps the compiled rate. Custom objects travel either as
    ``custom_objects`` (pickled to the workers) or, when they are registered
    with ``keras.saving.register_keras_serializable`` in a module, by naming
    that module in ``imports`` (ship it with ``--files`` or ``addFile``).
    ``sync_transport`` is how ``synchronous`` mode reduces gradients:
    ``"allreduce"`` (a ring among the workers, the default) or ``"server"`` (a
    round on the driver's parameter server); ``sync_precision`` (``"float32"``,
    ``"float16"``, ``"bfloat16"``) the type the all-reduce sends them as;
    ``sync_bucket_bytes`` 0 (the default) reduces the whole gradient once the backward
    pass has ended, above 0 in buckets of at most that many bytes, last layers first,
    each started while the backward pass goes on (``"allreduce"`` only).
    NumPy arrays given to ``fit`` are placed by the driver and fetched by the
    workers from the job's parameter server when they fit in a quarter of the
    driver JVM's heap (``driver_upload=False`` sends them through a DataFrame).
    ``parallelism_factor`` k > 1 (the asynchronous modes without rounds:
    ``asynchronous``, ``hogwild``, ``adag``, ``dynsgd``, ``aeasgd``, ``eamsgd``)
    places the rows in k x N shards that the workers claim in turn each epoch,
    their own first, then a slower worker's, so a straggler holds up no one.
    ``exchange_overlap=True`` (``asynchronous``, ``hogwild``, ``easgd``, ``aeasgd``;
    ``parallelism_factor`` 1) runs each window's exchange with the server while the
    next window trains, at the cost of one window more staleness (docs/design.md,
    "Training modes").
    """

    def __init__(
        self,
        model: keras.Model,
        mode: str = "asynchronous",
        frequency: str | int = "epoch",
        num_workers: int | None = None,
        communication_window: int = 1,
        custom_objects: dict[str, Any] | None = None,
        *,
        easgd_rho: float | None = None,
        momentum: float = 0.5,
        parallelism_factor: int = 1,
        seed: int = 0,
        sync_timeout: float = 120.0,
        imports: list[str] | None = None,
        scale_learning_rate: bool = True,
        sync_transport: str = "allreduce",
        sync_precision: str = "float32",
        sync_bucket_bytes: int = 0,
        exchange_overlap: bool = False,
        driver_upload: bool = True,
        spark: SparkSession | None = None,
    ) -> None:
        # The Spark ML params' rules (Scala's), under this class's argument names.
        require_valid("mode", mode)
        require_valid("frequency", str(frequency), "frequency")
        require_valid("communicationWindow", communication_window, "communication_window")
        require_valid("momentum", float(momentum))
        require_valid("parallelismFactor", parallelism_factor, "parallelism_factor")
        require_valid("syncTransport", sync_transport, "sync_transport")
        require_valid("syncPrecision", sync_precision, "sync_precision")
        require_valid("syncBucketBytes", sync_bucket_bytes, "sync_bucket_bytes")
        if num_workers is not None:
            require_valid("numWorkers", num_workers, "num_workers")
        if mode == "single" and num_workers not in (None, 1):
            raise ValueError("mode 'single' trains on one worker: leave num_workers unset or 1")
        self.model = model
        self.mode = mode
        self.frequency = frequency
        self.communication_window = communication_window
        self.custom_objects = custom_objects or {}
        # Modules the workers import before loading the model: custom objects registered
        # with keras.saving.register_keras_serializable (shipped with --files/addFile).
        self.imports = list(imports or [])
        self.scale_learning_rate = scale_learning_rate
        # NumPy rows go from the driver straight to the job's parameter server
        # (loxodon.driver_data); False sends them through a DataFrame instead.
        self.driver_upload = driver_upload
        self.easgd_rho = easgd_rho
        self.momentum = momentum
        self.parallelism_factor = parallelism_factor
        self.sync_transport = sync_transport
        self.sync_precision = sync_precision
        self.sync_bucket_bytes = sync_bucket_bytes
        self.exchange_overlap = exchange_overlap
        self.seed = seed
        self.sync_timeout = sync_timeout
        self._spark = spark
        self._num_workers = 1 if mode == "single" else num_workers
        # The last fit's run: ``initial_epoch`` (the first epoch it trained: after the checkpoint
        # when it resumed), ``attempts`` (the barrier stage's submissions: more than 1 when a
        # lost worker or executor made it run again from the center), ``epochs_run``, ``rows``
        # and ``workers`` (each worker's result: its ``local_address`` and ``ps_peer``, the
        # parameter server's address it dialled, and ``devices``, the GPUs it held and used,
        # see loxodon.worker.devices).
        self.last_fit: dict[str, Any] = {}

    # -- helpers ------------------------------------------------------------------
    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            self._spark = required_session("SparkModel")
        return self._spark

    @property
    def num_workers(self) -> int:
        return self._num_workers or self.spark.sparkContext.defaultParallelism

    @property
    def master_network(self) -> keras.Model:
        """The driver's model (Elephas's name for it)."""
        return self.model

    def _easgd_alpha(self) -> float:
        if self.easgd_rho is None:
            return 0.9 / self.num_workers  # beta = N alpha = 0.9, as Zhang et al. recommend
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        return lr * self.easgd_rho

    def _prepare(
        self,
        data: Any,
        y: Any,
        features_col: Any,
        label_col: str | None,
        sample_weight: np.ndarray | None = None,
    ) -> Prepared:
        return prepare(self.spark, data, y, features_col, label_col, sample_weight)

    def _driver_fit(
        self, data: Any, y: Any, validation_data: Any, validation_split: float
    ) -> DriverFit | None:
        """A driver-side placement when ``fit`` got NumPy arrays that fit the driver
        JVM comfortably (see ``loxodon.driver_data``); None for the DataFrame route."""
        if not self.driver_upload or self.parallelism_factor > 1:
            return None  # shards are read from Spark's block manager
        return driver_placement(
            self.spark, data, y, validation_data, self.num_workers, self.seed, validation_split
        )

    # -- Keras API ----------------------------------------------------------------
    def fit(
        self,
        data: DataFrame | RDD | np.ndarray,
        y: np.ndarray | None = None,
        epochs: int = 1,
        batch_size: int = 32,
        validation_split: float = 0.0,
        validation_data: Any = None,
        verbose: int = 1,
        callbacks: list[keras.callbacks.Callback] | None = None,
        features_col: Any = "features",
        label_col: Any = "label",
        shuffle: bool = True,
        initial_epoch: int = 0,
        sample_weight: np.ndarray | None = None,
        class_weight: dict[int, float] | None = None,
        sample_weight_col: str | None = None,
        checkpoint_dir: str | None = None,
    ) -> keras.callbacks.History:
        """Train on ``data`` (DataFrame, RDD of (x, y) or LabeledPoint, or NumPy
        ``x`` with ``y``); returns Keras's ``History``. As in Keras, ``sample_weight``
        (NumPy ``x``; for a DataFrame name its column: ``sample_weight_col``) and
        ``class_weight`` (class index to weight) weigh the training rows' loss.

        A model of several inputs or outputs takes ``features_col`` as a list with one
        entry (a column or a list of columns) per input, or a dict by input name, and
        ``label_col`` as a list or dict with one column per output; NumPy ``x``/``y`` as
        lists or dicts of arrays, as Keras does.

        ``checkpoint_dir`` (a Hadoop FileSystem URI) checkpoints the fit after every
        epoch; the same fit started again with it, in a new driver too, resumes at
        the epoch after the last checkpoint (docs/design.md, "Checkpoint and resume")."""
        _require_compiled(self.model)
        io = ModelIO(self.model)
        if io.multi:
            require_supported(io, class_weight, self.parallelism_factor)
            if isinstance(validation_data, tuple):
                validation_data = flat_arrays(io, *validation_data)
            elif validation_data is not None:
                validation_data = flat_frame(validation_data, io, features_col, label_col)
            data, y, features_col, label_col = _flat_data(io, data, y, features_col, label_col)
        if epochs < 1 or initial_epoch < 0 or initial_epoch >= epochs:
            raise ValueError(f"need 0 <= initial_epoch < epochs, got {initial_epoch} and {epochs}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
        if isinstance(data, np.ndarray) and y is None:
            raise ValueError("fit(x) with a NumPy x needs y")
        weights = _sample_weights(data, sample_weight, sample_weight_col)
        resume = None
        if checkpoint_dir is not None:
            resume = resume_point(self.spark, checkpoint_dir)
            if resume is not None and resume.next_epoch < epochs:  # else the JVM says why not
                initial_epoch = max(initial_epoch, resume.next_epoch)
        params = {
            "mode": self.mode,
            "num_workers": self.num_workers,
            "epochs": epochs,
            "initial_epoch": initial_epoch,
            "batch_size": batch_size,
            "validation_split": validation_split,
            "seed": self.seed,
            "shuffle": shuffle,
            "frequency": self.frequency,
            "communication_window": self.communication_window,
            "easgd_alpha": self._easgd_alpha(),
            "momentum": self.momentum,
            "sync_timeout_ms": int(self.sync_timeout * 1000),
            "imports": self.imports,
            "scale_learning_rate": self.scale_learning_rate,
            "parallelism_factor": self.parallelism_factor,
            "sync_transport": self.sync_transport,
            "sync_precision": self.sync_precision,
            "sync_bucket_bytes": self.sync_bucket_bytes,
            "exchange_overlap": self.exchange_overlap,
        }
        if checkpoint_dir is not None:
            params["checkpoint_dir"] = checkpoint_dir
        if weights is not None or sample_weight_col:
            params["sample_weight_col"] = sample_weight_col or SAMPLE_WEIGHT
        if class_weight:
            if "sample_weight_col" in params:  # as Keras refuses both
                raise ValueError(
                    "pass class_weight or sample weights, not both (as Keras): fold the class "
                    "weights into the sample weights"
                )
            params["class_weight"] = _class_weights(class_weight)
        driver_callbacks = DriverCallbacks(callbacks or [], self.model, epochs)
        driver_callbacks.begin(initial_epoch)  # a rate set here goes out in the archive
        if resume is not None:
            restore_history(driver_callbacks.list, resume)
        archive = self._archive("fit")
        custom = _custom_objects_bytes(self.custom_objects)
        if weights is not None:  # the driver route's labels carry the weight as Scala's do
            driver = self._driver_fit(
                data,
                weighted_labels(y, weights),
                _unweighted_validation(validation_data),
                validation_split,
            )
        else:
            driver = self._driver_fit(data, y, validation_data, validation_split)
        if driver is not None:
            params |= {"features_col": "features", "label_col": "label"}
            job = python_api(self.spark).startDriverDataTraining(
                java_session(self.spark), driver.layout_json(), archive, custom, json.dumps(params)
            )
            driver.start(job, overlap=True)
            return run_training(
                job, self.model, params, driver_callbacks, verbose, self._new_fit_record(params)
            )
        train = self._prepare(data, y, features_col, label_col, weights)
        val = None
        if validation_data is not None:
            if isinstance(validation_data, tuple):
                val = self._prepare(validation_data[0], validation_data[1], "features", "label")
            else:
                val = self._prepare(validation_data, None, features_col, label_col)
        params |= {"features_col": train.features_col, "label_col": train.label_col}
        job = python_api(self.spark).startTraining(
            java_session(self.spark),
            train.frame._jdf,
            val.frame._jdf if val is not None else None,
            archive,
            custom,
            json.dumps(params),
        )
        return run_training(
            job, self.model, params, driver_callbacks, verbose, self._new_fit_record(params)
        )

    def _archive(self, where: str) -> bytes:
        """The model's ``.keras`` bytes, once the workers are known to be able to load it."""
        require_loadable(self.model, self.custom_objects, self.imports, where)
        return model_to_archive(self.model)

    def _new_fit_record(self, params: dict[str, Any]) -> dict[str, Any]:
        self.last_fit = {"initial_epoch": params["initial_epoch"]}
        return self.last_fit

    def predict(
        self,
        data: DataFrame | RDD | np.ndarray,
        batch_size: int = 1024,
        features_col: Any = "features",
        prediction_col: str = "prediction",
    ) -> Any:
        """Distributed inference: NumPy in, NumPy out (row order kept); a DataFrame
        gets a ``prediction_col`` array column; an RDD gets an RDD of arrays. A model of
        several outputs gives, as Keras, a list or dict of arrays, and a DataFrame one
        array column per output, ``<prediction_col>_<output name>``."""
        io = ModelIO(self.model)
        if io.multi:
            return self._predict_multi(io, data, batch_size, features_col, prediction_col)
        if isinstance(data, RDD):
            data = data.map(lambda x: (np.asarray(x, np.float64).reshape(-1), [0.0]))
            frame = self._predict_frame(
                self._prepare(data, None, "features", "label"), batch_size, prediction_col
            )
            return frame.rdd.map(lambda row: np.asarray(row[prediction_col], np.float32))
        if isinstance(data, np.ndarray):
            _require_input_width(self.model, data)
        prepared = self._prepare(data, None, features_col, None)
        frame = self._predict_frame(prepared, batch_size, prediction_col)
        if not prepared.indexed:
            return frame
        table = arrow_of_frame(frame.select(ROW_INDEX, prediction_col))
        order = np.argsort(table.column(ROW_INDEX).to_numpy())
        column = table.column(prediction_col).combine_chunks()
        values = column.flatten().to_numpy(zero_copy_only=False)
        preds = values.reshape(len(column), -1)[order]
        out_shape = tuple(d for d in self.model.outputs[0].shape[1:])
        return preds.reshape(len(preds), *out_shape).astype(np.float32)

    def _predict_multi(
        self, io: ModelIO, data: Any, batch_size: int, features_col: Any, prediction_col: str
    ) -> Any:
        data, _, features_col, _ = _flat_data(io, data, None, features_col, None)
        if isinstance(data, DataFrame):
            frame = self._predict_frame(
                self._prepare(data, None, features_col, None), batch_size, prediction_col
            ).drop(FEATURES)
            return split_predictions(frame, io, prediction_col) if len(io.outputs) > 1 else frame
        prepared = self._prepare(data, None, "features", None)
        table = arrow_of_frame(
            self._predict_frame(prepared, batch_size, prediction_col).select(
                ROW_INDEX, prediction_col
            )
        )
        order = np.argsort(table.column(ROW_INDEX).to_numpy())
        column = table.column(prediction_col).combine_chunks()
        flat = column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), -1)[order]
        preds = io.split_predictions(flat.astype(np.float32))
        return preds[0] if isinstance(preds, list) and len(preds) == 1 else preds

    def _predict_frame(self, prepared: Prepared, batch_size: int, prediction_col: str) -> DataFrame:
        params = {
            "features_col": prepared.features_col,
            "prediction_col": prediction_col,
            "batch_size": batch_size,
            "imports": self.imports,
        }
        jdf = python_api(self.spark).predict(
            java_session(self.spark),
            prepared.frame._jdf,
            self._archive("predict"),
            _custom_objects_bytes(self.custom_objects),
            json.dumps(params),
        )
        return DataFrame(jdf, self.spark)

    def evaluate(
        self,
        data: DataFrame | RDD | np.ndarray,
        y: np.ndarray | None = None,
        batch_size: int = 1024,
        features_col: Any = "features",
        label_col: Any = "label",
        return_dict: bool = False,
    ) -> float | list[float] | dict[str, float]:
        """Loss and metrics over all rows, each weighted by its partition's rows (for a
        model of several outputs, Keras's per-output losses and metrics too)."""
        _require_compiled(self.model)
        io = ModelIO(self.model)
        if io.multi:
            data, y, features_col, label_col = _flat_data(io, data, y, features_col, label_col)
        prepared = self._prepare(data, y, features_col, label_col)
        params = {
            "features_col": prepared.features_col,
            "label_col": prepared.label_col,
            "batch_size": batch_size,
            "imports": self.imports,
        }
        result = json.loads(
            python_api(self.spark).evaluate(
                java_session(self.spark),
                prepared.frame._jdf,
                self._archive("evaluate"),
                _custom_objects_bytes(self.custom_objects),
                json.dumps(params),
            )
        )
        result.pop("rows", None)
        if return_dict:
            return result
        values = [result["loss"], *(v for k, v in result.items() if k != "loss")]
        return values[0] if len(values) == 1 else values

    # -- persistence --------------------------------------------------------------
    def save(self, path: str, overwrite: bool = True) -> None:
        """Save to any Hadoop FileSystem URI (file://, hdfs://, s3a://): a directory
        holding the ``.keras`` archive and Loxodon's settings."""
        api = python_api(self.spark)
        config = {
            "mode": self.mode,
            "frequency": self.frequency,
            "num_workers": self._num_workers,
            "communication_window": self.communication_window,
            "easgd_rho": self.easgd_rho,
            "momentum": self.momentum,
            "parallelism_factor": self.parallelism_factor,
            "sync_transport": self.sync_transport,
            "sync_precision": self.sync_precision,
            "sync_bucket_bytes": self.sync_bucket_bytes,
            "exchange_overlap": self.exchange_overlap,
            "seed": self.seed,
            "sync_timeout": self.sync_timeout,
        }
        jspark = java_session(self.spark)
        api.writeFile(
            jspark, f"{path.rstrip('/')}/{_SAVED_MODEL}", model_to_archive(self.model), overwrite
        )
        api.writeFile(
            jspark, f"{path.rstrip('/')}/{_SAVED_CONFIG}", json.dumps(config).encode(), overwrite
        )

    def get_weights(self) -> list[np.ndarray]:
        return self.model.get_weights()


def load_spark_model(
    path: str, custom_objects: dict[str, Any] | None = None, spark: SparkSession | None = None
) -> SparkModel:
    """Load a model saved by :meth:`SparkModel.save` from any Hadoop FileSystem URI."""
    session = spark or running_session()
    if session is None:
        raise RuntimeError("load_spark_model needs an active SparkSession (loxodon.spark_session)")
    api = python_api(session)
    jspark = java_session(session)
    archive = bytes(api.readFile(jspark, f"{path.rstrip('/')}/{_SAVED_MODEL}"))
    config = json.loads(bytes(api.readFile(jspark, f"{path.rstrip('/')}/{_SAVED_CONFIG}")))
    model = load_model(archive, custom_objects)
    return SparkModel(
        model,
        mode=config["mode"],
        frequency=config["frequency"],
        num_workers=config["num_workers"],
        communication_window=config["communication_window"],
        custom_objects=custom_objects,
        easgd_rho=config["easgd_rho"],
        momentum=config.get("momentum", 0.9),
        parallelism_factor=config.get("parallelism_factor", 1),
        sync_transport=config.get("sync_transport", "allreduce"),
        sync_precision=config.get("sync_precision", "float32"),
        sync_bucket_bytes=config.get("sync_bucket_bytes", 0),
        exchange_overlap=config.get("exchange_overlap", False),
        seed=config["seed"],
        sync_timeout=config["sync_timeout"],
        spark=session,
    )

package loxodon.ml

import org.apache.spark.ml.Estimator
import org.apache.spark.ml.param.ParamMap
import org.apache.spark.ml.util.{Identifiable, MLReadable, MLReader, MLWritable, MLWriter}
import org.apache.spark.sql.{Dataset, SparkSession}
import org.apache.spark.sql.types.StructType
import org.slf4j.{Logger, LoggerFactory}

import loxodon.model.KerasArchive
import loxodon.train.{TrainParams, Trainer}

/** Trains a compiled Keras model data-parallel on a DataFrame, as a Spark ML Estimator (so it fits
  * in a `Pipeline` after `VectorAssembler`, `StringIndexer`, ...).
  *
  * The Keras model is not a Param: set it with `setModelArchive(bytes)` (the `.keras` archive; the
  * Python wrapper's `setModel(keras_model)` does this) or `setModelPath(uri)`; custom objects with
  * `setCustomObjects(bytes)` (a cloudpickle made in Python) or by naming modules in `imports`.
  * `fit` runs one [[loxodon.train.Trainer]] job with no callbacks, logs each epoch, and returns a
  * [[KerasModel]] holding the trained archive and the per-epoch history.
  *
  * {{{
  *   val est = new KerasEstimator().setModelPath("hdfs:///models/mlp.keras")
  *     .setNumWorkers(4).setEpochs(10).setMode("synchronous")
  *   val model = new Pipeline().setStages(Array(assembler, indexer, est)).fit(train)
  * }}}
  */
class KerasEstimator(override val uid: String)
    extends Estimator[KerasModel]
    with KerasInferenceSetters
    with HasKerasArchive
    with MLWritable {

  def this() = this(Identifiable.randomUID("KerasEstimator"))

  /** An estimator trains only a compiled model (its loss and optimizer come from the archive). */
  override protected def checkArchive(bytes: Array[Byte]): Unit =
    KerasArchive.parse(bytes).requireCompiled()

  def setMode(v: String): this.type = setChecked(mode, v)
  def setFrequency(v: String): this.type = setChecked(frequency, v)
  def setCommunicationWindow(v: Int): this.type = setChecked(communicationWindow, v)
  def setEasgdAlpha(v: Double): this.type = setChecked(easgdAlpha, v)
  def setMomentum(v: Double): this.type = setChecked(momentum, v)
  def setParallelismFactor(v: Int): this.type = setChecked(parallelismFactor, v)
  def setSyncTransport(v: String): this.type = setChecked(syncTransport, v)
  def setSyncPrecision(v: String): this.type = setChecked(syncPrecision, v)
  def setSyncBucketBytes(v: Int): this.type = setChecked(syncBucketBytes, v)
  def setExchangeOverlap(v: Boolean): this.type = setChecked(exchangeOverlap, v)
  def setNumWorkers(v: Int): this.type = setChecked(numWorkers, v)
  def setEpochs(v: Int): this.type = setChecked(epochs, v)
  def setBatchSize(v: Int): this.type = setChecked(batchSize, v)
  def setValidationSplit(v: Double): this.type = setChecked(validationSplit, v)
  def setSeed(v: Long): this.type = setChecked(seed, v)
  def setShuffle(v: Boolean): this.type = setChecked(shuffle, v)
  def setLabelCol(v: String): this.type = setChecked(labelCol, v)
  def setLabelCols(v: Array[String]): this.type = setChecked(labelCols, v)
  def setSampleWeightCol(v: String): this.type = setChecked(sampleWeightCol, v)
  def setCheckpointDir(v: String): this.type = setChecked(checkpointDir, v)
  def setSyncTimeoutMs(v: Long): this.type = setChecked(syncTimeoutMs, v)
  def setScaleLearningRate(v: Boolean): this.type = setChecked(scaleLearningRate, v)

  override def transformSchema(schema: StructType): StructType =
    validateAndTransformSchema(schema, fitting = true, archive.map(KerasArchive.parse))

  /** The [[loxodon.train.TrainParams]] of a fit on `spark` (resolving the cluster-dependent
    * defaults of `numWorkers` and `easgdAlpha`).
    */
  def trainParams(spark: SparkSession): TrainParams = {
    validateParams()
    val n =
      if (isDefined(numWorkers)) $(numWorkers)
      else if ($(mode) == "single") 1
      else spark.sparkContext.defaultParallelism
    TrainParams(
      mode = $(mode),
      numWorkers = n,
      epochs = $(epochs),
      batchSize = $(batchSize),
      validationSplit = $(validationSplit),
      seed = $(seed),
      shuffle = $(shuffle),
      frequency = $(frequency),
      communicationWindow = $(communicationWindow),
      easgdAlpha = if (isDefined(easgdAlpha)) $(easgdAlpha) else 0.9 / n,
      momentum = $(momentum),
      featuresCol = featureColumns._1,
      labelCol = $(labelCol),
      syncTimeoutMs = $(syncTimeoutMs),
      imports = $(imports).toSeq,
      scaleLearningRate = $(scaleLearningRate),
      parallelismFactor = $(parallelismFactor),
      sampleWeightCol = get(sampleWeightCol),
      checkpointDir = get(checkpointDir),
      syncTransport = $(syncTransport),
      syncPrecision = $(syncPrecision),
      syncBucketBytes = $(syncBucketBytes),
      exchangeOverlap = $(exchangeOverlap)
    )
  }

  override def fit(dataset: Dataset[_]): KerasModel = {
    transformSchema(dataset.schema, logging = true)
    val bytes = requireArchive(stageName, " (in Python: setModel(keras_model))")
    val spark = dataset.sparkSession
    val keras = KerasArchive.parse(bytes)
    if (keras.multi && $(parallelismFactor) > 1) {
      throw new IllegalArgumentException(
        s"$stageName param parallelismFactor: above 1 is not supported for models of several " +
          "inputs or outputs; set parallelismFactor to 1"
      )
    }
    // inputCols/labelCols: one flat column each, split per input and output by the workers.
    val data =
      if (inputColumns.isEmpty && labelColumns.isEmpty) dataset.toDF()
      else
        MultiColumns.flatFrame(
          stageName,
          dataset.toDF(),
          keras,
          inputColumns.getOrElse(Seq.empty),
          labelColumns
        )
    val params = trainParams(spark).copy(
      featuresCol = inputColumns.fold(featureColumns._1)(_ => Seq(MultiColumns.Features)),
      labelCol = labelColumns.fold($(labelCol))(_ => MultiColumns.Label)
    )
    KerasEstimator.log.info(
      s"$uid: fitting with mode=${params.mode}, numWorkers=${params.numWorkers}, " +
        s"epochs=${params.epochs}, batchSize=${params.batchSize}"
    )
    // Trainer.complete drives the job (no callbacks) and closes it in every case.
    val result = Trainer.complete(Trainer.start(spark, data, None, bytes, custom, params))
    val model = new KerasModel(uid)
      .setModelArchive(result.modelArchive)
      .setCustomObjects(custom.orNull)
      .setHistory(result.history)
    copyValues(model).setParent(this)
  }

  override def copy(extra: ParamMap): KerasEstimator = {
    val that = new KerasEstimator(uid)
    copyArchiveTo(that)
    copyValues(that, extra)
  }

  override def write: MLWriter = new KerasEstimator.KerasEstimatorWriter(this)
}

object KerasEstimator extends MLReadable[KerasEstimator] {
  private val log: Logger = LoggerFactory.getLogger(classOf[KerasEstimator])

  override def read: MLReader[KerasEstimator] = new KerasEstimatorReader

  override def load(path: String): KerasEstimator = super.load(path)

  private class KerasEstimatorWriter(instance: KerasEstimator) extends MLWriter {
    override protected def saveImpl(path: String): Unit =
      KerasPersistence.save(
        instance,
        path,
        sparkSession,
        KerasPersistence.Extra(instance.archive, instance.custom, None)
      )
  }

  private class KerasEstimatorReader extends MLReader[KerasEstimator] {
    override def load(path: String): KerasEstimator = {
      val (est, extra) = KerasPersistence.load(path, sparkSession, classOf[KerasEstimator].getName)(
        new KerasEstimator(_)
      )
      est.archive = extra.archive
      est.custom = extra.customObjects
      est
    }
  }
}

package loxodon

import org.apache.spark.sql.{DataFrame, Row, SparkSession}
import org.apache.spark.sql.types._

import loxodon.exec.WorkerWarmUp
import loxodon.infer.{Evaluator, InferenceParams, Predictor}
import loxodon.io.HadoopFiles
import loxodon.data.{BalancedPartitioning, DriverData, ImageFolder, TrainingData}
import loxodon.ps.{ParameterServer, ParameterServerConf}
import loxodon.select.{SearchOptions, Selection, SelectionJob}
import loxodon.train.{TrainParams, Trainer, TrainingJob}

/** The single Py4J doorway into the JVM half: Python (`loxodon._jvm`) calls only the methods of
  * this object, with plain Java types, and gets back JVM objects it drives by their public methods.
  * Each method delegates to the Scala API a Scala user would call.
  */
object PythonAPI {

  /** The version of this jar; Python checks it to see the jar is on the class path. */
  def version: String = "0.1.0"

  /** Starts a parameter server for one job, bound to the driver host of `spark`'s config on the
    * port it names, by default any free one (see [[loxodon.ps.SparkBinding]]). The caller closes
    * the server.
    *
    * @param numParams
    *   a Python int: a Long here, checked to fit an Int
    * @param maxBlobBytes
    *   the blob store's cap; 0: the Spark config's or the default
    * @param tls
    *   "true"/"false" forces TLS on or off; "": as the Spark config says
    */
  def startParameterServer(
      spark: SparkSession,
      numWorkers: Int,
      numParams: Long,
      layoutJson: String,
      syncTimeoutMs: Long,
      maxFrameBytes: Int,
      easgdAlpha: Double,
      maxBlobBytes: Long,
      tls: String
  ): ParameterServer = {
    val bound = loxodon.ps.SparkBinding.serverConf(
      spark.sparkContext.getConf,
      ParameterServerConf(
        numWorkers = numWorkers,
        numParams = ParameterServerConf.numParams(numParams),
        layoutJson = layoutJson,
        maxFrameBytes = maxFrameBytes,
        syncTimeoutMs = syncTimeoutMs,
        easgdAlpha = easgdAlpha
      )
    )
    ParameterServer.start(
      bound.copy(
        maxBlobBytes = if (maxBlobBytes > 0) maxBlobBytes else bound.maxBlobBytes,
        tls = if (tls.isEmpty) bound.tls else tls.toBoolean
      )
    )
  }

  /** Starts a fit (see [[loxodon.train.Trainer.start]]) and returns its handle, which Python drives
    * with `nextEvent`, `release`, `cancel` and `close`.
    *
    * @param valDf
    *   the validation rows, or null (then `validation_split` of the params applies)
    * @param customObjects
    *   a cloudpickle of the Keras custom objects, or null
    * @param paramsJson
    *   the params of [[loxodon.train.TrainParams.fromJson]]
    */
  def startTraining(
      spark: SparkSession,
      df: DataFrame,
      valDf: DataFrame,
      archive: Array[Byte],
      customObjects: Array[Byte],
      paramsJson: String
  ): TrainingJob =
    Trainer.start(
      spark,
      df,
      Option(valDf),
      archive,
      Option(customObjects),
      TrainParams.fromJson(paramsJson)
    )

  /** Starts `n` Python workers in the executors' pools ahead of the first fit (see
    * [[loxodon.exec.WorkerWarmUp]]).
    */
  def warmUpWorkers(spark: SparkSession, n: Int): Int = WorkerWarmUp.run(spark, n)

  /** Prepares a fit on rows the Python driver holds (NumPy arrays): `layoutJson` is read by
    * [[loxodon.data.DriverData.fromJson]]. The caller uploads the row chunks to the returned job's
    * parameter server and then calls `start()` on it.
    */
  def startDriverDataTraining(
      spark: SparkSession,
      layoutJson: String,
      archive: Array[Byte],
      customObjects: Array[Byte],
      paramsJson: String
  ): TrainingJob =
    Trainer.startDriverData(
      spark,
      DriverData.fromJson(layoutJson),
      archive,
      Option(customObjects),
      TrainParams.fromJson(paramsJson)
    )

  /** `df` plus a `prediction_col` column of float arrays (params: `features_col`, `prediction_col`,
    * `batch_size`).
    */
  def predict(
      spark: SparkSession,
      df: DataFrame,
      archive: Array[Byte],
      customObjects: Array[Byte],
      paramsJson: String
  ): DataFrame =
    Predictor.predict(
      spark,
      df,
      archive,
      Option(customObjects),
      InferenceParams.fromJson(paramsJson)
    )

  /** Loss and metrics over `df` as JSON, `{"rows": n, "loss": .., ...}` (params: `features_col`,
    * `label_col`, `batch_size`).
    */
  def evaluate(
      spark: SparkSession,
      df: DataFrame,
      archive: Array[Byte],
      customObjects: Array[Byte],
      paramsJson: String
  ): String =
    Evaluator.evaluate(
      spark,
      df,
      archive,
      Option(customObjects),
      InferenceParams.fromJson(paramsJson)
    )

  /** Starts a model-selection search (see [[loxodon.select.Selection.start]]) and returns its
    * handle; Python adds models and drives it.
    *
    * @param scheduleJson
    *   a logged schedule to replay, or null
    * @param taskParallel
    *   every worker holds all rows and trains whole epochs (the task-parallel baseline)
    */
  def startSelection(
      spark: SparkSession,
      df: DataFrame,
      valDf: DataFrame,
      referenceArchive: Array[Byte],
      paramsJson: String,
      scheduleJson: String,
      taskParallel: Boolean
  ): SelectionJob =
    Selection.start(
      spark,
      df,
      Option(valDf),
      referenceArchive,
      TrainParams.fromJson(paramsJson),
      SearchOptions(Option(scheduleJson), taskParallel)
    )

  /** A search over NumPy rows the driver places and uploads (`loxodon.driver_data`) before it calls
    * `start()` on the returned job; `layoutJson` as for [[startDriverDataTraining]].
    */
  def startDriverDataSelection(
      spark: SparkSession,
      layoutJson: String,
      referenceArchive: Array[Byte],
      paramsJson: String,
      scheduleJson: String,
      taskParallel: Boolean
  ): SelectionJob =
    Selection.startDriverData(
      spark,
      DriverData.fromJson(layoutJson),
      referenceArchive,
      TrainParams.fromJson(paramsJson),
      SearchOptions(Option(scheduleJson), taskParallel)
    )

  /** The labelled images of a folder of class sub-folders ([[ImageFolder]]). */
  def imageFolder(spark: SparkSession, root: String): DataFrame = ImageFolder.load(spark, root)

  /** The rows each worker of a fit or search with these params holds, in the order it holds them:
    * columns `partition`, `part` (0 training, 1 validation), `features`, `label`.
    */
  def partitionRows(spark: SparkSession, df: DataFrame, paramsJson: String): DataFrame = {
    val p = TrainParams.fromJson(paramsJson)
    val prepared = TrainingData.prepare(df, p.featuresCol, Some(p.labelCol))
    val parts =
      BalancedPartitioning.partition(prepared, None, p.numWorkers, p.seed, p.validationSplit)
    val rows = parts.rdd.mapPartitionsWithIndex { (i, it) =>
      it.map { case ((tag, _), e) => Row(i, tag, e.features.toSeq, e.label.toSeq) }
    }
    val floats = ArrayType(FloatType, containsNull = false)
    val schema = StructType(
      Seq(
        StructField("partition", IntegerType, nullable = false),
        StructField("part", IntegerType, nullable = false),
        StructField("features", floats, nullable = false),
        StructField("label", floats, nullable = false)
      )
    )
    spark.createDataFrame(rows, schema)
  }

  /** The newest checkpoint under `dir` as JSON (`epoch`, `stopped`, `uri`, `history`: one object of
    * logs per epoch), or null when there is none; a bad URI is an IllegalArgumentException. The fit
    * itself checks the checkpoint against its settings ([[loxodon.train.Trainer.resumable]]).
    */
  def latestCheckpoint(spark: SparkSession, dir: String): String = {
    val conf = spark.sparkContext.hadoopConfiguration
    val found = loxodon.train.Checkpoints.latest(conf, dir)
    if (found.isEmpty) loxodon.train.Checkpoints.resolve(conf, dir)
    found.map(_.summaryJson).orNull
  }

  /** Writes `bytes` to `uri` through Hadoop's FileSystem. */
  def writeFile(spark: SparkSession, uri: String, bytes: Array[Byte], overwrite: Boolean): Unit =
    HadoopFiles.write(spark, uri, bytes, overwrite)

  /** The bytes of the file at `uri`, through Hadoop's FileSystem. */
  def readFile(spark: SparkSession, uri: String): Array[Byte] = HadoopFiles.read(spark, uri)
}

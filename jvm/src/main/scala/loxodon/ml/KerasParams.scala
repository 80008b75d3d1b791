package loxodon.ml

import org.apache.spark.ml.linalg.SQLDataTypes
import org.apache.spark.ml.param._
import org.apache.spark.sql.types._

import loxodon.model.KerasArchive
import loxodon.train.TrainParams

/** The Params of [[KerasEstimator]] and [[KerasModel]] (both carry all of them, as Spark's own
  * estimator/model pairs do: the model keeps the settings it was trained with). Names are the same
  * camelCase names in Scala and Python.
  *
  * Every param has a doc, a default (except `numWorkers`, `easgdAlpha`, `featuresCols`, `inputCols`
  * and `labelCols`, whose defaults depend on the cluster or are optional) and a [[ParamRule]] in
  * [[KerasParams.Rules]]: Spark's validators use it, the setters and `transformSchema` turn its
  * answer into an error that names the stage and the param, and [[loxodon.Contract]] hands params,
  * defaults and rules to the Python front end, which declares none of them itself.
  */
trait KerasParams extends Params {
  import KerasParams._

  final val mode: Param[String] =
    new Param(this, "mode", s"training mode: one of ${Modes.mkString(", ")}", valid[String]("mode"))
  final val frequency: Param[String] = new Param(
    this,
    "frequency",
    "how often averaging mode averages weights: 'epoch' or a positive number of batches",
    valid[String]("frequency")
  )
  final val communicationWindow: IntParam = new IntParam(
    this,
    "communicationWindow",
    "batches a worker trains between exchanges in the asynchronous, hogwild, adag, dynsgd and " +
      "elastic modes (>= 1)",
    valid[Int]("communicationWindow")
  )
  final val easgdAlpha: DoubleParam = new DoubleParam(
    this,
    "easgdAlpha",
    "elastic averaging rate of easgd/aeasgd/eamsgd (> 0); 0.9 / numWorkers when unset",
    valid[Double]("easgdAlpha")
  )
  final val momentum: DoubleParam = new DoubleParam(
    this,
    "momentum",
    "momentum of the local steps in eamsgd mode, in [0, 1)",
    valid[Double]("momentum")
  )
  final val parallelismFactor: IntParam = new IntParam(
    this,
    "parallelismFactor",
    "k: the rows are placed in k x numWorkers shards that the workers claim in turn each epoch, " +
      "so a fast worker trains more of them (>= 1; above 1 only in the modes " +
      s"${TrainParams.ShardedModes.mkString(", ")})",
    valid[Int]("parallelismFactor")
  )
  final val syncTransport: Param[String] = new Param(
    this,
    "syncTransport",
    "how synchronous mode reduces gradients: 'allreduce' (a ring among the workers) or " +
      "'server' (a round on the driver's parameter server)",
    valid[String]("syncTransport")
  )
  final val syncPrecision: Param[String] = new Param(
    this,
    "syncPrecision",
    "the type synchronous mode's all-reduce sends gradients as: float32, float16 or bfloat16",
    valid[String]("syncPrecision")
  )
  final val syncBucketBytes: IntParam = new IntParam(
    this,
    "syncBucketBytes",
    "synchronous mode's all-reduce: 0 reduces the whole gradient once the backward pass has " +
      "ended; above 0, in buckets of at most that many bytes, last layers first, each started " +
      "while the backward pass goes on (>= 0; syncTransport 'allreduce' only)",
    valid[Int]("syncBucketBytes")
  )
  final val exchangeOverlap: BooleanParam = new BooleanParam(
    this,
    "exchangeOverlap",
    "whether a window's exchange with the server runs while the next window trains (one window " +
      s"more staleness; modes ${TrainParams.OverlappedModes.mkString(", ")}, parallelismFactor 1)"
  )
  final val numWorkers: IntParam = new IntParam(
    this,
    "numWorkers",
    "data-parallel workers (barrier tasks, >= 1); the SparkContext's defaultParallelism when unset",
    valid[Int]("numWorkers")
  )
  final val epochs: IntParam =
    new IntParam(this, "epochs", "passes over the training data (>= 1)", valid[Int]("epochs"))
  final val batchSize: IntParam = new IntParam(
    this,
    "batchSize",
    "rows per training step on each worker (>= 1)",
    valid[Int]("batchSize")
  )
  final val validationSplit: DoubleParam = new DoubleParam(
    this,
    "validationSplit",
    "fraction of the rows held out for validation metrics, in [0, 1)",
    valid[Double]("validationSplit")
  )
  final val seed: LongParam =
    new LongParam(this, "seed", "seed of partitioning, validation split and shuffling")
  final val shuffle: BooleanParam =
    new BooleanParam(this, "shuffle", "whether workers reshuffle their rows every epoch")
  final val featuresCol: Param[String] = new Param(
    this,
    "featuresCol",
    "features column: an ML Vector, an array of numbers, or a numeric column",
    valid[String]("featuresCol")
  )
  final val featuresCols: StringArrayParam = new StringArrayParam(
    this,
    "featuresCols",
    "several numeric feature columns, used instead of featuresCol when set and not empty",
    valid[Array[String]]("featuresCols")
  )
  final val inputCols: StringArrayParam = new StringArrayParam(
    this,
    "inputCols",
    "one column per model input, in the model's input order (a list of Inputs in order, a dict " +
      "by sorted name), each an ML Vector, an array of numbers or a numeric column; needed for a " +
      "model of several inputs, used instead of featuresCol(s) when set and not empty",
    valid[Array[String]]("inputCols")
  )
  final val labelCols: StringArrayParam = new StringArrayParam(
    this,
    "labelCols",
    "one label column per model output, in the model's output order (a list in order, a dict by " +
      "sorted name); needed to fit a model of several outputs, used instead of labelCol when set " +
      "and not empty",
    valid[Array[String]]("labelCols")
  )
  final val labelCol: Param[String] = new Param(
    this,
    "labelCol",
    "label column: a class index or value, an array of numbers, or an ML Vector (one-hot)",
    valid[String]("labelCol")
  )
  final val sampleWeightCol: Param[String] = new Param(
    this,
    "sampleWeightCol",
    "numeric column of per-row loss weights (Keras's sample_weight); unset: every row weighs 1. " +
      "For class weights, derive it from the label (F.when(...))",
    valid[String]("sampleWeightCol")
  )
  final val checkpointDir: Param[String] = new Param(
    this,
    "checkpointDir",
    "Hadoop FileSystem URI (file://, hdfs://, ...) where the fit checkpoints the center, the " +
      "workers' optimizer state, the epoch and the history after every epoch; a fit started " +
      "again with the same settings and checkpointDir resumes at the next epoch. Unset: no " +
      "checkpoints",
    valid[String]("checkpointDir")
  )
  final val predictionCol: Param[String] =
    new Param(this, "predictionCol", "prediction column name", valid[String]("predictionCol"))
  final val probabilityCol: Param[String] = new Param(
    this,
    "probabilityCol",
    "column of class probabilities (an ML Vector) in classification output mode",
    valid[String]("probabilityCol")
  )
  final val outputMode: Param[String] = new Param(
    this,
    "outputMode",
    "'classification': prediction = argmax class index (Double) plus probabilityCol (Vector); " +
      "'raw': prediction = the model's raw output (array<float>)",
    valid[String]("outputMode")
  )
  final val inferenceBatchSize: IntParam = new IntParam(
    this,
    "inferenceBatchSize",
    "rows per predict batch in transform (>= 1)",
    valid[Int]("inferenceBatchSize")
  )
  final val syncTimeoutMs: LongParam = new LongParam(
    this,
    "syncTimeoutMs",
    "milliseconds a sync round waits for missing workers before the fit fails (> 0)",
    valid[Long]("syncTimeoutMs")
  )
  final val scaleLearningRate: BooleanParam = new BooleanParam(
    this,
    "scaleLearningRate",
    "whether modes whose model moves by the mean of the workers' steps (" +
      s"${TrainParams.LearningRateScaledModes.mkString(", ")}) scale the learning rate so that an " +
      "epoch moves as far as plain Keras's: averaging by numWorkers, easgd and aeasgd by " +
      "numWorkers + 1, eamsgd by (numWorkers + 1)(1 - momentum), adag by communicationWindow"
  )
  final val imports: StringArrayParam = new StringArrayParam(
    this,
    "imports",
    "Python modules the workers import before loading the model (custom objects registered " +
      "with keras.saving.register_keras_serializable)",
    valid[Array[String]]("imports")
  )

  setDefault(
    mode -> "asynchronous",
    frequency -> "epoch",
    communicationWindow -> 1,
    momentum -> 0.5,
    parallelismFactor -> 1,
    syncTransport -> "allreduce",
    syncPrecision -> "float32",
    syncBucketBytes -> 0,
    exchangeOverlap -> false,
    epochs -> 1,
    batchSize -> 32,
    validationSplit -> 0.0,
    seed -> 0L,
    shuffle -> true,
    featuresCol -> "features",
    labelCol -> "label",
    predictionCol -> "prediction",
    probabilityCol -> "probability",
    outputMode -> "classification",
    inferenceBatchSize -> 1024,
    syncTimeoutMs -> 120000L,
    scaleLearningRate -> true,
    imports -> Array.empty[String]
  )

  def getMode: String = $(mode)
  def getFrequency: String = $(frequency)
  def getCommunicationWindow: Int = $(communicationWindow)
  def getEasgdAlpha: Double = $(easgdAlpha)
  def getMomentum: Double = $(momentum)
  def getParallelismFactor: Int = $(parallelismFactor)
  def getSyncTransport: String = $(syncTransport)
  def getSyncPrecision: String = $(syncPrecision)
  def getSyncBucketBytes: Int = $(syncBucketBytes)
  def getExchangeOverlap: Boolean = $(exchangeOverlap)
  def getNumWorkers: Int = $(numWorkers)
  def getEpochs: Int = $(epochs)
  def getBatchSize: Int = $(batchSize)
  def getValidationSplit: Double = $(validationSplit)
  def getSeed: Long = $(seed)
  def getShuffle: Boolean = $(shuffle)
  def getFeaturesCol: String = $(featuresCol)
  def getFeaturesCols: Array[String] = $(featuresCols)
  def getInputCols: Array[String] = $(inputCols)
  def getLabelCols: Array[String] = $(labelCols)
  def getLabelCol: String = $(labelCol)
  def getSampleWeightCol: String = $(sampleWeightCol)
  def getCheckpointDir: String = $(checkpointDir)
  def getPredictionCol: String = $(predictionCol)
  def getProbabilityCol: String = $(probabilityCol)
  def getOutputMode: String = $(outputMode)
  def getInferenceBatchSize: Int = $(inferenceBatchSize)
  def getSyncTimeoutMs: Long = $(syncTimeoutMs)
  def getScaleLearningRate: Boolean = $(scaleLearningRate)
  def getImports: Array[String] = $(imports)

  /** The stage's name in error messages ("KerasEstimator", "KerasModel"). */
  protected def stageName: String = getClass.getSimpleName

  /** Sets `p` to `v`, or throws an error naming the stage, the param and what is valid. */
  protected def setChecked[T](p: Param[T], v: T): this.type = {
    problem(p.name, v).foreach(m => throw new IllegalArgumentException(s"$stageName param $m"))
    set(p, v)
  }

  /** The feature columns the stage reads: `featuresCols` when set and not empty, else
    * `featuresCol`; with the name of the param they came from.
    */
  protected def featureColumns: (Seq[String], String) =
    if (isDefined(featuresCols) && $(featuresCols).nonEmpty) ($(featuresCols).toSeq, "featuresCols")
    else (Seq($(featuresCol)), "featuresCol")

  /** Checks every defined param and their combinations; an error names the stage and the param. */
  protected def validateParams(): Unit = {
    params.foreach { p =>
      get(p).orElse(getDefault(p)).flatMap(v => problem(p.name, v)).foreach { m =>
        throw new IllegalArgumentException(s"$stageName param $m")
      }
    }
    if ($(mode) == "single" && isDefined(numWorkers) && $(numWorkers) != 1) {
      throw new IllegalArgumentException(
        s"$stageName param numWorkers: mode 'single' trains on one worker, got ${$(numWorkers)}"
      )
    }
    if ($(outputMode) == "classification" && $(predictionCol) == $(probabilityCol)) {
      throw new IllegalArgumentException(
        s"$stageName param probabilityCol: equals predictionCol ('${$(predictionCol)}'); " +
          "choose another name"
      )
    }
  }

  /** The columns of `inputCols` when set and not empty. */
  protected def inputColumns: Option[Seq[String]] =
    if (isDefined(inputCols) && $(inputCols).nonEmpty) Some($(inputCols).toSeq) else None

  /** The columns of `labelCols` when set and not empty. */
  protected def labelColumns: Option[Seq[String]] =
    if (isDefined(labelCols) && $(labelCols).nonEmpty) Some($(labelCols).toSeq) else None

  /** `schema` checked for this stage (feature columns, the label when `fitting`, free output
    * names), with the output columns appended. With the stage's `model`, its inputs and outputs are
    * checked against `inputCols` and `labelCols` ([[MultiColumns]]).
    */
  protected def validateAndTransformSchema(
      schema: StructType,
      fitting: Boolean,
      model: Option[KerasArchive]
  ): StructType = {
    validateParams()
    val available = schema.fieldNames.mkString(", ")
    def field(name: String, param: String): StructField =
      schema.find(_.name == name).getOrElse {
        throw new IllegalArgumentException(
          s"$stageName param $param: no column '$name' in the input (available: $available)"
        )
      }
    model.foreach { m =>
      MultiColumns.checkCount(stageName, "inputCols", inputColumns, m.inputs, "input")
      if (fitting)
        MultiColumns.checkCount(stageName, "labelCols", labelColumns, m.outputs, "output")
    }
    val (cols, param) = inputColumns.map(_ -> "inputCols").getOrElse(featureColumns)
    val oneEach = param == "inputCols" || cols.size == 1
    cols.foreach { c =>
      val t = field(c, param).dataType
      val ok = t match {
        case _: NumericType                          => true
        case SQLDataTypes.VectorType if oneEach      => true
        case ArrayType(_: NumericType, _) if oneEach => true
        case _                                       => false
      }
      if (!ok) {
        val allowed =
          if (oneEach) "an ML Vector, an array of numbers or a numeric column"
          else "numeric (assemble other columns with VectorAssembler)"
        throw new IllegalArgumentException(
          s"$stageName param $param: column '$c' has type ${t.simpleString}; it must be $allowed"
        )
      }
    }
    if (fitting) {
      val (labels, labelParam) =
        labelColumns.map(_ -> "labelCols").getOrElse(Seq($(labelCol)) -> "labelCol")
      labels.foreach { l =>
        val t = field(l, labelParam).dataType
        t match {
          case _: NumericType | SQLDataTypes.VectorType | ArrayType(_: NumericType, _) => ()
          case _ =>
            throw new IllegalArgumentException(
              s"$stageName param $labelParam: column '$l' has type ${t.simpleString}; it " +
                "must be numeric, an array of numbers or an ML Vector (index string labels with " +
                "StringIndexer first)"
            )
        }
      }
    }
    val raw = $(outputMode) == "raw"
    val outputs = model.filter(_.outputs.size > 1) match {
      case Some(m) =>
        MultiColumns.outputWidths(stageName, m)
        MultiColumns.outputFields(m, $(predictionCol), $(probabilityCol), raw)
      case None if raw =>
        Seq("predictionCol" -> StructField($(predictionCol), ArrayType(FloatType, false)))
      case None =>
        Seq(
          "predictionCol" -> StructField($(predictionCol), DoubleType, false),
          "probabilityCol" -> StructField($(probabilityCol), SQLDataTypes.VectorType)
        )
    }
    outputs.foreach { case (p, f) =>
      if (schema.fieldNames.contains(f.name)) {
        throw new IllegalArgumentException(
          s"$stageName param $p: the input already has a column '${f.name}'; set $p to " +
            "another name"
        )
      }
    }
    StructType(schema.fields ++ outputs.map(_._2))
  }
}

object KerasParams {

  /** The training modes. */
  val Modes: Seq[String] = TrainParams.Modes

  /** The output modes of transform. */
  val OutputModes: Seq[String] = Seq("classification", "raw")

  /** The rule of every param, by name. */
  val Rules: Map[String, ParamRule] = {
    import ParamRule._
    Map(
      "mode" -> OneOf(Modes),
      "frequency" -> EpochOrBatches,
      "communicationWindow" -> AtLeast(1),
      "easgdAlpha" -> Positive,
      "momentum" -> InRange(0, 1),
      "parallelismFactor" -> AtLeast(1),
      "syncTransport" -> OneOf(TrainParams.SyncTransports),
      "syncPrecision" -> OneOf(TrainParams.SyncPrecisions),
      "syncBucketBytes" -> AtLeast(0),
      "exchangeOverlap" -> Free,
      "numWorkers" -> AtLeast(1),
      "epochs" -> AtLeast(1),
      "batchSize" -> AtLeast(1),
      "validationSplit" -> InRange(0, 1),
      "seed" -> Free,
      "shuffle" -> Free,
      "featuresCol" -> ColumnName,
      "featuresCols" -> Names,
      "inputCols" -> Names,
      "labelCols" -> Names,
      "labelCol" -> ColumnName,
      "sampleWeightCol" -> ColumnName,
      "checkpointDir" -> Free,
      "predictionCol" -> ColumnName,
      "probabilityCol" -> ColumnName,
      "outputMode" -> OneOf(OutputModes),
      "inferenceBatchSize" -> AtLeast(1),
      "syncTimeoutMs" -> Positive,
      "scaleLearningRate" -> Free,
      "imports" -> Names
    )
  }

  /** The params a [[KerasModel]] can set too (they shape `transform`); the others only act in a
    * fit.
    */
  val TransformParams: Seq[String] = Seq(
    "featuresCol",
    "featuresCols",
    "inputCols",
    "predictionCol",
    "probabilityCol",
    "outputMode",
    "inferenceBatchSize",
    "imports"
  )

  private def valid[T](name: String): T => Boolean = (v: T) => problem(name, v).isEmpty

  /** What is wrong with `value` for the param `name`, as "name ...why" (None if it is valid). */
  def problem(name: String, value: Any): Option[String] =
    Rules.get(name).flatMap(_.problem(name, value))
}

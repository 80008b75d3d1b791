package loxodon.train

import scala.jdk.CollectionConverters._
import scala.util.Try

import com.fasterxml.jackson.databind.JsonNode

import loxodon.io.Json

/** The settings of one fit, as `python/loxodon/spark_model.py` sends them (Keras names for training
  * arguments, Spark-like names for columns). Every field is checked on construction; an error names
  * the param.
  *
  * @param frequency
  *   "epoch" or a number of batches (averaging mode)
  * @param featuresCol
  *   one column, or several numeric columns
  * @param imports
  *   Python modules the workers import before loading the model (custom objects registered with
  *   `keras.saving.register_keras_serializable`)
  * @param parallelismFactor
  *   k: the rows are placed in k x `numWorkers` shards that the workers claim in turn each epoch,
  *   their own first, then a slower worker's (the asynchronous modes of
  *   [[TrainParams.ShardedModes]])
  * @param sampleWeightCol
  *   a numeric column of per-row weights for the loss (Keras's `sample_weight`); the prepared label
  *   carries it as its last value
  * @param classWeight
  *   Keras's `class_weight`: class index to the weight of its rows (others weigh 1), applied by the
  *   workers
  * @param checkpointDir
  *   a Hadoop FileSystem URI: the fit checkpoints there after every epoch and, started again with
  *   the same settings, resumes from the last checkpoint ([[Checkpoints]])
  * @param exchangeOverlap
  *   the modes of [[TrainParams.OverlappedModes]] run a window's exchange with the server while the
  *   next window trains (one window more staleness; docs/design.md, "Training modes")
  * @param syncBucketBytes
  *   0: synchronous mode reduces the whole gradient once the backward pass has ended; above 0 the
  *   ring all-reduce takes it in buckets of at most that many bytes, last layers first, each
  *   started while the backward pass goes on (docs/design.md, "Synchronous transport")
  * @param scaleLearningRate
  *   whether the workers multiply the optimizer's learning rate by their mode's factor in the modes
  *   of [[TrainParams.LearningRateScaledModes]] (see [[learningRateScale]])
  */
final case class TrainParams(
    mode: String = "asynchronous",
    numWorkers: Int = 1,
    epochs: Int = 1,
    initialEpoch: Int = 0,
    batchSize: Int = 32,
    validationSplit: Double = 0.0,
    seed: Long = 0L,
    shuffle: Boolean = true,
    frequency: String = "epoch",
    communicationWindow: Int = 1,
    easgdAlpha: Double = 0.1,
    momentum: Double = 0.5,
    featuresCol: Seq[String] = Seq("features"),
    labelCol: String = "label",
    syncTimeoutMs: Long = 120000L,
    releaseTimeoutMs: Long = 600000L,
    imports: Seq[String] = Seq.empty,
    scaleLearningRate: Boolean = true,
    parallelismFactor: Int = 1,
    sampleWeightCol: Option[String] = None,
    classWeight: Map[Int, Double] = Map.empty,
    syncTransport: String = "allreduce",
    syncPrecision: String = "float32",
    syncBucketBytes: Int = 0,
    exchangeOverlap: Boolean = false,
    checkpointDir: Option[String] = None
) {
  import TrainParams._

  require(
    Modes.contains(mode),
    s"mode: unknown mode '$mode'; choose one of ${Modes.mkString(", ")}"
  )
  require(numWorkers >= 1, s"num_workers must be at least 1, got $numWorkers")
  require(
    mode != "single" || numWorkers == 1,
    s"num_workers: mode 'single' trains on one worker, got num_workers=$numWorkers"
  )
  require(epochs >= 1, s"epochs must be at least 1, got $epochs")
  require(
    initialEpoch >= 0 && initialEpoch < epochs,
    s"initial_epoch must be in 0 until epochs ($epochs), got $initialEpoch"
  )
  require(batchSize >= 1, s"batch_size must be positive, got $batchSize")
  require(
    validationSplit >= 0 && validationSplit < 1,
    s"validation_split must be in [0, 1), got $validationSplit"
  )
  require(
    frequency == "epoch" || Try(frequency.toInt).toOption.exists(_ >= 1),
    s"frequency must be 'epoch' or a positive number of batches, got '$frequency'"
  )
  require(
    communicationWindow >= 1,
    s"communication_window must be at least 1, got $communicationWindow"
  )
  require(
    !easgdAlpha.isNaN && !easgdAlpha.isInfinite,
    s"easgd_alpha must be finite, got $easgdAlpha"
  )
  require(momentum >= 0 && momentum < 1, s"momentum must be in [0, 1), got $momentum")
  require(
    SyncTransports.contains(syncTransport),
    s"sync_transport: unknown transport '$syncTransport'; choose one of ${SyncTransports.mkString(", ")}"
  )
  require(
    SyncPrecisions.contains(syncPrecision),
    s"sync_precision: unknown type '$syncPrecision'; choose one of ${SyncPrecisions.mkString(", ")}"
  )
  require(syncBucketBytes >= 0, s"sync_bucket_bytes must be >= 0, got $syncBucketBytes")
  require(
    syncBucketBytes == 0 || (mode == "synchronous" && syncTransport == "allreduce"),
    s"sync_bucket_bytes: buckets are reduced by the ring all-reduce of mode 'synchronous', " +
      s"got mode '$mode' with sync_transport '$syncTransport'; use sync_bucket_bytes=0, or " +
      "mode='synchronous' with sync_transport='allreduce'"
  )
  require(
    featuresCol.nonEmpty && featuresCol.forall(c => c != null && c.nonEmpty),
    "features_col must name a column or a list of columns"
  )
  require(labelCol != null && labelCol.nonEmpty, "label_col must name a column")
  require(syncTimeoutMs > 0, s"sync_timeout_ms must be positive, got $syncTimeoutMs")
  require(releaseTimeoutMs > 0, s"release_timeout_ms must be positive, got $releaseTimeoutMs")
  require(
    parallelismFactor >= 1,
    s"parallelism_factor must be at least 1, got $parallelismFactor"
  )
  require(
    parallelismFactor == 1 || ShardedModes.contains(mode),
    s"parallelism_factor: mode '$mode' exchanges in rounds that every worker reaches after the " +
      s"same steps, so its workers cannot claim shards in turn; use parallelism_factor=1, or one " +
      s"of the modes ${ShardedModes.mkString(", ")}"
  )
  require(
    !exchangeOverlap || OverlappedModes.contains(mode),
    s"exchange_overlap: mode '$mode' has no window exchange to overlap; use it with one of " +
      s"${OverlappedModes.mkString(", ")}, or exchange_overlap=False"
  )
  require(
    !exchangeOverlap || parallelismFactor == 1,
    "exchange_overlap: with a parallelism factor the shard claims share the worker's connection " +
      "during the epoch; use parallelism_factor=1 or exchange_overlap=False"
  )
  require(
    imports != null && imports.forall(m => m != null && m.nonEmpty),
    "imports must be a list of Python module names"
  )

  require(
    checkpointDir.forall(d => d != null && d.trim.nonEmpty),
    "checkpoint_dir must be a Hadoop URI such as file:///tmp/ckpt, got an empty string"
  )
  require(
    sampleWeightCol.forall(c => c != null && c.nonEmpty),
    "sample_weight_col must name a column"
  )
  classWeight.foreach { case (k, w) =>
    require(
      k >= 0 && w >= 0 && !w.isInfinite && !w.isNaN,
      s"class_weight must map class indices (>= 0) to finite weights >= 0, got $k -> $w"
    )
  }

  /** The class weights as the worker's TASK JSON wants them: `{"<class>": weight}`. */
  def classWeightJson: JsonNode = {
    val node = Json.obj()
    classWeight.foreach { case (k, w) => node.put(k.toString, w) }
    node
  }

  /** What the workers multiply the optimizer's learning rate by, so that an epoch moves the model
    * about as far as an epoch of plain Keras at the compiled rate (1 outside
    * [[TrainParams.LearningRateScaledModes]] or with `scaleLearningRate` off):
    *   - `averaging`: N. The model moves by the mean of N trajectories of 1/N of the steps each
    *     (the linear scaling rule, Goyal et al. 2017).
    *   - `easgd`, `aeasgd`: N + 1. With every worker drifting by d a window and the elastic pulls
    *     in balance (worker: x += d - a(x - c); center: c += a * sum(x - c)), the center moves by d
    *     N / (N + 1) a window, whatever a, where plain Keras makes the N workers' steps: N d.
    *   - `eamsgd`: (N + 1)(1 - momentum). As (a)easgd, but the weight-space momentum multiplies a
    *     worker's steady drift by 1 / (1 - momentum).
    *   - `adag`: the communication window k. The server adds each push divided by the k local steps
    *     it holds, so a window moves the center one step's worth where plain Keras makes k (on
    *     MNIST-1D, window 4: 0.47 at the compiled rate, 0.60 at 4x, plain Keras 0.59).
    * Both front ends (Python's `SparkModel`, Spark ML's `KerasEstimator`) train through this one
    * rule; tests/test_mnist1d_cnn.py shows each mode within 2 points of plain Keras at its rate.
    */
  def learningRateScale: Double =
    if (!scaleLearningRate) 1.0
    else
      mode match {
        case "averaging"        => numWorkers.toDouble
        case "easgd" | "aeasgd" => numWorkers + 1.0
        case "eamsgd"           => (numWorkers + 1.0) * (1.0 - momentum)
        case "adag"             => communicationWindow.toDouble
        case _                  => 1.0
      }

  /** The partitions the rows are placed in: k x N shards. */
  def numShards: Int = numWorkers * parallelismFactor

  /** How long a task waits for the worker's next message: an epoch may be slow, but no fit waits
    * forever (10 sync timeouts, at least 10 minutes).
    */
  def messageTimeoutMs: Long = math.max(600000L, 10L * syncTimeoutMs)

  /** The frequency as the worker's TASK JSON wants it: "epoch" or a number. */
  def frequencyJson: JsonNode =
    Try(frequency.toInt).toOption.map(n => Json.mapper.valueToTree[JsonNode](n)).getOrElse {
      Json.mapper.valueToTree[JsonNode](frequency)
    }
}

object TrainParams {

  /** The training modes, in the order the docs list them. */
  val Modes: Seq[String] =
    Seq(
      "single",
      "synchronous",
      "averaging",
      "asynchronous",
      "hogwild",
      "adag",
      "dynsgd",
      "easgd",
      "aeasgd",
      "eamsgd"
    )

  /** The modes whose model advances by the mean of N workers' local trajectories (or is pulled
    * toward them, or takes a window's mean step per push), so that an epoch makes fewer than the
    * sequential steps: [[learningRateScale]] says by how much the workers' rate grows. Synchronous
    * is not one: its mean gradient over N batches of b is one step of batch N*b, for which the user
    * chose the learning rate.
    */
  val LearningRateScaledModes: Seq[String] =
    Seq("averaging", "adag", "easgd", "aeasgd", "eamsgd")

  /** The modes whose workers exchange with the server alone (no rounds every worker joins), so a
    * worker may train any number of shards in an epoch: those that take a parallelism factor.
    */
  val ShardedModes: Seq[String] =
    Seq("asynchronous", "hogwild", "adag", "dynsgd", "aeasgd", "eamsgd")

  /** The modes whose window exchange may run beside the next window's steps (exchangeOverlap). */
  val OverlappedModes: Seq[String] = Seq("asynchronous", "hogwild", "easgd", "aeasgd")

  /** How synchronous mode reduces gradients: a ring all-reduce among the workers, or a SYNC round
    * on the parameter server in the driver.
    */
  val SyncTransports: Seq[String] = Seq("allreduce", "server")

  /** The type gradients travel as in the all-reduce (sums stay float32). */
  val SyncPrecisions: Seq[String] = Seq("float32", "float16", "bfloat16")

  private val Known = Set(
    "mode",
    "num_workers",
    "epochs",
    "initial_epoch",
    "batch_size",
    "validation_split",
    "seed",
    "shuffle",
    "frequency",
    "communication_window",
    "easgd_alpha",
    "momentum",
    "features_col",
    "label_col",
    "sync_timeout_ms",
    "release_timeout_ms",
    "imports",
    "scale_learning_rate",
    "parallelism_factor",
    "sample_weight_col",
    "class_weight",
    "sync_transport",
    "sync_precision",
    "sync_bucket_bytes",
    "exchange_overlap",
    "checkpoint_dir"
  )

  /** `spec` with an `imports` list when `imports` is not empty (TASK JSON of every kind). */
  private[loxodon] def putImports(
      spec: com.fasterxml.jackson.databind.node.ObjectNode,
      imports: Seq[String]
  ): Unit = if (imports.nonEmpty) {
    val names = Json.arr()
    imports.foreach(m => names.add(m))
    spec.set[JsonNode]("imports", names)
  }

  /** Parses the JSON object Python sends; unknown keys are refused (they are typos). */
  def fromJson(text: String): TrainParams = {
    val node = Json.parse(text, "the training params")
    require(node.isObject, "the training params must be a JSON object")
    val unknown = node.fieldNames().asScala.filterNot(Known.contains).toList
    require(
      unknown.isEmpty,
      s"unknown training param(s) ${unknown.mkString(", ")}; known: ${Known.toSeq.sorted.mkString(", ")}"
    )
    val d = TrainParams()
    TrainParams(
      mode = string(node, "mode", d.mode),
      numWorkers = int(node, "num_workers", d.numWorkers),
      epochs = int(node, "epochs", d.epochs),
      initialEpoch = int(node, "initial_epoch", d.initialEpoch),
      batchSize = int(node, "batch_size", d.batchSize),
      validationSplit = double(node, "validation_split", d.validationSplit),
      seed = long(node, "seed", d.seed),
      shuffle = bool(node, "shuffle", d.shuffle),
      frequency = node.path("frequency") match {
        case n if n.isMissingNode || n.isNull => d.frequency
        case n if n.isIntegralNumber          => n.asLong().toString
        case n if n.isTextual                 => n.asText()
        case n => throw new IllegalArgumentException(s"frequency must be 'epoch' or an int, got $n")
      },
      communicationWindow = int(node, "communication_window", d.communicationWindow),
      easgdAlpha = double(node, "easgd_alpha", d.easgdAlpha),
      momentum = double(node, "momentum", d.momentum),
      featuresCol = columns(node, "features_col", d.featuresCol),
      labelCol = string(node, "label_col", d.labelCol),
      syncTimeoutMs = long(node, "sync_timeout_ms", d.syncTimeoutMs),
      releaseTimeoutMs = long(node, "release_timeout_ms", d.releaseTimeoutMs),
      imports = columns(node, "imports", d.imports),
      scaleLearningRate = bool(node, "scale_learning_rate", d.scaleLearningRate),
      parallelismFactor = int(node, "parallelism_factor", d.parallelismFactor),
      sampleWeightCol = field(node, "sample_weight_col").map { v =>
        require(v.isTextual, s"sample_weight_col must be a column name, got $v")
        v.asText()
      },
      classWeight = field(node, "class_weight").map(classWeights).getOrElse(d.classWeight),
      syncTransport = string(node, "sync_transport", d.syncTransport),
      syncPrecision = string(node, "sync_precision", d.syncPrecision),
      syncBucketBytes = int(node, "sync_bucket_bytes", d.syncBucketBytes),
      exchangeOverlap = bool(node, "exchange_overlap", d.exchangeOverlap),
      checkpointDir = field(node, "checkpoint_dir").map { v =>
        require(v.isTextual, s"checkpoint_dir must be a Hadoop URI string, got $v")
        v.asText()
      }
    )
  }

  private def classWeights(v: JsonNode): Map[Int, Double] = {
    require(v.isObject, s"class_weight must be a dict of class index to weight, got $v")
    v.properties()
      .asScala
      .map { e =>
        val k = scala.util.Try(e.getKey.toInt).toOption.getOrElse {
          throw new IllegalArgumentException(
            s"class_weight: key '${e.getKey}' is not a class index"
          )
        }
        require(e.getValue.isNumber, s"class_weight: the weight of class $k must be a number")
        k -> e.getValue.asDouble()
      }
      .toMap
  }

  private def field(node: JsonNode, key: String): Option[JsonNode] =
    Option(node.get(key)).filterNot(_.isNull)

  private def typed[T](node: JsonNode, key: String, default: T, kind: String)(
      ok: JsonNode => Boolean
  )(get: JsonNode => T): T =
    field(node, key) match {
      case None             => default
      case Some(v) if ok(v) => get(v)
      case Some(v)          => throw new IllegalArgumentException(s"$key must be $kind, got $v")
    }

  private[loxodon] def string(node: JsonNode, key: String, default: String): String =
    typed(node, key, default, "a string")(_.isTextual)(_.asText())

  private[loxodon] def int(node: JsonNode, key: String, default: Int): Int =
    typed(node, key, default, "an integer")(v => v.isIntegralNumber && v.canConvertToInt)(_.asInt())

  private[loxodon] def long(node: JsonNode, key: String, default: Long): Long =
    typed(node, key, default, "an integer")(v => v.isIntegralNumber && v.canConvertToLong)(
      _.asLong()
    )

  private[loxodon] def double(node: JsonNode, key: String, default: Double): Double =
    typed(node, key, default, "a number")(_.isNumber)(_.asDouble())

  private[loxodon] def bool(node: JsonNode, key: String, default: Boolean): Boolean =
    typed(node, key, default, "true or false")(_.isBoolean)(_.asBoolean())

  /** A column name, or a list of them. */
  private[loxodon] def columns(node: JsonNode, key: String, default: Seq[String]): Seq[String] =
    field(node, key) match {
      case None                   => default
      case Some(v) if v.isTextual => Seq(v.asText())
      case Some(v) if v.isArray && v.elements().asScala.forall(_.isTextual) =>
        v.elements().asScala.map(_.asText()).toList
      case Some(v) =>
        throw new IllegalArgumentException(s"$key must be a column name or a list of them, got $v")
    }
}

package loxodon.train

import java.nio.charset.StandardCharsets.UTF_8
import java.util.UUID

import scala.collection.mutable.ArrayBuffer
import scala.util.control.NonFatal

import org.apache.spark.broadcast.Broadcast
import org.apache.spark.sql.{DataFrame, SparkSession}
import org.apache.spark.storage.StorageLevel
import org.slf4j.{Logger, LoggerFactory}

import loxodon.data.{DriverData, TrainingData}
import loxodon.io.{HadoopFiles, Json}
import loxodon.ps.{ParameterServer, ParameterServerConf}

/** The result of [[Trainer.fit]]: one map of logs per epoch, and the trained `.keras` archive. */
final case class FitResult(history: Seq[Map[String, Double]], modelArchive: Array[Byte])

/** Starts fits: checks the model and the data, places the rows in N balanced partitions, checks the
  * cluster has N slots, starts the job's parameter server, and launches one barrier stage of N
  * tasks ([[TrainTask]]) in the background. The returned [[TrainingJob]] drives the rest.
  */
object Trainer {
  private val log: Logger = LoggerFactory.getLogger(getClass)

  /** Starts a fit of the `.keras` `archive` on `df` (and `validation`, when given). */
  def start(
      spark: SparkSession,
      df: DataFrame,
      validation: Option[DataFrame],
      archive: Array[Byte],
      customObjects: Option[Array[Byte]],
      params: TrainParams
  ): TrainingJob = {
    val resumed = resumable(spark, params, archive)
    val (parts, shape) = FitInput.place(spark, df, validation, archive, params)
    val opened =
      try {
        open(spark, archive, customObjects, params, parts.trainRows, parts.valRows, shape, None)(
          resumed
        )
      } catch { case NonFatal(e) => parts.release(); throw e }
    val (job, spec, archiveBc, customBc) = opened
    if (params.parallelismFactor > 1) {
      launchShards(spark, job, spec, archiveBc, customBc, parts)
      return job
    }
    val rdd = parts.rdd
    job.launch(
      attempt =>
        rdd
          .barrier()
          .mapPartitions(rows =>
            TrainTask.run(spec, attempt, archiveBc.value, customBc.value, rows)
          )
          .collect(),
      () => {
        parts.release()
        archiveBc.destroy()
        customBc.destroy()
      }
    )
    job
  }

  /** Launches a fit with a parallelism factor: the k x N placed shards are persisted and computed
    * by a plain job first (again before a retried stage, recomputing what a lost executor held),
    * then N barrier tasks claim them in turn ([[TrainTask.runShards]]).
    */
  private def launchShards(
      spark: SparkSession,
      job: TrainingJob,
      spec: TrainTaskSpec,
      archiveBc: Broadcast[Array[Byte]],
      customBc: Broadcast[Array[Byte]],
      parts: loxodon.data.Partitioned
  ): Unit = {
    val sc = spark.sparkContext
    val n = spec.params.numWorkers
    val placed = parts.rdd.persist(StorageLevel.MEMORY_AND_DISK)
    val shards = placed.partitions
    job.launch(
      attempt => {
        placed.foreachPartition(_ => ())
        sc.parallelize(0 until n, n)
          .barrier()
          .mapPartitions(_ =>
            TrainTask.runShards(spec, attempt, archiveBc.value, customBc.value, placed, shards)
          )
          .collect()
      },
      () => {
        placed.unpersist(blocking = false)
        parts.release()
        archiveBc.destroy()
        customBc.destroy()
      }
    )
  }

  /** Prepares a fit on rows the driver holds and uploads itself ([[DriverData]]): checks the model,
    * the measured rows and the slots, and starts the parameter server. The returned job is not
    * running yet: the caller stores the row chunks in the job's parameter server, then calls
    * [[TrainingJob.start]] (or [[TrainingJob.close]] to give up).
    */
  def startDriverData(
      spark: SparkSession,
      data: DriverData,
      archive: Array[Byte],
      customObjects: Option[Array[Byte]],
      params: TrainParams
  ): TrainingJob = {
    require(
      params.parallelismFactor == 1,
      "parallelism_factor: rows the driver uploads are placed one part per worker; send them " +
        "through a DataFrame for a parallelism factor"
    )
    val resumed = resumable(spark, params, archive)
    val shape = FitInput.check(spark, data, archive, params, params.numWorkers)
    val (job, spec, archiveBc, customBc) =
      open(spark, archive, customObjects, params, data.trainRows, data.valRows, shape, Some(data))(
        resumed
      )
    val sc = spark.sparkContext
    val n = params.numWorkers
    job.deferLaunch(
      attempt =>
        sc.parallelize(0 until n, n)
          .barrier()
          .mapPartitions(_ =>
            TrainTask.run(spec, attempt, archiveBc.value, customBc.value, Iterator.empty)
          )
          .collect(),
      () => {
        archiveBc.destroy()
        customBc.destroy()
      }
    )
    job
  }

  /** The checkpoint a fit with a `checkpointDir` resumes from (None: none yet, or no dir), checked
    * against this fit's settings and model before anything starts.
    */
  def resumable(
      spark: SparkSession,
      params: TrainParams,
      archive: Array[Byte]
  ): Option[Checkpoint] =
    params.checkpointDir.flatMap { dir =>
      val conf = spark.sparkContext.hadoopConfiguration
      val found = Checkpoints.latest(conf, dir)
      found.foreach { cp =>
        Checkpoints.requireCompatible(cp, Checkpoints.fingerprint(params, archive))
        require(
          !cp.stopped && cp.nextEpoch < params.epochs,
          s"checkpoint_dir (checkpointDir) $dir holds a finished fit (epoch ${cp.epoch + 1} of " +
            s"${params.epochs}${if (cp.stopped) ", stopped by a callback" else ""}): nothing " +
            "is left to train; pass a new checkpoint_dir to train again"
        )
      }
      if (found.isEmpty) Checkpoints.resolve(conf, dir) // a bad URI fails here, before any task
      found
    }

  /** Starts the job's parameter server and builds the job, the task spec and the broadcasts. */
  private def open(
      spark: SparkSession,
      archive: Array[Byte],
      customObjects: Option[Array[Byte]],
      params: TrainParams,
      trainRows: Array[Long],
      valRows: Array[Long],
      shape: TrainingData.Shape,
      driverData: Option[DriverData]
  )(
      resumed: Option[Checkpoint]
  ): (TrainingJob, TrainTaskSpec, Broadcast[Array[Byte]], Broadcast[Array[Byte]]) = {
    val sc = spark.sparkContext
    val n = params.numWorkers
    val steps = ((trainRows.max + params.batchSize - 1) / params.batchSize).toInt
    val ps = ParameterServer.forSpark(
      sc.getConf,
      ParameterServerConf(
        numWorkers = n,
        numParams = 0, // the workers, who hold the model, announce its size and layout
        syncTimeoutMs = params.syncTimeoutMs,
        easgdAlpha = params.easgdAlpha,
        releaseTimeoutMs = params.releaseTimeoutMs,
        numShards = if (params.parallelismFactor > 1) params.numShards else 0
      )
    )
    try {
      val group = s"loxodon-fit-${UUID.randomUUID()}"
      val description = s"loxodon fit: ${params.mode}, $n workers, ${params.epochs} epochs"
      val fingerprint = params.checkpointDir.map(_ => Checkpoints.fingerprint(params, archive))
      val job = new TrainingJob(sc, ps, params, group, description, fingerprint, resumed)
      ps.setEpochListener(job)
      resumed.foreach { cp =>
        ps.putBlob(Checkpoints.ResumeCenterBlob, cp.center)
        cp.optimizers.zipWithIndex.foreach { case (b, w) =>
          ps.putBlob(Checkpoints.optimizerBlob(w), b)
        }
        ps.putBlob(TrainingJob.NextEpochBlob, cp.nextEpoch.toString.getBytes(UTF_8))
        log.info(s"$description: resuming at epoch ${cp.nextEpoch} from ${cp.uri}")
      }
      val spec = TrainTaskSpec(
        params,
        steps,
        shape.featureWidth,
        shape.labelWidth.getOrElse(1),
        ps.address,
        driverData
      )
      log.info(
        s"$description: ${trainRows.sum} training rows (${trainRows.mkString("/")}), " +
          s"${valRows.sum} validation rows, $steps steps per epoch" +
          (if (driverData.isDefined) ", rows uploaded by the driver" else "")
      )
      (job, spec, sc.broadcast(archive), sc.broadcast(customObjects.orNull))
    } catch {
      case NonFatal(e) =>
        ps.close()
        throw e
    }
  }

  /** Fits the `.keras` model at `kerasPath` (any Hadoop FileSystem URI) on `df` with no callbacks,
    * logging one line per epoch, and writes the trained archive to `outputPath` when given.
    */
  def fit(
      spark: SparkSession,
      kerasPath: String,
      df: DataFrame,
      params: TrainParams,
      outputPath: Option[String] = None
  ): FitResult = {
    val archive = HadoopFiles.read(spark, kerasPath)
    val result = complete(start(spark, df, None, archive, None, params))
    outputPath.foreach(p => HadoopFiles.write(spark, p, result.modelArchive, overwrite = true))
    result
  }

  /** Drives a started `job` with no callbacks until it ends: logs and releases each epoch, then
    * returns the history and the trained archive. Closes the job in every case (the Spark ML
    * [[loxodon.ml.KerasEstimator]] and [[fit]] use it).
    */
  def complete(job: TrainingJob): FitResult = {
    val params = job.params
    try {
      val history = ArrayBuffer.empty[Map[String, Double]] ++= job.resumedHistory
      var done = false
      while (!done) {
        val text = job.nextEvent(params.messageTimeoutMs)
        if (text == null) {
          throw new IllegalStateException(
            s"no epoch finished within ${params.messageTimeoutMs / 1000} s; raise " +
              "sync_timeout_ms if one epoch legitimately takes longer"
          )
        }
        val event = Json.parse(text, "a training event")
        event.path("type").asText() match {
          case "epoch" =>
            val epoch = event.path("epoch").asInt()
            val logs = Json.numbers(event.path("logs"))
            history += logs
            log.info(
              s"epoch ${epoch + 1}/${params.epochs}: " +
                logs.toSeq.sortBy(_._1).map { case (k, v) => f"$k=$v%.4f" }.mkString(" ")
            )
            job.release(epoch, stop = false)
          case "retry" =>
            log.warn(
              s"the fit's stage failed and runs again from the center (attempt " +
                s"${event.path("attempt").asInt() + 1} of ${event.path("max_attempts").asInt()}): " +
                event.path("message").asText().linesIterator.take(1).toList.headOption.getOrElse("")
            )
          case "done"   => done = true
          case "failed" => throw new IllegalStateException(event.path("message").asText())
          case _        => ()
        }
      }
      val trained = job.finalModel()
      if (trained == null) {
        throw new IllegalStateException("the fit finished but worker 0 stored no trained model")
      }
      FitResult(history.toList, trained)
    } finally job.close()
  }
}

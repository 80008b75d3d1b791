package loxodon.select

import java.util.UUID

import scala.jdk.CollectionConverters._
import scala.util.control.NonFatal

import org.apache.spark.sql.{DataFrame, SparkSession}
import org.slf4j.{Logger, LoggerFactory}

import loxodon.data.{BalancedPartitioning, DriverData, TrainingData}
import loxodon.io.Json
import loxodon.ps.{ParameterServer, ParameterServerConf}
import loxodon.train.{FitInput, TrainParams}

/** How a search runs, besides its data params.
  *
  * @param scheduleJson
  *   a logged schedule to replay (each model then visits the partitions in its logged order)
  * @param taskParallel
  *   every worker holds ALL the rows and trains whole epochs of one model at a time (the
  *   task-parallel baseline), instead of 1/N of them with models hopping
  * @param maxRestarts
  *   how many times a task replaces a Python worker that died
  */
final case class SearchOptions(
    scheduleJson: Option[String] = None,
    taskParallel: Boolean = false,
    maxRestarts: Int = 2
)

/** Starts model-selection searches: checks the data against a reference model, places the rows in N
  * balanced partitions (as a fit does), checks N task slots, starts the parameter server (its blob
  * store is the model store) and launches ONE barrier stage of N [[HopTask]]s for the whole search.
  */
object Selection {
  private val log: Logger = LoggerFactory.getLogger(getClass)

  /** Test-only Spark conf (not a user setting): `{"unit": k}` makes the worker running unit k of
    * the next searches die once, mid-unit, as a crash would. Read from the session when a search
    * starts; tests set it with `spark.conf.set` and unset it after.
    */
  final val TestFaultsConf: String = "spark.loxodon.test.faults"

  /** Starts a search over `df`; models are added to the returned job afterwards.
    *
    * @param referenceArchive
    *   a `.keras` archive whose input and output the data must fit (every model of the search
    *   shares them)
    * @param params
    *   the data params: num_workers, seed, validation_split, features_col, label_col, imports,
    *   sync_timeout_ms (the other fields are unused)
    */
  def start(
      spark: SparkSession,
      df: DataFrame,
      validation: Option[DataFrame],
      referenceArchive: Array[Byte],
      params: TrainParams,
      options: SearchOptions = SearchOptions()
  ): SelectionJob = {
    val (balanced, shape) = FitInput.place(spark, df, validation, referenceArchive, params)
    val parts =
      if (options.taskParallel) BalancedPartitioning.replicate(balanced, params.numWorkers)
      else balanced
    val ps = startServer(spark, params, parts.release())
    try {
      val (job, spec) = open(spark, ps, params, shape, parts.valRows, options, None)
      log.info(
        s"${job.description}: ${parts.trainRows.sum} training rows " +
          s"(${parts.trainRows.mkString("/")}), ${parts.valRows.sum} validation rows"
      )
      val rdd = parts.rdd
      job.launch { () =>
        try rdd.barrier().mapPartitions(rows => HopTask.run(spec, rows)).collect()
        finally parts.release()
      }
      job
    } catch {
      case NonFatal(e) =>
        parts.release()
        ps.close()
        throw e
    }
  }

  /** Starts a search over rows the driver holds and uploads itself (`loxodon.driver_data`): the
    * measured shapes are checked like a DataFrame's, the parameter server started and the stage
    * kept until [[SelectionJob.start]], which the driver calls once the rows are in the server. A
    * task-parallel search gets ONE placed partition (every row, in index order: what
    * [[BalancedPartitioning.replicate]] gives each worker), which every worker fetches.
    */
  def startDriverData(
      spark: SparkSession,
      data: DriverData,
      referenceArchive: Array[Byte],
      params: TrainParams,
      options: SearchOptions = SearchOptions()
  ): SelectionJob = {
    val n = params.numWorkers
    val replicated = options.taskParallel
    val shape = FitInput.check(spark, data, referenceArchive, params, if (replicated) 1 else n)
    val valRows = if (replicated) Array.fill(n)(data.valRows.sum) else data.valRows
    val ps = startServer(spark, params, ())
    try {
      val (job, spec) = open(spark, ps, params, shape, valRows, options, Some(data))
      log.info(
        s"${job.description}: ${data.trainRows.sum} training rows uploaded by the driver " +
          s"(${data.trainRows.mkString("/")}), ${data.valRows.sum} validation rows"
      )
      val sc = spark.sparkContext
      job.deferLaunch { () =>
        sc.parallelize(0 until n, n)
          .barrier()
          .mapPartitions(_ => HopTask.run(spec, Iterator.empty))
          .collect()
      }
      job
    } catch {
      case NonFatal(e) =>
        ps.close()
        throw e
    }
  }

  private def startServer(spark: SparkSession, params: TrainParams, onFailure: => Unit) =
    try {
      ParameterServer.forSpark(
        spark.sparkContext.getConf,
        ParameterServerConf(
          numWorkers = params.numWorkers,
          numParams = 0, // the blob store is all a search uses
          syncTimeoutMs = params.syncTimeoutMs,
          easgdAlpha = 0.0,
          releaseTimeoutMs = params.releaseTimeoutMs
        )
      )
    } catch {
      case NonFatal(e) =>
        onFailure
        throw e
    }

  /** The job (its scheduler on the server) and the spec of its tasks. */
  private def open(
      spark: SparkSession,
      ps: ParameterServer,
      params: TrainParams,
      shape: TrainingData.Shape,
      valRows: Array[Long],
      options: SearchOptions,
      driverData: Option[DriverData]
  ): (SelectionJob, HopTaskSpec) = {
    val n = params.numWorkers
    val taskParallel = options.taskParallel
    val group = s"loxodon-search-${UUID.randomUUID()}"
    val how = if (taskParallel) "task-parallel" else "model hopper"
    val description = s"loxodon model selection: $n workers ($how)"
    val order = options.scheduleJson.map(replayOrder).getOrElse(Map.empty)
    val job =
      new SelectionJob(spark.sparkContext, ps, valRows, order, taskParallel, group, description)
    val spec = HopTaskSpec(
      params,
      shape.featureWidth,
      shape.labelWidth.getOrElse(1),
      ps.address,
      options.maxRestarts,
      spark.conf.getOption(TestFaultsConf).filter(_.trim.nonEmpty),
      driverData,
      taskParallel
    )
    (job, spec)
  }

  /** Model -> epoch -> partitions in visit order, from the completed train units of a logged
    * schedule (see [[SelectionJob.scheduleJson]]).
    */
  def replayOrder(scheduleJson: String): Map[Int, Seq[Seq[Int]]] = {
    val units = Json.parse(scheduleJson, "the schedule to replay")
    require(units.isArray, "the schedule to replay must be a JSON array of units")
    units
      .elements()
      .asScala
      .filter(u => u.path("kind").asText() == "train" && u.path("status").asText() == "done")
      .toSeq
      .sortBy(_.path("seq").asLong())
      .groupBy(_.path("trial_id").asInt())
      .map { case (model, us) =>
        val byEpoch = us.groupBy(_.path("epoch").asInt())
        val epochs = if (byEpoch.isEmpty) 0 else byEpoch.keys.max + 1
        model -> (0 until epochs).map { e =>
          byEpoch.getOrElse(e, Seq.empty).map(_.path("partition").asInt())
        }
      }
  }
}

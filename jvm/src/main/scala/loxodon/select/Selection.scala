package loxodon.select

import java.util.UUID

import scala.jdk.CollectionConverters._
import scala.util.control.NonFatal

import org.apache.spark.sql.{DataFrame, SparkSession}
import org.slf4j.{Logger, LoggerFactory}

import loxodon.data.{BalancedPartitioning, TrainingData}
import loxodon.exec.SlotCheck
import loxodon.io.Json
import loxodon.model.KerasArchive
import loxodon.ps.{ParameterServer, ParameterServerConf}
import loxodon.train.TrainParams

/** Starts model-selection searches: checks the data against a reference model, places the rows in N
  * balanced partitions (as a fit does), checks N task slots, starts the parameter server (its blob
  * store is the model store) and launches ONE barrier stage of N [[HopTask]]s for the whole search.
  */
object Selection {
  private val log: Logger = LoggerFactory.getLogger(getClass)

  /** Starts a search over `df`; models are added to the returned job afterwards.
    *
    * @param referenceArchive
    *   a `.keras` archive whose input and output the data must fit (every model of the search
    *   shares them)
    * @param params
    *   the data params: num_workers, seed, validation_split, features_col, label_col, imports,
    *   sync_timeout_ms (the other fields are unused)
    * @param scheduleJson
    *   a logged schedule to replay (each model then visits the partitions in its logged order), or
    *   null
    * @param taskParallel
    *   every worker holds ALL the rows and trains whole epochs of one model at a time (the
    *   task-parallel baseline), instead of 1/N of them with models hopping
    * @param faultsJson
    *   test hook, or null: `{"unit": k}` makes the worker running unit k die once, mid-unit
    */
  def start(
      spark: SparkSession,
      df: DataFrame,
      validation: Option[DataFrame],
      referenceArchive: Array[Byte],
      params: TrainParams,
      scheduleJson: Option[String] = None,
      faultsJson: Option[String] = None,
      taskParallel: Boolean = false,
      maxRestarts: Int = 2
  ): SelectionJob = {
    require(df != null, "no training data: pass a DataFrame")
    val model = KerasArchive.parse(referenceArchive)
    model.requireCompiled()
    val sc = spark.sparkContext
    val n = params.numWorkers
    SlotCheck.require(sc, n)
    val (train, shape, valPrepared) =
      TrainingData.prepareFit(df, validation, params.featuresCol, params.labelCol, model)
    val balanced =
      BalancedPartitioning.partition(train, valPrepared, n, params.seed, params.validationSplit)
    val parts = if (taskParallel) BalancedPartitioning.replicate(balanced, n) else balanced
    val ps = ParameterServer.forSpark(
      sc.getConf,
      n,
      0L,
      "{}",
      params.syncTimeoutMs,
      ParameterServerConf.DefaultMaxFrameBytes,
      0.0,
      params.releaseTimeoutMs
    )
    try {
      val group = s"loxodon-search-${UUID.randomUUID()}"
      val how = if (taskParallel) "task-parallel" else "model hopper"
      val description = s"loxodon model selection: $n workers ($how)"
      val order = scheduleJson.map(replayOrder).getOrElse(Map.empty)
      val job = new SelectionJob(sc, ps, parts.valRows, order, taskParallel, group, description)
      val spec = HopTaskSpec(
        params,
        shape.featureWidth,
        shape.labelWidth.getOrElse(1),
        ps.host,
        ps.boundPort,
        ps.secretHex,
        maxRestarts,
        faultsJson
      )
      val rdd = parts.rdd
      log.info(
        s"$description: ${parts.trainRows.sum} training rows " +
          s"(${parts.trainRows.mkString("/")}), ${parts.valRows.sum} validation rows"
      )
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

package loxodon.select

import scala.collection.mutable

import org.apache.spark.sql.{DataFrame, SparkSession}
import org.slf4j.{Logger, LoggerFactory}

import loxodon.io.{HadoopFiles, Json}
import loxodon.train.TrainParams

/** One configuration of a Scala grid search: a `.keras` model and its fit params. */
final case class GridTrial(id: Int, kerasPath: String, batchSize: Int, learningRate: Option[Double])

/** The outcome of [[GridSelection.run]].
  *
  * @param history
  *   (trial id, epoch, logs) for every trial epoch, in the order they finished
  * @param bestArchive
  *   the best trial's trained `.keras` archive
  * @param scheduleJson
  *   the logged schedule (see [[SelectionJob.scheduleJson]])
  */
final case class GridOutcome(
    trials: Seq[GridTrial],
    history: Seq[(Int, Int, Map[String, Double])],
    bestTrial: Int,
    bestValue: Double,
    bestArchive: Array[Byte],
    scheduleJson: String
) {

  /** The best trial's configuration. */
  def best: GridTrial = trials.find(_.id == bestTrial).get
}

/** Model selection from a Scala application: every `.keras` model crossed with a grid of fit params
  * (batch sizes, learning rates), each trained `epochs` epochs by model hopper parallelism (or
  * task-parallel), the best chosen by `objective` after its last epoch (lower is better for an
  * objective whose name ends in "loss"). The Python package has the adaptive strategies.
  */
object GridSelection {
  private val log: Logger = LoggerFactory.getLogger(getClass)

  /** The grid's trials: models x batch sizes x learning rates (none: each model's own). */
  def trials(
      kerasPaths: Seq[String],
      batchSizes: Seq[Int],
      learningRates: Seq[Double]
  ): Seq[GridTrial] = {
    require(kerasPaths.nonEmpty, "kerasPaths: give at least one .keras model")
    require(batchSizes.nonEmpty, "batchSizes: give at least one batch size")
    val rates = if (learningRates.isEmpty) Seq(None) else learningRates.map(Some(_))
    val combos = for (p <- kerasPaths; b <- batchSizes; r <- rates) yield (p, b, r)
    combos.zipWithIndex.map { case ((p, b, r), i) => GridTrial(i, p, b, r) }
  }

  /** Runs the grid over `df` and returns every trial's history and the best trained model. */
  def run(
      spark: SparkSession,
      kerasPaths: Seq[String],
      batchSizes: Seq[Int],
      learningRates: Seq[Double],
      epochs: Int,
      df: DataFrame,
      params: TrainParams,
      objective: String = "val_accuracy",
      taskParallel: Boolean = false,
      timeoutMs: Long = 1800000L
  ): GridOutcome = {
    require(epochs >= 1, s"epochs must be at least 1, got $epochs")
    val grid = trials(kerasPaths, batchSizes, learningRates)
    val archives = kerasPaths.distinct.map(p => p -> HadoopFiles.read(spark, p)).toMap
    val job = Selection.start(
      spark,
      df,
      None,
      archives(kerasPaths.head),
      params,
      SearchOptions(taskParallel = taskParallel)
    )
    try {
      grid.foreach { t =>
        val unit = Json.obj().put("batch_size", t.batchSize)
        t.learningRate.foreach(lr => unit.put("learning_rate", lr))
        job.addModel(t.id, archives(t.kerasPath), Json.write(unit))
        job.requestEpochs(t.id, epochs)
      }
      val history = mutable.ArrayBuffer.empty[(Int, Int, Map[String, Double])]
      while (history.size < grid.size * epochs) {
        val event = next(job, timeoutMs)
        if (event.path("type").asText() == "epoch") {
          val (id, epoch) = (event.path("trial_id").asInt(), event.path("epoch").asInt())
          val logs = Json.numbers(event.path("logs"))
          require(
            logs.contains(objective),
            s"objective '$objective' is not among the epoch logs ${logs.keys.toSeq.sorted}"
          )
          log.info(s"trial $id epoch ${epoch + 1}/$epochs: $objective=${logs(objective)}")
          history += ((id, epoch, logs))
        }
      }
      val lowerIsBetter = objective.endsWith("loss")
      val finals = history.filter(_._2 == epochs - 1).map(h => h._1 -> h._3(objective))
      val (bestId, bestValue) =
        finals.sortBy { case (id, v) => (if (lowerIsBetter) v else -v, id) }.head
      job.exportModel(bestId)
      while (next(job, timeoutMs).path("type").asText() != "exported") ()
      val archive = job.modelArchive(bestId)
      job.finish()
      while (next(job, timeoutMs).path("type").asText() != "done") ()
      GridOutcome(grid, history.toList, bestId, bestValue, archive, job.scheduleJson)
    } finally job.close()
  }

  private def next(job: SelectionJob, timeoutMs: Long) = {
    val text = job.nextEvent(timeoutMs)
    if (text == null) {
      throw new IllegalStateException(s"the search produced no event within ${timeoutMs / 1000} s")
    }
    val event = Json.parse(text, "a selection event")
    if (event.path("type").asText() == "failed") {
      throw new IllegalStateException(event.path("message").asText())
    }
    event
  }
}

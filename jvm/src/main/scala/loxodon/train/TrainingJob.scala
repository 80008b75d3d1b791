package loxodon.train

import java.nio.charset.StandardCharsets.UTF_8

import scala.collection.mutable.ArrayBuffer
import scala.util.control.NonFatal

import com.fasterxml.jackson.databind.JsonNode
import com.fasterxml.jackson.databind.node.ObjectNode
import org.apache.spark.SparkContext
import org.slf4j.{Logger, LoggerFactory}

import loxodon.exec.{BarrierRun, JobHandle, SlotCheck}
import loxodon.io.Json
import loxodon.ps.{EpochListener, ParameterServer}

/** The handle of a running fit (docs/design.md, "Lifecycle of a fit"), driven from Python
  * (`loxodon.training_job`) through Py4J or from Scala ([[Trainer.fit]]).
  *
  * Events are JSON texts, read with [[nextEvent]]:
  *   - `{"type": "epoch", "epoch": e, "logs": {..}, "workers": [..], "extra": {..}}` when every
  *     worker has reported epoch e (the workers then wait for [[release]]);
  *   - `{"type": "retry", "attempt": a, "max_attempts": m, "message": ..}` when the stage failed
  *     and runs again from the center ([[BarrierRun]]);
  *   - `{"type": "done", "result": {..}}` when the barrier stage has finished;
  *   - `{"type": "failed", "message": ..}` when it failed (the message carries the Python
  *     traceback).
  *
  * The parameter server runs until [[close]], so the caller can still pull the final center after
  * `done`.
  */
final class TrainingJob private[train] (
    sc: SparkContext,
    server: ParameterServer,
    val params: TrainParams,
    jobGroup: String,
    description: String,
    fingerprint: Option[JsonNode] = None,
    resumed: Option[Checkpoint] = None
) extends JobHandle(sc, server, jobGroup, description)
    with EpochListener {
  import TrainingJob._

  // Epochs handed to the driver and not yet released (guarded by itself).
  private val unreleased = scala.collection.mutable.SortedSet.empty[Int]
  private val maxAttempts =
    math.max(1, sc.getConf.getInt(BarrierRun.MaxAttemptsConf, BarrierRun.DefaultMaxAttempts))

  // The logs of every released epoch (a resumed fit's start with the checkpoint's), and those of
  // epochs handed out and not yet released; guarded by `history`.
  private val history =
    ArrayBuffer.empty[Map[String, Double]] ++= resumed.map(_.history).getOrElse(Nil)
  private val pendingLogs = scala.collection.mutable.Map.empty[Int, Map[String, Double]]

  /** The logs of the epochs a resumed fit's checkpoint holds (empty for a fresh fit). */
  def resumedHistory: Seq[Map[String, Double]] = resumed.map(_.history).getOrElse(Nil)

  /** Lets the workers go on after epoch `epoch` (its callbacks have run); with `stop` they end the
    * fit. Records the next epoch first, so a retried stage does not train `epoch` again; with a
    * `checkpointDir`, first writes the checkpoint of `epoch` (the workers wait at the gate, so the
    * center and their optimizer states are those of the epoch's end).
    */
  def release(epoch: Int, stop: Boolean): Unit = {
    fingerprint.foreach(fp => checkpoint(epoch, stop, fp))
    // After a stop, a retried stage has nothing left to train.
    val next = if (stop) math.max(epoch + 1, params.epochs) else epoch + 1
    ps.putBlob(NextEpochBlob, next.toString.getBytes(UTF_8))
    ps.releaseEpoch(epoch, stop)
    unreleased.synchronized { unreleased -= epoch; unreleased.notifyAll() }
  }

  private def checkpoint(epoch: Int, stop: Boolean, fp: JsonNode): Unit = {
    val logs = history.synchronized {
      history += pendingLogs.remove(epoch).getOrElse(Map.empty)
      history.toList
    }
    val optimizers = (0 until params.numWorkers).map { w =>
      ps.blob(Checkpoints.optimizerBlob(w)).getOrElse {
        throw new IllegalStateException(s"worker $w stored no optimizer state for epoch $epoch")
      }
    }
    val dir = params.checkpointDir.get
    Checkpoints.write(
      sc.hadoopConfiguration,
      dir,
      epoch,
      stop,
      logs,
      fp,
      ps.centerBytes(),
      optimizers
    )
    log.info(s"checkpoint of epoch $epoch written to $dir")
  }

  /** The trained `.keras` archive worker 0 stored at the end, or null if absent. */
  def finalModel(): Array[Byte] = ps.blob(FinalModelBlob).orNull

  override def onEpoch(epoch: Int, reports: Seq[String]): Unit = {
    val event =
      try EpochReports.event(epoch, reports, ps.updateCount)
      catch {
        case NonFatal(e) =>
          log.warn(s"cannot read the reports of epoch $epoch", e)
          Json.write(Json.obj().put("type", "epoch").put("epoch", epoch))
      }
    log.debug(s"epoch $epoch: $event")
    if (fingerprint.isDefined) {
      val logs =
        try Json.numbers(Json.parseLenient(event, "the epoch event").path("logs"))
        catch { case NonFatal(_) => Map.empty[String, Double] }
      history.synchronized(pendingLogs(epoch) = logs)
    }
    unreleased.synchronized(unreleased += epoch)
    emit(event)
  }

  /** Runs `stage(attempt)` (the barrier job) in a background thread under this job's group, again
    * after a failure it can get past ([[BarrierRun.retryable]]), up to
    * `spark.loxodon.fit.maxAttempts` attempts; then `cleanup`.
    */
  private[train] def launch(stage: Int => Array[String], cleanup: () => Unit): Unit =
    run.launch(stage, Some(BarrierRun.Retry(maxAttempts, beforeRetry)), cleanup)

  /** Readies the server for a new attempt that resumes from the center: the driver first releases
    * every epoch it was handed (so `loxodon/next_epoch` is final and no epoch is reported twice),
    * the dead attempt's half-full epoch gates go, and enough slots must be back.
    */
  private def beforeRetry(attempt: Int, message: String): Unit = {
    val deadline = System.currentTimeMillis() + params.releaseTimeoutMs
    unreleased.synchronized {
      while (unreleased.nonEmpty && System.currentTimeMillis() < deadline) {
        unreleased.wait(math.max(1L, math.min(200L, deadline - System.currentTimeMillis())))
      }
    }
    ps.dropIncompleteEpochs()
    SlotCheck.require(sc, params.numWorkers)
    val event = Json.obj().put("type", "retry").put("attempt", attempt).put("message", message)
    emit(Json.write(event.put("max_attempts", maxAttempts)))
  }

  /** Keeps `stage` for [[start]]: the driver first uploads the rows ([[Trainer.startDriverData]]).
    */
  private[train] def deferLaunch(stage: Int => Array[String], cleanup: () => Unit): Unit =
    defer(() => launch(stage, cleanup))

  override protected def resultEvent(results: Seq[String]): String =
    doneEvent(results, run.attemptsTaken)
}

object TrainingJob {
  private val log: Logger = LoggerFactory.getLogger(classOf[TrainingJob])

  /** Blob the driver writes on each release: the epoch a retried stage starts from. */
  final val NextEpochBlob: String = "loxodon/next_epoch"

  /** Blob worker 0 writes at the end: the trained `.keras` archive. */
  final val FinalModelBlob: String = "loxodon/final_model"

  /** The `done` event: the workers' results, their totals, and the attempts the stage took. */
  def doneEvent(results: Seq[String], attempts: Int = 1): String = {
    val nodes = results.map(r => Json.parse(r, "a worker's result"))
    val result = Json.obj()
    val epochsRun = nodes.map(_.path("epochs_run").asInt(0)).foldLeft(0)(math.max)
    result.put("epochs_run", epochsRun)
    result.put("rows", nodes.map(_.path("rows").asLong(0)).sum)
    result.put("attempts", attempts)
    val workers = Json.arr()
    nodes.foreach(n => workers.add(n))
    result.set[JsonNode]("workers", workers)
    val event = Json.obj().put("type", "done")
    event.set[ObjectNode]("result", result)
    Json.write(event)
  }

  /** See [[BarrierRun.rootMessage]]. */
  def rootMessage(e: Throwable): String = BarrierRun.rootMessage(e)
}

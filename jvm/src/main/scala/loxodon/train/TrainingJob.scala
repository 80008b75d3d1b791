package loxodon.train

import java.nio.charset.StandardCharsets.UTF_8
import java.util.concurrent.{
  ConcurrentHashMap,
  ConcurrentLinkedQueue,
  LinkedBlockingQueue,
  TimeUnit
}
import java.util.concurrent.atomic.AtomicBoolean

import scala.util.control.NonFatal

import com.fasterxml.jackson.databind.JsonNode
import com.fasterxml.jackson.databind.node.ObjectNode
import org.apache.spark.{ExceptionFailure, SparkContext}
import org.apache.spark.scheduler.{SparkListener, SparkListenerJobStart, SparkListenerTaskEnd}
import org.slf4j.{Logger, LoggerFactory}

import loxodon.exec.PythonWorkerException
import loxodon.io.Json
import loxodon.ps.{EpochListener, ParameterServer}

/** The handle of a running fit (DESIGN.md, "The fit as a job handle"), driven from Python
  * (`loxodon.training_job`) through Py4J or from Scala ([[Trainer.fit]]).
  *
  * Events are JSON texts, read with [[nextEvent]]:
  *   - `{"type": "epoch", "epoch": e, "logs": {..}, "workers": [..], "extra": {..}}` when every
  *     worker has reported epoch e (the workers then wait for [[release]]);
  *   - `{"type": "done", "result": {..}}` when the barrier stage has finished;
  *   - `{"type": "failed", "message": ..}` when it failed (the message carries the Python
  *     traceback).
  *
  * The parameter server runs until [[close]], so the caller can still pull the final center after
  * `done`.
  */
final class TrainingJob private[train] (
    sc: SparkContext,
    ps: ParameterServer,
    val params: TrainParams,
    val jobGroup: String,
    description: String
) extends EpochListener {
  import TrainingJob._

  private val events = new LinkedBlockingQueue[String]()
  private val running = new AtomicBoolean(false)
  private val closed = new AtomicBoolean(false)
  private val cancelled = new AtomicBoolean(false)
  @volatile private var thread: Thread = _

  // Errors of Python workers in this job's tasks. A barrier stage fails with the first failed
  // task's error, which may be a sibling's lost connection rather than the Python exception.
  private val stages = ConcurrentHashMap.newKeySet[Integer]()
  private val pythonErrors = new ConcurrentLinkedQueue[String]()
  private val taskListener = new SparkListener {
    override def onJobStart(e: SparkListenerJobStart): Unit =
      if (Option(e.properties).exists(_.getProperty("spark.jobGroup.id") == jobGroup)) {
        e.stageIds.foreach(id => stages.add(id))
      }

    override def onTaskEnd(e: SparkListenerTaskEnd): Unit = e.reason match {
      case f: ExceptionFailure
          if stages.contains(e.stageId) && f.description != null &&
            f.description.contains("Python worker for") =>
        pythonErrors.add(f.description)
      case _ => ()
    }
  }

  /** The next event, waiting up to `timeoutMs`; null when none came in time. */
  def nextEvent(timeoutMs: Long): String =
    events.poll(math.max(0L, timeoutMs), TimeUnit.MILLISECONDS)

  /** Lets the workers go on after epoch `epoch` (its callbacks have run); with `stop` they end the
    * fit. Records the next epoch first, so a retried stage does not train `epoch` again.
    */
  def release(epoch: Int, stop: Boolean): Unit = {
    ps.putBlob(NextEpochBlob, (epoch + 1).toString.getBytes(UTF_8))
    ps.releaseEpoch(epoch, stop)
  }

  /** The address of the job's parameter server. */
  def psHost: String = ps.host

  /** The port of the job's parameter server. */
  def psPort: Int = ps.boundPort

  /** The job's parameter-server secret, hex. */
  def psSecretHex: String = ps.secretHex

  /** The trained `.keras` archive worker 0 stored at the end, or null if absent. */
  def finalModel(): Array[Byte] = ps.blob(FinalModelBlob).orNull

  /** Whether the barrier stage is still running. */
  def isRunning: Boolean = running.get()

  /** Cancels the barrier stage (its tasks are interrupted and their workers killed). */
  def cancel(): Unit = if (running.get()) {
    cancelled.set(true)
    sc.cancelJobGroup(jobGroup)
  }

  /** Cancels the stage if it still runs, and stops the parameter server. Idempotent. */
  def close(): Unit = if (closed.compareAndSet(false, true)) {
    try {
      cancel()
      val t = thread
      if (t != null) t.join(10000)
    } finally {
      sc.removeSparkListener(taskListener)
      ps.close()
    }
  }

  /** A Python worker's error of this job, waiting briefly for the listener bus to deliver it. */
  private def pythonError(): Option[String] = {
    val until = System.currentTimeMillis() + 2000
    while (pythonErrors.isEmpty && System.currentTimeMillis() < until) Thread.sleep(50)
    Option(pythonErrors.peek()).map(extractPython)
  }

  override def onEpoch(epoch: Int, reports: Seq[String]): Unit = {
    val event =
      try EpochReports.event(epoch, reports, ps.updateCount)
      catch {
        case NonFatal(e) =>
          log.warn(s"cannot read the reports of epoch $epoch", e)
          Json.write(Json.obj().put("type", "epoch").put("epoch", epoch))
      }
    log.debug(s"epoch $epoch: $event")
    events.put(event)
  }

  /** Runs `stage` (the barrier job) in a background thread under this job's group. */
  private[train] def launch(stage: () => Array[String]): Unit = {
    running.set(true)
    sc.addSparkListener(taskListener)
    val t = new Thread(
      () => {
        sc.setJobGroup(jobGroup, description, interruptOnCancel = true)
        try {
          val results = stage()
          events.put(doneEvent(results.toSeq))
        } catch {
          case e: Throwable =>
            val message =
              if (cancelled.get()) {
                log.info(s"$description was cancelled")
                "the fit was cancelled"
              } else {
                log.error(s"$description failed", e)
                pythonError().getOrElse(rootMessage(e))
              }
            events.put(Json.write(Json.obj().put("type", "failed").put("message", message)))
        } finally {
          running.set(false)
          sc.clearJobGroup()
        }
      },
      s"loxodon-fit-$jobGroup"
    )
    t.setDaemon(true)
    thread = t
    t.start()
  }
}

object TrainingJob {
  private val log: Logger = LoggerFactory.getLogger(classOf[TrainingJob])

  /** Blob the driver writes on each release: the epoch a retried stage starts from. */
  final val NextEpochBlob: String = "loxodon/next_epoch"

  /** Blob worker 0 writes at the end: the trained `.keras` archive. */
  final val FinalModelBlob: String = "loxodon/final_model"

  /** The `done` event: the workers' results and their totals. */
  def doneEvent(results: Seq[String]): String = {
    val nodes = results.map(r => Json.parse(r, "a worker's result"))
    val result = Json.obj()
    val epochsRun = nodes.map(_.path("epochs_run").asInt(0)).foldLeft(0)(math.max)
    result.put("epochs_run", epochsRun)
    result.put("rows", nodes.map(_.path("rows").asLong(0)).sum)
    val workers = Json.arr()
    nodes.foreach(n => workers.add(n))
    result.set[JsonNode]("workers", workers)
    val event = Json.obj().put("type", "done")
    event.set[ObjectNode]("result", result)
    Json.write(event)
  }

  /** The most telling message of a failure: a Python worker's error (with its traceback) if one is
    * in the cause chain, else the deepest cause's message, else the exception's own.
    */
  def rootMessage(e: Throwable): String = {
    val chain = Iterator.iterate(e)(_.getCause).takeWhile(_ != null).take(20).toSeq
    chain
      .collectFirst { case p: PythonWorkerException => p.getMessage }
      .orElse(chain.map(_.getMessage).find(m => m != null && m.contains("Python worker for")))
      .map(extractPython)
      .getOrElse {
        val deepest = chain.last
        Option(deepest.getMessage)
          .map(m => s"${deepest.getClass.getSimpleName}: $m")
          .getOrElse(e.toString)
      }
  }

  /** From a Spark job-failure message, the part from "Python worker for" on (without Spark's Java
    * stack trace after the Python traceback).
    */
  private[train] def extractPython(message: String): String = {
    val start = message.indexOf("Python worker for")
    val tail = if (start >= 0) message.substring(start) else message
    val javaTrace = tail.indexOf("\n\tat ")
    if (javaTrace >= 0) tail.substring(0, javaTrace) else tail
  }
}

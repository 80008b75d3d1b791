package loxodon.exec

import java.util.concurrent.{ConcurrentHashMap, ConcurrentLinkedQueue}
import java.util.concurrent.atomic.AtomicBoolean

import org.apache.spark.{ExceptionFailure, SparkContext, TaskFailedReason, TaskKilled}
import org.apache.spark.scheduler.{SparkListener, SparkListenerJobStart, SparkListenerTaskEnd}
import org.slf4j.{Logger, LoggerFactory}

/** One barrier stage of Python-worker tasks run in a background thread under its own job group: the
  * part a fit ([[loxodon.train.TrainingJob]]) and a search ([[loxodon.select.SelectionJob]]) share.
  *
  * It reports the stage's end once, through `onDone` (the tasks' results) or `onFailed` (the most
  * telling message: a Python worker's traceback when one failed, since a barrier stage fails with
  * whichever task failed first, often a sibling's lost connection).
  *
  * Spark never retries a failed barrier result stage (only barrier shuffle-map stages), so a lost
  * Python worker or executor would end the stage for good. With a [[BarrierRun.Retry]] the run
  * submits the stage again itself, as a new job under the same group, up to `maxAttempts` times in
  * all, after a failure that a new attempt can get past ([[BarrierRun.retryable]]): a lost worker
  * process, a lost executor, a connection or parameter-server error. An error raised by the
  * workers' Python code (bad data, a broken model) fails at once: it would fail every attempt.
  */
final class BarrierRun(
    sc: SparkContext,
    val jobGroup: String,
    description: String,
    onDone: Array[String] => Unit,
    onFailed: String => Unit
) {
  import BarrierRun._

  private val running = new AtomicBoolean(false)
  private val cancelled = new AtomicBoolean(false)
  @volatile private var thread: Thread = _

  private val stages = ConcurrentHashMap.newKeySet[Integer]()
  private val pythonErrors = new ConcurrentLinkedQueue[String]()
  // Other failures of this job's tasks (a lost worker process, a lost executor), first first.
  private val taskFailures = new ConcurrentLinkedQueue[String]()
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
      case f: TaskFailedReason if stages.contains(e.stageId) && !f.isInstanceOf[TaskKilled] =>
        taskFailures.add(f.toErrorString)
      case _ => ()
    }
  }

  /** Whether the stage is still running. */
  def isRunning: Boolean = running.get()

  /** Runs `stage` (the barrier job) in the background, once. */
  def launch(stage: () => Array[String]): Unit = launch(_ => stage(), None, () => ())

  /** Runs `stage(attempt)` (the barrier job; attempt 0, 1, ..) in the background, again after a
    * retryable failure while `retry` allows, then `cleanup` once.
    */
  def launch(stage: Int => Array[String], retry: Option[Retry], cleanup: () => Unit): Unit = {
    running.set(true)
    sc.addSparkListener(taskListener)
    val t = new Thread(
      () => {
        sc.setJobGroup(jobGroup, description, interruptOnCancel = true)
        try onDone(attempts(stage, retry))
        catch {
          case e: Throwable =>
            val message =
              if (cancelled.get()) {
                log.info(s"$description was cancelled")
                "the job was cancelled"
              } else {
                log.error(s"$description failed", e)
                failureMessage(e)
              }
            onFailed(message)
        } finally {
          try cleanup()
          finally {
            running.set(false)
            sc.clearJobGroup()
          }
        }
      },
      s"loxodon-$jobGroup"
    )
    t.setDaemon(true)
    thread = t
    t.start()
  }

  /** Attempts of the stage, until one succeeds or a failure may not be retried. */
  private def attempts(stage: Int => Array[String], retry: Option[Retry]): Array[String] = {
    var attempt = 0
    var result: Array[String] = null
    while (result == null) {
      pythonErrors.clear()
      taskFailures.clear()
      try result = stage(attempt)
      catch {
        case e: Exception if !cancelled.get() && retry.exists(_.maxAttempts > attempt + 1) =>
          val message = failureMessage(e)
          if (!retryable(message)) throw e
          attempt += 1
          val r = retry.get
          log.warn(
            s"$description: attempt $attempt of ${r.maxAttempts} failed, running the stage " +
              s"again: $message"
          )
          r.beforeRetry(attempt, message)
      }
    }
    attemptsRun = attempt + 1
    result
  }

  @volatile private var attemptsRun = 0

  /** How many attempts the finished stage took (0 while running). */
  def attemptsTaken: Int = attemptsRun

  /** The most telling message of a failed attempt: a Python worker's error, else the first task
    * failure (Spark's stage-abort message only says a barrier task failed), else the exception's.
    */
  private def failureMessage(e: Throwable): String =
    pythonError()
      .orElse(Option(taskFailures.peek()).map(firstLines))
      .getOrElse(rootMessage(e))

  /** Cancels the stage (its tasks are interrupted and their workers killed). */
  def cancel(): Unit = if (running.get()) {
    cancelled.set(true)
    sc.cancelJobGroup(jobGroup)
  }

  /** Cancels the stage if it still runs and waits up to `timeoutMs` for its thread. */
  def close(timeoutMs: Long = 10000L): Unit =
    try {
      cancel()
      val t = thread
      if (t != null) t.join(timeoutMs)
    } finally sc.removeSparkListener(taskListener)

  /** A Python worker's error of this job, waiting briefly for the listener bus to deliver it. */
  private def pythonError(): Option[String] = {
    val until = System.currentTimeMillis() + 2000
    while (pythonErrors.isEmpty && System.currentTimeMillis() < until) Thread.sleep(50)
    Option(pythonErrors.peek()).map(extractPython)
  }
}

object BarrierRun {
  private val log: Logger = LoggerFactory.getLogger(classOf[BarrierRun])

  /** Runs a failed stage again, up to `maxAttempts` attempts in all; `beforeRetry(attempt,
    * message)` runs before attempt `attempt` (it may wait for slots, or throw to give up).
    */
  final case class Retry(maxAttempts: Int, beforeRetry: (Int, String) => Unit)

  /** The Spark config of a fit's attempts (a first run and its retries). */
  final val MaxAttemptsConf: String = "spark.loxodon.fit.maxAttempts"

  /** Default of [[MaxAttemptsConf]]. */
  final val DefaultMaxAttempts: Int = 3

  /** Errors of the workers' Python code that a new attempt can get past: its connection to the
    * parameter server (the server's deadlines name a lost sibling), not its own computation.
    */
  private val RetryablePythonErrors = Set(
    "PSError",
    "ConnectionError",
    "ConnectionResetError",
    "ConnectionAbortedError",
    "ConnectionRefusedError",
    "BrokenPipeError",
    "TimeoutError",
    "OSError"
  )

  private val PythonErrorType = "Python worker for partition \\d+ failed: ([A-Za-z_.]+):".r

  /** Whether a stage that failed with `message` ([[rootMessage]]) may be run again: any failure but
    * an error the workers' own Python code raised (other than a connection error).
    */
  def retryable(message: String): Boolean =
    PythonErrorType.findFirstMatchIn(message) match {
      case Some(m) => RetryablePythonErrors.contains(m.group(1).split('.').last)
      case None    => true
    }

  /** The most telling message of a failure: a Python worker's error (with its traceback) if one is
    * in the cause chain, else the deepest cause's message, else the exception's own.
    */
  def rootMessage(e: Throwable): String = {
    val chain = Iterator.iterate(e)(_.getCause).takeWhile(_ != null).take(20).toList
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

  /** A task failure's text without its Java stack trace. */
  def firstLines(message: String): String = withoutJavaTrace(message).trim

  /** From a Spark job-failure message, the part from "Python worker for" on (without Spark's Java
    * stack trace after the Python traceback).
    */
  def extractPython(message: String): String = {
    val start = message.indexOf("Python worker for")
    withoutJavaTrace(if (start >= 0) message.substring(start) else message)
  }

  private def withoutJavaTrace(message: String): String = {
    val javaTrace = message.indexOf("\n\tat ")
    if (javaTrace >= 0) message.substring(0, javaTrace) else message
  }
}

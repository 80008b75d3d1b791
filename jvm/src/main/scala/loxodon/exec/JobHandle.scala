package loxodon.exec

import java.util.concurrent.{LinkedBlockingQueue, TimeUnit}
import java.util.concurrent.atomic.AtomicBoolean

import org.apache.spark.SparkContext

import loxodon.io.Json
import loxodon.ps.ParameterServer

/** What the handles of a running fit ([[loxodon.train.TrainingJob]]) and of a search
  * ([[loxodon.select.SelectionJob]]) share: ONE barrier stage, run by a [[BarrierRun]] under the
  * job's group; the job's parameter server, which lives until [[close]]; a queue of JSON events the
  * caller polls with [[nextEvent]] (`failed` is written here, `done` by [[resultEvent]], the rest
  * by the subclass); and a stage kept until the driver has uploaded its rows.
  */
abstract class JobHandle(
    sc: SparkContext,
    protected val ps: ParameterServer,
    val jobGroup: String,
    val description: String
) {
  private val events = new LinkedBlockingQueue[String]()
  private val closed = new AtomicBoolean(false)
  @volatile private var deferred: Option[() => Unit] = None

  protected final val run: BarrierRun = new BarrierRun(
    sc,
    jobGroup,
    description,
    results => emit(resultEvent(results.toList)),
    message => emit(Json.write(Json.obj().put("type", "failed").put("message", message)))
  )

  /** The `done` event of a stage that ended with the tasks' `results`. */
  protected def resultEvent(results: Seq[String]): String

  /** Queues `event` for [[nextEvent]]. */
  protected final def emit(event: String): Unit = events.put(event)

  /** The next event, waiting up to `timeoutMs`; null when none came in time. */
  def nextEvent(timeoutMs: Long): String =
    events.poll(math.max(0L, timeoutMs), TimeUnit.MILLISECONDS)

  /** Whether the barrier stage is still running. */
  def isRunning: Boolean = run.isRunning

  /** Cancels the barrier stage (its tasks are interrupted and their workers killed). */
  def cancel(): Unit = run.cancel()

  /** Cancels the stage if it still runs, and stops the parameter server. Idempotent. */
  def close(): Unit = if (closed.compareAndSet(false, true)) {
    try run.close()
    finally ps.close()
  }

  /** The address of the job's parameter server (the driver uploads NumPy rows there). */
  def psHost: String = ps.host

  /** The port of the job's parameter server. */
  def psPort: Int = ps.boundPort

  /** The driver's key to the job's parameter server, hex. */
  def psDriverKeyHex: String = ps.driverKeyHex

  /** The SHA-256 (hex) of the server's TLS certificate; null when it is clear text. */
  def psTlsSha256: String = ps.tlsSha256

  /** Keeps `launch` for [[start]]: the driver first uploads the rows to the parameter server. */
  protected final def defer(launch: () => Unit): Unit = deferred = Some(launch)

  /** Launches the stage kept by `startDriverData`, once its rows are in the server. */
  def start(): Unit = synchronized {
    val launch = deferred.getOrElse(
      throw new IllegalStateException("this job has no deferred stage, or it was started already")
    )
    deferred = None
    launch()
  }
}

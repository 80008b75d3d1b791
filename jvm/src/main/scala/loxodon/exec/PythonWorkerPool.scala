package loxodon.exec

import java.security.SecureRandom

import scala.collection.mutable

import org.apache.spark.{SparkEnv, TaskContext}
import org.slf4j.{Logger, LoggerFactory}

import loxodon.PythonAPI
import loxodon.ps.{ServerTls, SparkBinding}

/** The Python workers of this executor JVM: idle processes keyed by (interpreter, visible GPUs),
  * reused across tasks and fits so that TensorFlow is imported once per process.
  *
  * A lease is a connection to one worker; [[Lease.release]] after a RESULT puts the worker back,
  * [[Lease.destroy]] (failure, kill, interruption) kills it. Every process is killed when the JVM
  * exits (shutdown hook); the workers also exit on their own when their stdin closes.
  */
object PythonWorkerPool {
  private val log: Logger = LoggerFactory.getLogger(getClass)

  /** How long a new worker may take to import TensorFlow and announce itself. */
  @volatile var startTimeoutMs: Long = 120000L

  private val secret: Array[Byte] = {
    val b = new Array[Byte](32)
    new SecureRandom().nextBytes(b)
    b
  }
  private val secretHex: String = secret.map(b => f"${b & 0xff}%02x").mkString

  /** The pool's certificate when the executor's Spark config asks for encryption
    * ([[loxodon.ps.SparkBinding.tls]]); None outside Spark.
    */
  private lazy val tls: Option[ServerTls] =
    Option(SparkEnv.get).filter(e => SparkBinding.tls(e.conf)).map(_ => ServerTls.generate())

  private val idle = mutable.HashMap.empty[(String, String), List[PythonWorker]] // guarded by this
  private val all = mutable.Set.empty[PythonWorker] // guarded by this

  Runtime.getRuntime.addShutdownHook(new Thread(() => shutdown(), "loxodon-python-workers-exit"))

  /** One leased worker and its open connection. */
  final class Lease private[PythonWorkerPool] (val worker: PythonWorker) {
    val channel: WorkerChannel = worker.connect()
    @volatile private var done = false

    /** The lease ended cleanly (after RESULT): the worker goes back to the pool. */
    def release(): Unit = if (!done) {
      done = true
      channel.close()
      giveBack(worker)
    }

    /** The lease ended badly: the worker is killed, never reused. */
    def destroy(): Unit = if (!done) {
      done = true
      channel.close()
      kill(worker)
    }

    /** Whether release or destroy was called. */
    def isDone: Boolean = done
  }

  /** GPU addresses the current task holds ("" outside a task or without GPUs). */
  def taskGpus(): String =
    Option(TaskContext.get())
      .flatMap(_.resources().get("gpu"))
      .map(_.addresses.mkString(","))
      .getOrElse("")

  /** The interpreter of this executor (see [[PythonExec]]). */
  def executorPython(): String = PythonExec.resolve(Option(SparkEnv.get).map(_.conf).orNull)

  /** Leases a worker for the current task: reuses an idle one of the same interpreter and GPUs,
    * else spawns one. In a task, the worker is destroyed if the task fails or ends while still
    * leased.
    */
  def lease(python: String = executorPython(), gpus: String = taskGpus()): Lease = {
    val key = (python, gpus)
    var lease: Lease = null
    while (lease == null) {
      val reused = synchronized {
        idle.get(key) match {
          case Some(w :: rest) =>
            if (rest.isEmpty) idle.remove(key) else idle(key) = rest
            Some(w)
          case _ => None
        }
      }
      val worker = reused.filter(_.isAlive).getOrElse {
        reused.foreach(kill)
        val w =
          PythonWorker.spawn(
            python,
            gpus,
            secret,
            secretHex,
            PythonAPI.version,
            startTimeoutMs,
            tls
          )
        synchronized(all += w)
        w
      }
      try lease = new Lease(worker)
      catch {
        case e: IllegalStateException if reused.isDefined =>
          log.warn(s"dropping an idle Python worker that refused a connection: ${e.getMessage}")
          kill(worker)
      }
    }
    val l = lease
    Option(TaskContext.get()).foreach { ctx =>
      ctx.addTaskFailureListener((_: TaskContext, _: Throwable) => l.destroy())
      ctx.addTaskCompletionListener[Unit]((_: TaskContext) => l.destroy())
    }
    l
  }

  private def giveBack(w: PythonWorker): Unit =
    if (w.isAlive) synchronized {
      val key = (w.python, w.gpus)
      idle(key) = w :: idle.getOrElse(key, Nil)
    }
    else kill(w)

  private def kill(w: PythonWorker): Unit = {
    synchronized(all -= w)
    w.destroy()
  }

  /** Number of idle workers (for tests). */
  def idleCount: Int = synchronized(idle.values.map(_.size).sum)

  /** Kills every worker of this JVM. */
  def shutdown(): Unit = {
    val workers = synchronized {
      val ws = all.toList
      all.clear()
      idle.clear()
      ws
    }
    workers.foreach(_.destroy())
  }
}

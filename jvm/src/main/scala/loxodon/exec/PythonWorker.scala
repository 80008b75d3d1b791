package loxodon.exec

import java.io.{BufferedReader, InputStream, InputStreamReader}
import java.net.{InetAddress, InetSocketAddress, Socket}
import java.nio.charset.StandardCharsets.UTF_8
import java.util.concurrent.{CompletableFuture, TimeUnit, TimeoutException}

import scala.collection.mutable

import org.apache.spark.SparkEnv
import org.slf4j.{Logger, LoggerFactory}

import loxodon.io.Json
import loxodon.ps.{Auth, ServerTls}

/** One `python -m loxodon.worker` process: spawns it, waits for its hello line, drains its output,
  * and opens leases (connections) to it. Pooled by [[PythonWorkerPool]].
  *
  * stdout and stderr are read continuously by daemon threads into bounded ring buffers, so the
  * process never blocks on a full pipe and an error can quote the last lines. The process's stdin
  * stays open: the worker exits when it closes, i.e. when this JVM dies.
  */
final class PythonWorker private (
    val python: String,
    val gpus: String,
    val process: Process,
    secret: Array[Byte],
    tls: Option[ServerTls]
) {
  import PythonWorker._

  private val stderrTail = new RingBuffer(TailLines)
  private val stdoutTail = new RingBuffer(TailLines)
  private val hello = new CompletableFuture[String]()

  @volatile private var portNumber: Int = -1

  /** The port the worker listens on (127.0.0.1). */
  def port: Int = portNumber

  /** The last lines the worker wrote to stderr. */
  def stderr: String = stderrTail.text

  /** Whether the process is still running. */
  def isAlive: Boolean = process.isAlive

  private def drain(stream: InputStream, tail: RingBuffer, name: String, stdout: Boolean): Unit = {
    val t = new Thread(
      () => {
        val reader = new BufferedReader(new InputStreamReader(stream, UTF_8))
        try {
          var line = reader.readLine()
          while (line != null) {
            if (stdout && !hello.isDone && line.startsWith(HelloPrefix)) {
              hello.complete(line.substring(HelloPrefix.length))
            } else {
              tail.add(line)
              log.debug(s"python worker ${process.pid()} $name: $line")
            }
            line = reader.readLine()
          }
        } catch { case _: java.io.IOException => () }
        finally if (stdout) hello.complete(null)
      },
      s"loxodon-python-worker-${process.pid()}-$name"
    )
    t.setDaemon(true)
    t.start()
  }

  /** Waits for the hello line and checks it; throws a clear error if the process died or spoke
    * another version.
    */
  private def awaitHello(timeoutMs: Long, expectedVersion: String): Unit = {
    drain(process.getInputStream, stdoutTail, "stdout", stdout = true)
    drain(process.getErrorStream, stderrTail, "stderr", stdout = false)
    val line =
      try hello.get(timeoutMs, TimeUnit.MILLISECONDS)
      catch {
        case _: TimeoutException =>
          destroy()
          throw new IllegalStateException(
            s"the Python worker ($python -m loxodon.worker) did not start within " +
              s"${timeoutMs / 1000} s.\n${tail("stderr", stderr)}"
          )
      }
    if (line == null) {
      process.waitFor(2, TimeUnit.SECONDS)
      Thread.sleep(100) // let the stderr drain thread take the last lines
      val err = stderr
      val exit = if (process.isAlive) "" else s" (exit code ${process.exitValue()})"
      destroy()
      val hint =
        if (err.contains("No module named")) {
          s"\nThe executors' Python ($python) lacks the loxodon package: install it there " +
            s"(pip install loxodon), or point ${PythonExec.ConfKey} / ${PythonExec.EnvKey} at " +
            "an interpreter that has it."
        } else ""
      throw new IllegalStateException(
        s"the Python worker ($python -m loxodon.worker) exited before it was ready$exit.$hint\n" +
          tail("stderr", err)
      )
    }
    val info = Json.parse(line, "the Python worker's hello line")
    val version = info.path("loxodon").asText("")
    if (version != expectedVersion) {
      destroy()
      throw new IllegalStateException(
        s"the executors' Python ($python) has loxodon $version but this jar is " +
          s"$expectedVersion: install the same version on both sides"
      )
    }
    portNumber = info.path("port").asInt(-1)
    if (portNumber <= 0) {
      destroy()
      throw new IllegalStateException(s"the Python worker announced no port: $line")
    }
  }

  /** Connects to the worker and answers its challenge: a new lease.
    *
    * With `tls`, this end takes the TLS server role on the TCP connection it opened (the worker
    * pins the pool certificate's fingerprint, from its environment): the JVM can make a certificate
    * with no extra library, Python's `ssl` cannot. Then the worker sends a 32-byte nonce and this
    * end answers HMAC-SHA256(secret, nonce), so the secret never crosses the socket.
    */
  def connect(): WorkerChannel = {
    val plain = new Socket()
    var socket: Socket = plain
    try {
      plain.connect(new InetSocketAddress(InetAddress.getLoopbackAddress, port), 30000)
      plain.setSoTimeout(30000)
      tls.foreach { t =>
        val s = t.jdkContext.getSocketFactory
          .createSocket(plain, "127.0.0.1", port, true)
          .asInstanceOf[javax.net.ssl.SSLSocket]
        s.setUseClientMode(false)
        s.startHandshake()
        socket = s
      }
      val channel = new WorkerChannel(socket)
      val nonce = new Array[Byte](WorkerChannel.NonceBytes)
      new java.io.DataInputStream(channel.in).readFully(nonce)
      channel.out.write(Auth.hmac(secret, nonce))
      channel.out.flush()
      channel
    } catch {
      case e: Exception =>
        socket.close()
        throw new IllegalStateException(
          s"cannot connect to the Python worker on port $port: $e\n${tail("stderr", stderr)}",
          e
        )
    }
  }

  /** Kills the process (and its children) now. */
  def destroy(): Unit = {
    process.descendants().forEach(p => { p.destroyForcibly(); () })
    process.destroyForcibly()
    ()
  }
}

object PythonWorker {
  private val log: Logger = LoggerFactory.getLogger(classOf[PythonWorker])

  /** The stdout line that announces a ready worker. */
  final val HelloPrefix: String = "LOXODON_WORKER "

  /** The SHA-256 of the pool's TLS certificate, which the worker pins (unset: clear text). */
  final val TlsEnv: String = "LOXODON_WORKER_TLS_SHA256"

  /** TensorFlow threads of a worker (read by `loxodon.worker`). */
  final val ThreadsEnv: String = "LOXODON_WORKER_THREADS"

  /** Cores per task of this executor (`spark.task.cpus`, 1 outside Spark). */
  def taskCpus: Int = Option(SparkEnv.get).map(_.conf.getInt("spark.task.cpus", 1)).getOrElse(1)

  /** Lines of stderr and stdout kept for error messages. */
  final val TailLines: Int = 60

  /** Spawns `<python> -m loxodon.worker` and returns it once it announced its port. */
  def spawn(
      python: String,
      gpus: String,
      secret: Array[Byte],
      secretHex: String,
      version: String,
      startTimeoutMs: Long,
      tls: Option[ServerTls] = None
  ): PythonWorker = {
    val builder = new ProcessBuilder(python, "-m", "loxodon.worker")
    builder.environment().put("LOXODON_WORKER_SECRET", secretHex)
    tls.foreach(t => builder.environment().put(TlsEnv, t.fingerprint))
    builder.environment().put("PYTHONUNBUFFERED", "1")
    if (gpus.nonEmpty) builder.environment().put("CUDA_VISIBLE_DEVICES", gpus)
    // One worker per task slot, so TensorFlow gets the slot's cores (spark.task.cpus), not a
    // thread pool per core in every worker, whose threads would compete (measured in
    // bench/results/train.md, Notes). An explicit setting wins.
    if (!builder.environment().containsKey(ThreadsEnv)) {
      builder.environment().put(ThreadsEnv, taskCpus.toString)
    }
    val process =
      try builder.start()
      catch {
        case e: java.io.IOException =>
          throw new IllegalStateException(
            s"cannot start the Python worker '$python -m loxodon.worker': ${e.getMessage}. " +
              s"Set ${PythonExec.ConfKey} (or ${PythonExec.EnvKey}) to the executors' Python",
            e
          )
      }
    val worker = new PythonWorker(python, gpus, process, secret, tls)
    worker.awaitHello(startTimeoutMs, version)
    log.info(s"started Python worker pid ${process.pid()} on port ${worker.port} ($python)")
    worker
  }

  private def tail(name: String, text: String): String =
    if (text.isEmpty) s"(no $name output)" else s"last lines of its $name:\n$text"

  /** The last `capacity` lines, thread-safe. */
  final class RingBuffer(capacity: Int) {
    private val lines = mutable.Queue.empty[String]

    def add(line: String): Unit = synchronized {
      lines.enqueue(if (line.length > 2000) line.take(2000) + "..." else line)
      while (lines.size > capacity) lines.dequeue()
    }

    def text: String = synchronized(lines.mkString("\n"))
  }
}

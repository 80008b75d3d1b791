package loxodon.exec

import java.io.{IOException, OutputStream}

import scala.util.control.NonFatal

import com.fasterxml.jackson.databind.JsonNode
import com.fasterxml.jackson.databind.node.ObjectNode
import org.apache.spark.{SparkEnv, SparkFiles, TaskContext, TaskKilledException}
import org.slf4j.{Logger, LoggerFactory}

import loxodon.exec.WorkerChannel.Message
import loxodon.io.Json

/** A Python worker failed its task; the message carries its exception and traceback. */
final class PythonWorkerException(message: String) extends RuntimeException(message)

/** One task's conversation with a leased Python worker (docs/design.md, "Executor-side Python
  * workers"): TASK, the ATTACHMENTs, the Arrow streams, then EVENTs until RESULT or ERROR.
  *
  * The worker goes back to the pool only after a RESULT has been fully read; any failure, a
  * deadline, or a killed task destroys it.
  */
object WorkerSession {
  private val log: Logger = LoggerFactory.getLogger(getClass)

  /** Runs one task on a leased worker and returns what `onResult` makes of the RESULT message (it
    * may read more from the channel, e.g. the prediction stream).
    *
    * @param spec
    *   the TASK JSON; its `attachments` field is set here, from the names of `attachments`
    * @param attachments
    *   the ATTACHMENT messages, by name, in the order they are sent (see [[modelAttachments]])
    * @param messageTimeoutMs
    *   the longest wait for any one message of the worker
    * @param python
    *   the interpreter (by default the executor's, see [[PythonExec]])
    * @param serveShard
    *   answers the worker's ROWS requests: writes the Arrow streams of shard j on the socket (fits
    *   with a parallelism factor); null: the worker may not ask
    * @param writeRows
    *   writes the Arrow stream(s) of the task on the socket
    */
  def run[T](
      partition: Int,
      spec: ObjectNode,
      attachments: Seq[(String, Array[Byte])],
      messageTimeoutMs: Long,
      python: String = PythonWorkerPool.executorPython(),
      serveShard: (Int, OutputStream) => Unit = null
  )(writeRows: OutputStream => Unit)(onResult: (Message, WorkerChannel) => T): T = {
    // Modules shipped with --files / addFile land in this executor's SparkFiles directory; the
    // worker puts it on sys.path, so `imports` can name them.
    Option(SparkEnv.get).foreach(_ => spec.put("spark_files", SparkFiles.getRootDirectory()))
    val names = Json.arr()
    attachments.foreach { case (name, _) => names.add(name) }
    spec.set[JsonNode]("attachments", names)
    // The task's GPU addresses, which the pool keys its workers by and makes the only visible
    // ones (CUDA_VISIBLE_DEVICES): the worker checks the two agree and reports them.
    val gpus = PythonWorkerPool.taskGpus()
    spec.put("gpus", gpus)
    val lease = PythonWorkerPool.lease(python, gpus)
    val channel = lease.channel
    val context = Option(TaskContext.get())
    val check = () =>
      context.foreach { c =>
        if (c.isInterrupted()) throw new TaskKilledException("the task was killed")
      }
    try {
      try {
        channel.sendJson(WorkerChannel.Task, spec)
        attachments.foreach { case (_, a) => channel.send(WorkerChannel.Attachment, a) }
        writeRows(channel.out)
        channel.out.flush()
      } catch {
        case e: Exception if causedByIO(e) =>
          // The worker may have failed early (e.g. loading the model) and closed the socket:
          // its ERROR, if it reached us, says why.
          val reason =
            try
              Some(channel.receive(System.currentTimeMillis() + 5000))
                .filter(_.kind == WorkerChannel.Error)
            catch { case NonFatal(_) => None }
          reason.foreach(m => throw failure(partition, m))
          throw new IOException(
            s"lost the Python worker of partition $partition while sending its data: $e\n" +
              lease.worker.stderr,
            e
          )
      }
      var result: Option[T] = None
      while (result.isEmpty) {
        val m =
          try channel.receive(System.currentTimeMillis() + messageTimeoutMs, check)
          catch {
            case e: IOException =>
              throw new IOException(
                s"lost the Python worker of partition $partition: $e\nlast lines of its " +
                  s"stderr:\n${lease.worker.stderr}",
                e
              )
          }
        m.kind match {
          case WorkerChannel.Event  => log.info(s"partition $partition: ${m.text}")
          case WorkerChannel.Result => result = Some(onResult(m, channel))
          case WorkerChannel.Error  => throw failure(partition, m)
          case WorkerChannel.Rows if serveShard != null =>
            serveShard(m.json.path("shard").asInt(-1), channel.out)
            channel.out.flush()
          case other =>
            throw new IllegalStateException(s"unexpected message type $other from the worker")
        }
      }
      lease.release()
      result.get
    } catch {
      case e: Throwable =>
        lease.destroy()
        throw e
    }
  }

  /** The attachments of a task that loads a model: `model`, the `.keras` archive, then
    * `custom_objects`, the cloudpickle of the custom objects, when there is one (null: none).
    */
  def modelAttachments(
      archive: Array[Byte],
      customObjects: Array[Byte]
  ): Seq[(String, Array[Byte])] =
    Seq("model" -> archive) ++ Option(customObjects).map("custom_objects" -> _)

  /** Whether `e` or one of its causes is an IOException (Arrow wraps them). */
  private def causedByIO(e: Throwable): Boolean =
    Iterator
      .iterate(e)(_.getCause)
      .takeWhile(_ != null)
      .take(10)
      .exists(_.isInstanceOf[IOException])

  /** The exception for an ERROR message of the worker of `partition`. */
  def failure(partition: Int, m: Message): PythonWorkerException = {
    val (kind, message, traceback) =
      try {
        val j = m.json
        (
          j.path("type").asText("Error"),
          j.path("message").asText(""),
          j.path("traceback").asText("")
        )
      } catch { case NonFatal(_) => ("Error", m.text, "") }
    new PythonWorkerException(
      s"Python worker for partition $partition failed: $kind: $message\n$traceback"
    )
  }
}

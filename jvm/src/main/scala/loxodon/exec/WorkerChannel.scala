package loxodon.exec

import java.io.{
  BufferedInputStream,
  BufferedOutputStream,
  DataInputStream,
  DataOutputStream,
  InputStream,
  OutputStream
}
import java.net.{Socket, SocketTimeoutException}
import java.nio.charset.StandardCharsets.UTF_8

import com.fasterxml.jackson.databind.JsonNode

import loxodon.io.Json

/** The JVM end of one lease of a Python worker: messages `[int32 BE length][u8 type][payload]` and,
  * between them, raw Arrow IPC streams on the same socket ([[out]], [[in]]).
  *
  * Waiting for the next message polls in short slices, so that a killed Spark task (whose thread is
  * interrupted, but a socket read is not interruptible) and the caller's overall deadline are
  * noticed; once a message has begun, the rest must arrive within [[WorkerChannel.BodyTimeoutMs]].
  * Messages are bounded by [[WorkerChannel.MaxMessageBytes]] both ways. The socket is already
  * authenticated (and, when Spark encrypts, TLS): see [[PythonWorker.connect]].
  */
final class WorkerChannel(val socket: Socket) {
  import WorkerChannel._

  /** Buffered output; Arrow streams are written here too. Flushed by [[send]]. */
  val out: OutputStream = new BufferedOutputStream(socket.getOutputStream, 1 << 16)

  /** Buffered input; Arrow streams are read from here too. */
  val in: InputStream = new BufferedInputStream(socket.getInputStream, 1 << 16)

  private val dataOut = new DataOutputStream(out)
  private val dataIn = new DataInputStream(in)

  socket.setTcpNoDelay(true)

  /** Writes one message and flushes it. */
  def send(kind: Int, payload: Array[Byte]): Unit = {
    require(
      payload.length <= MaxMessageBytes,
      s"a message of ${payload.length} bytes exceeds the worker channel's bound of " +
        s"$MaxMessageBytes bytes"
    )
    dataOut.writeInt(payload.length + 1)
    dataOut.writeByte(kind)
    dataOut.write(payload)
    dataOut.flush()
  }

  /** Writes a JSON message. */
  def sendJson(kind: Int, node: JsonNode): Unit = send(kind, Json.write(node).getBytes(UTF_8))

  /** Reads the next message. `deadlineMs` (an absolute `System.currentTimeMillis`, or
    * Long.MaxValue) bounds the wait for its first byte; `check` runs between polls and may throw
    * (e.g. when the task was killed).
    */
  def receive(deadlineMs: Long, check: () => Unit = () => ()): Message = {
    var first = -1
    var waiting = true
    while (waiting) {
      val left = deadlineMs - System.currentTimeMillis()
      if (left <= 0) throw new SocketTimeoutException("no message from the Python worker in time")
      socket.setSoTimeout(math.min(PollMs, left).toInt.max(1))
      try {
        first = in.read()
        waiting = false
      } catch { case _: SocketTimeoutException => check() }
    }
    if (first < 0) throw new java.io.EOFException("the Python worker closed the connection")
    socket.setSoTimeout(BodyTimeoutMs)
    val b1 = dataIn.readUnsignedByte()
    val b2 = dataIn.readUnsignedByte()
    val b3 = dataIn.readUnsignedByte()
    val length = (first << 24) | (b1 << 16) | (b2 << 8) | b3
    if (length < 1 || length - 1 > MaxMessageBytes) {
      throw new IllegalStateException(
        s"a message of ${length - 1} bytes from the Python worker is outside the channel's " +
          s"bound of 0 to $MaxMessageBytes bytes"
      )
    }
    val kind = dataIn.readUnsignedByte()
    val payload = new Array[Byte](length - 1)
    dataIn.readFully(payload)
    Message(kind, payload)
  }

  /** Closes the socket (both streams). A TLS socket waits for the peer's close_notify on close: a
    * short read timeout first, so a worker that keeps its end open cannot hold this thread.
    */
  def close(): Unit =
    try {
      socket.setSoTimeout(CloseWaitMs)
      socket.close()
    } catch { case _: java.io.IOException => () }
}

object WorkerChannel {
  final val Task: Int = 1
  final val Attachment: Int = 2
  final val Event: Int = 10
  final val Result: Int = 11
  final val Error: Int = 12

  /** worker -> JVM, during a fit with a parallelism factor: `{"shard": j}`, asking for the Arrow
    * streams (training rows, validation rows) of shard j.
    */
  final val Rows: Int = 13

  /** The message types by name (Python's `MessageType` is built from these, see
    * [[loxodon.Contract]]).
    */
  val MessageTypes: Seq[(String, Int)] =
    Seq("TASK" -> Task, "ATTACHMENT" -> Attachment, "EVENT" -> Event, "RESULT" -> Result) :+
      ("ERROR" -> Error) :+ ("ROWS" -> Rows)

  /** The largest message payload either end accepts (Python's `protocol.MAX_MESSAGE_BYTES`, via
    * [[loxodon.Contract]]): a length field past it is refused before anything is allocated.
    */
  final val MaxMessageBytes: Int = 1 << 30

  /** How long a worker waits for a new connection to answer its challenge before dropping it, so a
    * local process that connects and stays silent cannot hold a pooled worker.
    */
  final val AuthTimeoutMs: Int = 10000

  /** Bytes of a challenge nonce and of its HMAC-SHA256 answer. */
  final val NonceBytes: Int = 32

  /** The longest a close waits for the worker's end of a TLS session. */
  final val CloseWaitMs: Int = 200

  /** Slice of a wait for the next message between checks. */
  final val PollMs: Int = 2000

  /** Limit of one read once a message (or an Arrow stream) is under way. */
  final val BodyTimeoutMs: Int = 600000

  /** One message from the worker. */
  final case class Message(kind: Int, payload: Array[Byte]) {
    def text: String = new String(payload, UTF_8)
    def json: JsonNode = Json.parse(text, "a message from the Python worker")
  }
}

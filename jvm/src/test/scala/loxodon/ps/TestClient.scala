package loxodon.ps

import java.io.{
  BufferedInputStream,
  BufferedOutputStream,
  Closeable,
  DataInputStream,
  DataOutputStream,
  EOFException,
  IOException
}
import java.net.{InetSocketAddress, Socket}
import java.nio.{ByteBuffer, ByteOrder}
import java.nio.charset.StandardCharsets.UTF_8

/** A small blocking client of the wire protocol for tests: a plain socket, no Netty, so the server
  * is checked against an independent reading of `docs/design.md`.
  */
final class TestClient(host: String, port: Int, val worker: Int, timeoutMs: Int = 20000)
    extends Closeable {
  import TestClient._

  private val socket = new Socket()
  socket.connect(new InetSocketAddress(host, port), timeoutMs)
  socket.setSoTimeout(timeoutMs)
  socket.setTcpNoDelay(true)
  private val in = new DataInputStream(new BufferedInputStream(socket.getInputStream, 1 << 16))
  private val out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream, 1 << 16))

  /** Reads CHALLENGE and answers it with the HMAC under `secret`; returns the server's answer. */
  def authenticate(secret: Array[Byte]): Reply = {
    val challenge = read()
    require(challenge.op == Op.Challenge, s"expected CHALLENGE, got $challenge")
    request(Op.Auth, payload = Auth.hmac(secret, challenge.payload))
  }

  /** Writes one frame; `version` and `lengthOverride` let tests send broken ones. */
  def send(
      op: Int,
      round: Long = 0L,
      key: String = "",
      payload: Array[Byte] = Array.emptyByteArray,
      version: Int = 1,
      lengthOverride: Option[Int] = None
  ): Unit = {
    val keyBytes = key.getBytes(UTF_8)
    out.writeInt(lengthOverride.getOrElse(18 + keyBytes.length + payload.length))
    out.writeByte(version)
    out.writeByte(op)
    out.writeShort(0)
    out.writeInt(worker)
    out.writeLong(round)
    out.writeShort(keyBytes.length)
    out.write(keyBytes)
    out.write(payload)
    out.flush()
  }

  /** Writes raw bytes. */
  def sendRaw(bytes: Array[Byte]): Unit = { out.write(bytes); out.flush() }

  /** Reads one frame. */
  def read(): Reply = {
    val length = in.readInt()
    val version = in.readByte()
    require(version == 1, s"reply of version $version")
    val op = in.readUnsignedByte()
    val flags = in.readUnsignedShort()
    val w = in.readInt()
    val round = in.readLong()
    val keyLen = in.readUnsignedShort()
    val key = new String(readN(keyLen), UTF_8)
    Reply(op, flags, w, round, key, readN(length - 18 - keyLen))
  }

  private def readN(n: Int): Array[Byte] = {
    val bytes = new Array[Byte](n)
    in.readFully(bytes)
    bytes
  }

  /** One request and its reply. */
  def request(
      op: Int,
      round: Long = 0L,
      key: String = "",
      payload: Array[Byte] = Array.emptyByteArray
  ): Reply = {
    send(op, round, key, payload)
    read()
  }

  /** The OK payload of a request, or an exception carrying the ERROR text. */
  def ok(
      op: Int,
      round: Long = 0L,
      key: String = "",
      payload: Array[Byte] = Array.emptyByteArray
  ): Array[Byte] = request(op, round, key, payload).okPayload

  def pull(): Array[Float] = floats(ok(Op.Pull))
  def push(delta: Array[Float]): Long = long(ok(Op.Push, payload = bytes(delta)))
  def pushHogwild(delta: Array[Float]): Long = long(ok(Op.PushHogwild, payload = bytes(delta)))
  def sync(round: Long, v: Array[Float]): Array[Float] = floats(
    ok(Op.Sync, round, payload = bytes(v))
  )
  def easgd(x: Array[Float], round: Long = -1L): Array[Float] =
    floats(ok(Op.Easgd, round, payload = bytes(x)))

  /** Whether the server closes this connection within the socket timeout. */
  def closedByServer(): Boolean =
    try {
      while (in.read() >= 0) {}
      true
    } catch {
      case _: EOFException                    => true
      case _: java.net.SocketTimeoutException => false
      case _: IOException                     => true // connection reset
    }

  override def close(): Unit = socket.close()
}

object TestClient {

  /** One frame as received. */
  final case class Reply(
      op: Int,
      flags: Int,
      worker: Int,
      round: Long,
      key: String,
      payload: Array[Byte]
  ) {
    def text: String = new String(payload, UTF_8)
    def stop: Boolean = (flags & Op.FlagStop) != 0
    def okPayload: Array[Byte] =
      if (op == Op.Ok) payload
      else if (op == Op.Error) throw new ServerError(text)
      else throw new IllegalStateException(s"unexpected reply ${Op.name(op)}")
  }

  /** An ERROR reply. */
  final class ServerError(message: String) extends RuntimeException(message)

  /** A client of `server` speaking for `worker`, already authenticated. */
  def connect(server: ParameterServer, worker: Int = -1): TestClient = {
    val c = new TestClient(server.host, server.boundPort, worker)
    val answer = c.authenticate(Auth.fromHex(server.secretHex))
    require(answer.op == Op.Ok, s"auth refused: $answer")
    c
  }

  def bytes(v: Array[Float]): Array[Byte] = FloatVectors.toBytes(v)
  def floats(b: Array[Byte]): Array[Float] = FloatVectors.fromBytes(b)
  def long(b: Array[Byte]): Long = ByteBuffer.wrap(b).order(ByteOrder.BIG_ENDIAN).getLong
}

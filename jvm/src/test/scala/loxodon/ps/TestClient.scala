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
import java.security.cert.X509Certificate
import javax.net.ssl.{SSLContext, SSLSocket, SSLSocketFactory, TrustManager, X509TrustManager}
import java.nio.{ByteBuffer, ByteOrder}
import java.nio.charset.StandardCharsets.UTF_8

/** A small blocking client of the wire protocol for tests: a plain socket, no Netty, so the server
  * is checked against an independent reading of `docs/design.md`.
  */
final class TestClient(
    host: String,
    port: Int,
    val worker: Int,
    timeoutMs: Int = 20000,
    tls: Boolean = false
) extends Closeable {
  import TestClient._

  private val socket: Socket = {
    val plain = new Socket()
    plain.connect(new InetSocketAddress(host, port), timeoutMs)
    plain.setSoTimeout(timeoutMs)
    plain.setTcpNoDelay(true)
    if (!tls) plain
    else {
      val s = TrustAll.factory.createSocket(plain, host, port, true).asInstanceOf[SSLSocket]
      s.startHandshake()
      s
    }
  }

  /** The server certificate's SHA-256 (hex), when this client speaks TLS. */
  def peerSha256: String = socket match {
    case s: SSLSocket =>
      Auth.toHex(
        java.security.MessageDigest
          .getInstance("SHA-256")
          .digest(s.getSession.getPeerCertificates.head.getEncoded)
      )
    case _ => null
  }
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
      lengthOverride: Option[Int] = None,
      workerOverride: Option[Int] = None
  ): Unit = {
    val keyBytes = key.getBytes(UTF_8)
    out.writeInt(lengthOverride.getOrElse(18 + keyBytes.length + payload.length))
    out.writeByte(version)
    out.writeByte(op)
    out.writeShort(0)
    out.writeInt(workerOverride.getOrElse(worker))
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
      payload: Array[Byte] = Array.emptyByteArray,
      workerOverride: Option[Int] = None
  ): Reply = {
    send(op, round, key, payload, workerOverride = workerOverride)
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

  /** A client of `server` speaking for `worker` with the driver's key, already authenticated. */
  def connect(server: ParameterServer, worker: Int = -1): TestClient =
    connectWith(server, worker, server.driverKeyHex)

  /** A client of `server` holding worker `worker`'s own key, already authenticated. */
  def connectAs(server: ParameterServer, worker: Int): TestClient =
    connectWith(server, worker, server.workerKeyHex(worker))

  private def connectWith(server: ParameterServer, worker: Int, keyHex: String): TestClient = {
    val c = new TestClient(server.host, server.boundPort, worker, tls = server.conf.tls)
    val answer = c.authenticate(Auth.fromHex(keyHex))
    require(answer.op == Op.Ok, s"auth refused: $answer")
    c
  }

  /** TLS with no chain check: tests compare the fingerprint themselves, as the clients pin it. */
  object TrustAll {
    private val manager = new X509TrustManager {
      override def checkClientTrusted(c: Array[X509Certificate], a: String): Unit = ()
      override def checkServerTrusted(c: Array[X509Certificate], a: String): Unit = ()
      override def getAcceptedIssuers: Array[X509Certificate] = Array.empty
    }
    lazy val factory: SSLSocketFactory = {
      val context = SSLContext.getInstance("TLS")
      context.init(null, Array[TrustManager](manager), null)
      context.getSocketFactory
    }
  }

  def bytes(v: Array[Float]): Array[Byte] = FloatVectors.toBytes(v)
  def floats(b: Array[Byte]): Array[Float] = FloatVectors.fromBytes(b)
  def long(b: Array[Byte]): Long = ByteBuffer.wrap(b).order(ByteOrder.BIG_ENDIAN).getLong
}

package loxodon.ps

import java.security.{MessageDigest, SecureRandom}
import javax.crypto.Mac
import javax.crypto.spec.SecretKeySpec

/** The challenge/response arithmetic of the handshake: secrets, the keys derived from them, nonces,
  * HMAC-SHA256 and its constant-time check. No I/O here; [[AuthHandler]] drives it on a channel.
  * The job secret itself never leaves the server: clients hold a key derived from it.
  */
object Auth {

  /** Bytes of a job secret and of a challenge nonce. */
  final val SecretBytes: Int = 32

  /** Bytes of an HMAC-SHA256 tag. */
  final val MacBytes: Int = 32

  private val random = new SecureRandom()

  /** A fresh random secret (one per server, so one per job). */
  def newSecret(): Array[Byte] = randomBytes(SecretBytes)

  /** A fresh random challenge nonce (one per connection). */
  def newNonce(): Array[Byte] = randomBytes(SecretBytes)

  private def randomBytes(n: Int): Array[Byte] = {
    val bytes = new Array[Byte](n)
    random.nextBytes(bytes)
    bytes
  }

  /** HMAC-SHA256 of `message` under `secret`. */
  def hmac(secret: Array[Byte], message: Array[Byte]): Array[Byte] = {
    val mac = Mac.getInstance("HmacSHA256")
    mac.init(new SecretKeySpec(secret, "HmacSHA256"))
    mac.doFinal(message)
  }

  /** Whether `response` is the HMAC of `nonce` under `secret`, compared in constant time. */
  def verify(secret: Array[Byte], nonce: Array[Byte], response: Array[Byte]): Boolean =
    MessageDigest.isEqual(hmac(secret, nonce), response)

  /** The driver's key: the only key that may SHUTDOWN, STOP or write the driver's reserved blobs
    * ([[Roles]]); it stays in the driver, executors never receive it.
    */
  def driverKey(secret: Array[Byte]): Array[Byte] =
    hmac(secret, "loxodon/driver".getBytes(java.nio.charset.StandardCharsets.UTF_8))

  /** The key of worker `id`: a connection proving it speaks for worker `id` only. */
  def workerKey(secret: Array[Byte], id: Int): Array[Byte] =
    hmac(secret, s"loxodon/worker/$id".getBytes(java.nio.charset.StandardCharsets.UTF_8))

  /** The key the workers of a synchronous fit prove themselves to each other with on the all-reduce
    * ring (every worker holds it; the server never accepts it).
    */
  def ringKey(secret: Array[Byte]): Array[Byte] =
    hmac(secret, "loxodon/ring".getBytes(java.nio.charset.StandardCharsets.UTF_8))

  /** Lower-case hex of `bytes`. */
  def toHex(bytes: Array[Byte]): String = {
    val sb = new java.lang.StringBuilder(bytes.length * 2)
    bytes.foreach(b =>
      sb.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16))
    )
    sb.toString
  }

  /** Bytes of a hex string (either case). */
  def fromHex(hex: String): Array[Byte] = {
    require(hex.length % 2 == 0, s"hex string of odd length ${hex.length}")
    Array.tabulate(hex.length / 2) { i =>
      Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16).toByte
    }
  }
}

package loxodon.ps

import java.io.ByteArrayInputStream
import java.math.BigInteger
import java.nio.charset.StandardCharsets.{US_ASCII, UTF_8}
import java.security.{KeyPair, KeyPairGenerator, KeyStore, MessageDigest, SecureRandom, Signature}
import java.security.cert.{CertificateFactory, X509Certificate}
import java.time.{ZoneOffset, ZonedDateTime}
import java.time.format.DateTimeFormatter
import javax.net.ssl.{KeyManagerFactory, SSLContext}

import io.netty.handler.ssl.{SslContext, SslContextBuilder, SslProvider}

/** TLS for the parameter server and the worker channel, with no file and no extra library: a P-256
  * key and a self-signed X.509 certificate made in memory per server (or per worker pool).
  *
  * Clients do not check a chain or a host name: they pin the certificate's SHA-256 fingerprint,
  * which reaches them beside the key they authenticate with (the TASK spec, the job handle), so a
  * man in the middle would need a certificate with that exact hash. The certificate is written here
  * in DER by hand (about 40 lines) because the JDK's generator is internal (`sun.security`, closed
  * to code outside `java.base` since JDK 16) and Netty's `SelfSignedCertificate` needs BouncyCastle
  * or that same internal API.
  */
final class ServerTls private (val keyPair: KeyPair, val certificate: X509Certificate) {

  /** Lower-case hex SHA-256 of the certificate's DER bytes: what clients pin. */
  val fingerprint: String =
    Auth.toHex(MessageDigest.getInstance("SHA-256").digest(certificate.getEncoded))

  /** The server side of Netty's `SslHandler` (JDK provider, TLS 1.3 and 1.2). */
  lazy val nettyServer: SslContext =
    SslContextBuilder
      .forServer(keyPair.getPrivate, certificate)
      .sslProvider(SslProvider.JDK)
      .protocols("TLSv1.3", "TLSv1.2")
      .build()

  /** A JDK context holding this key and certificate (for sockets that take the TLS server role). */
  lazy val jdkContext: SSLContext = {
    val password = "loxodon".toCharArray
    val store = KeyStore.getInstance("PKCS12")
    store.load(null, password)
    store.setKeyEntry("loxodon", keyPair.getPrivate, password, Array(certificate))
    val keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm)
    keys.init(store, password)
    val context = SSLContext.getInstance("TLS")
    context.init(keys.getKeyManagers, null, ServerTls.random)
    context
  }
}

object ServerTls {
  private val random = new SecureRandom()

  /** A fresh key pair and certificate, valid from a day ago for 30 days. */
  def generate(commonName: String = "loxodon"): ServerTls = {
    val generator = KeyPairGenerator.getInstance("EC")
    generator.initialize(256, random)
    val keyPair = generator.generateKeyPair()
    val der = selfSigned(keyPair, commonName)
    val cert = CertificateFactory
      .getInstance("X.509")
      .generateCertificate(new ByteArrayInputStream(der))
      .asInstanceOf[X509Certificate]
    new ServerTls(keyPair, cert)
  }

  // ---- DER, just enough for one X.509 v3 certificate (RFC 5280, section 4.1) ----
  private def tlv(tag: Int, content: Array[Byte]): Array[Byte] = {
    val n = content.length
    val length =
      if (n < 0x80) Array(n.toByte)
      else {
        val bytes = BigInteger.valueOf(n.toLong).toByteArray.dropWhile(_ == 0)
        (0x80 | bytes.length).toByte +: bytes
      }
    (tag.toByte +: length) ++ content
  }
  private def seq(parts: Array[Byte]*): Array[Byte] = tlv(0x30, parts.flatten.toArray)
  private def set(parts: Array[Byte]*): Array[Byte] = tlv(0x31, parts.flatten.toArray)
  private def integer(v: BigInteger): Array[Byte] = tlv(0x02, v.toByteArray)
  private def bitString(bytes: Array[Byte]): Array[Byte] = tlv(0x03, 0.toByte +: bytes)
  private def utcTime(t: ZonedDateTime): Array[Byte] =
    tlv(0x17, t.format(DateTimeFormatter.ofPattern("yyMMddHHmmss'Z'")).getBytes(US_ASCII))

  /** OID 1.2.840.10045.4.3.2, ecdsa-with-SHA256 (no parameters). */
  private val EcdsaSha256: Array[Byte] = seq(
    Array[Byte](0x06, 0x08, 0x2a, 0x86.toByte, 0x48, 0xce.toByte, 0x3d, 0x04, 0x03, 0x02)
  )

  /** A Name holding one RDN: commonName (OID 2.5.4.3) = `cn`. */
  private def name(cn: String): Array[Byte] =
    seq(set(seq(Array[Byte](0x06, 0x03, 0x55, 0x04, 0x03), tlv(0x0c, cn.getBytes(UTF_8)))))

  private def selfSigned(keyPair: KeyPair, cn: String): Array[Byte] = {
    val now = ZonedDateTime.now(ZoneOffset.UTC)
    val tbs = seq(
      tlv(0xa0, integer(BigInteger.valueOf(2))), // [0] EXPLICIT version: v3
      integer(new BigInteger(63, random).add(BigInteger.ONE)),
      EcdsaSha256,
      name(cn),
      seq(utcTime(now.minusDays(1)), utcTime(now.plusDays(30))),
      name(cn),
      keyPair.getPublic.getEncoded // already a DER SubjectPublicKeyInfo
    )
    val signer = Signature.getInstance("SHA256withECDSA")
    signer.initSign(keyPair.getPrivate, random)
    signer.update(tbs)
    seq(tbs, EcdsaSha256, bitString(signer.sign()))
  }
}

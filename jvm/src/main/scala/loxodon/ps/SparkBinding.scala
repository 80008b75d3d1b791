package loxodon.ps

import org.apache.spark.SparkConf

/** Where a parameter server of a Spark application listens: the only Spark-aware code of this
  * package, so the Netty classes stay free of Spark.
  *
  * The server runs in the driver, and the executors dial it, as they dial the driver's RPC port;
  * its settings therefore follow and default to the driver's (the README's "Networking" table):
  *   - bind address: `spark.loxodon.ps.bindAddress`, else `spark.driver.bindAddress`, else
  *     `spark.driver.host`, else the loopback address (never 0.0.0.0 unless a config says so);
  *   - address published to workers: `spark.loxodon.ps.advertiseAddress`, else `spark.driver.host`,
  *     when it differs from the bind address (behind NAT or in a container they differ);
  *   - port: `spark.loxodon.ps.port`, 0 (any free port) by default; a fixed port is tried, then the
  *     next `spark.port.maxRetries` ports, so a firewall can open one range for all the jobs;
  *   - TLS: `spark.loxodon.ps.tls` when set, else on when Spark encrypts its own traffic
  *     (`spark.network.crypto.enabled` or `spark.ssl.enabled`); the executors' Python worker
  *     channel follows the same rule ([[tls]]);
  *   - blob-store cap: `spark.loxodon.ps.maxBlobBytes` (a size, e.g. `2g`), else the driver's max
  *     heap.
  */
object SparkBinding {

  /** The host used when Spark's config names none. */
  final val DefaultHost: String = "127.0.0.1"

  final val BindAddressConf: String = "spark.loxodon.ps.bindAddress"
  final val AdvertiseAddressConf: String = "spark.loxodon.ps.advertiseAddress"
  final val PortConf: String = "spark.loxodon.ps.port"
  final val TlsConf: String = "spark.loxodon.ps.tls"

  /** Whether Loxodon's connections (parameter server, worker channel) are encrypted. */
  def tls(conf: SparkConf): Boolean =
    conf.getOption(TlsConf) match {
      case Some(v) => v.trim.toBoolean
      case None =>
        conf.getBoolean("spark.network.crypto.enabled", false) ||
        conf.getBoolean("spark.ssl.enabled", false)
    }

  /** The address to bind to. */
  def bindHost(conf: SparkConf): String =
    nonEmpty(conf, BindAddressConf)
      .orElse(nonEmpty(conf, "spark.driver.bindAddress"))
      .orElse(nonEmpty(conf, "spark.driver.host"))
      .getOrElse(DefaultHost)

  /** The address workers should dial, when it differs from [[bindHost]]. */
  def advertisedHost(conf: SparkConf): Option[String] =
    nonEmpty(conf, AdvertiseAddressConf)
      .orElse(nonEmpty(conf, "spark.driver.host"))
      .filter(_ != bindHost(conf))

  /** The first port to bind (0: any) and how many after it to try. */
  def ports(conf: SparkConf): (Int, Int) = {
    val port = conf.getInt(PortConf, 0)
    require(port >= 0 && port <= 65535, s"$PortConf must be in 0..65535, got $port")
    if (port == 0) (0, 0)
    else (port, math.max(0, math.min(conf.getInt("spark.port.maxRetries", 16), 65535 - port)))
  }

  private def nonEmpty(conf: SparkConf, key: String): Option[String] =
    conf.getOption(key).map(_.trim).filter(_.nonEmpty)

  /** `job` (the settings of one job's server) bound where this application's servers listen. */
  def serverConf(sparkConf: SparkConf, job: ParameterServerConf): ParameterServerConf = {
    val (port, portRetries) = ports(sparkConf)
    job.copy(
      host = bindHost(sparkConf),
      port = port,
      portRetries = portRetries,
      advertisedHost = advertisedHost(sparkConf),
      maxBlobBytes =
        if (sparkConf.contains(BlobStore.CapConf)) sparkConf.getSizeAsBytes(BlobStore.CapConf)
        else job.maxBlobBytes,
      tls = tls(sparkConf)
    )
  }
}

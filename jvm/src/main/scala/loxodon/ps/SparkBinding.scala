package loxodon.ps

import org.apache.spark.SparkConf

/** Where a parameter server of a Spark application listens: the only Spark-aware code of this
  * package, so the Netty classes stay free of Spark.
  *
  * Bind address: `spark.driver.bindAddress`, else `spark.driver.host`, else the loopback address
  * (never 0.0.0.0 unless the config says so). Address published to workers: `spark.driver.host`
  * when set (it is what executors already use to reach the driver), else the bind address.
  */
object SparkBinding {

  /** The host used when Spark's config names none. */
  final val DefaultHost: String = "127.0.0.1"

  /** The address to bind to. */
  def bindHost(conf: SparkConf): String =
    nonEmpty(conf, "spark.driver.bindAddress")
      .orElse(nonEmpty(conf, "spark.driver.host"))
      .getOrElse(DefaultHost)

  /** The address workers should dial, when it differs from [[bindHost]]. */
  def advertisedHost(conf: SparkConf): Option[String] =
    nonEmpty(conf, "spark.driver.host").filter(_ != bindHost(conf))

  private def nonEmpty(conf: SparkConf, key: String): Option[String] =
    conf.getOption(key).map(_.trim).filter(_.nonEmpty)

  /** The server configuration of one job of this application. */
  def serverConf(
      sparkConf: SparkConf,
      numWorkers: Int,
      numParams: Long,
      layoutJson: String,
      syncTimeoutMs: Long,
      maxFrameBytes: Int,
      easgdAlpha: Double
  ): ParameterServerConf = {
    require(
      numParams >= 0 && numParams <= Int.MaxValue,
      s"numParams must be in 0..${Int.MaxValue}, got $numParams"
    )
    ParameterServerConf(
      numWorkers = numWorkers,
      numParams = numParams.toInt,
      layoutJson = layoutJson,
      maxFrameBytes = maxFrameBytes,
      syncTimeoutMs = syncTimeoutMs,
      easgdAlpha = easgdAlpha,
      host = bindHost(sparkConf),
      port = 0,
      advertisedHost = advertisedHost(sparkConf)
    )
  }
}

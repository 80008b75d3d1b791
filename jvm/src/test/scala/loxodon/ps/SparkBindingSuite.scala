package loxodon.ps

import org.apache.spark.SparkConf
import org.scalatest.funsuite.AnyFunSuite

class SparkBindingSuite extends AnyFunSuite with ServerFixture {

  /** A job's settings; where it binds comes from the Spark config. */
  private def job(numWorkers: Int, numParams: Int) = ParameterServerConf(
    numWorkers = numWorkers,
    numParams = numParams,
    maxFrameBytes = 1 << 20,
    syncTimeoutMs = 1000L,
    easgdAlpha = 0.5
  )

  test("the bind host comes from spark.driver.bindAddress, then spark.driver.host, then loopback") {
    val none = new SparkConf(false)
    assert(SparkBinding.bindHost(none) == "127.0.0.1" && SparkBinding.advertisedHost(none).isEmpty)
    val host = new SparkConf(false).set("spark.driver.host", "localhost")
    assert(SparkBinding.bindHost(host) == "localhost" && SparkBinding.advertisedHost(host).isEmpty)
    val both = host.clone.set("spark.driver.bindAddress", "127.0.0.1")
    assert(SparkBinding.bindHost(both) == "127.0.0.1")
    assert(SparkBinding.advertisedHost(both).contains("localhost"))
  }

  test("Loxodon's own address configs override the driver's (NAT, containers)") {
    val conf = new SparkConf(false)
      .set("spark.driver.host", "10.0.0.5")
      .set(SparkBinding.BindAddressConf, "0.0.0.0")
      .set(SparkBinding.AdvertiseAddressConf, "203.0.113.7")
    assert(SparkBinding.bindHost(conf) == "0.0.0.0")
    assert(SparkBinding.advertisedHost(conf).contains("203.0.113.7"))
    conf.remove(SparkBinding.AdvertiseAddressConf)
    assert(SparkBinding.advertisedHost(conf).contains("10.0.0.5"))
  }

  test("a fixed port is tried, then the next spark.port.maxRetries ones") {
    val conf = new SparkConf(false).set("spark.driver.host", "127.0.0.1")
    assert(SparkBinding.ports(conf) == ((0, 0)))
    val taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))
    try {
      val first = taken.getLocalPort
      conf.set(SparkBinding.PortConf, first.toString).set("spark.port.maxRetries", "8")
      assert(SparkBinding.ports(conf) == ((first, 8)))
      val server = ParameterServer.forSpark(conf, job(1, 10))
      try {
        assert(server.boundPort > first && server.boundPort <= first + 8, server.boundPort)
        using(TestClient.connect(server, worker = 0))(c => assert(c.pull().length == 10))
      } finally server.close()
      conf.set("spark.port.maxRetries", "0")
      val e = intercept[IllegalStateException](
        ParameterServer.forSpark(conf, job(1, 10))
      )
      assert(e.getMessage.contains(s"127.0.0.1:$first") && e.getMessage.contains("ps.port"))
    } finally taken.close()
  }

  test("forSpark starts a server on an ephemeral port of the driver host") {
    val sparkConf = new SparkConf(false).set("spark.driver.host", "127.0.0.1")
    val server = ParameterServer.forSpark(sparkConf, job(2, 100))
    try {
      assert(server.isRunning && server.host == "127.0.0.1" && server.boundPort > 0)
      assert(server.conf.numWorkers == 2 && server.conf.easgdAlpha == 0.5)
      using(TestClient.connect(server, worker = 1))(c => assert(c.pull().length == 100))
    } finally server.close()
  }

  test("numParams beyond an Int is refused") {
    val e = intercept[IllegalArgumentException](ParameterServerConf.numParams(1L << 32))
    assert(e.getMessage.endsWith(s"numParams must be in 0..${Int.MaxValue}, got ${1L << 32}"), e)
    assert(ParameterServerConf.numParams(7L) == 7)
  }

  test("PythonAPI answers its version") {
    assert(loxodon.PythonAPI.version == "0.1.0")
  }
}

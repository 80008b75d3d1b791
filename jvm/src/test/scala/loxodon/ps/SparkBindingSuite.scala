package loxodon.ps

import org.apache.spark.SparkConf
import org.scalatest.funsuite.AnyFunSuite

class SparkBindingSuite extends AnyFunSuite with ServerFixture {

  test("the bind host comes from spark.driver.bindAddress, then spark.driver.host, then loopback") {
    val none = new SparkConf(false)
    assert(SparkBinding.bindHost(none) == "127.0.0.1" && SparkBinding.advertisedHost(none).isEmpty)
    val host = new SparkConf(false).set("spark.driver.host", "localhost")
    assert(SparkBinding.bindHost(host) == "localhost" && SparkBinding.advertisedHost(host).isEmpty)
    val both = host.clone.set("spark.driver.bindAddress", "127.0.0.1")
    assert(SparkBinding.bindHost(both) == "127.0.0.1")
    assert(SparkBinding.advertisedHost(both).contains("localhost"))
  }

  test("forSpark starts a server on an ephemeral port of the driver host") {
    val sparkConf = new SparkConf(false).set("spark.driver.host", "127.0.0.1")
    val server = ParameterServer.forSpark(sparkConf, 2, 100L, "{}", 1000L, 1 << 20, 0.5)
    try {
      assert(server.isRunning && server.host == "127.0.0.1" && server.boundPort > 0)
      assert(server.conf.numWorkers == 2 && server.conf.easgdAlpha == 0.5)
      using(TestClient.connect(server, worker = 1))(c => assert(c.pull().length == 100))
    } finally server.close()
  }

  test("numParams beyond an Int is refused") {
    val e = intercept[IllegalArgumentException](
      ParameterServer.forSpark(new SparkConf(false), 1, 1L << 32, "{}", 1000L, 1 << 30, 0.1)
    )
    assert(e.getMessage.contains("numParams"))
  }

  test("PythonAPI answers its version") {
    assert(loxodon.PythonAPI.version == "0.1.0")
  }
}

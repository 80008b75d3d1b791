package loxodon

import org.apache.spark.sql.SparkSession
import org.scalatest.{BeforeAndAfterAll, Suite}

/** A `local[2]` SparkSession for a suite, stopped after it. */
trait LocalSpark extends BeforeAndAfterAll { self: Suite =>
  @transient private var session: SparkSession = _

  def spark: SparkSession = session

  override def beforeAll(): Unit = {
    super.beforeAll()
    session = SparkSession
      .builder()
      .master("local[2]")
      .appName(getClass.getSimpleName)
      .config("spark.ui.enabled", "false")
      .config("spark.sql.shuffle.partitions", "4")
      .getOrCreate()
  }

  override def afterAll(): Unit =
    try if (session != null) session.stop()
    finally super.afterAll()
}

package loxodon

import java.nio.file.{Files, Paths}

import org.apache.spark.sql.SparkSession
import org.scalatest.{BeforeAndAfterAll, Suite}

import loxodon.exec.PythonWorkerPool

/** A local[2] SparkSession whose executors run Loxodon's Python workers from the project's
  * virtualenv, for suites that train for real; `spark` stays null (and [[requirePython]] cancels
  * the test) when `.venv/bin/python` is absent.
  */
trait PythonWorkersSpark extends BeforeAndAfterAll { self: Suite =>
  protected val python: java.nio.file.Path = Paths.get(".venv/bin/python").toAbsolutePath
  @transient protected var spark: SparkSession = _

  override def beforeAll(): Unit = {
    super.beforeAll()
    if (Files.isExecutable(python)) {
      spark = SparkSession
        .builder()
        .master("local[2]")
        .appName(getClass.getSimpleName)
        .config("spark.ui.enabled", "false")
        .config("spark.pyspark.python", python.toString)
        .getOrCreate()
    }
  }

  override def afterAll(): Unit =
    try {
      PythonWorkerPool.shutdown()
      if (spark != null) spark.stop()
    } finally super.afterAll()

  /** Cancels the test when there is no virtualenv Python. */
  protected def requirePython(): Unit =
    assume(spark != null, s"no Python at $python (run `make venv`)")
}

package loxodon.exec

import org.apache.spark.SparkConf
import org.scalatest.funsuite.AnyFunSuite

import loxodon.LocalSpark

class SlotCheckSuite extends AnyFunSuite with LocalSpark {

  test("asking for more workers than local[2] has slots fails before launching") {
    SlotCheck.require(spark.sparkContext, 2)
    val e = intercept[IllegalArgumentException](SlotCheck.require(spark.sparkContext, 3))
    val m = e.getMessage
    assert(m.contains("num_workers=3") && m.contains("only 2 free task slots"))
    Seq("local[n]", "spark.executor.instances", "spark.executor.cores", "spark.task.cpus")
      .foreach(s => assert(m.contains(s), s))
  }

  test("dynamic allocation is refused with the setting to change") {
    val e = intercept[IllegalArgumentException](SlotCheck.check(2, true, 8, "yarn"))
    assert(e.getMessage.contains("spark.dynamicAllocation.enabled=false"))
    SlotCheck.check(8, false, 8, "yarn")
  }

  test("late executors: the check waits for slots, bounded, then names what registered") {
    var polls = 0
    SlotCheck.check(2, false, { polls += 1; if (polls >= 5) 2 else 0 }, "spark://m:7077", 5000L)
    assert(polls == 5)
    val started = System.nanoTime()
    val e = intercept[IllegalArgumentException](
      SlotCheck.check(2, false, 1, "spark://m:7077", 300L, 1)
    )
    assert((System.nanoTime() - started) / 1000000L >= 300L)
    val m = e.getMessage
    assert(m.contains("only 1 free task slots (1 executor(s) registered"), m)
    assert(m.contains(s"after waiting 0 s (${SlotCheck.WaitConf})"), m)
  }

  test("the interpreter comes from the config, then PYSPARK_PYTHON, then python3") {
    val conf = new SparkConf(false)
    assert(PythonExec.resolve(conf, Map.empty) == "python3")
    assert(PythonExec.resolve(conf, Map("PYSPARK_PYTHON" -> "/env/py")) == "/env/py")
    conf.set("spark.pyspark.python", "/conf/py")
    assert(PythonExec.resolve(conf, Map("PYSPARK_PYTHON" -> "/env/py")) == "/conf/py")
  }
}

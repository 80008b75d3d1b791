package loxodon.exec

import org.apache.spark.SparkContext
import org.apache.spark.sql.SparkSession

/** Starts the executors' Python workers ahead of the first fit, so that it does not wait for N
  * processes to import TensorFlow (about 5 s on two cores).
  *
  * One barrier stage of `n` tasks (all at once, like a fit's, so each slot starts its own worker)
  * leases a worker from its executor's [[PythonWorkerPool]] and gives it straight back. The pool
  * keeps the processes for later fits, predictions and searches. Uses `n` task slots while it runs,
  * and fails like a fit when fewer are free.
  */
object WorkerWarmUp {

  /** Starts (or finds idle) one Python worker per task of a stage of `n`; returns `n`. */
  def run(spark: SparkSession, n: Int): Int = {
    val sc: SparkContext = spark.sparkContext
    require(n >= 1, s"num_workers must be at least 1, got $n")
    SlotCheck.require(sc, n)
    sc.setJobDescription(s"loxodon: starting $n Python workers")
    try {
      sc.parallelize(0 until n, n)
        .barrier()
        .mapPartitions { _ =>
          PythonWorkerPool.lease().release()
          Iterator(1)
        }
        .collect()
        .sum
    } finally sc.setJobDescription(null)
  }
}

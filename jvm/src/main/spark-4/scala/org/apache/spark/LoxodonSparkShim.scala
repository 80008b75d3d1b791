package org.apache.spark

/** Loxodon's shim into `org.apache.spark`'s private API, kept in Spark's package namespace (as
  * XGBoost4J-Spark does) so that the rest of the code base uses public API only; its siblings
  * `LoxodonMLShim` and `LoxodonSqlShim` do the same for `org.apache.spark.ml` and `.sql`.
  */
object LoxodonSparkShim {

  /** How many tasks of the default resource profile the cluster can run at once now: the number of
    * free barrier slots. In local mode `local[n]` gives n (divided by `spark.task.cpus`).
    */
  def maxNumConcurrentTasks(sc: SparkContext): Int =
    sc.maxNumConcurrentTasks(sc.resourceProfileManager.defaultResourceProfile)

  /** The running barrier task's context (Spark 3.5's shim also makes its timer a daemon). */
  def barrierContext(): BarrierTaskContext = BarrierTaskContext.get()
}

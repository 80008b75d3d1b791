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

  /** The running barrier task's context. Spark 3.5's `barrier()` logs its progress from a
    * non-daemon `java.util.Timer` held by the `BarrierTaskContext` object, so a local-mode driver
    * that ran barrier tasks never exits once `main` returns (spark-submit hangs; Spark 4 uses a
    * daemon executor). Before this JVM's first Loxodon barrier task goes on, that timer is swapped
    * for a daemon one.
    */
  def barrierContext(): BarrierTaskContext = {
    daemonBarrierTimer
    BarrierTaskContext.get()
  }

  private lazy val daemonBarrierTimer: Unit = {
    val field = BarrierTaskContext.getClass.getDeclaredField(
      "org$apache$spark$BarrierTaskContext$$timer"
    )
    field.setAccessible(true)
    val old = field.get(BarrierTaskContext).asInstanceOf[java.util.Timer]
    val daemon = new java.util.Timer("Barrier task timer for barrier() calls.", true)
    field.set(BarrierTaskContext, daemon)
    old.cancel()
  }
}

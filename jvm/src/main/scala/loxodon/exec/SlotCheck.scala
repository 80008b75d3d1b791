package loxodon.exec

import org.apache.spark.{LoxodonSparkShim, SparkContext}

/** Checks, before a barrier stage is launched, that the cluster can run all of its tasks at once:
  * barrier mode waits for every slot, so asking for more than there are would hang.
  */
object SlotCheck {

  /** Throws an IllegalArgumentException naming the settings to change when `numWorkers` tasks
    * cannot run together on `sc`, or when dynamic allocation is on.
    */
  def require(sc: SparkContext, numWorkers: Int): Unit =
    check(
      numWorkers,
      sc.getConf.getBoolean("spark.dynamicAllocation.enabled", defaultValue = false),
      LoxodonSparkShim.maxNumConcurrentTasks(sc),
      sc.master
    )

  /** The check of [[require]] on its inputs: dynamic allocation off, `numWorkers <= slots`. */
  def check(numWorkers: Int, dynamicAllocation: Boolean, slots: => Int, master: String): Unit = {
    if (dynamicAllocation) {
      throw new IllegalArgumentException(
        "barrier mode needs a fixed set of executors: set spark.dynamicAllocation.enabled=false"
      )
    }
    val free = slots
    if (numWorkers > free) throw new IllegalArgumentException(message(numWorkers, free, master))
  }

  /** The text of the error for `numWorkers` workers and `slots` free task slots. */
  def message(numWorkers: Int, slots: Int, master: String): String =
    s"num_workers=$numWorkers but the cluster has only $slots free task slots (master " +
      s"$master); a barrier stage runs all workers at once. Lower num_workers to at most " +
      s"$slots, or add slots: master local[n] with n >= $numWorkers, more executors " +
      "(spark.executor.instances), more cores per executor (spark.executor.cores), or fewer " +
      "cores per task (spark.task.cpus)"
}

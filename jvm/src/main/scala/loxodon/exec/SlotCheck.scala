package loxodon.exec

import org.apache.spark.{LoxodonSparkShim, SparkContext}

/** Checks, before a barrier stage is launched, that the cluster can run all of its tasks at once:
  * barrier mode waits for every slot, so asking for more than there are would hang.
  *
  * On a cluster, executors register seconds (standalone) to minutes (YARN, Kubernetes) after the
  * SparkContext starts, and a lost executor's replacement registers later still; so the check waits
  * for the slots, bounded, as Spark's own scheduler does before its first stage
  * (`spark.scheduler.maxRegisteredResourcesWaitingTime`). `local[n]` has all its slots from the
  * start and is judged at once.
  */
object SlotCheck {

  /** How long to wait for enough slots; default: Spark's own registration wait, at least 30 s. */
  final val WaitConf: String = "spark.loxodon.slotWaitTime"

  private final val SparkWaitConf = "spark.scheduler.maxRegisteredResourcesWaitingTime"
  private final val PollMs = 100L

  /** Throws an IllegalArgumentException naming the settings to change when `numWorkers` tasks
    * cannot run together on `sc` within the wait, or when dynamic allocation is on.
    */
  def require(sc: SparkContext, numWorkers: Int): Unit = {
    val conf = sc.getConf
    val dynamic = conf.getBoolean("spark.dynamicAllocation.enabled", defaultValue = false)
    val waitMs =
      if (isLocal(sc.master)) 0L
      else
        conf.getTimeAsMs(WaitConf, s"${math.max(30000L, conf.getTimeAsMs(SparkWaitConf, "30s"))}ms")
    check(
      numWorkers,
      dynamic,
      LoxodonSparkShim.maxNumConcurrentTasks(sc),
      sc.master,
      waitMs,
      registered(sc)
    )
  }

  /** The check of [[require]] on its inputs: dynamic allocation off, then `numWorkers <= slots`
    * within `waitMs` (polling `slots`).
    */
  def check(
      numWorkers: Int,
      dynamicAllocation: Boolean,
      slots: => Int,
      master: String,
      waitMs: Long = 0L,
      executors: => Int = -1
  ): Unit = {
    if (dynamicAllocation) {
      throw new IllegalArgumentException(
        "barrier mode needs a fixed set of executors, and spark.dynamicAllocation.enabled is " +
          "true: set spark.dynamicAllocation.enabled=false (and spark.executor.instances to the " +
          "executors a fit needs)"
      )
    }
    val deadline = System.nanoTime() + waitMs * 1000000L
    var free = slots
    while (free < numWorkers && System.nanoTime() < deadline) {
      Thread.sleep(PollMs)
      free = slots
    }
    if (numWorkers > free) {
      throw new IllegalArgumentException(message(numWorkers, free, master, waitMs, executors))
    }
  }

  /** The text of the error for `numWorkers` workers and `slots` free task slots. */
  def message(
      numWorkers: Int,
      slots: Int,
      master: String,
      waitedMs: Long = 0L,
      executors: Int = -1
  ): String = {
    val registered =
      if (executors >= 0) s"$executors executor(s) registered, " else ""
    val waited = if (waitedMs > 0) s" after waiting ${waitedMs / 1000} s ($WaitConf)" else ""
    s"num_workers=$numWorkers but the cluster has only $slots free task slots ($registered" +
      s"master $master)$waited; a barrier stage runs all workers at once. Lower num_workers to at " +
      s"most $slots, or add slots: master local[n] with n >= $numWorkers, more executors " +
      "(spark.executor.instances), more cores per executor (spark.executor.cores), or fewer " +
      "cores per task (spark.task.cpus)"
  }

  /** `local`, `local[n]`, `local[n,f]`, `local[*]`: all slots exist from the start. */
  private def isLocal(master: String): Boolean =
    master == "local" || (master.startsWith("local[") && !master.startsWith("local-cluster"))

  /** Executors registered now (the driver's own block manager excluded outside local mode). */
  private def registered(sc: SparkContext): Int =
    if (isLocal(sc.master)) 1 else math.max(0, sc.getExecutorMemoryStatus.size - 1)
}

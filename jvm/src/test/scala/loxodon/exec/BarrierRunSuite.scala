package loxodon.exec

import java.io.IOException
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit.SECONDS

import scala.collection.mutable.ArrayBuffer

import org.apache.spark.{SparkException, TaskContext}
import org.scalatest.funsuite.AnyFunSuite

import loxodon.LocalSpark

/** The retries of [[BarrierRun]]: Spark itself never retries a failed barrier result stage, shown
  * first, so the run submits the stage again after failures a new attempt gets past, and only
  * those.
  */
class BarrierRunSuite extends AnyFunSuite with LocalSpark {

  private final class Outcome(maxAttempts: Int) {
    val ends = new LinkedBlockingQueue[Either[String, Seq[String]]]()
    val retries = ArrayBuffer.empty[(Int, String)]
    val run = new BarrierRun(
      spark.sparkContext,
      s"test-${System.nanoTime()}",
      "test stage",
      r => ends.put(Right(r.toSeq)),
      m => ends.put(Left(m))
    )

    def launch(stage: Int => Array[String]): Outcome = {
      val retry = BarrierRun.Retry(maxAttempts, (a, m) => retries.synchronized(retries += ((a, m))))
      run.launch(stage, Some(retry), () => ())
      this
    }
  }

  /** A barrier stage of 2 tasks whose partition 1 fails in `failingAttempts` with `error`. */
  private def stage(failingAttempts: Set[Int], error: String)(attempt: Int): Array[String] =
    spark.sparkContext
      .parallelize(0 until 2, 2)
      .barrier()
      .mapPartitions { it =>
        val p = TaskContext.getPartitionId()
        if (p == 1 && failingAttempts.contains(attempt)) throw new IOException(error)
        it.map(i => s"$attempt:$i")
      }
      .collect()

  test("Spark does not retry a failed barrier result stage") {
    val e = intercept[SparkException] {
      spark.sparkContext
        .parallelize(0 until 2, 2)
        .barrier()
        .mapPartitions { it =>
          if (TaskContext.getPartitionId() == 1) throw new IOException("lost")
          it
        }
        .collect()
    }
    assert(e.getMessage.contains("Could not recover from a failed barrier ResultStage"), e)
  }

  test("a lost worker's stage runs again, resuming as attempt 1, and reports the attempts") {
    val o = new Outcome(3).launch(stage(Set(0), "lost the Python worker of partition 1"))
    val end = o.ends.poll(60, SECONDS)
    assert(end == Right(Seq("1:0", "1:1")), end)
    assert(o.run.attemptsTaken == 2)
    assert(o.retries.size == 1 && o.retries.head._1 == 1)
    // The task's own failure, not Spark's "Could not recover from a failed barrier ResultStage".
    assert(o.retries.head._2.startsWith("java.io.IOException: lost the Python worker"), o.retries)
  }

  test("retries are bounded by maxAttempts; the last failure is reported") {
    val o = new Outcome(2).launch(stage(Set(0, 1, 2), "lost the Python worker of partition 1"))
    val end = o.ends.poll(60, SECONDS)
    assert(end.isLeft && end.left.exists(_.contains("lost the Python worker")), end)
    assert(o.retries.map(_._1) == Seq(1))
  }

  test("an error of the workers' own Python code fails at once, without a retry") {
    val o = new Outcome(3)
      .launch(stage(Set(0), "Python worker for partition 1 failed: ValueError: bad labels\n"))
    val end = o.ends.poll(60, SECONDS)
    assert(end.isLeft && end.left.exists(_.contains("ValueError: bad labels")), end)
    assert(o.retries.isEmpty)
  }

  test("which failures a new attempt can get past") {
    assert(BarrierRun.retryable("lost the Python worker of partition 1: EOF"))
    assert(BarrierRun.retryable("ExecutorLostFailure (executor 1 exited)"))
    assert(BarrierRun.retryable("Python worker for partition 0 failed: PSError: round 3 timed out"))
    assert(BarrierRun.retryable("Python worker for partition 0 failed: ConnectionResetError: x"))
    assert(!BarrierRun.retryable("Python worker for partition 0 failed: ValueError: bad"))
    assert(!BarrierRun.retryable("Python worker for partition 2 failed: keras.Error: no"))
  }
}

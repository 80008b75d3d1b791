package loxodon.select

import java.io.{ByteArrayOutputStream, IOException}

import com.fasterxml.jackson.databind.JsonNode
import com.fasterxml.jackson.databind.node.ObjectNode
import org.apache.spark.{LoxodonSparkShim, TaskKilledException}
import org.slf4j.{Logger, LoggerFactory}

import loxodon.data.{ArrowBatches, DriverData, Example}
import loxodon.exec.{TaskSpec, WorkerSession}
import loxodon.io.Json
import loxodon.ps.ServerAddress
import loxodon.train.TrainParams

/** Everything a barrier task of a search needs besides its rows (serialisable, sent with the
  * closure). Internal: `testFaults` comes from the test-only conf [[Selection.TestFaultsConf]].
  */
private[loxodon] final case class HopTaskSpec(
    params: TrainParams,
    featureWidth: Int,
    labelWidth: Int,
    server: ServerAddress,
    maxRestarts: Int,
    testFaults: Option[String],
    driverData: Option[DriverData] = None,
    replicated: Boolean = false
) {

  /** The TASK JSON for `partition` in stage attempt `attempt`. */
  def taskJson(partition: Int, attempt: Int, restart: Int): ObjectNode = {
    val spec = TaskSpec("hop", partition, params.numWorkers, params.seed, params.imports)
      .put("attempt", attempt)
      .put("restart", restart)
      .put("client_timeout", params.messageTimeoutMs / 1000.0)
      .put("replicated", replicated)
    testFaults.foreach { f =>
      spec.set[JsonNode]("fault_injection", Json.parse(f, Selection.TestFaultsConf))
    }
    // Task-parallel workers all hold the one partition the driver placed (every row).
    TaskSpec.putDriverData(spec, driverData, if (replicated) 0 else partition)
    TaskSpec.putServer(spec, server, partition)
  }
}

/** The body of one barrier task of a search, on an executor: holds its partition (training rows,
  * then validation rows) as Arrow bytes, leases a Python worker and hands it those rows once (or,
  * when the driver uploaded them, the worker fetches them from the parameter server); the worker
  * then takes units from the driver's [[HopScheduler]] until told to stop.
  *
  * A worker process that dies (not one whose Python code raised) is replaced, up to `maxRestarts`
  * times per task, and gets the same rows again: the scheduler requeues only its unit in flight.
  */
object HopTask {
  private val log: Logger = LoggerFactory.getLogger(getClass)

  /** Runs the task of the current barrier partition over its `rows` (training rows first). */
  def run(spec: HopTaskSpec, rows: Iterator[((Int, Long), Example)]): Iterator[String] = {
    val context = LoxodonSparkShim.barrierContext()
    val partition = context.partitionId()
    val arrow = new ByteArrayOutputStream()
    if (spec.driverData.isEmpty) {
      ArrowBatches.writeFitRows(arrow, rows, spec.featureWidth, spec.labelWidth)
    }
    val bytes = arrow.toByteArray
    var restart = 0
    var result: Option[String] = None
    while (result.isEmpty) {
      val task = spec.taskJson(partition, context.stageAttemptNumber(), restart)
      try {
        result = Some(
          WorkerSession.run(partition, task, Seq.empty, spec.params.messageTimeoutMs)(out =>
            out.write(bytes)
          )((m, _) => m.text)
        )
      } catch {
        case e: IOException if restart < spec.maxRestarts && !context.isInterrupted() =>
          restart += 1
          log.warn(
            s"partition $partition: the Python worker died ($e); starting a new one " +
              s"(restart $restart of ${spec.maxRestarts})"
          )
        case _: IOException if context.isInterrupted() =>
          throw new TaskKilledException("the task was killed")
      }
    }
    Iterator(result.get)
  }
}

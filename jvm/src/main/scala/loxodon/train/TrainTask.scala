package loxodon.train

import com.fasterxml.jackson.databind.JsonNode
import com.fasterxml.jackson.databind.node.ObjectNode
import org.apache.spark.{LoxodonSparkShim, Partition}
import org.apache.spark.rdd.RDD

import loxodon.data.{ArrowBatches, DriverData, Example}
import loxodon.exec.{TaskSpec, WorkerSession}
import loxodon.ps.ServerAddress

/** Everything a barrier task of a fit needs besides its rows and the archive (serialisable, sent
  * with the closure).
  */
final case class TrainTaskSpec(
    params: TrainParams,
    stepsPerEpoch: Int,
    featureWidth: Int,
    labelWidth: Int,
    server: ServerAddress,
    driverData: Option[DriverData] = None
) {

  /** The TASK JSON for `partition` in stage attempt `attempt`. */
  def taskJson(partition: Int, attempt: Int): ObjectNode = {
    val p = params
    val spec = TaskSpec("train", partition, p.numWorkers, p.seed, p.imports)
      .put("attempt", attempt)
      .put("shuffle", p.shuffle)
      .put("batch_size", p.batchSize)
      .put("mode", p.mode)
      .put("epochs", p.epochs)
      .put("initial_epoch", p.initialEpoch)
      .put("steps_per_epoch", stepsPerEpoch)
      .put("communication_window", p.communicationWindow)
      .put("easgd_alpha", p.easgdAlpha)
      .put("momentum", p.momentum)
      .put("learning_rate_scale", p.learningRateScale)
      .put("num_shards", if (p.parallelismFactor > 1) p.numShards else 0)
      .put("sync_transport", p.syncTransport)
      .put("sync_precision", p.syncPrecision)
      .put("sync_bucket_bytes", p.syncBucketBytes)
      .put("exchange_overlap", p.exchangeOverlap)
      // The PS client waits at most this long for a reply: a round's missing workers plus the
      // driver's callbacks at an epoch gate, with a margin.
      .put("client_timeout", (p.syncTimeoutMs + p.releaseTimeoutMs) / 1000.0 + 60.0)
    spec.set[JsonNode]("frequency", p.frequencyJson)
    spec.put("sample_weight", p.sampleWeightCol.isDefined)
    spec.put("checkpoint", p.checkpointDir.isDefined)
    if (p.classWeight.nonEmpty) spec.set[JsonNode]("class_weight", p.classWeightJson)
    TaskSpec.putDriverData(spec, driverData, partition)
    TaskSpec.putServer(spec, server, partition)
  }
}

/** The body of one barrier task of a fit, on an executor: leases a Python worker, hands it the
  * model, its training rows and its validation rows (or, for [[DriverData]], their blob names),
  * relays its events to the log, and returns its RESULT JSON.
  */
object TrainTask {

  /** Runs the task of the current barrier partition over its `rows` (training rows first), in the
    * fit's `run`-th submission of the stage ([[loxodon.exec.BarrierRun]]).
    */
  def run(
      spec: TrainTaskSpec,
      run: Int,
      archive: Array[Byte],
      customObjects: Array[Byte],
      rows: Iterator[((Int, Long), Example)]
  ): Iterator[String] = {
    val context = LoxodonSparkShim.barrierContext()
    val partition = context.partitionId()
    val attachments = WorkerSession.modelAttachments(archive, customObjects)
    val task = spec.taskJson(partition, attempt(run, context.stageAttemptNumber()))
    val result = WorkerSession.run(
      partition,
      task,
      attachments,
      spec.params.messageTimeoutMs
    ) { out =>
      // Rows the driver uploaded are fetched by the worker from the parameter server.
      if (spec.driverData.isEmpty) {
        ArrowBatches.writeFitRows(out, rows, spec.featureWidth, spec.labelWidth)
      }
    }((m, _) => m.text)
    Iterator(result)
  }

  /** Runs the task of the current barrier partition of a fit with a parallelism factor: the worker
    * claims shards from the parameter server and asks for each one's rows, which come from the
    * persisted, placed `rows` (read from Spark's block manager, on this executor or another).
    */
  def runShards(
      spec: TrainTaskSpec,
      run: Int,
      archive: Array[Byte],
      customObjects: Array[Byte],
      rows: RDD[((Int, Long), Example)],
      shards: Array[Partition]
  ): Iterator[String] = {
    val context = LoxodonSparkShim.barrierContext()
    val partition = context.partitionId()
    val task = spec.taskJson(partition, attempt(run, context.stageAttemptNumber()))
    val serve = (shard: Int, out: java.io.OutputStream) => {
      if (shard < 0 || shard >= shards.length) {
        throw new IllegalStateException(
          s"the worker of partition $partition asked for shard $shard of ${shards.length}"
        )
      }
      ArrowBatches.writeFitRows(
        out,
        rows.iterator(shards(shard), context),
        spec.featureWidth,
        spec.labelWidth
      )
    }
    val result = WorkerSession.run(
      partition,
      task,
      WorkerSession.modelAttachments(archive, customObjects),
      spec.params.messageTimeoutMs,
      serveShard = serve
    )(_ => ())((m, _) => m.text)
    Iterator(result)
  }

  /** The `attempt` of a TASK spec: unique per submission of the stage and Spark's attempts of it,
    * so that sync rounds of a dead attempt are never joined by a new one (the workers' round ids
    * carry it in 15 bits).
    */
  def attempt(run: Int, stageAttempt: Int): Int = (run << 4) | math.min(stageAttempt, 15)
}

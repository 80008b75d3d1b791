package loxodon.exec

import com.fasterxml.jackson.databind.JsonNode
import com.fasterxml.jackson.databind.node.ObjectNode

import loxodon.data.DriverData
import loxodon.io.Json
import loxodon.ps.ServerAddress
import loxodon.train.TrainParams

/** The fields every TASK spec has (docs/design.md, "The TASK spec"), written once for the four
  * kinds: `train` ([[loxodon.train.TrainTaskSpec]]), `hop` ([[loxodon.select.HopTaskSpec]]),
  * `predict` and `evaluate` ([[loxodon.infer.InferenceTask]]). [[WorkerSession.run]] adds
  * `attachments`, `spark_files` and `gpus`.
  */
object TaskSpec {

  /** A spec with `kind`, `partition`, `num_workers`, `seed` and, when there are any, `imports`. */
  def apply(
      kind: String,
      partition: Int,
      numWorkers: Int,
      seed: Long,
      imports: Seq[String]
  ): ObjectNode = {
    val spec = Json
      .obj()
      .put("kind", kind)
      .put("partition", partition)
      .put("num_workers", numWorkers)
      .put("seed", seed)
    TrainParams.putImports(spec, imports)
    spec
  }

  /** Sets `ps` in `spec`: where worker `worker` dials the job's parameter server, and its key. */
  def putServer(spec: ObjectNode, server: ServerAddress, worker: Int): ObjectNode =
    spec.set[ObjectNode]("ps", server.json(worker))

  /** Sets `driver_data` in `spec` when the driver uploaded the rows: the blobs of `partition`. */
  def putDriverData(spec: ObjectNode, data: Option[DriverData], partition: Int): ObjectNode = {
    data.foreach(d => spec.set[JsonNode]("driver_data", d.taskJson(partition)))
    spec
  }
}

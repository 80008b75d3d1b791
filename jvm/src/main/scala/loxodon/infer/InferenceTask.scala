package loxodon.infer

import java.io.OutputStream

import org.apache.spark.SparkContext
import org.apache.spark.broadcast.Broadcast

import loxodon.exec.{TaskSpec, WorkerChannel, WorkerSession}

/** What a distributed predict and evaluate share: the archive and the custom objects broadcast
  * once, and one `predict` or `evaluate` TASK per partition on a pooled Python worker (a partition
  * is a job of its own: `num_workers` 1, no parameter server).
  */
private[infer] final class InferenceTask private (
    kind: String,
    archive: Broadcast[Array[Byte]],
    customObjects: Broadcast[Array[Byte]],
    params: InferenceParams
) extends Serializable {

  /** Runs the TASK of `partition` on a leased worker (on an executor): `writeRows` sends its Arrow
    * stream, `onResult` reads the RESULT (see [[WorkerSession.run]]).
    */
  def run[T](partition: Int)(writeRows: OutputStream => Unit)(
      onResult: (WorkerChannel.Message, WorkerChannel) => T
  ): T = {
    val spec = TaskSpec(kind, partition, numWorkers = 1, seed = 0L, params.imports)
      .put("batch_size", params.batchSize)
    val attachments = WorkerSession.modelAttachments(archive.value, customObjects.value)
    WorkerSession.run(partition, spec, attachments, params.messageTimeoutMs)(writeRows)(onResult)
  }

  /** Frees the broadcasts (on the driver, once the tasks are done). */
  def destroy(): Unit = {
    archive.destroy()
    customObjects.destroy()
  }
}

private[infer] object InferenceTask {

  /** A task of `kind` ("predict" or "evaluate") whose archive and custom objects are broadcast on
    * `sc`.
    */
  def apply(
      sc: SparkContext,
      kind: String,
      archive: Array[Byte],
      customObjects: Option[Array[Byte]],
      params: InferenceParams
  ): InferenceTask =
    new InferenceTask(kind, sc.broadcast(archive), sc.broadcast(customObjects.orNull), params)
}

package loxodon.select

import com.fasterxml.jackson.databind.JsonNode
import com.fasterxml.jackson.databind.node.ObjectNode
import org.apache.spark.SparkContext

import loxodon.exec.JobHandle
import loxodon.io.Json
import loxodon.ps.ParameterServer

/** The handle of a running model-selection search, driven from Python (`loxodon.selection.search`)
  * or from Scala ([[GridSelection]]): the caller adds models, asks for epochs, reads events, and
  * retires models as its strategy decides; the [[HopScheduler]] places the units on the workers.
  *
  * Events are JSON texts, read with [[nextEvent]]:
  *   - `{"type": "epoch", "trial_id": m, "epoch": e, "logs": {..}}` when model m finished epoch e;
  *   - `{"type": "exported", "trial_id": m}` when model m's `.keras` archive is ready
  *     ([[modelArchive]]);
  *   - `{"type": "done", "result": [..]}` when the barrier stage has ended (after [[finish]]);
  *   - `{"type": "failed", "message": ..}` when it failed.
  */
final class SelectionJob private[select] (
    sc: SparkContext,
    server: ParameterServer,
    valRows: Array[Long],
    order: Map[Int, Seq[Seq[Int]]],
    replicated: Boolean,
    jobGroup: String,
    description: String
) extends JobHandle(sc, server, jobGroup, description)
    with HopListener {
  val scheduler: HopScheduler =
    new HopScheduler(ps.conf.numWorkers, valRows, this, order, replicated)
  ps.setUnitSource(scheduler)

  /** Adds model `id` from its `.keras` archive; `unitJson` holds its fit params (`batch_size`,
    * optional `learning_rate`). Its first state is the archive's own weights, which a worker with
    * no copy of them reads by loading the archive.
    */
  def addModel(id: Int, archive: Array[Byte], unitJson: String): Unit =
    addModel(id, archive, null, unitJson)

  /** As above, with the model's first state given as packed bytes (weights and optimizer variables,
    * as a worker packs them; null: the archive's own): a worker that has compiled the model's
    * architecture then takes the trial with one blob read instead of loading its archive.
    */
  def addModel(id: Int, archive: Array[Byte], initialState: Array[Byte], unitJson: String): Unit = {
    ps.putBlob(archiveBlob(id), archive)
    Option(initialState).foreach(ps.putBlob(initialStateBlob(id), _))
    addStoredModel(id, Option(initialState).isDefined, unitJson)
  }

  /** Adds model `id` whose archive a client already PUT as [[archiveBlob]] (and, when
    * `withInitialState`, its first state as [[initialStateBlob]]): how the Python driver adds
    * trials, over its parameter-server connection rather than as Py4J byte arrays (base64 text both
    * ways).
    */
  def addStoredModel(id: Int, withInitialState: Boolean, unitJson: String): Unit = {
    val unit = Json.parse(unitJson, "a model's fit params")
    require(unit.isObject, "a model's fit params must be a JSON object")
    require(
      unit.path("batch_size").asInt(0) >= 1,
      s"model $id: batch_size must be a positive integer, got ${unit.path("batch_size")}"
    )
    val state = if (withInitialState) Some(initialStateBlob(id)) else None
    (Seq(archiveBlob(id)) ++ state).foreach { name =>
      require(
        ps.hasBlob(name),
        s"model $id: no blob '$name' in the search's parameter server; PUT_BLOB it under " +
          "that name first (archiveBlob / initialStateBlob give the names), or add the model " +
          "with addModel, which stores the bytes itself"
      )
    }
    scheduler.addModel(id, archiveBlob(id), unit.asInstanceOf[ObjectNode], state)
  }

  /** The blob of model `id`'s `.keras` archive as added. */
  def archiveBlob(id: Int): String = s"sel/$id/archive"

  /** The blob of model `id`'s first state as added. */
  def initialStateBlob(id: Int): String = s"sel/$id/initial"

  /** The blob a worker stores model `id`'s trained `.keras` archive in (see [[modelArchive]]). */
  def exportBlob(id: Int): String = HopScheduler.exportBlob(id)

  /** Asks for `n` more epochs of model `id`. */
  def requestEpochs(id: Int, n: Int): Unit = scheduler.requestEpochs(id, n)

  /** Ends model `id`. */
  def retire(id: Int): Unit = scheduler.retire(id)

  /** Asks for model `id`'s trained `.keras` archive (an `exported` event follows). */
  def exportModel(id: Int): Unit = scheduler.requestExport(id)

  /** No more work will be added: the workers stop once the queued work is done. */
  def finish(): Unit = scheduler.finish()

  /** Model `id`'s exported `.keras` archive, or null before its `exported` event. */
  def modelArchive(id: Int): Array[Byte] = ps.blob(exportBlob(id)).orNull

  /** The schedule so far, a JSON array of units (seq, kind, trial_id, epoch, partition, worker,
    * start_s, end_s, status).
    */
  def scheduleJson: String = {
    val arr = Json.arr()
    scheduler.schedule.foreach(e => arr.add(e.toJson))
    Json.write(arr)
  }

  /** The parameter server's stats JSON (bytes moved, blobs held). */
  def statsJson: String = ps.statsJson()

  override def onEpoch(model: Int, epoch: Int, logs: Map[String, Double]): Unit = {
    val event = Json.obj().put("type", "epoch").put("trial_id", model).put("epoch", epoch)
    val l = Json.obj()
    logs.toSeq.sortBy(_._1).foreach { case (k, v) => l.put(k, v) }
    event.set[JsonNode]("logs", l)
    emit(Json.write(event))
  }

  override def onExported(model: Int, blob: String): Unit =
    emit(Json.write(Json.obj().put("type", "exported").put("trial_id", model)))

  override def onDropped(name: String): Unit = { ps.removeBlob(name); () }

  private[select] def launch(stage: () => Array[String]): Unit = run.launch(stage)

  private[select] def deferLaunch(stage: () => Array[String]): Unit = defer(() => launch(stage))

  override protected def resultEvent(results: Seq[String]): String = {
    val arr = Json.arr()
    results.foreach(r => arr.add(Json.parse(r, "a worker's result")))
    val event = Json.obj().put("type", "done")
    event.set[JsonNode]("result", arr)
    Json.write(event)
  }
}

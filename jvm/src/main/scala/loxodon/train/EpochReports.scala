package loxodon.train

import com.fasterxml.jackson.databind.JsonNode
import com.fasterxml.jackson.databind.node.ObjectNode

import loxodon.io.Json

/** The workers' reports of one epoch (the EPOCH_END payloads) combined into what the driver's
  * callbacks see: Keras-style logs, weighted means across workers.
  *
  * A metric `m` is weighted by the worker's `rows`; a validation metric `val_m` by its `val_rows`;
  * `rows`, `val_rows`, `samples`, `seconds` and `shards` are bookkeeping, not logs.
  */
object EpochReports {

  private val Bookkeeping = Set("rows", "val_rows", "samples", "seconds", "shards")

  /** Weighted means of the metrics of `reports` (parsed JSON objects). */
  def logs(reports: Seq[JsonNode]): Map[String, Double] = {
    val parsed = reports.map(Json.numbers)
    val keys = parsed.flatMap(_.keys).distinct.filterNot(Bookkeeping.contains)
    keys.flatMap { k =>
      val weightKey = if (k.startsWith("val_")) "val_rows" else "rows"
      val having = parsed.filter(_.contains(k))
      val weights = having.map(_.getOrElse(weightKey, 0.0))
      val total = weights.sum
      if (having.isEmpty) None
      else if (total > 0) Some(k -> having.zip(weights).map { case (r, w) => r(k) * w }.sum / total)
      else Some(k -> having.map(_(k)).sum / having.size)
    }.toMap
  }

  /** Throughput and timing of the epoch: samples per second over the slowest worker's time, the
    * server's update count, and that time.
    */
  def extra(reports: Seq[JsonNode], serverUpdates: Long): Map[String, Double] = {
    val parsed = reports.map(Json.numbers)
    val seconds = parsed.map(_.getOrElse("seconds", 0.0)).foldLeft(0.0)(math.max)
    val samples = parsed.map(_.getOrElse("samples", 0.0)).sum
    Map(
      "samples_per_sec" -> (if (seconds > 0) samples / seconds else 0.0),
      "server_updates" -> serverUpdates.toDouble,
      "seconds" -> seconds
    )
  }

  /** The `epoch` event JSON the job handle emits for `reports` (raw JSON texts). */
  def event(epoch: Int, reports: Seq[String], serverUpdates: Long): String = {
    val nodes = reports.map(r => Json.parseLenient(r, s"a worker's report of epoch $epoch"))
    val out = Json.obj().put("type", "epoch").put("epoch", epoch)
    out.set[ObjectNode]("logs", toNode(logs(nodes)))
    val workers = Json.arr()
    nodes.foreach(n => workers.add(n))
    out.set[ObjectNode]("workers", workers)
    out.set[ObjectNode]("extra", toNode(extra(nodes, serverUpdates)))
    Json.write(out)
  }

  private def toNode(values: Map[String, Double]): ObjectNode = {
    val node = Json.obj()
    values.toSeq.sortBy(_._1).foreach { case (k, v) => node.put(k, v) }
    node
  }
}

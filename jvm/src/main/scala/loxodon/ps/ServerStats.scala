package loxodon.ps

import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.LongAdder

import scala.jdk.CollectionConverters._

/** Counters of one parameter server, safe to bump from any thread, and their JSON form (the payload
  * of STATS and [[ParameterServer.statsJson]]).
  *
  * JSON keys: `updates` (center updates applied), `bytesIn` / `bytesOut` (frame bytes of
  * authenticated traffic), `roundsCompleted`, `roundsFailed`, `connections`, `authFailures`,
  * `workers` (requests per worker id, "-1" the driver), `ops` (requests per op name), plus what the
  * caller of [[toJson]] adds (`numWorkers`, `numParams`, `stopRequested`, ...).
  */
final class ServerStats {
  private val bytesInAdder = new LongAdder
  private val bytesOutAdder = new LongAdder
  private val roundsCompletedAdder = new LongAdder
  private val roundsFailedAdder = new LongAdder
  private val connectionsAdder = new LongAdder
  private val authFailuresAdder = new LongAdder
  private val byWorker = new ConcurrentHashMap[Int, LongAdder]()
  private val byOp = new ConcurrentHashMap[Int, LongAdder]()

  /** Counts one authenticated request of `frame`. */
  def request(frame: Frame): Unit = {
    bytesInAdder.add(frame.wireBytes)
    byWorker.computeIfAbsent(frame.worker, _ => new LongAdder).increment()
    byOp.computeIfAbsent(frame.op, _ => new LongAdder).increment()
  }

  /** Counts one reply of `frame` (call before writing it: the write releases the payload). */
  def reply(frame: Frame): Unit = bytesOutAdder.add(frame.wireBytes)

  def roundCompleted(): Unit = roundsCompletedAdder.increment()
  def roundFailed(): Unit = roundsFailedAdder.increment()
  def connectionOpened(): Unit = connectionsAdder.increment()
  def authFailed(): Unit = authFailuresAdder.increment()

  def bytesIn: Long = bytesInAdder.sum()
  def bytesOut: Long = bytesOutAdder.sum()
  def roundsCompleted: Long = roundsCompletedAdder.sum()
  def roundsFailed: Long = roundsFailedAdder.sum()
  def connections: Long = connectionsAdder.sum()
  def authFailures: Long = authFailuresAdder.sum()

  /** Requests per worker id. */
  def requestsByWorker: Map[Int, Long] = byWorker.asScala.map { case (k, v) => k -> v.sum() }.toMap

  /** Requests per op code. */
  def requestsByOp: Map[Int, Long] = byOp.asScala.map { case (k, v) => k -> v.sum() }.toMap

  /** The counters as one JSON object; `extra` values (numbers or booleans) come first. */
  def toJson(extra: Seq[(String, Any)]): String = {
    val sb = new StringBuilder("{")
    def field(name: String, value: String): Unit = {
      if (sb.length > 1) sb.append(',')
      sb.append('"').append(name).append("\":").append(value)
    }
    def obj(entries: Seq[(String, Long)]): String =
      entries.map { case (k, v) => "\"" + k + "\":" + v }.mkString("{", ",", "}")

    extra.foreach {
      case (k, v: String) => field(k, ServerStats.quote(v))
      case (k, v)         => field(k, v.toString)
    }
    field("bytesIn", bytesIn.toString)
    field("bytesOut", bytesOut.toString)
    field("roundsCompleted", roundsCompleted.toString)
    field("roundsFailed", roundsFailed.toString)
    field("connections", connections.toString)
    field("authFailures", authFailures.toString)
    field(
      "workers",
      obj(requestsByWorker.toSeq.sortBy(_._1).map { case (w, n) => w.toString -> n })
    )
    field("ops", obj(requestsByOp.toSeq.sortBy(_._1).map { case (op, n) => Op.name(op) -> n }))
    sb.append('}').toString
  }
}

object ServerStats {

  /** `s` as a JSON string literal. */
  def quote(s: String): String = {
    val sb = new StringBuilder("\"")
    s.foreach {
      case '"'          => sb.append("\\\"")
      case '\\'         => sb.append("\\\\")
      case c if c < ' ' => sb.append(f"\\u${c.toInt}%04x")
      case c            => sb.append(c)
    }
    sb.append('"').toString
  }
}

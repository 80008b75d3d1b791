package loxodon.ps

import scala.collection.mutable
import scala.util.control.NonFatal

import io.netty.buffer.ByteBuf
import io.netty.channel.{Channel, ChannelFuture}
import io.netty.util.concurrent.{EventExecutor, ScheduledFuture}
import org.slf4j.{Logger, LoggerFactory}

/** Synchronous rounds (SYNC, and EASGD with `round >= 0`) without a blocked thread.
  *
  * A round is keyed by (op, round number). Each arrival is kept with its channel and its vector
  * (one retained reference). When all N workers (ids 0 until N) have arrived, the arrival that
  * completed the round computes the replies on its own handler thread and writes them to every
  * waiter's channel: SYNC replies the mean to everyone; EASGD replies each worker its own e_i =
  * alpha (x_i - c) and moves the center by their sum. The first arrival schedules a deadline
  * `timeoutMs` later on its executor; if the round is still open then, every waiter gets an ERROR
  * naming the round and the missing worker ids. A second arrival of the same worker in one round
  * gets an ERROR and the round goes on.
  *
  * Completion and the deadline race only on removing the round from the map, under one lock, so
  * exactly one of them answers the waiters.
  */
final class SyncRounds(
    numWorkers: Int,
    timeoutMs: Long,
    center: () => CenterVector,
    easgdAlpha: Float,
    stats: ServerStats,
    replyFlags: () => Int
) {
  import SyncRounds._

  private val open = mutable.HashMap.empty[Key, Round] // guarded by `this`
  private var closed = false // guarded by `this`

  /** Number of rounds waiting for workers. */
  def openRounds: Int = synchronized(open.size)

  /** Records `worker`'s arrival in round `round` of `op` (Op.Sync or Op.Easgd). Takes over one
    * reference of `vector`, whose length the caller has checked. Never blocks.
    */
  def arrive(
      op: Int,
      round: Long,
      worker: Int,
      channel: Channel,
      vector: ByteBuf,
      executor: EventExecutor
  ): Unit = {
    val key = Key(op, round)
    val arrival = Arrival(worker, channel, vector)
    var completed: Round = null
    var refusal: String = null
    synchronized {
      if (closed) refusal = "the parameter server is stopping"
      else {
        val r = open.getOrElseUpdate(key, new Round(key))
        if (r.arrivals.contains(worker)) {
          refusal = s"worker $worker already sent ${describe(key)}; each worker sends once a round"
        } else {
          r.arrivals(worker) = arrival
          if (r.arrivals.size == numWorkers) {
            open.remove(key)
            completed = r
          } else if (r.arrivals.size == 1) {
            r.deadline = Waits.schedule(executor, timeoutMs, describe(key))(expire(key, r))
          }
        }
      }
    }
    if (refusal != null) {
      vector.release()
      sendError(arrival, round, refusal)
    } else if (completed != null) {
      Waits.cancel(completed.deadline)
      complete(completed)
    }
  }

  private def expire(key: Key, r: Round): Unit = {
    val mine = synchronized(open.get(key).exists(_ eq r) && open.remove(key).isDefined)
    if (mine) {
      val message = Waits.timedOut(describe(key), timeoutMs, numWorkers, r.arrivals.keys)
      log.warn(message)
      stats.roundFailed()
      failAll(r, message)
    }
  }

  private def complete(r: Round): Unit = {
    val arrivals = r.arrivals.values.toList
    try {
      val replies: Seq[ByteBuf] = r.key.op match {
        case Op.Sync =>
          val alloc = arrivals.head.channel.alloc()
          val mean = FloatVectors.mean(alloc, arrivals.map(_.vector), center().length)
          // One buffer for all: each reply holds its own reference to the shared memory.
          val shared = arrivals.map(_ => mean.retainedDuplicate())
          mean.release()
          shared
        case _ =>
          center().easgdSync(arrivals.head.channel.alloc(), arrivals.map(_.vector), easgdAlpha)
      }
      stats.roundCompleted()
      arrivals.zip(replies).foreach { case (a, reply) =>
        Waits.reply(stats, a.channel, Frame(Op.Ok, replyFlags(), a.worker, r.key.round, reply))
      }
    } catch {
      case NonFatal(e) =>
        log.error(s"${describe(r.key)} failed", e)
        stats.roundFailed()
        arrivals.foreach(a => sendError(a, r.key.round, s"${describe(r.key)} failed: $e"))
    } finally arrivals.foreach(_.vector.release())
  }

  private def failAll(r: Round, message: String): Seq[ChannelFuture] =
    r.arrivals.values.toList.map { a =>
      a.vector.release()
      sendError(a, r.key.round, message)
    }

  private def sendError(a: Arrival, round: Long, message: String): ChannelFuture =
    Waits.error(stats, a.channel, replyFlags(), a.worker, round, message)

  /** Fails every open round (the server is stopping) and refuses later arrivals; returns the writes
    * of those errors, which the server lets flush before it closes the connections.
    */
  def close(): Seq[ChannelFuture] = {
    val rounds = synchronized {
      closed = true
      val all = open.values.toList
      open.clear()
      all
    }
    rounds.flatMap { r =>
      Waits.cancel(r.deadline)
      failAll(r, s"${describe(r.key)} aborted: the parameter server is stopping")
    }
  }
}

object SyncRounds {
  private val log: Logger = LoggerFactory.getLogger(classOf[SyncRounds])

  private final case class Key(op: Int, round: Long)

  private final case class Arrival(worker: Int, channel: Channel, vector: ByteBuf)

  private final class Round(val key: Key) {
    val arrivals: mutable.LinkedHashMap[Int, Arrival] = mutable.LinkedHashMap.empty
    var deadline: ScheduledFuture[_] = _
  }

  /** "sync round 3" or "easgd sync round 3". */
  private def describe(key: Key): String =
    if (key.op == Op.Sync) s"sync round ${key.round}" else s"easgd sync round ${key.round}"
}

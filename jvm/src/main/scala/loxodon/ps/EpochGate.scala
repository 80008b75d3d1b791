package loxodon.ps

import scala.collection.mutable
import scala.util.control.NonFatal

import io.netty.buffer.Unpooled
import io.netty.channel.{Channel, ChannelFuture}
import io.netty.util.concurrent.{EventExecutor, ScheduledFuture}
import org.slf4j.{Logger, LoggerFactory}

/** Told when every worker has reported an epoch (op EPOCH_END); the workers then wait until the
  * driver calls [[ParameterServer.releaseEpoch]]. Called on a server thread: must not block.
  */
trait EpochListener {

  /** All N workers reported `epoch`; `reports` are their UTF-8 JSON payloads, by worker id. */
  def onEpoch(epoch: Int, reports: Seq[String]): Unit
}

/** The epoch gate (docs/design.md, "Epoch gate (op 21, EPOCH_END)"), without a blocked thread.
  *
  * Each worker ends epoch e with EPOCH_END (round = e, payload = its JSON report). Arrivals are
  * kept with their channel, as in [[SyncRounds]]. When all N have arrived, the listener gets the N
  * reports and the replies are held until [[release]]; then every waiter gets OK, carrying the stop
  * flag when the driver asked to stop.
  *
  * Two deadlines: workers missing `syncTimeoutMs` after the first arrival fail the gate (the ERROR
  * names the epoch and the missing workers); a complete gate that the driver has not released
  * within `releaseTimeoutMs` fails too, naming the epoch. A worker that arrives again for an epoch
  * while its earlier arrival's connection is gone (a retried stage) replaces it.
  */
final class EpochGate(
    numWorkers: Int,
    syncTimeoutMs: Long,
    releaseTimeoutMs: Long,
    stats: ServerStats,
    replyFlags: () => Int
) {
  import EpochGate._

  private val open = mutable.HashMap.empty[Int, Gate] // guarded by `this`
  private var closed = false // guarded by `this`
  @volatile private var listener: EpochListener = _

  /** Sets the listener told of complete epochs. */
  def setListener(l: EpochListener): Unit = listener = l

  /** Epochs waiting for workers or for the driver. */
  def openGates: Int = synchronized(open.size)

  /** Records `worker`'s report of `epoch` (its reply is sent later). Never blocks. */
  def arrive(
      epoch: Int,
      round: Long,
      worker: Int,
      channel: Channel,
      report: String,
      executor: EventExecutor
  ): Unit = {
    val arrival = Arrival(worker, round, channel, report)
    var refusal: String = null
    var complete: Gate = null
    synchronized {
      if (closed) refusal = "the parameter server is stopping"
      else {
        val g = open.getOrElseUpdate(epoch, new Gate(epoch))
        g.arrivals.get(worker) match {
          case Some(old) if old.channel.isActive || g.complete =>
            refusal = s"worker $worker already reported epoch $epoch; each worker reports once"
          case _ =>
            g.arrivals(worker) = arrival
            if (g.arrivals.size == numWorkers) {
              g.complete = true
              complete = g
            } else if (g.deadline == null) {
              g.deadline =
                Waits.schedule(executor, syncTimeoutMs, s"epoch $epoch")(missing(epoch, g))
            }
        }
      }
    }
    if (refusal != null) sendError(arrival, refusal)
    else if (complete != null) {
      Waits.cancel(complete.deadline)
      complete.deadline =
        Waits.schedule(executor, releaseTimeoutMs, s"epoch $epoch")(unreleased(epoch, complete))
      val l = listener
      val reports = complete.arrivals.toSeq.sortBy(_._1).map(_._2.report)
      stats.roundCompleted()
      if (l != null) {
        try l.onEpoch(epoch, reports)
        catch { case NonFatal(e) => log.error(s"the listener of epoch $epoch failed", e) }
      } else log.warn(s"epoch $epoch is complete but no epoch listener is set")
    }
  }

  /** Replies OK to every waiter of the complete `epoch` (after `beforeReply`, e.g. raising the stop
    * flag); whether there were waiters to release.
    */
  def release(epoch: Int, beforeReply: () => Unit): Boolean = {
    val g = synchronized {
      open.get(epoch) match {
        case Some(g) if g.complete => open.remove(epoch); g
        case _                     => null
      }
    }
    beforeReply()
    if (g == null) {
      log.warn(s"release of epoch $epoch: no complete epoch $epoch is waiting")
      false
    } else {
      Waits.cancel(g.deadline)
      g.arrivals.values.foreach { a =>
        Waits.reply(
          stats,
          a.channel,
          Frame(Op.Ok, replyFlags(), a.worker, a.round, Unpooled.EMPTY_BUFFER)
        )
      }
      true
    }
  }

  private def take(epoch: Int, g: Gate, complete: Boolean): Boolean =
    synchronized {
      open.get(epoch).exists(_ eq g) && g.complete == complete && open.remove(epoch).isDefined
    }

  private def missing(epoch: Int, g: Gate): Unit = if (take(epoch, g, complete = false)) {
    fail(g, Waits.timedOut(s"the end of epoch $epoch", syncTimeoutMs, numWorkers, g.arrivals.keys))
  }

  private def unreleased(epoch: Int, g: Gate): Unit = if (take(epoch, g, complete = true)) {
    fail(
      g,
      s"epoch $epoch was not released by the driver within $releaseTimeoutMs ms (are the " +
        "driver's callbacks or its connection stuck?)"
    )
  }

  private def fail(g: Gate, message: String): Seq[ChannelFuture] = {
    log.warn(message)
    stats.roundFailed()
    g.arrivals.values.toList.map(sendError(_, message))
  }

  private def sendError(a: Arrival, message: String): ChannelFuture =
    Waits.error(stats, a.channel, replyFlags(), a.worker, a.round, message)

  /** Forgets the gates still waiting for workers (their arrivals belong to a dead attempt, and
    * their deadlines count from those arrivals), failing any waiter still connected; returns how
    * many. Complete gates stay for the driver's release.
    */
  def dropIncomplete(): Int = {
    val dropped = synchronized {
      val stale = open.filter { case (_, g) => !g.complete }.toList
      stale.foreach { case (epoch, _) => open.remove(epoch) }
      stale.map(_._2)
    }
    dropped.foreach { g =>
      Waits.cancel(g.deadline)
      g.arrivals.values.filter(_.channel.isActive).foreach { a =>
        sendError(a, s"epoch ${g.epoch} abandoned: the stage is being run again")
      }
    }
    dropped.size
  }

  /** Fails every open gate (the server is stopping) and refuses later arrivals; returns the writes
    * of those errors.
    */
  def close(): Seq[ChannelFuture] = {
    val gates = synchronized {
      closed = true
      val all = open.values.toList
      open.clear()
      all
    }
    gates.flatMap { g =>
      Waits.cancel(g.deadline)
      fail(g, s"epoch ${g.epoch} aborted: the parameter server is stopping")
    }
  }
}

object EpochGate {
  private val log: Logger = LoggerFactory.getLogger(classOf[EpochGate])

  private final case class Arrival(worker: Int, round: Long, channel: Channel, report: String)

  private final class Gate(val epoch: Int) {
    val arrivals: mutable.LinkedHashMap[Int, Arrival] = mutable.LinkedHashMap.empty
    var complete: Boolean = false
    var deadline: ScheduledFuture[_] = _
  }
}

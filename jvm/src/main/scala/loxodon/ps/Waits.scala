package loxodon.ps

import java.util.concurrent.TimeUnit

import scala.util.control.NonFatal

import io.netty.channel.{Channel, ChannelFuture}
import io.netty.util.concurrent.{EventExecutor, ScheduledFuture}
import org.slf4j.{Logger, LoggerFactory}

/** What the parked waits of the server ([[SyncRounds]], [[EpochGate]]) share: a deadline is a task
  * on the arriving connection's event loop, cancelled when the wait ends first; a timed-out wait's
  * error names the workers that did not come; a reply to a parked request is counted, then written
  * to its channel.
  */
private[ps] object Waits {
  private val log: Logger = LoggerFactory.getLogger(getClass)

  /** Runs `body` on `executor` in `ms` milliseconds; null (logged) when the executor refuses, as a
    * shutting-down one does (the server's close then fails the wait).
    */
  def schedule(executor: EventExecutor, ms: Long, what: => String)(
      body: => Unit
  ): ScheduledFuture[_] =
    try
      executor.schedule(new Runnable { override def run(): Unit = body }, ms, TimeUnit.MILLISECONDS)
    catch {
      case NonFatal(e) =>
        log.warn(s"cannot schedule the deadline of $what", e)
        null
    }

  /** Cancels a deadline of [[schedule]] (null: none). */
  def cancel(deadline: ScheduledFuture[_]): Unit = if (deadline != null) deadline.cancel(false)

  /** "`what` timed out after `ms` ms waiting for worker(s) 1, 3 (arrived: 0, 2)". */
  def timedOut(what: String, ms: Long, numWorkers: Int, arrived: Iterable[Int]): String = {
    val came = arrived.toSeq.sorted
    val missing = (0 until numWorkers).filterNot(came.contains)
    s"$what timed out after $ms ms waiting for worker(s) ${missing.mkString(", ")} " +
      s"(arrived: ${came.mkString(", ")})"
  }

  /** Counts `frame` as a reply and writes it to `channel` (a closed channel releases it). */
  def reply(stats: ServerStats, channel: Channel, frame: Frame): ChannelFuture = {
    stats.reply(frame)
    channel.writeAndFlush(frame)
  }

  /** Replies an ERROR carrying `message` to `worker`'s request of `round`. */
  def error(
      stats: ServerStats,
      channel: Channel,
      flags: Int,
      worker: Int,
      round: Long,
      message: String
  ): ChannelFuture =
    reply(stats, channel, Frame.ofText(Op.Error, flags, worker, round, message))
}

package loxodon.ps

import java.util.concurrent.atomic.AtomicBoolean

import scala.annotation.nowarn

import io.netty.channel.Channel
import io.netty.util.concurrent.EventExecutorGroup

/** The state one parameter server shares across its connections, and the builder of their pipelines
  * (the `TransportContext` of Spark's network-common, for this protocol).
  *
  * Pipeline of every connection, inbound order:
  * {{{
  *   frameDecoder (FrameDecoder, 256 bytes until auth, then conf.maxFrameBytes)
  *   frameEncoder (FrameEncoder, shared)
  *   auth         (AuthHandler, removes itself after a correct AUTH)
  *   handler      (ParameterServerHandler, shared, on the operation executor group)
  * }}}
  *
  * @param onShutdown
  *   called (on an operation thread) after the OK of a SHUTDOWN request has been written; must not
  *   block, the server hands the actual stop to another thread
  */
final class ParameterServerContext(
    val conf: ParameterServerConf,
    secret: Array[Byte],
    onShutdown: () => Unit
) {
  private val stopFlag = new AtomicBoolean(false)

  val center: CenterVector = new CenterVector(conf.numParams)
  val blobs: BlobStore = new BlobStore
  val stats: ServerStats = new ServerStats
  val rounds: SyncRounds = new SyncRounds(
    conf.numWorkers,
    conf.syncTimeoutMs,
    center,
    conf.easgdAlpha.toFloat,
    stats,
    () => replyFlags()
  )

  private val handler = new ParameterServerHandler(this)

  /** Raises the job's stop flag, seen in bit 0 of the flags of every later reply. */
  def requestStop(): Unit = stopFlag.set(true)

  /** Whether a stop was requested (by op STOP or by the driver). */
  def stopRequested: Boolean = stopFlag.get()

  /** Flags of a reply sent now. */
  def replyFlags(): Int = if (stopFlag.get()) Op.FlagStop else 0

  /** Asks the owner to stop the server (op SHUTDOWN). */
  def requestShutdown(): Unit = onShutdown()

  /** All counters as JSON (the STATS reply). */
  def statsJson: String = stats.toJson(
    Seq(
      "updates" -> center.updateCount,
      "numWorkers" -> conf.numWorkers,
      "numParams" -> conf.numParams,
      "stopRequested" -> stopRequested,
      "openRounds" -> rounds.openRounds,
      "blobs" -> blobs.size
    )
  )

  /** Installs the handlers of a new connection. The handler is added with its own executor group,
    * as the design asks; Netty 4.2 deprecates that overload (it still works, and Spark's
    * network-common uses it), hence the `@nowarn`.
    */
  @nowarn("cat=deprecation")
  def initializePipeline(channel: Channel, handlerGroup: EventExecutorGroup): Unit = {
    channel
      .pipeline()
      .addLast("frameDecoder", new FrameDecoder(FrameDecoder.PreAuthMaxFrameBytes))
      .addLast("frameEncoder", FrameEncoder.Instance)
      .addLast(
        "auth",
        new AuthHandler(secret, conf.maxFrameBytes, conf.authTimeoutMs, () => replyFlags(), stats)
      )
      .addLast(handlerGroup, "handler", handler)
    ()
  }

  /** Fails the open sync rounds; called once when the server stops. */
  def close(): Unit = rounds.close()
}

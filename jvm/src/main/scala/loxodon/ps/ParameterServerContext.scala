package loxodon.ps

import java.util.concurrent.atomic.AtomicBoolean

import io.netty.buffer.{ByteBufAllocator, UnpooledByteBufAllocator}
import io.netty.channel.{Channel, ChannelFuture, RecvByteBufAllocator}

/** The state one parameter server shares across its connections, and the builder of their pipelines
  * (the `TransportContext` of Spark's network-common, for this protocol).
  *
  * Pipeline of every connection, inbound order:
  * {{{
  *   tls          (Netty SslHandler, only when conf.tls)
  *   frameDecoder (FrameDecoder, 256 bytes until auth, then conf.maxFrameBytes)
  *   frameEncoder (FrameEncoder, shared)
  *   auth         (AuthHandler, removes itself after a correct AUTH)
  *   handler      (ParameterServerHandler, shared, on the connection's event loop)
  * }}}
  *
  * @param onShutdown
  *   called (on an event loop) after the OK of a SHUTDOWN request has been written; must not block,
  *   the server hands the actual stop to another thread
  * @param vectors
  *   where the center's buffers come from (the server's recycling [[VectorBufferAllocator]])
  */
final class ParameterServerContext(
    val conf: ParameterServerConf,
    secret: Array[Byte],
    onShutdown: () => Unit,
    vectors: ByteBufAllocator = UnpooledByteBufAllocator.DEFAULT
) {
  private val stopFlag = new AtomicBoolean(false)

  /** The driver's key ([[Roles]]). */
  val driverKey: Array[Byte] = Auth.driverKey(secret)

  /** The key of each worker 0 to N-1. */
  val ringKey: Array[Byte] = Auth.ringKey(secret)
  val workerKeys: IndexedSeq[Array[Byte]] = (0 until conf.numWorkers).map(Auth.workerKey(secret, _))

  /** The server's certificate and key, when connections are TLS. */
  val tls: Option[ServerTls] = if (conf.tls) Some(ServerTls.generate()) else None

  /** The center and its layout; null until known (conf.numParams 0 and no REGISTER yet). */
  @volatile private var model: (CenterVector, String) =
    if (conf.numParams > 0) (new CenterVector(conf.numParams, vectors), conf.layoutJson) else null

  /** The center; an IllegalArgumentException (an ERROR reply) while no worker has registered the
    * model's size.
    */
  def center: CenterVector = {
    val m = model
    if (m == null) {
      throw new IllegalArgumentException(
        "no layout yet: this server takes its size from the first worker's REGISTER"
      )
    }
    m._1
  }

  /** Whether the size and layout are known. */
  def hasLayout: Boolean = model != null

  /** The vector length, 0 while unknown. */
  def numParams: Int = { val m = model; if (m == null) 0 else m._1.length }

  /** The layout JSON, "{}" while unknown. */
  def layoutJson: String = { val m = model; if (m == null) "{}" else m._2 }

  /** A REGISTER that carries `size` and `layout`: the first one of a server started without a size
    * sets both; any later size must match. An IllegalArgumentException otherwise.
    */
  def adopt(size: Long, layout: String): Unit = synchronized {
    val m = model
    if (m == null) {
      require(
        size >= 0 && size <= Int.MaxValue,
        s"REGISTER: numParams $size is out of range 0..${Int.MaxValue}"
      )
      val frame = Frame.HeaderBytes.toLong + 4L * size
      require(
        frame <= conf.maxFrameBytes,
        s"REGISTER: a vector of $size float32 values ($frame bytes with the header) exceeds " +
          s"the server's maxFrameBytes ${conf.maxFrameBytes}"
      )
      model = (new CenterVector(size.toInt, vectors), layout)
    } else if (size != m._1.length) {
      throw new IllegalArgumentException(
        s"REGISTER: this worker's model has $size parameters but the server holds " +
          s"${m._1.length}; every worker must train the same model"
      )
    }
  }

  val blobs: BlobStore = new BlobStore(conf.maxBlobBytes)

  /** The shards of a fit with a parallelism factor, claimed by the workers each epoch. */
  val shards: ShardClaims = new ShardClaims(conf.numWorkers, conf.numShards)

  /** Hands out model-selection units (op NEXT_UNIT); null when the job is not a search. */
  @volatile var units: UnitSource = _
  val stats: ServerStats = new ServerStats
  val rounds: SyncRounds = new SyncRounds(
    conf.numWorkers,
    conf.syncTimeoutMs,
    () => center,
    conf.easgdAlpha.toFloat,
    stats,
    () => replyFlags()
  )

  val epochs: EpochGate = new EpochGate(
    conf.numWorkers,
    conf.syncTimeoutMs,
    conf.releaseTimeoutMs,
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
      "updates" -> (if (hasLayout) center.updateCount else 0L),
      "numWorkers" -> conf.numWorkers,
      "numParams" -> numParams,
      "stopRequested" -> stopRequested,
      "openRounds" -> rounds.openRounds,
      "openEpochs" -> epochs.openGates,
      "blobs" -> blobs.size
    )
  )

  /** Installs the handlers of a new connection, all on the connection's event loop. */
  def initializePipeline(channel: Channel): Unit = {
    val reads = new FrameReads
    channel.attr(FrameReads.Key).set(reads)
    val config = channel.config()
    config.setRecvByteBufAllocator(
      new FrameReads.Allocator(config.getRecvByteBufAllocator[RecvByteBufAllocator](), reads)
    )
    tls.foreach(t => channel.pipeline().addLast("tls", t.nettyServer.newHandler(channel.alloc())))
    channel
      .pipeline()
      .addLast("frameDecoder", new FrameDecoder(FrameDecoder.PreAuthMaxFrameBytes))
      .addLast("frameEncoder", FrameEncoder.Instance)
      .addLast(
        "auth",
        new AuthHandler(
          driverKey,
          workerKeys,
          conf.maxFrameBytes,
          conf.authTimeoutMs,
          () => replyFlags(),
          stats
        )
      )
      .addLast("handler", handler)
    ()
  }

  /** Fails the open sync rounds and epoch gates; called once when the server stops. */
  def close(): Seq[ChannelFuture] = {
    val waiters = rounds.close() ++ epochs.close()
    blobs.clear()
    val m = model
    if (m != null) m._1.close()
    waiters
  }
}

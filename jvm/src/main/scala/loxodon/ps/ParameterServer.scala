package loxodon.ps

import java.io.Closeable
import java.net.{InetAddress, InetSocketAddress}
import java.util.concurrent.{CountDownLatch, TimeUnit}
import java.util.concurrent.atomic.AtomicBoolean

import io.netty.bootstrap.ServerBootstrap
import io.netty.buffer.{ByteBufAllocator, Unpooled}
import io.netty.channel.{
  AdaptiveRecvByteBufAllocator,
  RecvByteBufAllocator,
  Channel,
  ChannelInitializer,
  ChannelOption,
  EventLoopGroup
}
import io.netty.channel.socket.SocketChannel
import io.netty.channel.socket.nio.NioServerSocketChannel
import io.netty.util.concurrent.DefaultThreadFactory
import org.apache.spark.SparkConf
import org.slf4j.{Logger, LoggerFactory}

/** The parameter server of one fit or search, in the driver JVM: owns its Netty groups, its socket
  * and its state, from [[start]] to [[close]].
  *
  * {{{
  *   val ps = ParameterServer.start(ParameterServerConf(numWorkers = 4, numParams = n))
  *   try { ship ps.address to the workers; ... }
  *   finally ps.close()
  * }}}
  *
  * Two thread groups only: one boss thread accepts, and each connection's reads, operations and
  * writes run on its NIO event loop (docs/design.md, "Threading of the server"); waiting requests
  * are parked, not blocked. All threads are daemons, so a server left open never keeps a JVM alive.
  * Each server makes a fresh secret, from which the driver's and the workers' keys derive.
  */
final class ParameterServer(val conf: ParameterServerConf) extends Closeable {
  import ParameterServer.log

  private val secret = Auth.newSecret()
  private val vectorAllocator = new VectorBufferAllocator(
    ByteBufAllocator.DEFAULT,
    FrameDecoder.RecycledBufferBytes,
    ParameterServer.maxCachedBytes(conf)
  )
  private val context =
    new ParameterServerContext(conf, secret, () => closeInBackground(), vectorAllocator)
  private val started = new AtomicBoolean(false)
  private val closed = new AtomicBoolean(false)
  private val terminated = new CountDownLatch(1)

  @volatile private var bossGroup: EventLoopGroup = _
  @volatile private var ioGroup: EventLoopGroup = _
  @volatile private var serverChannel: Channel = _
  @volatile private var listeningPort: Int = -1

  /** Binds `conf.host:conf.port` and starts serving; returns this server. Call once. */
  def start(): ParameterServer = {
    require(started.compareAndSet(false, true), "this ParameterServer was already started")
    bossGroup = NettyLoops.nio(1, daemon("boss"))
    ioGroup = NettyLoops.nio(conf.ioThreads, daemon("io"))
    val allocator = vectorAllocator
    val bootstrap = new ServerBootstrap()
      .group(bossGroup, ioGroup)
      .channel(classOf[NioServerSocketChannel])
      .option[Integer](ChannelOption.SO_BACKLOG, 256)
      .option[java.lang.Boolean](ChannelOption.SO_REUSEADDR, true)
      .childOption[ByteBufAllocator](ChannelOption.ALLOCATOR, allocator)
      .childOption[java.lang.Boolean](ChannelOption.TCP_NODELAY, true)
      .childOption[java.lang.Boolean](ChannelOption.SO_KEEPALIVE, true)
      .childOption[RecvByteBufAllocator](
        NettyLoops.recvBufAllocator,
        new AdaptiveRecvByteBufAllocator(512, 64 * 1024, ParameterServer.MaxReadBytes)
      )
      .childHandler(new ChannelInitializer[SocketChannel] {
        override def initChannel(ch: SocketChannel): Unit = context.initializePipeline(ch)
      })
    try {
      val channel = bindFirstFree(bootstrap)
      serverChannel = channel
      listeningPort = channel.localAddress().asInstanceOf[InetSocketAddress].getPort
      log.info(
        s"parameter server listening on ${conf.host}:$listeningPort (${conf.numWorkers} workers, " +
          (if (conf.numParams > 0) s"${conf.numParams} params)"
           else "params from the first REGISTER)")
      )
      this
    } catch {
      case e: Exception =>
        close()
        throw new IllegalStateException(
          s"parameter server cannot bind ${conf.host}:${portsText}: ${e.getMessage}. Set " +
            "spark.loxodon.ps.bindAddress to an address of this host, and spark.loxodon.ps.port " +
            "to a free port (0: any)",
          e
        )
    }
  }

  /** Binds `conf.port`, else the next of its `portRetries` ports that is free. */
  private def bindFirstFree(bootstrap: ServerBootstrap): Channel = {
    val ports = if (conf.port == 0) Seq(0) else conf.port to conf.port + conf.portRetries
    var failure: Throwable = null
    ports.iterator
      .map { p =>
        try Some(bootstrap.bind(conf.host, p).syncUninterruptibly().channel())
        catch {
          case e: Exception =>
            failure = e
            None
        }
      }
      .collectFirst { case Some(channel) => channel }
      .getOrElse(throw failure)
  }

  private def portsText: String =
    if (conf.portRetries == 0) conf.port.toString
    else s"${conf.port}-${conf.port + conf.portRetries}"

  private def daemon(role: String): DefaultThreadFactory =
    new DefaultThreadFactory(s"loxodon-ps-$role", true)

  /** The port the server listens on (the ephemeral one when `conf.port` is 0). */
  def boundPort: Int = {
    require(listeningPort >= 0, "the parameter server is not started")
    listeningPort
  }

  /** Same as [[boundPort]] (the name the Python wrapper uses). */
  def port: Int = boundPort

  /** The address workers should dial: `conf.advertisedHost`, else the bind host (for a wildcard
    * bind, this machine's address).
    */
  def host: String = conf.advertisedHost.getOrElse {
    val bound = InetAddress.getByName(conf.host)
    if (bound.isAnyLocalAddress) InetAddress.getLocalHost.getHostAddress else conf.host
  }

  /** The driver's key, lower-case hex: the key of the driver's own clients, never sent to executors
    * ([[Roles]]).
    */
  val driverKeyHex: String = Auth.toHex(context.driverKey)

  /** Worker `worker`'s key, lower-case hex. */
  def workerKeyHex(worker: Int): String = Auth.toHex(context.workerKeys(worker))

  /** The SHA-256 (hex) of the server's TLS certificate, which clients pin; null without TLS. */
  def tlsSha256: String = context.tls.map(_.fingerprint).orNull

  /** [[host]], [[boundPort]], the workers' keys and the TLS fingerprint: what workers need to dial
    * this server.
    */
  def address: ServerAddress =
    ServerAddress(
      host,
      boundPort,
      context.workerKeys.map(Auth.toHex),
      context.tls.map(_.fingerprint),
      Auth.toHex(context.ringKey)
    )

  /** The center as little-endian float32 bytes. */
  def centerBytes(): Array[Byte] = context.center.toBytes

  /** Replaces the center by little-endian float32 `bytes` (exactly 4 x numParams of them). */
  def setCenter(bytes: Array[Byte]): Unit = context.center.set(bytes)

  /** A copy of the center. */
  def center(): Array[Float] = context.center.toArray

  /** Center updates applied so far (0 before the size is known). */
  def updateCount: Long = if (context.hasLayout) context.center.updateCount else 0L

  /** The length of the center: conf.numParams, or the size adopted from the first REGISTER (0 until
    * then).
    */
  def numParams: Int = context.numParams

  /** The weight layout JSON (conf.layoutJson, or the adopted one). */
  def layoutJson: String = context.layoutJson

  /** Sets the listener told when all workers have reported an epoch (op EPOCH_END). */
  def setEpochListener(listener: EpochListener): Unit = context.epochs.setListener(listener)

  /** Replies to the workers waiting at the end of `epoch`; with `stop` the replies (and every later
    * one) carry the stop flag, and the workers end the fit. Returns whether workers were waiting
    * (false, with a warning logged, when no complete epoch `epoch` is open).
    */
  def releaseEpoch(epoch: Int, stop: Boolean): Boolean =
    context.epochs.release(epoch, () => if (stop) context.requestStop())

  /** Forgets the epoch gates still waiting for workers (a stage about to be run again: their
    * arrivals are from the dead attempt); returns how many.
    */
  def dropIncompleteEpochs(): Int = context.epochs.dropIncomplete()

  /** Sets the source of model-selection units (op NEXT_UNIT). */
  def setUnitSource(source: UnitSource): Unit = context.units = source

  /** Removes the blob named `name`; whether it was there. */
  def removeBlob(name: String): Boolean = context.blobs.remove(name)

  /** Stores a named blob, as PUT_BLOB does: a copy in a direct buffer, which the socket reads. */
  def putBlob(name: String, bytes: Array[Byte]): Unit =
    context.blobs.put(name, Unpooled.directBuffer(bytes.length).writeBytes(bytes))

  /** Whether a blob named `name` is stored. */
  def hasBlob(name: String): Boolean = context.blobs.contains(name)

  /** The blob named `name`, as GET_BLOB sees it. */
  def blob(name: String): Option[Array[Byte]] = context.blobs.bytes(name)

  /** The counters as JSON (the same text STATS returns). */
  def statsJson(): String = context.statsJson

  /** Raises the stop flag: every later reply carries it (flags bit 0). */
  def requestStop(): Unit = context.requestStop()

  /** Whether a stop was requested, here or by op STOP. */
  def stopRequested: Boolean = context.stopRequested

  /** Started and not yet closed (by [[close]] or by op SHUTDOWN). */
  def isRunning: Boolean = started.get() && !closed.get()

  /** Waits up to `timeoutMs` for the server to have stopped; whether it has. */
  def awaitTermination(timeoutMs: Long): Boolean =
    terminated.await(timeoutMs, TimeUnit.MILLISECONDS)

  /** Stops serving: closes the socket and every connection, fails the open sync rounds and epoch
    * gates, and shuts the thread groups down, waiting a bounded time. Idempotent; do not call it
    * from a server thread.
    */
  override def close(): Unit = {
    if (closed.compareAndSet(false, true)) {
      try {
        val ch = serverChannel
        if (ch != null) ch.close().awaitUninterruptibly(ParameterServer.StopWaitMs)
        // Waiters get their "stopping" errors before the event loops close the connections.
        context.close().foreach(_.awaitUninterruptibly(ParameterServer.StopWaitMs))
        Seq(ioGroup, bossGroup).filter(_ != null).foreach { g =>
          g.shutdownGracefully(
            ParameterServer.QuietMs,
            ParameterServer.StopWaitMs,
            TimeUnit.MILLISECONDS
          )
        }
        Seq(ioGroup, bossGroup).filter(_ != null).foreach { g =>
          g.terminationFuture().awaitUninterruptibly(2 * ParameterServer.StopWaitMs)
        }
        vectorAllocator.clear()
        if (listeningPort >= 0) log.info(s"parameter server on ${conf.host}:$listeningPort stopped")
      } finally terminated.countDown()
    }
  }

  /** SHUTDOWN arrives on an event loop, which `close` must not wait on. */
  private def closeInBackground(): Unit = {
    val t = new Thread(() => close(), "loxodon-ps-shutdown")
    t.setDaemon(true)
    t.start()
  }
}

object ParameterServer {
  private val log: Logger = LoggerFactory.getLogger(classOf[ParameterServer])

  /** Quiet period of the groups' graceful shutdown (lets last replies flush). */
  private final val QuietMs = 50L

  /** Upper bound of each wait in [[ParameterServer.close]]. */
  private final val StopWaitMs = 3000L

  /** Largest single socket read: big vectors arrive in few reads, not 64 KiB at a time. */
  private final val MaxReadBytes = 4 << 20

  /** Recycled vector buffers kept at most: two per worker and two more (requests and replies in
    * flight), never over 1 GiB. A server that adopts its size from the workers does not know it
    * yet, so it allows the largest frame (the cache holds only buffers actually used).
    */
  private def maxCachedBytes(conf: ParameterServerConf): Long = {
    val vector = if (conf.numParams > 0) conf.vectorFrameBytes else conf.maxFrameBytes.toLong
    math.min(
      2L * (conf.numWorkers + 2) * (vector + VectorBufferAllocator.DefaultGranularity),
      1L << 30
    )
  }

  /** A started server for `conf`. */
  def start(conf: ParameterServerConf): ParameterServer = new ParameterServer(conf).start()

  /** A started server for `conf` (the job's settings), bound to the driver host of a Spark
    * application on the port its config names, any free one by default (see [[SparkBinding]]): the
    * one path that both `loxodon.PythonAPI` and Scala callers use.
    */
  def forSpark(sparkConf: SparkConf, conf: ParameterServerConf): ParameterServer =
    start(SparkBinding.serverConf(sparkConf, conf))
}

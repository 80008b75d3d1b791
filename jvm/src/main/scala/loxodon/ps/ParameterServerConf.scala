package loxodon.ps

/** Everything that configures one parameter server (one per training job).
  *
  * @param numWorkers
  *   N, the workers of the job; a sync round completes when workers 0 until N have all arrived
  * @param numParams
  *   length of the center vector (float32 values); 0: adopted from the first REGISTER that carries
  *   a size and a layout
  * @param layoutJson
  *   the weight layout (names, shapes, dtypes), returned verbatim by REGISTER
  * @param maxFrameBytes
  *   the largest frame accepted after auth, its 4-byte length prefix included; must hold one full
  *   vector frame
  * @param syncTimeoutMs
  *   how long a sync round waits after its first arrival before failing every waiter
  * @param releaseTimeoutMs
  *   how long a complete epoch gate (EPOCH_END) waits for the driver's release before failing
  * @param easgdAlpha
  *   the elastic rate alpha of EASGD (lr * rho)
  * @param host
  *   the address to bind to
  * @param port
  *   the port to bind to; 0 picks a free one (see [[ParameterServer.boundPort]])
  * @param portRetries
  *   with a fixed `port`, the next ports tried in turn when it is taken (`port` to `port +
  *   portRetries`, as `spark.port.maxRetries` does for Spark's own ports)
  * @param advertisedHost
  *   the address clients should dial, when it differs from `host` (e.g. binding 0.0.0.0)
  * @param ioThreads
  *   event-loop threads; each reads, decodes, runs the operations of its connections, encodes and
  *   writes
  * @param numShards
  *   the shards the workers claim each epoch (CLAIM_SHARD); 0: none (parallelism factor 1)
  * @param authTimeoutMs
  *   a connection that has not authenticated by then is closed; 0 disables
  * @param maxBlobBytes
  *   the most bytes the blob store holds at once (PUT_BLOB and NEXT_UNIT states past it get an
  *   ERROR naming the cap); by default the JVM's max heap, the default limit of direct memory
  * @param tls
  *   whether connections are TLS ([[ServerTls]]: a certificate made per server, pinned by clients)
  */
final case class ParameterServerConf(
    numWorkers: Int,
    numParams: Int,
    layoutJson: String = "{}",
    maxFrameBytes: Int = ParameterServerConf.DefaultMaxFrameBytes,
    syncTimeoutMs: Long = 60000L,
    easgdAlpha: Double = 0.1,
    releaseTimeoutMs: Long = ParameterServerConf.DefaultReleaseTimeoutMs,
    host: String = "127.0.0.1",
    port: Int = 0,
    portRetries: Int = 0,
    advertisedHost: Option[String] = None,
    ioThreads: Int = ParameterServerConf.DefaultIoThreads,
    authTimeoutMs: Long = 30000L,
    numShards: Int = 0,
    maxBlobBytes: Long = ParameterServerConf.DefaultMaxBlobBytes,
    tls: Boolean = false
) {
  require(numWorkers >= 1, s"numWorkers must be at least 1, got $numWorkers")
  require(numParams >= 0, s"numParams must not be negative, got $numParams")
  require(layoutJson != null, "layoutJson must not be null")
  require(
    maxFrameBytes >= FrameDecoder.PreAuthMaxFrameBytes,
    s"maxFrameBytes must be at least ${FrameDecoder.PreAuthMaxFrameBytes}, got $maxFrameBytes"
  )
  require(
    vectorFrameBytes <= maxFrameBytes,
    s"maxFrameBytes $maxFrameBytes cannot hold one vector of $numParams float32 values " +
      s"($vectorFrameBytes bytes with the header)"
  )
  require(syncTimeoutMs > 0, s"syncTimeoutMs must be positive, got $syncTimeoutMs")
  require(releaseTimeoutMs > 0, s"releaseTimeoutMs must be positive, got $releaseTimeoutMs")
  require(!easgdAlpha.isNaN && !easgdAlpha.isInfinite, s"easgdAlpha must be finite: $easgdAlpha")
  require(host != null && host.nonEmpty, "host must not be empty")
  require(port >= 0 && port <= 65535, s"port must be in 0..65535, got $port")
  require(
    portRetries >= 0 && port + portRetries <= 65535,
    s"portRetries must be in 0..${65535 - port}, got $portRetries"
  )
  require(ioThreads >= 1, s"ioThreads must be at least 1, got $ioThreads")
  require(authTimeoutMs >= 0, s"authTimeoutMs must not be negative, got $authTimeoutMs")
  require(maxBlobBytes > 0, s"maxBlobBytes must be positive, got $maxBlobBytes")

  /** Bytes of a frame carrying one whole vector with an empty key. */
  def vectorFrameBytes: Long = Frame.HeaderBytes.toLong + 4L * numParams
}

object ParameterServerConf {

  /** 1 GiB: the default frame limit, room for 268M float32 parameters. */
  final val DefaultMaxFrameBytes: Int = 1 << 30

  /** 10 minutes: the driver's callbacks between two epochs may take that long. */
  final val DefaultReleaseTimeoutMs: Long = 600000L

  /** `numParams` as a caller with 64-bit integers (Python) gives it, checked to fit an Int. */
  def numParams(numParams: Long): Int = {
    require(
      numParams >= 0 && numParams <= Int.MaxValue,
      s"numParams must be in 0..${Int.MaxValue}, got $numParams"
    )
    numParams.toInt
  }

  /** The JVM's max heap: by default also the limit of the direct memory large blobs live in. */
  def DefaultMaxBlobBytes: Long = Runtime.getRuntime.maxMemory()

  private def cores: Int = Runtime.getRuntime.availableProcessors()

  /** One event loop per core (at least 2), so the adds of connections on different loops (hogwild
    * pushes above all) really run side by side.
    */
  def DefaultIoThreads: Int = math.max(2, cores)
}

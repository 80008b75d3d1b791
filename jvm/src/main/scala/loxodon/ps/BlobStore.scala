package loxodon.ps

import java.util.concurrent.ConcurrentHashMap

import scala.jdk.CollectionConverters._

import io.netty.buffer.{ByteBuf, ByteBufUtil, Unpooled}

/** Named byte blobs kept in memory for the job: PUT_BLOB / GET_BLOB, e.g. the weights and optimizer
  * state of a model hopping between workers during model selection. Thread-safe.
  *
  * A blob is a Netty buffer, never written after `put`: a large one arriving over the network is
  * kept as a slice of the very buffer its frame was read into ([[BlobStore.keep]]), and a GET or a
  * NEXT_UNIT reply writes a retained duplicate of it to the socket. So a hop costs no copy and no
  * heap allocation on the server: a 1 MB state was copied onto the heap on every put (a humongous
  * object for G1) and copied back into a direct buffer on every get. Replacing or removing a blob
  * releases it; a reader holding a duplicate keeps its bytes alive until it is done.
  *
  * @param capBytes
  *   the most bytes the store holds at once; a put past it is refused (an ERROR naming the cap), so
  *   no client can fill the driver's memory with blobs
  */
final class BlobStore(val capBytes: Long = Long.MaxValue) {
  require(capBytes > 0, s"the blob store's cap must be positive, got $capBytes")
  private val blobs = new ConcurrentHashMap[String, ByteBuf]()
  private var held = 0L // guarded by this

  /** Stores `bytes` under `name`, taking over the caller's reference, and releases any earlier blob
    * of that name. Past [[capBytes]] it releases `bytes` and throws an IllegalArgumentException.
    */
  def put(name: String, bytes: ByteBuf): Unit = {
    val size = bytes.readableBytes().toLong
    val old = synchronized {
      val previous = blobs.get(name)
      val after = held - (if (previous == null) 0L else previous.readableBytes()) + size
      if (after > capBytes) {
        bytes.release()
        throw new IllegalArgumentException(
          s"blob '$name' ($size bytes) would bring the blob store to $after bytes, over its cap " +
            s"of $capBytes bytes (${BlobStore.CapConf})"
        )
      }
      held = after
      blobs.put(name, bytes)
    }
    if (old != null) old.release()
    ()
  }

  /** A retained duplicate of the blob named `name`, if any: the caller releases it (writing it to a
    * channel does).
    */
  def retained(name: String): Option[ByteBuf] = {
    var out: ByteBuf = null
    // Retained under the map's lock on `name`, so a concurrent put cannot free it first.
    blobs.computeIfPresent(
      name,
      (_, blob) => {
        out = blob.retainedDuplicate()
        blob
      }
    )
    Option(out)
  }

  /** A copy of the blob named `name`, if any. */
  def bytes(name: String): Option[Array[Byte]] =
    retained(name).map(b =>
      try ByteBufUtil.getBytes(b)
      finally b.release()
    )

  /** Removes `name`; whether it was there. */
  def remove(name: String): Boolean = {
    val old = synchronized {
      val o = blobs.remove(name)
      if (o != null) held -= o.readableBytes()
      o
    }
    if (old != null) old.release()
    old != null
  }

  /** Removes and releases every blob (the server is stopping). */
  def clear(): Unit = blobs.keySet().asScala.toList.foreach(remove)

  /** Whether a blob named `name` is stored. */
  def contains(name: String): Boolean = blobs.containsKey(name)

  /** Names of the stored blobs. */
  def names: Set[String] = blobs.keySet().asScala.toSet

  /** Number of stored blobs. */
  def size: Int = blobs.size()

  /** Total bytes held. */
  def totalBytes: Long = synchronized(held)
}

object BlobStore {

  /** The Spark config of the cap ([[SparkBinding]]). */
  final val CapConf: String = "spark.loxodon.ps.maxBlobBytes"

  /** `length` bytes of `buf` from `index`, to be stored: a retained slice when they are large
    * enough to have been read into a buffer of their frame's own size ([[FrameDecoder]]), a copy
    * otherwise (a small frame shares its receive buffer with others, which a slice would pin).
    */
  def keep(buf: ByteBuf, index: Int, length: Int): ByteBuf =
    if (length >= FrameDecoder.LargeFrameBytes) buf.retainedSlice(index, length)
    else Unpooled.copiedBuffer(buf.slice(index, length))
}

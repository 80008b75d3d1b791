package loxodon.ps

import java.util.concurrent.{ConcurrentHashMap, ConcurrentLinkedQueue}
import java.util.concurrent.atomic.AtomicLong

import io.netty.buffer.{AbstractByteBufAllocator, ByteBuf, ByteBufAllocator, UnpooledDirectByteBuf}

/** The allocator of the server's connections: small buffers come from Netty's pooled allocator;
  * direct buffers of at least `threshold` bytes (whole vectors: PULL replies, the frame a PUSH
  * arrives in) are recycled here.
  *
  * Netty pools buffers only up to its chunk size (a few MiB); a 40 MB vector is allocated and freed
  * on every request, and touching that fresh memory (page faults) costs more than copying it. Here
  * a released large buffer goes back to a free list keyed by its capacity (rounded up to
  * `granularity`), up to `maxCachedBytes` in all, and the next request of that size reuses it.
  */
final class VectorBufferAllocator(
    delegate: ByteBufAllocator,
    threshold: Int,
    maxCachedBytes: Long,
    granularity: Int = VectorBufferAllocator.DefaultGranularity
) extends AbstractByteBufAllocator(true) {
  import VectorBufferAllocator.Recycled

  private val free = new ConcurrentHashMap[Integer, ConcurrentLinkedQueue[Recycled]]()
  private val cached = new AtomicLong

  /** Bytes held in free lists now. */
  def cachedBytes: Long = cached.get()

  override def isDirectBufferPooled: Boolean = true

  override protected def newHeapBuffer(initialCapacity: Int, maxCapacity: Int): ByteBuf =
    delegate.heapBuffer(initialCapacity, maxCapacity)

  override protected def newDirectBuffer(initialCapacity: Int, maxCapacity: Int): ByteBuf =
    if (initialCapacity < threshold) delegate.directBuffer(initialCapacity, maxCapacity)
    else {
      val size = roundUp(initialCapacity)
      val queue = free.get(size)
      val reused = if (queue == null) null else queue.poll()
      if (reused != null) {
        cached.addAndGet(-size.toLong)
        reused.reuse()
      } else new Recycled(this, size)
    }

  private def roundUp(n: Int): Int = {
    val rounded = (n.toLong + granularity - 1) / granularity * granularity
    math.min(rounded, Int.MaxValue.toLong).toInt
  }

  /** Takes `buf` back; false when it is not worth keeping (odd size, cache full). */
  private def recycle(buf: Recycled): Boolean = {
    val size = buf.capacity()
    if (size % granularity != 0 || size < threshold) false
    else if (cached.addAndGet(size.toLong) > maxCachedBytes) {
      cached.addAndGet(-size.toLong)
      false
    } else {
      free.computeIfAbsent(size, _ => new ConcurrentLinkedQueue[Recycled]()).offer(buf)
      true
    }
  }

  /** Frees every cached buffer (the server is stopping). */
  def clear(): Unit =
    free.values().forEach { q =>
      var b = q.poll()
      while (b != null) {
        cached.addAndGet(-b.capacity().toLong)
        b.free()
        b = q.poll()
      }
    }
}

object VectorBufferAllocator {

  /** Size classes are multiples of 1 MiB. */
  final val DefaultGranularity: Int = 1 << 20

  /** A direct buffer that returns to its allocator instead of being freed. */
  private final class Recycled(owner: VectorBufferAllocator, size: Int)
      extends UnpooledDirectByteBuf(owner, size, Int.MaxValue) {

    def reuse(): ByteBuf = {
      resetRefCnt()
      clear()
      this
    }

    def free(): Unit = super.deallocate()

    override protected def deallocate(): Unit = if (!owner.recycle(this)) super.deallocate()
  }
}

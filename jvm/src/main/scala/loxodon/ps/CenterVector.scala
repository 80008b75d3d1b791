package loxodon.ps

import java.util.concurrent.atomic.AtomicLong

import io.netty.buffer.{ByteBuf, ByteBufAllocator}

/** The center weights of a job: one `float[]` and the rules that change it.
  *
  *   - [[addLocked]]: c += delta under the lock (asynchronous / DOWNPOUR).
  *   - [[addHogwild]]: c += delta with no lock at all (Hogwild!): concurrent adds may lose some
  *     element updates, which is the point of that mode.
  *   - [[easgd]] / [[easgdSync]]: elastic averaging, under the lock.
  *   - [[snapshot]] (PULL), [[toBytes]], [[set]]: whole-vector copies under the lock, so a reader
  *     never sees half of a locked update.
  *
  * Each update bumps an atomic counter, returned by PUSH replies: one per PUSH, PUSH_HOGWILD and
  * asynchronous EASGD, and one per worker in a synchronous EASGD round.
  */
final class CenterVector(val length: Int) {
  require(length >= 0, s"vector length must not be negative: $length")

  private val values = new Array[Float](length)
  private val lock = new Object
  private val updates = new AtomicLong

  /** Updates applied so far. */
  def updateCount: Long = updates.get()

  /** c += delta under the lock; returns the update count after this one. */
  def addLocked(delta: ByteBuf): Long = {
    checkLength(delta)
    lock.synchronized(addInto(delta))
    updates.incrementAndGet()
  }

  /** c += delta with no lock; returns the update count after this one. */
  def addHogwild(delta: ByteBuf): Long = {
    checkLength(delta)
    addInto(delta)
    updates.incrementAndGet()
  }

  private def addInto(delta: ByteBuf): Unit = {
    val in = FloatVectors.view(delta)
    val (chunk, _) = FloatVectors.scratch()
    val c = values
    var start = 0
    while (start < length) {
      val len = math.min(FloatVectors.ChunkFloats, length - start)
      in.get(start, chunk, 0, len)
      var j = 0
      while (j < len) { c(start + j) += chunk(j); j += 1 }
      start += len
    }
  }

  /** Asynchronous EASGD: e = alpha (x - c), then c += e, under the lock; returns e. */
  def easgd(alloc: ByteBufAllocator, x: ByteBuf, alpha: Float): ByteBuf = {
    checkLength(x)
    val in = FloatVectors.view(x)
    val (buf, out) = FloatVectors.allocate(alloc, length)
    val (chunk, _) = FloatVectors.scratch()
    val c = values
    lock.synchronized {
      var start = 0
      while (start < length) {
        val len = math.min(FloatVectors.ChunkFloats, length - start)
        in.get(start, chunk, 0, len)
        var j = 0
        while (j < len) {
          val e = alpha * (chunk(j) - c(start + j))
          c(start + j) += e
          chunk(j) = e
          j += 1
        }
        out.put(start, chunk, 0, len)
        start += len
      }
    }
    updates.incrementAndGet()
    buf
  }

  /** Synchronous EASGD over one round: e_i = alpha (x_i - c) for every worker with the same c, then
    * c += sum e_i, under the lock; returns the e_i in the order of `xs`.
    */
  def easgdSync(alloc: ByteBufAllocator, xs: Seq[ByteBuf], alpha: Float): Seq[ByteBuf] = {
    xs.foreach(checkLength)
    val ins = xs.map(FloatVectors.view)
    val outs = xs.map(_ => FloatVectors.allocate(alloc, length))
    val (chunk, sum) = FloatVectors.scratch()
    val c = values
    lock.synchronized {
      var start = 0
      while (start < length) {
        val len = math.min(FloatVectors.ChunkFloats, length - start)
        java.util.Arrays.fill(sum, 0, len, 0f)
        var w = 0
        while (w < ins.length) {
          ins(w).get(start, chunk, 0, len)
          var j = 0
          while (j < len) {
            val e = alpha * (chunk(j) - c(start + j))
            sum(j) += e
            chunk(j) = e
            j += 1
          }
          outs(w)._2.put(start, chunk, 0, len)
          w += 1
        }
        var j = 0
        while (j < len) { c(start + j) += sum(j); j += 1 }
        start += len
      }
    }
    updates.addAndGet(xs.length.toLong)
    outs.map(_._1)
  }

  /** A little-endian copy of the center in a new direct buffer (the PULL reply). */
  def snapshot(alloc: ByteBufAllocator): ByteBuf = {
    val (buf, out) = FloatVectors.allocate(alloc, length)
    lock.synchronized(out.put(values))
    buf
  }

  /** The center as little-endian float32 bytes. */
  def toBytes: Array[Byte] = lock.synchronized(FloatVectors.toBytes(values))

  /** A copy of the center. */
  def toArray: Array[Float] = lock.synchronized(values.clone())

  /** Replaces the center by little-endian float32 `bytes` of exactly `4 * length` bytes. */
  def set(bytes: Array[Byte]): Unit = {
    require(
      bytes.length == 4L * length,
      s"center of ${bytes.length} bytes does not match $length float32 values (${4L * length} bytes)"
    )
    val next = FloatVectors.fromBytes(bytes)
    lock.synchronized(System.arraycopy(next, 0, values, 0, length))
  }

  /** Replaces the center by a copy of `next`. */
  def set(next: Array[Float]): Unit = {
    require(next.length == length, s"center of ${next.length} values, expected $length")
    lock.synchronized(System.arraycopy(next, 0, values, 0, length))
  }

  private def checkLength(v: ByteBuf): Unit = {
    val n = FloatVectors.floatCount(v)
    if (n != length) throw new IllegalArgumentException(CenterVector.lengthMessage(v, length))
  }
}

object CenterVector {

  /** The ERROR text for a vector payload that does not match `numParams`. */
  def lengthMessage(v: ByteBuf, numParams: Int): String = {
    val bytes = v.readableBytes()
    if (bytes % 4 != 0) {
      s"vector payload of $bytes bytes is not a float32 vector; expected $numParams float32 " +
        s"values (${4L * numParams} bytes)"
    } else s"vector of ${bytes / 4} float32 values does not match numParams $numParams"
  }
}

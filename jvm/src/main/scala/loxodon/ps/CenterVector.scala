package loxodon.ps

import java.nio.FloatBuffer
import java.util.concurrent.atomic.AtomicLong

import io.netty.buffer.{ByteBuf, ByteBufAllocator, ByteBufUtil, UnpooledByteBufAllocator}

/** The center weights of a job, and the rules that change them.
  *
  * The center lives in a direct buffer of little-endian float32 values. A PULL reply is the current
  * buffer itself, retained, written to the socket with no copy. A locked update writes in place
  * when no reply holds the buffer (reference count 1, checked under the lock), and otherwise writes
  * the result into a fresh buffer (from `alloc`, which recycles vector-sized buffers) and swaps it
  * in, so an update never touches a buffer being sent.
  *
  *   - [[addLocked]]: c += delta under the lock (asynchronous / DOWNPOUR).
  *   - [[addHogwild]]: c += delta in place with no lock at all (Hogwild!): concurrent adds may lose
  *     some element updates, and a PULL under way may send some of them, which is the point of that
  *     mode.
  *   - [[addDivided]]: c += delta / d under the lock (ADAG: d = the communication window).
  *   - [[addStale]]: c += delta / (1 + staleness) under the lock (DynSGD: staleness = the updates
  *     applied since the pushing worker's last PULL, recorded by [[markPulled]]).
  *   - [[easgd]] / [[easgdSync]]: elastic averaging, under the lock.
  *   - [[snapshot]] (PULL), [[toBytes]], [[toArray]], [[set]]: whole-vector views and copies; a
  *     reader never sees half of a locked update.
  *
  * Each update bumps an atomic counter, returned by PUSH replies: one per PUSH, PUSH_HOGWILD,
  * PUSH_ADAG, PUSH_DYNSGD and asynchronous EASGD, and one per worker in a synchronous EASGD round.
  */
final class CenterVector(
    val length: Int,
    alloc: ByteBufAllocator = UnpooledByteBufAllocator.DEFAULT
) {
  require(length >= 0, s"vector length must not be negative: $length")

  private val lock = new Object
  private val updates = new AtomicLong
  // Guarded by `lock`; a reader outside the lock holds its own reference (retain).
  private var current: ByteBuf = {
    val (buf, _) = FloatVectors.allocate(alloc, length)
    buf.setZero(0, 4 * length)
  }
  private var closed = false
  // The update count when each worker last pulled (DynSGD's staleness).
  private val pulledAt = new java.util.concurrent.ConcurrentHashMap[Int, java.lang.Long]()

  /** Updates applied so far. */
  def updateCount: Long = updates.get()

  /** c += delta under the lock; returns the update count after this one. */
  def addLocked(delta: ByteBuf): Long = addDivided(delta, 1f)

  /** c += delta / divisor under the lock; returns the update count after this one. */
  def addDivided(delta: ByteBuf, divisor: Float): Long = {
    checkLength(delta)
    require(divisor >= 1f && !divisor.isInfinite, s"divisor must be >= 1, got $divisor")
    val in = FloatVectors.view(delta)
    lock.synchronized {
      val (next, out) = writable()
      sum(FloatVectors.view(current), in, out, divisor)
      swap(next)
      updates.incrementAndGet()
    }
  }

  /** Records that `worker` read the center now: its next [[addStale]] is judged from here. */
  def markPulled(worker: Int): Unit = pulledAt.put(worker, updates.get())

  /** DynSGD: c += delta / (1 + s) under the lock, s = the updates applied since `worker`'s last
    * [[markPulled]] (0 if it never pulled); returns the update count after this one.
    */
  def addStale(delta: ByteBuf, worker: Int): Long = {
    checkLength(delta)
    val in = FloatVectors.view(delta)
    lock.synchronized {
      val since = pulledAt.get(worker)
      val staleness = if (since == null) 0L else updates.get() - since
      val (next, out) = writable()
      sum(FloatVectors.view(current), in, out, (1 + staleness).toFloat)
      swap(next)
      updates.incrementAndGet()
    }
  }

  /** out = c + in / divisor, a chunk at a time through the thread's scratch arrays (`out` may be
    * `c`); divisor 1 is a plain sum.
    */
  private def sum(c: FloatBuffer, in: FloatBuffer, out: FloatBuffer, divisor: Float): Unit = {
    val (a, b) = FloatVectors.scratch()
    var start = 0
    while (start < length) {
      val len = math.min(FloatVectors.ChunkFloats, length - start)
      c.get(start, a, 0, len)
      in.get(start, b, 0, len)
      var j = 0
      if (divisor == 1f) while (j < len) { a(j) += b(j); j += 1 }
      else while (j < len) { a(j) += b(j) / divisor; j += 1 }
      out.put(start, a, 0, len)
      start += len
    }
  }

  /** Where a locked update writes: the current buffer itself when no reader holds it (an in-place
    * update, the cheapest: one vector read and written back), else a fresh one. Under the lock, so
    * no reader can take the buffer while it is written.
    */
  private def writable(): (ByteBuf, FloatBuffer) =
    if (current.refCnt() == 1) (current, FloatVectors.view(current))
    else FloatVectors.allocate(alloc, length)

  /** c += delta in place with no lock; returns the update count after this one. */
  def addHogwild(delta: ByteBuf): Long = {
    checkLength(delta)
    val target = retainCurrent()
    try {
      val c = FloatVectors.view(target)
      sum(c, FloatVectors.view(delta), c, 1f)
    } finally target.release()
    updates.incrementAndGet()
  }

  /** Asynchronous EASGD: e = alpha (x - c), then c += e, under the lock; returns e. */
  def easgd(replyAlloc: ByteBufAllocator, x: ByteBuf, alpha: Float): ByteBuf =
    easgdSync(replyAlloc, Seq(x), alpha).head

  /** Synchronous EASGD over one round: e_i = alpha (x_i - c) for every worker with the same c, then
    * c += sum e_i, under the lock; returns the e_i in the order of `xs`.
    */
  def easgdSync(replyAlloc: ByteBufAllocator, xs: Seq[ByteBuf], alpha: Float): Seq[ByteBuf] = {
    xs.foreach(checkLength)
    val ins = xs.map(FloatVectors.view)
    val outs = xs.map(_ => FloatVectors.allocate(replyAlloc, length))
    val (chunk, sum) = FloatVectors.scratch()
    val centerChunk = new Array[Float](math.min(FloatVectors.ChunkFloats, length))
    lock.synchronized {
      val (next, nextOut) = writable()
      val c = FloatVectors.view(current)
      var start = 0
      while (start < length) {
        val len = math.min(FloatVectors.ChunkFloats, length - start)
        c.get(start, centerChunk, 0, len)
        java.util.Arrays.fill(sum, 0, len, 0f)
        var w = 0
        while (w < ins.length) {
          ins(w).get(start, chunk, 0, len)
          var j = 0
          while (j < len) {
            val e = alpha * (chunk(j) - centerChunk(j))
            sum(j) += e
            chunk(j) = e
            j += 1
          }
          outs(w)._2.put(start, chunk, 0, len)
          w += 1
        }
        var j = 0
        while (j < len) { centerChunk(j) += sum(j); j += 1 }
        nextOut.put(start, centerChunk, 0, len)
        start += len
      }
      swap(next)
    }
    updates.addAndGet(xs.length.toLong)
    outs.map(_._1)
  }

  /** The center for a PULL reply: the current buffer itself, retained (the caller releases it),
    * with nothing copied. A locked update never writes into it; a hogwild add may.
    */
  def snapshot(): ByteBuf = retainCurrent()

  /** The center as little-endian float32 bytes. */
  def toBytes: Array[Byte] = {
    val c = retainCurrent()
    try ByteBufUtil.getBytes(c, 0, 4 * length)
    finally c.release()
  }

  /** A copy of the center. */
  def toArray: Array[Float] = {
    val c = retainCurrent()
    try {
      val values = new Array[Float](length)
      FloatVectors.view(c).get(0, values)
      values
    } finally c.release()
  }

  /** Replaces the center by little-endian float32 `bytes` of exactly `4 * length` bytes. */
  def set(bytes: Array[Byte]): Unit = {
    require(
      bytes.length == 4L * length,
      s"center of ${bytes.length} bytes does not match $length float32 values (${4L * length} bytes)"
    )
    val (next, _) = FloatVectors.allocate(alloc, length)
    next.setBytes(0, bytes)
    lock.synchronized(swap(next))
  }

  /** Replaces the center by a copy of `next`. */
  def set(values: Array[Float]): Unit = {
    require(values.length == length, s"center of ${values.length} values, expected $length")
    val (next, out) = FloatVectors.allocate(alloc, length)
    out.put(0, values)
    lock.synchronized(swap(next))
  }

  /** Releases the center's buffer (the server is stopping); later reads fail. Idempotent. */
  def close(): Unit = lock.synchronized {
    if (!closed) {
      closed = true
      current.release()
    }
  }

  private def retainCurrent(): ByteBuf = lock.synchronized {
    if (closed) throw new IllegalStateException("the parameter server is stopping")
    current.retainedDuplicate()
  }

  private def swap(next: ByteBuf): Unit = if (!(next eq current)) {
    if (closed) {
      next.release()
      throw new IllegalStateException("the parameter server is stopping")
    }
    val old = current
    current = next
    old.release()
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

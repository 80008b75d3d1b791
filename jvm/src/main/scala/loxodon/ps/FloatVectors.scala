package loxodon.ps

import java.nio.{ByteBuffer, ByteOrder, FloatBuffer}

import io.netty.buffer.{ByteBuf, ByteBufAllocator}

/** Little-endian float32 vectors held in Netty buffers: views for reading them, allocation of reply
  * vectors, and the chunked loops of the update rules.
  *
  * Loops copy a chunk of the wire vector into a small per-thread `float[]` with one bulk get (a
  * memcpy on little-endian machines) and then run a plain array loop the JIT vectorises, instead of
  * reading element by element through the buffer.
  */
private[ps] object FloatVectors {

  /** Floats per chunk: 64 KiB of scratch per thread and per use. */
  final val ChunkFloats: Int = 16 * 1024

  private val scratchA = ThreadLocal.withInitial[Array[Float]](() => new Array[Float](ChunkFloats))
  private val scratchB = ThreadLocal.withInitial[Array[Float]](() => new Array[Float](ChunkFloats))

  /** Scratch chunks for the calling thread (two distinct arrays). */
  def scratch(): (Array[Float], Array[Float]) = (scratchA.get(), scratchB.get())

  /** Number of float32 values in the readable bytes of `buf`, or -1 if not a whole number. */
  def floatCount(buf: ByteBuf): Int = {
    val n = buf.readableBytes()
    if (n % 4 == 0) n / 4 else -1
  }

  /** A little-endian float view of the readable bytes of `buf` (indices from 0). Shares memory when
    * the buffer is one contiguous region; otherwise reads a copy.
    */
  def view(buf: ByteBuf): FloatBuffer = {
    val n = buf.readableBytes()
    val bytes =
      if (buf.nioBufferCount() == 1) buf.nioBuffer(buf.readerIndex(), n)
      else {
        val copy = ByteBuffer.allocate(n)
        buf.getBytes(buf.readerIndex(), copy)
        copy.flip()
        copy
      }
    bytes.order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
  }

  /** A direct buffer of `numFloats` values (contents undefined, writer index at the end) and a
    * writable little-endian float view sharing its memory.
    */
  def allocate(alloc: ByteBufAllocator, numFloats: Int): (ByteBuf, FloatBuffer) = {
    val bytes = 4 * numFloats
    val buf = alloc.directBuffer(bytes, bytes)
    buf.writerIndex(bytes)
    val out =
      if (bytes == 0) FloatBuffer.allocate(0)
      else buf.nioBuffer(0, bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
    (buf, out)
  }

  /** A buffer holding a little-endian copy of `values(from until from + count)`. */
  def fromArray(alloc: ByteBufAllocator, values: Array[Float]): ByteBuf = {
    val (buf, out) = allocate(alloc, values.length)
    out.put(values)
    buf
  }

  /** The element-wise mean of `inputs` (all of length `n`) as a new buffer. */
  def mean(alloc: ByteBufAllocator, inputs: Seq[ByteBuf], n: Int): ByteBuf = {
    val (buf, out) = allocate(alloc, n)
    val views = inputs.map(view)
    val (acc, chunk) = scratch()
    val count = inputs.size.toFloat
    var start = 0
    while (start < n) {
      val len = math.min(ChunkFloats, n - start)
      java.util.Arrays.fill(acc, 0, len, 0f)
      views.foreach { v =>
        v.get(start, chunk, 0, len)
        var j = 0
        while (j < len) { acc(j) += chunk(j); j += 1 }
      }
      var j = 0
      while (j < len) { acc(j) = acc(j) / count; j += 1 }
      out.put(start, acc, 0, len)
      start += len
    }
    buf
  }

  /** `values` as little-endian bytes. */
  def toBytes(values: Array[Float]): Array[Byte] = {
    val bytes = new Array[Byte](4 * values.length)
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(values)
    bytes
  }

  /** Little-endian `bytes` as floats. */
  def fromBytes(bytes: Array[Byte]): Array[Float] = {
    require(bytes.length % 4 == 0, s"${bytes.length} bytes are not a float32 vector")
    val values = new Array[Float](bytes.length / 4)
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values)
    values
  }
}

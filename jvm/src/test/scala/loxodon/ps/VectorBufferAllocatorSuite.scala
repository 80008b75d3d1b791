package loxodon.ps

import io.netty.buffer.{ByteBuf, UnpooledByteBufAllocator}
import org.scalatest.funsuite.AnyFunSuite

class VectorBufferAllocatorSuite extends AnyFunSuite {
  private val mib = 1 << 20

  /** The buffer under any leak-detection wrapper. */
  private def root(b: ByteBuf): ByteBuf = if (b.unwrap() == null) b else root(b.unwrap())

  test("large direct buffers are recycled by size class; small ones are not") {
    val alloc = new VectorBufferAllocator(UnpooledByteBufAllocator.DEFAULT, mib, 64L * mib)
    val a = alloc.directBuffer(4 * mib + 22)
    assert(a.capacity() == 5 * mib && a.isDirect)
    a.writeInt(7)
    val first = root(a)
    assert(a.release())
    assert(alloc.cachedBytes == 5L * mib)
    val b = alloc.directBuffer(4 * mib + 1)
    assert(root(b) eq first)
    assert(b.refCnt() == 1 && b.readableBytes() == 0 && b.writerIndex() == 0)
    assert(alloc.cachedBytes == 0L)
    b.release()
    val small = alloc.directBuffer(1000)
    assert(small.capacity() < mib)
    small.release()
    assert(alloc.cachedBytes == 5L * mib)
    alloc.clear()
    assert(alloc.cachedBytes == 0L)
  }

  test("the cache never holds more than maxCachedBytes") {
    val alloc = new VectorBufferAllocator(UnpooledByteBufAllocator.DEFAULT, mib, 4L * mib)
    val bufs = Seq.fill(3)(alloc.directBuffer(2 * mib))
    bufs.foreach(_.release())
    assert(alloc.cachedBytes == 4L * mib)
    alloc.clear()
  }

  test("a retained slice keeps the buffer out of the cache until released") {
    val alloc = new VectorBufferAllocator(UnpooledByteBufAllocator.DEFAULT, mib, 64L * mib)
    val buf = alloc.directBuffer(2 * mib).writeZero(2 * mib)
    val slice = buf.retainedSlice(0, 100)
    buf.release()
    assert(alloc.cachedBytes == 0L)
    slice.release()
    assert(alloc.cachedBytes == 2L * mib)
    alloc.clear()
  }
}

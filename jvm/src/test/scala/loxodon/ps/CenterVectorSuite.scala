package loxodon.ps

import io.netty.buffer.{ByteBuf, Unpooled, UnpooledByteBufAllocator}
import org.scalatest.funsuite.AnyFunSuite

import loxodon.ps.TestClient.{bytes, floats}

/** The update rules on vectors longer than one chunk, against plain loops. */
class CenterVectorSuite extends AnyFunSuite {
  private val n = 3 * FloatVectors.ChunkFloats + 123
  private val alloc = UnpooledByteBufAllocator.DEFAULT

  private def buf(v: Array[Float]): ByteBuf = Unpooled.wrappedBuffer(bytes(v))
  private def read(b: ByteBuf): Array[Float] =
    try floats(io.netty.buffer.ByteBufUtil.getBytes(b))
    finally b.release()

  private def ramp(scale: Float): Array[Float] = Array.tabulate(n)(i => (i % 97) * scale)

  test("locked and hogwild adds, snapshot and set") {
    val c = new CenterVector(n)
    c.set(ramp(1f))
    assert(c.addLocked(buf(ramp(2f))) == 1L)
    assert(c.addHogwild(buf(ramp(0.5f))) == 2L)
    val expected = Array.tabulate(n)(i => (i % 97) * 1f + (i % 97) * 2f + (i % 97) * 0.5f)
    assert(read(c.snapshot()).toSeq == expected.toSeq)
    assert(floats(c.toBytes).toSeq == expected.toSeq)
    assertThrows[IllegalArgumentException](c.addLocked(buf(new Array[Float](n - 1))))
  }

  test("easgd and easgdSync match the formulas element by element") {
    val alpha = 0.25f
    val c = new CenterVector(n)
    val c0 = ramp(1f)
    c.set(c0)
    val x = ramp(3f)
    val e = read(c.easgd(alloc, buf(x), alpha))
    assert(e.toSeq == Array.tabulate(n)(i => alpha * (x(i) - c0(i))).toSeq)
    val c1 = Array.tabulate(n)(i => c0(i) + e(i))
    assert(c.toArray.toSeq == c1.toSeq)

    val xs = Seq(ramp(2f), ramp(-1f), ramp(5f))
    val es = c.easgdSync(alloc, xs.map(buf), alpha).map(read)
    xs.zip(es).foreach { case (xi, ei) =>
      assert(ei.toSeq == Array.tabulate(n)(i => alpha * (xi(i) - c1(i))).toSeq)
    }
    val sum = Array.tabulate(n)(i => es.map(_(i)).foldLeft(0f)(_ + _))
    assert(c.toArray.toSeq == Array.tabulate(n)(i => c1(i) + sum(i)).toSeq)
    assert(c.updateCount == 4L)
  }

  test("ADAG divides a push by the window; DynSGD by 1 + the updates since the worker's pull") {
    val c = new CenterVector(n)
    val c0 = ramp(1f)
    c.set(c0)
    val d = ramp(3f)
    assert(c.addDivided(buf(d), 4f) == 1L)
    val c1 = Array.tabulate(n)(i => c0(i) + d(i) / 4f)
    assert(c.toArray.toSeq == c1.toSeq)
    // Both pull; worker 1 pushes twice, then worker 0 pushes 2 updates late.
    c.markPulled(0)
    c.markPulled(1)
    assert(c.addStale(buf(d), 1) == 2L) // worker 1: 0 updates since its pull, full step
    assert(c.addStale(buf(d), 1) == 3L) // 1 update (its own) since its pull: halved
    assert(c.addStale(buf(d), 0) == 4L) // 2 updates since worker 0's pull: a third
    assert(c.addStale(buf(d), 7) == 5L) // a worker that never pulled counts as fresh
    val c2 = Array.tabulate(n)(i => c1(i) + d(i) + d(i) / 2f + d(i) / 3f + d(i))
    assert(c.toArray.toSeq == c2.toSeq)
    assertThrows[IllegalArgumentException](c.addDivided(buf(d), 0.5f))
  }

  test("mean of vectors longer than a chunk") {
    val vs = Seq(ramp(1f), ramp(2f), ramp(6f))
    val mean = read(FloatVectors.mean(alloc, vs.map(buf), n))
    assert(mean.toSeq == Array.tabulate(n)(i => (vs.map(_(i)).foldLeft(0f)(_ + _)) / 3f).toSeq)
  }
}

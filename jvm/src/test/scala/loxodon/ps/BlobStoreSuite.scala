package loxodon.ps

import io.netty.buffer.{ByteBufUtil, Unpooled}
import org.scalatest.funsuite.AnyFunSuite

class BlobStoreSuite extends AnyFunSuite {

  test("put, read and remove blobs by name") {
    val store = new BlobStore
    store.put("a", Unpooled.wrappedBuffer(Array[Byte](1, 2, 3)))
    assert(store.bytes("a").map(_.toSeq).contains(Seq[Byte](1, 2, 3)))
    assert(store.bytes("b").isEmpty && store.retained("b").isEmpty)
    assert(store.size == 1 && store.totalBytes == 3 && store.names == Set("a"))
    assert(store.remove("a") && !store.remove("a") && store.size == 0)
  }

  test("replacing a blob frees the old one once its last reader is done") {
    val store = new BlobStore
    val first = Unpooled.directBuffer(4).writeInt(7)
    store.put("s", first)
    val reader = store.retained("s").get
    store.put("s", Unpooled.directBuffer(4).writeInt(8))
    assert(first.refCnt() == 1, "a reader's duplicate keeps the replaced bytes alive")
    assert(reader.readInt() == 7)
    reader.release()
    assert(first.refCnt() == 0)
    assert(store.bytes("s").map(ByteBufUtil.hexDump(_)).contains("00000008"))
  }

  test("a duplicate reads from the start however often the blob is read") {
    val store = new BlobStore
    store.put("s", Unpooled.wrappedBuffer(Array[Byte](5, 6)))
    for (_ <- 1 to 3) {
      val dup = store.retained("s").get
      assert(dup.readableBytes() == 2 && dup.readByte() == 5)
      dup.release()
    }
  }

  test("clear releases every blob") {
    val store = new BlobStore
    val bufs = (1 to 3).map(i => Unpooled.directBuffer(1).writeByte(i))
    bufs.zipWithIndex.foreach { case (b, i) => store.put(s"b$i", b) }
    store.clear()
    assert(store.size == 0 && bufs.forall(_.refCnt() == 0))
  }
}

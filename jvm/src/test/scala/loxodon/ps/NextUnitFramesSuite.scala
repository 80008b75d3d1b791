package loxodon.ps

import java.nio.charset.StandardCharsets.UTF_8

import io.netty.buffer.{ByteBuf, ByteBufUtil, Unpooled}
import org.scalatest.funsuite.AnyFunSuite

class NextUnitFramesSuite extends AnyFunSuite {

  private def payload(json: String, blob: Array[Byte] = Array.emptyByteArray): ByteBuf = {
    val text = json.getBytes(UTF_8)
    Unpooled.buffer().writeInt(text.length).writeBytes(text).writeBytes(blob)
  }

  test("a request carries a report and the state stored under the frame's key") {
    val state = Array[Byte](1, 2, 3, 4, 5)
    val Right((report, blob)) = NextUnitFrames.parseRequest(payload("""{"unit":3}""", state), "s/3")
    assert(report == """{"unit":3}""")
    assert(blob.map(b => ByteBufUtil.getBytes(b).toSeq).contains(state.toSeq))
    assert(NextUnitFrames.parseRequest(payload("{}"), "") == Right(("{}", None)))
  }

  test("malformed requests are refused with what is wrong") {
    val short = NextUnitFrames.parseRequest(Unpooled.wrappedBuffer(Array[Byte](0, 0)), "")
    assert(short.left.exists(_.contains("lacks the 4-byte report length")))
    val long = NextUnitFrames.parseRequest(Unpooled.buffer().writeInt(100).writeByte(1), "")
    assert(long.left.exists(_.contains("does not fit")))
    val nameless = NextUnitFrames.parseRequest(payload("{}", Array[Byte](9)), "")
    assert(nameless.left.exists(_.contains("without a blob name")))
  }

  test("a reply is the unit's JSON, then the blob") {
    val reply =
      NextUnitFrames.reply(
        """{"kind":"train"}""",
        Some(Unpooled.directBuffer(2).writeByte(7).writeByte(8))
      )
    val n = reply.readInt()
    assert(reply.readCharSequence(n, UTF_8).toString == """{"kind":"train"}""")
    assert(ByteBufUtil.getBytes(reply).toSeq == Seq[Byte](7, 8))
    assert(reply.isDirect, "a reply with a heap part is copied whole on its way to the socket")
    val bare = NextUnitFrames.reply("{}", None)
    assert(bare.readInt() == 2 && bare.readableBytes() == 2)
  }

  test("a large state is kept as a slice of the frame's buffer, a small one as a copy") {
    val big = Array.tabulate[Byte](FrameDecoder.LargeFrameBytes)(_.toByte)
    val request = payload("{}", big)
    val Right((_, Some(kept))) = NextUnitFrames.parseRequest(request, "s/1")
    assert(kept.unwrap() eq request, "a slice of the buffer the frame came in, not a copy")
    request.release()
    assert(kept.refCnt() == 1 && ByteBufUtil.getBytes(kept).sameElements(big))
    kept.release()
    val small = payload("{}", Array[Byte](1, 2))
    val Right((_, Some(copy))) = NextUnitFrames.parseRequest(small, "s/2")
    assert(small.release() && copy.refCnt() == 1)
  }
}

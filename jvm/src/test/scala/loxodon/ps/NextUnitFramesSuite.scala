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
    assert(blob.map(_.toSeq).contains(state.toSeq))
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
    val reply = NextUnitFrames.reply("""{"kind":"train"}""", Some(Array[Byte](7, 8)))
    val n = reply.readInt()
    assert(reply.readCharSequence(n, UTF_8).toString == """{"kind":"train"}""")
    assert(ByteBufUtil.getBytes(reply).toSeq == Seq[Byte](7, 8))
    val bare = NextUnitFrames.reply("{}", None)
    assert(bare.readInt() == 2 && bare.readableBytes() == 2)
  }
}

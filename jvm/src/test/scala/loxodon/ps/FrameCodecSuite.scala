package loxodon.ps

import scala.util.Random

import io.netty.buffer.{ByteBuf, ByteBufUtil, Unpooled}
import io.netty.channel.embedded.EmbeddedChannel
import org.scalatest.funsuite.AnyFunSuite

class FrameCodecSuite extends AnyFunSuite {
  import FrameCodecSuite._

  private def sample(payload: Array[Byte]): Frame =
    Frame(Op.Push, 1, 7, 42L, "model-ä", Unpooled.wrappedBuffer(payload))

  test("encoder writes the header and the payload buffer itself, without copying it") {
    val payload = Unpooled.directBuffer(16).writeBytes(Array.tabulate[Byte](16)(_.toByte))
    val ch = new EmbeddedChannel(FrameEncoder.Instance)
    assert(ch.writeOutbound(Frame(Op.Pull, 0, 1, 2L, "k", payload)))
    val header = ch.readOutbound[ByteBuf]()
    val body = ch.readOutbound[ByteBuf]()
    assert(body eq payload)
    assert(header.readableBytes() == Frame.HeaderBytes + 1)
    assert(header.getInt(0) == 18 + 1 + 16)
    assert(header.getByte(4) == 1 && header.getByte(5) == Op.Pull)
    assert(header.getInt(8) == 1 && header.getLong(12) == 2L && header.getUnsignedShort(20) == 1)
    header.release()
    assert(payload.refCnt() == 1)
    body.release()
    assert(!ch.finish())
  }

  test("encode then decode gives the same frame") {
    val bytes = Array.tabulate[Byte](1000)(i => (i * 7).toByte)
    val frame = sample(bytes)
    val wire = encode(sample(bytes))
    val decoded = decodeAll(new FrameDecoder(4096), Seq(wire))
    assert(decoded == Seq(frame))
    decoded.foreach(_.release())
    frame.release()
  }

  test("an empty payload and an empty key round trip") {
    val decoded =
      decodeAll(
        new FrameDecoder(256),
        Seq(encode(Frame(Op.Stats, 0, -1, -5L, Unpooled.EMPTY_BUFFER)))
      )
    assert(
      decoded.map(f => (f.op, f.worker, f.round, f.key, f.payload.readableBytes())) ==
        Seq((Op.Stats, -1, -5L, "", 0))
    )
  }

  test("frames fed in random fragments decode to the same frames") {
    val rnd = new Random(17)
    for (_ <- 1 to 20) {
      val payloads = Seq.fill(3)(Array.fill(rnd.nextInt(3000))(rnd.nextInt(256).toByte))
      val wire = payloads.flatMap(p => encode(sample(p))).toArray
      val cuts =
        (Seq.fill(rnd.nextInt(30))(rnd.nextInt(wire.length)) :+ 0 :+ wire.length).distinct.sorted
      val fragments = cuts.sliding(2).map { case Seq(a, b) => wire.slice(a, b) }.toSeq
      val decoded = decodeAll(new FrameDecoder(4096), fragments)
      assert(decoded.map(f => ByteBufUtil.getBytes(f.payload).toSeq) == payloads.map(_.toSeq))
      assert(decoded.forall(f => f.key == "model-ä" && f.worker == 7 && f.round == 42L))
      decoded.foreach(_.release())
    }
  }

  test("a bad version closes the channel") {
    val wire = encode(sample(Array[Byte](1, 2, 3)))
    wire(4) = 2
    val ch = new EmbeddedChannel(new FrameDecoder(4096))
    ch.writeInbound(Unpooled.wrappedBuffer(wire))
    assert(!ch.isOpen)
    assert(ch.readInbound[Frame]() == null)
  }

  test("a frame over the limit is refused from its length field alone") {
    val ch = new EmbeddedChannel(new FrameDecoder(1024))
    ch.writeInbound(Unpooled.buffer().writeInt(2000).writeByte(1))
    assert(!ch.isOpen)
  }

  test("a frame of exactly the limit passes") {
    val wire = encode(Frame(Op.Push, 0, 0, 0L, Unpooled.wrappedBuffer(new Array[Byte](1024 - 22))))
    assert(wire.length == 1024)
    val decoded = decodeAll(new FrameDecoder(1024), Seq(wire))
    assert(decoded.size == 1 && decoded.head.payload.readableBytes() == 1002)
    decoded.foreach(_.release())
  }

  test("a length below the header or a key past the end closes the channel") {
    val short = new EmbeddedChannel(new FrameDecoder(1024))
    short.writeInbound(Unpooled.buffer().writeInt(10).writeBytes(new Array[Byte](10)))
    assert(!short.isOpen)

    val wire = encode(Frame(Op.GetBlob, 0, 0, 0L, "abc", Unpooled.EMPTY_BUFFER))
    wire(20) = 0
    wire(21) = 9 // keyLen 9, only 3 bytes follow
    val badKey = new EmbeddedChannel(new FrameDecoder(1024))
    badKey.writeInbound(Unpooled.wrappedBuffer(wire))
    assert(!badKey.isOpen)
  }

  test("a large frame arriving in small reads decodes intact") {
    val payload = Array.tabulate[Byte](8 << 20)(i => (i % 251).toByte)
    val wire = encode(Frame(Op.Push, 0, 0, 0L, Unpooled.wrappedBuffer(payload)))
    val decoded = decodeAll(new FrameDecoder(16 << 20), wire.grouped(65536).toSeq)
    assert(decoded.size == 1)
    assert(java.util.Arrays.equals(ByteBufUtil.getBytes(decoded.head.payload), payload))
    decoded.foreach(_.release())
  }
}

object FrameCodecSuite {

  /** The bytes `frame` takes on the wire, through the real encoder. */
  def encode(frame: Frame): Array[Byte] = {
    val ch = new EmbeddedChannel(FrameEncoder.Instance)
    ch.writeOutbound(frame)
    val out = Iterator.continually(ch.readOutbound[ByteBuf]()).takeWhile(_ != null).toSeq
    val bytes = out.flatMap(b => ByteBufUtil.getBytes(b)).toArray
    out.foreach(_.release())
    bytes
  }

  /** Frames decoded from `fragments` written one after the other. */
  def decodeAll(decoder: FrameDecoder, fragments: Seq[Array[Byte]]): Seq[Frame] = {
    val ch = new EmbeddedChannel(decoder)
    fragments.foreach(f => ch.writeInbound(Unpooled.copiedBuffer(f)))
    val frames = Iterator.continually(ch.readInbound[Frame]()).takeWhile(_ != null).toSeq
    assert(ch.isOpen)
    frames
  }
}

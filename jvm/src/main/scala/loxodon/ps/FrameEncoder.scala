package loxodon.ps

import java.nio.charset.StandardCharsets.UTF_8
import java.util.{List => JList}

import io.netty.channel.{ChannelHandler, ChannelHandlerContext}
import io.netty.handler.codec.{EncoderException, MessageToMessageEncoder}

/** Writes a [[Frame]] as two buffers: a freshly built header (with the key) and the payload itself,
  * retained rather than copied. The channel's outbound buffer hands both to one gathering write, so
  * a 40 MB vector goes from its buffer to the socket with no copy in between.
  *
  * Stateless, hence one shared instance: [[FrameEncoder.Instance]].
  */
@ChannelHandler.Sharable
final class FrameEncoder private () extends MessageToMessageEncoder[Frame](classOf[Frame]) {

  override protected def encode(
      ctx: ChannelHandlerContext,
      msg: Frame,
      out: JList[AnyRef]
  ): Unit = {
    val key = msg.key.getBytes(UTF_8)
    if (key.length > 0xffff) {
      throw new EncoderException(s"frame key of ${key.length} bytes is over 65535 bytes")
    }
    val payloadBytes = msg.payload.readableBytes()
    val length = Frame.HeaderBytesAfterLength.toLong + key.length + payloadBytes
    if (length > Int.MaxValue - 4) {
      throw new EncoderException(s"frame of $length bytes is too large for the protocol")
    }
    val header = ctx.alloc().ioBuffer(Frame.HeaderBytes + key.length)
    header
      .writeInt(length.toInt)
      .writeByte(Frame.Version.toInt)
      .writeByte(msg.op)
      .writeShort(msg.flags)
      .writeInt(msg.worker)
      .writeLong(msg.round)
      .writeShort(key.length)
      .writeBytes(key)
    out.add(header)
    // The encoder releases `msg` (and so one reference of the payload) after this returns.
    if (payloadBytes > 0) out.add(msg.payload.retain())
  }
}

object FrameEncoder {

  /** The shared encoder. */
  val Instance: FrameEncoder = new FrameEncoder()
}

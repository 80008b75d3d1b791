package loxodon.ps

import java.nio.charset.StandardCharsets.UTF_8

import io.netty.buffer.{ByteBuf, ByteBufUtil, Unpooled}
import io.netty.util.ReferenceCounted

/** One message of the wire protocol (version 1), already split into its header fields.
  *
  * Layout on the wire (see `docs/design.md`): int32 length of what follows, version byte, op byte,
  * uint16 flags, int32 worker, int64 round, uint16 key length, key (UTF-8), payload. All header
  * integers are big-endian.
  *
  * The frame owns one reference to `payload` and is itself [[ReferenceCounted]] by delegating to
  * it, so Netty's usual release points (`SimpleChannelInboundHandler`, `MessageToMessageEncoder`,
  * writes to a closed channel) release the payload exactly once.
  */
final case class Frame(
    op: Int,
    flags: Int,
    worker: Int,
    round: Long,
    key: String,
    payload: ByteBuf
) extends ReferenceCounted {

  /** Bytes this frame takes on the wire, length prefix included. */
  def wireBytes: Long =
    Frame.HeaderBytes.toLong + ByteBufUtil.utf8Bytes(key) + payload.readableBytes()

  /** The payload decoded as UTF-8 (for ERROR messages and JSON replies). */
  def payloadText: String = payload.toString(payload.readerIndex(), payload.readableBytes(), UTF_8)

  override def refCnt(): Int = payload.refCnt()
  override def retain(): Frame = { payload.retain(); this }
  override def retain(increment: Int): Frame = { payload.retain(increment); this }
  override def touch(): Frame = { payload.touch(); this }
  override def touch(hint: AnyRef): Frame = { payload.touch(hint); this }
  override def release(): Boolean = payload.release()
  override def release(decrement: Int): Boolean = payload.release(decrement)

  override def toString: String =
    s"Frame(${Op.name(op)}, flags=$flags, worker=$worker, round=$round, key='$key', " +
      s"payload=${payload.readableBytes()} bytes)"
}

object Frame {

  /** The only protocol version this server speaks. */
  final val Version: Byte = 1

  /** Bytes before the key: length(4) version(1) op(1) flags(2) worker(4) round(8) keyLen(2). */
  final val HeaderBytes: Int = 22

  /** Header bytes counted by the length field (everything after it, before the key). */
  final val HeaderBytesAfterLength: Int = HeaderBytes - 4

  /** Worker id the driver uses in requests. */
  final val DriverWorker: Int = -1

  /** A frame with an empty key. */
  def apply(op: Int, flags: Int, worker: Int, round: Long, payload: ByteBuf): Frame =
    Frame(op, flags, worker, round, "", payload)

  /** A frame whose payload is `text` in UTF-8. */
  def ofText(op: Int, flags: Int, worker: Int, round: Long, text: String): Frame =
    Frame(op, flags, worker, round, "", Unpooled.wrappedBuffer(text.getBytes(UTF_8)))
}

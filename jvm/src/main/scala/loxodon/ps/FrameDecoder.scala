package loxodon.ps

import java.io.IOException
import java.nio.charset.StandardCharsets.UTF_8

import io.netty.buffer.{ByteBuf, ByteBufAllocator}
import io.netty.channel.ChannelHandlerContext
import io.netty.handler.codec.{
  ByteToMessageDecoder,
  CorruptedFrameException,
  LengthFieldBasedFrameDecoder
}
import org.slf4j.{Logger, LoggerFactory}

/** Splits the inbound byte stream into [[Frame]]s and refuses what the protocol forbids.
  *
  * `maxFrameBytes` bounds a whole frame, its 4-byte length prefix included; a longer frame is
  * refused as soon as its length field arrives (fail fast), before its body is read. A frame with a
  * version other than [[Frame.Version]], a length below the header, or a key running past the frame
  * is refused too. Every refusal closes the channel (and only it): see [[exceptionCaught]].
  *
  * The payload of a decoded frame is a retained slice of the receive buffer, not a copy. For a
  * large frame the receive buffer is allocated once at the size of the whole frame as soon as its
  * length is known, instead of being grown (and copied) step by step as bytes arrive, and the
  * socket's later reads go straight into it ([[FrameReads]]).
  *
  * Holds per-connection state (the partial frame), so it is not sharable.
  */
final class FrameDecoder(val maxFrameBytes: Int)
    extends LengthFieldBasedFrameDecoder(maxFrameBytes, 0, 4, 0, 4, true) {

  require(maxFrameBytes >= Frame.HeaderBytes, s"maxFrameBytes $maxFrameBytes is below a header")

  private var failed = false
  private var reads: FrameReads = _
  setCumulator(new FrameDecoder.LargeFrameCumulator(maxFrameBytes, () => reads))

  /** The bytes received and not yet decoded (the current frame so far). */
  private[ps] def pending: ByteBuf = internalBuffer()

  /** Reads go straight into this decoder's large frames when the channel has [[FrameReads]]. */
  override def handlerAdded(ctx: ChannelHandlerContext): Unit = {
    reads = ctx.channel().attr(FrameReads.Key).get()
    if (reads != null) reads.attach(this)
  }

  override protected def handlerRemoved0(ctx: ChannelHandlerContext): Unit =
    if (reads != null) reads.detach(this)

  override protected def decode(ctx: ChannelHandlerContext, in: ByteBuf): AnyRef =
    if (failed) {
      in.skipBytes(in.readableBytes()) // the channel is closing: read nothing more
      null
    } else {
      try decodeFrame(ctx, in)
      catch {
        case e: Exception =>
          failed = true
          throw e
      }
    }

  private def decodeFrame(ctx: ChannelHandlerContext, in: ByteBuf): AnyRef = {
    checkHeaderEarly(in)
    val body = super.decode(ctx, in).asInstanceOf[ByteBuf]
    if (body == null) null
    else {
      try parse(body)
      finally body.release()
    }
  }

  /** Checks length and version as soon as they arrive. */
  private def checkHeaderEarly(in: ByteBuf): Unit = {
    val readable = in.readableBytes()
    if (readable >= 4) {
      val length = in.getInt(in.readerIndex())
      if (length < Frame.HeaderBytesAfterLength) {
        throw new CorruptedFrameException(
          s"frame length $length is below the ${Frame.HeaderBytesAfterLength}-byte header"
        )
      }
      if (readable >= 5) {
        val version = in.getByte(in.readerIndex() + 4)
        if (version != Frame.Version) {
          throw new CorruptedFrameException(
            s"unsupported protocol version $version (this server speaks version ${Frame.Version})"
          )
        }
      }
    }
  }

  private def parse(body: ByteBuf): Frame = {
    val version = body.readByte()
    if (version != Frame.Version) {
      throw new CorruptedFrameException(
        s"unsupported protocol version $version (this server speaks version ${Frame.Version})"
      )
    }
    val op = body.readUnsignedByte().toInt
    val flags = body.readUnsignedShort()
    val worker = body.readInt()
    val round = body.readLong()
    val keyLen = body.readUnsignedShort()
    if (keyLen > body.readableBytes()) {
      throw new CorruptedFrameException(
        s"key of $keyLen bytes runs past the frame (${body.readableBytes()} bytes left)"
      )
    }
    val key = if (keyLen == 0) "" else body.toString(body.readerIndex(), keyLen, UTF_8)
    body.skipBytes(keyLen)
    Frame(op, flags, worker, round, key, body.readRetainedSlice(body.readableBytes()))
  }

  /** Any decoding failure closes this connection; other connections are not affected. */
  override def exceptionCaught(ctx: ChannelHandlerContext, cause: Throwable): Unit = {
    val message =
      s"closing ${ctx.channel().remoteAddress()}: ${Option(cause.getMessage).getOrElse(cause)}"
    cause match {
      case _: IOException => FrameDecoder.log.debug(message)
      case _              => FrameDecoder.log.warn(message)
    }
    ctx.close()
  }
}

object FrameDecoder {
  private val log: Logger = LoggerFactory.getLogger(classOf[FrameDecoder])

  /** The limit before a client has authenticated: AUTH is 54 bytes, so 256 is plenty. */
  final val PreAuthMaxFrameBytes: Int = 256

  /** Frames from this size on get a buffer of their own size up front and later reads land in it
    * directly. Below it Netty's merging cumulator grows its buffer by doubling, copying what it
    * holds each time: a model state of just under 1 MB (a hop in model selection) was copied about
    * three times over before this was lowered from 1 MiB.
    */
  final val LargeFrameBytes: Int = 64 << 10

  /** Direct buffers from this size on are recycled by [[VectorBufferAllocator]] (whole vectors). */
  final val RecycledBufferBytes: Int = 1 << 20

  /** Netty's merging cumulator, except that once the length of a large frame is known and the
    * buffer would have to grow, the frame moves into one buffer of its full size (from the
    * channel's allocator, see [[VectorBufferAllocator]]); later reads then land in that buffer
    * directly ([[FrameReads]]) and are appended by moving the writer index.
    */
  private final class LargeFrameCumulator(maxFrameBytes: Int, reads: () => FrameReads)
      extends ByteToMessageDecoder.Cumulator {
    override def cumulate(alloc: ByteBufAllocator, cumulation: ByteBuf, in: ByteBuf): ByteBuf = {
      val r = reads()
      if (r != null && r.claim(cumulation, in)) cumulation
      else merge(alloc, cumulation, in)
    }

    private def merge(alloc: ByteBufAllocator, cumulation: ByteBuf, in: ByteBuf): ByteBuf = {
      val readable = cumulation.readableBytes()
      val frameBytes =
        if (readable >= 4) cumulation.getInt(cumulation.readerIndex()).toLong + 4 else -1L
      val needed = readable.toLong + in.readableBytes()
      if (
        frameBytes >= LargeFrameBytes && frameBytes <= maxFrameBytes &&
        needed > readable + cumulation.maxFastWritableBytes() && needed <= Int.MaxValue
      ) {
        val target = alloc.directBuffer(math.max(frameBytes, needed).toInt)
        try {
          target.writeBytes(cumulation, cumulation.readerIndex(), readable).writeBytes(in)
          target
        } finally {
          cumulation.release()
          in.release()
        }
      } else ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(alloc, cumulation, in)
    }
  }
}

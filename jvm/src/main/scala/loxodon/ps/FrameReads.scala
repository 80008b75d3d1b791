package loxodon.ps

import scala.annotation.nowarn

import io.netty.buffer.{ByteBuf, ByteBufAllocator}
import io.netty.channel.RecvByteBufAllocator
import io.netty.util.AttributeKey

/** Socket reads straight into the buffer of a large frame under way, one per connection.
  *
  * Netty reads into a fresh buffer per read and the decoder then copies it onto its cumulation: for
  * a 4 MB vector that is a second pass over every byte, on top of the kernel's. Once the
  * [[FrameDecoder]] has moved a large frame into a buffer of the frame's size, this hands the
  * channel's next read a slice of that buffer's unwritten tail (up to the frame's end, never past
  * it), and the decoder's cumulator, recognising its own slice, only advances the writer index.
  * Anything else (small frames, headers, the bytes after a frame) takes Netty's usual path.
  *
  * Confined to the channel's event loop, as reads and decoding are. The slice is only handed out
  * while the decoder's cumulation is the sole owner of its buffer and is still writable, so no
  * other holder of that memory can see the write.
  */
final class FrameReads {
  private var decoder: FrameDecoder = _
  private var outstanding: ByteBuf = _
  private var outstandingParent: ByteBuf = _
  private var outstandingAt = -1

  /** The decoder whose cumulation reads may go into (the connection's current one). */
  def attach(d: FrameDecoder): Unit = decoder = d

  /** Forgets `d` if it is the attached decoder (it left the pipeline). */
  def detach(d: FrameDecoder): Unit = if (decoder eq d) decoder = null

  /** A slice to read into, or null when the next read should take a buffer of its own. */
  def slice(): ByteBuf = {
    // A slice not claimed by now was released by a read that got no bytes: forget it.
    outstanding = null
    outstandingParent = null
    val d = decoder
    if (d == null) return null
    val c = d.pending
    if (c.refCnt() != 1 || c.readableBytes() < 4) return null
    val frameBytes = 4L + c.getInt(c.readerIndex())
    val end = math.min(c.readerIndex() + frameBytes, c.capacity().toLong)
    val remaining = end - c.writerIndex()
    if (frameBytes < FrameDecoder.LargeFrameBytes || remaining <= 0) return null
    val s = c.retainedSlice(c.writerIndex(), remaining.toInt)
    s.clear()
    outstanding = s
    outstandingParent = c
    outstandingAt = c.writerIndex()
    s
  }

  /** Whether `in` is the slice handed out for `cumulation`'s tail; if so, the bytes read are
    * appended by moving the writer index, and `in` is released.
    */
  def claim(cumulation: ByteBuf, in: ByteBuf): Boolean = {
    if (outstanding == null || !(in eq outstanding)) false
    else {
      val ours = (cumulation eq outstandingParent) && cumulation.writerIndex() == outstandingAt
      outstanding = null
      outstandingParent = null
      if (ours) {
        cumulation.writerIndex(outstandingAt + in.readableBytes())
        in.release()
      }
      ours
    }
  }
}

object FrameReads {

  /** Where a connection keeps its [[FrameReads]]. */
  val Key: AttributeKey[FrameReads] = AttributeKey.valueOf[FrameReads]("loxodon.frameReads")

  /** The channel's receive allocator: `delegate`'s, except that reads go into `reads`' slice when
    * it has one. Netty 4.2 deprecates `Handle` for `ExtendedHandle`, yet its NIO channels read
    * through `Handle` and `DelegatingHandle` wraps one, hence the `@nowarn`.
    */
  @nowarn("cat=deprecation")
  final class Allocator(delegate: RecvByteBufAllocator, reads: FrameReads)
      extends RecvByteBufAllocator {
    override def newHandle(): RecvByteBufAllocator.Handle =
      new RecvByteBufAllocator.DelegatingHandle(delegate.newHandle()) {
        override def allocate(alloc: ByteBufAllocator): ByteBuf = {
          val s = reads.slice()
          if (s != null) s else super.allocate(alloc)
        }
      }
  }
}

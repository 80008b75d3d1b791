package loxodon.ps

import java.util.concurrent.ThreadFactory

import io.netty.channel.{ChannelOption, EventLoopGroup, RecvByteBufAllocator}
import io.netty.channel.nio.NioEventLoopGroup

/** The parameter server's NIO event loops and option names on Netty 4.1 (Spark 3.5 and 4.0 ship it); netty-4.2/
  * holds the twin for Netty 4.2's `IoHandler` groups.
  */
private[ps] object NettyLoops {
  def nio(threads: Int, factory: ThreadFactory): EventLoopGroup =
    new NioEventLoopGroup(threads, factory)

  /** The channel option of the read-buffer allocator (renamed RECVBUF_ALLOCATOR in 4.2). */
  val recvBufAllocator: ChannelOption[RecvByteBufAllocator] = ChannelOption.RCVBUF_ALLOCATOR
}

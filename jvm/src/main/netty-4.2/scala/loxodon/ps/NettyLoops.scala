package loxodon.ps

import java.util.concurrent.ThreadFactory

import io.netty.channel.{
  ChannelOption,
  EventLoopGroup,
  MultiThreadIoEventLoopGroup,
  RecvByteBufAllocator
}
import io.netty.channel.nio.NioIoHandler

/** The parameter server's NIO event loops and option names on Netty 4.2 (Spark 4.3 ships it), where
  * the `IoHandler` groups replace 4.1's `NioEventLoopGroup`; netty-4.1/ holds the 4.1 twin.
  */
private[ps] object NettyLoops {
  def nio(threads: Int, factory: ThreadFactory): EventLoopGroup =
    new MultiThreadIoEventLoopGroup(threads, factory, NioIoHandler.newFactory())

  /** The channel option of the read-buffer allocator (4.1 spells it RCVBUF_ALLOCATOR). */
  val recvBufAllocator: ChannelOption[RecvByteBufAllocator] = ChannelOption.RECVBUF_ALLOCATOR
}

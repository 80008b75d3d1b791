package loxodon.ps

import java.util.concurrent.TimeUnit

import io.netty.buffer.{ByteBufUtil, Unpooled}
import io.netty.channel.{ChannelHandlerContext, ChannelInboundHandlerAdapter}
import io.netty.util.ReferenceCountUtil
import io.netty.util.concurrent.ScheduledFuture
import org.slf4j.{Logger, LoggerFactory}

/** The server side of the handshake, one instance per connection.
  *
  * On `channelActive` it sends CHALLENGE with a fresh nonce. The pipeline's [[FrameDecoder]]
  * meanwhile accepts frames of at most [[FrameDecoder.PreAuthMaxFrameBytes]]. The first frame must
  * be AUTH carrying HMAC-SHA256(key, nonce), where key is the driver's key or, when the AUTH
  * frame's worker field names worker w of the job, worker w's key ([[Roles]]): the role proven is
  * set on the channel, the decoder is replaced by one allowing `maxFrameBytes`, OK is sent, and
  * this handler removes itself, so later frames flow straight to the request handler. Anything else
  * (another op, a wrong tag, no AUTH within `authTimeoutMs`) closes the connection before any
  * payload of a request is read.
  *
  * Runs on the channel's event loop: an HMAC is microseconds of work.
  */
final class AuthHandler(
    driverKey: Array[Byte],
    workerKeys: IndexedSeq[Array[Byte]],
    maxFrameBytes: Int,
    authTimeoutMs: Long,
    replyFlags: () => Int,
    stats: ServerStats
) extends ChannelInboundHandlerAdapter {

  private var nonce: Array[Byte] = _
  private var timeout: ScheduledFuture[_] = _

  override def channelActive(ctx: ChannelHandlerContext): Unit = {
    nonce = Auth.newNonce()
    stats.connectionOpened()
    ctx.writeAndFlush(
      Frame(
        Op.Challenge,
        replyFlags(),
        Frame.DriverWorker,
        0L,
        Unpooled.wrappedBuffer(nonce.clone())
      )
    )
    if (authTimeoutMs > 0) {
      timeout = ctx
        .executor()
        .schedule(
          new Runnable {
            override def run(): Unit = refuse(ctx, s"no AUTH within $authTimeoutMs ms")
          },
          authTimeoutMs,
          TimeUnit.MILLISECONDS
        )
    }
    ctx.fireChannelActive()
  }

  override def channelRead(ctx: ChannelHandlerContext, msg: AnyRef): Unit = msg match {
    case frame: Frame =>
      try {
        if (frame.op != Op.Auth) refuse(ctx, s"expected AUTH, got ${Op.name(frame.op)}")
        else if (frame.payload.readableBytes() != Auth.MacBytes) {
          refuse(ctx, s"AUTH of ${frame.payload.readableBytes()} bytes, expected ${Auth.MacBytes}")
        } else {
          role(frame.worker, ByteBufUtil.getBytes(frame.payload)) match {
            case Some(r) => accept(ctx, frame, r)
            case None    => refuse(ctx, s"wrong key for worker ${frame.worker}")
          }
        }
      } finally frame.release()
    case other =>
      ReferenceCountUtil.release(other)
      refuse(ctx, s"unexpected message ${other.getClass.getName}")
  }

  /** The role `response` proves for a client naming `worker`: worker w's key for w in 0..N-1, else
    * (or failing that) the driver's key, which may speak for any id.
    */
  private def role(worker: Int, response: Array[Byte]): Option[Role] =
    if (
      worker >= 0 && worker < workerKeys.length && Auth.verify(workerKeys(worker), nonce, response)
    )
      Some(Role.Worker(worker))
    else if (Auth.verify(driverKey, nonce, response)) Some(Role.Driver)
    else None

  private def accept(ctx: ChannelHandlerContext, auth: Frame, role: Role): Unit = {
    if (timeout != null) timeout.cancel(false)
    ctx.channel().attr(Roles.Key).set(role)
    // Replace the decoder before OK goes out: the client sends large frames only after OK.
    ctx.pipeline().replace(classOf[FrameDecoder], "frameDecoder", new FrameDecoder(maxFrameBytes))
    ctx.writeAndFlush(Frame(Op.Ok, replyFlags(), auth.worker, auth.round, Unpooled.EMPTY_BUFFER))
    ctx.pipeline().remove(this)
  }

  private def refuse(ctx: ChannelHandlerContext, why: String): Unit = {
    if (ctx.channel().isOpen) {
      stats.authFailed()
      AuthHandler.log.warn(s"refusing ${ctx.channel().remoteAddress()}: $why")
      ctx.close()
    }
  }

  override def exceptionCaught(ctx: ChannelHandlerContext, cause: Throwable): Unit = {
    AuthHandler.log.debug(s"closing ${ctx.channel().remoteAddress()} before auth", cause)
    ctx.close()
  }

  override def handlerRemoved(ctx: ChannelHandlerContext): Unit = {
    if (timeout != null) timeout.cancel(false)
  }
}

object AuthHandler {
  private val log: Logger = LoggerFactory.getLogger(classOf[AuthHandler])
}

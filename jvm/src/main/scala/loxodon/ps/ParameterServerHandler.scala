package loxodon.ps

import java.nio.charset.StandardCharsets.UTF_8

import scala.util.control.NonFatal

import io.netty.buffer.{ByteBuf, Unpooled}
import io.netty.channel.{
  ChannelFuture,
  ChannelFutureListener,
  ChannelHandler,
  ChannelHandlerContext,
  SimpleChannelInboundHandler
}
import org.slf4j.{Logger, LoggerFactory}

/** Runs the operations of authenticated connections: one frame in, one reply out, in order.
  *
  * Runs on the connection's event loop, right after the frame is decoded: an operation is short CPU
  * work (a 1M-float locked add takes about half a millisecond, 10M floats a few), and handing every
  * frame to a separate executor and every reply back cost two thread wake-ups per request, more
  * than the add itself on a small machine (`docs/design.md`, "Threading of the server"). Sync
  * rounds do not wait here: the frame is handed to [[SyncRounds]], which replies later.
  *
  * A request that the protocol refuses (wrong vector length, unknown op, missing blob, bad worker
  * id, an op or blob the connection's [[Role]] may not use, a malformed report, the blob cap) gets
  * an ERROR and the connection stays usable. Every reply carries the stop flag in bit 0 of its
  * flags. Stateless apart from the shared [[ParameterServerContext]], hence sharable.
  */
@ChannelHandler.Sharable
final class ParameterServerHandler(context: ParameterServerContext)
    extends SimpleChannelInboundHandler[Frame](classOf[Frame], true) {
  import ParameterServerHandler.log

  private val conf = context.conf

  override protected def channelRead0(ctx: ChannelHandlerContext, frame: Frame): Unit = {
    context.stats.request(frame)
    val reply =
      try
        Roles.refusal(role(ctx), frame) match {
          case Some(why) => error(frame, s"${Op.name(frame.op)} refused: $why")
          case None      => dispatch(ctx, frame)
        }
      catch {
        case e: IllegalArgumentException => error(frame, e.getMessage)
        case NonFatal(e) =>
          log.error(s"${Op.name(frame.op)} from worker ${frame.worker} failed", e)
          error(frame, s"${Op.name(frame.op)} failed on the server: $e")
      }
    if (reply != null) write(ctx, reply)
  }

  /** The reply to `frame`, or null when the reply comes later (sync rounds, SHUTDOWN). */
  private def dispatch(ctx: ChannelHandlerContext, frame: Frame): Frame = frame.op match {
    case Op.Register =>
      val p = frame.payload
      if (p.readableBytes() >= 8) {
        val size = p.getLong(p.readerIndex())
        val layout = p.toString(p.readerIndex() + 8, p.readableBytes() - 8, UTF_8)
        context.adopt(size, if (layout.isEmpty) "{}" else layout)
      } else if (p.readableBytes() > 0) {
        throw new IllegalArgumentException(
          s"REGISTER: payload of ${p.readableBytes()} bytes; expected none, or int64 numParams " +
            "and the layout JSON"
        )
      }
      val layout = context.layoutJson.getBytes(UTF_8)
      val buf = ctx.alloc().buffer(12 + layout.length)
      buf.writeLong(context.numParams.toLong).writeInt(conf.numWorkers).writeBytes(layout)
      ok(frame, buf)
    case Op.Pull =>
      if (frame.worker >= 0) context.center.markPulled(frame.worker)
      ok(frame, context.center.snapshot())
    case Op.Push => withVector(frame)(p => ok(frame, long(ctx, context.center.addLocked(p))))
    case Op.PushAdag =>
      if (frame.round < 1 || frame.round > (1 << 24)) {
        error(
          frame,
          s"PUSH_ADAG: the round field carries the delta's steps (1 to 2^24), got ${frame.round}"
        )
      } else {
        withVector(frame) { p =>
          ok(frame, long(ctx, context.center.addDivided(p, frame.round.toFloat)))
        }
      }
    case Op.PushDynSgd =>
      withVector(frame)(p => ok(frame, long(ctx, context.center.addStale(p, frame.worker))))
    case Op.PushHogwild =>
      withVector(frame)(p => ok(frame, long(ctx, context.center.addHogwild(p))))
    case Op.Sync                      => syncRound(ctx, frame)
    case Op.Easgd if frame.round >= 0 => syncRound(ctx, frame)
    case Op.Easgd =>
      withVector(frame) { p =>
        ok(frame, context.center.easgd(ctx.alloc(), p, conf.easgdAlpha.toFloat))
      }
    case Op.PutBlob =>
      if (frame.key.isEmpty) error(frame, "PUT_BLOB needs a blob name in the key")
      else
        Roles.blobRefusal(role(ctx), frame.key, context.blobs.contains(frame.key)) match {
          case Some(why) => error(frame, s"PUT_BLOB refused: $why")
          case None =>
            val payload = frame.payload
            context.blobs.put(
              frame.key,
              BlobStore.keep(payload, payload.readerIndex(), payload.readableBytes())
            )
            ok(frame, Unpooled.EMPTY_BUFFER)
        }
    case Op.GetBlob =>
      context.blobs.retained(frame.key) match {
        case Some(blob) => ok(frame, blob)
        case None       => error(frame, s"no blob named '${frame.key}'")
      }
    case Op.Stats    => ok(frame, Unpooled.wrappedBuffer(context.statsJson.getBytes(UTF_8)))
    case Op.EpochEnd => epochEnd(ctx, frame)
    case Op.NextUnit => nextUnit(ctx, frame)
    case Op.ClaimShard =>
      val shard = context.shards.claim(frame.round, frame.worker)
      ok(frame, ctx.alloc().buffer(4).writeInt(shard))
    case Op.Stop =>
      context.requestStop()
      ok(frame, Unpooled.EMPTY_BUFFER)
    case Op.Shutdown =>
      val reply = ok(frame, Unpooled.EMPTY_BUFFER)
      context.stats.reply(reply)
      ctx
        .writeAndFlush(reply)
        .addListener(new ChannelFutureListener {
          override def operationComplete(f: ChannelFuture): Unit = context.requestShutdown()
        })
      null
    case Op.Challenge | Op.Auth | Op.Ok | Op.Error =>
      error(frame, s"${Op.name(frame.op)} is not a request (this connection is authenticated)")
    case other => error(frame, s"unknown op $other")
  }

  /** The role the connection proved at its handshake. */
  private def role(ctx: ChannelHandlerContext): Role = ctx.channel().attr(Roles.Key).get()

  /** Whether `frame` comes from one of the job's workers, 0 to N-1: only they join sync rounds,
    * epoch gates and NEXT_UNIT.
    */
  private def fromWorker(frame: Frame): Boolean =
    frame.worker >= 0 && frame.worker < conf.numWorkers

  /** The ERROR for a request of `frame`'s worker id, not one of the job's, to join `what`. */
  private def notAWorker(frame: Frame, what: String): Frame =
    error(
      frame,
      s"worker id ${frame.worker} cannot join $what: the workers are 0 to ${conf.numWorkers - 1}"
    )

  private def syncRound(ctx: ChannelHandlerContext, frame: Frame): Frame =
    if (!fromWorker(frame)) notAWorker(frame, s"${Op.name(frame.op)} round ${frame.round}")
    else
      withVector(frame) { p =>
        context.rounds.arrive(
          frame.op,
          frame.round,
          frame.worker,
          ctx.channel(),
          p.retain(),
          ctx.executor()
        )
        null
      }

  private def epochEnd(ctx: ChannelHandlerContext, frame: Frame): Frame =
    if (!fromWorker(frame)) notAWorker(frame, s"the end of epoch ${frame.round}")
    else if (frame.round < 0 || frame.round > Int.MaxValue) {
      error(frame, s"EPOCH_END: epoch ${frame.round} is out of range")
    } else if (Reports.epochProblem(frame.payloadText).isDefined) {
      val problem = Reports.epochProblem(frame.payloadText).get
      error(frame, s"EPOCH_END of epoch ${frame.round} from worker ${frame.worker}: $problem")
    } else {
      context.epochs.arrive(
        frame.round.toInt,
        frame.round,
        frame.worker,
        ctx.channel(),
        frame.payloadText,
        ctx.executor()
      )
      null
    }

  /** NEXT_UNIT: the payload is a report and the state its unit wrote (stored under the frame's key
    * before the scheduler sees the report); the reply is the next unit and the state it starts from
    * (see [[NextUnitFrames]]). One exchange per unit instead of a put, a report and a get.
    */
  private def nextUnit(ctx: ChannelHandlerContext, frame: Frame): Frame = {
    val source = context.units
    if (source == null) error(frame, "NEXT_UNIT: this job is not a model-selection search")
    else if (!fromWorker(frame)) notAWorker(frame, "NEXT_UNIT")
    else if (
      role(ctx) != Role.Driver && frame.key.nonEmpty && !source
        .expectedBlob(frame.worker)
        .contains(frame.key)
    ) {
      val expected = source.expectedBlob(frame.worker).fold("none")(b => s"'$b'")
      error(
        frame,
        s"NEXT_UNIT refused: worker ${frame.worker} may store its unit's state only under " +
          s"$expected, not '${frame.key}'"
      )
    } else
      NextUnitFrames.parseRequest(frame.payload, frame.key) match {
        case Left(message) => error(frame, s"NEXT_UNIT from worker ${frame.worker}: $message")
        case Right((report, blob)) if Reports.unitProblem(report).isDefined =>
          blob.foreach(_.release())
          error(
            frame,
            s"NEXT_UNIT from worker ${frame.worker}: ${Reports.unitProblem(report).get}"
          )
        case Right((report, blob)) =>
          blob.foreach(state => context.blobs.put(frame.key, state))
          val channel = ctx.channel()
          source.next(
            frame.worker,
            report,
            unit => {
              val reply = unit.blob.map(name => name -> context.blobs.retained(name)) match {
                case Some((name, None)) =>
                  error(frame, s"NEXT_UNIT: the unit's blob '$name' is gone")
                case attached =>
                  ok(frame, NextUnitFrames.reply(unit.json, attached.flatMap(_._2)))
              }
              context.stats.reply(reply)
              channel.writeAndFlush(reply)
              ()
            }
          )
          null
      }
  }

  private def withVector(frame: Frame)(body: ByteBuf => Frame): Frame = {
    val numParams = context.center.length // an ERROR while no layout is known
    if (FloatVectors.floatCount(frame.payload) != numParams) {
      error(frame, s"${Op.name(frame.op)}: ${CenterVector.lengthMessage(frame.payload, numParams)}")
    } else body(frame.payload)
  }

  private def long(ctx: ChannelHandlerContext, value: Long): ByteBuf =
    ctx.alloc().buffer(8).writeLong(value)

  private def ok(request: Frame, payload: ByteBuf): Frame =
    Frame(Op.Ok, context.replyFlags(), request.worker, request.round, payload)

  private def error(request: Frame, message: String): Frame =
    Frame.ofText(Op.Error, context.replyFlags(), request.worker, request.round, message)

  private def write(ctx: ChannelHandlerContext, reply: Frame): Unit = {
    context.stats.reply(reply)
    ctx.writeAndFlush(reply)
  }

  override def exceptionCaught(ctx: ChannelHandlerContext, cause: Throwable): Unit = {
    log.debug(s"closing ${ctx.channel().remoteAddress()}", cause)
    ctx.close()
  }
}

object ParameterServerHandler {
  private val log: Logger = LoggerFactory.getLogger(classOf[ParameterServerHandler])
}

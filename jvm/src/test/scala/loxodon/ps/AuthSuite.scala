package loxodon.ps

import io.netty.buffer.{ByteBuf, ByteBufUtil, Unpooled}
import io.netty.channel.embedded.EmbeddedChannel
import org.scalatest.funsuite.AnyFunSuite

class AuthSuite extends AnyFunSuite with ServerFixture {
  import FrameCodecSuite.{decodeAll, encode}

  private def embedded(secret: Array[Byte]): EmbeddedChannel =
    new EmbeddedChannel(
      new FrameDecoder(FrameDecoder.PreAuthMaxFrameBytes),
      FrameEncoder.Instance,
      new AuthHandler(secret, IndexedSeq.empty, 1 << 20, 0L, () => 0, new ServerStats)
    )

  /** Frames the server wrote on `ch` so far. */
  private def written(ch: EmbeddedChannel): Seq[Frame] = {
    val bufs = Iterator.continually(ch.readOutbound[ByteBuf]()).takeWhile(_ != null).toSeq
    val bytes = bufs.flatMap(b => ByteBufUtil.getBytes(b)).toArray
    bufs.foreach(_.release())
    decodeAll(new FrameDecoder(1 << 20), Seq(bytes))
  }

  private def auth(mac: Array[Byte]): ByteBuf =
    Unpooled.wrappedBuffer(encode(Frame(Op.Auth, 0, 3, 0L, Unpooled.wrappedBuffer(mac))))

  test("hmac and hex helpers") {
    val secret = Auth.newSecret()
    assert(secret.length == 32 && !java.util.Arrays.equals(secret, Auth.newSecret()))
    assert(java.util.Arrays.equals(Auth.fromHex(Auth.toHex(secret)), secret))
    val nonce = Auth.newNonce()
    assert(Auth.verify(secret, nonce, Auth.hmac(secret, nonce)))
    assert(!Auth.verify(secret, nonce, Auth.hmac(Auth.newSecret(), nonce)))
    // RFC 4231 test case 2
    val mac = Auth.hmac("Jefe".getBytes("UTF-8"), "what do ya want for nothing?".getBytes("UTF-8"))
    assert(Auth.toHex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
  }

  test("embedded: a correct AUTH gets OK, lifts the frame limit and removes the auth handler") {
    val secret = Auth.newSecret()
    val ch = embedded(secret)
    val challenge = written(ch).head
    assert(challenge.op == Op.Challenge && challenge.payload.readableBytes() == 32)
    val nonce = ByteBufUtil.getBytes(challenge.payload)
    ch.writeInbound(auth(Auth.hmac(secret, nonce)))
    val ok = written(ch)
    assert(ok.map(_.op) == Seq(Op.Ok) && ok.head.worker == 3)
    assert(ch.pipeline().get(classOf[AuthHandler]) == null)
    assert(ch.pipeline().get(classOf[FrameDecoder]).maxFrameBytes == (1 << 20))
    // a frame far over the pre-auth limit now flows through
    ch.writeInbound(
      Unpooled.wrappedBuffer(
        encode(Frame(Op.Push, 0, 3, 0L, Unpooled.wrappedBuffer(new Array[Byte](4000))))
      )
    )
    val frame = ch.readInbound[Frame]()
    assert(frame.op == Op.Push && frame.payload.readableBytes() == 4000)
    frame.release()
    assert(ch.isOpen)
  }

  test("embedded: a wrong secret closes the channel") {
    val ch = embedded(Auth.newSecret())
    val nonce = ByteBufUtil.getBytes(written(ch).head.payload)
    ch.writeInbound(auth(Auth.hmac(Auth.newSecret(), nonce)))
    assert(!ch.isOpen)
    assert(written(ch).isEmpty)
    ch.finishAndReleaseAll()
  }

  test("embedded: any other op before AUTH closes the channel") {
    val ch = embedded(Auth.newSecret())
    ch.writeInbound(Unpooled.wrappedBuffer(encode(Frame(Op.Pull, 0, 0, 0L, Unpooled.EMPTY_BUFFER))))
    assert(!ch.isOpen)
    ch.finishAndReleaseAll()
  }

  test("embedded: an oversize frame before AUTH closes the channel") {
    val ch = embedded(Auth.newSecret())
    ch.writeInbound(
      Unpooled.wrappedBuffer(
        encode(Frame(Op.Auth, 0, 0, 0L, Unpooled.wrappedBuffer(new Array[Byte](300))))
      )
    )
    assert(!ch.isOpen)
    ch.finishAndReleaseAll()
  }

  private val conf = ParameterServerConf(numWorkers = 1, numParams = 10, authTimeoutMs = 500)

  test("server: the right secret works, a wrong one is closed and counted") {
    withServer(conf) { server =>
      using(TestClient.connect(server, worker = 0)) { c =>
        assert(c.pull().toSeq == Seq.fill(10)(0f))
      }
      using(new TestClient(server.host, server.boundPort, 0)) { c =>
        // no reply: the server closes the socket
        assertThrows[java.io.IOException](c.authenticate(Auth.newSecret()))
      }
    }
  }

  test("server: a wrong secret closes only that connection") {
    withServer(conf) { server =>
      using(TestClient.connect(server, worker = 0)) { good =>
        using(new TestClient(server.host, server.boundPort, 0)) { bad =>
          val challenge = bad.read()
          bad.send(Op.Auth, payload = Auth.hmac(Auth.newSecret(), challenge.payload))
          assert(bad.closedByServer())
        }
        assert(good.pull().length == 10)
        assert(server.statsJson().contains("\"authFailures\":1"))
      }
    }
  }

  test("server: an oversize frame before AUTH closes the connection") {
    withServer(conf) { server =>
      using(new TestClient(server.host, server.boundPort, 0)) { c =>
        c.read()
        c.send(Op.Auth, payload = new Array[Byte](300))
        assert(c.closedByServer())
      }
    }
  }

  test("server: a connection that never authenticates is closed after authTimeoutMs") {
    withServer(conf) { server =>
      using(new TestClient(server.host, server.boundPort, 0)) { c =>
        assert(c.read().op == Op.Challenge)
        assert(c.closedByServer())
      }
    }
  }
}

package loxodon.ps

import java.nio.{ByteBuffer, ByteOrder}
import java.nio.charset.StandardCharsets.UTF_8

import org.scalatest.funsuite.AnyFunSuite

import loxodon.ps.TestClient.{bytes, floats}

class LayoutAdoptionSuite extends AnyFunSuite with ServerFixture {

  private def registerPayload(n: Long, layout: String): Array[Byte] = {
    val l = layout.getBytes(UTF_8)
    ByteBuffer.allocate(8 + l.length).order(ByteOrder.BIG_ENDIAN).putLong(n).put(l).array()
  }

  /** (numParams, numWorkers, layout) of a REGISTER reply. */
  private def parse(reply: Array[Byte]): (Long, Int, String) = {
    val b = ByteBuffer.wrap(reply).order(ByteOrder.BIG_ENDIAN)
    (b.getLong, b.getInt, new String(reply, 12, reply.length - 12, UTF_8))
  }

  test("a server without a size adopts the first registrant's size and layout") {
    withServer(ParameterServerConf(numWorkers = 2, numParams = 0)) { server =>
      using(TestClient.connect(server, worker = 0)) { c =>
        val early = c.request(Op.Pull)
        assert(early.op == Op.Error && early.text.contains("no layout yet"))
        val push = c.request(Op.Push, payload = bytes(Array(1f)))
        assert(push.op == Op.Error && push.text.contains("no layout yet"))
        assert(parse(c.ok(Op.Register)) == ((0L, 2, "{}")))

        val layout = """{"weights": [{"name": "w", "shape": [3]}]}"""
        assert(parse(c.ok(Op.Register, payload = registerPayload(3, layout))) == ((3L, 2, layout)))
        assert(server.numParams == 3 && server.layoutJson == layout)
        assert(c.push(Array(1f, 2f, 3f)) == 1L)
        assert(c.pull().toSeq == Seq(1f, 2f, 3f))
      }
      using(TestClient.connect(server, worker = 1)) { c =>
        assert(parse(c.ok(Op.Register, payload = registerPayload(3, "{}")))._1 == 3L)
        val other = c.request(Op.Register, payload = registerPayload(5, "{}"))
        assert(other.op == Op.Error)
        assert(other.text.contains("5 parameters") && other.text.contains("holds 3"), other.text)
        assert(floats(c.ok(Op.Pull)).length == 3)
      }
    }
  }

  test("a server with a size refuses a REGISTER of another size, naming both") {
    withServer(ParameterServerConf(numWorkers = 1, numParams = 4, layoutJson = "{\"a\":1}")) {
      server =>
        using(TestClient.connect(server, worker = 0)) { c =>
          assert(
            parse(c.ok(Op.Register, payload = registerPayload(4, "{}"))) == ((4L, 1, "{\"a\":1}"))
          )
          val r = c.request(Op.Register, payload = registerPayload(7, "{}"))
          assert(r.op == Op.Error && r.text.contains("7") && r.text.contains("4"))
        }
    }
  }

  test("a size whose vector exceeds maxFrameBytes is refused") {
    withServer(ParameterServerConf(numWorkers = 1, numParams = 0, maxFrameBytes = 4096)) { server =>
      using(TestClient.connect(server, worker = 0)) { c =>
        val r = c.request(Op.Register, payload = registerPayload(10000, "{}"))
        assert(r.op == Op.Error && r.text.contains("maxFrameBytes"))
        assert(c.request(Op.Pull).text.contains("no layout yet"))
      }
    }
  }
}

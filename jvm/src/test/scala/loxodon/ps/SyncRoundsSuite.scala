package loxodon.ps

import scala.concurrent.duration._

import com.fasterxml.jackson.databind.ObjectMapper
import org.scalatest.concurrent.Eventually
import org.scalatest.funsuite.AnyFunSuite

import loxodon.ps.TestClient.{bytes, floats}

class SyncRoundsSuite extends AnyFunSuite with ServerFixture with Eventually {

  /** Waits (bounded) until the server holds `n` open rounds: a sent frame has been taken. */
  private def awaitOpenRounds(server: ParameterServer, n: Int): Unit =
    eventually(timeout(10.seconds), interval(2.millis)) {
      assert(new ObjectMapper().readTree(server.statsJson()).get("openRounds").asInt == n)
    }

  private def conf(numWorkers: Int, numParams: Int, timeoutMs: Long = 30000L, alpha: Double = 0.1) =
    ParameterServerConf(
      numWorkers = numWorkers,
      numParams = numParams,
      syncTimeoutMs = timeoutMs,
      easgdAlpha = alpha
    )

  test("SYNC of 2 workers returns the mean to both, echoing the round") {
    withServer(conf(2, 3)) { server =>
      val replies = parallel(Seq(0, 1).map { w => () =>
        using(TestClient.connect(server, worker = w)) { c =>
          val v = if (w == 0) Array(1f, 2f, 3f) else Array(3f, 4f, 11f)
          val first = c.request(Op.Sync, round = 9L, payload = bytes(v))
          val second = c.sync(10L, Array.fill(3)(w.toFloat))
          (first, second)
        }
      })
      replies.foreach { case (first, second) =>
        assert(first.op == Op.Ok && first.round == 9L)
        assert(floats(first.payload).toSeq == Seq(2f, 3f, 7f))
        assert(second.toSeq == Seq.fill(3)(0.5f))
      }
      assert(server.updateCount == 0L) // SYNC leaves the center alone
      assert(server.statsJson().contains("\"roundsCompleted\":2"))
    }
  }

  test("a round missing a worker fails within its deadline, naming the round and the worker") {
    withServer(conf(2, 4, timeoutMs = 300L)) { server =>
      using(TestClient.connect(server, worker = 0)) { c =>
        val t0 = System.nanoTime()
        val reply = c.request(Op.Sync, round = 3L, payload = bytes(Array.fill(4)(1f)))
        val waitedMs = (System.nanoTime() - t0) / 1000000
        assert(reply.op == Op.Error && reply.round == 3L)
        assert(
          reply.text == "sync round 3 timed out after 300 ms waiting for worker(s) 1 (arrived: 0)"
        )
        assert(waitedMs >= 250 && waitedMs < 5000, s"waited $waitedMs ms")
        assert(c.pull().length == 4) // the connection is still usable
      }
      assert(server.statsJson().contains("\"roundsFailed\":1"))
    }
  }

  test("a second arrival of the same worker in a round is an ERROR; the round goes on") {
    withServer(conf(2, 2)) { server =>
      using(TestClient.connect(server, worker = 0)) { first =>
        using(TestClient.connect(server, worker = 0)) { dup =>
          using(TestClient.connect(server, worker = 1)) { other =>
            first.send(Op.Sync, round = 5L, payload = bytes(Array(2f, 2f)))
            awaitOpenRounds(server, 1)
            val refused = dup.request(Op.Sync, round = 5L, payload = bytes(Array(9f, 9f)))
            assert(refused.op == Op.Error && refused.text.contains("worker 0 already sent"))
            assert(other.sync(5L, Array(4f, 0f)).toSeq == Seq(3f, 1f))
            assert(floats(first.read().okPayload).toSeq == Seq(3f, 1f))
          }
        }
      }
    }
  }

  test("worker ids outside 0 until N cannot join a round") {
    withServer(conf(2, 2)) { server =>
      using(TestClient.connect(server, worker = -1)) { c =>
        val reply = c.request(Op.Sync, round = 0L, payload = bytes(Array(1f, 1f)))
        assert(reply.op == Op.Error, reply.text)
        assert(
          reply.text == "worker id -1 cannot join SYNC round 0: the workers are 0 to 1",
          reply.text
        )
      }
    }
  }

  test("asynchronous EASGD: e = alpha (x - c), c += e") {
    withServer(conf(1, 2, alpha = 0.5)) { server =>
      server.setCenter(bytes(Array(1f, 2f)))
      using(TestClient.connect(server, worker = 0)) { c =>
        assert(c.easgd(Array(3f, 6f)).toSeq == Seq(1f, 2f))
        assert(c.pull().toSeq == Seq(2f, 4f))
        assert(c.easgd(Array(2f, 0f), round = -7L).toSeq == Seq(0f, -2f))
        assert(c.pull().toSeq == Seq(2f, 2f))
      }
      assert(server.updateCount == 2L)
    }
  }

  test("synchronous EASGD: every e_i uses the same c, then c += sum e_i") {
    withServer(conf(2, 2, alpha = 0.25)) { server =>
      val xs = Map(0 -> Array(2f, 4f), 1 -> Array(4f, 8f))
      val es = parallel(Seq(0, 1).map { w => () =>
        using(TestClient.connect(server, worker = w))(c => w -> c.easgd(xs(w), round = 0L).toSeq)
      }).toMap
      assert(es(0) == Seq(0.5f, 1f) && es(1) == Seq(1f, 2f))
      assert(server.center().toSeq == Seq(1.5f, 3f))
      assert(server.updateCount == 2L)
    }
  }

  test("an EASGD round missing a worker fails within its deadline") {
    withServer(conf(3, 2, timeoutMs = 200L)) { server =>
      val replies = parallel(Seq(0, 2).map { w => () =>
        using(TestClient.connect(server, worker = w)) { c =>
          c.request(Op.Easgd, round = 4L, payload = bytes(Array(1f, 1f)))
        }
      })
      replies.foreach { r =>
        assert(r.op == Op.Error)
        assert(
          r.text.contains("easgd sync round 4") && r.text.contains("worker(s) 1 (arrived: 0, 2)")
        )
      }
      assert(server.center().toSeq == Seq(0f, 0f))
    }
  }

  test("closing the server fails waiting rounds") {
    val server = ParameterServer.start(conf(2, 2))
    using(TestClient.connect(server, worker = 0)) { c =>
      c.send(Op.Sync, round = 1L, payload = bytes(Array(1f, 1f)))
      awaitOpenRounds(server, 1)
      server.close()
      val reply = c.read()
      assert(reply.op == Op.Error && reply.text.contains("stopping"))
    }
  }
}

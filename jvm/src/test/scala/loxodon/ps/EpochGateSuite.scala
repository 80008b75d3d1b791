package loxodon.ps

import java.nio.charset.StandardCharsets.UTF_8
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit.SECONDS

import scala.concurrent.duration._

import com.fasterxml.jackson.databind.ObjectMapper
import org.scalatest.concurrent.Eventually
import org.scalatest.funsuite.AnyFunSuite

class EpochGateSuite extends AnyFunSuite with ServerFixture with Eventually {

  private def conf(numWorkers: Int, syncMs: Long = 30000L, releaseMs: Long = 30000L) =
    ParameterServerConf(
      numWorkers = numWorkers,
      numParams = 2,
      syncTimeoutMs = syncMs,
      releaseTimeoutMs = releaseMs
    )

  /** A listener that queues (epoch, reports). */
  private final class Recorder extends EpochListener {
    val seen = new LinkedBlockingQueue[(Int, Seq[String])]()
    override def onEpoch(epoch: Int, reports: Seq[String]): Unit = seen.put((epoch, reports))
  }

  private def report(w: Int): Array[Byte] =
    s"""{"rows": ${10 + w}, "samples": 32, "seconds": 0.5, "loss": $w}""".getBytes(UTF_8)

  private def openEpochs(server: ParameterServer): Int =
    new ObjectMapper().readTree(server.statsJson()).get("openEpochs").asInt

  private def roundsFailed(server: ParameterServer): Int =
    new ObjectMapper().readTree(server.statsJson()).get("roundsFailed").asInt

  /** The next frame `c` reads is the reply to a PULL sent now: nothing else was written to it. */
  private def assertNoReplyYet(c: TestClient): Unit = {
    val r = c.request(Op.Pull, round = 99L)
    assert(r.op == Op.Ok && r.round == 99L && r.payload.length == 8, (Op.name(r.op), r.round))
  }

  /** Returns once the wall clock is past `timeMs` (a deadline that must have passed, not a guess at
    * how long something takes).
    */
  private def awaitPast(timeMs: Long): Unit =
    while (System.currentTimeMillis() <= timeMs)
      Thread.sleep(timeMs + 1 - System.currentTimeMillis())

  test("all workers' reports reach the listener; replies wait for the release, with stop") {
    withServer(conf(2)) { server =>
      val recorder = new Recorder
      server.setEpochListener(recorder)
      using(TestClient.connect(server, worker = 0)) { c0 =>
        using(TestClient.connect(server, worker = 1)) { c1 =>
          c1.send(Op.EpochEnd, round = 3L, payload = report(1))
          c0.send(Op.EpochEnd, round = 3L, payload = report(0))
          val (epoch, reports) = recorder.seen.poll(10, SECONDS)
          assert(epoch == 3)
          assert(reports == Seq(new String(report(0), UTF_8), new String(report(1), UTF_8)))
          // The gate stays open until the driver releases it: each connection's next frame is the
          // reply to a later PULL (a connection's requests are handled in order, so a gate reply
          // written at completion would come first).
          assert(openEpochs(server) == 1)
          Seq(c0, c1).foreach(c => assertNoReplyYet(c))
          assert(server.releaseEpoch(3, stop = false))
          Seq(c0, c1).foreach { c =>
            val r = c.read()
            assert(r.op == Op.Ok && r.round == 3L && !r.stop)
          }
          assert(!server.releaseEpoch(3, stop = false)) // already released

          c0.send(Op.EpochEnd, round = 4L, payload = report(0))
          c1.send(Op.EpochEnd, round = 4L, payload = report(1))
          assert(recorder.seen.poll(10, SECONDS)._1 == 4)
          assert(server.releaseEpoch(4, stop = true))
          Seq(c0, c1).foreach { c =>
            val r = c.read()
            assert(r.op == Op.Ok && r.round == 4L && r.stop)
          }
          assert(server.stopRequested)
        }
      }
    }
  }

  test("a retried stage drops the half-full gates of the dead attempt; complete ones stay") {
    val syncMs = 2000L
    withServer(conf(2, syncMs = syncMs)) { server =>
      val recorder = new Recorder
      server.setEpochListener(recorder)
      using(TestClient.connect(server, worker = 0)) { c0 =>
        using(TestClient.connect(server, worker = 1)) { c1 =>
          c0.send(Op.EpochEnd, round = 5L, payload = report(0))
          c1.send(Op.EpochEnd, round = 5L, payload = report(1))
          assert(recorder.seen.poll(10, SECONDS)._1 == 5) // complete, not yet released
          c0.send(Op.EpochEnd, round = 6L, payload = report(0)) // half full
          eventually(timeout(5.seconds))(assert(openEpochs(server) == 2))
          val droppedAt =
            System.currentTimeMillis() // the dropped gate's deadline is before +syncMs
          assert(server.dropIncompleteEpochs() == 1)
          val r = c0.read()
          assert(r.op == Op.Error && r.text.contains("epoch 6 abandoned"), r.text)
          assert(openEpochs(server) == 1)
          // A new attempt's gate for epoch 6 stays open across the dropped gate's deadline (its
          // own ends at least 1.5 x syncMs after the drop): that deadline fails nothing.
          awaitPast(droppedAt + syncMs / 2)
          c0.send(Op.EpochEnd, round = 6L, payload = report(0))
          eventually(timeout(5.seconds))(assert(openEpochs(server) == 2))
          awaitPast(droppedAt + syncMs + 300)
          assertNoReplyYet(c0)
          assert(roundsFailed(server) == 0 && openEpochs(server) == 2)
          c1.send(Op.EpochEnd, round = 6L, payload = report(1))
          assert(recorder.seen.poll(10, SECONDS)._1 == 6)
          assert(server.releaseEpoch(5, stop = false) && server.releaseEpoch(6, stop = false))
          Seq(c0, c1).foreach { c =>
            assert(
              Seq(c.read(), c.read()).map(r => (r.op, r.round)) == Seq((Op.Ok, 5L), (Op.Ok, 6L))
            )
          }
          assert(roundsFailed(server) == 0)
        }
      }
    }
  }

  test("a missing worker fails the epoch after syncTimeoutMs, naming the epoch and the worker") {
    withServer(conf(3, syncMs = 300L)) { server =>
      server.setEpochListener(new Recorder)
      val replies = parallel(Seq(0, 2).map { w => () =>
        using(TestClient.connect(server, worker = w)) { c =>
          c.request(Op.EpochEnd, round = 7L, payload = report(w))
        }
      })
      replies.foreach { r =>
        assert(r.op == Op.Error && r.round == 7L)
        assert(r.text.contains("epoch 7") && r.text.contains("worker(s) 1"), r.text)
      }
      assert(openEpochs(server) == 0)
    }
  }

  test("a driver that never releases fails the epoch after releaseTimeoutMs") {
    withServer(conf(1, releaseMs = 300L)) { server =>
      val recorder = new Recorder
      server.setEpochListener(recorder)
      using(TestClient.connect(server, worker = 0)) { c =>
        val t0 = System.nanoTime()
        val r = c.request(Op.EpochEnd, round = 2L, payload = report(0))
        val waitedMs = (System.nanoTime() - t0) / 1000000
        assert(r.op == Op.Error && r.text.contains("epoch 2 was not released"), r.text)
        assert(waitedMs >= 250, s"waited $waitedMs ms")
        assert(recorder.seen.size() == 1)
        assert(c.pull().length == 2) // the connection is still usable
      }
    }
  }

  test("a worker reporting twice is refused; a bad worker id too") {
    withServer(conf(2)) { server =>
      using(TestClient.connect(server, worker = 0)) { first =>
        using(TestClient.connect(server, worker = 0)) { dup =>
          first.send(Op.EpochEnd, round = 1L, payload = report(0))
          eventually(timeout(10.seconds))(assert(openEpochs(server) == 1))
          val refused = dup.request(Op.EpochEnd, round = 1L, payload = report(0))
          assert(refused.op == Op.Error && refused.text.contains("already reported epoch 1"))
        }
      }
      using(TestClient.connect(server, worker = 5)) { c =>
        val r = c.request(Op.EpochEnd, round = 1L, payload = report(5))
        assert(r.op == Op.Error && r.round == 1L, r.text)
        assert(
          r.text == "worker id 5 cannot join the end of epoch 1: the workers are 0 to 1",
          r.text
        )
      }
    }
  }

  test("closing the server fails the waiting workers") {
    val server = ParameterServer.start(conf(2))
    using(TestClient.connect(server, worker = 0)) { c =>
      c.send(Op.EpochEnd, round = 0L, payload = report(0))
      eventually(timeout(10.seconds))(assert(openEpochs(server) == 1))
      server.close()
      val r = c.read()
      assert(r.op == Op.Error && r.text.contains("stopping"))
    }
  }
}

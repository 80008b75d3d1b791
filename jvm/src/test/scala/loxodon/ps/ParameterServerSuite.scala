package loxodon.ps

import java.nio.{ByteBuffer, ByteOrder}
import java.nio.charset.StandardCharsets.UTF_8

import com.fasterxml.jackson.databind.ObjectMapper
import org.scalatest.funsuite.AnyFunSuite

import loxodon.ps.TestClient.{bytes, ServerError}

class ParameterServerSuite extends AnyFunSuite with ServerFixture {

  private def conf(numWorkers: Int = 1, numParams: Int = 10): ParameterServerConf =
    ParameterServerConf(
      numWorkers = numWorkers,
      numParams = numParams,
      layoutJson = """{"w":[10]}"""
    )

  test("start publishes host, port and secret; close is idempotent") {
    val server = ParameterServer.start(conf())
    assert(server.isRunning && server.boundPort > 0 && server.port == server.boundPort)
    assert(server.host == "127.0.0.1" && server.driverKeyHex.matches("[0-9a-f]{64}"))
    server.close()
    server.close()
    assert(!server.isRunning && server.awaitTermination(0))
    assert(ParameterServer.start(conf()).driverKeyHex != server.driverKeyHex)
  }

  test("REGISTER returns numParams, numWorkers and the layout") {
    withServer(conf(numWorkers = 3)) { server =>
      using(TestClient.connect(server, worker = 2)) { c =>
        val reply = ByteBuffer.wrap(c.ok(Op.Register))
        assert(reply.getLong == 10L && reply.getInt == 3)
        assert(new String(reply.array(), 12, reply.remaining(), UTF_8) == """{"w":[10]}""")
      }
    }
  }

  test("8 clients x 1000 locked pushes sum exactly") {
    withServer(conf(numWorkers = 8, numParams = 1000)) { server =>
      val ones = Array.fill(1000)(1f)
      val counts = parallel((0 until 8).map { w => () =>
        using(TestClient.connect(server, worker = w))(c => (1 to 1000).map(_ => c.push(ones)))
      })
      counts.foreach(cs => assert(cs == cs.sorted && cs.distinct.size == 1000))
      assert(counts.flatten.toSet == (1L to 8000L).toSet)
      assert(server.center().forall(_ == 8000f))
      assert(server.updateCount == 8000L)
      using(TestClient.connect(server))(c => assert(c.pull().forall(_ == 8000f)))
    }
  }

  test("8 clients x 1000 hogwild pushes all complete") {
    withServer(conf(numWorkers = 8, numParams = 1000)) { server =>
      val ones = Array.fill(1000)(1f)
      parallel((0 until 8).map { w => () =>
        using(TestClient.connect(server, worker = w))(c =>
          (1 to 1000).foreach(_ => c.pushHogwild(ones))
        )
      })
      assert(server.updateCount == 8000L)
      // a lost element update is allowed; a double or invented one is not
      assert(server.center().forall(v => v >= 1000f && v <= 8000f))
    }
  }

  test("PULL returns what was pushed and what the driver set") {
    withServer(conf(numParams = 4)) { server =>
      server.setCenter(bytes(Array(1f, 2f, 3f, 4f)))
      using(TestClient.connect(server, worker = 0)) { c =>
        assert(c.pull().toSeq == Seq(1f, 2f, 3f, 4f))
        assert(c.push(Array(0.5f, -2f, 0f, 1e6f)) == 1L)
        assert(c.pull().toSeq == Seq(1.5f, 0f, 3f, 1000004f))
      }
      assert(TestClient.floats(server.centerBytes()).toSeq == Seq(1.5f, 0f, 3f, 1000004f))
      assertThrows[IllegalArgumentException](server.setCenter(new Array[Byte](12)))
    }
  }

  test("a 10M-float vector goes both ways") {
    val n = 10 * 1000 * 1000
    withServer(conf(numParams = n)) { server =>
      using(TestClient.connect(server, worker = 0)) { c =>
        val delta = Array.tabulate(n)(i => (i % 1000).toFloat)
        c.push(delta)
        val back = c.pull()
        assert(java.util.Arrays.equals(back, delta))
      }
    }
  }

  test("4 clients pushing and pulling 1M floats: exact sums, and every PULL is whole updates") {
    // Large frames go through FrameReads (socket reads into the frame's buffer), PULL replies are
    // the center's own buffer, and a PUSH meanwhile must copy instead of writing into it.
    val n = 1 << 20
    withServer(conf(numWorkers = 4, numParams = n)) { server =>
      val ones = Array.fill(n)(1f)
      parallel((0 until 4).map { w => () =>
        using(TestClient.connect(server, worker = w)) { c =>
          (1 to 40).foreach { _ =>
            c.push(ones)
            val v = c.pull()
            val whole = v.length == n && v.forall(_ == v(0))
            assert(whole, s"a torn PULL: ${v(0)} .. ${v(n - 1)}")
          }
        }
      })
      assert(server.updateCount == 160L && server.center().forall(_ == 160f))
    }
  }

  test("a vector of the wrong length gets an ERROR naming both lengths; the connection survives") {
    withServer(conf()) { server =>
      using(TestClient.connect(server, worker = 0)) { c =>
        for (op <- Seq(Op.Push, Op.PushHogwild, Op.Sync, Op.Easgd)) {
          val reply = c.request(op, payload = bytes(Array(1f, 2f, 3f)))
          assert(reply.op == Op.Error, Op.name(op))
          assert(reply.text.contains("3 float32 values") && reply.text.contains("numParams 10"))
        }
        val odd = c.request(Op.Push, payload = new Array[Byte](13))
        assert(odd.op == Op.Error && odd.text.contains("13 bytes") && odd.text.contains("10"))
        assert(c.push(Array.fill(10)(1f)) == 1L)
        assert(c.pull().forall(_ == 1f))
      }
    }
  }

  test("unknown ops and protocol-only ops get an ERROR; the connection survives") {
    withServer(conf()) { server =>
      using(TestClient.connect(server, worker = 0)) { c =>
        val unknown = c.request(99, round = 5L)
        assert(unknown.op == Op.Error && unknown.text == "unknown op 99" && unknown.round == 5L)
        assert(c.request(Op.Auth).op == Op.Error)
        assert(c.pull().length == 10)
      }
    }
  }

  test("PUT_BLOB / GET_BLOB round trip; a missing blob is an ERROR naming it") {
    withServer(conf()) { server =>
      using(TestClient.connect(server, worker = 0)) { c =>
        val blob = Array.tabulate[Byte](100000)(_.toByte)
        assert(c.ok(Op.PutBlob, key = "model-7", payload = blob).isEmpty)
        assert(java.util.Arrays.equals(c.ok(Op.GetBlob, key = "model-7"), blob))
        assert(server.blob("model-7").exists(java.util.Arrays.equals(_, blob)))
        val missing = intercept[ServerError](c.ok(Op.GetBlob, key = "no-such-model"))
        assert(missing.getMessage.contains("no-such-model"))
        assert(c.request(Op.PutBlob, payload = blob).op == Op.Error) // no name
        server.putBlob("from-driver", Array[Byte](1, 2))
        assert(c.ok(Op.GetBlob, key = "from-driver").toSeq == Seq[Byte](1, 2))
      }
    }
  }

  test("STATS is JSON with the counters") {
    withServer(conf()) { server =>
      using(TestClient.connect(server, worker = 0)) { c =>
        c.push(Array.fill(10)(1f))
        c.push(Array.fill(10)(1f))
        c.pull()
        val json = new ObjectMapper().readTree(c.ok(Op.Stats))
        assert(json.get("updates").asLong == 2L)
        assert(json.get("workers").get("0").asLong == 4L) // 2 pushes, a pull, this STATS
        assert(json.get("ops").get("PUSH").asLong == 2L)
        assert(json.get("bytesIn").asLong >= 2 * (22 + 40))
        assert(json.get("bytesOut").asLong >= 22 + 40)
        assert(json.get("numParams").asInt == 10 && !json.get("stopRequested").asBoolean)
      }
      val driverView = new ObjectMapper().readTree(server.statsJson())
      assert(driverView.get("connections").asLong == 1L)
    }
  }

  test("the stop flag appears in every reply once requested, by the driver or by op STOP") {
    withServer(conf()) { server =>
      using(TestClient.connect(server, worker = 0)) { c =>
        assert(!c.request(Op.Pull).stop)
        server.requestStop()
        assert(c.request(Op.Pull).stop)
        assert(c.request(99).stop) // ERROR replies carry it too
      }
    }
    withServer(conf()) { server =>
      using(TestClient.connect(server, worker = 0)) { a =>
        using(TestClient.connect(server, worker = 0)) { b =>
          assert(!b.request(Op.Pull).stop)
          val ok = a.request(Op.Stop)
          assert(ok.op == Op.Ok && ok.stop)
          assert(b.request(Op.Pull).stop && server.stopRequested)
        }
      }
    }
  }

  test("SHUTDOWN replies OK, then the server stops") {
    val server = ParameterServer.start(conf())
    try {
      using(TestClient.connect(server, worker = 0)) { c =>
        assert(c.request(Op.Shutdown).op == Op.Ok)
        assert(server.awaitTermination(10000))
        assert(!server.isRunning)
        assert(c.closedByServer())
      }
      assertThrows[java.io.IOException](new TestClient(server.host, server.boundPort, 0).read())
    } finally server.close()
  }

  test("a bad version or an oversize frame after auth closes that connection only") {
    val small = conf().copy(maxFrameBytes = 4096)
    withServer(small) { server =>
      using(TestClient.connect(server, worker = 0)) { good =>
        using(TestClient.connect(server, worker = 0)) { c =>
          c.send(Op.Pull, version = 2)
          assert(c.closedByServer())
        }
        using(TestClient.connect(server, worker = 0)) { c =>
          c.sendRaw(
            ByteBuffer.allocate(5).order(ByteOrder.BIG_ENDIAN).putInt(5000).put(1.toByte).array()
          )
          assert(c.closedByServer())
        }
        assert(good.pull().length == 10)
      }
    }
  }

  test("configuration errors are clear") {
    val e = intercept[IllegalArgumentException](ParameterServerConf(1, 1000, maxFrameBytes = 1000))
    assert(e.getMessage.contains("maxFrameBytes 1000") && e.getMessage.contains("4022 bytes"))
    assertThrows[IllegalArgumentException](ParameterServerConf(0, 10))
  }
}

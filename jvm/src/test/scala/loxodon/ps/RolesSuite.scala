package loxodon.ps

import java.nio.ByteBuffer
import java.nio.charset.StandardCharsets.UTF_8

import org.scalatest.funsuite.AnyFunSuite

/** The driver's and the workers' keys, the blob cap, the report checks and TLS, against a real
  * server over sockets ([[TestClient]]): each refusal's exact ERROR.
  */
class RolesSuite extends AnyFunSuite with ServerFixture {

  private def conf(numWorkers: Int = 2, tls: Boolean = false, maxBlobBytes: Long = 1L << 30) =
    ParameterServerConf(
      numWorkers = numWorkers,
      numParams = 4,
      maxBlobBytes = maxBlobBytes,
      tls = tls
    )

  private def nextUnitPayload(report: String, state: Array[Byte] = Array.empty): Array[Byte] = {
    val text = report.getBytes(UTF_8)
    ByteBuffer
      .allocate(4 + text.length + state.length)
      .putInt(text.length)
      .put(text)
      .put(state)
      .array()
  }

  test("keys derive from the secret: the driver's and each worker's differ") {
    val secret = Auth.newSecret()
    val keys = Auth.driverKey(secret) +: (0 until 3).map(Auth.workerKey(secret, _))
    assert(keys.map(Auth.toHex).distinct.size == 4 && keys.forall(_.length == Auth.MacBytes))
    assert(Auth.toHex(Auth.workerKey(secret, 1)) == Auth.toHex(Auth.workerKey(secret, 1)))
  }

  test("a worker's key is refused SHUTDOWN, STOP, other workers' ids and reserved blobs") {
    withServer(conf()) { server =>
      using(TestClient.connectAs(server, 1)) { c =>
        assert(
          c.request(Op.Shutdown).text ==
            "SHUTDOWN refused: SHUTDOWN needs the driver's key; worker 1's key cannot send it"
        )
        assert(
          c.request(Op.Stop).text ==
            "STOP refused: STOP needs the driver's key; worker 1's key cannot send it"
        )
        val other = c.request(Op.Pull, workerOverride = Some(0))
        assert(other.op == Op.Error)
        assert(
          other.text == "PULL refused: this connection holds worker 1's key and cannot speak " +
            "for worker 0"
        )
        val blob = c.request(Op.PutBlob, key = "loxodon/next_epoch", payload = Array[Byte](1))
        assert(
          blob.text == "PUT_BLOB refused: blob 'loxodon/next_epoch' is reserved: worker 1's key " +
            "may not write it"
        )
        assert(
          c.request(Op.PutBlob, key = "loxodon/worker/1/x", payload = Array[Byte](1)).op == Op.Ok
        )
      }
      assert(server.isRunning && !server.stopRequested && !server.hasBlob("loxodon/next_epoch"))
      // A worker's key names only its own worker: with another id the handshake fails.
      using(new TestClient(server.host, server.boundPort, 0)) { c =>
        val refused =
          try c.authenticate(Auth.fromHex(server.workerKeyHex(1))).op
          catch { case _: java.io.IOException => -1 }
        assert(refused != Op.Ok)
      }
      using(TestClient.connect(server)) { driver =>
        assert(driver.request(Op.Stop).op == Op.Ok)
        assert(server.stopRequested)
      }
    }
  }

  test("NEXT_UNIT: a malformed report and a state under another name are ERRORs") {
    withServer(conf()) { server =>
      server.setUnitSource(new UnitSource {
        override def next(worker: Int, report: String, reply: HandedUnit => Unit): Unit =
          reply(HandedUnit("""{"kind": "stop"}"""))
        override def expectedBlob(worker: Int): Option[String] = Some(s"sel/0/state/$worker")
      })
      using(TestClient.connectAs(server, 1)) { c =>
        val notJson = c.request(Op.NextUnit, payload = nextUnitPayload("{unit"))
        assert(notJson.op == Op.Error && notJson.text.startsWith("NEXT_UNIT from worker 1: "))
        assert(notJson.text.contains("not valid JSON"), notJson.text)
        assert(
          c.request(Op.NextUnit, payload = nextUnitPayload("""{"unit": "three"}""")).text ==
            """NEXT_UNIT from worker 1: the report has neither "hello": true nor an integer "unit""""
        )
        assert(
          c.request(Op.NextUnit, payload = Array[Byte](0, 0)).text ==
            "NEXT_UNIT from worker 1: a payload of 2 bytes lacks the 4-byte report length"
        )
        val wrongName = c.request(
          Op.NextUnit,
          key = "sel/0/archive",
          payload = nextUnitPayload("""{"unit": 3}""", Array[Byte](9))
        )
        assert(
          wrongName.text == "NEXT_UNIT refused: worker 1 may store its unit's state only under " +
            "'sel/0/state/1', not 'sel/0/archive'"
        )
        assert(!server.hasBlob("sel/0/archive"))
        val ok = c.request(
          Op.NextUnit,
          key = "sel/0/state/1",
          payload = nextUnitPayload("""{"unit": 3}""", Array[Byte](9))
        )
        assert(ok.op == Op.Ok && server.blob("sel/0/state/1").map(_.toSeq).contains(Seq[Byte](9)))
      }
    }
  }

  test("EPOCH_END: a malformed report is an ERROR naming the worker, and joins no gate") {
    withServer(conf()) { server =>
      using(TestClient.connectAs(server, 0)) { c =>
        val reply = c.request(Op.EpochEnd, round = 2, payload = """{"rows": 3}""".getBytes(UTF_8))
        assert(
          reply.text == "EPOCH_END of epoch 2 from worker 0: the report lacks the numbers " +
            "samples, seconds"
        )
        // NaN (a diverged loss, as Python writes it) is a number here, not a malformed report.
        val nan = """{"rows": 3, "samples": 3, "seconds": 1, "loss": NaN}"""
        assert(Reports.epochProblem(nan).isEmpty)
        assert(server.statsJson().contains("\"openEpochs\":0"))
      }
    }
  }

  test("the blob store refuses a PUT past its cap, naming it") {
    withServer(conf(maxBlobBytes = 100)) { server =>
      using(TestClient.connectAs(server, 0)) { c =>
        assert(c.request(Op.PutBlob, key = "a", payload = new Array[Byte](60)).op == Op.Ok)
        assert(
          c.request(Op.PutBlob, key = "b", payload = new Array[Byte](60)).text ==
            "blob 'b' (60 bytes) would bring the blob store to 120 bytes, over its cap of 100 " +
            "bytes (spark.loxodon.ps.maxBlobBytes)"
        )
        assert(c.request(Op.PutBlob, key = "a", payload = new Array[Byte](100)).op == Op.Ok)
      }
      val e = intercept[IllegalArgumentException](server.putBlob("c", new Array[Byte](1)))
      assert(e.getMessage.contains("over its cap of 100 bytes"))
      assert(server.blob("a").map(_.length).contains(100) && !server.hasBlob("c"))
    }
  }

  test("TLS: a round trip with the pinned certificate; clear text gets no frame") {
    withServer(conf(tls = true)) { server =>
      assert(server.tlsSha256.matches("[0-9a-f]{64}") && server.address.tlsSha256.nonEmpty)
      using(TestClient.connectAs(server, 0)) { c =>
        assert(c.peerSha256 == server.tlsSha256)
        val delta = TestClient.bytes(Array(1f, 2f, 3f, 4f))
        assert(TestClient.long(c.ok(Op.Push, payload = delta)) == 1L)
        assert(TestClient.floats(c.ok(Op.Pull)).toSeq == Seq(1f, 2f, 3f, 4f))
      }
      using(new TestClient(server.host, server.boundPort, 0, timeoutMs = 2000)) { clear =>
        // The server waits for a TLS ClientHello: no CHALLENGE ever comes in clear.
        val got =
          try Some(clear.authenticate(Auth.fromHex(server.workerKeyHex(0))))
          catch { case _: java.io.IOException | _: IllegalArgumentException => None }
        assert(got.isEmpty)
      }
      assert(server.isRunning)
    }
  }

  test("the TASK spec's ps object carries one worker's key and the pin, never the driver's key") {
    withServer(conf(numWorkers = 3, tls = true)) { server =>
      val json = server.address.json(2)
      assert(json.path("secret").asText() == server.workerKeyHex(2))
      assert(json.path("tls_sha256").asText() == server.tlsSha256)
      assert(!server.address.toString.contains(server.driverKeyHex))
    }
  }
}

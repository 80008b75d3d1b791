package loxodon.exec

import java.nio.charset.StandardCharsets.UTF_8
import java.nio.file.{Files, Path, Paths}
import java.nio.file.attribute.PosixFilePermissions

import org.scalatest.BeforeAndAfterAll
import org.scalatest.funsuite.AnyFunSuite

import loxodon.io.Json

/** The pool and the message protocol against `fake_worker.py` (stdlib Python, no TensorFlow). */
class PythonWorkerPoolSuite extends AnyFunSuite with BeforeAndAfterAll {
  private val dir: Path = Files.createTempDirectory("loxodon-fake-worker")

  /** An executable that runs the fake worker in `mode` (the pool passes `-m loxodon.worker`). */
  private def interpreter(mode: String): String = {
    val script = Paths.get(getClass.getResource("/fake_worker.py").toURI)
    val exe = dir.resolve(s"python-$mode")
    Files.write(exe, s"#!/bin/sh\nexec python3 $script $mode \"$$@\"\n".getBytes(UTF_8))
    Files.setPosixFilePermissions(exe, PosixFilePermissions.fromString("rwxr-xr-x"))
    exe.toString
  }

  private def hasPython3: Boolean =
    sys.env
      .getOrElse("PATH", "")
      .split(':')
      .exists(p => Files.isExecutable(Paths.get(p, "python3")))

  override def afterAll(): Unit = PythonWorkerPool.shutdown()

  private def task(kind: String) = {
    val t = Json.obj().put("kind", kind).put("partition", 3)
    t.set[com.fasterxml.jackson.databind.JsonNode]("attachments", Json.arr().add("model"))
    t
  }

  /** One task through [[WorkerSession]] (GPUs through the pool directly, for the key test). */
  private def run(python: String, kind: String, gpus: String = ""): String =
    if (gpus.isEmpty) {
      WorkerSession.run(3, task(kind), Seq("model" -> "model".getBytes(UTF_8)), 20000L, python)(_ =>
        ()
      )((m, _) => m.text)
    } else {
      val lease = PythonWorkerPool.lease(python, gpus)
      lease.channel.sendJson(WorkerChannel.Task, task(kind))
      lease.channel.send(WorkerChannel.Attachment, "model".getBytes(UTF_8))
      var m = lease.channel.receive(System.currentTimeMillis() + 20000)
      while (m.kind == WorkerChannel.Event)
        m = lease.channel.receive(System.currentTimeMillis() + 20000)
      lease.release()
      m.text
    }

  test("a worker is reused after a RESULT and keyed by its GPUs") {
    assume(hasPython3, "python3 is not on PATH")
    val python = interpreter("ok")
    val first = Json.parse(run(python, "echo"), "result")
    assert(first.path("spec").path("kind").asText() == "echo")
    // Outside a task, no GPUs: an empty `gpus` and the environment left alone.
    assert(first.path("spec").path("gpus").asText("absent") == "")
    assert(first.path("cuda").isNull)
    val second = Json.parse(run(python, "echo"), "result")
    assert(second.path("pid").asLong() == first.path("pid").asLong())
    val gpu = Json.parse(run(python, "echo", gpus = "1"), "result")
    assert(gpu.path("pid").asLong() != first.path("pid").asLong())
    assert(gpu.path("cuda").asText() == "1")
    assert(Json.parse(run(python, "echo", gpus = "1"), "result").path("pid") == gpu.path("pid"))
    assert(PythonWorkerPool.idleCount >= 2)
  }

  test("an ERROR becomes an exception with the traceback; that worker is not reused") {
    assume(hasPython3, "python3 is not on PATH")
    val python = interpreter("ok")
    val before = Json.parse(run(python, "echo"), "result").path("pid").asLong()
    val e = intercept[PythonWorkerException](run(python, "fail"))
    assert(
      e.getMessage == "Python worker for partition 3 failed: ValueError: bad input\n" +
        "Traceback (most recent call last):\n  boom"
    )
    val after = Json.parse(run(python, "echo"), "result").path("pid").asLong()
    assert(after != before)
  }

  test("a Python without loxodon gets an error naming the fix") {
    assume(hasPython3, "python3 is not on PATH")
    val e = intercept[IllegalStateException](PythonWorkerPool.lease(interpreter("nomodule"), ""))
    assert(e.getMessage.contains("lacks the loxodon package"))
    assert(e.getMessage.contains("spark.pyspark.python") && e.getMessage.contains("PYSPARK_PYTHON"))
    assert(e.getMessage.contains("No module named 'loxodon'"))
  }

  test("a worker of another loxodon version is refused, naming both versions") {
    assume(hasPython3, "python3 is not on PATH")
    val e = intercept[IllegalStateException](PythonWorkerPool.lease(interpreter("old"), ""))
    assert(e.getMessage.contains("9.9.9") && e.getMessage.contains("0.1.0"))
  }

  /** One echo task over a fresh lease of `worker`; the RESULT. */
  private def echo(worker: PythonWorker): com.fasterxml.jackson.databind.JsonNode = {
    val channel = worker.connect()
    try {
      channel.sendJson(WorkerChannel.Task, task("echo"))
      channel.send(WorkerChannel.Attachment, "model".getBytes(UTF_8))
      var m = channel.receive(System.currentTimeMillis() + 20000)
      while (m.kind == WorkerChannel.Event) m = channel.receive(System.currentTimeMillis() + 20000)
      assert(m.kind == WorkerChannel.Result)
      m.json
    } finally channel.close()
  }

  test("a lease answers the worker's challenge, in clear or over TLS with a pinned certificate") {
    assume(hasPython3, "python3 is not on PATH")
    val secret = loxodon.ps.Auth.newSecret()
    val hex = loxodon.ps.Auth.toHex(secret)
    for (tls <- Seq(None, Some(loxodon.ps.ServerTls.generate()))) {
      val worker = PythonWorker.spawn(interpreter("ok"), "", secret, hex, "0.1.0", 20000L, tls)
      try {
        val result = echo(worker)
        assert(result.path("tls").asBoolean() == tls.isDefined)
        assert(result.path("spec").path("kind").asText() == "echo")
      } finally worker.destroy()
    }
  }

  test("a JVM that cannot answer the challenge gets no message") {
    assume(hasPython3, "python3 is not on PATH")
    val secret = loxodon.ps.Auth.newSecret()
    val wrong = PythonWorker.spawn(
      interpreter("ok"),
      "",
      loxodon.ps.Auth.newSecret(), // answers with another secret than the worker's
      loxodon.ps.Auth.toHex(secret),
      "0.1.0",
      20000L
    )
    try {
      val channel = wrong.connect()
      try {
        intercept[java.io.IOException] {
          channel.sendJson(WorkerChannel.Task, task("echo"))
          channel.receive(System.currentTimeMillis() + 20000)
        }
      } finally channel.close()
    } finally wrong.destroy()
  }

  test("an interpreter that does not exist is named") {
    val e = intercept[IllegalStateException](PythonWorkerPool.lease("/no/such/python", ""))
    assert(
      e.getMessage.contains("/no/such/python") && e.getMessage.contains("spark.pyspark.python")
    )
  }
}

package loxodon.train

import org.scalatest.funsuite.AnyFunSuite

import loxodon.io.Json

class EpochReportsSuite extends AnyFunSuite {
  private val reports = Seq(
    """{"rows": 30, "samples": 32, "seconds": 2.0, "loss": 1.0, "accuracy": 0.5,
      | "val_rows": 10, "val_loss": 2.0, "val_accuracy": 0.4}""".stripMargin,
    """{"rows": 10, "samples": 32, "seconds": 4.0, "loss": 3.0, "accuracy": 0.9,
      | "val_rows": 30, "val_loss": 4.0, "val_accuracy": 0.8}""".stripMargin
  )

  test("logs are weighted means: metrics by rows, val metrics by val_rows") {
    val logs = EpochReports.logs(reports.map(Json.parse(_, "test")))
    assert(logs.keySet == Set("loss", "accuracy", "val_loss", "val_accuracy"))
    assert(math.abs(logs("loss") - 1.5) < 1e-9) // (30*1 + 10*3) / 40
    assert(math.abs(logs("accuracy") - 0.6) < 1e-9)
    assert(math.abs(logs("val_loss") - 3.5) < 1e-9) // (10*2 + 30*4) / 40
    assert(math.abs(logs("val_accuracy") - 0.7) < 1e-9)
  }

  test("the epoch event carries logs, workers and extra") {
    val event = Json.parse(EpochReports.event(4, reports, 17L), "event")
    assert(event.path("type").asText() == "epoch" && event.path("epoch").asInt() == 4)
    assert(event.path("workers").size() == 2)
    assert(event.path("extra").path("server_updates").asDouble() == 17.0)
    assert(event.path("extra").path("seconds").asDouble() == 4.0)
    assert(event.path("extra").path("samples_per_sec").asDouble() == 16.0)
    assert(!event.path("logs").has("rows") && !event.path("logs").has("seconds"))
  }

  test("workers without validation rows do not dilute val metrics") {
    val logs = EpochReports.logs(
      Seq("""{"rows": 5, "loss": 1.0, "val_rows": 0}""", """{"rows": 5, "loss": 3.0}""")
        .map(Json.parse(_, "test"))
    )
    assert(logs == Map("loss" -> 2.0))
  }

  test("the root message of a failure is the Python error without the Java trace") {
    val spark = new RuntimeException(
      "Job aborted: Lost task 0.0: loxodon.exec.PythonWorkerException: Python worker for " +
        "partition 0 failed: ValueError: bad\nTraceback (most recent call last):\n  x\n\tat a.b(c)"
    )
    val msg = TrainingJob.rootMessage(spark)
    assert(msg.startsWith("Python worker for partition 0 failed: ValueError: bad"))
    assert(msg.contains("Traceback") && !msg.contains("\tat "))
  }
}

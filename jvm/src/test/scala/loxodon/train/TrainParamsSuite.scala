package loxodon.train

import org.scalatest.funsuite.AnyFunSuite

class TrainParamsSuite extends AnyFunSuite {

  test("parses the JSON that spark_model.py sends") {
    val p = TrainParams.fromJson(
      """{"mode": "averaging", "num_workers": 2, "epochs": 3, "initial_epoch": 1,
        | "batch_size": 16, "validation_split": 0.1, "seed": 7, "shuffle": false,
        | "frequency": 5, "communication_window": 2, "easgd_alpha": 0.45,
        | "features_col": ["a", "b"], "label_col": "y", "sync_timeout_ms": 30000}""".stripMargin
    )
    assert(p.mode == "averaging" && p.numWorkers == 2 && p.epochs == 3 && p.initialEpoch == 1)
    assert(p.batchSize == 16 && p.validationSplit == 0.1 && p.seed == 7L && !p.shuffle)
    assert(p.frequency == "5" && p.frequencyJson.isInt && p.communicationWindow == 2)
    assert(p.featuresCol == Seq("a", "b") && p.labelCol == "y")
    assert(p.syncTimeoutMs == 30000L && p.releaseTimeoutMs == 600000L)
    assert(p.messageTimeoutMs == 600000L)
    val q = TrainParams.fromJson("""{"frequency": "epoch", "features_col": "f"}""")
    assert(q.frequencyJson.isTextual && q.featuresCol == Seq("f"))
  }

  test("an unknown mode lists the valid ones") {
    val e = intercept[IllegalArgumentException](TrainParams.fromJson("""{"mode": "downpour"}"""))
    assert(e.getMessage.contains("mode"))
    assert(
      e.getMessage.contains("single, synchronous, averaging, asynchronous, hogwild, easgd, aeasgd")
    )
  }

  test("errors name the param") {
    def msg(json: String): String =
      intercept[IllegalArgumentException](TrainParams.fromJson(json)).getMessage
    assert(msg("""{"mode": "single", "num_workers": 2}""").contains("num_workers"))
    assert(msg("""{"batch_size": 0}""").contains("batch_size"))
    assert(msg("""{"epochs": 2, "initial_epoch": 2}""").contains("initial_epoch"))
    assert(msg("""{"validation_split": 1.0}""").contains("validation_split"))
    assert(msg("""{"frequency": "often"}""").contains("frequency"))
    assert(msg("""{"batch_size": "big"}""").contains("batch_size must be an integer"))
    assert(msg("""{"batch_sise": 3}""").contains("batch_sise"))
    assert(msg("""{"communication_window": 0}""").contains("communication_window"))
    assert(msg("""not json""").contains("not valid JSON"))
  }
}

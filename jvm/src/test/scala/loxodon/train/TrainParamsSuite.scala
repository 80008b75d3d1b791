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
    assert(q.syncTransport == "allreduce" && q.syncPrecision == "float32")
    val r = TrainParams.fromJson("""{"sync_transport": "server", "sync_precision": "bfloat16"}""")
    assert(r.syncTransport == "server" && r.syncPrecision == "bfloat16")
    assert(q.syncBucketBytes == 0 && r.syncBucketBytes == 0)
    val b = TrainParams.fromJson("""{"mode": "synchronous", "sync_bucket_bytes": 65536}""")
    assert(b.syncBucketBytes == 65536)
    val spec = TrainTaskSpec(b, 1, 1, 1, loxodon.ps.ServerAddress("h", 1, IndexedSeq("00")))
    assert(spec.taskJson(0, 0).get("sync_bucket_bytes").asInt() == 65536)
  }

  test("sample weights name a column; class weights map class indices to weights") {
    val p = TrainParams.fromJson(
      """{"sample_weight_col": "w", "class_weight": {"0": 2.0, "3": 0}}"""
    )
    assert(p.sampleWeightCol.contains("w") && p.classWeight == Map(0 -> 2.0, 3 -> 0.0))
    assert(p.classWeightJson.toString == """{"0":2.0,"3":0.0}""")
    assert(TrainParams.fromJson("{}").sampleWeightCol.isEmpty)
    def msg(json: String): String =
      intercept[IllegalArgumentException](TrainParams.fromJson(json)).getMessage
    assert(msg("""{"class_weight": {"a": 1}}""").contains("key 'a' is not a class index"))
    assert(msg("""{"class_weight": {"1": -1}}""").contains("finite weights >= 0, got 1 -> -1.0"))
    assert(msg("""{"class_weight": [1]}""").contains("class_weight must be a dict"))
    assert(msg("""{"sample_weight_col": 3}""").contains("sample_weight_col must be a column"))
  }

  test("each mode's learning rate scale: N, N + 1, (N + 1)(1 - momentum), the window, or none") {
    def scale(mode: String, more: String = ""): Double =
      TrainParams.fromJson(s"""{"mode": "$mode", "num_workers": 4$more}""").learningRateScale
    assert(scale("averaging") == 4.0)
    assert(scale("easgd") == 5.0 && scale("aeasgd") == 5.0)
    assert(scale("eamsgd", """, "momentum": 0.5""") == 2.5)
    assert(scale("adag") == 1.0 && scale("adag", """, "communication_window": 12""") == 12.0)
    Seq("synchronous", "asynchronous", "hogwild", "dynsgd").foreach { m =>
      assert(scale(m) == 1.0, m)
    }
    assert(scale("easgd", """, "scale_learning_rate": false""") == 1.0)
  }

  test("an unknown mode lists the valid ones") {
    val e = intercept[IllegalArgumentException](TrainParams.fromJson("""{"mode": "downpour"}"""))
    assert(e.getMessage.contains("mode: unknown mode 'downpour'"), e.getMessage)
    assert(e.getMessage.contains(TrainParams.Modes.mkString(", ")), e.getMessage)
    assert(e.getMessage.contains("hogwild, adag, dynsgd, easgd"), e.getMessage)
  }

  test("errors name the param and the value refused") {
    def msg(json: String): String =
      intercept[IllegalArgumentException](TrainParams.fromJson(json)).getMessage
    def check(json: String, facts: String*): Unit = {
      val m = msg(json)
      facts.foreach(f => assert(m.contains(f), s"'$f' is not in: $m"))
    }
    check(
      """{"mode": "single", "num_workers": 2}""",
      "num_workers: mode 'single' trains on one worker, got num_workers=2"
    )
    check("""{"batch_size": 0}""", "batch_size must be positive, got 0")
    check(
      """{"epochs": 2, "initial_epoch": 2}""",
      "initial_epoch must be in 0 until epochs (2), got 2"
    )
    check("""{"validation_split": 1.0}""", "validation_split must be in [0, 1), got 1.0")
    check("""{"frequency": "often"}""", "frequency must be 'epoch'", "got 'often'")
    check("""{"batch_size": "big"}""", "batch_size must be an integer")
    check("""{"batch_sise": 3}""", "unknown training param(s) batch_sise;", "batch_size")
    check("""{"communication_window": 0}""", "communication_window must be at least 1, got 0")
    check("""not json""", "the training params is not valid JSON")
    check(
      """{"sync_transport": "ring"}""",
      "sync_transport: unknown transport 'ring'; choose one of allreduce, server"
    )
    check(
      """{"sync_precision": "int8"}""",
      "sync_precision: unknown type 'int8'; choose one of float32, float16, bfloat16"
    )
    check("""{"sync_bucket_bytes": -1}""", "sync_bucket_bytes must be >= 0, got -1")
    check(
      """{"mode": "synchronous", "sync_transport": "server", "sync_bucket_bytes": 4096}""",
      "sync_bucket_bytes: buckets are reduced by the ring all-reduce of mode 'synchronous', " +
        "got mode 'synchronous' with sync_transport 'server'; use sync_bucket_bytes=0, or " +
        "mode='synchronous' with sync_transport='allreduce'"
    )
    check(
      """{"mode": "averaging", "sync_bucket_bytes": 4096}""",
      "got mode 'averaging' with sync_transport 'allreduce'"
    )
    check(
      """{"mode": "adag", "exchange_overlap": true}""",
      "exchange_overlap: mode 'adag' has no window exchange to overlap; use it with one of " +
        "asynchronous, hogwild, easgd, aeasgd, or exchange_overlap=False"
    )
    check(
      """{"mode": "hogwild", "exchange_overlap": true, "parallelism_factor": 2}""",
      "exchange_overlap: with a parallelism factor"
    )
  }

  test("exchange_overlap is off unless asked for; every overlapped mode takes it") {
    assert(!TrainParams.fromJson("""{"mode": "hogwild"}""").exchangeOverlap)
    TrainParams.OverlappedModes.foreach { mode =>
      val json = s"""{"mode": "$mode", "num_workers": 2, "exchange_overlap": true}"""
      assert(TrainParams.fromJson(json).exchangeOverlap)
    }
  }
}

package loxodon.train

import java.nio.file.{Files, Paths}

import org.scalatest.funsuite.AnyFunSuite

import loxodon.{ArgmaxRows, PythonWorkersSpark}
import loxodon.infer.{Evaluator, InferenceParams}
import loxodon.io.Json
import loxodon.model.KerasArchive

/** The Scala front end end to end: a real fit of the `mlp_fast.keras` fixture (`mlp.keras` compiled
  * with Adam at 0.03, so that 5 epochs learn [[loxodon.ArgmaxRows]]) by Python workers from the
  * project's virtualenv, judged by [[loxodon.infer.Evaluator]] on held-out rows (canceled when
  * `.venv/bin/python` is absent).
  */
class TrainerSuite extends AnyFunSuite with PythonWorkersSpark {

  test(
    "Trainer.fit trains the .keras fixture on two workers: held-out accuracy well above chance"
  ) {
    requirePython()
    val s = spark
    import s.implicits._
    val df = ArgmaxRows(600, seed = 0).map { case (x, y) => (x.toSeq, y) }.toDF("features", "label")
    val heldOut =
      ArgmaxRows(400, seed = 7).map { case (x, y) => (x.toSeq, y) }.toDF("features", "label")
    val fixture = Paths.get(getClass.getResource("/mlp_fast.keras").toURI).toUri.toString
    val out = Files.createTempDirectory("loxodon-trainer").resolve("trained.keras")
    val params = TrainParams(mode = "synchronous", numWorkers = 2, epochs = 5, batchSize = 16)
    val result = Trainer.fit(spark, fixture, df, params, Some(out.toUri.toString))
    assert(result.history.size == 5)
    assert(result.history.forall(h => h.contains("loss") && h.contains("accuracy")), result.history)
    def evaluate(rows: org.apache.spark.sql.DataFrame): Map[String, Double] = Json.numbers(
      Json.parse(
        Evaluator.evaluate(
          spark,
          rows,
          result.modelArchive,
          None,
          InferenceParams(labelCol = Some("label"))
        ),
        "evaluate"
      )
    )
    val evaluated = evaluate(heldOut)
    // On failure this tells a final archive that did not keep the training (both low) from an
    // evaluation that went wrong (the training rows still score as in the history).
    lazy val onTraining = evaluate(df)
    info(s"held-out: $evaluated; history: ${result.history}")
    // Synchronous training is deterministic here: held-out accuracy 0.7025 in every run (chance
    // is 1/3). The bar leaves room for other CPUs and TensorFlow builds.
    assert(evaluated("rows") == 400.0, evaluated)
    assert(
      evaluated("accuracy") > 0.6,
      s"held-out $evaluated, training rows $onTraining, history ${result.history}"
    )
    assert(result.history.last("accuracy") > 0.6, result.history)
    val trained = KerasArchive.parse(result.modelArchive)
    assert(trained.compiled && trained.inputWidth.contains(8) && trained.outputUnits.contains(3))
    assert(Files.readAllBytes(out).sameElements(result.modelArchive))
  }

  test("a job that is closed early cancels its stage and stops its server") {
    requirePython()
    val s = spark
    import s.implicits._
    val df =
      (0 until 100).map(i => (Seq.fill(8)(i.toDouble / 100), i % 3)).toDF("features", "label")
    val archive = Files.readAllBytes(Paths.get(getClass.getResource("/mlp.keras").toURI))
    val job = Trainer.start(
      spark,
      df,
      None,
      archive,
      None,
      TrainParams(mode = "synchronous", numWorkers = 2, epochs = 5)
    )
    var event = job.nextEvent(120000)
    assert(event != null && event.contains("\"type\":\"epoch\""), event)
    job.close()
    event = job.nextEvent(30000)
    assert(event != null && event.contains("\"type\":\"failed\""), event)
    assert(event.contains("cancelled"), event)
    assert(!job.isRunning)
  }
}

package loxodon.train

import java.nio.file.{Files, Paths}

import org.scalatest.funsuite.AnyFunSuite

import loxodon.PythonWorkersSpark
import loxodon.model.KerasArchive

/** The Scala front end end to end: a real fit of the `mlp.keras` fixture by Python workers from the
  * project's virtualenv (canceled when `.venv/bin/python` is absent).
  */
class TrainerSuite extends AnyFunSuite with PythonWorkersSpark {

  test("Trainer.fit trains the .keras fixture on two workers and returns the trained archive") {
    requirePython()
    val s = spark
    import s.implicits._
    val rng = new scala.util.Random(0)
    // Class = which of the first three features is largest: learnable by the 8-4-3 MLP.
    val rows = (0 until 600).map { _ =>
      val x = Array.fill(8)(rng.nextDouble())
      (x.toSeq, x.take(3).zipWithIndex.maxBy(_._1)._2)
    }
    val df = rows.toDF("features", "label")
    val fixture = Paths.get(getClass.getResource("/mlp.keras").toURI).toUri.toString
    val out = Files.createTempDirectory("loxodon-trainer").resolve("trained.keras")
    val params = TrainParams(mode = "asynchronous", numWorkers = 2, epochs = 3, batchSize = 16)
    val result = Trainer.fit(spark, fixture, df, params, Some(out.toUri.toString))
    assert(result.history.size == 3)
    assert(result.history.forall(h => h.contains("loss") && h.contains("accuracy")), result.history)
    assert(result.history.last("loss") < result.history.head("loss"), result.history)
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

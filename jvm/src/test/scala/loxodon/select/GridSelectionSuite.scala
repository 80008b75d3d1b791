package loxodon.select

import org.scalatest.funsuite.AnyFunSuite

import loxodon.PythonWorkersSpark
import loxodon.io.Json
import loxodon.model.KerasArchive
import loxodon.train.TrainParams

/** Model selection from Scala end to end: the `mlp.keras` fixture crossed with 2 batch sizes and 2
  * learning rates, trained by model hopping on Python workers from the project's virtualenv
  * (canceled when `.venv/bin/python` is absent).
  */
class GridSelectionSuite extends AnyFunSuite with PythonWorkersSpark {

  test("a grid of .keras models x batch sizes x learning rates, by model hopping") {
    requirePython()
    val s = spark
    import s.implicits._
    val rng = new scala.util.Random(1)
    val df = (0 until 600)
      .map { _ =>
        val x = Array.fill(8)(rng.nextDouble().toFloat)
        (x, x.take(3).zipWithIndex.maxBy(_._1)._2)
      }
      .toDF("features", "label")
    val path = getClass.getResource("/mlp.keras").toURI.toString
    val outcome = GridSelection.run(
      spark,
      Seq(path),
      Seq(16, 64),
      Seq(0.001, 0.05),
      epochs = 6,
      df,
      TrainParams(numWorkers = 2, validationSplit = 0.25, seed = 2)
    )
    assert(outcome.trials.size == 4)
    assert(outcome.history.size == 24)
    // Every trial visited both partitions each epoch.
    val units = Json.parse(outcome.scheduleJson, "schedule")
    val trainUnits =
      (0 until units.size()).map(units.get).filter(_.path("kind").asText() == "train")
    assert(trainUnits.size == 4 * 6 * 2)
    // The largest learning rate with small batches learns this task in 6 epochs; the smallest
    // with large batches barely moves: the search must tell them apart.
    assert(outcome.best.learningRate.contains(0.05), outcome.history)
    assert(outcome.bestValue > 0.6, outcome.history)
    val finals = outcome.history.filter(_._2 == 5).map(_._3("val_accuracy"))
    assert(outcome.bestValue > finals.min + 0.2, "chance level is 1/3")
    KerasArchive.parse(outcome.bestArchive).requireCompiled()
  }
}

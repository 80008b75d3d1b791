package loxodon.ml

import java.nio.file.Files

import org.apache.spark.ml.{Pipeline, PipelineModel}
import org.apache.spark.ml.evaluation.MulticlassClassificationEvaluator
import org.apache.spark.ml.feature.VectorAssembler
import org.scalatest.funsuite.AnyFunSuite

import loxodon.PythonWorkersSpark

/** The Scala Spark ML front end end to end: a Pipeline with a [[KerasEstimator]] trains the
  * `mlp.keras` fixture with Python workers from the project's virtualenv, transforms, saves and
  * loads (canceled when `.venv/bin/python` is absent).
  */
class KerasEstimatorFitSuite extends AnyFunSuite with PythonWorkersSpark {

  test("Pipeline(VectorAssembler, KerasEstimator) fits, transforms, saves and loads") {
    requirePython()
    val s = spark
    import s.implicits._
    val rng = new scala.util.Random(0)
    // Class = which of the first three features is largest: learnable by the 8-4-3 MLP.
    val df = (0 until 600)
      .map { _ =>
        val x = Array.fill(8)(rng.nextDouble())
        (x(0), x(1), x(2), x(3), x(4), x(5), x(6), x(7), x.take(3).zipWithIndex.maxBy(_._1)._2)
      }
      .toDF("a", "b", "c", "d", "e", "f", "g", "h", "label")
    val assembler = new VectorAssembler()
      .setInputCols(Array("a", "b", "c", "d", "e", "f", "g", "h"))
      .setOutputCol("features")
    val est = new KerasEstimator()
      .setModelPath(getClass.getResource("/mlp.keras").toURI.toString)
      .setNumWorkers(2)
      .setEpochs(4)
      .setBatchSize(16)
      .setMode("asynchronous")
    val model = new Pipeline().setStages(Array(assembler, est)).fit(df)
    val keras = model.stages(1).asInstanceOf[KerasModel]
    assert(keras.history.size == 4 && keras.history.forall(_.contains("loss")), keras.history)
    assert(keras.history.last("loss") < keras.history.head("loss"), keras.history)
    assert(keras.parent eq est)

    val scored = model.transform(df)
    // The 8-4-3 fixture learns slowly (the loss check above is the learned result; the Python
    // digits test asserts accuracy): here the output is checked for shape and consistency.
    val rows = scored.select("prediction", "probability").collect()
    rows.foreach { r =>
      val p = r.getAs[org.apache.spark.ml.linalg.Vector](1)
      assert(p.size == 3 && math.abs(p.toArray.sum - 1.0) < 1e-4, p)
      assert(r.getDouble(0) == p.argmax.toDouble)
    }
    new MulticlassClassificationEvaluator().setMetricName("accuracy").evaluate(scored)
    val predictions = scored.select("prediction").as[Double].collect().toSeq

    val path = Files.createTempDirectory("loxodon-fit").resolve("pm").toUri.toString
    model.write.save(path)
    val loaded = PipelineModel.load(path)
    assert(loaded.transform(df).select("prediction").as[Double].collect().toSeq == predictions)
    assert(loaded.stages(1).asInstanceOf[KerasModel].history == keras.history)
  }
}

package loxodon.ml

import java.nio.file.Files

import org.apache.spark.ml.{Pipeline, PipelineModel}
import org.apache.spark.ml.evaluation.MulticlassClassificationEvaluator
import org.apache.spark.ml.feature.VectorAssembler
import org.scalatest.funsuite.AnyFunSuite

import loxodon.{ArgmaxRows, PythonWorkersSpark}

/** The Scala Spark ML front end end to end: a Pipeline with a [[KerasEstimator]] trains the
  * `mlp_fast.keras` fixture (`mlp.keras` compiled with Adam at 0.03) with Python workers from the
  * project's virtualenv, is judged by its held-out accuracy, transforms, saves and loads (canceled
  * when `.venv/bin/python` is absent).
  */
class KerasEstimatorFitSuite extends AnyFunSuite with PythonWorkersSpark {

  test("Pipeline(VectorAssembler, KerasEstimator) fits, transforms, saves and loads") {
    requirePython()
    val s = spark
    import s.implicits._
    val columns = Seq("a", "b", "c", "d", "e", "f", "g", "h")
    def frame(n: Int, seed: Long) = ArgmaxRows(n, seed)
      .map { case (x, y) => (x(0), x(1), x(2), x(3), x(4), x(5), x(6), x(7), y) }
      .toDF(columns :+ "label": _*)
    val df = frame(600, seed = 0)
    val heldOut = frame(400, seed = 7)
    val assembler = new VectorAssembler()
      .setInputCols(columns.toArray)
      .setOutputCol("features")
    val est = new KerasEstimator()
      .setModelPath(getClass.getResource("/mlp_fast.keras").toURI.toString)
      .setNumWorkers(2)
      .setEpochs(5)
      .setBatchSize(16)
      .setMode("synchronous")
    val model = new Pipeline().setStages(Array(assembler, est)).fit(df)
    val keras = model.stages(1).asInstanceOf[KerasModel]
    assert(keras.history.size == 5 && keras.history.forall(_.contains("loss")), keras.history)
    assert(keras.parent eq est)

    val scored = model.transform(df)
    // The output's shape and consistency; the learned result is the held-out accuracy below.
    val rows = scored.select("prediction", "probability").collect()
    rows.foreach { r =>
      val p = r.getAs[org.apache.spark.ml.linalg.Vector](1)
      assert(p.size == 3 && math.abs(p.toArray.sum - 1.0) < 1e-4, p)
      assert(r.getDouble(0) == p.argmax.toDouble)
    }
    val accuracy = new MulticlassClassificationEvaluator()
      .setMetricName("accuracy")
      .evaluate(model.transform(heldOut))
    info(s"held-out accuracy: $accuracy; history: ${keras.history}")
    // Synchronous training is deterministic here: 0.7025 in every run (chance is 1/3).
    assert(accuracy > 0.6, keras.history)
    val predictions = scored.select("prediction").as[Double].collect().toSeq

    val path = Files.createTempDirectory("loxodon-fit").resolve("pm").toUri.toString
    model.write.save(path)
    val loaded = PipelineModel.load(path)
    assert(loaded.transform(df).select("prediction").as[Double].collect().toSeq == predictions)
    assert(loaded.stages(1).asInstanceOf[KerasModel].history == keras.history)
  }
}

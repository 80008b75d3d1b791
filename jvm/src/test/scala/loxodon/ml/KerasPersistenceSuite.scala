package loxodon.ml

import java.nio.file.{Files, Paths}

import org.apache.spark.ml.{Pipeline, PipelineModel}
import org.apache.spark.ml.feature.VectorAssembler
import org.scalatest.funsuite.AnyFunSuite

import loxodon.LocalSpark

/** Write/read round trips of [[KerasEstimator]] and [[KerasModel]]: params, the archive, the custom
  * objects and the history, alone and inside Pipelines (no Python needed).
  */
class KerasPersistenceSuite extends AnyFunSuite with LocalSpark {

  private def fixture: Array[Byte] =
    Files.readAllBytes(Paths.get(getClass.getResource("/mlp.keras").toURI))

  private def tmp(name: String): String =
    Files.createTempDirectory("loxodon-ml").resolve(name).toUri.toString

  test("KerasModel round trip keeps params, archive, custom objects and history") {
    val history = Seq(Map("loss" -> 1.5, "accuracy" -> 0.5), Map("loss" -> 0.5, "accuracy" -> 0.9))
    val m = KerasModel
      .fromArchive(fixture)
      .setCustomObjects(Array[Byte](7, 8))
      .setHistory(history)
      .setOutputMode("raw")
      .setInferenceBatchSize(64)
      .setImports(Array("my.layers"))
    val path = tmp("model")
    m.write.save(path)
    // Pickled custom objects would run code from the path: refused unless the session opts in.
    val refused = intercept[IllegalArgumentException](KerasModel.load(path)).getMessage
    assert(
      refused.contains("pickled custom objects") && refused.contains(
        KerasPersistence.AllowPickledConf
      )
    )
    spark.conf.set(KerasPersistence.AllowPickledConf, "true")
    val loaded =
      try KerasModel.load(path)
      finally spark.conf.unset(KerasPersistence.AllowPickledConf)
    assert(loaded.uid == m.uid && loaded.getOutputMode == "raw")
    assert(loaded.getInferenceBatchSize == 64 && loaded.getImports.sameElements(Array("my.layers")))
    assert(loaded.getModelArchive.sameElements(fixture))
    assert(loaded.getCustomObjects.sameElements(Array[Byte](7, 8)))
    assert(loaded.history == history)
    assert(m.historyJson == """{"accuracy":[0.5,0.9],"loss":[1.5,0.5]}""", m.historyJson)
    val dir = Paths.get(new java.net.URI(path))
    assert(Files.exists(dir.resolve("keras/model.keras")))
    assert(Files.exists(dir.resolve("keras/custom_objects.pkl")))
    assert(Files.exists(dir.resolve("metadata")))
    // saving again needs overwrite, as for Spark's own stages
    val again = intercept[java.io.IOException](m.write.save(path)).getMessage
    assert(again.contains(path) && again.contains("write.overwrite().save(path)"), again)
    m.write.overwrite().save(path)
  }

  test("KerasEstimator round trip keeps params and the archive; no custom objects stays none") {
    val e = new KerasEstimator()
      .setModelArchive(fixture)
      .setMode("synchronous")
      .setNumWorkers(2)
      .setEpochs(7)
      .setFeaturesCols(Array("a", "b"))
    val path = tmp("estimator")
    e.write.save(path)
    val loaded = KerasEstimator.load(path)
    assert(loaded.uid == e.uid && loaded.getMode == "synchronous" && loaded.getEpochs == 7)
    assert(loaded.getNumWorkers == 2 && loaded.getFeaturesCols.sameElements(Array("a", "b")))
    assert(!loaded.isDefined(loaded.easgdAlpha))
    assert(loaded.getModelArchive.sameElements(fixture) && loaded.getCustomObjects == null)
  }

  test("inside Pipelines: an unfitted Pipeline and a PipelineModel load back") {
    val assembler = new VectorAssembler().setInputCols(Array("a", "b")).setOutputCol("features")
    val est = new KerasEstimator().setModelArchive(fixture).setEpochs(3)
    val pipe = new Pipeline().setStages(Array(assembler, est))
    val p1 = tmp("pipeline")
    pipe.write.save(p1)
    val stages = Pipeline.load(p1).getStages
    assert(stages(1).asInstanceOf[KerasEstimator].getEpochs == 3)
    assert(stages(1).asInstanceOf[KerasEstimator].getModelArchive.sameElements(fixture))

    val model = KerasModel.fromArchive(fixture)
    val pm = new Pipeline()
      .setStages(Array(assembler, model))
      .fit(
        spark.createDataFrame(Seq((1.0, 2.0))).toDF("a", "b")
      )
    val p2 = tmp("pipeline-model")
    pm.write.save(p2)
    val back = PipelineModel.load(p2).stages(1).asInstanceOf[KerasModel]
    assert(back.uid == model.uid && back.getModelArchive.sameElements(fixture))
  }
}

package loxodon.ml

import java.nio.file.{Files, Paths}

import org.apache.spark.ml.linalg.SQLDataTypes
import org.apache.spark.sql.types._
import org.scalatest.funsuite.AnyFunSuite

import loxodon.LocalSpark

/** Params of the Spark ML front end: defaults, validators with errors naming the param, copy, and
  * `transformSchema` (no Python needed).
  */
class KerasParamsSuite extends AnyFunSuite with LocalSpark {

  private def fixture: Array[Byte] =
    Files.readAllBytes(Paths.get(getClass.getResource("/mlp.keras").toURI))

  private val schema = StructType(
    Seq(
      StructField("features", SQLDataTypes.VectorType),
      StructField("label", DoubleType),
      StructField("name", StringType)
    )
  )

  test("defaults match the documented ones") {
    val e = new KerasEstimator()
    assert(e.getMode == "asynchronous" && e.getFrequency == "epoch")
    assert(e.getCommunicationWindow == 1 && e.getEpochs == 1 && e.getBatchSize == 32)
    assert(e.getValidationSplit == 0.0 && e.getSeed == 0L && e.getShuffle)
    assert(e.getFeaturesCol == "features" && e.getLabelCol == "label")
    assert(e.getPredictionCol == "prediction" && e.getProbabilityCol == "probability")
    assert(e.getOutputMode == "classification" && e.getInferenceBatchSize == 1024)
    assert(e.getSyncTimeoutMs == 120000L && e.getImports.isEmpty)
    assert(!e.isDefined(e.numWorkers) && !e.isDefined(e.easgdAlpha))
    assert(!e.isDefined(e.featuresCols))
    assert(e.params.forall(p => p.doc.nonEmpty))
  }

  test("numWorkers and easgdAlpha default from the cluster") {
    val p = new KerasEstimator().setMode("easgd").trainParams(spark)
    assert(p.numWorkers == spark.sparkContext.defaultParallelism)
    assert(math.abs(p.easgdAlpha - 0.9 / p.numWorkers) < 1e-12)
    assert(new KerasEstimator().setMode("single").trainParams(spark).numWorkers == 1)
    val q = new KerasEstimator().setNumWorkers(3).setEasgdAlpha(0.2).setImports(Array("m"))
    val t = q.trainParams(spark)
    assert(t.numWorkers == 3 && t.easgdAlpha == 0.2 && t.imports == Seq("m"))
  }

  test("setters refuse bad values with an error naming the stage and the param") {
    val e = new KerasEstimator()
    val mode = intercept[IllegalArgumentException](e.setMode("fastest")).getMessage
    assert(mode.startsWith("KerasEstimator param mode: unknown value 'fastest'"), mode)
    assert(mode.contains("synchronous") && mode.contains("hogwild"), mode)
    val epochs = intercept[IllegalArgumentException](e.setEpochs(-1)).getMessage
    assert(epochs == "KerasEstimator param epochs must be >= 1, got -1", epochs)
    val bad = Seq[() => Any](
      () => e.setFrequency("often"),
      () => e.setCommunicationWindow(0),
      () => e.setEasgdAlpha(0.0),
      () => e.setNumWorkers(0),
      () => e.setBatchSize(0),
      () => e.setValidationSplit(1.0),
      () => e.setSyncTimeoutMs(0L),
      () => e.setOutputMode("logits"),
      () => e.setFeaturesCol(""),
      () => e.setInferenceBatchSize(0)
    )
    // Each message names the stage, the param and the value refused.
    val messages = Seq(
      "frequency must be 'epoch' or a positive number of batches, got 'often'",
      "communicationWindow must be >= 1, got 0",
      "easgdAlpha must be > 0, got 0.0",
      "numWorkers must be >= 1, got 0",
      "batchSize must be >= 1, got 0",
      "validationSplit must be in [0, 1), got 1.0",
      "syncTimeoutMs must be > 0, got 0",
      "outputMode: unknown value 'logits'; choose one of classification, raw",
      "featuresCol must name a column, got ''",
      "inferenceBatchSize must be >= 1, got 0"
    )
    bad.zip(messages).foreach { case (f, message) =>
      val m = intercept[IllegalArgumentException](f()).getMessage
      assert(m.startsWith(s"KerasEstimator param $message"), m)
    }
    assert(e.setFrequency("5").getFrequency == "5")
    // Spark's own validators (used by ParamMap and by Python) refuse the same values.
    assert(!e.mode.isValid("fastest") && !e.epochs.isValid(-1) && e.epochs.isValid(3))
  }

  test("copy keeps params, the archive and the custom objects") {
    val e = new KerasEstimator()
      .setModelArchive(fixture)
      .setCustomObjects(Array[Byte](1, 2, 3))
      .setEpochs(4)
    val c = e.copy(org.apache.spark.ml.param.ParamMap(e.batchSize -> 8))
    assert(c.uid == e.uid && c.getEpochs == 4 && c.getBatchSize == 8 && e.getBatchSize == 32)
    assert(
      c.getModelArchive.sameElements(fixture) && c.getCustomObjects.sameElements(
        Array[Byte](1, 2, 3)
      )
    )
    val m = KerasModel.fromArchive(fixture).setOutputMode("raw")
    val mc = m.copy(org.apache.spark.ml.param.ParamMap.empty)
    assert(mc.uid == m.uid && mc.getOutputMode == "raw" && mc.getModelArchive.sameElements(fixture))
  }

  test("transformSchema appends the outputs and names the param in its errors") {
    val e = new KerasEstimator()
    val out = e.transformSchema(schema)
    assert(out("prediction").dataType == DoubleType)
    assert(out("probability").dataType == SQLDataTypes.VectorType)
    val raw = new KerasModel().setOutputMode("raw").transformSchema(schema)
    assert(raw("prediction").dataType == ArrayType(FloatType, false))
    assert(!raw.fieldNames.contains("probability"))

    val missing = intercept[IllegalArgumentException] {
      e.copy(org.apache.spark.ml.param.ParamMap(e.featuresCol -> "pixels")).transformSchema(schema)
    }.getMessage
    assert(missing.contains("param featuresCol") && missing.contains("'pixels'"), missing)
    assert(missing.contains("available: features, label, name"), missing)

    val wrongType = intercept[IllegalArgumentException] {
      new KerasModel().setFeaturesCol("name").transformSchema(schema)
    }.getMessage
    assert(wrongType.contains("KerasModel param featuresCol") && wrongType.contains("string"))

    val noLabel = intercept[IllegalArgumentException] {
      new KerasEstimator().transformSchema(StructType(schema.fields.filterNot(_.name == "label")))
    }.getMessage
    assert(noLabel.contains("param labelCol") && noLabel.contains("'label'"), noLabel)
    // the model does not need the label
    new KerasModel().transformSchema(StructType(schema.fields.filterNot(_.name == "label")))

    val taken = intercept[IllegalArgumentException] {
      new KerasModel().setPredictionCol("name").transformSchema(schema)
    }.getMessage
    assert(taken.contains("param predictionCol") && taken.contains("'name'"), taken)

    val cols = intercept[IllegalArgumentException] {
      new KerasModel().setFeaturesCols(Array("label", "name")).transformSchema(schema)
    }.getMessage
    assert(cols.contains("param featuresCols") && cols.contains("'name'"), cols)

    val single = intercept[IllegalArgumentException] {
      new KerasEstimator().setMode("single").setNumWorkers(2).transformSchema(schema)
    }.getMessage
    assert(single.contains("param numWorkers"), single)
  }

  test("a model archive that is not a .keras file is refused at once") {
    intercept[IllegalArgumentException](new KerasModel().setModelArchive(Array[Byte](1, 2)))
    val noModel = intercept[IllegalStateException] {
      new KerasModel().transform(spark.range(1).selectExpr("array(1.0) as features"))
    }.getMessage
    assert(noModel.contains("setModelArchive"), noModel)
  }
}

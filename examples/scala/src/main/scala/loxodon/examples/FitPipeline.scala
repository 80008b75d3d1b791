package loxodon.examples

import org.apache.spark.ml.{Pipeline, PipelineModel}
import org.apache.spark.ml.evaluation.MulticlassClassificationEvaluator
import org.apache.spark.ml.feature.{StringIndexer, VectorAssembler}
import org.apache.spark.sql.SparkSession

import loxodon.ml.KerasEstimator

/** Fits a Spark ML Pipeline (VectorAssembler, StringIndexer, Loxodon's KerasEstimator) from a Scala
  * application and saves the fitted PipelineModel, which PySpark's `PipelineModel.load` reads back
  * (and the reverse: [[ScorePipeline]] scores a pipeline saved from Python).
  *
  * {{{
  * spark-submit --master local[2] --jars $(python -m loxodon jar) \
  *   --conf spark.pyspark.python=$(pwd)/.venv/bin/python \
  *   [--files my_layers.py] \
  *   --class loxodon.examples.FitPipeline loxodon-examples_2.13-0.1.0.jar \
  *   [--workers=2] [--epochs=8] [--imports=my_layers] \
  *   model.keras train.parquet test.parquet pipeline-out predictions-out
  * }}}
  *
  * The Parquet files hold numeric feature columns named `f0`, `f1`, ... and a string `label_name`;
  * the model's last layer gives one score per class. `--imports` names Python modules that register
  * the model's custom objects (shipped to the executors with `--files`).
  */
object FitPipeline {
  private val Usage =
    "usage: FitPipeline [--workers=N] [--epochs=N] [--imports=mod1,mod2] <model.keras> " +
      "<train.parquet> <test.parquet> <pipeline-out> <predictions-out>"

  def main(args: Array[String]): Unit = {
    val (flags, positional) = args.toSeq.partition(_.startsWith("--"))
    if (positional.size != 5) {
      System.err.println(Usage)
      sys.exit(2)
    }
    val options = flags.map { f =>
      f.drop(2).split("=", 2) match {
        case Array(k, v) => k -> v
        case _           => throw new IllegalArgumentException(s"bad option $f; $Usage")
      }
    }.toMap
    val Seq(model, trainPath, testPath, pipelineOut, predictionsOut) = positional
    val spark = SparkSession.builder().appName("loxodon FitPipeline").getOrCreate()
    try {
      val train = spark.read.parquet(trainPath)
      val test = spark.read.parquet(testPath)
      val features = train.columns.filter(_.matches("f\\d+")).sortBy(_.drop(1).toInt)
      val pipeline = new Pipeline().setStages(
        Array(
          new VectorAssembler().setInputCols(features).setOutputCol("features"),
          new StringIndexer().setInputCol("label_name").setOutputCol("label"),
          new KerasEstimator()
            .setModelPath(model)
            .setMode("synchronous")
            .setNumWorkers(options.getOrElse("workers", "2").toInt)
            .setEpochs(options.getOrElse("epochs", "8").toInt)
            .setBatchSize(32)
            .setImports(options.get("imports").map(_.split(",")).getOrElse(Array.empty[String]))
        )
      )
      val fitted = pipeline.fit(train)
      fitted.write.overwrite().save(pipelineOut)
      val scored = PipelineModel.load(pipelineOut).transform(test)
      val accuracy =
        new MulticlassClassificationEvaluator().setMetricName("accuracy").evaluate(scored)
      println(f"test accuracy: $accuracy%.4f")
      scored.select("id", "prediction").write.mode("overwrite").parquet(predictionsOut)
      println(s"saved the pipeline to $pipelineOut and its predictions to $predictionsOut")
    } finally spark.stop()
  }
}

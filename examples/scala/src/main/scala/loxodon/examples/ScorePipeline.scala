package loxodon.examples

import org.apache.spark.ml.PipelineModel
import org.apache.spark.sql.SparkSession

/** Loads a saved PipelineModel (e.g. one fitted and saved from PySpark with Loxodon's
  * KerasEstimator), scores a Parquet file with it, and writes the `id` and `prediction` columns.
  *
  * {{{
  * spark-submit --master local[2] --jars $(python -m loxodon jar) \
  *   --conf spark.pyspark.python=$(pwd)/.venv/bin/python \
  *   --class loxodon.examples.ScorePipeline loxodon-examples_2.13-0.1.0.jar \
  *   pipeline-dir data.parquet predictions-out
  * }}}
  */
object ScorePipeline {
  def main(args: Array[String]): Unit = {
    if (args.length != 3) {
      System.err.println("usage: ScorePipeline <pipeline-dir> <data.parquet> <predictions-out>")
      sys.exit(2)
    }
    val Array(pipelinePath, dataPath, out) = args
    val spark = SparkSession.builder().appName("loxodon ScorePipeline").getOrCreate()
    try {
      val model = PipelineModel.load(pipelinePath)
      println(s"loaded ${model.stages.map(_.getClass.getSimpleName).mkString(" -> ")}")
      val scored = model.transform(spark.read.parquet(dataPath))
      scored.select("id", "prediction").write.mode("overwrite").parquet(out)
      println(s"scored ${scored.count()} rows into $out")
    } finally spark.stop()
  }
}

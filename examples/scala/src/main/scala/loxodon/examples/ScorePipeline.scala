package loxodon.examples

import org.apache.spark.ml.PipelineModel
import org.apache.spark.sql.SparkSession

/** Loads a saved PipelineModel (e.g. one fitted and saved from PySpark with Loxodon's
  * KerasEstimator), scores a Parquet file with it, and writes the `id` column and the pipeline's
  * output columns (`prediction` unless `--columns` names others, e.g. the `prediction_<output>` and
  * `probability_<output>` columns of a multi-output model). With `--resave`, it also saves the
  * loaded PipelineModel again, with Scala's writers, for PySpark's `PipelineModel.load` to read
  * back.
  *
  * {{{
  * spark-submit --master local[2] --jars $(python -m loxodon jar) \
  *   --conf spark.pyspark.python=$(pwd)/.venv/bin/python \
  *   --class loxodon.examples.ScorePipeline loxodon-examples_2.13-0.1.0.jar \
  *   [--columns=prediction_digit,probability_digit] [--resave=pipeline-copy] \
  *   pipeline-dir data.parquet predictions-out
  * }}}
  */
object ScorePipeline {
  private val Usage =
    "usage: ScorePipeline [--columns=c1,c2] [--resave=dir] <pipeline-dir> <data.parquet> " +
      "<predictions-out>"

  def main(args: Array[String]): Unit = {
    val (flags, positional) = args.toSeq.partition(_.startsWith("--"))
    if (positional.size != 3) {
      System.err.println(Usage)
      sys.exit(2)
    }
    val options = flags.map { f =>
      f.drop(2).split("=", 2) match {
        case Array(k @ ("columns" | "resave"), v) => k -> v
        case _ => throw new IllegalArgumentException(s"bad option $f; $Usage")
      }
    }.toMap
    val columns = options.get("columns").map(_.split(",").toSeq).getOrElse(Seq("prediction"))
    val Seq(pipelinePath, dataPath, out) = positional
    val spark = SparkSession.builder().appName("loxodon ScorePipeline").getOrCreate()
    try {
      val model = PipelineModel.load(pipelinePath)
      println(s"loaded ${model.stages.map(_.getClass.getSimpleName).mkString(" -> ")}")
      val scored = model.transform(spark.read.parquet(dataPath))
      scored.select("id", columns: _*).write.mode("overwrite").parquet(out)
      println(s"scored ${scored.count()} rows into $out")
      options.get("resave").foreach { path =>
        model.write.overwrite().save(path)
        println(s"saved the loaded pipeline again to $path")
      }
    } finally spark.stop()
  }
}

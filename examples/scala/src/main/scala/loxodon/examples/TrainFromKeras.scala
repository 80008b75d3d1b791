package loxodon.examples

import org.apache.spark.sql.{DataFrame, SparkSession}
import org.apache.spark.sql.functions.{array_max, array_position, avg, col, when}

import loxodon.infer.{Evaluator, InferenceParams, Predictor}
import loxodon.io.Json
import loxodon.train.{TrainParams, Trainer}

/** Trains a compiled `.keras` model on a Parquet file with Loxodon, from Scala, and reports its
  * accuracy on a second Parquet file.
  *
  * {{{
  * spark-submit --master local[2] \
  *   --jars $(python -m loxodon jar) \
  *   --conf spark.pyspark.python=$(pwd)/.venv/bin/python \
  *   --class loxodon.examples.TrainFromKeras \
  *   examples/scala/target/scala-2.13/loxodon-examples_2.13-0.1.0.jar \
  *   [--mode=synchronous] [--workers=2] [--epochs=10] [--batch-size=32] \
  *   model.keras train.parquet test.parquet [trained.keras]
  * }}}
  *
  * Both Parquet files hold a `features` column (array of numbers, or ML Vector) and a numeric
  * `label` column (the class index). The model must be compiled (optimizer, loss, metrics); its
  * last layer gives one score per class. Paths may be any Hadoop FileSystem URI.
  */
object TrainFromKeras {

  private val Usage =
    "usage: TrainFromKeras [--mode=synchronous|asynchronous|...] [--workers=N] [--epochs=N] " +
      "[--batch-size=N] <model.keras> <train.parquet> <test.parquet> [output.keras]"

  /** The command line, parsed. */
  final case class Options(
      model: String,
      train: String,
      test: String,
      output: Option[String],
      mode: String = "synchronous",
      workers: Int = 2,
      epochs: Int = 10,
      batchSize: Int = 32
  )

  def parse(args: Seq[String]): Options = {
    val (flags, positional) = args.partition(_.startsWith("--"))
    require(positional.size == 3 || positional.size == 4, Usage)
    val base = Options(positional(0), positional(1), positional(2), positional.lift(3))
    flags.foldLeft(base) { (o, flag) =>
      flag.drop(2).split("=", 2) match {
        case Array("mode", v)       => o.copy(mode = v)
        case Array("workers", v)    => o.copy(workers = number(flag, v))
        case Array("epochs", v)     => o.copy(epochs = number(flag, v))
        case Array("batch-size", v) => o.copy(batchSize = number(flag, v))
        case _ => throw new IllegalArgumentException(s"unknown option $flag; $Usage")
      }
    }
  }

  private def number(flag: String, v: String): Int =
    scala.util
      .Try(v.toInt)
      .toOption
      .getOrElse(throw new IllegalArgumentException(s"$flag: not a number"))

  /** The share of rows of `predicted` whose arg-max prediction equals the label. */
  def accuracy(predicted: DataFrame, predictionCol: String, labelCol: String): Double = {
    // array_position is 1-based; the first maximum wins, as numpy.argmax does.
    val argmax = array_position(col(predictionCol), array_max(col(predictionCol))) - 1
    val hit = when(argmax.cast("double") === col(labelCol).cast("double"), 1.0).otherwise(0.0)
    predicted.agg(avg(hit)).head().getDouble(0)
  }

  def main(args: Array[String]): Unit = {
    val opts =
      try parse(args.toSeq)
      catch {
        case e: IllegalArgumentException =>
          System.err.println(e.getMessage)
          sys.exit(2)
      }
    val spark = SparkSession.builder().appName("loxodon TrainFromKeras").getOrCreate()
    try run(spark, opts)
    finally spark.stop()
  }

  def run(spark: SparkSession, opts: Options): Unit = {
    val train = spark.read.parquet(opts.train).select("features", "label")
    val test = spark.read.parquet(opts.test).select("features", "label").cache()
    println(s"training ${opts.model} on ${opts.train}: ${opts.mode}, ${opts.workers} workers")
    // readme-snippet: begin (README.md, "Training from Scala", shows these lines)
    val params = TrainParams(
      mode = opts.mode, // "synchronous", "asynchronous", ...
      numWorkers = opts.workers,
      epochs = opts.epochs,
      batchSize = opts.batchSize,
      seed = 42L
    )
    // opts.model: a compiled .keras file; opts.output: where to write the trained one
    val result = Trainer.fit(spark, opts.model, train, params, opts.output)
    // readme-snippet: end
    result.history.zipWithIndex.foreach { case (logs, i) =>
      val metrics = logs.toSeq
        .filterNot { case (k, _) => k == "rows" || k == "seconds" }
        .sortBy(_._1)
        .map { case (k, v) => f"$k=$v%.4f" }
      println(s"epoch ${i + 1}/${params.epochs}: ${metrics.mkString(" ")}")
    }

    val inference = InferenceParams(labelCol = Some("label"))
    val predicted = Predictor.predict(spark, test, result.modelArchive, None, inference)
    println(f"test accuracy: ${accuracy(predicted, inference.predictionCol, "label")}%.4f")
    val evaluated = Json.numbers(
      Json.parse(Evaluator.evaluate(spark, test, result.modelArchive, None, inference), "evaluate")
    )
    println(
      "test evaluate: " +
        evaluated.toSeq.sortBy(_._1).map { case (k, v) => f"$k=$v%.4f" }.mkString(" ")
    )
    opts.output.foreach { p =>
      println(s"wrote the trained model to $p (${result.modelArchive.length} bytes)")
    }
    test.unpersist()
  }
}

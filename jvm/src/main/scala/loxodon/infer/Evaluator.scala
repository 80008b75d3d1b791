package loxodon.infer

import org.apache.spark.sql.{DataFrame, SparkSession}

import loxodon.data.{ArrowBatches, BalancedPartitioning, TrainingData}
import loxodon.io.Json
import loxodon.model.KerasArchive

/** Distributed evaluation: each partition's rows go to a pooled Python worker, which runs
  * `model.evaluate`; the loss and metrics of all partitions are combined weighted by their rows.
  */
object Evaluator {

  /** `{"rows": total, "loss": .., "<metric>": ..}` over all rows of `df`, as JSON. */
  def evaluate(
      spark: SparkSession,
      df: DataFrame,
      archive: Array[Byte],
      customObjects: Option[Array[Byte]],
      params: InferenceParams
  ): String = {
    val model = KerasArchive.parseCompiled(archive)
    val labelCol = params.labelCol.getOrElse {
      throw new IllegalArgumentException("label_col: evaluate needs a label column")
    }
    val prepared =
      TrainingData.prepare(df, params.featuresCol, Some(labelCol), inputShape = model.inputShape)
    val shape = TrainingData.validate(prepared, Some(model), "evaluation data")
    if (shape.rows == 0) throw new IllegalArgumentException("evaluate: the DataFrame has no rows")
    val task = InferenceTask(spark.sparkContext, "evaluate", archive, customObjects, params)
    val (featureWidth, labelWidth) = (shape.featureWidth, shape.labelWidth.get)
    try {
      val results = BalancedPartitioning
        .examples(prepared)
        .mapPartitionsWithIndex { (partition, it) =>
          val rows = it.map(e => (e.features, e.label)).toArray
          if (rows.isEmpty) Iterator.empty
          else {
            val result = task.run(partition) { out =>
              ArrowBatches.write(out, rows.iterator, featureWidth, Some(labelWidth))
              ()
            }((m, _) => m.text)
            Iterator(result)
          }
        }
        .collect()
      combine(results.toList)
    } finally task.destroy()
  }

  /** Weighted means by `rows` of the partitions' results, plus the total `rows`. */
  def combine(results: Seq[String]): String = {
    val parsed = results.map(r => Json.numbers(Json.parse(r, "a worker's evaluate result")))
    val total = parsed.map(_.getOrElse("rows", 0.0)).sum
    val keys = parsed.flatMap(_.keys).distinct.filterNot(_ == "rows")
    val out = Json.obj().put("rows", total.toLong)
    keys.foreach { k =>
      val having = parsed.filter(_.contains(k))
      val w = having.map(_.getOrElse("rows", 0.0)).sum
      if (w > 0) out.put(k, having.map(r => r(k) * r.getOrElse("rows", 0.0)).sum / w)
    }
    Json.write(out)
  }
}

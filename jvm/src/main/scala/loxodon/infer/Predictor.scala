package loxodon.infer

import org.apache.spark.sql.{DataFrame, Row, SparkSession}
import org.apache.spark.sql.types.{ArrayType, FloatType, StructField, StructType}

import loxodon.data.{ArrowBatches, TrainingData}
import loxodon.exec.WorkerSession
import loxodon.io.Json
import loxodon.model.KerasArchive

/** Distributed inference: the input DataFrame plus a `prediction_col` column of float arrays, row
  * order kept. Each partition is buffered, sent to a pooled Python worker as one Arrow stream, and
  * zipped with the prediction stream the worker returns.
  */
object Predictor {

  private val FeaturesTmp = "__loxodon_features"

  /** `df` with predictions of the `.keras` `archive` (lazy: runs when the result is used). */
  def predict(
      spark: SparkSession,
      df: DataFrame,
      archive: Array[Byte],
      customObjects: Option[Array[Byte]],
      params: InferenceParams
  ): DataFrame = {
    val model = KerasArchive.parse(archive)
    if (df.columns.contains(params.predictionCol)) {
      throw new IllegalArgumentException(
        s"prediction_col: the DataFrame already has a column '${params.predictionCol}'; choose " +
          "another prediction_col"
      )
    }
    val features = TrainingData.featuresColumn(df, params.featuresCol)
    val withFeatures = df.withColumn(FeaturesTmp, features)
    val featurePos = withFeatures.columns.length - 1
    val outSchema = StructType(
      df.schema.fields :+ StructField(params.predictionCol, ArrayType(FloatType, false), true)
    )
    val sc = spark.sparkContext
    val archiveBc = sc.broadcast(archive)
    val customBc = sc.broadcast(customObjects.orNull)
    val expected = model.inputWidth
    val batchSize = params.batchSize
    val timeout = params.messageTimeoutMs
    val rows = withFeatures.rdd.mapPartitionsWithIndex { (partition, it) =>
      val buffered = it.toArray
      if (buffered.isEmpty) Iterator.empty
      else {
        val matrix = buffered.map(r => featureArray(r, featurePos))
        val width = matrix.head.length
        expected.foreach { w =>
          if (w != width) {
            throw new IllegalArgumentException(
              s"features_col: rows have $width feature values but the model's input needs $w"
            )
          }
        }
        val custom = customBc.value
        val spec = Json
          .obj()
          .put("kind", "predict")
          .put("partition", partition)
          .put("num_workers", 1)
          .put("seed", 0)
          .put("batch_size", batchSize)
        val names = Json.arr().add("model")
        if (custom != null) names.add("custom_objects")
        spec.set[com.fasterxml.jackson.databind.JsonNode]("attachments", names)
        val attachments = Seq(archiveBc.value) ++ Option(custom).toSeq
        val predictions = WorkerSession.run(partition, spec, attachments, timeout) { out =>
          ArrowBatches.write(out, matrix.iterator.map(x => (x, null)), width, None)
          ()
        }((_, channel) => ArrowBatches.readColumn(channel.in))
        if (predictions.length != buffered.length) {
          throw new IllegalStateException(
            s"the worker returned ${predictions.length} predictions for ${buffered.length} rows"
          )
        }
        buffered.iterator.zip(predictions.iterator).map { case (r, p) =>
          val values = new Array[Any](featurePos + 1)
          var i = 0
          while (i < featurePos) { values(i) = r.get(i); i += 1 }
          values(featurePos) = p.toSeq
          Row.fromSeq(values.toSeq)
        }
      }
    }
    spark.createDataFrame(rows, outSchema)
  }

  /** Row `r`'s features as floats; a clear error for null features. */
  private def featureArray(r: Row, pos: Int): Array[Float] = {
    if (r.isNullAt(pos)) {
      throw new IllegalArgumentException(
        "features_col: a row has null features; drop or fill such rows before predicting"
      )
    }
    val seq = r.getSeq[Any](pos)
    val out = new Array[Float](seq.length)
    var i = 0
    seq.foreach { v =>
      out(i) = if (v == null) Float.NaN else v.asInstanceOf[Float]
      i += 1
    }
    out
  }
}

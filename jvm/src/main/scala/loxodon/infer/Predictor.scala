package loxodon.infer

import org.apache.spark.sql.{DataFrame, LoxodonSqlShim, SparkSession}
import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.expressions.{GenericInternalRow, UnsafeArrayData}
import org.apache.spark.sql.types.{ArrayType, FloatType, StructField, StructType}

import loxodon.data.{ArrowBatches, TrainingData}
import loxodon.model.KerasArchive

/** Distributed inference: the input DataFrame plus a `prediction_col` column of float arrays, row
  * order kept. Each partition is buffered, sent to a pooled Python worker as one Arrow stream, and
  * zipped with the prediction stream the worker returns. Rows stay in Catalyst's internal format
  * throughout (features are read, and predictions written, as whole float blocks), so no value is
  * boxed into a `Row`.
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
    val features = TrainingData.featuresColumn(df, params.featuresCol, model.inputShape)
    TrainingData.requireInputWidth(df, params.featuresCol, model, "data to predict")
    val withFeatures = df.withColumn(FeaturesTmp, features)
    val featurePos = withFeatures.columns.length - 1
    val outSchema = StructType(
      df.schema.fields :+ StructField(params.predictionCol, ArrayType(FloatType, false), true)
    )
    // Not destroyed: the result is lazy, and runs the tasks each time it is used.
    val task = InferenceTask(spark.sparkContext, "predict", archive, customObjects, params)
    val expected = model.inputWidth
    val keptTypes = df.schema.fields.map(_.dataType)
    val input = LoxodonSqlShim.internalRows(withFeatures)
    val rows = input.mapPartitionsWithIndex { (partition, it) =>
      val buffered = it.map(_.copy()).toArray
      if (buffered.isEmpty) Iterator.empty
      else {
        val matrix = buffered.map(r => featureArray(r, featurePos))
        val width = matrix.head.length
        expected.foreach { w =>
          if (w != width) {
            throw new IllegalArgumentException(
              s"features_col: rows of the data to predict have $width feature values but the " +
                s"model's input needs $w; choose the matching column(s) or change the model's input"
            )
          }
        }
        val predictions = task.run(partition) { out =>
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
          while (i < featurePos) { values(i) = r.get(i, keptTypes(i)); i += 1 }
          values(featurePos) = UnsafeArrayData.fromPrimitiveArray(p)
          new GenericInternalRow(values): InternalRow
        }
      }
    }
    LoxodonSqlShim.createDataFrame(spark, rows, outSchema)
  }

  /** Row `r`'s features as floats; a clear error for null features. */
  private def featureArray(r: InternalRow, pos: Int): Array[Float] = {
    if (r.isNullAt(pos)) {
      throw new IllegalArgumentException(
        "features_col: a row has null features; drop or fill such rows before predicting"
      )
    }
    val values = r.getArray(pos) // array<float>: TrainingData.featuresColumn casts to it
    val out = new Array[Float](values.numElements())
    var i = 0
    while (i < out.length) {
      out(i) = if (values.isNullAt(i)) Float.NaN else values.getFloat(i)
      i += 1
    }
    out
  }
}

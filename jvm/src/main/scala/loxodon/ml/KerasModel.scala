package loxodon.ml

import org.apache.spark.ml.Model
import org.apache.spark.ml.linalg.{Vector, Vectors}
import org.apache.spark.ml.param.ParamMap
import org.apache.spark.ml.util.{Identifiable, MLReadable, MLReader, MLWritable, MLWriter}
import org.apache.spark.ml.functions.array_to_vector
import org.apache.spark.sql.{Column, DataFrame, Dataset}
import org.apache.spark.sql.functions._
import org.apache.spark.sql.types.{ArrayType, DoubleType, StructType}

import loxodon.infer.{InferenceParams, Predictor}
import loxodon.io.Json
import loxodon.model.KerasArchive

/** A trained (or pretrained) Keras model as a Spark ML Transformer: `transform` adds predictions
  * computed by pooled Python workers ([[loxodon.infer.Predictor]]).
  *
  * With `outputMode` "classification" (the default) `predictionCol` is the argmax class index as a
  * Double and `probabilityCol` the model's output as an ML Vector (a single sigmoid unit p becomes
  * [1 - p, p]), so `MulticlassClassificationEvaluator` works directly; with "raw" `predictionCol`
  * is the model's output as array<float>.
  *
  * Built by [[KerasEstimator.fit]] (with the training history), or from a `.keras` archive with no
  * training: `KerasModel.fromArchive(bytes)` or `new KerasModel().setModelPath(uri)`. Saved with
  * `write.save(path)` / read with `KerasModel.load(path)` (layout: [[KerasPersistence]]).
  */
class KerasModel(override val uid: String)
    extends Model[KerasModel]
    with KerasInferenceSetters
    with HasKerasArchive
    with MLWritable {

  def this() = this(Identifiable.randomUID("KerasModel"))

  private var trainingHistory: Seq[Map[String, Double]] = Seq.empty

  /** A model only predicts: any `.keras` archive will do. */
  override protected def checkArchive(bytes: Array[Byte]): Unit = { KerasArchive.parse(bytes); () }

  /** Whether a `.keras` archive is set. */
  def hasModelArchive: Boolean = archive.isDefined

  /** One map of logs per trained epoch (empty for a model that was not trained here). */
  def history: Seq[Map[String, Double]] = trainingHistory

  /** The history as Keras's `History.history`: `{"loss": [..], "accuracy": [..], ...}`. */
  def historyJson: String = KerasModel.historyToJson(trainingHistory)

  private[ml] def setHistory(h: Seq[Map[String, Double]]): this.type = {
    trainingHistory = h
    this
  }

  override def transformSchema(schema: StructType): StructType =
    validateAndTransformSchema(schema, fitting = false, archive.map(KerasArchive.parse))

  override def transform(dataset: Dataset[_]): DataFrame = {
    transformSchema(dataset.schema, logging = true)
    val bytes = requireArchive(stageName)
    val model = KerasArchive.parse(bytes)
    val classification = $(outputMode) == "classification"
    val multiOutput = model.outputs.size > 1
    val raw = if (classification || multiOutput) KerasModel.RawTmp else $(predictionCol)
    val data = inputColumns.fold(dataset.toDF()) { cols =>
      MultiColumns.flatFrame(stageName, dataset.toDF(), model, cols, None)
    }
    val params = InferenceParams(
      featuresCol = inputColumns.fold(featureColumns._1)(_ => Seq(MultiColumns.Features)),
      predictionCol = raw,
      batchSize = $(inferenceBatchSize),
      imports = $(imports).toSeq
    )
    val predicted = Predictor.predict(dataset.sparkSession, data, bytes, custom, params)
    if (multiOutput) {
      MultiColumns.splitPredictions(
        stageName,
        predicted,
        model,
        raw,
        $(predictionCol),
        $(probabilityCol),
        classification
      )
    } else if (!classification) predicted.drop(MultiColumns.Features)
    else {
      predicted
        .withColumn($(predictionCol), KerasModel.argmaxColumn(col(raw)))
        .withColumn($(probabilityCol), KerasModel.probabilityColumn(col(raw)))
        .drop(raw, MultiColumns.Features)
    }
  }

  override def copy(extra: ParamMap): KerasModel = {
    val that = new KerasModel(uid)
    copyArchiveTo(that)
    that.trainingHistory = trainingHistory
    copyValues(that, extra).setParent(parent)
  }

  override def write: MLWriter = new KerasModel.KerasModelWriter(this)

  override def toString: String =
    s"KerasModel: uid=$uid, archive=${archive.map(a => s"${a.length} bytes").getOrElse("none")}, " +
      s"epochs trained=${trainingHistory.size}"
}

object KerasModel extends MLReadable[KerasModel] {

  private val RawTmp = "__loxodon_raw_prediction"

  /** A pretrained model from the bytes of a `.keras` archive. */
  def fromArchive(bytes: Array[Byte]): KerasModel = new KerasModel().setModelArchive(bytes)

  /** A pretrained model from the `.keras` file at `path` (any Hadoop FileSystem URI). */
  def fromPath(path: String): KerasModel = new KerasModel().setModelPath(path)

  /** The class index of the largest output (a single unit: 1 when >= 0.5). */
  def argmax(output: Seq[Float]): Double =
    if (output.length == 1) { if (output.head >= 0.5f) 1.0 else 0.0 }
    else output.indices.maxBy(output).toDouble

  /** Class probabilities as an ML Vector (a single unit p: [1 - p, p]). */
  def probability(output: Seq[Float]): Vector =
    if (output.length == 1) Vectors.dense(1.0 - output.head, output.head.toDouble)
    else Vectors.dense(output.map(_.toDouble).toArray)

  /** [[argmax]] as a column expression over an array<float> column. */
  private[ml] def argmaxColumn(c: Column): Column =
    when(size(c) === 1, when(element_at(c, 1) >= 0.5f, 1.0).otherwise(0.0))
      .otherwise((array_position(c, array_max(c)) - 1).cast(DoubleType))

  /** [[probability]] as a column expression over an array<float> column. */
  private[ml] def probabilityColumn(c: Column): Column = {
    val values = c.cast(ArrayType(DoubleType))
    val p = element_at(values, 1)
    array_to_vector(when(size(c) === 1, array(lit(1.0) - p, p)).otherwise(values))
  }

  /** `history` as Keras's `History.history` JSON (keys in first-seen order). */
  def historyToJson(history: Seq[Map[String, Double]]): String = {
    val out = Json.obj()
    val keys = history.flatMap(_.keys.toSeq.sorted).distinct
    keys.foreach { k =>
      val values = Json.arr()
      history.foreach(h => h.get(k).fold(values.addNull())(v => values.add(v)))
      out.set[com.fasterxml.jackson.databind.JsonNode](k, values)
    }
    Json.write(out)
  }

  /** The inverse of [[historyToJson]]. */
  def historyFromJson(text: String): Seq[Map[String, Double]] = {
    val node = Json.parse(text, "history.json")
    val keys = Seq.newBuilder[String]
    node.fieldNames().forEachRemaining(k => keys += k)
    val names = keys.result()
    val epochs = names.map(k => node.get(k).size()).foldLeft(0)(math.max)
    (0 until epochs).map { e =>
      names.flatMap { k =>
        val v = node.get(k).get(e)
        if (v == null || !v.isNumber) None else Some(k -> v.asDouble())
      }.toMap
    }
  }

  override def read: MLReader[KerasModel] = new KerasModelReader

  override def load(path: String): KerasModel = super.load(path)

  private class KerasModelWriter(instance: KerasModel) extends MLWriter {
    override protected def saveImpl(path: String): Unit =
      KerasPersistence.save(
        instance,
        path,
        sparkSession,
        KerasPersistence.Extra(instance.archive, instance.custom, Some(instance.historyJson))
      )
  }

  private class KerasModelReader extends MLReader[KerasModel] {
    override def load(path: String): KerasModel = {
      val (model, extra) =
        KerasPersistence.load(path, sparkSession, classOf[KerasModel].getName)(new KerasModel(_))
      model.archive = extra.archive
      model.custom = extra.customObjects
      model.trainingHistory = extra.historyJson.map(historyFromJson).getOrElse(Seq.empty)
      model
    }
  }
}

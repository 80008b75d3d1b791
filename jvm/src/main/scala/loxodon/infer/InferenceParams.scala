package loxodon.infer

import loxodon.io.Json
import loxodon.train.TrainParams

/** The settings of a distributed predict or evaluate, parsed from Python's JSON.
  *
  * @param labelCol
  *   the label column (evaluate only)
  * @param imports
  *   Python modules the workers import before loading the model (registered custom objects)
  */
final case class InferenceParams(
    featuresCol: Seq[String] = Seq("features"),
    labelCol: Option[String] = None,
    predictionCol: String = "prediction",
    batchSize: Int = 1024,
    messageTimeoutMs: Long = 3600000L,
    imports: Seq[String] = Seq.empty
) {
  require(batchSize >= 1, s"batch_size must be positive, got $batchSize")
  require(predictionCol.nonEmpty, "prediction_col must name a column")
}

object InferenceParams {

  /** Parses `{"features_col", "label_col", "prediction_col", "batch_size", "imports"}`. */
  def fromJson(text: String): InferenceParams = {
    val node = Json.parse(text, "the inference params")
    require(node.isObject, "the inference params must be a JSON object")
    val d = InferenceParams()
    InferenceParams(
      featuresCol = TrainParams.columns(node, "features_col", d.featuresCol),
      labelCol = Option(TrainParams.string(node, "label_col", null)),
      predictionCol = TrainParams.string(node, "prediction_col", d.predictionCol),
      batchSize = TrainParams.int(node, "batch_size", d.batchSize),
      messageTimeoutMs = TrainParams.long(node, "timeout_ms", d.messageTimeoutMs),
      imports = TrainParams.columns(node, "imports", d.imports)
    )
  }
}

package loxodon.ml

/** The setters of the params that both stages use to predict (the columns, the output, the batch
  * size and the workers' imports), each checked by [[KerasParams.problem]]: a [[KerasEstimator]]
  * passes them to the [[KerasModel]] it fits.
  */
trait KerasInferenceSetters extends KerasParams {
  def setFeaturesCol(v: String): this.type = setChecked(featuresCol, v)
  def setFeaturesCols(v: Array[String]): this.type = setChecked(featuresCols, v)
  def setInputCols(v: Array[String]): this.type = setChecked(inputCols, v)
  def setPredictionCol(v: String): this.type = setChecked(predictionCol, v)
  def setProbabilityCol(v: String): this.type = setChecked(probabilityCol, v)
  def setOutputMode(v: String): this.type = setChecked(outputMode, v)
  def setInferenceBatchSize(v: Int): this.type = setChecked(inferenceBatchSize, v)
  def setImports(v: Array[String]): this.type = setChecked(imports, v)
}

package org.apache.spark.ml

import org.apache.spark.ml.param.Params
import org.apache.spark.ml.util.{DefaultParamsReader, DefaultParamsWriter}
import org.apache.spark.sql.SparkSession

/** The one door from Loxodon into Spark ML's `private[ml]` persistence helpers (as XGBoost4J-Spark
  * does): writing and reading the `metadata/` of a stage exactly as Spark's own stages do, so
  * `Pipeline.save`/`PipelineModel.load` in Scala and Python treat Loxodon's stages like any other.
  */
// Spark 3.5: the helpers take a SparkContext (4.x takes the SparkSession).
object LoxodonMLShim {

  /** Writes `instance`'s class name, uid and params (set and default) as `path/metadata`. */
  def saveMetadata(instance: Params, path: String, spark: SparkSession): Unit =
    DefaultParamsWriter.saveMetadata(instance, path, spark.sparkContext)

  /** Reads `path/metadata` (checking it was written by `className`), builds the instance with
    * `make(uid)` and sets the saved params and defaults on it.
    */
  def loadParams[T <: Params](path: String, spark: SparkSession, className: String)(
      make: String => T
  ): T = {
    val metadata = DefaultParamsReader.loadMetadata(path, spark.sparkContext, className)
    val instance = make(metadata.uid)
    metadata.getAndSetParams(instance)
    instance
  }
}

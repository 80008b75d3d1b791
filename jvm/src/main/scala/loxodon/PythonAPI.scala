package loxodon

import org.apache.spark.sql.SparkSession

import loxodon.ps.ParameterServer

/** The single Py4J doorway into the JVM half: Python (`loxodon._jvm`) calls only the methods of
  * this object, with plain Java types, and gets back JVM objects it drives by their public methods.
  * Each method delegates to the Scala API a Scala user would call.
  */
object PythonAPI {

  /** The version of this jar; Python checks it to see the jar is on the class path. */
  def version: String = "0.1.0"

  /** Starts a parameter server for one job, bound to the driver host of `spark`'s config on an
    * ephemeral port (see [[loxodon.ps.SparkBinding]]). The caller closes it.
    *
    * @param numParams
    *   a Python int: a Long here, checked to fit an Int
    */
  def startParameterServer(
      spark: SparkSession,
      numWorkers: Int,
      numParams: Long,
      layoutJson: String,
      syncTimeoutMs: Long,
      maxFrameBytes: Int,
      easgdAlpha: Double
  ): ParameterServer =
    ParameterServer.forSpark(
      spark.sparkContext.getConf,
      numWorkers,
      numParams,
      layoutJson,
      syncTimeoutMs,
      maxFrameBytes,
      easgdAlpha
    )
}

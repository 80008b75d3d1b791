package loxodon.ml

import org.apache.hadoop.fs.Path
import org.apache.spark.ml.LoxodonMLShim
import org.apache.spark.ml.param.Params
import org.apache.spark.sql.SparkSession

import loxodon.io.HadoopFiles

/** The saved form of [[KerasEstimator]] and [[KerasModel]]: Spark's own `metadata/` (class, uid,
  * params, written by `DefaultParamsWriter`) plus the parts that are not params, as plain files
  * next to it:
  * {{{
  *   <path>/metadata/part-00000        DefaultParamsWriter's JSON
  *   <path>/keras/model.keras          the .keras archive (when set)
  *   <path>/keras/custom_objects.pkl   cloudpickle of the custom objects (when set)
  *   <path>/history.json               per-epoch logs, Keras History style (models only)
  * }}}
  * Scala and Python read and write the same layout, so a stage saved from one loads in the other.
  *
  * Pickled custom objects are unpickled by the workers that use the stage: loading a stage that
  * holds them from an untrusted path would run its code. [[load]] refuses them unless the session
  * sets [[AllowPickledConf]]; `imports` (registered, importable modules) saves only module names.
  */
private[ml] object KerasPersistence {

  final val ModelFile = "keras/model.keras"
  final val CustomObjectsFile = "keras/custom_objects.pkl"
  final val HistoryFile = "history.json"

  /** The Spark conf that lets [[load]] accept pickled custom objects (default false). */
  final val AllowPickledConf = "spark.loxodon.allowPickledCustomObjects"

  /** What a stage holds besides its params. */
  final case class Extra(
      archive: Option[Array[Byte]],
      customObjects: Option[Array[Byte]],
      historyJson: Option[String]
  )

  /** Writes `instance`'s metadata and `extra` under `path` (MLWriter has already handled
    * overwrite).
    */
  def save(instance: Params, path: String, spark: SparkSession, extra: Extra): Unit = {
    LoxodonMLShim.saveMetadata(instance, path, spark)
    def put(name: String, bytes: Array[Byte]): Unit =
      HadoopFiles.write(spark, new Path(path, name).toString, bytes, overwrite = true)
    extra.archive.foreach(put(ModelFile, _))
    extra.customObjects.foreach(put(CustomObjectsFile, _))
    extra.historyJson.foreach(h => put(HistoryFile, h.getBytes("UTF-8")))
  }

  /** Reads the stage saved under `path` by `className`, built with `make(uid)`. */
  def load[T <: Params](path: String, spark: SparkSession, className: String)(
      make: String => T
  ): (T, Extra) = {
    val instance = LoxodonMLShim.loadParams(path, spark, className)(make)
    def exists(name: String): Boolean = {
      val p = new Path(path, name)
      p.getFileSystem(spark.sparkContext.hadoopConfiguration).exists(p)
    }
    def get(name: String): Option[Array[Byte]] =
      if (exists(name)) Some(HadoopFiles.read(spark, new Path(path, name).toString)) else None
    if (exists(CustomObjectsFile) && !spark.conf.get(AllowPickledConf, "false").toBoolean) {
      throw new IllegalArgumentException(
        s"the ${className.split('.').last} stage saved at $path holds pickled custom objects " +
          s"($CustomObjectsFile): loading them runs code from that path. If you trust it, " +
          s"""opt in with spark.conf.set("$AllowPickledConf", "true"); better, save the """ +
          "stage with imports=[...] (modules that register the objects with " +
          "@keras.saving.register_keras_serializable(), importable on the executors) instead " +
          "of customObjects"
      )
    }
    val extra = Extra(
      get(ModelFile),
      get(CustomObjectsFile),
      get(HistoryFile).map(b => new String(b, "UTF-8"))
    )
    (instance, extra)
  }
}

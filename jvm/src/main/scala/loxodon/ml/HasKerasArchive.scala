package loxodon.ml

import org.apache.spark.sql.SparkSession

import loxodon.io.HadoopFiles

/** The Keras model of a [[KerasEstimator]] or [[KerasModel]], which is not a Param (docs/design.md,
  * "Spark ML stages"): the `.keras` archive and the pickled custom objects, their setters and
  * getters (called by name from the Python wrappers), and the error of a stage that has none.
  * [[KerasPersistence]] saves and loads them beside the Params.
  */
trait HasKerasArchive {

  private[ml] var archive: Option[Array[Byte]] = None
  private[ml] var custom: Option[Array[Byte]] = None

  /** Checks `bytes` before they are set: a `.keras` archive the stage can use. */
  protected def checkArchive(bytes: Array[Byte]): Unit

  /** Sets the `.keras` archive (checked by [[checkArchive]]). */
  def setModelArchive(bytes: Array[Byte]): this.type = {
    checkArchive(bytes)
    archive = Some(bytes)
    this
  }

  /** Reads the `.keras` archive at `path` (any Hadoop FileSystem URI). */
  def setModelPath(path: String): this.type =
    setModelArchive(HadoopFiles.read(SparkSession.active, path))

  /** Sets the custom objects: a cloudpickle of a dict made by the Python front end (null clears).
    */
  def setCustomObjects(bytes: Array[Byte]): this.type = {
    custom = Option(bytes).filter(_.nonEmpty)
    this
  }

  /** The `.keras` archive, or null when none is set. */
  def getModelArchive: Array[Byte] = archive.orNull

  /** The pickled custom objects, or null when none are set. */
  def getCustomObjects: Array[Byte] = custom.orNull

  /** The archive, or an IllegalStateException naming `stage` and the setters (`hint`: more). */
  protected def requireArchive(stage: String, hint: String = ""): Array[Byte] =
    archive.getOrElse {
      throw new IllegalStateException(
        s"$stage has no Keras model: call setModelArchive(bytes) or setModelPath(path)$hint"
      )
    }

  /** Gives `that` this stage's archive and custom objects (for `copy`). */
  protected def copyArchiveTo(that: HasKerasArchive): Unit = {
    that.archive = archive
    that.custom = custom
  }
}

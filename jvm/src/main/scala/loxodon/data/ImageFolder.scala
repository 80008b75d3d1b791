package loxodon.data

import org.apache.hadoop.fs.Path
import org.apache.spark.ml.attribute.NominalAttribute
import org.apache.spark.sql.{DataFrame, SparkSession}
import org.apache.spark.sql.api.java.UDF1
import org.apache.spark.sql.functions.{col, lower, udf}
import org.apache.spark.sql.types.IntegerType

/** A folder of class sub-folders as a labelled DataFrame, the layout
  * `keras.utils.image_dataset_from_directory` reads: `root/<class>/.../<image file>`.
  *
  * Columns `path`, `content` (the file's bytes, decoded later in the tasks by [[ImageColumns]]) and
  * `label`, the class index in the sorted order of the sub-folder names, carrying those names as
  * Spark ML attribute metadata (so `IndexToString` and `KerasModel` outputs can name them).
  */
object ImageFolder {

  /** The file extensions read (lower case), as Keras's `ALLOWLIST_FORMATS`. */
  val Extensions: Seq[String] = Seq(".png", ".jpg", ".jpeg", ".bmp", ".gif")

  /** The labelled images under `root` (any Hadoop FileSystem URI). */
  def load(spark: SparkSession, root: String): DataFrame = {
    val base = new Path(root)
    val fs = base.getFileSystem(spark.sparkContext.hadoopConfiguration)
    require(fs.exists(base), s"image folder: no folder '$root'")
    val qualified = fs.makeQualified(base).toString.stripSuffix("/") + "/"
    val classes = fs.listStatus(base).filter(_.isDirectory).map(_.getPath.getName).sorted
    require(
      classes.nonEmpty,
      s"image folder: '$root' has no sub-folders; put each class's images in a folder of its own " +
        "(root/<class>/<image>)"
    )
    val index = classes.zipWithIndex.toMap
    val classOf = udf(
      new UDF1[String, Int] {
        def call(path: String): Int = {
          val relative = if (path.startsWith(qualified)) path.substring(qualified.length) else ""
          val slash = relative.indexOf('/')
          if (slash <= 0) -1 else index.getOrElse(relative.substring(0, slash), -1)
        }
      },
      IntegerType
    )
    val files = spark.read
      .format("binaryFile")
      .option("recursiveFileLookup", "true")
      .load(root)
      .filter(Extensions.map(e => lower(col("path")).endsWith(e)).reduce(_ || _))
      .withColumn("label", classOf(col("path")))
      .filter(col("label") >= 0)
    val attribute = NominalAttribute.defaultAttr.withName("label").withValues(classes)
    files.select(col("path"), col("content"), col("label").as("label", attribute.toMetadata()))
  }
}

package loxodon.io

import java.io.ByteArrayOutputStream

import org.apache.hadoop.fs.{FileSystem, Path}
import org.apache.spark.sql.SparkSession

/** Whole-file reads and writes through Hadoop's FileSystem (file://, hdfs://, s3a://, ...) with the
  * session's Hadoop configuration: how models and settings are saved and loaded.
  */
object HadoopFiles {

  /** Writes `bytes` to `uri`; fails if it exists and `overwrite` is false. */
  def write(spark: SparkSession, uri: String, bytes: Array[Byte], overwrite: Boolean): Unit = {
    require(uri != null && uri.nonEmpty, "the path to write is empty")
    require(bytes != null, s"no bytes to write to $uri")
    val path = new Path(uri)
    val fs = path.getFileSystem(spark.sparkContext.hadoopConfiguration)
    if (!overwrite && fs.exists(path)) {
      throw new IllegalArgumentException(s"$uri exists: pass overwrite=True to replace it")
    }
    writeAll(fs, path, bytes, overwrite)
  }

  /** The bytes of the file at `uri`; a clear error if it does not exist. */
  def read(spark: SparkSession, uri: String): Array[Byte] = {
    require(uri != null && uri.nonEmpty, "the path to read is empty")
    val path = new Path(uri)
    val fs = path.getFileSystem(spark.sparkContext.hadoopConfiguration)
    if (!fs.exists(path)) throw new IllegalArgumentException(s"no file at $uri")
    readAll(fs, path)
  }

  /** Writes `bytes` as the whole of the file at `path` on `fs`. */
  def writeAll(fs: FileSystem, path: Path, bytes: Array[Byte], overwrite: Boolean): Unit = {
    val out = fs.create(path, overwrite)
    try out.write(bytes)
    finally out.close()
  }

  /** The whole of the file at `path` on `fs`. */
  def readAll(fs: FileSystem, path: Path): Array[Byte] = {
    val in = fs.open(path)
    try {
      val out = new ByteArrayOutputStream()
      in.transferTo(out)
      out.toByteArray
    } finally in.close()
  }
}

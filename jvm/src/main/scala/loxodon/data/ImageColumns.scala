package loxodon.data

import java.awt.color.ColorSpace
import java.awt.image.BufferedImage
import java.io.ByteArrayInputStream

import javax.imageio.ImageIO

import org.apache.spark.sql.{Column, Row}
import org.apache.spark.sql.functions.{col, udf}
import org.apache.spark.sql.api.java.UDF1
import org.apache.spark.sql.types.{ArrayType, BinaryType, DataType, FloatType, StructType}

/** Image columns as features: a struct of Spark's `image` data source (decoded BGR bytes) or a
  * binary column of encoded files (`binaryFile`'s `content`: PNG, JPEG, BMP, GIF), decoded where
  * the rows are (the executors' tasks, never the driver) and resized to the model's input shape.
  *
  * Values follow Keras's image loading (`keras.utils.load_img`, `image_dataset_from_directory`):
  * float 0 to 255, channels last in RGB order (1 channel: ITU-R 601-2 luma, as PIL's "L"; 4: RGBA),
  * bilinear resizing; scaling belongs in the model (a `Rescaling` layer).
  */
object ImageColumns {

  /** Whether `t` is an image column: Spark's image struct or binary file contents. */
  def isImage(t: DataType): Boolean = t match {
    case BinaryType    => true
    case s: StructType => ImageFields.subsetOf(s.fieldNames.toSet) // nullability may differ
    case _             => false
  }

  /** The fields of Spark's image struct (`ImageSchema.columnSchema`) that the decoding reads. */
  private val ImageFields = Set("height", "width", "nChannels", "data")

  /** The features (height x width x channels floats) of image column `name` of type `t`, for a
    * model whose input shape (without the batch) is `inputShape`.
    */
  def features(name: String, t: DataType, inputShape: Option[Seq[Int]]): Column = {
    val (height, width, channels) = target(name, inputShape)
    // Java UDF interfaces with an explicit return type: no TypeTags (scala-reflect) needed.
    val floats = ArrayType(FloatType, containsNull = false)
    val decode =
      if (t == BinaryType)
        udf(
          new UDF1[Array[Byte], Array[Float]] {
            def call(bytes: Array[Byte]): Array[Float] =
              if (bytes == null) null else pixels(fromImage(read(bytes)), height, width, channels)
          },
          floats
        )
      else
        udf(
          new UDF1[Row, Array[Float]] {
            def call(image: Row): Array[Float] =
              if (image == null) null else pixels(fromStruct(image), height, width, channels)
          },
          floats
        )
    decode(col(name))
  }

  /** (height, width, channels) of the model's input, or why images cannot feed it. */
  private def target(name: String, inputShape: Option[Seq[Int]]): (Int, Int, Int) =
    inputShape match {
      case Some(Seq(h, w, c)) if h > 0 && w > 0 && Set(1, 3, 4).contains(c) => (h, w, c)
      case Some(Seq(h, w)) if h > 0 && w > 0                                => (h, w, 1)
      case other =>
        throw new IllegalArgumentException(
          s"features_col: column '$name' holds images, but the model's input shape " +
            s"${other.map(_.mkString("(", ", ", ")")).getOrElse("(unknown)")} is not (height, " +
            "width, channels) with fixed sizes and 1, 3 or 4 channels; give the model's Input " +
            "such a shape (images are resized to it)"
        )
    }

  private def read(bytes: Array[Byte]): BufferedImage = {
    val image = ImageIO.read(new ByteArrayInputStream(bytes))
    if (image == null) {
      throw new IllegalArgumentException(
        s"features_col: a row's ${bytes.length} bytes are not an image this JVM can decode " +
          s"(formats: ${ImageIO.getReaderFormatNames.map(_.toLowerCase).distinct.sorted.mkString(", ")})"
      )
    }
    image
  }

  /** Decoded pixels, channels last: `values(((y * width) + x) * channels + c)`, 0..255. */
  private[data] final case class Pixels(
      height: Int,
      width: Int,
      channels: Int,
      values: Array[Float]
  )

  /** A row of Spark's image struct (gray, BGR or BGRA bytes, row-major) as RGB(A) or gray pixels.
    */
  private def fromStruct(row: Row): Pixels = {
    val height = row.getInt(row.fieldIndex("height"))
    val width = row.getInt(row.fieldIndex("width"))
    val channels = row.getInt(row.fieldIndex("nChannels"))
    val data = row.getAs[Array[Byte]]("data")
    val values = new Array[Float](height * width * channels)
    for (p <- 0 until height * width; c <- 0 until channels) {
      // BGR(A) -> RGB(A): channel c of the output is byte 2 - c for the colours, alpha stays.
      val from = if (channels >= 3 && c < 3) 2 - c else c
      values(p * channels + c) = (data(p * channels + from) & 0xff).toFloat
    }
    Pixels(height, width, channels, values)
  }

  /** An image read by ImageIO as gray (1 channel) or RGBA (4) pixels. Gray images are read from
    * their raster: `getRGB` would convert their linear gray to sRGB and change the values.
    */
  private def fromImage(image: BufferedImage): Pixels = {
    val (height, width) = (image.getHeight, image.getWidth)
    if (image.getColorModel.getColorSpace.getType == ColorSpace.TYPE_GRAY) {
      val raster = image.getRaster
      val shift = math.max(0, image.getColorModel.getComponentSize(0) - 8) // 16-bit gray
      val values = new Array[Float](height * width)
      for (y <- 0 until height; x <- 0 until width) {
        values(y * width + x) = (raster.getSample(x, y, 0) >> shift).toFloat
      }
      Pixels(height, width, 1, values)
    } else {
      val values = new Array[Float](height * width * 4)
      for (y <- 0 until height; x <- 0 until width) {
        val argb = image.getRGB(x, y)
        val at = (y * width + x) * 4
        values(at) = ((argb >> 16) & 0xff).toFloat
        values(at + 1) = ((argb >> 8) & 0xff).toFloat
        values(at + 2) = (argb & 0xff).toFloat
        values(at + 3) = ((argb >>> 24) & 0xff).toFloat
      }
      Pixels(height, width, 4, values)
    }
  }

  /** `source` as `channels` channels (1: PIL's "L" luma of RGB; 3: gray repeated, or RGB; 4: RGBA),
    * resized bilinearly to height x width as `tf.image.resize` does (half-pixel centres, no
    * antialiasing), flattened channels last.
    */
  private[data] def pixels(source: Pixels, height: Int, width: Int, channels: Int): Array[Float] = {
    val converted = convert(source, channels)
    if (source.height == height && source.width == width) converted
    else resize(converted, source.height, source.width, height, width, channels)
  }

  private def convert(source: Pixels, channels: Int): Array[Float] = {
    val n = source.height * source.width
    val (in, from) = (source.values, source.channels)
    if (from == channels) in
    else {
      val out = new Array[Float](n * channels)
      for (p <- 0 until n) {
        def v(c: Int): Float = in(p * from + math.min(c, from - 1))
        if (channels == 1) {
          // PIL's RGB -> L: (R 19595 + G 38470 + B 7471 + 2^15) >> 16, in integers.
          val rgb = (v(0).toInt * 19595 + v(1).toInt * 38470 + v(2).toInt * 7471 + 0x8000) >> 16
          out(p) = if (from == 1) in(p) else rgb.toFloat
        } else {
          for (c <- 0 until channels) {
            out(p * channels + c) = if (c == 3) { if (from == 4) in(p * 4 + 3) else 255f }
            else v(if (from < 3) 0 else c)
          }
        }
      }
      out
    }
  }

  private def resize(
      in: Array[Float],
      inH: Int,
      inW: Int,
      height: Int,
      width: Int,
      channels: Int
  ): Array[Float] = {
    val out = new Array[Float](height * width * channels)
    val (sy, sx) = (inH.toDouble / height, inW.toDouble / width)
    for (y <- 0 until height) {
      val fy = math.max(0.0, (y + 0.5) * sy - 0.5)
      val y0 = math.min(fy.toInt, inH - 1)
      val y1 = math.min(y0 + 1, inH - 1)
      val dy = (fy - y0).toFloat
      for (x <- 0 until width) {
        val fx = math.max(0.0, (x + 0.5) * sx - 0.5)
        val x0 = math.min(fx.toInt, inW - 1)
        val x1 = math.min(x0 + 1, inW - 1)
        val dx = (fx - x0).toFloat
        for (c <- 0 until channels) {
          def at(yy: Int, xx: Int): Float = in((yy * inW + xx) * channels + c)
          val top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * dx
          val bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * dx
          out((y * width + x) * channels + c) = top + (bottom - top) * dy
        }
      }
    }
    out
  }
}

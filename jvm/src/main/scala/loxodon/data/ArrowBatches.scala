package loxodon.data

import java.io.{FilterInputStream, FilterOutputStream, InputStream, OutputStream}
import java.nio.channels.Channels

import scala.collection.mutable.ArrayBuffer
import scala.jdk.CollectionConverters._

import org.apache.arrow.memory.RootAllocator
import org.apache.arrow.vector.{Float4Vector, VectorSchemaRoot}
import org.apache.arrow.vector.complex.FixedSizeListVector
import org.apache.arrow.vector.ipc.{ArrowStreamReader, ArrowStreamWriter}
import org.apache.arrow.vector.types.FloatingPointPrecision
import org.apache.arrow.vector.types.pojo.{ArrowType, Field, FieldType, Schema}

/** Rows as Arrow IPC streams, the form in which they cross to the Python worker (docs/design.md,
  * "Executor-side Python workers").
  *
  * A stream has a `features` column `fixed_size_list<float32>[width]` and, unless it is for
  * prediction, a `label` column `fixed_size_list<float32>[k]`, in record batches of at most
  * [[BatchRows]] rows. Python reads it with `pyarrow.ipc.open_stream(f).read_all()`. Every stream
  * gets its own allocator, closed with it; the caller's stream is never closed here (the same
  * socket carries several streams and messages).
  */
object ArrowBatches {

  /** Rows per record batch. */
  final val BatchRows: Int = 8192

  /** Name of the column the worker writes predictions to. */
  final val PredictionColumn: String = "prediction"

  private val float32 = new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE)

  private def listField(name: String, width: Int): Field = {
    val child = new Field("item", FieldType.notNullable(float32), null)
    new Field(
      name,
      FieldType.notNullable(new ArrowType.FixedSizeList(width)),
      java.util.Collections.singletonList(child)
    )
  }

  /** The schema of a stream of rows of `featureWidth` values and, if given, labels. */
  def schema(featureWidth: Int, labelWidth: Option[Int]): Schema = {
    val fields = Seq(listField("features", featureWidth)) ++
      labelWidth.map(listField("label", _)).toSeq
    new Schema(fields.asJava)
  }

  /** Writes `rows` as one Arrow IPC stream on `out` (then flushes it, without closing it); an empty
    * iterator still writes a valid stream: the schema and the end marker. Each row's features must
    * have `featureWidth` values and, when `labelWidth` is given, its label that many. Returns the
    * number of rows written.
    */
  def write(
      out: OutputStream,
      rows: Iterator[(Array[Float], Array[Float])],
      featureWidth: Int,
      labelWidth: Option[Int]
  ): Long = {
    require(featureWidth > 0, s"featureWidth must be positive, got $featureWidth")
    val allocator = new RootAllocator(Long.MaxValue)
    val root = VectorSchemaRoot.create(schema(featureWidth, labelWidth), allocator)
    val target = new FilterOutputStream(out) {
      override def write(b: Array[Byte], off: Int, len: Int): Unit = out.write(b, off, len)
      override def close(): Unit = out.flush()
    }
    val writer = new ArrowStreamWriter(root, null, Channels.newChannel(target))
    var total = 0L
    try {
      writer.start()
      val features = root.getVector("features").asInstanceOf[FixedSizeListVector]
      val label = labelWidth.map(_ => root.getVector("label").asInstanceOf[FixedSizeListVector])
      while (rows.hasNext) {
        root.allocateNew()
        val fValues = features.getDataVector.asInstanceOf[Float4Vector]
        val lValues = label.map(_.getDataVector.asInstanceOf[Float4Vector])
        var n = 0
        while (n < BatchRows && rows.hasNext) {
          val (x, y) = rows.next()
          put(features, fValues, n, x, featureWidth, "features")
          label.foreach(l => put(l, lValues.get, n, y, labelWidth.get, "label"))
          n += 1
        }
        root.setRowCount(n)
        writer.writeBatch()
        total += n
      }
      writer.end()
      out.flush()
      total
    } finally {
      writer.close()
      root.close()
      allocator.close()
    }
  }

  private def put(
      list: FixedSizeListVector,
      values: Float4Vector,
      row: Int,
      data: Array[Float],
      width: Int,
      name: String
  ): Unit = {
    if (data == null || data.length != width) {
      val got = if (data == null) "null" else s"${data.length} values"
      throw new IllegalArgumentException(s"a row's $name has $got, the stream needs $width")
    }
    list.setNotNull(row)
    val base = row * width
    var i = 0
    while (i < width) {
      values.setSafe(base + i, data(i))
      i += 1
    }
  }

  /** Reads one Arrow IPC stream (to its end marker) from `in`, without closing `in`, and returns
    * the rows of its `column` (a `fixed_size_list<float32>`).
    */
  def readColumn(in: InputStream, column: String = PredictionColumn): Array[Array[Float]] = {
    val allocator = new RootAllocator(Long.MaxValue)
    val source = new FilterInputStream(in) { override def close(): Unit = () }
    val reader = new ArrowStreamReader(source, allocator)
    try {
      val root = reader.getVectorSchemaRoot
      val out = ArrayBuffer.empty[Array[Float]]
      while (reader.loadNextBatch()) {
        val vector = root.getVector(column) match {
          case v: FixedSizeListVector => v
          case null =>
            throw new IllegalStateException(s"the Arrow stream has no column '$column'")
          case other =>
            throw new IllegalStateException(
              s"column '$column' must be fixed_size_list<float32>, got ${other.getField.getType}"
            )
        }
        val width = vector.getListSize
        val values = vector.getDataVector.asInstanceOf[Float4Vector]
        var r = 0
        while (r < root.getRowCount) {
          val row = new Array[Float](width)
          var i = 0
          while (i < width) {
            row(i) = values.get(r * width + i)
            i += 1
          }
          out += row
          r += 1
        }
      }
      out.toArray
    } finally {
      reader.close()
      allocator.close()
    }
  }

  /** Writes a fit's partition, keyed as [[BalancedPartitioning]] keys it (training rows first), as
    * two Arrow streams: the training rows, then the validation rows.
    */
  def writeFitRows(
      out: OutputStream,
      rows: Iterator[((Int, Long), Example)],
      featureWidth: Int,
      labelWidth: Int
  ): Unit = {
    val source = rows.buffered
    def part(tag: Int): Iterator[(Array[Float], Array[Float])] =
      new Iterator[(Array[Float], Array[Float])] {
        def hasNext: Boolean = source.hasNext && source.head._1._1 == tag
        def next(): (Array[Float], Array[Float]) = {
          val e = source.next()._2
          (e.features, e.label)
        }
      }
    write(out, part(BalancedPartitioning.TrainPart), featureWidth, Some(labelWidth))
    write(out, part(BalancedPartitioning.ValidationPart), featureWidth, Some(labelWidth))
  }
}

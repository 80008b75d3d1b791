package loxodon.data

import java.io.{ByteArrayInputStream, ByteArrayOutputStream}

import scala.collection.mutable.ArrayBuffer

import org.apache.arrow.memory.RootAllocator
import org.apache.arrow.vector.Float4Vector
import org.apache.arrow.vector.complex.FixedSizeListVector
import org.apache.arrow.vector.ipc.ArrowStreamReader
import org.scalatest.funsuite.AnyFunSuite

class ArrowBatchesSuite extends AnyFunSuite {

  /** Reads every stream in `bytes` back: for each, its column names and rows per column. */
  private def readAll(bytes: Array[Byte], streams: Int): Seq[Map[String, Seq[Seq[Float]]]] = {
    val in = new ByteArrayInputStream(bytes)
    (0 until streams).map { _ =>
      val allocator = new RootAllocator(Long.MaxValue)
      val reader = new ArrowStreamReader(
        new java.io.FilterInputStream(in) { override def close(): Unit = () },
        allocator
      )
      try {
        val root = reader.getVectorSchemaRoot
        val names = root.getSchema.getFields.toArray
          .map(_.asInstanceOf[org.apache.arrow.vector.types.pojo.Field].getName)
        val cols = names.map(n => n -> ArrayBuffer.empty[Seq[Float]]).toMap
        var batches = 0
        while (reader.loadNextBatch()) {
          batches += 1
          assert(root.getRowCount <= ArrowBatches.BatchRows)
          names.foreach { n =>
            val v = root.getVector(n).asInstanceOf[FixedSizeListVector]
            val w = v.getListSize
            val data = v.getDataVector.asInstanceOf[Float4Vector]
            (0 until root.getRowCount).foreach { r =>
              cols(n) += (0 until w).map(i => data.get(r * w + i))
            }
          }
        }
        cols.map { case (k, v) => k -> v.toSeq }
      } finally {
        reader.close()
        allocator.close()
      }
    }
  }

  test("rows round-trip through one stream, in batches of at most 8192 rows") {
    val n = 20000
    val rows = (0 until n).map(i => (Array(i.toFloat, -i.toFloat, 0.5f), Array(i % 3.toFloat)))
    val out = new ByteArrayOutputStream()
    assert(ArrowBatches.write(out, rows.iterator, 3, Some(1)) == n)
    val Seq(cols) = readAll(out.toByteArray, 1)
    assert(cols.keySet == Set("features", "label"))
    assert(cols("features").size == n)
    assert(cols("features")(12345) == Seq(12345f, -12345f, 0.5f))
    assert(cols("label")(12345) == Seq((12345 % 3).toFloat))
  }

  test("an empty partition writes a valid stream; streams follow each other on one socket") {
    val out = new ByteArrayOutputStream()
    ArrowBatches.write(out, Iterator.empty, 4, Some(2))
    ArrowBatches.write(out, Iterator((Array(1f, 2f, 3f, 4f), null)), 4, None)
    val Seq(empty, predict) = readAll(out.toByteArray, 2)
    assert(empty("features").isEmpty && empty("label").isEmpty)
    assert(predict.keySet == Set("features"))
    assert(predict("features") == Seq(Seq(1f, 2f, 3f, 4f)))
  }

  test("readColumn reads a prediction stream and leaves the rest of the input") {
    val out = new ByteArrayOutputStream()
    val rows = (0 until 10).map(i => (Array(i.toFloat, i * 2f), null: Array[Float]))
    ArrowBatches.write(out, rows.iterator, 2, None)
    out.write(Array[Byte](42))
    val in = new ByteArrayInputStream(out.toByteArray)
    val back = ArrowBatches.readColumn(in, "features")
    assert(back.length == 10 && back(3).toSeq == Seq(3f, 6f))
    assert(in.read() == 42)
  }

  test("a row of the wrong width is refused") {
    val e = intercept[IllegalArgumentException] {
      ArrowBatches.write(new ByteArrayOutputStream(), Iterator((Array(1f), Array(0f))), 2, Some(1))
    }
    assert(e.getMessage == "a row's features has 1 values, the stream needs 2", e.getMessage)
  }
}

package loxodon.data

import scala.jdk.CollectionConverters._

import com.fasterxml.jackson.databind.JsonNode
import com.fasterxml.jackson.databind.node.ObjectNode

import loxodon.io.Json
import loxodon.model.KerasArchive

/** The rows of a fit that the driver already holds (NumPy arrays given to `fit`), placed by the
  * driver itself and uploaded as Arrow IPC chunks to the job's parameter server, from which each
  * worker fetches its own partition.
  *
  * Rows in memory on the driver gain nothing from a DataFrame: turning them into Spark rows,
  * persisting them, counting them and shuffling them into N partitions cost more than the training
  * of a few epochs (docs/design.md, "NumPy inputs skip the DataFrame"). The placement is the one of
  * [[BalancedPartitioning]] (same validation hash, same modulo placement, same order within a
  * partition), so both routes train on the same rows in the same order.
  *
  * Partition `p`'s training rows are the blobs `loxodon/data/p/train/0 until trainChunks(p)`, its
  * validation rows `loxodon/data/p/val/...`; each blob is one Arrow IPC stream with the columns
  * `features` and `label` (fixed-size float32 lists) as [[ArrowBatches]] writes them.
  *
  * @param train
  *   what the driver measured on the training rows, checked like a DataFrame's
  * @param validation
  *   the same for the validation rows, when there are any
  */
final case class DriverData(
    train: TrainingData.Measured,
    validation: Option[TrainingData.Measured],
    trainRows: Array[Long],
    valRows: Array[Long],
    trainChunks: Array[Int],
    valChunks: Array[Int]
) {
  require(
    Seq(valRows.length, trainChunks.length, valChunks.length).forall(_ == trainRows.length),
    "driver data: train_rows, val_rows, train_chunks and val_chunks need one entry per partition"
  )

  /** Number of partitions (workers). */
  def numPartitions: Int = trainRows.length

  /** Checks the measured rows against `model` with the DataFrame route's code and messages, and
    * that they were placed in `partitions` partitions with a training row each; returns their
    * shape.
    */
  def check(
      model: KerasArchive,
      partitions: Int,
      validationSplit: Double,
      weighted: Boolean = false
  ): TrainingData.Shape = {
    require(
      numPartitions == partitions,
      s"driver data for $numPartitions partitions, but the job needs $partitions"
    )
    val shape = TrainingData.check(train, Some(model), "training data", weighted)
    TrainingData.requireRows(shape)
    validation.foreach { v =>
      TrainingData.checkValidation(
        shape,
        TrainingData.check(v, Some(model), "validation data", weighted)
      )
    }
    BalancedPartitioning.requireRowsPerWorker(
      trainRows.sum,
      partitions,
      validationSplit > 0 && validation.isEmpty
    )
    shape
  }

  /** `{"train": [blob names], "val": [blob names]}` for partition `p`'s task. */
  def taskJson(p: Int): ObjectNode = {
    val node = Json.obj()
    Seq(DriverData.Train -> trainChunks(p), DriverData.Validation -> valChunks(p)).foreach {
      case (part, chunks) =>
        val names = Json.arr()
        (0 until chunks).foreach(k => names.add(DriverData.blobName(p, part, k)))
        node.set[JsonNode](part, names)
    }
    node
  }
}

object DriverData {
  final val Train: String = "train"
  final val Validation: String = "val"

  /** The blob holding chunk `chunk` of `part` ("train" or "val") of partition `partition`. */
  def blobName(partition: Int, part: String, chunk: Int): String =
    s"loxodon/data/$partition/$part/$chunk"

  /** Reads the layout the Python driver sends (`loxodon.driver_data`). */
  def fromJson(text: String): DriverData = {
    val node = Json.parse(text, "the driver data layout")
    def longs(name: String): Array[Long] =
      node.path(name).elements().asScala.map(_.asLong()).toArray
    def ints(name: String): Array[Int] = node.path(name).elements().asScala.map(_.asInt()).toArray
    DriverData(
      measured(node.path("train")),
      Option(node.get("validation")).filterNot(_.isNull).map(measured),
      longs("train_rows"),
      longs("val_rows"),
      ints("train_chunks"),
      ints("val_chunks")
    )
  }

  private def measured(node: JsonNode): TrainingData.Measured = {
    val label = Option(node.get("label")).filterNot(_.isNull).map { l =>
      TrainingData.LabelStats(
        l.path("min_width").asInt(),
        l.path("max_width").asInt(),
        l.path("bad").asLong(),
        l.path("max_first").asDouble().toFloat,
        l.path("min_first").asDouble().toFloat
      )
    }
    TrainingData.Measured(
      node.path("rows").asLong(),
      node.path("min_width").asInt(),
      node.path("max_width").asInt(),
      node.path("null_features").asLong(),
      label,
      node.path("non_finite_features").asLong()
    )
  }
}

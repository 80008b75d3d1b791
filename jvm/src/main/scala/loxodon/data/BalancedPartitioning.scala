package loxodon.data

import org.apache.spark.Partitioner
import org.apache.spark.rdd.RDD
import org.apache.spark.sql.DataFrame
import org.apache.spark.storage.StorageLevel

/** One row as the tasks see it: float features and (for training) a float label. */
final case class Example(features: Array[Float], label: Array[Float])

/** Sends key `(part, j)` to partition `(j + seed) mod n`: consecutive indices land on consecutive
  * partitions, so n partitions of m rows differ in size by at most one.
  */
final class ModuloPartitioner(val numPartitions: Int, val seed: Long) extends Partitioner {
  require(numPartitions >= 1, s"numPartitions must be at least 1, got $numPartitions")

  override def getPartition(key: Any): Int = key match {
    case (_, j: Long) => ModuloPartitioner.partitionOf(j, seed, numPartitions)
    case j: Long      => ModuloPartitioner.partitionOf(j, seed, numPartitions)
    case other => throw new IllegalArgumentException(s"ModuloPartitioner cannot place key $other")
  }

  override def equals(other: Any): Boolean = other match {
    case p: ModuloPartitioner => p.numPartitions == numPartitions && p.seed == seed
    case _                    => false
  }

  override def hashCode(): Int = 31 * numPartitions + seed.hashCode()
}

object ModuloPartitioner {

  /** The partition of index `j`. */
  def partitionOf(j: Long, seed: Long, n: Int): Int = Math.floorMod(j + seed, n.toLong).toInt

  /** Rows partition `p` receives when indices 0 until `rows` are placed. */
  def rowsOf(p: Int, rows: Long, seed: Long, n: Int): Long =
    rows / n + (if (Math.floorMod(p.toLong - seed, n.toLong) < rows % n) 1 else 0)
}

/** The training rows (and validation rows) of a fit in exactly N balanced partitions.
  *
  * @param rdd
  *   N partitions; key `(0, j)` for a training row, `(1, j)` for a validation row; within a
  *   partition, training rows come first, each part in index order
  * @param trainRows
  *   training rows per partition
  * @param valRows
  *   validation rows per partition
  * @param cached
  *   RDDs persisted while partitioning, to unpersist once `rdd` has been computed
  */
final case class Partitioned(
    rdd: RDD[((Int, Long), Example)],
    trainRows: Array[Long],
    valRows: Array[Long],
    cached: Seq[RDD[_]] = Seq.empty
) {

  /** Unpersists [[cached]]. */
  def release(): Unit = cached.foreach(_.unpersist(blocking = false))
}

/** Balanced, deterministic partitioning of prepared rows (see [[TrainingData]]).
  *
  *   - A row's index is its `__loxodon_row` value when the DataFrame has one (NumPy inputs), else
  *     its position (zipWithIndex).
  *   - Without separate validation data, a row is a validation row when a seeded hash of (seed,
  *     index) falls below `validationSplit`.
  *   - Training rows are renumbered 0 until n in index order, and row j goes to partition (j +
  *     seed) mod N, so partition sizes differ by at most one; validation rows are spread the same
  *     way. Within a partition rows are sorted by index.
  */
object BalancedPartitioning {

  /** Tag of training rows in the key. */
  final val TrainPart: Int = 0

  /** Tag of validation rows in the key. */
  final val ValidationPart: Int = 1

  /** A uniform number in [0, 1) from (seed, row): the same for the same pair on every run. */
  def uniform(seed: Long, row: Long): Double = {
    val z = mix(mix(seed) + row)
    (z >>> 11).toDouble * (1.0 / (1L << 53))
  }

  /** [[uniform]] of the rows `from until from + count` as little-endian float64 bytes: Python's
    * `driver_data.uniform` is checked against it over many seeds, one Py4J call a range.
    */
  def uniformBytes(seed: Long, from: Long, count: Int): Array[Byte] = {
    val out = java.nio.ByteBuffer.allocate(8 * count).order(java.nio.ByteOrder.LITTLE_ENDIAN)
    (0 until count).foreach(i => out.putDouble(uniform(seed, from + i)))
    out.array()
  }

  private def mix(x: Long): Long = { // SplitMix64's finaliser
    var z = x + 0x9e3779b97f4a7c15L
    z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L
    z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL
    z ^ (z >>> 31)
  }

  /** Rows of a DataFrame prepared by [[TrainingData.prepare]], in the DataFrame's order. */
  def examples(prepared: DataFrame): RDD[Example] = indexedRows(prepared).map(_._2)

  /** Rows of a DataFrame prepared by [[TrainingData.prepare]], keyed by their index. */
  def indexed(prepared: DataFrame): RDD[(Long, Example)] = {
    val rows = indexedRows(prepared)
    if (prepared.columns.contains(TrainingData.RowIndex)) rows
    else rows.zipWithIndex().map { case ((_, e), i) => (i, e) }
  }

  /** The rows with their `__loxodon_row` value (0 when the column is absent). */
  private def indexedRows(prepared: DataFrame): RDD[(Long, Example)] = {
    val cols = prepared.columns
    val hasIndex = cols.contains(TrainingData.RowIndex)
    val fPos = cols.indexOf(TrainingData.Features)
    val lPos = cols.indexOf(TrainingData.Label)
    prepared.queryExecution.toRdd.map { r =>
      val label = if (lPos >= 0) r.getArray(lPos).toFloatArray() else null
      (if (hasIndex) r.getLong(0) else 0L, Example(r.getArray(fPos).toFloatArray(), label))
    }
  }

  /** Renumbers the rows of `rdd` 0 until n in the order of their keys. When the partitions are
    * already in key order (the usual case: zipWithIndex, or a NumPy table sliced in order) this
    * costs one counting job; otherwise the rows are sorted first.
    */
  def renumber(rdd: RDD[(Long, Example)]): (RDD[(Long, Example)], Long) = {
    val stats = rdd
      .mapPartitions { it =>
        var n = 0L
        var first, last = Long.MinValue
        var ordered = true
        it.foreach { case (i, _) =>
          if (n == 0) first = i else if (i < last) ordered = false
          last = i
          n += 1
        }
        Iterator((n, first, last, ordered))
      }
      .collect()
    val nonEmpty = stats.filter(_._1 > 0)
    val ordered = nonEmpty.forall(_._4) &&
      nonEmpty.sliding(2).forall(w => w.length < 2 || w(0)._3 < w(1)._2)
    val total = stats.map(_._1).sum
    if (ordered) {
      val offsets = stats.map(_._1).scanLeft(0L)(_ + _)
      val out = rdd.mapPartitionsWithIndex { (p, it) =>
        var j = offsets(p) - 1
        it.map { case (_, e) => j += 1; (j, e) }
      }
      (out, total)
    } else {
      val out = rdd.sortByKey().zipWithIndex().map { case ((_, e), j) => (j, e) }
      (out, total)
    }
  }

  /** Fails unless every one of `numWorkers` workers gets a training row. */
  def requireRowsPerWorker(trainRows: Long, numWorkers: Int, splitApplies: Boolean): Unit =
    if (trainRows < numWorkers) {
      throw new IllegalArgumentException(
        s"num_workers: there are $trainRows training rows for $numWorkers workers; every worker " +
          "needs at least one row: use fewer workers or more data" +
          (if (splitApplies) " (or a smaller validation_split)" else "")
      )
    }

  /** Splits and places the rows of a fit in `numWorkers` partitions. `validation`, when given,
    * holds the validation rows (then `validationSplit` is not used).
    */
  def partition(
      train: DataFrame,
      validation: Option[DataFrame],
      numWorkers: Int,
      seed: Long,
      validationSplit: Double
  ): Partitioned = {
    require(numWorkers >= 1, s"num_workers must be at least 1, got $numWorkers")
    require(
      validationSplit >= 0 && validationSplit < 1,
      s"validation_split must be in [0, 1), got $validationSplit"
    )
    // Indexing, counting and placing read the rows several times: persisted, so that a
    // non-deterministic source (e.g. a shuffle) yields the same rows and indices each time.
    val all = indexed(train).persist(StorageLevel.MEMORY_AND_DISK)
    val valSource = validation.map(v => indexed(v).persist(StorageLevel.MEMORY_AND_DISK))
    val (trainIdx, valIdx) = valSource match {
      case Some(v) => (all, v)
      case None if validationSplit > 0 =>
        val split = validationSplit
        (
          all.filter { case (i, _) => uniform(seed, i) >= split },
          all.filter { case (i, _) => uniform(seed, i) < split }
        )
      case None => (all, all.sparkContext.emptyRDD[(Long, Example)])
    }
    val (trainRows, nTrain) = renumber(trainIdx)
    try requireRowsPerWorker(nTrain, numWorkers, validationSplit > 0 && validation.isEmpty)
    catch {
      case e: IllegalArgumentException =>
        (Seq(all) ++ valSource).foreach(_.unpersist(blocking = false))
        throw e
    }
    val (valRows, nVal) = renumber(valIdx)
    val keyed = trainRows
      .map { case (j, e) => ((TrainPart, j), e) }
      .union(valRows.map { case (j, e) => ((ValidationPart, j), e) })
    val placed = keyed.repartitionAndSortWithinPartitions(new ModuloPartitioner(numWorkers, seed))
    Partitioned(
      placed,
      Array.tabulate(numWorkers)(p => ModuloPartitioner.rowsOf(p, nTrain, seed, numWorkers)),
      Array.tabulate(numWorkers)(p => ModuloPartitioner.rowsOf(p, nVal, seed, numWorkers)),
      Seq(all) ++ valSource
    )
  }

  /** Every row of `parts` in each of `numWorkers` partitions (task-parallel model selection: each
    * worker trains on a full copy), in the same order as the source partitions concatenated.
    */
  def replicate(parts: Partitioned, numWorkers: Int): Partitioned = {
    val n = numWorkers
    val copies = parts.rdd.flatMap { case ((tag, j), e) =>
      (0 until n).iterator.map(p => ((p, tag, j), e))
    }
    val placed = copies
      .repartitionAndSortWithinPartitions(new FirstKeyPartitioner(n))
      .map { case ((_, tag, j), e) => ((tag, j), e) }
    Partitioned(
      placed,
      Array.fill(n)(parts.trainRows.sum),
      Array.fill(n)(parts.valRows.sum),
      parts.cached
    )
  }
}

/** Places a `(partition, tag, index)` key in its first field. */
final class FirstKeyPartitioner(val numPartitions: Int) extends Partitioner {
  override def getPartition(key: Any): Int = key match {
    case (p: Int, _, _) => p
    case other          => throw new IllegalArgumentException(s"unexpected key $other")
  }

  override def equals(other: Any): Boolean = other match {
    case f: FirstKeyPartitioner => f.numPartitions == numPartitions
    case _                      => false
  }

  override def hashCode(): Int = numPartitions
}

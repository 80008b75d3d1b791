package loxodon.data

import org.scalatest.funsuite.AnyFunSuite

import loxodon.LocalSpark

class BalancedPartitioningSuite extends AnyFunSuite with LocalSpark {

  private def frame(rows: Int, partitions: Int, indexed: Boolean) = {
    val s = spark
    import s.implicits._
    val data = (0 until rows).map(i => (i.toLong, Seq(i.toDouble, 1.0), (i % 3).toDouble))
    val df = spark.sparkContext.parallelize(data, partitions).toDF(TrainingData.RowIndex, "f", "y")
    TrainingData.prepare(if (indexed) df else df.drop(TrainingData.RowIndex), Seq("f"), Some("y"))
  }

  /** Per partition: (part, index, first feature) in order. */
  private def layout(p: Partitioned): Seq[Seq[(Int, Long, Float)]] =
    p.rdd
      .mapPartitions(it =>
        Iterator(it.map { case ((part, j), e) => (part, j, e.features(0)) }.toSeq)
      )
      .collect()
      .toSeq

  test("partitions are balanced, sorted, and reproducible") {
    val p = BalancedPartitioning.partition(frame(103, 5, indexed = false), None, 4, 7L, 0.2)
    val parts = layout(p)
    assert(parts.size == 4)
    val trainSizes = parts.map(_.count(_._1 == 0))
    val valSizes = parts.map(_.count(_._1 == 1))
    assert(trainSizes.max - trainSizes.min <= 1, trainSizes)
    assert(valSizes.max - valSizes.min <= 1, valSizes)
    assert(trainSizes == p.trainRows.toSeq.map(_.toInt) && valSizes == p.valRows.toSeq.map(_.toInt))
    assert(trainSizes.sum + valSizes.sum == 103)
    assert(valSizes.sum > 5 && valSizes.sum < 40, valSizes)
    parts.foreach { rows =>
      val (train, v) = rows.span(_._1 == 0)
      assert(v.forall(_._1 == 1))
      assert(train.map(_._2) == train.map(_._2).sorted && v.map(_._2) == v.map(_._2).sorted)
      assert(train.map(_._3) == train.map(_._3).sorted) // index order is row order
    }
    val again =
      layout(BalancedPartitioning.partition(frame(103, 3, indexed = false), None, 4, 7L, 0.2))
    assert(again == parts)
    val other =
      layout(BalancedPartitioning.partition(frame(103, 5, indexed = false), None, 4, 8L, 0.2))
    assert(
      other.flatten.filter(_._1 == 1).map(_._3).toSet != parts.flatten
        .filter(_._1 == 1)
        .map(_._3)
        .toSet
    )
  }

  test("the row index column decides the order, even when rows arrive shuffled") {
    val s = spark
    import s.implicits._
    val data =
      scala.util.Random.shuffle((0 until 50).toList).map(i => (i.toLong, Seq(i.toDouble), 0.0))
    val df = spark.sparkContext.parallelize(data, 3).toDF(TrainingData.RowIndex, "f", "y")
    val p = BalancedPartitioning.partition(
      TrainingData.prepare(df, Seq("f"), Some("y")),
      None,
      2,
      0L,
      0.0
    )
    val parts = layout(p)
    assert(parts.map(_.map(_._3.toInt)) == Seq((0 until 50 by 2).toSeq, (1 until 50 by 2).toSeq))
  }

  test("fewer training rows than workers fails clearly") {
    val e = intercept[IllegalArgumentException] {
      BalancedPartitioning.partition(frame(3, 2, indexed = true), None, 4, 0L, 0.0)
    }
    assert(e.getMessage.contains("3 training rows for 4 workers"))
  }

  test("rowsOf matches the placement of indices") {
    for (n <- 1 to 5; rows <- 0L to 13L; seed <- Seq(0L, 3L, -2L)) {
      val counts = (0L until rows).groupBy(j => ModuloPartitioner.partitionOf(j, seed, n))
      (0 until n).foreach { p =>
        assert(ModuloPartitioner.rowsOf(p, rows, seed, n) == counts.get(p).map(_.size).getOrElse(0))
      }
    }
  }
}

package org.apache.spark.sql

import org.apache.spark.rdd.RDD
import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.types.StructType

/** The one door from Loxodon into Spark SQL's `private[sql]` row API (as XGBoost4J-Spark and
  * Spark's own Python runners use it): a DataFrame's rows in Catalyst's internal format, and a
  * DataFrame made from such rows. [[loxodon.infer.Predictor]] uses both so that a 784-float
  * features array is copied as one block, not boxed value by value into a `Row` and back.
  */
object LoxodonSqlShim {

  /** `df`'s rows as Catalyst produces them; a row may be reused by the next: copy what you keep. */
  def internalRows(df: DataFrame): RDD[InternalRow] = classicDataset(df).queryExecution.toRdd

  /** A DataFrame of `rows`, which must match `schema` in Catalyst's internal types. */
  def createDataFrame(
      spark: SparkSession,
      rows: RDD[InternalRow],
      schema: StructType
  ): DataFrame = spark match {
    case s: classic.SparkSession => s.internalCreateDataFrame(rows, schema)
    case other =>
      throw new UnsupportedOperationException(
        s"Loxodon needs a classic SparkSession (not Spark Connect); got ${other.getClass.getName}"
      )
  }

  private def classicDataset(df: DataFrame): classic.Dataset[Row] = df match {
    case d: classic.Dataset[Row @unchecked] => d
    case other =>
      throw new UnsupportedOperationException(
        s"Loxodon needs a classic DataFrame (not Spark Connect); got ${other.getClass.getName}"
      )
  }
}

package loxodon.train

import org.apache.spark.sql.{DataFrame, SparkSession}

import loxodon.data.{BalancedPartitioning, DriverData, Partitioned, TrainingData}
import loxodon.exec.SlotCheck
import loxodon.model.KerasArchive

/** The checks and the placement that start every barrier stage of N workers, a fit's ([[Trainer]])
  * or a search's ([[loxodon.select.Selection]]): the archive is a compiled model, the cluster has N
  * free slots, and the rows fit the model.
  */
object FitInput {

  /** Checks `df` (and `validation`) against the compiled `archive` and places the rows in
    * `params.numShards` balanced partitions ([[BalancedPartitioning.partition]]: one per worker, or
    * k per worker with a parallelism factor k); the caller releases them.
    */
  def place(
      spark: SparkSession,
      df: DataFrame,
      validation: Option[DataFrame],
      archive: Array[Byte],
      params: TrainParams
  ): (Partitioned, TrainingData.Shape) = {
    require(df != null, "no training data: pass a DataFrame")
    val model = KerasArchive.parseCompiled(archive)
    SlotCheck.require(spark.sparkContext, params.numWorkers)
    val (train, shape, valPrepared) =
      TrainingData.prepareFit(
        df,
        validation,
        params.featuresCol,
        params.labelCol,
        model,
        params.sampleWeightCol
      )
    val parts = BalancedPartitioning.partition(
      train,
      valPrepared,
      params.numShards,
      params.seed,
      params.validationSplit
    )
    (parts, shape)
  }

  /** Checks rows the driver placed in `partitions` partitions and measured ([[DriverData]]) against
    * the compiled `archive`, as [[place]] checks a DataFrame's.
    */
  def check(
      spark: SparkSession,
      data: DriverData,
      archive: Array[Byte],
      params: TrainParams,
      partitions: Int
  ): TrainingData.Shape = {
    val model = KerasArchive.parseCompiled(archive)
    SlotCheck.require(spark.sparkContext, params.numWorkers)
    data.check(model, partitions, params.validationSplit, params.sampleWeightCol.isDefined)
  }
}

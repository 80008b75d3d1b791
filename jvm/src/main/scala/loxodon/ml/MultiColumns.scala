package loxodon.ml

import org.apache.spark.ml.functions.vector_to_array
import org.apache.spark.ml.linalg.SQLDataTypes
import org.apache.spark.sql.{Column, DataFrame}
import org.apache.spark.sql.functions._
import org.apache.spark.sql.types._

import loxodon.model.{KerasArchive, LossLabels, ModelSlot}

/** The Spark ML stages' half of multi-input and multi-output Keras models: `inputCols` (one column
  * per input) and `labelCols` (one per output) checked against the model's inputs and outputs
  * ([[KerasArchive.inputs]], in Keras's flattening order) and folded into the one flat features
  * vector and one flat label vector the workers split (the rule of `python/loxodon/model_io.py`);
  * predictions of a multi-output model split back into one column per output, named
  * `<predictionCol>_<output>` (and `<probabilityCol>_<output>` in classification mode), as
  * `SparkModel.predict` names them.
  */
object MultiColumns {

  val Features = "__loxodon_mio_features"
  val Label = "__loxodon_mio_label"

  private def names(slots: Seq[ModelSlot]): String = slots.map(_.name).mkString("[", ", ", "]")

  /** The error when `cols` (of `param`, None when unset) do not give one column per slot. */
  def checkCount(
      stage: String,
      param: String,
      cols: Option[Seq[String]],
      slots: Seq[ModelSlot],
      what: String
  ): Unit = cols match {
    case None if slots.size > 1 =>
      throw new IllegalArgumentException(
        s"$stage param $param: the model has ${slots.size} ${what}s ${names(slots)}; set $param " +
          s"to one column per $what, in that order"
      )
    case Some(cs) if cs.size != slots.size && slots.nonEmpty =>
      throw new IllegalArgumentException(
        s"$stage param $param: the model has ${slots.size} ${what}(s) ${names(slots)} but " +
          s"${cs.size} column(s) were given ${cs.mkString("[", ", ", "]")}; give one column per " +
          s"$what, in that order"
      )
    case _ => ()
  }

  /** Widths of the outputs of a multi-output model, or an error naming the output (before any task
    * starts: `transformSchema` calls it).
    */
  def outputWidths(stage: String, model: KerasArchive): Seq[Int] =
    model.outputs.map { s =>
      s.width.getOrElse {
        throw new IllegalArgumentException(
          s"$stage: output '${s.name}' of the model does not end in a Dense layer, so its width " +
            "(to split predictions per output) is not in the model's config; end each output " +
            "with a Dense layer, or predict with loxodon.SparkModel.predict"
        )
      }
    }

  /** Output columns of a multi-output model: one (raw) or two (classification) per output. */
  def outputFields(
      model: KerasArchive,
      predictionCol: String,
      probabilityCol: String,
      raw: Boolean
  ): Seq[(String, StructField)] =
    model.outputs.flatMap { s =>
      if (raw) {
        Seq(
          "predictionCol" -> StructField(s"${predictionCol}_${s.name}", ArrayType(FloatType, false))
        )
      } else {
        Seq(
          "predictionCol" -> StructField(s"${predictionCol}_${s.name}", DoubleType, false),
          "probabilityCol" -> StructField(s"${probabilityCol}_${s.name}", SQLDataTypes.VectorType)
        )
      }
    }

  /** `c` as array<float>, with its width when the type states it (a number: 1). */
  private def asArray(df: DataFrame, c: String): (Column, Option[Int]) =
    df.schema(c).dataType match {
      case _: NumericType          => (array(col(c).cast(FloatType)), Some(1))
      case SQLDataTypes.VectorType => (vector_to_array(col(c), "float32"), None)
      case _                       => (col(c).cast(ArrayType(FloatType)), None)
    }

  /** `df` with [[Features]] (and, with `labelCols`, [[Label]]) added, after one aggregation checks
    * each column's width against its input or output, and class indices against their output.
    */
  def flatFrame(
      stage: String,
      df: DataFrame,
      model: KerasArchive,
      inputCols: Seq[String],
      labelCols: Option[Seq[String]]
  ): DataFrame = {
    val feats = inputCols.map(c => c -> asArray(df, c))
    val labs = labelCols.getOrElse(Seq.empty).map(c => c -> asArray(df, c))
    val measured = (feats ++ labs).zipWithIndex.collect { case ((_, (e, None)), i) =>
      Seq(min(size(e)).as(s"lo$i"), max(size(e)).as(s"hi$i"))
    }.flatten
    val indexed = labs
      .zip(model.outputs)
      .zipWithIndex
      .collect {
        case (((_, (e, _)), s), i) if s.labels == LossLabels.Index =>
          Seq(min(element_at(e, 1)).as(s"min$i"), max(element_at(e, 1)).as(s"max$i"))
      }
      .flatten
    val aggs = measured ++ indexed
    val m = if (aggs.isEmpty) None else Option(df.agg(aggs.head, aggs.tail: _*).first())
    def stat(name: String): Option[Double] =
      m.filter(_.schema.fieldNames.contains(name)).flatMap { r =>
        val i = r.fieldIndex(name)
        if (r.isNullAt(i)) None else Some(r.get(i).toString.toDouble)
      }
    def width(i: Int, c: String, known: Option[Int], param: String): Option[Int] =
      known.orElse {
        (stat(s"lo$i"), stat(s"hi$i")) match {
          case (Some(lo), Some(hi)) if lo != hi =>
            throw new IllegalArgumentException(
              s"$stage param $param: rows of column '$c' have between ${lo.toInt} and " +
                s"${hi.toInt} values; every row must have the same number"
            )
          case (lo, _) => lo.map(_.toInt)
        }
      }
    feats.zip(model.inputs).zipWithIndex.foreach { case (((c, (_, w)), s), i) =>
      (width(i, c, w, "inputCols"), s.width) match {
        case (Some(got), Some(need)) if got != need =>
          throw new IllegalArgumentException(
            s"$stage param inputCols: column '$c' has $got values per row but the model's input " +
              s"'${s.name}' needs $need; give that input the matching column (in order: " +
              s"${names(model.inputs)})"
          )
        case _ => ()
      }
    }
    labs.zip(model.outputs).zipWithIndex.foreach { case (((c, (_, w)), s), j) =>
      val i = feats.size + j
      (width(i, c, w, "labelCols"), s.labelWidth) match {
        case (Some(got), Some(need)) if got != need =>
          val what =
            if (s.labels == LossLabels.Index) "one class index (its loss takes class indices)"
            else s"$need values"
          throw new IllegalArgumentException(
            s"$stage param labelCols: column '$c' has $got values per row but output " +
              s"'${s.name}' needs $what; give that output the matching column (in order: " +
              s"${names(model.outputs)})"
          )
        case _ => ()
      }
      for (lo <- stat(s"min$j"); hi <- stat(s"max$j"); units <- s.width) {
        if (lo < 0 || hi >= units) {
          throw new IllegalArgumentException(
            s"$stage param labelCols: class indices in column '$c' range from ${lo.toLong} to " +
              s"${hi.toLong} but output '${s.name}' has $units units (classes 0 to " +
              s"${units - 1}); fix the labels or the output layer"
          )
        }
      }
    }
    val out = if (feats.isEmpty) df else df.withColumn(Features, concat(feats.map(_._2._1): _*))
    if (labs.isEmpty) out else out.withColumn(Label, concat(labs.map(_._2._1): _*))
  }

  /** The flat prediction column `raw` as one column per output (see [[outputFields]]). */
  def splitPredictions(
      stage: String,
      df: DataFrame,
      model: KerasArchive,
      raw: String,
      predictionCol: String,
      probabilityCol: String,
      classification: Boolean
  ): DataFrame = {
    val widths = outputWidths(stage, model)
    val starts = widths.scanLeft(1)(_ + _)
    val split = model.outputs.zip(widths).zip(starts).foldLeft(df) { case (frame, ((s, w), at)) =>
      val part = slice(col(raw), at, w)
      if (!classification) frame.withColumn(s"${predictionCol}_${s.name}", part)
      else {
        frame
          .withColumn(s"${predictionCol}_${s.name}", KerasModel.argmaxColumn(part))
          .withColumn(s"${probabilityCol}_${s.name}", KerasModel.probabilityColumn(part))
      }
    }
    split.drop(raw, Features)
  }
}

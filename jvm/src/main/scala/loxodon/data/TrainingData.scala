package loxodon.data

import org.apache.spark.ml.functions.vector_to_array
import org.apache.spark.ml.linalg.SQLDataTypes
import org.apache.spark.sql.{Column, DataFrame, Row}
import org.apache.spark.sql.functions._
import org.apache.spark.sql.types._

import loxodon.model.{KerasArchive, LossLabels}

/** Turns a user's DataFrame into the two columns every task reads: `features: array<float>` and
  * `label: array<float>` (plus the row index column when present), and checks them against the
  * model before anything is launched.
  *
  * Features come from one ML Vector column, one numeric array column, an image or string column
  * ([[ImageColumns]], [[TextColumns]]), or a list of numeric columns; labels from a numeric column
  * (a class index or a value), a numeric array column or a Vector column (one-hot rows). Every
  * refusal is an IllegalArgumentException that names the param (`features_col`, `label_col`) and
  * says what to change.
  */
object TrainingData {

  /** The prepared features column. */
  final val Features: String = "features"

  /** The prepared label column. */
  final val Label: String = "label"

  /** A column of row numbers (NumPy inputs carry it): rows are indexed by it when present. */
  final val RowIndex: String = "__loxodon_row"

  /** Width of features and labels, as measured on the data. */
  final case class Shape(rows: Long, featureWidth: Int, labelWidth: Option[Int])

  /** `df` reduced to [`__loxodon_row`], `features`, [`label`] as float arrays; image columns are
    * decoded to `inputShape` (the model's, without the batch: [[ImageColumns]]); with `weightCol`
    * the label ends with the row's sample weight (1 where `df` lacks the column: validation rows).
    */
  def prepare(
      df: DataFrame,
      featuresCols: Seq[String],
      labelCol: Option[String],
      weightCol: Option[String] = None,
      inputShape: Option[Seq[Int]] = None
  ): DataFrame = {
    require(featuresCols.nonEmpty, "features_col is empty: name a column or a list of columns")
    val features = featuresColumn(df, featuresCols, inputShape).as(Features)
    val label = labelCol.map { c =>
      val l = labelColumn(df, c)
      weightCol.fold(l)(w => concat(l, array(weightColumn(df, w)))).as(Label)
    }
    val index =
      if (df.columns.contains(RowIndex)) Seq(col(RowIndex).cast(LongType).as(RowIndex))
      else Seq.empty
    df.select((index ++ Seq(features) ++ label.toSeq): _*)
  }

  private def field(df: DataFrame, name: String, param: String): StructField =
    df.schema.find(_.name == name).getOrElse {
      val available = df.columns.filterNot(_ == RowIndex).mkString(", ")
      throw new IllegalArgumentException(
        s"$param: no column '$name' in the DataFrame (available: $available); set $param to " +
          "one of them"
      )
    }

  private def isNumeric(t: DataType): Boolean = t.isInstanceOf[NumericType]

  /** The expression of the prepared features column over `df`'s own columns (image columns decoded
    * and resized to `inputShape`).
    */
  private[loxodon] def featuresColumn(
      df: DataFrame,
      cols: Seq[String],
      inputShape: Option[Seq[Int]] = None
  ): Column = {
    val fields = cols.map(field(df, _, "features_col"))
    if (fields.size == 1 && !isNumeric(fields.head.dataType)) {
      val f = fields.head
      f.dataType match {
        case t if ImageColumns.isImage(t)    => ImageColumns.features(f.name, t, inputShape)
        case StringType                      => TextColumns.features(f.name, inputShape)
        case SQLDataTypes.VectorType         => vector_to_array(col(f.name), "float32")
        case ArrayType(e, _) if isNumeric(e) => col(f.name).cast(ArrayType(FloatType))
        case other =>
          throw new IllegalArgumentException(
            s"features_col: column '${f.name}' has type ${other.simpleString}; it must be an ML " +
              "Vector, an array of numbers, an image (Spark's image source, or binaryFile's " +
              "content), a string (a text model), or numeric (pass a list of numeric columns)"
          )
      }
    } else {
      fields.foreach { f =>
        if (!isNumeric(f.dataType)) {
          throw new IllegalArgumentException(
            s"features_col: column '${f.name}' has type ${f.dataType.simpleString}; a list of " +
              "feature columns must all be numeric (assemble others with VectorAssembler)"
          )
        }
      }
      array(fields.map(f => col(f.name).cast(FloatType)): _*)
    }
  }

  private def weightColumn(df: DataFrame, name: String): Column =
    if (!df.columns.contains(name)) lit(1.0f)
    else {
      val t = field(df, name, "sample_weight_col").dataType
      if (!isNumeric(t)) {
        throw new IllegalArgumentException(
          s"sample_weight_col: column '$name' has type ${t.simpleString}; it must be numeric " +
            "(one weight per row)"
        )
      }
      col(name).cast(FloatType)
    }

  /** Feature values per row when the schema states them (a list of numeric columns, or a Vector
    * column whose ML attributes give its size), so inference can check them without reading rows.
    */
  def schemaWidth(df: DataFrame, cols: Seq[String]): Option[Int] = {
    val fields = cols.map(field(df, _, "features_col"))
    if (fields.forall(f => isNumeric(f.dataType))) Some(fields.size)
    else if (fields.size == 1 && fields.head.dataType == SQLDataTypes.VectorType) {
      Some(org.apache.spark.ml.attribute.AttributeGroup.fromStructField(fields.head).size)
        .filter(_ >= 0)
    } else None
  }

  /** Refuses data whose schema states a width other than the model's input needs. */
  def requireInputWidth(df: DataFrame, cols: Seq[String], model: KerasArchive, what: String): Unit =
    for (width <- schemaWidth(df, cols); needed <- model.inputWidth if width != needed) {
      throw new IllegalArgumentException(
        s"features_col: rows of the $what have $width feature values but the model's input " +
          s"shape ${model.inputShape.get.mkString("(", ", ", ")")} needs $needed; choose the " +
          "matching column(s) or change the model's input"
      )
    }

  private def labelColumn(df: DataFrame, name: String): Column = {
    val f = field(df, name, "label_col")
    f.dataType match {
      case t if isNumeric(t)               => array(col(name).cast(FloatType))
      case ArrayType(e, _) if isNumeric(e) => col(name).cast(ArrayType(FloatType))
      case SQLDataTypes.VectorType         => vector_to_array(col(name), "float32")
      case other =>
        throw new IllegalArgumentException(
          s"label_col: column '$name' has type ${other.simpleString}; it must be numeric (a " +
            "class index or a value), an array of numbers or an ML Vector (index string labels " +
            "with StringIndexer first)"
        )
    }
  }

  /** What one pass over a data set measured: row count, feature widths, rows with null features,
    * (for labelled data) [[LabelStats]], and rows with a NaN or infinite feature value.
    */
  final case class Measured(
      rows: Long,
      minWidth: Int,
      maxWidth: Int,
      nullFeatures: Long,
      label: Option[LabelStats],
      nonFiniteFeatures: Long = 0
  )

  /** Label widths, rows with a NaN or null label, and the range of the first label value. */
  final case class LabelStats(
      minWidth: Int,
      maxWidth: Int,
      bad: Long,
      maxFirst: Float,
      minFirst: Float
  )

  /** Measures `prepared` in one pass and checks it: widths constant, no null rows, no NaN or null
    * labels, and, when `model` is known, widths that fit the model. `what` names the data set in
    * messages ("training data", "validation data").
    */
  def validate(
      prepared: DataFrame,
      model: Option[KerasArchive],
      what: String,
      weighted: Boolean = false
  ): Shape =
    check(measure(prepared), model, what, weighted)

  /** One aggregation over `prepared`. */
  def measure(prepared: DataFrame): Measured = {
    val labelled = prepared.columns.contains(Label)
    val f = col(Features)
    val badValue = (x: Column) => x.isNull || isnan(x)
    // In the same aggregation as the widths: the NaN/Inf check costs no pass of its own.
    val nonFinite = (x: Column) =>
      isnan(x) || x === lit(Float.PositiveInfinity) || x === lit(Float.NegativeInfinity)
    val aggs = Seq(
      count(lit(1)),
      min(size(f)),
      max(size(f)),
      sum(when(f.isNull, 1).otherwise(0)),
      sum(when(exists(f, nonFinite), 1).otherwise(0))
    ) ++ (if (labelled) {
            val l = col(Label)
            Seq(
              min(size(l)),
              max(size(l)),
              sum(when(l.isNull || exists(l, badValue), 1).otherwise(0)),
              max(element_at(l, 1)),
              min(element_at(l, 1))
            )
          } else Seq.empty)
    val row: Row = prepared.agg(aggs.head, aggs.tail: _*).head()
    val rows = row.getLong(0)
    if (rows == 0) Measured(0, 0, 0, 0, None)
    else {
      val label =
        if (!labelled) None
        else
          Some(
            LabelStats(
              row.getInt(5),
              row.getInt(6),
              row.getLong(7),
              row.getFloat(8),
              row.getFloat(9)
            )
          )
      Measured(rows, row.getInt(1), row.getInt(2), row.getLong(3), label, row.getLong(4))
    }
  }

  /** Checks what [[measure]] (or a driver holding the rows, see [[DriverData]]) measured; a
    * `weighted` label ends with its sample weight, which the model checks leave out.
    */
  def check(
      m: Measured,
      model: Option[KerasArchive],
      what: String,
      weighted: Boolean = false
  ): Shape = {
    if (m.rows == 0) {
      return Shape(0, model.flatMap(_.inputWidth).getOrElse(0), None)
    }
    val (minW, maxW, nullFeatures) = (m.minWidth, m.maxWidth, m.nullFeatures)
    if (nullFeatures > 0) {
      throw new IllegalArgumentException(
        s"features_col: $nullFeatures rows of the $what have null features; drop them " +
          "(df.dropna(subset=[...])) or fill them first"
      )
    }
    if (m.nonFiniteFeatures > 0) {
      throw new IllegalArgumentException(
        s"features_col: ${m.nonFiniteFeatures} rows of the $what have a NaN or infinite feature " +
          "value; drop them (df.dropna(), or keep rows where every value is finite) or impute " +
          "them (np.nan_to_num, Spark ML's Imputer) before training"
      )
    }
    if (minW != maxW) {
      throw new IllegalArgumentException(
        s"features_col: rows of the $what have between $minW and $maxW feature values; every " +
          "row must have the same number"
      )
    }
    model.flatMap(a => a.inputWidth.map(w => (a, w))).foreach { case (a, width) =>
      if (width != minW) {
        throw new IllegalArgumentException(
          s"features_col: rows of the $what have $minW feature values but the model's input " +
            s"shape ${a.inputShape.get.mkString("(", ", ", ")")} needs $width; choose the " +
            "matching column(s) or change the model's input"
        )
      }
    }
    val labelWidth = m.label.map { l =>
      if (l.bad > 0) {
        throw new IllegalArgumentException(
          s"label_col: ${l.bad} rows of the $what have a NaN or null label" +
            (if (weighted) " or sample weight" else "") + "; drop them " +
            "(df.dropna(subset=[label_col])) or fill them (df.fillna(...)) before training"
        )
      }
      if (l.minWidth != l.maxWidth) {
        throw new IllegalArgumentException(
          s"label_col: labels of the $what have between ${l.minWidth} and ${l.maxWidth} values; " +
            "every row must have the same number"
        )
      }
      val width = if (weighted) l.minWidth - 1 else l.minWidth
      model.foreach(a => checkLabels(a, width, l.maxFirst, l.minFirst, what))
      l.minWidth
    }
    Shape(m.rows, minW, labelWidth)
  }

  private def checkLabels(
      m: KerasArchive,
      width: Int,
      maxFirst: Float,
      minFirst: Float,
      what: String
  ): Unit = m.outputUnits.foreach { units =>
    val loss = m.loss.getOrElse("?")
    m.labels match {
      case LossLabels.Index if width != 1 =>
        throw new IllegalArgumentException(
          s"label_col: labels of the $what have $width values per row (one-hot?) but the loss " +
            s"$loss takes one class index per row; pass class indices (argmax of the one-hot " +
            "rows) or compile with loss=\"categorical_crossentropy\""
        )
      case LossLabels.Index =>
        if (maxFirst >= units || minFirst < 0) {
          throw new IllegalArgumentException(
            s"label_col: class indices of the $what range from ${minFirst.toLong} to " +
              s"${maxFirst.toLong} but the model's output layer has $units units (classes " +
              s"0 to ${units - 1}); fix the labels or the output layer"
          )
        }
      case LossLabels.Values if width != units =>
        val hint =
          if (width == 1 && units > 1) {
            "; for class-index labels compile with loss=\"sparse_categorical_crossentropy\", " +
              "or one-hot encode them"
          } else "; give one label value per output unit, or change the output layer"
        throw new IllegalArgumentException(
          s"label_col: labels of the $what have $width values per row but the model's output " +
            s"layer has $units units (loss $loss)$hint"
        )
      case _ => // a custom loss: its labels may have any shape
    }
  }

  /** The training rows and (when given) the validation rows of a fit or a search, prepared and
    * checked against `model`; validation rows must have the training rows' widths.
    */
  def prepareFit(
      df: DataFrame,
      validation: Option[DataFrame],
      featuresCols: Seq[String],
      labelCol: String,
      model: KerasArchive,
      weightCol: Option[String] = None
  ): (DataFrame, Shape, Option[DataFrame]) = {
    val train = prepare(df, featuresCols, Some(labelCol), weightCol, model.inputShape)
    weightCol.foreach(w => field(df, w, "sample_weight_col"))
    val weighted = weightCol.isDefined
    val shape = validate(train, Some(model), "training data", weighted)
    requireRows(shape)
    val valPrepared = validation.map { v =>
      val p = prepare(v, featuresCols, Some(labelCol), weightCol, model.inputShape)
      checkValidation(shape, validate(p, Some(model), "validation data", weighted))
      p
    }
    (train, shape, valPrepared)
  }

  /** The training data has rows (checked before `num_workers` is weighed against them). */
  def requireRows(train: Shape): Unit =
    if (train.rows == 0) {
      throw new IllegalArgumentException(
        "the training data is empty (0 rows): check the DataFrame's source and filters (or the " +
          "arrays given to fit) before training"
      )
    }

  /** Validation rows must have the training rows' widths. */
  def checkValidation(train: Shape, validation: Shape): Unit =
    if (
      validation.rows > 0 &&
      (validation.featureWidth != train.featureWidth || validation.labelWidth != train.labelWidth)
    ) {
      throw new IllegalArgumentException(
        s"validation_data: rows have ${validation.featureWidth} features and " +
          s"${validation.labelWidth.getOrElse(0)} label values, the training data " +
          s"${train.featureWidth} and ${train.labelWidth.getOrElse(0)}; they must match"
      )
    }
}

package loxodon.data

import org.apache.spark.sql.Column
import org.apache.spark.sql.api.java.UDF1
import org.apache.spark.sql.functions.{col, udf}
import org.apache.spark.sql.types.{ArrayType, FloatType}

/** String columns as features: each string becomes its Unicode code points as floats (exact up to
  * 2^24, above every code point), cut or padded with 0 to the model's input width, in the tasks
  * that place the rows. The model turns them back into strings and tokenizes them in the workers
  * (`loxodon.text.CodepointClassifier`: a keras-hub preprocessor, then the classifier): rows stay
  * fixed-width float arrays like every other kind, so placement, Arrow and the workers are
  * unchanged.
  */
object TextColumns {

  /** The features (`inputShape`'s one width of code points) of string column `name`. */
  def features(name: String, inputShape: Option[Seq[Int]]): Column = {
    val width = inputShape match {
      case Some(Seq(w)) if w > 0 => w
      case other =>
        throw new IllegalArgumentException(
          s"features_col: column '$name' holds strings, but the model's input shape " +
            s"${other.map(_.mkString("(", ", ", ")")).getOrElse("(unknown)")} is not one fixed " +
            "width of code points; build the model with loxodon.text_classifier (or give it an " +
            "input of (max_chars,) code points, as loxodon.text.CodepointClassifier)"
        )
    }
    val encode = udf(
      new UDF1[String, Array[Float]] {
        def call(s: String): Array[Float] = if (s == null) null else codepoints(s, width)
      },
      ArrayType(FloatType, containsNull = false)
    )
    encode(col(name))
  }

  /** The first `width` code points of `s` as floats, padded with 0. */
  def codepoints(s: String, width: Int): Array[Float] = {
    val out = new Array[Float](width)
    val points = s.codePoints().limit(width.toLong).toArray
    var i = 0
    while (i < points.length) { out(i) = points(i).toFloat; i += 1 }
    out
  }
}

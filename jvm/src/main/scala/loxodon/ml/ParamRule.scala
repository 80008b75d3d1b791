package loxodon.ml

import scala.util.Try

import com.fasterxml.jackson.databind.node.ObjectNode

import loxodon.io.Json

/** What makes a value of one param valid, as data: the rule checks a value here, and its JSON form
  * (in `python/loxodon/contract.json`, see [[loxodon.Contract]]) lets the Python front end check it
  * the same way, with the same message, before anything reaches the JVM. Like Spark's
  * `ParamValidators`, but a rule can be read by the other language.
  *
  * `problem` answers "name ...why" (no stage prefix), or None when the value is valid.
  */
sealed trait ParamRule {

  /** What is wrong with `value` for the param `name`, or None when it is valid. */
  def problem(name: String, value: Any): Option[String]

  /** The rule as `{"rule": kind, ...arguments}`. */
  def json: ObjectNode
}

object ParamRule {

  /** Any value of the param's type. */
  case object Free extends ParamRule {
    def problem(name: String, value: Any): Option[String] = None
    def json: ObjectNode = Json.obj().put("rule", "free")
  }

  /** An integer at least `min`. */
  final case class AtLeast(min: Long) extends ParamRule {
    def problem(name: String, value: Any): Option[String] = value match {
      case n: Int if n >= min  => None
      case n: Long if n >= min => None
      case n                   => Some(s"$name must be >= $min, got $n")
    }
    def json: ObjectNode = Json.obj().put("rule", "atLeast").put("min", min)
  }

  /** A finite number above 0. */
  case object Positive extends ParamRule {
    def problem(name: String, value: Any): Option[String] = value match {
      case n: Int if n > 0                     => None
      case n: Long if n > 0                    => None
      case x: Double if x > 0 && !x.isInfinite => None
      case n                                   => Some(s"$name must be > 0, got $n")
    }
    def json: ObjectNode = Json.obj().put("rule", "positive")
  }

  /** A number in the half-open interval [lower, upper). */
  final case class InRange(lower: Double, upper: Double) extends ParamRule {
    private def shown(x: Double) = if (x == math.rint(x)) x.toLong.toString else x.toString
    def problem(name: String, value: Any): Option[String] = value match {
      case x: Double if x >= lower && x < upper => None
      case x => Some(s"$name must be in [${shown(lower)}, ${shown(upper)}), got $x")
    }
    def json: ObjectNode = Json.obj().put("rule", "inRange").put("lower", lower).put("upper", upper)
  }

  /** One of a fixed list of strings. */
  final case class OneOf(values: Seq[String]) extends ParamRule {
    def problem(name: String, value: Any): Option[String] = value match {
      case s: String if values.contains(s) => None
      case s => Some(s"$name: unknown value '$s'; choose one of ${values.mkString(", ")}")
    }
    def json: ObjectNode = {
      val out = Json.obj().put("rule", "oneOf")
      val arr = out.putArray("values")
      values.foreach(v => arr.add(v))
      out
    }
  }

  /** "epoch", or a positive whole number of batches written as a string. */
  case object EpochOrBatches extends ParamRule {
    def problem(name: String, value: Any): Option[String] = value match {
      case "epoch"                                           => None
      case s: String if Try(s.toInt).toOption.exists(_ >= 1) => None
      case s => Some(s"$name must be 'epoch' or a positive number of batches, got '$s'")
    }
    def json: ObjectNode = Json.obj().put("rule", "epochOrBatches")
  }

  /** A non-empty column name. */
  case object ColumnName extends ParamRule {
    def problem(name: String, value: Any): Option[String] = value match {
      case s: String if s.nonEmpty => None
      case s                       => Some(s"$name must name a column, got '$s'")
    }
    def json: ObjectNode = Json.obj().put("rule", "columnName")
  }

  /** A list of names (columns, modules) none of which is empty or blank. */
  case object Names extends ParamRule {
    def problem(name: String, value: Any): Option[String] = value match {
      case ns: Array[String] if ns.forall(n => n != null && n.trim.nonEmpty) => None
      case ns: Array[String] => Some(s"$name has an empty name")
      case other             => Some(s"$name must be a list of names, got $other")
    }
    def json: ObjectNode = Json.obj().put("rule", "names")
  }
}

package loxodon.ps

import com.fasterxml.jackson.databind.JsonNode

import loxodon.io.Json

/** The checks of the JSON reports workers send (EPOCH_END, NEXT_UNIT), made on the server before
  * the driver or the scheduler sees them: a malformed report gets an ERROR naming the worker and
  * the problem, which fails that worker's task and so the job, where it was once read as an empty
  * report (NEXT_UNIT: the unit in flight never completed) or ended in a `KeyError` on the driver
  * (EPOCH_END).
  */
object Reports {

  /** The numbers every epoch report carries (see `EpochReports`). */
  final val EpochNumbers: Seq[String] = Seq("rows", "samples", "seconds")

  /** What is wrong with an EPOCH_END report, or None. */
  def epochProblem(text: String): Option[String] = parseObject(text).fold(
    Some(_),
    node => {
      // Other fields may be anything: the driver's logs take the numeric ones.
      val missing = EpochNumbers.filterNot(k => node.path(k).isNumber)
      if (missing.nonEmpty) Some(s"the report lacks the numbers ${missing.mkString(", ")}")
      else None
    }
  )

  /** What is wrong with a NEXT_UNIT report (`{"hello": true}` or `{"unit": <seq>, ...}`), or None.
    */
  def unitProblem(text: String): Option[String] = parseObject(text).fold(
    Some(_),
    node =>
      if (node.path("hello").asBoolean(false)) None
      else if (!node.path("unit").canConvertToLong || !node.path("unit").isIntegralNumber) {
        Some("the report has neither \"hello\": true nor an integer \"unit\"")
      } else None
  )

  private def parseObject(text: String): Either[String, JsonNode] =
    try {
      val node = Json.parseLenient(text, "the report")
      if (node == null || !node.isObject) Left("the report is not a JSON object")
      else Right(node)
    } catch { case e: IllegalArgumentException => Left(e.getMessage) }
}

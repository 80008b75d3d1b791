package loxodon.io

import com.fasterxml.jackson.core.json.JsonReadFeature
import com.fasterxml.jackson.databind.{JsonNode, ObjectMapper}
import com.fasterxml.jackson.databind.node.{ArrayNode, JsonNodeFactory, ObjectNode}

/** JSON through Jackson's tree model (Jackson is on Spark's class path): parsing the parameter
  * strings Python sends, and building the small messages the JVM sends back.
  */
object Json {

  /** A shared, thread-safe mapper. */
  val mapper: ObjectMapper = new ObjectMapper()

  /** Parses `text`; an IllegalArgumentException naming `what` if it is not JSON. */
  def parse(text: String, what: String): JsonNode =
    try {
      require(text != null, s"$what is null")
      mapper.readTree(text)
    } catch {
      case e: com.fasterxml.jackson.core.JacksonException =>
        throw new IllegalArgumentException(s"$what is not valid JSON: ${e.getOriginalMessage}", e)
    }

  private val lenient = mapper.reader().`with`(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)

  /** [[parse]] accepting `NaN` and `Infinity`, as Python's `json.dumps` writes a diverged loss. */
  def parseLenient(text: String, what: String): JsonNode =
    try {
      require(text != null, s"$what is null")
      lenient.readTree(text)
    } catch {
      case e: com.fasterxml.jackson.core.JacksonException =>
        throw new IllegalArgumentException(s"$what is not valid JSON: ${e.getOriginalMessage}", e)
    }

  /** A new empty object. */
  def obj(): ObjectNode = JsonNodeFactory.instance.objectNode()

  /** A new empty array. */
  def arr(): ArrayNode = JsonNodeFactory.instance.arrayNode()

  /** `node` as compact text. */
  def write(node: JsonNode): String = mapper.writeValueAsString(node)

  /** The numeric fields of a JSON object, as doubles (other fields are skipped). */
  def numbers(node: JsonNode): Map[String, Double] = {
    val out = Map.newBuilder[String, Double]
    val it = node.properties().iterator()
    while (it.hasNext) {
      val e = it.next()
      if (e.getValue.isNumber) out += e.getKey -> e.getValue.asDouble()
    }
    out.result()
  }
}

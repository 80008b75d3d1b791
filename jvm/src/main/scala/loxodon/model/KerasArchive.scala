package loxodon.model

import java.io.ByteArrayInputStream
import java.nio.charset.StandardCharsets.UTF_8
import java.util.zip.ZipInputStream

import scala.jdk.CollectionConverters._

import com.fasterxml.jackson.databind.JsonNode

import loxodon.io.Json

/** What the JVM needs to know about a Keras model without Python: read from the `config.json`
  * inside a `.keras` archive (a zip), so that the Trainer can check the data against the model
  * before it launches anything.
  *
  * @param compiled
  *   the archive carries a non-empty `compile_config`
  * @param inputShape
  *   the model's input shape without the batch dimension, when the config states it
  * @param outputUnits
  *   units of the last layer when it is a Dense layer
  * @param labels
  *   what labels the compiled loss takes ([[LossLabels]], judged by Keras's own loss identities)
  * @param loss
  *   the compiled loss as written in the config (a name, or a JSON object as text)
  */
final case class KerasArchive(
    compiled: Boolean,
    inputShape: Option[Seq[Int]],
    outputUnits: Option[Int],
    labels: LossLabels,
    loss: Option[String]
) {

  /** The compiled loss takes class indices. */
  def sparseLoss: Boolean = labels == LossLabels.Index

  /** Values per row the model's input needs (the product of [[inputShape]]). */
  def inputWidth: Option[Int] = inputShape.map(_.product)

  /** Throws the error a user sees when training an uncompiled model. */
  def requireCompiled(): Unit =
    if (!compiled) throw new IllegalArgumentException(KerasArchive.NotCompiled)
}

object KerasArchive {

  /** The message of [[KerasArchive.requireCompiled]]. */
  final val NotCompiled: String =
    "the Keras model is not compiled: call model.compile(optimizer=..., loss=...) before training"

  /** Parses the bytes of a `.keras` archive. */
  def parse(archive: Array[Byte]): KerasArchive = {
    require(archive != null && archive.nonEmpty, "the Keras model archive is empty")
    parseConfig(Json.parse(new String(configJson(archive), UTF_8), "config.json of the archive"))
  }

  /** Parses the archive of a model to train or evaluate: an error if it is not compiled. */
  def parseCompiled(archive: Array[Byte]): KerasArchive = {
    val model = parse(archive)
    model.requireCompiled()
    model
  }

  /** The bytes of `config.json` in the zip; an IllegalArgumentException if absent. */
  def configJson(archive: Array[Byte]): Array[Byte] = {
    val zip = new ZipInputStream(new ByteArrayInputStream(archive))
    try {
      var entry = zip.getNextEntry
      while (entry != null && entry.getName != "config.json") entry = zip.getNextEntry
      if (entry == null) {
        throw new IllegalArgumentException(
          "not a Keras .keras archive (no config.json inside): save the model with " +
            "model.save(\"model.keras\")"
        )
      }
      zip.readAllBytes()
    } catch {
      case e: java.util.zip.ZipException =>
        throw new IllegalArgumentException(s"not a Keras .keras archive: ${e.getMessage}", e)
    } finally zip.close()
  }

  /** Reads the model facts from a parsed `config.json`. */
  def parseConfig(root: JsonNode): KerasArchive = {
    val compile = root.path("compile_config")
    val compiled = compile.isObject && compile.size() > 0
    val lossNode = compile.path("loss")
    val loss =
      if (lossNode.isMissingNode || lossNode.isNull) None
      else if (lossNode.isTextual) Some(lossNode.asText())
      else Some(Json.write(lossNode))
    val labels =
      if (lossNode.isMissingNode || lossNode.isNull) LossLabels.Unknown else LossLabels.of(lossNode)
    val layers = root.path("config").path("layers")
    val layerList = if (layers.isArray) layers.elements().asScala.toList else Seq.empty
    val fromInputLayer = layerList
      .find(_.path("class_name").asText() == "InputLayer")
      .flatMap(l => shape(l.path("config").path("batch_shape")))
    // Several inputs or outputs: the rows are one flat vector per row, split by the Python
    // driver's per-input and per-output checks (loxodon/model_io.py), so no single shape here.
    val multiInput = ends(root.path("config").path("input_layers")) > 1
    val multiOutput = ends(root.path("config").path("output_layers")) > 1
    val inputShape =
      if (multiInput) None
      else
        fromInputLayer
          .orElse(shape(root.path("build_config").path("input_shape")))
          .orElse(shape(root.path("config").path("build_input_shape")))
    val units =
      if (multiOutput) None
      else
        layerList.lastOption
          .filter(_.path("class_name").asText() == "Dense")
          .map(_.path("config").path("units"))
          .filter(_.isInt)
          .map(_.asInt())
    KerasArchive(compiled, inputShape, units, if (multiOutput) LossLabels.Unknown else labels, loss)
  }

  /** How many inputs (outputs) a functional config's `input_layers` (`output_layers`) names: a dict
    * or a list of `[name, node, tensor]` triples, or one bare triple.
    */
  private def ends(node: JsonNode): Int =
    if (node.isObject) node.size()
    else if (node.isArray && node.size() > 0 && node.get(0).isArray) node.size()
    else 1

  /** A batch shape `[null, d1, d2, ...]` without its batch dimension, if all dims are known. */
  private def shape(node: JsonNode): Option[Seq[Int]] =
    if (!node.isArray || node.size() < 2) None
    else {
      val dims = node.elements().asScala.toList.drop(1)
      if (dims.forall(_.isInt)) Some(dims.map(_.asInt())) else None
    }
}

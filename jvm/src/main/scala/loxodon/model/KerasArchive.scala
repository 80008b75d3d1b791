package loxodon.model

import java.io.ByteArrayInputStream
import java.nio.charset.StandardCharsets.UTF_8
import java.util.zip.ZipInputStream

import scala.jdk.CollectionConverters._

import com.fasterxml.jackson.databind.JsonNode

import loxodon.io.Json

/** One input or output of a model: its name in Keras's flattening order, its flat width when the
  * config states it (an input's shape; an output ending in a Dense layer: its units) and, for an
  * output, the labels its loss takes.
  */
final case class ModelSlot(name: String, width: Option[Int], labels: LossLabels) {

  /** Label values per row this output needs: one class index, or its width. */
  def labelWidth: Option[Int] = if (labels == LossLabels.Index) Some(1) else width
}

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
  * @param inputs
  *   the functional model's inputs in Keras's flattening order (a list in order, a dict by sorted
  *   name), the order of `python/loxodon/model_io.py`; empty when the config names none
  * @param outputs
  *   its outputs likewise, each with the labels its own loss takes
  */
final case class KerasArchive(
    compiled: Boolean,
    inputShape: Option[Seq[Int]],
    outputUnits: Option[Int],
    labels: LossLabels,
    loss: Option[String],
    inputs: Seq[ModelSlot] = Seq.empty,
    outputs: Seq[ModelSlot] = Seq.empty
) {

  /** More than one input or output: rows are split per input and output by the workers. */
  def multi: Boolean = inputs.size > 1 || outputs.size > 1

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
    val byName = layerList.map(l => l.path("config").path("name").asText() -> l).toMap
    val inputs = slots(root.path("config").path("input_layers")).map { case (name, layer) =>
      val width = byName.get(layer).flatMap(l => shape(l.path("config").path("batch_shape")))
      ModelSlot(name, width.map(_.product), LossLabels.Unknown)
    }
    val outputNames = slots(root.path("config").path("output_layers"))
    val losses = outputLosses(lossNode, outputNames.map(_._1))
    val outputs = outputNames.zip(losses).map { case ((name, layer), lossOf) =>
      val dense = byName.get(layer).filter(_.path("class_name").asText() == "Dense")
      val width = dense.map(_.path("config").path("units")).filter(_.isInt).map(_.asInt())
      ModelSlot(name, width, lossOf)
    }
    KerasArchive(
      compiled,
      inputShape,
      units,
      if (multiOutput) LossLabels.Unknown else labels,
      loss,
      inputs,
      outputs
    )
  }

  /** `(name, layer)` of each end a functional config's `input_layers`/`output_layers` names, in
    * Keras's flattening order: a dict by sorted key, a list in order, the name being the layer's.
    */
  private def slots(node: JsonNode): Seq[(String, String)] =
    if (node.isObject) {
      node.fieldNames().asScala.toSeq.sorted.map(k => k -> node.get(k).path(0).asText())
    } else if (node.isArray && node.size() > 0 && node.get(0).isArray) {
      node.elements().asScala.toSeq.map(t => t.path(0).asText() -> t.path(0).asText())
    } else if (node.isArray && node.size() > 0) Seq(node.path(0).asText() -> node.path(0).asText())
    else Seq.empty

  /** The labels each output's loss takes: a dict of losses by output name, a list in order, or one
    * loss for all (as `model_io._output_losses`).
    */
  private def outputLosses(loss: JsonNode, names: Seq[String]): Seq[LossLabels] =
    if (loss.isMissingNode || loss.isNull) names.map(_ => LossLabels.Unknown)
    else if (loss.isObject && !loss.has("class_name")) {
      names.map(n => if (loss.has(n)) LossLabels.of(loss.get(n)) else LossLabels.Unknown)
    } else if (loss.isArray) {
      if (loss.size() == names.size) names.indices.map(i => LossLabels.of(loss.get(i)))
      else names.map(_ => LossLabels.Unknown)
    } else names.map(_ => LossLabels.of(loss))

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

package loxodon.model

import com.fasterxml.jackson.databind.JsonNode

/** What labels a compiled Keras loss takes, judged by Keras's own loss identities (a built-in
  * loss's name, class or function), never by a substring of a name: a custom loss is
  * [[LossLabels.Unknown]] and its labels are not checked against the output layer.
  *
  * The one place this rule lives: the driver checks labels with it ([[loxodon.data.TrainingData]])
  * and the Python workers read [[LossLabels.IndexLosses]] from `contract.json` to decide whether a
  * one-wide label column holds class indices.
  */
sealed trait LossLabels

object LossLabels {

  /** Class indices, one per row (`SparseCategoricalCrossentropy`). */
  case object Index extends LossLabels

  /** One label value per output unit (every other built-in loss with per-output targets). */
  case object Values extends LossLabels

  /** A custom loss, several losses, or a built-in whose labels are shaped otherwise (CTC). */
  case object Unknown extends LossLabels

  /** Keras's names (function names, their aliases and class names) of the losses that take class
    * indices.
    */
  val IndexLosses: Seq[String] =
    Seq("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy")

  /** Keras 3's built-in losses (`keras.losses`) whose labels have the output's width. */
  val ValueLosses: Seq[String] = Seq(
    "BCE",
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "Dice",
    "Hinge",
    "Huber",
    "KLD",
    "KLDivergence",
    "LogCosh",
    "MAE",
    "MAPE",
    "MSE",
    "MSLE",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "SquaredHinge",
    "Tversky",
    "bce",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_hinge",
    "cosine_similarity",
    "dice",
    "hinge",
    "huber",
    "kl_divergence",
    "kld",
    "log_cosh",
    "mae",
    "mape",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "mse",
    "msle",
    "poisson",
    "squared_hinge",
    "tversky"
  )

  /** The kind of a Keras name. */
  def ofName(name: String): LossLabels =
    if (IndexLosses.contains(name)) Index
    else if (ValueLosses.contains(name)) Values
    else Unknown

  /** The kind of the `loss` of a `compile_config`: a name (Keras resolves strings among its
    * built-ins first), a serialized `keras.losses` object (`class_name`), or a serialized function
    * (`{"module": "builtins", "class_name": "function", "config": name}`, which Keras resolves to
    * its own function of that name first); anything else (a dict or list of losses, a class from
    * another module) is [[Unknown]].
    */
  def of(loss: JsonNode): LossLabels =
    if (loss.isTextual) ofName(loss.asText())
    else if (loss.isObject) {
      val module = loss.path("module").asText("")
      val className = loss.path("class_name").asText("")
      if (module == "keras.losses" || module.startsWith("keras.src.losses")) ofName(className)
      else if (module == "builtins" && className == "function" && loss.path("config").isTextual) {
        ofName(loss.path("config").asText())
      } else Unknown
    } else Unknown
}

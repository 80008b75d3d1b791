package loxodon.model

import org.scalatest.funsuite.AnyFunSuite

class KerasArchiveSuite extends AnyFunSuite {
  private def resource(name: String): Array[Byte] = {
    val in = getClass.getResourceAsStream(s"/$name")
    try in.readAllBytes()
    finally in.close()
  }

  test("parses the compiled MLP fixture") {
    val a = KerasArchive.parse(resource("mlp.keras"))
    assert(a.compiled)
    assert(a.inputShape.contains(Seq(8)))
    assert(a.inputWidth.contains(8))
    assert(a.outputUnits.contains(3))
    assert(a.sparseLoss)
    assert(a.loss.contains("sparse_categorical_crossentropy"))
    a.requireCompiled()
  }

  test("an uncompiled model is refused with the fix") {
    val a = KerasArchive.parse(resource("uncompiled.keras"))
    assert(!a.compiled)
    assert(a.inputShape.contains(Seq(2, 2)))
    assert(a.inputWidth.contains(4))
    assert(a.outputUnits.contains(2))
    val e = intercept[IllegalArgumentException](a.requireCompiled())
    assert(e.getMessage.contains("model.compile(optimizer=..., loss=...)"))
  }

  test("bytes that are not a .keras archive get a clear error") {
    val e = intercept[IllegalArgumentException](KerasArchive.parse("not a zip".getBytes))
    assert(e.getMessage.contains("not a Keras .keras archive"))
  }

  test("the loss's labels are judged by Keras's own loss identities, not by names") {
    def kind(json: String): LossLabels = LossLabels.of(loxodon.io.Json.parse(json, "loss"))
    assert(kind("\"sparse_categorical_crossentropy\"") == LossLabels.Index)
    assert(
      kind(
        """{"module": "keras.losses", "class_name": "SparseCategoricalCrossentropy", "config": {}}"""
      ) == LossLabels.Index
    )
    val function = """{"module": "builtins", "class_name": "function", "config": "%s"}"""
    assert(kind(function.format("sparse_categorical_crossentropy")) == LossLabels.Index)
    assert(kind(function.format("my_sparse_index_loss")) == LossLabels.Unknown)
    assert(kind("\"mse\"") == LossLabels.Values)
    assert(
      kind("""{"module": "keras.losses", "class_name": "MeanSquaredError", "config": {}}""") ==
        LossLabels.Values
    )
    assert(
      kind("""{"module": "my_losses", "class_name": "SparseIndexLoss", "config": {}}""") ==
        LossLabels.Unknown
    )
    assert(kind("""{"out": "mse"}""") == LossLabels.Unknown)
  }

  test("a model of several inputs or outputs states no single input shape or output width") {
    def parse(json: String): KerasArchive =
      KerasArchive.parseConfig(loxodon.io.Json.parse(json, "config.json"))
    val layers =
      """[{"class_name": "InputLayer", "config": {"batch_shape": [null, 32]}},
        | {"class_name": "InputLayer", "config": {"batch_shape": [null, 32]}},
        | {"class_name": "Dense", "config": {"units": 10}}]""".stripMargin
    val compile = """{"loss": "mse"}"""
    val twoInputs = parse(
      s"""{"config": {"layers": $layers, "input_layers": [["a", 0, 0], ["b", 0, 0]],
         | "output_layers": [["d", 0, 0]]}, "compile_config": $compile}""".stripMargin
    )
    assert(twoInputs.inputShape.isEmpty && twoInputs.outputUnits.contains(10))
    val twoOutputs = parse(
      s"""{"config": {"layers": $layers, "input_layers": ["a", 0, 0],
         | "output_layers": {"x": ["x", 0, 0], "y": ["y", 0, 0]}},
         | "compile_config": $compile}""".stripMargin
    )
    assert(twoOutputs.inputShape.contains(Seq(32)))
    assert(twoOutputs.outputUnits.isEmpty && twoOutputs.labels == LossLabels.Unknown)
  }
}

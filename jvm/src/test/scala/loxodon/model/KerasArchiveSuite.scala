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
}

package loxodon

import java.nio.file.Paths

import org.scalatest.funsuite.AnyFunSuite

import loxodon.io.Json
import loxodon.ml.{KerasEstimator, KerasModel, KerasParams}
import loxodon.ps.{Frame, Op}
import loxodon.train.TrainParams

/** `python/loxodon/contract.json` is exactly what [[Contract]] writes, and covers every fact it
  * claims to: a stale file (a param, mode or op added in Scala only) fails here.
  */
class ContractSuite extends AnyFunSuite {

  test("the checked-in contract.json is the one Contract writes (else: run `make contract`)") {
    val checkedIn = Contract.checkedIn(Paths.get("."))
    assert(
      checkedIn == Contract.render,
      s"${Contract.PythonPath} is stale: run `make contract` and commit the file"
    )
  }

  test("it lists every param of both stages with its rule, and every mode and op") {
    val json = Json.parse(Contract.render, "contract")
    val names = (0 until json.get("params").size()).map(i => json.get("params").get(i))
    val estimator = new KerasEstimator()
    assert(names.map(_.get("name").asText()).toSet == estimator.params.map(_.name).toSet)
    assert(new KerasModel().params.map(_.name).toSet == estimator.params.map(_.name).toSet)
    assert(KerasParams.Rules.keySet == estimator.params.map(_.name).toSet)
    val epochs = names.find(_.get("name").asText() == "epochs").get
    assert(
      Json.write(epochs) == """{"name":"epochs","type":"int","doc":"passes over the """ +
        """training data (>= 1)","default":1,"rule":"atLeast","min":1,"transform":false}"""
    )
    val modes = json.get("modes").get("all")
    assert((0 until modes.size()).map(modes.get(_).asText()) == TrainParams.Modes)
    val ops = json.get("protocol").get("ops")
    assert(Op.all.forall(op => ops.get(Op.name(op)).asInt() == op) && ops.size() == Op.all.size)
  }

  test("the header fields add up to the frame header the decoder reads") {
    val size = Map("uint8" -> 1, "uint16" -> 2, "int32" -> 4, "int64" -> 8)
    assert(Contract.HeaderFields.map(f => size(f._2)).sum == Frame.HeaderBytes)
  }

  test("KerasModel has a setter for exactly the transform params") {
    val setters = classOf[KerasModel].getMethods.map(_.getName).filter(_.startsWith("set")).toSet
    val params = new KerasModel().params.map(_.name)
    val settable = params.filter(p => setters.contains("set" + p.capitalize)).toSet
    assert(settable == KerasParams.TransformParams.toSet)
  }
}

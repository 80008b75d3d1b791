package loxodon.select

import scala.collection.mutable
import scala.util.Random

import com.fasterxml.jackson.databind.JsonNode
import org.scalatest.funsuite.AnyFunSuite

import loxodon.io.Json

class HopSchedulerSuite extends AnyFunSuite {

  /** Records the scheduler's callbacks. */
  private final class Recorder extends HopListener {
    val epochs = mutable.ArrayBuffer.empty[(Int, Int, Map[String, Double])]
    val exported = mutable.ArrayBuffer.empty[Int]
    val dropped = mutable.ArrayBuffer.empty[String]
    override def onEpoch(model: Int, epoch: Int, logs: Map[String, Double]): Unit =
      epochs += ((model, epoch, logs))
    override def onExported(model: Int, blob: String): Unit = exported += model
    override def onDropped(name: String): Unit = dropped += name
  }

  /** Simulated workers: each asks for work, holds what it gets, and completes on demand. */
  private final class Workers(s: HopScheduler, n: Int) {
    val held: Array[Option[JsonNode]] = Array.fill(n)(None)
    val stopped: Array[Boolean] = Array.fill(n)(false)

    def ask(w: Int, report: String = "{}"): Unit = {
      held(w) = None
      s.next(
        w,
        report,
        handed => {
          val unit = Json.parse(handed.json, "unit")
          assert(handed.blob == Some(unit.path("state").asText("")).filter(_.nonEmpty))
          if (unit.path("kind").asText() == "stop") stopped(w) = true else held(w) = Some(unit)
        }
      )
    }

    /** Completes worker w's unit with `rows` and a loss of `loss` (validations it was asked for
      * report `valRows` rows and the same loss), then asks again.
      */
    def complete(w: Int, rows: Int = 10, loss: Double = 1.0, valRows: Int = 5): JsonNode = {
      val unit = held(w).getOrElse(fail(s"worker $w holds no unit"))
      val report = Json.obj().put("unit", unit.path("unit").asLong()).put("rows", rows)
      val logs = report.putObject("logs").put("loss", loss)
      if (unit.path("evaluate").asBoolean()) {
        logs.put("val_loss", loss)
        report.put("val_rows", valRows)
      }
      if (unit.path("evaluate_first").asBoolean()) {
        report.put("prior_val_rows", valRows).putObject("prior_logs").put("loss", loss)
      }
      ask(w, Json.write(report))
      unit
    }
  }

  private def spec = Json.obj().put("batch_size", 8)

  /** Model 0 asking for `epochs` epochs, and 2 workers that have both asked for work. */
  private def oneModelOnTwoWorkers(
      valRows: Array[Long],
      epochs: Int
  ): (Recorder, HopScheduler, Workers) = {
    val rec = new Recorder
    val s = new HopScheduler(2, valRows, rec)
    val workers = new Workers(s, 2)
    s.addModel(0, "a", spec)
    s.requestEpochs(0, epochs)
    workers.ask(0)
    workers.ask(1)
    (rec, s, workers)
  }

  test("a model given a first state blob starts from it, which is dropped once superseded") {
    val rec = new Recorder
    val s = new HopScheduler(1, Array(0L), rec)
    val workers = new Workers(s, 1)
    s.addModel(0, "sel/0/archive", spec, Some("sel/0/initial"))
    s.requestEpochs(0, 1)
    workers.ask(0)
    val first = workers.complete(0)
    assert(first.path("state").asText() == "sel/0/initial")
    assert(first.path("archive").asText() == "sel/0/archive")
    assert(rec.dropped == Seq("sel/0/initial"))
    assert(rec.epochs.map(e => (e._1, e._2)) == Seq((0, 0)))
  }

  test("every model visits every partition once per epoch, never on two workers at once") {
    val n = 3
    val rec = new Recorder
    val s = new HopScheduler(n, Array(5L, 5L, 0L), rec)
    val workers = new Workers(s, n)
    (0 until 4).foreach { m => s.addModel(m, s"sel/$m/archive", spec); s.requestEpochs(m, 2) }
    s.finish()
    (0 until n).foreach(w => workers.ask(w))
    val rng = new Random(7)
    val visits = mutable.Map.empty[(Int, Int), mutable.ArrayBuffer[Int]]
    val completed = mutable.ArrayBuffer.empty[JsonNode]
    var steps = 0
    while (!workers.stopped.forall(identity) && steps < 1000) {
      steps += 1
      val busy = (0 until n).filter(w => workers.held(w).isDefined)
      assert(busy.nonEmpty, "no worker holds a unit, but the search has not stopped")
      // No model is trained on two workers at once.
      val training = busy.flatMap(w => workers.held(w)).filter(_.path("kind").asText() == "train")
      val models = training.map(_.path("model").asInt())
      assert(models.distinct.size == models.size, s"a model trains twice at once: $models")
      val w = busy(rng.nextInt(busy.size))
      val unit = workers.complete(w)
      completed += unit
      if (unit.path("kind").asText() == "train") {
        assert(unit.path("partition").asInt() == w, "worker w trains on its own partition")
        visits
          .getOrElseUpdate(
            (unit.path("model").asInt(), unit.path("epoch").asInt()),
            mutable.ArrayBuffer.empty
          ) += w
      }
    }
    assert(workers.stopped.forall(identity), "every worker is told to stop at the end")
    for (m <- 0 until 4; e <- 0 until 2) {
      assert(visits((m, e)).sorted == Seq(0, 1, 2), s"model $m epoch $e visited ${visits((m, e))}")
    }
    // Each epoch is reported once, with row-weighted logs; val_ from the partitions with rows.
    assert(
      rec.epochs.map(e => (e._1, e._2)).sorted == (for (m <- 0 until 4; e <- 0 until 2)
        yield (m, e))
    )
    assert(rec.epochs.forall(_._3.keySet == Set("loss", "val_loss")))
    // The superseded state blobs are dropped: 2 epochs x 3 units, minus the last state.
    assert(rec.dropped.size == 4 * (2 * 3 - 1))
    // Every epoch is validated on partitions 0 and 1, in an eval unit or inside a train unit.
    val specs = completed.filter(_.path("kind").asText() == "train")
    val inside = specs.count(_.path("evaluate").asBoolean()) +
      specs.count(_.path("evaluate_first").asBoolean())
    assert(s.schedule.count(_.kind == "eval") + inside == 4 * 2 * 2)
    assert(specs.count(_.path("evaluate_first").asBoolean()) > 0, "no validation was folded")
  }

  test("an epoch's logs are row-weighted means over partitions") {
    val (rec, s, workers) = oneModelOnTwoWorkers(Array(0L, 0L), epochs = 1)
    workers.complete(0, rows = 30, loss = 1.0)
    workers.complete(1, rows = 10, loss = 3.0)
    assert(rec.epochs.map(_._3("loss")) == Seq(1.5))
  }

  test("a unit lost with its worker is queued again from the last committed state") {
    val rec = new Recorder
    val s = new HopScheduler(2, Array(0L, 0L), rec)
    val workers = new Workers(s, 2)
    s.addModel(0, "sel/0/archive", spec)
    s.requestEpochs(0, 1)
    workers.ask(0)
    val first = workers.complete(0)
    assert(first.path("state").asText() == "", "the first unit starts from the archive")
    workers.ask(1)
    val lost = workers.held(1).get
    assert(lost.path("state").asText() == first.path("out").asText())
    // Worker 1's process dies; its replacement says hello and gets the same sub-epoch again.
    workers.ask(1, """{"hello": true}""")
    val again = workers.held(1).get
    assert(again.path("partition").asInt() == 1 && again.path("epoch").asInt() == 0)
    assert(again.path("state").asText() == first.path("out").asText())
    assert(again.path("out").asText() != lost.path("out").asText(), "fresh output blob")
    // A late report of the lost unit changes nothing.
    s.next(1, s"""{"unit": ${lost.path("unit").asLong()}, "rows": 5}""", _ => ())
    assert(rec.epochs.isEmpty)
    workers.held(1) = Some(again)
    workers.complete(1)
    assert(rec.epochs.map(_._2) == Seq(0))
    assert(s.schedule.map(_.status) == Seq("done", "lost", "done"))
  }

  test("a replayed schedule fixes each model's partition order") {
    val rec = new Recorder
    val order = Map(0 -> Seq(Seq(1, 0), Seq(0, 1)))
    val s = new HopScheduler(2, Array(0L, 0L), rec, order)
    val workers = new Workers(s, 2)
    s.addModel(0, "a", spec)
    s.requestEpochs(0, 2)
    workers.ask(0)
    assert(workers.held(0).isEmpty, "partition 0 is not model 0's first in epoch 0")
    workers.ask(1)
    workers.complete(1)
    assert(workers.held(0).exists(_.path("partition").asInt() == 0))
    workers.complete(0)
    assert(workers.held(0).exists(_.path("epoch").asInt() == 1))
    val replayed = Selection.replayOrder(
      Json.write({
        val arr = Json.arr()
        s.schedule.foreach(e => arr.add(e.toJson))
        arr
      })
    )
    assert(replayed(0).take(1) == Seq(Seq(1, 0)))
  }

  test("task-parallel: one unit per epoch on any worker, validated there") {
    val rec = new Recorder
    val s = new HopScheduler(2, Array(4L, 4L), rec, replicated = true)
    val workers = new Workers(s, 2)
    s.addModel(0, "a", spec)
    s.addModel(1, "b", spec)
    s.requestEpochs(0, 1)
    s.requestEpochs(1, 1)
    workers.ask(0)
    workers.ask(1)
    assert(workers.held.forall(_.exists(_.path("evaluate").asBoolean())))
    val u = workers.held(1).get
    s.next(
      1,
      s"""{"unit": ${u.path("unit").asLong()}, "rows": 8, "val_rows": 4,
         |"logs": {"loss": 2.0, "val_loss": 3.0}}""".stripMargin,
      _ => ()
    )
    assert(rec.epochs.map(e => (e._1, e._3)) == Seq((1, Map("loss" -> 2.0, "val_loss" -> 3.0))))
  }

  test("an epoch's last train unit validates on its own partition; the others get eval units") {
    val (rec, s, workers) = oneModelOnTwoWorkers(Array(4L, 6L), epochs = 1)
    val first = workers.held(0).get
    assert(!first.path("evaluate").asBoolean(), "a first visit does not end the epoch")
    workers.complete(0, rows = 10, loss = 1.0)
    val last = workers.held(1).get
    assert(last.path("evaluate").asBoolean(), "the last visit of the epoch validates")
    s.next(
      1,
      s"""{"unit": ${last.path("unit").asLong()}, "rows": 10, "val_rows": 6,
         |"logs": {"loss": 3.0, "val_loss": 2.0}}""".stripMargin,
      _ => ()
    )
    // Only partition 0 still needs an eval unit; its 4 rows weigh against the 6 validated above.
    assert(workers.held(0).exists(_.path("kind").asText() == "eval"))
    assert(rec.epochs.isEmpty)
    val eval = workers.held(0).get
    s.next(
      0,
      s"""{"unit": ${eval.path("unit").asLong()}, "rows": 4, "logs": {"loss": 7.0}}""",
      _ => ()
    )
    assert(rec.epochs.map(_._3) == Seq(Map("loss" -> 2.0, "val_loss" -> 4.0)))
    assert(s.schedule.count(_.kind == "eval") == 1)
  }

  test("the next epoch's first train unit validates the last epoch where it is still due") {
    val (rec, s, workers) = oneModelOnTwoWorkers(Array(4L, 6L), epochs = 2)
    workers.complete(0, rows = 10, loss = 1.0)
    val ending = workers.complete(1, rows = 10, loss = 3.0, valRows = 6)
    assert(ending.path("evaluate").asBoolean(), "the epoch's last unit validates on partition 1")
    val first = workers.held(0).get
    assert(first.path("epoch").asInt() == 1 && first.path("evaluate_first").asBoolean())
    assert(first.path("state").asText() == ending.path("out").asText())
    assert(rec.epochs.isEmpty, "epoch 0 is reported once partition 0 validated it")
    workers.complete(0, rows = 10, loss = 2.0, valRows = 4)
    // Row-weighted over partitions: train 10 rows at 1.0 and 10 at 3.0; validation 6 rows at 3.0
    // (the last unit of epoch 0) and 4 at 2.0 (the first of epoch 1, before it trained).
    assert(rec.epochs.map(e => (e._1, e._2)) == Seq((0, 0)))
    assert(rec.epochs.head._3("loss") == 2.0)
    assert(math.abs(rec.epochs.head._3("val_loss") - (6 * 3.0 + 4 * 2.0) / 10) < 1e-9)
    // Epoch 1 is the last requested: partition 0 validates it in an eval unit of its state.
    val last = workers.complete(1, rows = 10, loss = 1.0, valRows = 6)
    val eval = workers.held(0).get
    assert(eval.path("kind").asText() == "eval" && eval.path("epoch").asInt() == 1)
    assert(eval.path("state").asText() == last.path("out").asText())
    workers.complete(0)
    assert(rec.epochs.map(_._2) == Seq(0, 1))
    assert(s.schedule.count(_.kind == "eval") == 1)
    // Every state but the last is dropped once, after its validation.
    assert(rec.dropped.toSet.size == rec.dropped.size && rec.dropped.size == 3)
    assert(!rec.dropped.contains(last.path("out").asText()))
  }

  test("a worker prefers other work to starting an epoch whose validation is due elsewhere") {
    val rec = new Recorder
    val s = new HopScheduler(2, Array(4L, 6L), rec)
    val workers = new Workers(s, 2)
    (0 until 3).foreach { m => s.addModel(m, s"m$m", spec); s.requestEpochs(m, 2) }
    workers.ask(0) // model 0 on partition 0
    workers.ask(1) // model 1 on partition 1
    workers.complete(0) // then model 2 on partition 0
    workers.complete(1) // then model 0 on partition 1, ending its epoch 0
    workers.complete(0) // then model 1 on partition 0, ending its epoch 0
    val ended = workers.complete(1)
    assert(ended.path("model").asInt() == 0 && ended.path("evaluate").asBoolean())
    // Model 0's epoch 0 still needs partition 0; model 2 needs partition 1: worker 1 takes it.
    assert(workers.held(1).exists(u => u.path("model").asInt() == 2))
    workers.complete(0) // model 1's epoch ends on partition 0: model 0 starts there, validating
    val next = workers.held(0).get
    assert(next.path("model").asInt() == 0 && next.path("evaluate_first").asBoolean())
  }

  test("retired models get no more units; exports go to an idle worker") {
    val rec = new Recorder
    val s = new HopScheduler(2, Array(0L, 0L), rec)
    val workers = new Workers(s, 2)
    s.addModel(0, "a", spec)
    s.requestEpochs(0, 3)
    workers.ask(0)
    s.retire(0)
    workers.complete(0)
    assert(workers.held(0).isEmpty)
    s.requestExport(0)
    assert(workers.held(0).exists(_.path("kind").asText() == "export"))
    workers.complete(0)
    assert(rec.exported == Seq(0))
    s.finish()
    assert(workers.stopped(0))
  }
}

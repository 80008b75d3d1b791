package loxodon.select

import scala.collection.mutable
import scala.util.Random

import com.fasterxml.jackson.databind.JsonNode
import com.fasterxml.jackson.databind.node.ObjectNode
import org.scalatest.funsuite.AnyFunSuite

import loxodon.io.Json
import loxodon.ps.HandedUnit

/** Units assigned ahead: a worker asks for its next unit while it runs one (as `HopWorker` does).
  */
class HopSchedulerAheadSuite extends AnyFunSuite {

  private final class Recorder extends HopListener {
    val epochs = mutable.ArrayBuffer.empty[(Int, Int)]
    override def onEpoch(model: Int, epoch: Int, logs: Map[String, Double]): Unit =
      epochs += ((model, epoch))
    override def onExported(model: Int, blob: String): Unit = ()
    override def onDropped(name: String): Unit = ()
  }

  /** Simulated pipelining workers: each runs `current` and may hold one unit `queued` ahead. On
    * starting a unit a worker asks ahead, carrying the report of the unit before if not yet sent;
    * on finishing one it starts the queued unit, or reports with a plain (waiting) request.
    */
  private final class Workers(s: HopScheduler, n: Int) {
    val current: Array[Option[JsonNode]] = Array.fill(n)(None)
    val queued: Array[Option[JsonNode]] = Array.fill(n)(None)
    val stopped: Array[Boolean] = Array.fill(n)(false)
    var given = 0

    private def unit(h: HandedUnit): JsonNode = Json.parse(h.json, "unit")

    def ask(w: Int, report: String = "{}"): Unit =
      s.next(
        w,
        report,
        h => {
          val u = unit(h)
          if (u.path("kind").asText() == "stop") stopped(w) = true
          else {
            current(w) = Some(u)
            askAhead(w, "{}")
          }
        }
      )

    private def askAhead(w: Int, report: String): Unit = {
      val request = Json.parse(report, "report").asInstanceOf[ObjectNode].put("ahead", true)
      s.next(
        w,
        Json.write(request),
        h => {
          val u = unit(h)
          u.path("kind").asText() match {
            case "none" => ()
            case "stop" => fail("a request ahead was told to stop")
            case _ =>
              assert(queued(w).isEmpty, s"worker $w got a second unit ahead")
              given += 1
              queued(w) = Some(u)
          }
        }
      )
    }

    def complete(w: Int): JsonNode = {
      val u = current(w).getOrElse(fail(s"worker $w runs no unit"))
      val report = Json.obj().put("unit", u.path("unit").asLong()).put("rows", 10)
      val logs = report.putObject("logs").put("loss", 1.0)
      if (u.path("evaluate").asBoolean()) {
        logs.put("val_loss", 1.0)
        report.put("val_rows", 5)
      }
      if (u.path("evaluate_first").asBoolean()) {
        report.put("prior_val_rows", 5).putObject("prior_logs").put("loss", 1.0)
      }
      current(w) = None
      queued(w) match {
        case Some(next) =>
          queued(w) = None
          current(w) = Some(next)
          askAhead(w, Json.write(report))
        case None => ask(w, Json.write(report))
      }
      u
    }

    def held(w: Int): Seq[JsonNode] = current(w).toSeq ++ queued(w)
  }

  private def spec = Json.obj().put("batch_size", 8)

  test("with units ahead, every model still visits every partition once per epoch, one at a time") {
    val (n, numModels, epochs) = (2, 6, 3)
    val rec = new Recorder
    val s = new HopScheduler(n, Array(5L, 5L), rec)
    val workers = new Workers(s, n)
    (0 until numModels).foreach { m => s.addModel(m, s"a$m", spec); s.requestEpochs(m, epochs) }
    s.finish()
    (0 until n).foreach(w => workers.ask(w))
    val rng = new Random(11)
    val visits = mutable.Map.empty[(Int, Int), mutable.ArrayBuffer[Int]]
    var steps = 0
    while (!workers.stopped.forall(identity) && steps < 2000) {
      steps += 1
      val busy = (0 until n).filter(w => workers.current(w).isDefined)
      assert(busy.nonEmpty, "no worker runs a unit, but the search has not stopped")
      // A model held by a worker (running or reserved ahead) is held nowhere else.
      val trains = (0 until n).flatMap(workers.held).filter(_.path("kind").asText() == "train")
      val models = trains.map(_.path("model").asInt())
      assert(models.distinct.size == models.size, s"a model is held twice: $models")
      val w = busy(rng.nextInt(busy.size))
      val u = workers.complete(w)
      if (u.path("kind").asText() == "train") {
        assert(u.path("partition").asInt() == w)
        visits.getOrElseUpdate(
          (u.path("model").asInt(), u.path("epoch").asInt()),
          mutable.ArrayBuffer.empty
        ) += w
      }
    }
    assert(workers.stopped.forall(identity), "every worker is told to stop at the end")
    for (m <- 0 until numModels; e <- 0 until epochs) {
      assert(visits((m, e)).sorted == Seq(0, 1), s"model $m epoch $e visited ${visits((m, e))}")
    }
    assert(rec.epochs.sorted == (for (m <- 0 until numModels; e <- 0 until epochs) yield (m, e)))
    assert(workers.given > 0, "no unit was ever assigned ahead")
    // A unit assigned ahead starts when the one before it on that worker ends.
    for (w <- 0 until n) {
      val mine = s.schedule.filter(_.worker == w).sortBy(_.startMs)
      mine.zip(mine.drop(1)).foreach { case (a, b) => assert(b.startMs >= a.endMs - 1e-9) }
    }
  }

  test("no unit ahead unless more models could train than there are workers") {
    val s = new HopScheduler(2, Array(0L, 0L), new Recorder)
    val workers = new Workers(s, 2)
    (0 until 2).foreach { m => s.addModel(m, s"a$m", spec); s.requestEpochs(m, 1) }
    workers.ask(0)
    workers.ask(1)
    assert(workers.current.forall(_.isDefined) && workers.queued.forall(_.isEmpty))
    (2 until 6).foreach { m => s.addModel(m, s"a$m", spec); s.requestEpochs(m, 1) }
    workers.complete(0)
    assert(workers.current(0).isDefined && workers.queued(0).isDefined)
  }

  test("no unit ahead while another worker waits") {
    val s = new HopScheduler(2, Array(0L, 0L), new Recorder)
    val workers = new Workers(s, 2)
    (0 until 4).foreach { m => s.addModel(m, s"a$m", spec); s.requestEpochs(m, 2) }
    workers.ask(1)
    while (workers.current(1).isDefined) workers.complete(1)
    // Every model trained on partition 1: worker 1 waits for one to come back from partition 0.
    workers.ask(0)
    assert(workers.current(0).isDefined)
    assert(workers.queued(0).isEmpty, "a unit went ahead to worker 0 while worker 1 waits")
    workers.complete(0)
    // The model worker 0 finished starts its next epoch on the waiting worker.
    assert(workers.current(1).isDefined)
  }

  test("a worker that dies loses its running unit and the one ahead; both run again") {
    val rec = new Recorder
    val s = new HopScheduler(2, Array(0L, 0L), rec)
    val workers = new Workers(s, 2)
    (0 until 4).foreach { m => s.addModel(m, s"a$m", spec); s.requestEpochs(m, 1) }
    s.finish()
    workers.ask(0)
    assert(workers.queued(0).isDefined, "worker 0 got a unit ahead")
    val lost = workers.held(0).map(_.path("model").asInt())
    // Worker 0's process dies; its replacement says hello.
    workers.current(0) = None
    workers.queued(0) = None
    workers.ask(0, """{"hello": true}""")
    assert(s.schedule.count(_.status == "lost") == 2)
    workers.ask(1)
    var steps = 0
    while (!workers.stopped.forall(identity) && steps < 100) {
      steps += 1
      (0 until 2).filter(w => workers.current(w).isDefined).foreach(w => workers.complete(w))
    }
    assert(rec.epochs.map(_._1).sorted == (0 until 4), s"lost models $lost did not finish")
  }
}

package loxodon.select

import scala.collection.mutable
import scala.util.control.NonFatal

import com.fasterxml.jackson.databind.JsonNode
import com.fasterxml.jackson.databind.node.ObjectNode
import org.slf4j.{Logger, LoggerFactory}

import loxodon.io.Json
import loxodon.ps.{HandedUnit, UnitSource}

/** Told of a search's progress by [[HopScheduler]]; called without the scheduler's lock held. */
trait HopListener {

  /** Model `model` finished epoch `epoch` (trained on every partition, then validated on every
    * partition that holds validation rows); `logs` are its row-weighted loss and metrics.
    */
  def onEpoch(model: Int, epoch: Int, logs: Map[String, Double]): Unit

  /** A worker stored the `.keras` archive of `model` under `blob`. */
  def onExported(model: Int, blob: String): Unit

  /** The blob `name` is no longer referenced (a superseded state); the store may drop it. */
  def onDropped(name: String): Unit
}

/** The model hopper (docs/design.md, "Model selection"): N workers, worker w holding partition w
  * for the whole search, and models that move between them.
  *
  * A model's epoch is N train units (one per partition, one at a time, in whatever order workers
  * free up), then its validation on every partition with validation rows, after which
  * [[HopListener.onEpoch]] reports the row-weighted logs. Validation costs no unit of its own where
  * the model is anyway: the epoch's last train unit validates on its own partition (`evaluate`),
  * and when more epochs are already requested, the next epoch's first train unit validates the
  * state it starts from before training (`evaluate_first`), which is the finished epoch's state.
  * Other partitions get read-only eval units of the finished epoch's state, which may run while the
  * model trains on. Epochs are reported in order. A model with no epochs left to train waits until
  * the driver asks for more ([[requestEpochs]]) or retires it.
  *
  * When a worker asks for work it gets, in this order: the first unit of a model's next epoch that
  * also validates the last one here; an eval unit for its partition; a train unit of the live, idle
  * model with the most partitions left this epoch (longest work first keeps idle time low when
  * models differ in cost; ties go to the lower model id), starting a model's epoch elsewhere than
  * where its validation is due only when nothing else can run; an export; otherwise it waits until
  * one of those appears, or gets `stop` once [[finish]] was called and nothing is left.
  *
  * A unit's state goes in and out through the parameter server's blob store under fresh names: a
  * train unit reads the model's committed state (sent along with the unit) and writes `out` (sent
  * along with its report); only the scheduler's commit of the unit's report makes `out` the model's
  * state. A worker that dies mid-unit (its replacement says `hello`) therefore loses only that
  * unit, which is queued again from the last committed state, and a late report of a lost unit is
  * ignored.
  *
  * With `replicated` data (task-parallel execution: every worker holds all rows), a model's epoch
  * is ONE train unit on any worker, which also validates on that worker's copy of the validation
  * rows.
  *
  * With a replay `order` (model -> epoch -> partitions, from a logged schedule), each model visits
  * its partitions in exactly that order.
  *
  * Thread-safe: every method takes the lock; listener calls and replies happen after releasing it.
  */
final class HopScheduler(
    numWorkers: Int,
    valRows: Array[Long],
    listener: HopListener,
    order: Map[Int, Seq[Seq[Int]]] = Map.empty,
    replicated: Boolean = false,
    clock: () => Long = () => System.nanoTime()
) extends UnitSource {
  import HopScheduler._

  require(numWorkers >= 1, s"a search needs at least one worker, got $numWorkers")
  require(valRows.length == numWorkers, "one validation row count per partition")

  private val start = clock()
  private val models = mutable.LinkedHashMap.empty[Int, ModelState]
  private val waiting = mutable.LinkedHashMap.empty[Int, HandedUnit => Unit]
  private val inFlight = mutable.HashMap.empty[Int, Assigned]
  private val exports = mutable.Queue.empty[Int]
  private val entries = mutable.ArrayBuffer.empty[ScheduleEntry]
  private var nextSeq = 0L
  private var finishing = false

  /** Adds model `id`, stored as the `.keras` archive `archiveBlob`; its first state is the blob
    * `stateBlob` when given (packed weights and optimizer variables), else the archive's own.
    */
  def addModel(
      id: Int,
      archiveBlob: String,
      unitSpec: ObjectNode,
      stateBlob: Option[String] = None
  ): Unit = act {
    require(!models.contains(id), s"model $id was already added")
    val m = new ModelState(id, archiveBlob, unitSpec)
    stateBlob.foreach(m.stateBlob = _)
    models(id) = m
  }

  /** Asks for `n` more epochs of model `id`. */
  def requestEpochs(id: Int, n: Int): Unit = act {
    require(n >= 1, s"request at least one epoch, got $n")
    val m = model(id)
    require(!m.retired, s"model $id was retired")
    m.requested += n
  }

  /** Ends model `id`: it gets no more units (an epoch under way is dropped). */
  def retire(id: Int): Unit = act { model(id).retired = true }

  /** Asks a worker to store model `id`'s `.keras` archive (reported by [[HopListener.onExported]]).
    */
  def requestExport(id: Int): Unit = act {
    model(id)
    exports.enqueue(id)
  }

  /** No more models or epochs will be added: workers get `stop` once the queued work is done. */
  def finish(): Unit = act { finishing = true }

  /** Every unit so far, in the order they were handed out. */
  def schedule: Seq[ScheduleEntry] = synchronized(entries.toList)

  /** Whether model `id` has neither units under way nor requested epochs left. */
  def isIdle(id: Int): Boolean = synchronized(model(id).idle)

  override def expectedBlob(worker: Int): Option[String] =
    synchronized(inFlight.get(worker).map(_.outBlob))

  override def next(worker: Int, report: String, reply: HandedUnit => Unit): Unit = {
    val node =
      try Json.parse(if (report.isEmpty) "{}" else report, "a unit report")
      catch { case NonFatal(e) => Json.obj().put("error", e.getMessage) }
    val effects = synchronized {
      val fx = mutable.ArrayBuffer.empty[() => Unit]
      if (node.path("hello").asBoolean(false)) lose(worker)
      else if (node.has("unit")) complete(worker, node, fx)
      waiting(worker) = reply
      dispatch(fx)
      fx
    }
    effects.foreach(run => run())
  }

  private def act(body: => Unit): Unit = {
    val effects = synchronized {
      body
      val fx = mutable.ArrayBuffer.empty[() => Unit]
      dispatch(fx)
      fx
    }
    effects.foreach(run => run())
  }

  private def model(id: Int): ModelState =
    models.getOrElse(id, throw new IllegalArgumentException(s"no model $id in this search"))

  private def elapsedMs: Double = (clock() - start) / 1e6

  /** The unit in flight on `worker` is lost (its process died): queue it again. */
  private def lose(worker: Int): Unit = inFlight.remove(worker).foreach { a =>
    a.entry.endMs = elapsedMs
    a.entry.status = "lost"
    val m = models(a.entry.model)
    a.validation.foreach(v => v.lose(worker))
    a.entry.kind match {
      case "train"  => m.runningOn = None
      case "eval"   => ()
      case "export" => exports.enqueue(m.id)
    }
    log.info(s"worker $worker lost ${a.entry.kind} unit ${a.entry.seq} of model ${m.id}")
  }

  private def complete(worker: Int, report: JsonNode, fx: mutable.ArrayBuffer[() => Unit]): Unit = {
    val seq = report.path("unit").asLong(-1)
    inFlight.get(worker) match {
      case Some(a) if a.entry.seq == seq =>
        inFlight.remove(worker)
        a.entry.endMs = elapsedMs
        a.entry.status = "done"
        val m = models(a.entry.model)
        val stats = Json.numbers(report.path("logs"))
        val rows = report.path("rows").asLong(0)
        a.entry.kind match {
          case "train" =>
            m.runningOn = None
            // The validation of the previous epoch done before this unit trained.
            a.validation.foreach { v =>
              v.done(
                worker,
                report.path("prior_val_rows").asLong(0),
                Json.numbers(report.path("prior_logs"))
              )
            }
            val old = m.stateBlob
            m.stateBlob = a.outBlob
            dropIfUnused(m, old, fx)
            m.visited += a.entry.partition
            val (v, t) = stats.partition(_._1.startsWith("val_"))
            m.trainLogs.add(rows, t)
            val evaluated = report.has("val_rows")
            if (evaluated) {
              m.valLogs.add(report.path("val_rows").asLong(0), v.map(kv => kv._1.drop(4) -> kv._2))
            }
            if (replicated || m.visited.size == numWorkers) {
              endTraining(m, if (evaluated) Some(a.entry.partition) else None)
            }
          case "eval" =>
            a.validation.foreach(_.done(worker, rows, stats))
          case "export" =>
            val blob = a.outBlob
            fx += (() => listener.onExported(m.id, blob))
        }
        reportValidated(m, fx)
      case _ => log.warn(s"worker $worker reported unit $seq, which it does not hold; ignored")
    }
  }

  /** `m` trained every partition of its epoch: its validation is due on every partition with
    * validation rows but `done`, the partition its last train unit already validated on (with
    * replicated data, that unit validated on the full copy).
    */
  private def endTraining(m: ModelState, done: Option[Int]): Unit = {
    val pending =
      if (replicated) Seq.empty
      else (0 until numWorkers).filter(p => valRows(p) > 0 && !done.contains(p))
    m.validations.enqueue(new Validation(m.trained, m.stateBlob, pending, m.trainLogs, m.valLogs))
    m.trained += 1
    m.visited.clear()
    m.trainLogs = new WeightedLogs
    m.valLogs = new WeightedLogs
  }

  /** Reports `m`'s validated epochs, oldest first, and drops the states nothing needs any more. */
  private def reportValidated(m: ModelState, fx: mutable.ArrayBuffer[() => Unit]): Unit =
    while (m.validations.headOption.exists(_.finished)) {
      val v = m.validations.dequeue()
      val logs = v.trainLogs.means ++ v.valLogs.means.map { case (k, x) => s"val_$k" -> x }
      val (id, epoch) = (m.id, v.epoch)
      fx += (() => listener.onEpoch(id, epoch, logs))
      dropIfUnused(m, v.stateBlob, fx)
    }

  private def dropIfUnused(m: ModelState, blob: String, fx: mutable.ArrayBuffer[() => Unit]): Unit =
    if (
      blob != m.archiveBlob && blob != m.stateBlob && !m.validations.exists(_.stateBlob == blob)
    ) {
      fx += (() => listener.onDropped(blob))
    }

  /** Gives waiting workers what can run now; replies are queued on `fx`. */
  private def dispatch(fx: mutable.ArrayBuffer[() => Unit]): Unit = {
    for (worker <- waiting.keys.toList) {
      pick(worker).foreach { case (entry, spec) =>
        val reply = waiting.remove(worker).get
        entries += entry
        // The unit's starting state goes in the same reply (an empty name: the archive's own).
        val unit =
          HandedUnit(Json.write(spec), Some(spec.path("state").asText("")).filter(_.nonEmpty))
        fx += (() => reply(unit))
      }
    }
    if (finishing && inFlight.isEmpty && exports.isEmpty && models.values.forall(_.idle)) {
      val stop = HandedUnit(Json.write(Json.obj().put("kind", "stop")))
      waiting.values.foreach(reply => fx += (() => reply(stop)))
      waiting.clear()
    }
  }

  private def pick(worker: Int): Option[(ScheduleEntry, ObjectNode)] = {
    val live = models.values.filter(!_.retired)
    val trainable = live.filter(m => m.trainable && nextPartitionOk(m, worker))
    def longestFirst(ms: Iterable[ModelState]): ModelState =
      ms.maxBy(m => (numWorkers - m.visited.size, -m.trained, -m.id))
    val folded = trainable.flatMap(m => foldableValidation(m, worker).map(m -> _)).toMap
    if (folded.nonEmpty) {
      val m = longestFirst(folded.keys)
      val v = folded(m)
      v.start(worker)
      m.runningOn = Some(worker)
      return Some(assign(worker, m, "train", s"sel/${m.id}/state/$nextSeq", Some(v)))
    }
    val eval = live.iterator.flatMap(m => m.validations.find(_.pending(worker)).map(m -> _))
    if (eval.hasNext) {
      val (m, v) = eval.next()
      v.start(worker)
      return Some(assign(worker, m, "eval", s"sel/${m.id}/eval", Some(v)))
    }
    if (trainable.nonEmpty) {
      // Starting a model's epoch here would leave its due validation elsewhere to an eval unit.
      val (keeps, spoils) = trainable.partition(m => !(m.visited.isEmpty && m.dueElsewhere(worker)))
      val m = longestFirst(if (keeps.nonEmpty) keeps else spoils)
      m.runningOn = Some(worker)
      return Some(assign(worker, m, "train", s"sel/${m.id}/state/$nextSeq", None))
    }
    exports.dequeueFirst(id => models(id).runningOn.isEmpty).map { id =>
      assign(worker, models(id), "export", exportBlob(id), None)
    }
  }

  /** The validation a first train unit of `m`'s epoch on `worker` can do before it trains: the
    * previous epoch's, when it is still due on this partition (the unit starts from that state).
    */
  private def foldableValidation(m: ModelState, worker: Int): Option[Validation] =
    if (replicated || m.visited.nonEmpty) None
    else m.lastEpochValidation.filter(_.pending(worker))

  /** Whether a train unit of `m` on `worker` ends its epoch, so the worker can validate the result
    * on its own validation rows in the same unit (saving that partition's eval unit: a state fetch,
    * an unpack and a scheduling round trip).
    */
  private def lastVisit(m: ModelState, worker: Int): Boolean =
    m.visited.size == numWorkers - 1 && valRows(worker) > 0

  private def nextPartitionOk(m: ModelState, worker: Int): Boolean =
    if (replicated) m.visited.isEmpty
    else
      !m.visited.contains(worker) && order.get(m.id).forall { epochs =>
        val planned = epochs.lift(m.trained).getOrElse(Seq.empty)
        planned.isEmpty || planned.lift(m.visited.size).contains(worker)
      }

  private def assign(
      worker: Int,
      m: ModelState,
      kind: String,
      outBlob: String,
      validation: Option[Validation]
  ): (ScheduleEntry, ObjectNode) = {
    val seq = nextSeq
    nextSeq += 1
    // An eval unit validates an epoch already trained, from that epoch's state.
    val (epoch, state) =
      if (kind == "eval") (validation.get.epoch, validation.get.stateBlob)
      else (m.trained, m.stateBlob)
    val entry = ScheduleEntry(seq, kind, m.id, epoch, worker, worker, elapsedMs)
    inFlight(worker) = Assigned(entry, outBlob, validation)
    val spec = m.unitSpec.deepCopy()
    spec
      .put("kind", kind)
      .put("unit", seq)
      .put("model", m.id)
      .put("epoch", epoch)
      .put("partition", worker)
      .put("archive", m.archiveBlob)
      .put("state", if (state == m.archiveBlob) "" else state)
      .put("out", outBlob)
      .put("evaluate", kind == "train" && (replicated || lastVisit(m, worker)))
      .put("evaluate_first", kind == "train" && validation.isDefined)
    (entry, spec)
  }
}

object HopScheduler {
  private val log: Logger = LoggerFactory.getLogger(classOf[HopScheduler])

  /** The blob an export unit of model `id` writes its trained `.keras` archive to. */
  def exportBlob(id: Int): String = s"sel/$id/keras"

  /** One handed-out unit, as the schedule log records it (times in ms since the search began). */
  final case class ScheduleEntry(
      seq: Long,
      kind: String,
      model: Int,
      epoch: Int,
      partition: Int,
      worker: Int,
      startMs: Double
  ) {
    var endMs: Double = Double.NaN
    var status: String = "running"

    def toJson: ObjectNode = Json
      .obj()
      .put("seq", seq)
      .put("kind", kind)
      .put("trial_id", model)
      .put("epoch", epoch)
      .put("partition", partition)
      .put("worker", worker)
      .put("start_s", startMs / 1000.0)
      .put("end_s", endMs / 1000.0)
      .put("status", status)
  }

  private final case class Assigned(
      entry: ScheduleEntry,
      outBlob: String,
      validation: Option[Validation]
  )

  /** The validation of one trained epoch of a model: its state, the partitions still to validate it
    * on, those doing so now, and the epoch's logs so far.
    */
  private final class Validation(
      val epoch: Int,
      val stateBlob: String,
      due: Seq[Int],
      val trainLogs: WeightedLogs,
      val valLogs: WeightedLogs
  ) {
    private val waiting = mutable.Set(due: _*)
    private val running = mutable.Set.empty[Int]

    def pending(partition: Int): Boolean = waiting.contains(partition)
    def waitsElsewhere(partition: Int): Boolean = waiting.exists(_ != partition)
    def finished: Boolean = waiting.isEmpty && running.isEmpty
    def start(partition: Int): Unit = { waiting -= partition; running += partition }
    def lose(partition: Int): Unit = if (running.remove(partition)) waiting += partition
    def done(partition: Int, rows: Long, logs: Map[String, Double]): Unit = {
      running -= partition
      valLogs.add(rows, logs)
    }
  }

  /** Sums of row-weighted numbers, for means over partitions. */
  private final class WeightedLogs {
    private val sums = mutable.LinkedHashMap.empty[String, Double]
    private var rows = 0L

    def add(n: Long, logs: Map[String, Double]): Unit = if (n > 0) {
      rows += n
      logs.foreach { case (k, v) => sums(k) = sums.getOrElse(k, 0.0) + v * n }
    }

    def means: Map[String, Double] =
      if (rows == 0) Map.empty else sums.map { case (k, v) => k -> v / rows }.toMap
  }

  private final class ModelState(val id: Int, val archiveBlob: String, val unitSpec: ObjectNode) {
    var stateBlob: String = archiveBlob
    var requested = 0

    /** Epochs trained on every partition (their validation may still be under way). */
    var trained = 0
    var retired = false
    var runningOn: Option[Int] = None
    val visited: mutable.Set[Int] = mutable.Set.empty
    var trainLogs = new WeightedLogs
    var valLogs = new WeightedLogs

    /** Trained epochs not yet reported, oldest first. */
    val validations: mutable.Queue[Validation] = mutable.Queue.empty

    def trainable: Boolean = !retired && runningOn.isEmpty && requested > trained

    /** The validation of the epoch trained last, while it is not reported. */
    def lastEpochValidation: Option[Validation] =
      validations.lastOption.filter(_.epoch == trained - 1)

    /** Whether the last epoch's validation is due on a partition other than `worker`'s. */
    def dueElsewhere(worker: Int): Boolean = lastEpochValidation.exists(_.waitsElsewhere(worker))

    def idle: Boolean =
      retired || (runningOn.isEmpty && validations.isEmpty && requested <= trained)
  }
}

package loxodon.ps

/** Hands model-selection workers their units of work (op NEXT_UNIT), without blocking a server
  * thread: [[next]] records the request and calls `reply` (from any thread) once a unit is ready.
  */
trait UnitSource {

  /** `worker` finished what `report` (JSON) describes and asks for its next unit; `reply` sends the
    * unit. The state the finished unit wrote came with the request and is already in the blob
    * store.
    */
  def next(worker: Int, report: String, reply: HandedUnit => Unit): Unit

  /** The blob name the unit in flight on `worker` writes its state to, if any: the only name a
    * worker's key may store through NEXT_UNIT ([[Roles]]).
    */
  def expectedBlob(worker: Int): Option[String] = None
}

/** A unit as sent to a worker: its JSON, and the blob that goes with it in the same reply (the
  * model state it starts from), if any.
  */
final case class HandedUnit(json: String, blob: Option[String] = None)

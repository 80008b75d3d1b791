package loxodon.ps

/** Hands model-selection workers their units of work (op NEXT_UNIT), without blocking a server
  * thread: [[next]] records the request and calls `reply` (from any thread) once a unit is ready.
  */
trait UnitSource {

  /** `worker` finished what `report` (JSON) describes and asks for its next unit; `reply` sends the
    * unit's JSON.
    */
  def next(worker: Int, report: String, reply: String => Unit): Unit
}

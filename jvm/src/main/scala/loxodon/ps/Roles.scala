package loxodon.ps

import io.netty.util.AttributeKey

/** Who an authenticated connection speaks for, and what that role may not do.
  *
  * The handshake ([[AuthHandler]]) proves one of two kinds of key derived from the job secret
  * ([[Auth.driverKey]], [[Auth.workerKey]]): the driver's, which stays in the driver, or worker
  * `w`'s, which the executors receive in the TASK spec. The role is fixed for the connection's
  * life. A worker's connection may speak only for its own worker id, may not SHUTDOWN or STOP the
  * job (the epoch release is a driver JVM call, never a frame), and may write only the blobs its
  * role writes ([[blobRefusal]]). Refusals are ERROR replies; the connection stays usable.
  */
sealed trait Role

object Role {

  /** The driver (the job's Python or Scala front end, in the driver process): no restriction. */
  case object Driver extends Role

  /** Worker `id` (0 to N-1) of the job. */
  final case class Worker(id: Int) extends Role
}

object Roles {

  /** The role of an authenticated channel, set by [[AuthHandler]]. */
  val Key: AttributeKey[Role] = AttributeKey.valueOf[Role]("loxodon.role")

  /** Blobs a worker writes: worker 0 marks the center initialised (once per job: a worker's key
    * cannot overwrite the mark) and publishes the trained model.
    */
  final val WorkerZeroBlobs: Set[String] = Set("loxodon/initialized", "loxodon/final_model")

  /** Of [[WorkerZeroBlobs]], those a worker's key writes only while absent. */
  final val WriteOnce: Set[String] = Set("loxodon/initialized")

  /** A worker `w` may write freely under `loxodon/worker/<w>/`. Every other name under these
    * prefixes belongs to the driver (`loxodon/next_epoch`, uploaded rows `loxodon/data/...`, a
    * search's archives and states `sel/...`, which workers store only through NEXT_UNIT under the
    * name the scheduler assigned).
    */
  final val ReservedPrefixes: Seq[String] = Seq("loxodon/", "sel/")

  /** Why `role` may not send `frame`, or None when it may. */
  def refusal(role: Role, frame: Frame): Option[String] = role match {
    case Role.Driver => None
    case Role.Worker(w) =>
      if (frame.worker != w) {
        Some(
          s"this connection holds worker $w's key and cannot speak for worker ${frame.worker}"
        )
      } else if (frame.op == Op.Shutdown || frame.op == Op.Stop) {
        Some(s"${Op.name(frame.op)} needs the driver's key; worker $w's key cannot send it")
      } else None
  }

  /** Why `role` may not PUT_BLOB `name` (given whether it exists), or None when it may. */
  def blobRefusal(role: Role, name: String, exists: Boolean): Option[String] = role match {
    case Role.Driver => None
    case Role.Worker(w) =>
      if (WorkerZeroBlobs.contains(name)) {
        if (w != 0) Some(s"blob '$name' is written by worker 0 only, not by worker $w")
        else if (exists && WriteOnce.contains(name)) {
          Some(s"blob '$name' is written once; it already exists")
        } else None
      } else if (name.startsWith(s"loxodon/worker/$w/")) None
      else if (ReservedPrefixes.exists(name.startsWith)) {
        Some(s"blob '$name' is reserved: worker $w's key may not write it")
      } else None
  }
}

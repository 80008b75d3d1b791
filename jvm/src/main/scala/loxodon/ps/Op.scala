package loxodon.ps

/** Operation codes of the parameter-server wire protocol, version 1.
  *
  * This object owns the numeric values and their names; Python's `Op` in
  * `python/loxodon/ps_client.py` is built from them (through `contract.json`, see
  * [[loxodon.Contract]]).
  */
object Op {

  /** server -> client: 32 random bytes (nonce). */
  final val Challenge = 1

  /** client -> server: HMAC-SHA256(secret, nonce). */
  final val Auth = 2

  /** server -> client: success, op-specific payload. */
  final val Ok = 3

  /** server -> client: UTF-8 message; the connection stays open. */
  final val Error = 4

  final val Register = 10
  final val Pull = 11
  final val Push = 12
  final val PushHogwild = 13
  final val Sync = 14
  final val Easgd = 15
  final val PutBlob = 16
  final val GetBlob = 17
  final val Stats = 18
  final val Shutdown = 19
  final val Stop = 20

  /** client -> server: a worker's epoch report; the OK comes when the driver releases the epoch. */
  final val EpochEnd = 21

  /** client -> server: a model-selection worker's report of its last unit (JSON); the OK, carrying
    * its next unit (JSON), comes when the hop scheduler has one.
    */
  final val NextUnit = 22

  /** client -> server (ADAG): c += delta / k under the lock, k = the local steps the delta holds
    * (the communication window, or the rest of an epoch), carried in the round field (>= 1).
    */
  final val PushAdag = 23

  /** client -> server (DynSGD): c += delta / (1 + s) under the lock, s = the updates applied since
    * this worker's last PULL.
    */
  final val PushDynSgd = 24

  /** client -> server: the worker's next shard of the pass in the round field (parallelism factor k
    * > 1, see [[ShardClaims]]); the OK carries the shard as int32, -1 when the pass is done.
    */
  final val ClaimShard = 25

  private val names: Map[Int, String] = Map(
    Challenge -> "CHALLENGE",
    Auth -> "AUTH",
    Ok -> "OK",
    Error -> "ERROR",
    Register -> "REGISTER",
    Pull -> "PULL",
    Push -> "PUSH",
    PushHogwild -> "PUSH_HOGWILD",
    Sync -> "SYNC",
    Easgd -> "EASGD",
    PutBlob -> "PUT_BLOB",
    GetBlob -> "GET_BLOB",
    Stats -> "STATS",
    Shutdown -> "SHUTDOWN",
    Stop -> "STOP",
    EpochEnd -> "EPOCH_END",
    NextUnit -> "NEXT_UNIT",
    PushAdag -> "PUSH_ADAG",
    PushDynSgd -> "PUSH_DYNSGD",
    ClaimShard -> "CLAIM_SHARD"
  )

  /** The protocol name of `op`, e.g. "PUSH_HOGWILD", or "op 99" for an unknown code. */
  def name(op: Int): String = names.getOrElse(op, s"op $op")

  /** Every op code, in numeric order. */
  def all: Seq[Int] = names.keys.toSeq.sorted

  /** Whether `op` is in the protocol table. */
  def isKnown(op: Int): Boolean = names.contains(op)

  /** Reply flag bit 0: the driver or a worker asked the job to stop. */
  final val FlagStop = 0x1
}

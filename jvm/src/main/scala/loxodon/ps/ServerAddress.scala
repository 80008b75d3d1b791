package loxodon.ps

import com.fasterxml.jackson.databind.node.ObjectNode

import loxodon.io.Json

/** Where a worker dials a job's parameter server, the workers' keys it answers the challenge with
  * and, when the server speaks TLS, the certificate fingerprint it pins: what a TASK spec's `ps`
  * object carries (serialisable, sent with the task closure).
  *
  * It holds the N worker keys and never the driver's key, so no code running in a task can SHUTDOWN
  * or STOP the job or write the driver's blobs ([[Roles]]). Every task of the stage receives the
  * same closure, hence all N worker keys: the per-worker binding stops a connection from speaking
  * for another worker by mistake, not a task that reads its closure and dials with another key.
  *
  * @param workerKeysHex
  *   the key of worker `w` at index `w`, lower-case hex
  * @param tlsSha256
  *   the server certificate's SHA-256 (hex) when connections are TLS
  * @param ringKeyHex
  *   the key the workers prove themselves to each other with on synchronous mode's all-reduce ring
  *   ([[Auth.ringKey]]; the server accepts it for nothing)
  */
final case class ServerAddress(
    host: String,
    port: Int,
    workerKeysHex: IndexedSeq[String],
    tlsSha256: Option[String] = None,
    ringKeyHex: String = ""
) {

  /** `{"host", "port", "secret", "tls_sha256"?, "ring_key"?}` for worker `worker`, the `ps` object
    * of its TASK spec: `secret` is that worker's key.
    */
  def json(worker: Int): ObjectNode = {
    require(
      worker >= 0 && worker < workerKeysHex.length,
      s"worker $worker is not one of the job's ${workerKeysHex.length} workers"
    )
    val node = Json.obj().put("host", host).put("port", port).put("secret", workerKeysHex(worker))
    tlsSha256.foreach(node.put("tls_sha256", _))
    if (ringKeyHex.nonEmpty) node.put("ring_key", ringKeyHex)
    node
  }
}

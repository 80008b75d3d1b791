package loxodon.ps

import com.fasterxml.jackson.databind.node.ObjectNode

import loxodon.io.Json

/** Where a worker dials a job's parameter server and the secret it answers the challenge with: what
  * a TASK spec's `ps` object carries (serialisable, sent with the task closure).
  */
final case class ServerAddress(host: String, port: Int, secretHex: String) {

  /** `{"host", "port", "secret"}`, the `ps` object of a TASK spec. */
  def json: ObjectNode = Json.obj().put("host", host).put("port", port).put("secret", secretHex)
}

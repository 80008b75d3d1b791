package loxodon.ps

import java.util.concurrent.ConcurrentHashMap

import scala.jdk.CollectionConverters._

/** Named byte blobs kept in memory for the job: PUT_BLOB / GET_BLOB, e.g. the weights and optimizer
  * state of a model hopping between workers during model selection. Thread-safe; a stored array is
  * never mutated after `put`.
  */
final class BlobStore {
  private val blobs = new ConcurrentHashMap[String, Array[Byte]]()

  /** Stores `bytes` under `name`, replacing any earlier blob of that name. */
  def put(name: String, bytes: Array[Byte]): Unit = {
    blobs.put(name, bytes)
    ()
  }

  /** The blob named `name`, if any. */
  def get(name: String): Option[Array[Byte]] = Option(blobs.get(name))

  /** Removes `name`; whether it was there. */
  def remove(name: String): Boolean = blobs.remove(name) != null

  /** Names of the stored blobs. */
  def names: Set[String] = blobs.keySet().asScala.toSet

  /** Number of stored blobs. */
  def size: Int = blobs.size()

  /** Total bytes held. */
  def totalBytes: Long = blobs.values().asScala.foldLeft(0L)(_ + _.length)
}

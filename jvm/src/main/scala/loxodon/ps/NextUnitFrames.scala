package loxodon.ps

import java.nio.charset.StandardCharsets.UTF_8

import io.netty.buffer.{ByteBuf, Unpooled}

/** The payloads of op NEXT_UNIT, both ways: a 4-byte big-endian length `n`, `n` bytes of UTF-8
  * JSON, then a blob's bytes (possibly none).
  *
  *   - request: the worker's report of its last unit, then the state that unit wrote, which the
  *     server stores under the frame's key (an empty key: no blob, and no bytes may follow);
  *   - reply: the next unit, then the state it starts from.
  *
  * So a model's hop rides on the exchange that hands out units: one round trip per unit, where a
  * separate PUT_BLOB, report and GET_BLOB took three.
  */
object NextUnitFrames {

  /** The request's report and, when `key` names one, the blob to store ([[BlobStore.keep]]: the
    * caller owns one reference of it); or what is wrong with the request.
    */
  def parseRequest(payload: ByteBuf, key: String): Either[String, (String, Option[ByteBuf])] = {
    val size = payload.readableBytes()
    if (size < 4) return Left(s"a payload of $size bytes lacks the 4-byte report length")
    val at = payload.readerIndex()
    val n = payload.getInt(at)
    if (n < 0 || n > size - 4)
      return Left(s"a report of $n bytes does not fit a $size-byte payload")
    val report = payload.toString(at + 4, n, UTF_8)
    val rest = size - 4 - n
    if (key.isEmpty && rest > 0) Left(s"$rest bytes of state came without a blob name in the key")
    else if (key.isEmpty) Right((report, None))
    else Right((report, Some(BlobStore.keep(payload, at + 4 + n, rest))))
  }

  /** The reply's payload: the unit's JSON, then `blob` (not copied; the reply takes over its
    * reference). The head is direct too: a payload with any heap part is copied whole into a direct
    * buffer on its way to the socket.
    */
  def reply(json: String, blob: Option[ByteBuf]): ByteBuf = {
    val text = json.getBytes(UTF_8)
    val head = Unpooled.directBuffer(4 + text.length).writeInt(text.length).writeBytes(text)
    blob.fold(head)(state => Unpooled.wrappedBuffer(head, state))
  }
}

package loxodon.train

import java.nio.{ByteBuffer, ByteOrder}
import java.nio.charset.StandardCharsets.{ISO_8859_1, UTF_8}
import java.security.MessageDigest
import java.util.UUID

import scala.jdk.CollectionConverters._
import scala.util.control.NonFatal

import com.fasterxml.jackson.databind.JsonNode
import com.fasterxml.jackson.databind.node.{ObjectNode, TextNode}
import org.apache.hadoop.conf.Configuration
import org.apache.hadoop.fs.{FileSystem, Path}

import loxodon.io.{HadoopFiles, Json}
import loxodon.model.KerasArchive

/** One complete checkpoint of a fit: the state after epoch `epoch` (docs/design.md, "Checkpoint and
  * resume").
  *
  * @param center
  *   the center's float32 values, little-endian (the protocol's vector bytes)
  * @param optimizers
  *   worker w's optimizer variables, as the NumPy `.npz` bytes worker w wrote
  */
final case class Checkpoint(
    uri: String,
    epoch: Int,
    stopped: Boolean,
    history: Seq[Map[String, Double]],
    fingerprint: JsonNode,
    center: Array[Byte],
    optimizers: Seq[Array[Byte]]
) {

  /** The epoch a resumed fit starts at. */
  def nextEpoch: Int = epoch + 1

  /** What the Python front end reads before it starts: epoch, stop flag and history. */
  def summaryJson: String = {
    val out = Json.obj().put("epoch", epoch).put("stopped", stopped).put("uri", uri)
    val hist = out.putArray("history")
    history.foreach { logs =>
      val node = hist.addObject()
      logs.toSeq.sortBy(_._1).foreach { case (k, v) => node.put(k, v) }
    }
    Json.write(out)
  }
}

/** Writes and reads a fit's checkpoints under a directory on any Hadoop FileSystem: after every
  * released epoch, `epoch-<n>/` holding `meta.json` (epoch, stop flag, history, the fit's
  * fingerprint), `center.npy` and one `optimizer-<w>.npz` per worker. A checkpoint is written under
  * a temporary name and renamed into place (a directory rename is atomic on HDFS and local file
  * systems), so a directory `epoch-<n>` is always complete; older ones are then deleted.
  */
object Checkpoints {

  /** Blob the driver puts when resuming: the checkpoint's center, which worker 0 starts from. */
  final val ResumeCenterBlob: String = "loxodon/resume/center"

  /** Blob worker w PUTs before each EPOCH_END (and the driver, when resuming): its optimizer state.
    */
  def optimizerBlob(worker: Int): String = s"loxodon/worker/$worker/optimizer"

  private val EpochDir = "epoch-(\\d+)".r
  private val Meta = "meta.json"
  private val Center = "center.npy"
  private def optimizerFile(w: Int) = s"optimizer-$w.npz"

  /** The fingerprint's fields, with the fix a mismatch names. */
  private val Fields = Seq("mode", "num_workers", "batch_size", "epochs", "seed", "architecture")

  /** The file system and path of `dir`; a clear error naming the param for a bad URI. */
  def resolve(conf: Configuration, dir: String): (FileSystem, Path) = {
    require(
      dir != null && dir.trim.nonEmpty,
      "checkpoint_dir (checkpointDir) is empty: pass a Hadoop URI such as file:///tmp/ckpt"
    )
    try {
      val path = new Path(dir)
      val fs = path.getFileSystem(conf)
      if (fs.exists(path) && !fs.getFileStatus(path).isDirectory) {
        throw new IllegalArgumentException(s"$dir is a file, not a directory")
      }
      (fs, fs.makeQualified(path))
    } catch {
      case NonFatal(e) =>
        throw new IllegalArgumentException(
          s"checkpoint_dir (checkpointDir) '$dir' is not a usable directory: " +
            s"${Option(e.getMessage).getOrElse(e.toString)}; pass a Hadoop URI such as " +
            "file:///tmp/ckpt or hdfs://namenode/ckpt",
          e
        )
    }
  }

  /** The fit's identity a checkpoint must match to be resumed. */
  def fingerprint(params: TrainParams, archive: Array[Byte]): ObjectNode =
    Json
      .obj()
      .put("mode", params.mode)
      .put("num_workers", params.numWorkers)
      .put("batch_size", params.batchSize)
      .put("epochs", params.epochs)
      .put("seed", params.seed)
      .put("architecture", architecture(archive))

  /** A digest of the model's layers and compiled loss and optimizer class, with every name
    * canonicalised (a new process numbers Keras's default names alike, another model would not) and
    * the learning rate left out (callbacks set it).
    */
  def architecture(archive: Array[Byte]): String = {
    val root = Json.parse(new String(KerasArchive.configJson(archive), UTF_8), "config.json")
    val out = Json.obj()
    out.set[JsonNode]("config", root.path("config"))
    val compile = root.path("compile_config")
    out.set[JsonNode]("loss", compile.path("loss"))
    out.set[JsonNode]("optimizer", compile.path("optimizer").path("class_name"))
    val names = scala.collection.mutable.LinkedHashMap.empty[String, String]
    collectNames(out, names)
    val canonical = rename(out, names)
    val digest = MessageDigest.getInstance("SHA-256").digest(Json.write(canonical).getBytes(UTF_8))
    digest.map(b => f"$b%02x").mkString
  }

  private def collectNames(
      node: JsonNode,
      names: scala.collection.mutable.Map[String, String]
  ): Unit = {
    if (node.isObject) {
      val name = node.path("name")
      if (name.isTextual && !names.contains(name.asText())) {
        names(name.asText()) = s"#${names.size}"
      }
    }
    node.elements().asScala.foreach(collectNames(_, names))
  }

  // Keras's `shared_object_id` is an object's address in the saving process: numbered in order.
  private def rename(
      node: JsonNode,
      names: collection.Map[String, String],
      shared: scala.collection.mutable.Map[String, Int] = scala.collection.mutable.Map.empty
  ): JsonNode =
    if (node.isObject) {
      val out = Json.obj()
      node.properties().asScala.foreach { e =>
        if (e.getKey == "shared_object_id") {
          out.put(e.getKey, shared.getOrElseUpdate(e.getValue.asText(), shared.size))
        } else out.set[JsonNode](e.getKey, rename(e.getValue, names, shared))
      }
      out
    } else if (node.isArray) {
      val out = Json.arr()
      node.elements().asScala.foreach(v => out.add(rename(v, names, shared)))
      out
    } else if (node.isTextual) names.get(node.asText()).map(TextNode.valueOf).getOrElse(node)
    else node

  /** Fails, naming every mismatched field and the fix, if `checkpoint` is not of this fit. */
  def requireCompatible(checkpoint: Checkpoint, expected: JsonNode): Unit = {
    val found = checkpoint.fingerprint
    val diffs = Fields.filter(f => found.path(f).asText() != expected.path(f).asText()).map { f =>
      if (f == "architecture") "the model's architecture differs"
      else s"$f is ${found.path(f).asText()} there, ${expected.path(f).asText()} here"
    }
    if (diffs.nonEmpty) {
      throw new IllegalArgumentException(
        s"checkpoint_dir (checkpointDir) ${checkpoint.uri} holds a checkpoint of another fit " +
          s"(${diffs.mkString("; ")}): resume it with the same settings, or pass a new " +
          "checkpoint_dir to start afresh"
      )
    }
  }

  /** The newest complete checkpoint under `dir`, or None when there is none (or no `dir`). */
  def latest(conf: Configuration, dir: String): Option[Checkpoint] = {
    val (fs, root) = resolve(conf, dir)
    if (!fs.exists(root)) return None
    val epochs = fs.listStatus(root).toSeq.filter(_.isDirectory).flatMap { s =>
      s.getPath.getName match {
        case EpochDir(n) => Some(n.toInt -> s.getPath)
        case _           => None
      }
    }
    if (epochs.isEmpty) return None
    val (epoch, path) = epochs.maxBy(_._1)
    val meta = Json.parseLenient(new String(read(fs, new Path(path, Meta)), UTF_8), "meta.json")
    val history = meta.path("history").elements().asScala.map(Json.numbers).toList
    val workers = meta.path("fingerprint").path("num_workers").asInt()
    Some(
      Checkpoint(
        path.toString,
        epoch,
        meta.path("stopped").asBoolean(false),
        history,
        meta.path("fingerprint"),
        npyPayload(read(fs, new Path(path, Center))),
        (0 until workers).map(w => read(fs, new Path(path, optimizerFile(w))))
      )
    )
  }

  /** Writes the checkpoint of `epoch` atomically under `dir`, then deletes the older ones. */
  def write(
      conf: Configuration,
      dir: String,
      epoch: Int,
      stopped: Boolean,
      history: Seq[Map[String, Double]],
      fingerprint: JsonNode,
      center: Array[Byte],
      optimizers: Seq[Array[Byte]]
  ): Unit = {
    val (fs, root) = resolve(conf, dir)
    fs.mkdirs(root)
    val tmp = new Path(root, s"_tmp-epoch-$epoch-${UUID.randomUUID()}")
    val target = new Path(root, f"epoch-$epoch%06d")
    try {
      fs.mkdirs(tmp)
      val cp = Checkpoint(dir, epoch, stopped, history, fingerprint, center, optimizers)
      val meta = Json.parse(cp.summaryJson, "the checkpoint summary").asInstanceOf[ObjectNode]
      meta.set[JsonNode]("fingerprint", fingerprint)
      meta.remove("uri")
      optimizers.zipWithIndex.foreach { case (b, w) => put(fs, new Path(tmp, optimizerFile(w)), b) }
      put(fs, new Path(tmp, Center), npy(center))
      put(fs, new Path(tmp, Meta), Json.write(meta).getBytes(UTF_8))
      if (fs.exists(target)) fs.delete(target, true) // a retried stage's epoch, written again
      if (!fs.rename(tmp, target)) {
        throw new IllegalStateException(s"could not rename $tmp to $target")
      }
    } catch {
      case NonFatal(e) =>
        fs.delete(tmp, true)
        throw e
    }
    fs.listStatus(root).foreach { s =>
      s.getPath.getName match {
        case EpochDir(n) if n.toInt < epoch => fs.delete(s.getPath, true)
        case _                              => ()
      }
    }
  }

  private def put(fs: FileSystem, path: Path, bytes: Array[Byte]): Unit =
    HadoopFiles.writeAll(fs, path, bytes, overwrite = true)

  private def read(fs: FileSystem, path: Path): Array[Byte] = {
    if (!fs.exists(path)) throw new IllegalArgumentException(s"the checkpoint lacks $path")
    HadoopFiles.readAll(fs, path)
  }

  /** Little-endian float32 bytes as a one-dimensional NumPy `.npy` file (format 1.0). */
  def npy(center: Array[Byte]): Array[Byte] = {
    val dict = s"{'descr': '<f4', 'fortran_order': False, 'shape': (${center.length / 4},), }"
    val unpadded = 10 + dict.length + 1
    val header = dict + " " * ((64 - unpadded % 64) % 64) + "\n"
    val buf = ByteBuffer.allocate(10 + header.length + center.length).order(ByteOrder.LITTLE_ENDIAN)
    buf.put(Array[Byte](0x93.toByte, 'N', 'U', 'M', 'P', 'Y', 1, 0))
    buf.putShort(header.length.toShort).put(header.getBytes(ISO_8859_1)).put(center)
    buf.array()
  }

  /** The data bytes of an `.npy` file [[npy]] wrote. */
  def npyPayload(file: Array[Byte]): Array[Byte] = {
    require(file.length >= 10 && file(1) == 'N', "center.npy is not a NumPy .npy file")
    val headerLen = ByteBuffer.wrap(file, 8, 2).order(ByteOrder.LITTLE_ENDIAN).getShort & 0xffff
    file.drop(10 + headerLen)
  }
}

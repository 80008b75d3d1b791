package loxodon.train

import java.io.ByteArrayOutputStream
import java.nio.{ByteBuffer, ByteOrder}
import java.nio.charset.StandardCharsets.UTF_8
import java.nio.file.Files
import java.util.zip.{ZipEntry, ZipOutputStream}

import org.apache.hadoop.conf.Configuration
import org.scalatest.funsuite.AnyFunSuite

class CheckpointsSuite extends AnyFunSuite {

  private def archive(config: String): Array[Byte] = {
    val bytes = new ByteArrayOutputStream()
    val zip = new ZipOutputStream(bytes)
    zip.putNextEntry(new ZipEntry("config.json"))
    zip.write(config.getBytes(UTF_8))
    zip.close()
    bytes.toByteArray
  }

  private def model(name: String, dense: String, units: Int, sharedId: Long, lr: Double) =
    archive(s"""{"config": {"name": "$name", "layers": [{"class_name": "Dense", "config":
      |{"name": "$dense", "units": $units, "dtype": {"shared_object_id": $sharedId}}}]},
      |"compile_config": {"loss": "mse", "optimizer": {"class_name": "Adam",
      |"config": {"learning_rate": $lr}}}}""".stripMargin)

  test("the architecture digest ignores names, object ids and the rate, not the layers") {
    val a = Checkpoints.architecture(model("sequential", "dense", 4, 140335846409296L, 0.1))
    val b = Checkpoints.architecture(model("sequential_7", "dense_3", 4, 140367545614224L, 0.01))
    val c = Checkpoints.architecture(model("sequential", "dense", 5, 140335846409296L, 0.1))
    assert(a == b && a != c)
  }

  test("a checkpoint round-trips through the file system; only the newest is kept") {
    val dir = Files.createTempDirectory("loxodon-ckpt").toUri.toString
    val conf = new Configuration()
    val params = TrainParams(mode = "synchronous", numWorkers = 2, epochs = 5, batchSize = 8)
    val fp = Checkpoints.fingerprint(params, model("m", "d", 4, 1L, 0.1))
    val center = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN)
    center.putFloat(1.5f).putFloat(-2f).putFloat(3.25f)
    assert(Checkpoints.latest(conf, dir).isEmpty)
    val history = Seq(Map("loss" -> 2.0), Map("loss" -> 1.0, "accuracy" -> 0.5))
    for (epoch <- 0 to 1) {
      val opt = Seq(Array[Byte](1, 2, epoch.toByte), Array[Byte](3))
      Checkpoints.write(conf, dir, epoch, stopped = false, history, fp, center.array(), opt)
    }
    val cp = Checkpoints.latest(conf, dir).get
    assert(cp.epoch == 1 && cp.nextEpoch == 2 && !cp.stopped && cp.history == history)
    assert(cp.center.sameElements(center.array()))
    assert(cp.optimizers.map(_.toSeq) == Seq(Seq[Byte](1, 2, 1), Seq[Byte](3)))
    val root = new java.io.File(new java.net.URI(dir))
    assert(root.list().toSeq.sorted == Seq("epoch-000001"))
    val npy = Files.readAllBytes(new java.io.File(root, "epoch-000001/center.npy").toPath)
    assert((npy.length - 12) % 64 == 0 && new String(npy, 1, 5, UTF_8) == "NUMPY")
    Checkpoints.requireCompatible(cp, fp)
    val other = Checkpoints.fingerprint(params.copy(batchSize = 16), model("m", "d", 4, 1L, 0.1))
    val e = intercept[IllegalArgumentException](Checkpoints.requireCompatible(cp, other))
    assert(e.getMessage.contains("batch_size is 8 there, 16 here") && e.getMessage.contains("new"))
  }

  test("a URI of an unknown scheme is a clear error naming the param") {
    val e = intercept[IllegalArgumentException] {
      Checkpoints.resolve(new Configuration(), "nosuchfs://host/ckpt")
    }
    assert(e.getMessage.startsWith("checkpoint_dir (checkpointDir) 'nosuchfs://host/ckpt'"))
  }
}

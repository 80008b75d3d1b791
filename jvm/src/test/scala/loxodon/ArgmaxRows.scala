package loxodon

/** The task the `mlp.keras` fixture (an 8-4-3 MLP, sparse categorical cross-entropy) learns in the
  * end-to-end suites: 8 uniform features, the label the index of the largest of the first three.
  * Chance is 1/3 (the three classes are equally likely).
  */
object ArgmaxRows {

  /** `n` rows drawn with `seed`: the 8 features and the label. */
  def apply(n: Int, seed: Long): Seq[(Array[Double], Int)] = {
    val rng = new scala.util.Random(seed)
    (0 until n).map { _ =>
      val x = Array.fill(8)(rng.nextDouble())
      (x, x.take(3).zipWithIndex.maxBy(_._1)._2)
    }
  }
}

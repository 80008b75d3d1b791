package loxodon.data

import org.apache.spark.ml.linalg.Vectors
import org.scalatest.funsuite.AnyFunSuite

import loxodon.LocalSpark
import loxodon.model.{KerasArchive, LossLabels}

class TrainingDataSuite extends AnyFunSuite with LocalSpark {
  private val mlp = KerasArchive(
    true,
    Some(Seq(3)),
    Some(4),
    LossLabels.Index,
    Some("sparse_categorical_crossentropy")
  )

  private def message(body: => Any): String = intercept[IllegalArgumentException](body).getMessage

  test("features from a Vector, an array or numeric columns; labels from each kind") {
    val s = spark
    import s.implicits._
    val vec = Seq((Vectors.dense(1, 2, 3), 1.0), (Vectors.dense(4, 5, 6), 2.0)).toDF("v", "y")
    val p = TrainingData.prepare(vec, Seq("v"), Some("y"))
    val shape = TrainingData.validate(p, Some(mlp), "training data")
    assert(shape == TrainingData.Shape(2, 3, Some(1)))
    assert(p.collect().head.getSeq[Float](0) == Seq(1f, 2f, 3f))

    val arr = Seq((Seq(1.0, 2.0, 3.0), Seq(0, 1, 0, 0))).toDF("a", "onehot")
    val pa = TrainingData.prepare(arr, Seq("a"), Some("onehot"))
    val oneHot = mlp.copy(labels = LossLabels.Values)
    assert(TrainingData.validate(pa, Some(oneHot), "training data").labelWidth.contains(4))

    val cols = Seq((1, 2L, 3.5f, 0)).toDF("a", "b", "c", "y")
    val pc = TrainingData.prepare(cols, Seq("a", "b", "c"), Some("y"))
    assert(pc.collect().head.getSeq[Float](0) == Seq(1f, 2f, 3.5f))
  }

  test("a sample weight column ends the label; the model checks leave it out") {
    val s = spark
    import s.implicits._
    val df = Seq((Seq(1.0, 2.0, 3.0), 1.0, 0.5), (Seq(4.0, 5.0, 6.0), 3.0, 2.0)).toDF("f", "y", "w")
    val p = TrainingData.prepare(df, Seq("f"), Some("y"), Some("w"))
    assert(p.collect().map(_.getSeq[Float](1)).toSeq == Seq(Seq(1f, 0.5f), Seq(3f, 2f)))
    val shape = TrainingData.validate(p, Some(mlp), "training data", weighted = true)
    assert(shape == TrainingData.Shape(2, 3, Some(2)))
    // Without the weight column (validation rows) every row weighs 1.
    val unweighted = TrainingData.prepare(df.drop("w"), Seq("f"), Some("y"), Some("w"))
    assert(unweighted.collect().map(_.getSeq[Float](1)(1)).toSeq == Seq(1f, 1f))
    val bad = Seq((Seq(1.0, 2.0, 3.0), 1.0, "x")).toDF("f", "y", "w")
    val m = message(TrainingData.prepare(bad, Seq("f"), Some("y"), Some("w")))
    assert(m.contains("sample_weight_col: column 'w' has type string"))
    val missing = message(TrainingData.prepareFit(df, None, Seq("f"), "y", mlp, Some("nope")))
    assert(missing.contains("sample_weight_col: no column 'nope'"))
  }

  test("a missing column lists the available ones and names the param") {
    val s = spark
    import s.implicits._
    val df = Seq((1.0, 2.0)).toDF("x", "y")
    val m = message(TrainingData.prepare(df, Seq("features"), Some("y")))
    assert(m.contains("features_col") && m.contains("'features'") && m.contains("x, y"))
    val l = message(TrainingData.prepare(df, Seq("x"), Some("label")))
    assert(l.contains("label_col") && l.contains("available: x, y"))
  }

  test("non-numeric columns name their type; strings need a text model") {
    val s = spark
    import s.implicits._
    val df = Seq(("a", "b", 1.0, java.sql.Date.valueOf("2026-12-02"))).toDF("s", "t", "y", "d")
    val text = message(TrainingData.prepare(df, Seq("s"), Some("y")))
    assert(text.contains("holds strings") && text.contains("loxodon.text_classifier"), text)
    assert(message(TrainingData.prepare(df, Seq("d"), Some("y"))).contains("type date"))
    assert(message(TrainingData.prepare(df, Seq("y"), Some("t"))).contains("label_col"))
  }

  test("NaN or null labels are counted, with the fix") {
    val s = spark
    import s.implicits._
    val df = Seq(
      (Seq(1.0, 2.0, 3.0), Some(1.0)),
      (Seq(1.0, 2.0, 3.0), Some(Double.NaN)),
      (Seq(1.0, 2.0, 3.0), None)
    ).toDF("f", "y")
    val m = message(
      TrainingData.validate(TrainingData.prepare(df, Seq("f"), Some("y")), None, "training data")
    )
    assert(m.contains("2 rows") && m.contains("NaN or null label") && m.contains("dropna"))
  }

  test("widths are checked against the model") {
    val s = spark
    import s.implicits._
    val wide = Seq((Seq(1.0, 2.0), 1.0)).toDF("f", "y")
    val w = message(
      TrainingData.validate(
        TrainingData.prepare(wide, Seq("f"), Some("y")),
        Some(mlp),
        "training data"
      )
    )
    assert(w.contains("2 feature values") && w.contains("needs 3"))
    val big = Seq((Seq(1.0, 2.0, 3.0), 4.0)).toDF("f", "y")
    val b = message(
      TrainingData.validate(
        TrainingData.prepare(big, Seq("f"), Some("y")),
        Some(mlp),
        "training data"
      )
    )
    assert(b.contains("class indices") && b.contains("4 units"))
    val oneHot = mlp.copy(labels = LossLabels.Values, loss = Some("categorical_crossentropy"))
    val o = message(
      TrainingData.validate(
        TrainingData.prepare(big, Seq("f"), Some("y")),
        Some(oneHot),
        "training data"
      )
    )
    assert(o.contains("1 values per row") && o.contains("sparse_categorical_crossentropy"))
    val ragged = Seq((Seq(1.0, 2.0, 3.0), 1.0), (Seq(1.0), 1.0)).toDF("f", "y")
    val r = message(
      TrainingData.validate(
        TrainingData.prepare(ragged, Seq("f"), Some("y")),
        None,
        "training data"
      )
    )
    assert(r.contains("between 1 and 3"))
  }
}

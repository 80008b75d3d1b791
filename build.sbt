// The JVM half of Loxodon: one thin jar per supported Spark line, all from one
// source tree (jvm/src/main/scala), each compiled against its line's exact Spark
// and Scala. Spark, Netty and Arrow are Provided: the cluster already has them.
//
//   project        jar                               compiled against
//   root           loxodon-spark4.3_2.13             the pyspark 4.3.0 wheel's jars
//   spark40        loxodon-spark4.0_2.13             Spark 4.0 from Maven Central
//   spark35        loxodon-spark3.5_2.13             Spark 3.5 from Maven Central
//   spark35_212    loxodon-spark3.5_2.12             Spark 3.5 from Maven Central
//
// Spark-private calls live in the shims (org.apache.spark...Loxodon*Shim), one
// variant per line where they differ: jvm/src/main/spark-3.5 and spark-4 (4.0-4.3).
// Netty 4.2 (Spark 4.1+) renamed the event loops: jvm/src/main/netty-4.1 and netty-4.2.
// The Python side picks the jar by the running PySpark and Scala (loxodon/_jvm.py).

// Spark 4.3.0 is not on Maven Central; the pinned pyspark wheel ships its exact
// jars (Spark, Netty, Arrow, Scala), so the root build compiles against those.
// SPARK_JARS overrides the location; the default is the project's virtualenv.
lazy val sparkJarsDir: File = sys.env.get("SPARK_JARS").map(file).getOrElse {
  val venvLib = file(".venv") / "lib"
  val found = Option(venvLib.listFiles()).toSeq.flatten
    .map(_ / "site-packages" / "pyspark" / "jars")
    .find(_.isDirectory)
  found.getOrElse(
    sys.error(
      "pyspark jars not found under .venv/lib/python*/site-packages/pyspark/jars: " +
        "run `make venv` first, or set SPARK_JARS to a Spark jars directory"
    )
  )
}
// sbt supplies the Scala jars itself, at the same 2.13.18.
def isScalaCore(f: File): Boolean =
  Seq("scala-library-", "scala-reflect-", "scala-compiler-").exists(f.getName.startsWith)

ThisBuild / organization := "io.loxodon"
ThisBuild / version := "0.1.0"
ThisBuild / scalaVersion := "2.13.18"

/** The jar's name as the Python side's picker reads it (sbt would write "spark4-3"). */
def lineJar(line: String) =
  Compile / packageBin / artifactPath :=
    crossTarget.value / s"loxodon-spark${line}_${scalaBinaryVersion.value}-${version.value}.jar"

lazy val javacRelease = Seq("-deprecation", "-feature", "-unchecked", "-release", "17")

/** Sources shared by every line plus its shims' (`shims`: spark-3.5, or spark-4 for all of 4.x),
  * its Netty's (netty-4.1 or netty-4.2) and its Scala's (scala-2.12, scala-2.13).
  */
def lineSources(shims: String, netty: String) = Seq(
  Compile / unmanagedSourceDirectories := {
    val main = (ThisBuild / baseDirectory).value / "jvm" / "src" / "main"
    Seq(
      main / "scala",
      main / shims / "scala",
      main / s"netty-$netty" / "scala",
      main / s"scala-${scalaBinaryVersion.value}"
    )
  },
  Compile / resourceDirectory := (ThisBuild / baseDirectory).value / "jvm" / "src" / "main" / "resources"
)

lazy val root = (project in file("."))
  .settings(
    name := "loxodon",
    lineJar("4.3"),
    lineSources("spark-4", netty = "4.2"),
    Test / scalaSource := baseDirectory.value / "jvm" / "src" / "test" / "scala",
    Test / resourceDirectory := baseDirectory.value / "jvm" / "src" / "test" / "resources",
    scalacOptions ++= javacRelease,
    // Provided: on the compile and test class paths, never in the jar.
    Compile / unmanagedJars ++= (sparkJarsDir ** "*.jar").get.filterNot(isScalaCore).classpath,
    libraryDependencies += "org.scalatest" %% "scalatest" % "3.2.19" % Test,
    // Spark's tests need these on Java 17 (same list as Spark's own launcher).
    Test / fork := true,
    Test / javaOptions ++= Seq(
      "-Xmx2g",
      "--add-opens=java.base/java.lang=ALL-UNNAMED",
      "--add-opens=java.base/java.nio=ALL-UNNAMED",
      "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
      "--add-opens=java.base/java.util=ALL-UNNAMED",
      "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
      "--add-opens=java.base/java.lang.invoke=ALL-UNNAMED",
      "-Dio.netty.tryReflectionSetAccessible=true"
    ),
    Test / parallelExecution := false
  )

/** An older Spark line from Maven Central: Spark (and through it that line's Netty and Arrow)
  * Provided, compiled with the exact Scala that line's distribution ships.
  */
def mavenLine(
    id: String,
    line: String,
    spark: String,
    scala: String,
    shims: String,
    netty: String
) =
  Project(id, file(s"target/lines/$id"))
    .settings(
      name := s"loxodon-spark$line",
      lineJar(line),
      scalaVersion := scala,
      lineSources(shims, netty),
      scalacOptions ++= javacRelease,
      libraryDependencies ++= sparkProvided(spark),
      publish / skip := true
    )

def sparkProvided(spark: String) = Seq(
  "org.apache.spark" %% "spark-core" % spark % Provided,
  "org.apache.spark" %% "spark-sql" % spark % Provided,
  "org.apache.spark" %% "spark-mllib" % spark % Provided
)

// Scala versions as each line's binary distribution ships them.
lazy val spark40Version = "4.0.1"
lazy val spark35Version = "3.5.6"
lazy val spark40 = mavenLine("spark40", "4.0", spark40Version, "2.13.16", "spark-4", netty = "4.1")
lazy val spark35 = mavenLine("spark35", "3.5", spark35Version, "2.13.8", "spark-3.5", netty = "4.1")
lazy val spark35_212 =
  mavenLine("spark35_212", "3.5", spark35Version, "2.12.18", "spark-3.5", netty = "4.1")

// Runnable Scala programs (examples/scala): compiled against the main project and
// the same Provided Spark jars; never published, and not part of `package` of the
// root project (which does not aggregate it): build with `build/sbt examples/package`.
lazy val examples = (project in file("examples/scala"))
  .dependsOn(root)
  .settings(
    name := "loxodon-examples",
    scalacOptions ++= javacRelease,
    Compile / unmanagedJars ++= (sparkJarsDir ** "*.jar").get.filterNot(isScalaCore).classpath,
    publish / skip := true
  )

/** The examples for an older line, from the same sources, against that line's jar. */
def mavenExamples(id: String, core: Project, spark: String) =
  Project(id, file(s"target/lines/$id"))
    .dependsOn(core)
    .settings(
      name := "loxodon-examples",
      scalaVersion := (core / scalaVersion).value,
      libraryDependencies ++= sparkProvided(spark), // Provided does not pass through dependsOn
      Compile / scalaSource := (ThisBuild / baseDirectory).value / "examples" / "scala" / "src" / "main" / "scala",
      scalacOptions ++= javacRelease,
      publish / skip := true
    )

lazy val examples40 = mavenExamples("examples40", spark40, spark40Version)
lazy val examples35_212 = mavenExamples("examples35_212", spark35_212, spark35Version)

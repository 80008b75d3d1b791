// The JVM half of Loxodon: one thin jar, compiled against the exact Spark and
// Scala of the pinned pyspark (see pyproject.toml). Spark, Netty and Arrow are
// Provided: the cluster already has them.
// Spark 4.3.0 is not on Maven Central; the pinned pyspark wheel ships its exact
// jars (Spark, Netty, Arrow, Scala), so the build compiles against those.
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

lazy val root = (project in file("."))
  .settings(
    name := "loxodon",
    Compile / scalaSource := baseDirectory.value / "jvm" / "src" / "main" / "scala",
    Compile / resourceDirectory := baseDirectory.value / "jvm" / "src" / "main" / "resources",
    Test / scalaSource := baseDirectory.value / "jvm" / "src" / "test" / "scala",
    Test / resourceDirectory := baseDirectory.value / "jvm" / "src" / "test" / "resources",
    scalacOptions ++= Seq("-deprecation", "-feature", "-unchecked", "-release", "17"),
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

// Runnable Scala programs (examples/scala): compiled against the main project and
// the same Provided Spark jars; never published, and not part of `package` of the
// root project (which does not aggregate it): build with `build/sbt examples/package`.
lazy val examples = (project in file("examples/scala"))
  .dependsOn(root)
  .settings(
    name := "loxodon-examples",
    scalacOptions ++= Seq("-deprecation", "-feature", "-unchecked", "-release", "17"),
    Compile / unmanagedJars ++= (sparkJarsDir ** "*.jar").get.filterNot(isScalaCore).classpath,
    publish / skip := true
  )

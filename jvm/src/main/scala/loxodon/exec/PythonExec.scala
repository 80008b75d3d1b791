package loxodon.exec

import org.apache.spark.SparkConf

/** Which Python interpreter runs the workers (docs/design.md, "Executor-side Python workers"):
  * `spark.pyspark.python`, else the environment's `PYSPARK_PYTHON`, else `python3`, as PySpark
  * itself chooses for its executors.
  */
object PythonExec {

  /** The config key that names the executors' Python. */
  final val ConfKey: String = "spark.pyspark.python"

  /** The environment variable consulted when the config is not set. */
  final val EnvKey: String = "PYSPARK_PYTHON"

  /** The interpreter to spawn, resolved from `conf` and the environment `env`. */
  def resolve(conf: SparkConf, env: Map[String, String] = sys.env): String =
    Option(conf)
      .flatMap(_.getOption(ConfKey))
      .map(_.trim)
      .filter(_.nonEmpty)
      .orElse(env.get(EnvKey).map(_.trim).filter(_.nonEmpty))
      .getOrElse("python3")
}

package loxodon.ps

import java.util.concurrent.Executors

import scala.concurrent.{Await, ExecutionContext, Future}
import scala.concurrent.duration._

/** Starting and stopping real servers in tests, and running client code side by side. */
trait ServerFixture {

  /** Runs `body` against a started server for `conf`, closing it afterwards. */
  def withServer[T](conf: ParameterServerConf)(body: ParameterServer => T): T = {
    val server = ParameterServer.start(conf)
    try body(server)
    finally server.close()
  }

  /** Runs `tasks` on their own threads at once and waits (bounded) for all results. */
  def parallel[T](tasks: Seq[() => T], timeout: FiniteDuration = 60.seconds): Seq[T] = {
    val pool = Executors.newFixedThreadPool(math.max(1, tasks.size))
    implicit val ec: ExecutionContext = ExecutionContext.fromExecutor(pool)
    try Await.result(Future.sequence(tasks.map(t => Future(t()))), timeout)
    finally pool.shutdownNow()
  }

  /** Closes `c` after `body`. */
  def using[C <: AutoCloseable, T](c: C)(body: C => T): T =
    try body(c)
    finally c.close()
}

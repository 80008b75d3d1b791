package loxodon.ps

import org.scalatest.funsuite.AnyFunSuite

class ShardClaimsSuite extends AnyFunSuite {

  test("a worker claims its own shards first, lowest first") {
    val claims = new ShardClaims(numWorkers = 2, numShards = 6)
    assert(Seq.fill(3)(claims.claim(pass = 0, worker = 1)) == Seq(1, 3, 5))
    assert(Seq.fill(3)(claims.claim(pass = 0, worker = 0)) == Seq(0, 2, 4))
    assert(claims.claim(0, 0) == -1 && claims.claim(0, 1) == -1)
  }

  test("a fast worker takes the tail of the worker with the most shards left") {
    val claims = new ShardClaims(numWorkers = 3, numShards = 9)
    // Worker 0 (own: 0, 3, 6) runs ahead while worker 1 (1, 4, 7) has claimed one shard and
    // worker 2 (2, 5, 8) two.
    assert(claims.claim(0, 1) == 1)
    assert(claims.claim(0, 2) == 2 && claims.claim(0, 2) == 5)
    assert(Seq.fill(3)(claims.claim(0, 0)) == Seq(0, 3, 6))
    assert(claims.claim(0, 0) == 7) // worker 1 has two left (4, 7): its last one
    assert(claims.claim(0, 0) == 4) // now workers 1 and 2 have one each: the lower id's
    assert(claims.claim(0, 1) == 8) // worker 1's own are gone: it takes worker 2's
    assert(claims.claim(0, 2) == -1 && claims.claim(0, 0) == -1)
  }

  test("every shard is handed out once per pass, and again in the next pass") {
    val claims = new ShardClaims(numWorkers = 4, numShards = 12)
    val rng = new scala.util.Random(7)
    for (pass <- 0L until 5L) {
      val got = Iterator
        .continually(claims.claim(pass, rng.nextInt(4)))
        .takeWhile(_ >= 0)
        .toSeq
      assert(got.sorted == (0 until 12), s"pass $pass")
    }
  }

  test("a claim from no worker of the job, or in a job without shards, is refused") {
    val e = intercept[IllegalArgumentException](new ShardClaims(2, 4).claim(0, 2))
    assert(e.getMessage.contains("worker id 2 cannot claim a shard: the workers are 0 to 1"))
    val none = intercept[IllegalArgumentException](new ShardClaims(2, 0).claim(0, 0))
    assert(none.getMessage.contains("no shards"))
  }
}

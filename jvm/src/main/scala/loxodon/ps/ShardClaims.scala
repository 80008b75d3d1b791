package loxodon.ps

import scala.collection.mutable

/** Hands out the shards of a fit with a parallelism factor k (k x N shards) within each pass (op
  * CLAIM_SHARD): a worker gets its own shards first (shard j belongs to worker j mod N), lowest
  * first; once they are gone it takes the last unclaimed shard of the worker with the most left, so
  * a slow worker's tail goes to a faster one. Every shard is handed out exactly once per pass.
  *
  * A pass is named by the claim's round field (the stage attempt and the epoch), so a retried stage
  * hands every shard out again. The last [[ShardClaims.KeptPasses]] passes are remembered.
  */
final class ShardClaims(numWorkers: Int, numShards: Int) {
  require(numWorkers >= 1, s"numWorkers must be at least 1, got $numWorkers")
  require(numShards >= 0, s"numShards must not be negative, got $numShards")

  private val passes = mutable.LinkedHashMap.empty[Long, Array[Boolean]]

  /** The shard `worker` trains next in `pass`, or -1 when every shard of the pass is claimed. */
  def claim(pass: Long, worker: Int): Int = synchronized {
    require(numShards > 0, "this job has no shards (its parallelism factor is 1)")
    require(
      worker >= 0 && worker < numWorkers,
      s"worker id $worker cannot claim a shard: the workers are 0 to ${numWorkers - 1}"
    )
    val claimed = passes.getOrElseUpdate(pass, new Array[Boolean](numShards))
    while (passes.size > ShardClaims.KeptPasses) passes.remove(passes.head._1)
    val shard = own(claimed, worker).find(j => !claimed(j)).getOrElse(steal(claimed))
    if (shard >= 0) claimed(shard) = true
    shard
  }

  private def own(claimed: Array[Boolean], worker: Int): Range =
    worker until numShards by numWorkers

  /** The last unclaimed shard of the worker with the most unclaimed ones (lowest id on ties). */
  private def steal(claimed: Array[Boolean]): Int = {
    val left = (0 until numWorkers).map(w => own(claimed, w).count(j => !claimed(j)))
    val victim = left.indices.maxBy(w => (left(w), -w))
    if (left(victim) == 0) -1 else own(claimed, victim).reverse.find(j => !claimed(j)).get
  }
}

object ShardClaims {

  /** Passes remembered (a fit's epochs are claimed one after another). */
  final val KeptPasses: Int = 64
}

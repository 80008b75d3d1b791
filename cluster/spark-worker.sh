#!/usr/bin/env bash
# Owns starting one Spark standalone Worker in the foreground, on whatever host
# runs it: a network namespace of the test cluster (cluster/cluster.sh) or a
# container (deploy/). It execs the pinned pyspark's own launcher, so the
# process that runs IS the Worker JVM; the executors it launches inherit its
# environment (SPARK_LOCAL_IP, PYSPARK_PYTHON, SPARK_LOCAL_DIRS).
#
# Usage: spark-worker.sh [MASTER_URL]
#   MASTER_URL  spark://HOST:PORT of the master    (env SPARK_MASTER_URL; required)
# Environment:
#   SPARK_WORKER_HOST        address to bind and advertise (required)
#   SPARK_WORKER_CORES       task slots offered (default 1)
#   SPARK_WORKER_MEMORY      memory offered to executors (default 2g)
#   SPARK_WORKER_PORT        RPC port (default 0: any free port)
#   SPARK_WORKER_WEBUI_PORT  web UI port (default 8081)
#   SPARK_WORKER_DIR         executors' working directories (default /tmp/spark-worker)
#   SPARK_LOCAL_DIRS         executors' scratch space (default SPARK_WORKER_DIR/local)
#   PYSPARK_PYTHON           interpreter with loxodon installed, for the executors'
#                            Python workers (default LOXODON_PYTHON)
#   LOXODON_PYTHON           interpreter whose pyspark provides spark-class (default python3)
#   SPARK_HOME               overrides that pyspark's directory
set -euo pipefail

master=${1:-${SPARK_MASTER_URL:-}}
host=${SPARK_WORKER_HOST:-}
if [[ -z $master || -z $host ]]; then
  echo "spark-worker.sh: need a master URL (argument or SPARK_MASTER_URL) and SPARK_WORKER_HOST" >&2
  exit 2
fi

python=${LOXODON_PYTHON:-python3}
if [[ -z ${SPARK_HOME:-} ]]; then
  SPARK_HOME=$("$python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
fi
work_dir=${SPARK_WORKER_DIR:-/tmp/spark-worker}
export SPARK_HOME
export SPARK_LOCAL_IP=$host
export SPARK_LOCAL_DIRS=${SPARK_LOCAL_DIRS:-$work_dir/local}
export PYSPARK_PYTHON=${PYSPARK_PYTHON:-$python}
mkdir -p "$work_dir" "$SPARK_LOCAL_DIRS"

exec "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker \
  --host "$host" \
  --port "${SPARK_WORKER_PORT:-0}" \
  --webui-port "${SPARK_WORKER_WEBUI_PORT:-8081}" \
  --cores "${SPARK_WORKER_CORES:-1}" \
  --memory "${SPARK_WORKER_MEMORY:-2g}" \
  --work-dir "$work_dir" \
  "$master"

#!/usr/bin/env bash
# Owns starting one Spark standalone Master in the foreground, on whatever host
# runs it: a network namespace of the test cluster (cluster/cluster.sh) or a
# container (deploy/). It execs the pinned pyspark's own launcher, so the
# process that runs IS the Master JVM (signals and exit status reach it).
#
# Usage: spark-master.sh [HOST [PORT [WEBUI_PORT]]]
#   HOST        address to bind and advertise   (env SPARK_MASTER_HOST; required)
#   PORT        RPC port for workers and drivers (env SPARK_MASTER_PORT, default 7077)
#   WEBUI_PORT  web UI port; its JSON is at /json/ (env SPARK_MASTER_WEBUI_PORT, default 8080)
# Environment:
#   LOXODON_PYTHON  interpreter whose pyspark provides spark-class (default python3)
#   SPARK_HOME      overrides that pyspark's directory
set -euo pipefail

host=${1:-${SPARK_MASTER_HOST:-}}
port=${2:-${SPARK_MASTER_PORT:-7077}}
webui_port=${3:-${SPARK_MASTER_WEBUI_PORT:-8080}}
if [[ -z $host ]]; then
  echo "spark-master.sh: no host: pass it as the first argument or set SPARK_MASTER_HOST" >&2
  exit 2
fi

python=${LOXODON_PYTHON:-python3}
if [[ -z ${SPARK_HOME:-} ]]; then
  SPARK_HOME=$("$python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
fi
export SPARK_HOME
# Every socket Spark opens on this host binds this address, not the hostname's.
export SPARK_LOCAL_IP=$host

exec "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
  --host "$host" --port "$port" --webui-port "$webui_port"

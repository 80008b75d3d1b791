#!/usr/bin/env bash
# The image's entrypoint (under tini): picks the role of this container and
# execs the process for it, so the container's main process is the JVM itself.
#
#   master [HOST [PORT [WEBUI_PORT]]]  cluster/spark-master.sh, the script the namespace
#                                      test cluster runs (HOST default: SPARK_MASTER_HOST)
#   worker [MASTER_URL]                cluster/spark-worker.sh, likewise; SPARK_WORKER_HOST
#                                      defaults to this container's address, so a scaled
#                                      service (replicas without names) needs none
#   driver ARGS...                     Spark on Kubernetes: the driver pod (spark-submit in
#                                      client mode, bound to the pod's address)
#   executor                           Spark on Kubernetes: an executor pod
#   anything else                      run as given (python, spark-submit, bash, sleep ...)
#
# The driver/executor contract (arguments and SPARK_* variables that Spark's
# Kubernetes backend sets on its pods) is the one of Spark's own image
# entrypoint, rewritten here for this image's layout (Spark is the pinned
# pyspark's, at $SPARK_HOME).
set -euo pipefail

# The start scripts sit beside this folder, in the image (/opt/loxodon/{deploy,cluster})
# as in the repository.
cluster=$(cd "$(dirname "${BASH_SOURCE[0]}")/../cluster" && pwd)
java=${JAVA_HOME:+$JAVA_HOME/bin/}java

role=${1:-}
case $role in
  master)
    shift
    exec "$cluster/spark-master.sh" "$@"
    ;;
  worker)
    shift
    if [[ -z ${SPARK_WORKER_HOST:-} ]]; then
      SPARK_WORKER_HOST=$(hostname -i | awk '{print $1}')
      export SPARK_WORKER_HOST
    fi
    exec "$cluster/spark-worker.sh" "$@"
    ;;
  driver)
    shift
    exec "$SPARK_HOME/bin/spark-submit" \
      --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS:?set by Spark on the driver pod}" \
      --deploy-mode client "$@"
    ;;
  executor)
    shift
    # JVM options come as SPARK_JAVA_OPT_0, _1, ... (Java 17 module flags, -D configs).
    java_opts=()
    while IFS= read -r opt; do
      [[ -n $opt ]] && java_opts+=("$opt")
    done < <(env | grep '^SPARK_JAVA_OPT_' | sort -t_ -k4 -n | sed 's/^[^=]*=//')
    classpath="${SPARK_CONF_DIR:-$SPARK_HOME/conf}:${SPARK_CLASSPATH:+$SPARK_CLASSPATH:}$SPARK_HOME/jars/*"
    exec "$java" "${java_opts[@]}" \
      "-Xms${SPARK_EXECUTOR_MEMORY:?}" "-Xmx${SPARK_EXECUTOR_MEMORY}" \
      -cp "$classpath" \
      org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
      --driver-url "${SPARK_DRIVER_URL:?}" \
      --executor-id "${SPARK_EXECUTOR_ID:?}" \
      --cores "${SPARK_EXECUTOR_CORES:?}" \
      --app-id "${SPARK_APPLICATION_ID:?}" \
      --hostname "${SPARK_EXECUTOR_POD_IP:?}" \
      --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID:-0}" \
      --podName "${SPARK_EXECUTOR_POD_NAME:?}"
    ;;
  "")
    echo "entrypoint.sh: name a role (master, worker, driver, executor) or a command" >&2
    exit 2
    ;;
  *)
    exec "$@"
    ;;
esac

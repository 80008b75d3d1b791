#!/usr/bin/env bash
# Owns the processes of the namespace test cluster: a Spark standalone master
# and N workers (spark-master.sh / spark-worker.sh run inside their hosts'
# namespaces), the commands run on the driver host, and teardown of all of it.
# The network is netns.sh's; names and addresses are config.sh's.
#
# Usage: cluster.sh run CMD...          up, run CMD on the driver host, down (always)
#        cluster.sh up | down           bring the cluster up or remove it
#          WORKERS  workers started by `up` (default 2)
#          HOSTS    worker hosts created by `up` (default: WORKERS, at least 3); a
#                   spare host gets a worker from `start-worker`
#        cluster.sh exec HOST CMD...    run CMD on HOST with the cluster's environment
#        cluster.sh start-worker I      start worker I on host wI, wait until ALIVE
#        cluster.sh stop-worker I       kill -9 everything on host wI (its Worker and executors)
#        cluster.sh kill-executor I     kill -9 the executor JVMs on host wI; prints their pids
#        cluster.sh link I up|down      set host wI's link up or down
# Every wait is bounded (CLUSTER_START_TIMEOUT seconds, default 120). Needs root.
set -euo pipefail
# shellcheck source=cluster/config.sh
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"

ROOT=$(lox_root)
HERE=$ROOT/cluster
PYTHON=${LOXODON_PYTHON:-$ROOT/.venv/bin/python}
WORKERS=${WORKERS:-2}
HOSTS=${HOSTS:-$((WORKERS > 3 ? WORKERS : 3))}
START_TIMEOUT=${CLUSTER_START_TIMEOUT:-120}
LOCK=/tmp/loxodon-cluster.lock

die() { echo "cluster.sh: $*" >&2; exit 1; }

# The environment every process on the cluster gets; `exec` and `run` also
# hand it to the driver host's commands (the tests read LOXODON_CLUSTER_*).
cluster_env() {
  local host=$1
  echo "$LOX_MARKER=$host" "LOXODON_PYTHON=$PYTHON" "PYSPARK_PYTHON=$PYTHON" \
    "SPARK_LOCAL_IP=$(lox_ip "$host")" "LOXODON_CLUSTER_MASTER=$LOX_MASTER_URL" \
    "LOXODON_CLUSTER_MASTER_JSON=$LOX_MASTER_JSON" "LOXODON_CLUSTER_DRIVER_HOST=$(lox_ip driver)" \
    "LOXODON_CLUSTER_DIR=$LOX_RUN_DIR" "LOXODON_CLUSTER_WORKERS=$WORKERS" \
    "LOXODON_CLUSTER_CTL=$HERE/cluster.sh"
}

# start HOST NAME CMD...: runs CMD in HOST's namespace, detached, logging to the
# run folder; records its pid (the JVM itself: the start scripts exec it).
start() {
  local host=$1 name=$2
  shift 2
  # shellcheck disable=SC2046
  ip netns exec "$(lox_ns "$host")" env $(cluster_env "$host") setsid "$@" \
    >"$LOX_RUN_DIR/logs/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$LOX_RUN_DIR/pids/$name.pid"
  disown $! # teardown kills it; bash need not report that
}

alive_workers() {
  ip netns exec "$(lox_ns driver)" "$PYTHON" "$HERE/alive_workers.py" "$LOX_MASTER_JSON" "$@"
}

# wait_alive N [HOST...]: until the master lists N ALIVE workers (on HOSTs).
wait_alive() {
  local want=$1 deadline=$((SECONDS + START_TIMEOUT)) got=0
  shift
  while ((SECONDS < deadline)); do
    got=$(alive_workers "$@")
    ((got >= want)) && return 0
    sleep 1
  done
  die "the master lists $got ALIVE workers ($*), not $want, after ${START_TIMEOUT} s; logs in $LOX_RUN_DIR/logs"
}

start_worker() {
  local i=$1 host=w$1
  # Hosts are made by `up` only: a namespace added from inside another host's
  # (`ip netns exec` gives each its own mount namespace) is invisible outside it.
  [[ -e /run/netns/$(lox_ns "$host") ]] || die "no host $host: \`HOSTS=$i cluster.sh up\` makes it"
  mkdir -p "$LOX_RUN_DIR/$host"
  start "$host" "$host" env SPARK_WORKER_HOST="$(lox_ip "$host")" \
    SPARK_WORKER_CORES=1 SPARK_WORKER_MEMORY="${CLUSTER_WORKER_MEMORY:-3g}" \
    SPARK_WORKER_DIR="$LOX_RUN_DIR/$host/work" SPARK_LOCAL_DIRS="$LOX_RUN_DIR/$host/local" \
    "$HERE/spark-worker.sh" "$LOX_MASTER_URL"
}

cmd_up() {
  [[ $WORKERS =~ ^[1-9]$ && $HOSTS =~ ^[1-9]$ && $WORKERS -le $HOSTS ]] ||
    die "WORKERS=$WORKERS HOSTS=$HOSTS: want 1 <= WORKERS <= HOSTS <= $LOX_MAX_WORKERS"
  [[ -x $PYTHON ]] || die "no interpreter at $PYTHON: run \`make venv\` first"
  cmd_down
  rm -rf "$LOX_RUN_DIR"
  mkdir -p "$LOX_RUN_DIR/logs" "$LOX_RUN_DIR/pids" "$LOX_RUN_DIR/shared"
  local hosts=(master driver) i
  for ((i = 1; i <= HOSTS; i++)); do hosts+=("w$i"); done
  "$HERE/netns.sh" up "${hosts[@]}"
  start master master "$HERE/spark-master.sh" "$(lox_ip master)" "$LOX_MASTER_PORT" \
    "$LOX_MASTER_WEBUI_PORT"
  for ((i = 1; i <= WORKERS; i++)); do start_worker "$i"; done
  wait_alive "$WORKERS"
  echo "cluster.sh: master $LOX_MASTER_URL with $WORKERS workers; run folder $LOX_RUN_DIR"
}

# Processes carrying the cluster's marker, whether or not still in a namespace;
# never this script or its ancestors.
marked_pids() {
  local keep=" $$ " pid=$$ p
  while ((pid > 1)); do
    pid=$(awk '/^PPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 1)
    keep+="$pid "
  done
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $keep == *" $p "* ]] && continue
    if grep -qz "^$LOX_MARKER=" "/proc/$p/environ" 2>/dev/null; then echo "$p"; fi
  done
}

cmd_down() {
  local pids f i
  # Namespaces first (everything inside them), then any marked process left over.
  "$HERE/netns.sh" down
  for ((i = 0; i < 50; i++)); do
    pids=$(marked_pids)
    [[ -z $pids ]] && break
    # shellcheck disable=SC2086
    kill -s KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  [[ -z $(marked_pids) ]] || echo "cluster.sh: marked processes survived KILL: $(marked_pids)" >&2
  for f in "$LOX_RUN_DIR"/pids/*.pid; do [[ -e $f ]] && rm -f "$f"; done
  return 0
}

cmd_run() {
  [[ $# -gt 0 ]] || die "run: name a command"
  trap cmd_down EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  cmd_up
  # In the background, so that a signal to this script runs its trap at once
  # (bash defers traps until a foreground command ends); `wait` passes on the status.
  cmd_exec driver "$@" 9>&- &
  wait $!
}

cmd_exec() {
  local host=$1
  shift
  # shellcheck disable=SC2046
  ip netns exec "$(lox_ns "$host")" env $(cluster_env "$host") "$@"
}

host_pids() { "$HERE/netns.sh" pids "w$1"; }

cmd_start_worker() {
  start_worker "$1"
  wait_alive 1 "$(lox_ip "w$1")"
}

cmd_stop_worker() {
  local pids
  pids=$(host_pids "$1")
  [[ -n $pids ]] || die "nothing runs on host w$1"
  # shellcheck disable=SC2086
  kill -s KILL $pids
  echo "$pids"
}

cmd_kill_executor() {
  local pid found=""
  for pid in $(host_pids "$1"); do
    if grep -qz CoarseGrainedExecutorBackend "/proc/$pid/cmdline" 2>/dev/null; then
      kill -s KILL "$pid" && found+="$pid "
    fi
  done
  [[ -n $found ]] || die "no executor JVM runs on host w$1"
  echo "$found"
}

cmd_link() { "$HERE/netns.sh" link "w$1" "$2"; }

lock() {
  exec 9>"$LOCK"
  flock -n 9 || die "another cluster run holds $LOCK"
}

[[ $# -gt 0 ]] || { sed -n '2,20p' "$0" >&2; exit 2; }
command=$1
shift
case $command in
  run) lock && cmd_run "$@" ;;
  up)
    lock
    trap 'rc=$?; ((rc == 0)) || cmd_down' EXIT
    cmd_up
    ;;
  down) lock && cmd_down ;;
  exec | link) "cmd_$command" "$@" ;;
  start-worker | stop-worker | kill-executor) "cmd_${command//-/_}" "$@" ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac

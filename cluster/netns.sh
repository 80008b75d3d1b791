#!/usr/bin/env bash
# Owns the test cluster's network: one namespace per host, each with loopback
# and an eth0 on 198.18.0.0/24, joined by a Linux bridge that lives in a
# namespace of its own (lox-br), so nothing of the cluster touches the root
# namespace's links, routes or firewall. Processes are cluster.sh's business,
# except that `down` kills whatever still runs in a lox- namespace (a namespace
# cannot go while a process holds it).
#
# Usage: netns.sh up HOST...         create the bridge (once) and these hosts
#        netns.sh down               remove every lox- namespace and link
#        netns.sh link HOST up|down  set HOST's bridge port up or down
#        netns.sh pids HOST          the processes in HOST's namespace
# HOST: master, driver, w1..w9. Needs root.
set -euo pipefail
# shellcheck source=cluster/config.sh
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"

has_ns() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }

bridge_up() {
  has_ns "$LOX_BRIDGE_NS" && return 0
  ip netns add "$LOX_BRIDGE_NS"
  ip -n "$LOX_BRIDGE_NS" link set lo up
  ip -n "$LOX_BRIDGE_NS" link add "$LOX_BRIDGE" type bridge
  ip -n "$LOX_BRIDGE_NS" link set "$LOX_BRIDGE" up
}

host_up() {
  local host=$1 ns ip
  ns=$(lox_ns "$host")
  ip=$(lox_ip "$host")
  has_ns "$ns" && return 0
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  # The bridge's port carries the host's namespace name; the host sees eth0.
  ip -n "$LOX_BRIDGE_NS" link add "$ns" type veth peer name eth0 netns "$ns"
  ip -n "$LOX_BRIDGE_NS" link set "$ns" master "$LOX_BRIDGE" up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set eth0 up
}

cmd_up() {
  [[ $# -gt 0 ]] || { echo "netns.sh up: name the hosts" >&2; exit 2; }
  bridge_up
  local host
  for host in "$@"; do host_up "$host"; done
}

lox_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep "^$LOX_PREFIX" || true; }

# Kills every process in the lox- namespaces: TERM, then KILL, each wait bounded.
kill_namespace_processes() {
  local signal ns pids i
  for signal in TERM KILL; do
    pids=""
    for ns in $(lox_namespaces); do pids+=" $(ip netns pids "$ns" 2>/dev/null || true)"; done
    [[ -z ${pids// /} ]] && return 0
    # shellcheck disable=SC2086
    kill -s "$signal" $pids 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      pids=""
      for ns in $(lox_namespaces); do pids+=" $(ip netns pids "$ns" 2>/dev/null || true)"; done
      [[ -z ${pids// /} ]] && return 0
      sleep 0.1
    done
  done
  echo "netns.sh: processes still in the namespaces after KILL:$pids" >&2
}

cmd_down() {
  kill_namespace_processes
  local ns link
  for ns in $(lox_namespaces); do ip netns del "$ns" 2>/dev/null || true; done
  # Links a killed run may have left in the root namespace.
  for link in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$LOX_PREFIX" || true); do
    ip link del "$link" 2>/dev/null || true
  done
}

cmd_link() {
  [[ $# -eq 2 && ($2 == up || $2 == down) ]] || { echo "netns.sh link HOST up|down" >&2; exit 2; }
  ip -n "$LOX_BRIDGE_NS" link set "$(lox_ns "$1")" "$2"
}

cmd_pids() { ip netns pids "$(lox_ns "$1")"; }

[[ $# -gt 0 ]] || { sed -n '2,14p' "$0" >&2; exit 2; }
command=$1
shift
case $command in
  up | down | link | pids) "cmd_$command" "$@" ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac

# shellcheck shell=bash disable=SC2034
# Owns the names and addresses of the namespace test cluster (sourced by
# netns.sh and cluster.sh; not executable). Every name starts with "lox-", so
# leftovers of a killed earlier run are recognised and removed.
#   namespaces: lox-master, lox-w1 .. lox-wN, lox-driver (hosts), lox-br (the bridge)
#   addresses:  master 198.18.0.10, worker i 198.18.0.1i, driver 198.18.0.20 (/24)

LOX_PREFIX=lox-
LOX_SUBNET=198.18.0
LOX_BRIDGE_NS=${LOX_PREFIX}br
LOX_BRIDGE=${LOX_PREFIX}br0
LOX_MASTER_PORT=7077
LOX_MASTER_WEBUI_PORT=8080
LOX_MAX_WORKERS=9
LOX_RUN_DIR=${LOXODON_CLUSTER_DIR:-/tmp/loxodon-cluster}
# Every process the cluster starts carries this variable (executors and Python
# workers inherit it), so teardown finds them even outside a namespace.
LOX_MARKER=LOXODON_CLUSTER_HOST

lox_root() { (cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd); }

lox_ns() { echo "${LOX_PREFIX}$1"; }

lox_ip() {
  case $1 in
    master) echo "$LOX_SUBNET.10" ;;
    driver) echo "$LOX_SUBNET.20" ;;
    w[1-9]) echo "$LOX_SUBNET.1${1#w}" ;;
    *)
      echo "unknown host '$1' (master, driver, w1..w$LOX_MAX_WORKERS)" >&2
      return 2
      ;;
  esac
}

LOX_MASTER_URL=spark://$(lox_ip master):$LOX_MASTER_PORT
LOX_MASTER_JSON=http://$(lox_ip master):$LOX_MASTER_WEBUI_PORT/json/

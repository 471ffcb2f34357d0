#!/usr/bin/env bash
# deploy/cluster.sh - a local replicated cluster for trying replication out:
# one nameserver and two broker groups (broker-a, broker-b), each a master
# and a slave, all on 127.0.0.1, stores and logs under HOME.
#
#   deploy/cluster.sh start [--home DIR] [--role SYNC_MASTER|ASYNC_MASTER]
#   deploy/cluster.sh stop [--home DIR]        slaves, then masters, then the nameserver
#   deploy/cluster.sh status [--home DIR]      exit 0 if all five run
#
# Ports (BASE_PORT, default 20911): nameserver BASE-1035 (19876); broker-a
# master BASE (HA port BASE+1), slave BASE+10; broker-b master BASE+100 (HA
# BASE+101), slave BASE+110. HOME defaults to ./cluster. Masters use --role
# (SYNC_MASTER by default: a send is acknowledged once the slave has it).
# Environment: MQ_BIN (default build/bin), MQ_CONF (default deploy/conf).
# Try: build/bin/mqadmin clusterList -n 127.0.0.1:19876
# Failover: kill -9 the broker-a master, then
#   build/bin/mqadmin haPromote -n 127.0.0.1:19876 -b broker-a
# (its slave becomes master; the old master, started again, rejoins as a slave).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="${MQ_BIN:-$repo/build/bin}"
conf="${MQ_CONF:-$repo/deploy/conf}"
base="${BASE_PORT:-20911}"
ns_port=$((base - 1035))
home="$PWD/cluster"
role=SYNC_MASTER
prog=cluster.sh

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

cmd="${1:-}"
[ -n "$cmd" ] || usage
shift
while [ $# -gt 0 ]; do
  case "$1" in
    --home) [ $# -ge 2 ] || usage; home="$2"; shift ;;
    --role) [ $# -ge 2 ] || usage; role="$2"; shift ;;
    -h|--help) usage ;;
    *) echo "cluster.sh: unknown option $1" >&2; usage ;;
  esac
  shift
done
case "$role" in SYNC_MASTER|ASYNC_MASTER) ;; *) echo "cluster.sh: --role is SYNC_MASTER or ASYNC_MASTER" >&2; exit 2 ;; esac

mkdir -p "$home"
home="$(cd "$home" && pwd)"
logs="$home/logs"
run="$home/run"
# shellcheck source=deploy/mq_lib.sh
. "$repo/deploy/mq_lib.sh"

# broker NAME GROUP ID PORT ROLE: starts one broker of a group.
broker() {
  local name="$1" group="$2" id="$3" port="$4" brole="$5"
  start_one "$name" "$logs/$name.log" "$bin/mqbroker" -c "$conf/broker.conf" -n "127.0.0.1:$ns_port" \
    --brokerIP1=127.0.0.1 --brokerName="$group" --brokerId="$id" --brokerRole="$brole" \
    --listenPort="$port" --haListenPort=$((port + 1)) --storePathRootDir="$home/store/$name"
}

members=(broker-a-s broker-b-s broker-a-m broker-b-m namesrv) # stop order

start_all() {
  for p in mqnamesrv mqbroker; do
    [ -x "$bin/$p" ] || { echo "cluster.sh: $bin/$p not found (build first)" >&2; exit 1; }
  done
  mkdir -p "$logs" "$run" "$home/store"
  start_one namesrv "$logs/namesrv.log" "$bin/mqnamesrv" -c "$conf/namesrv.conf" --listenPort="$ns_port"
  broker broker-a-m broker-a 0 "$base" "$role" &&
    broker broker-a-s broker-a 1 $((base + 10)) SLAVE &&
    broker broker-b-m broker-b 0 $((base + 100)) "$role" &&
    broker broker-b-s broker-b 1 $((base + 110)) SLAVE || { stop_all; exit 1; }
  echo "nameserver 127.0.0.1:$ns_port; broker-a master :$base slave :$((base + 10));" \
    "broker-b master :$((base + 100)) slave :$((base + 110)); masters $role; home $home"
}

stop_all() {
  local rc=0 m
  for m in "${members[@]}"; do stop_one "$m" || rc=1; done
  return $rc
}

case "$cmd" in
  start) start_all ;;
  stop) stop_all ;;
  status)
    rc=0
    for m in "${members[@]}"; do
      if pid="$(pid_of "$m")"; then echo "$m running (pid $pid)"; else echo "$m stopped"; rc=3; fi
    done
    exit $rc
    ;;
  *) usage ;;
esac

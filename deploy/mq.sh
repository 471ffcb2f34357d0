#!/usr/bin/env bash
# deploy/mq.sh - start, stop and inspect a local single-node system: one
# nameserver and one broker with the settings of deploy/conf/, the store
# under HOME/store and every log under HOME/logs.
#
#   deploy/mq.sh start [--foreground] [--home DIR]   start both (background by default)
#   deploy/mq.sh stop [--home DIR]                   SIGTERM broker then nameserver, wait
#   deploy/mq.sh status [--home DIR]                 running or not; exit 0 if both run
#
# HOME defaults to the current directory (./store, ./logs, ./run for pid
# files). Environment: MQ_BIN (default build/bin of this repository),
# NAMESRV_PORT (9876), BROKER_PORT (10911), MQ_CONF (default deploy/conf).
# With --foreground the script stays attached, shows the logs, and Ctrl-C
# stops both processes cleanly.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="${MQ_BIN:-$repo/build/bin}"
conf="${MQ_CONF:-$repo/deploy/conf}"
ns_port="${NAMESRV_PORT:-9876}"
broker_port="${BROKER_PORT:-10911}"
home="$PWD"
foreground=0

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

cmd="${1:-}"
[ -n "$cmd" ] || usage
shift
while [ $# -gt 0 ]; do
  case "$1" in
    --foreground) foreground=1 ;;
    --home) [ $# -ge 2 ] || usage; home="$2"; shift ;;
    -h|--help) usage ;;
    *) echo "mq.sh: unknown option $1" >&2; usage ;;
  esac
  shift
done

mkdir -p "$home"
home="$(cd "$home" && pwd)"
logs="$home/logs"
run="$home/run"

prog=mq.sh
# shellcheck source=deploy/mq_lib.sh
. "$repo/deploy/mq_lib.sh"

start_all() {
  for p in mqnamesrv mqbroker; do
    [ -x "$bin/$p" ] || { echo "mq.sh: $bin/$p not found (build first: cmake -S . -B build && cmake --build build)" >&2; exit 1; }
  done
  mkdir -p "$logs" "$run" "$home/store"
  start_one namesrv "$logs/namesrv.log" "$bin/mqnamesrv" -c "$conf/namesrv.conf" --listenPort="$ns_port"
  start_one broker "$logs/broker.log" "$bin/mqbroker" -c "$conf/broker.conf" -n "127.0.0.1:$ns_port" \
    --listenPort="$broker_port" --storePathRootDir="$home/store" || { stop_one namesrv; exit 1; }
  echo "nameserver on 127.0.0.1:$ns_port, broker on port $broker_port, store $home/store, logs $logs"
}

stop_all() {
  local rc=0
  stop_one broker || rc=1 # first: it unregisters from the nameserver
  stop_one namesrv || rc=1
  return $rc
}

case "$cmd" in
  start)
    start_all
    if [ "$foreground" = 1 ]; then
      tail -n +1 -F "$logs/namesrv.log" "$logs/broker.log" &
      tailer=$!
      trap 'trap - INT TERM EXIT; kill $tailer 2>/dev/null; stop_all; exit 0' INT TERM EXIT
      echo "(Ctrl-C stops both)"
      while pid_of namesrv >/dev/null && pid_of broker >/dev/null; do sleep 1; done
      echo "mq.sh: a process exited; stopping the other" >&2
      trap - INT TERM EXIT
      kill "$tailer" 2>/dev/null || true
      stop_all || true
      exit 1
    fi
    ;;
  stop)
    stop_all
    ;;
  status)
    rc=0
    for name in namesrv broker; do
      if pid="$(pid_of "$name")"; then echo "$name running (pid $pid)"; else echo "$name stopped"; rc=3; fi
    done
    exit $rc
    ;;
  *)
    usage
    ;;
esac

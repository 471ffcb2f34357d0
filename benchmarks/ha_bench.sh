#!/usr/bin/env bash
# benchmarks/ha_bench.sh - replication figures (issue 14), printed as a small
# markdown table:
#
#   1. send throughput and p99 of a single broker, an ASYNC_MASTER with a
#      slave and a SYNC_MASTER with a slave, in the same run: `mqbench
#      producer` with the same flags against each, the setups interleaved
#      (run 1 of each, then run 2, ...), median of --runs runs; every run on
#      fresh processes and stores;
#   2. slave catch-up: a master is filled with --catchup-mb MB of 1 KiB
#      messages, then an empty slave is started against it; MB/s from the
#      slave's start to its CommitLog reaching the master's end (brokerStatus
#      haSlaveOffset, polled);
#   3. master kill -9 to consumption from the slave: on that same pair, a
#      consumer group (`mqbench consumer`, no slaveReadEnable, so it reads the
#      master) works through the backlog; once the master has served
#      --kill-after messages it is killed with SIGKILL, and the figure is the
#      time until the slave has served its first messages (brokerStatus
#      msgGetTotalSinceStart, polled: the resolution is one poll, printed).
#
#   benchmarks/ha_bench.sh [--runs N] [--duration S] [--threads N] [--catchup-mb MB] [--kill-after N] [--keep]
#
# Every process runs on free loopback ports in a private directory under
# BENCH_TMP (default /var/tmp: a real disk), removed at the end unless
# --keep. Programs come from MQ_BIN (default build/bin, built beforehand).
# ASYNC_FLUSH everywhere: the figures isolate replication, not fsync.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="${MQ_BIN:-$repo/build/bin}"
runs=3 duration=10 threads=4 catchup_mb=500 kill_after=50000 keep=0
SIZE=1024
TOPIC=HaBench

usage() { sed -n '2,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift ;;
    --duration) duration="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    --catchup-mb) catchup_mb="$2"; shift ;;
    --kill-after) kill_after="$2"; shift ;;
    --keep) keep=1 ;;
    -h|--help) usage ;;
    *) echo "ha_bench: unknown option $1" >&2; usage ;;
  esac
  shift
done
for v in "$runs" "$duration" "$threads" "$catchup_mb" "$kill_after"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "ha_bench: numbers must be positive integers" >&2; exit 2; }
done
for p in mqnamesrv mqbroker mqadmin mqbench; do
  [ -x "$bin/$p" ] || { echo "ha_bench: $bin/$p missing (build first, or set MQ_BIN)" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "ha_bench: needs jq" >&2; exit 1; }

tmp="$(mktemp -d "${BENCH_TMP:-/var/tmp}/ha_bench.XXXXXX")"
pids=()
say() { echo "ha_bench: $*" >&2; }

cleanup() {
  local p
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$keep" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

# wait_log FILE REGEX PID SECONDS: until FILE matches REGEX; fails if PID exits.
wait_log() {
  local file="$1" re="$2" pid="$3" secs="$4" i
  for ((i = 0; i < secs * 20; i++)); do
    grep -Eq "$re" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { say "process $pid exited; see $file"; tail -n 20 "$file" >&2; return 1; }
    sleep 0.05
  done
  say "not ready after $secs s: $file"
  return 1
}
port_of() { grep -Eo "$2 [0-9]+" "$1" | head -n 1 | grep -Eo '[0-9]+$'; }

# stop PID: SIGTERM, then SIGKILL after 30 s.
stop() {
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# start_ns DIR: sets ns (address) and ns_pid.
start_ns() {
  mkdir -p "$1"
  "$bin/mqnamesrv" --listenPort=0 >"$1/namesrv.log" 2>&1 </dev/null &
  ns_pid=$!
  pids+=("$ns_pid")
  wait_log "$1/namesrv.log" "listening on port [0-9]+" "$ns_pid" 15
  ns="127.0.0.1:$(port_of "$1/namesrv.log" "listening on port")"
}

# start_broker DIR NAME ROLE ID [FLAGS...]: sets b_addr, b_pid, b_ha (master's HA port).
start_broker() {
  local d="$1" name="$2" role="$3" id="$4"
  shift 4
  mkdir -p "$d"
  "$bin/mqbroker" --listenPort=0 --haListenPort=0 --brokerIP1=127.0.0.1 --brokerName="$name" --brokerId="$id" \
    --brokerRole="$role" -n "$ns" --storePathRootDir="$d/store" --flushDiskType=ASYNC_FLUSH \
    --registerNameServerPeriod=1000 "$@" >"$d/broker.log" 2>&1 </dev/null &
  b_pid=$!
  pids+=("$b_pid")
  wait_log "$d/broker.log" "listening on port [0-9]+" "$b_pid" 30
  b_addr="127.0.0.1:$(port_of "$d/broker.log" "listening on port")"
  b_ha="$(port_of "$d/broker.log" "HA: accepting slaves on port" || true)"
}

# status ADDR KEY: a number from mqadmin brokerStatus (empty if absent).
status() {
  "$bin/mqadmin" brokerStatus -n "$ns" -b "$1" 2>/dev/null |
    sed -n "s/^$2[[:space:]]*:[[:space:]]*\([0-9-]*\).*/\1/p" | head -n 1
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# ---- 1. send throughput: single, ASYNC_MASTER + slave, SYNC_MASTER + slave ----
results="$tmp/throughput.jsonl"
: >"$results"
setups="single async sync"
for ((run = 1; run <= runs; run++)); do
  for setup in $setups; do
    d="$tmp/tp-$setup-$run"
    start_ns "$d"
    case "$setup" in
      single) start_broker "$d/m" tp ASYNC_MASTER 0; m_pid=$b_pid; m_addr=$b_addr; s_pid="" ;;
      async | sync)
        role=ASYNC_MASTER
        [ "$setup" = sync ] && role=SYNC_MASTER
        start_broker "$d/m" tp "$role" 0; m_pid=$b_pid; m_addr=$b_addr; m_ha=$b_ha
        start_broker "$d/s" tp SLAVE 1 --haMasterAddress="127.0.0.1:$m_ha"; s_pid=$b_pid
        wait_log "$d/s/broker.log" "HA: connected to master" "$s_pid" 15 ;;
    esac
    "$bin/mqadmin" updateTopic -n "$ns" -b "$m_addr" -t "$TOPIC" -r 8 -w 8 >"$d/updateTopic.log" 2>&1
    "$bin/mqbench" producer -n "$ns" -t "$TOPIC" -s "$SIZE" -w "$threads" --duration "$duration" --json \
      >"$d/mqbench.log" 2>&1 </dev/null || say "$setup run $run: mqbench exit status $?"
    json="$(grep '^{' "$d/mqbench.log" | tail -n 1)"
    [ -n "$json" ] || { say "$setup run $run: no JSON line"; tail -n 5 "$d/mqbench.log" >&2; }
    [ -z "$json" ] || jq -c --arg s "$setup" --argjson r "$run" '. + {setup: $s, run: $r}' <<<"$json" >>"$results"
    [ -z "$json" ] || say "$setup run $run: $(jq -r '"\(.msgs_per_sec | round) msgs/s, p99 \(.p99_ms) ms, errors \(.errors)"' <<<"$json")"
    [ -z "$s_pid" ] || stop "$s_pid"
    stop "$m_pid"
    stop "$ns_pid"
    rm -rf "$d/m/store" "$d/s/store"
  done
done

# ---- 2. slave catch-up from empty ----
d="$tmp/catchup"
start_ns "$d"
start_broker "$d/m" cu ASYNC_MASTER 0 --mapedFileSizeCommitLog=104857600
m_pid=$b_pid m_addr=$b_addr m_ha=$b_ha
"$bin/mqadmin" updateTopic -n "$ns" -b "$m_addr" -t "$TOPIC" -r 8 -w 8 >"$d/updateTopic.log" 2>&1
count=$((catchup_mb * 1024))
say "filling the master with $catchup_mb MB ($count messages of $SIZE bytes)"
"$bin/mqbench" producer -n "$ns" -t "$TOPIC" -s "$SIZE" -w "$threads" --duration 0 --count "$count" --json \
  >"$d/fill.log" 2>&1 </dev/null
target="$(status "$m_addr" commitLogMaxOffset)"
t0="$(now_ms)"
start_broker "$d/s" cu SLAVE 1 --haMasterAddress="127.0.0.1:$m_ha" --mapedFileSizeCommitLog=104857600
s_pid=$b_pid s_addr=$b_addr
while :; do
  at="$(status "$s_addr" haSlaveOffset)"
  [ -n "$at" ] && [ "$at" -ge "$target" ] && break
  kill -0 "$s_pid" 2>/dev/null || { say "the slave exited"; exit 1; }
  sleep 0.05
done
t1="$(now_ms)"
catchup_s="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", (b - a) / 1000}')"
catchup_mbs="$(awk -v n="$target" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / 1048576 / ((b - a) / 1000)}')"
catchup_size="$(awk -v n="$target" 'BEGIN {printf "%.0f", n / 1048576}')"
say "catch-up: $catchup_size MB in $catchup_s s = $catchup_mbs MB/s (from the slave's process start)"

# ---- 3. master kill -9 -> consumption from the slave ----
"$bin/mqbench" consumer -n "$ns" -t "$TOPIC" -s "$SIZE" -g ha_bench_group --from first --duration 0 --json \
  >"$d/consumer.log" 2>&1 </dev/null &
c_pid=$!
pids+=("$c_pid")
while :; do
  got="$(status "$m_addr" msgGetTotalSinceStart)"
  [ -n "$got" ] && [ "$got" -ge "$kill_after" ] && break
  sleep 0.01
done
slave_before="$(status "$s_addr" msgGetTotalSinceStart)"
[ "$got" -lt "$count" ] || say "the consumer read the whole backlog before the kill: raise --catchup-mb"
kill -KILL "$m_pid"
k0="$(now_ms)"
{ wait "$m_pid"; } 2>/dev/null || true
polls=0 poll_ms_total=0
while :; do
  p0="$(now_ms)"
  got="$(status "$s_addr" msgGetTotalSinceStart)"
  p1="$(now_ms)"
  polls=$((polls + 1)) poll_ms_total=$((poll_ms_total + p1 - p0))
  [ -n "$got" ] && [ "$got" -gt "$slave_before" ] && break
  [ $((p1 - k0)) -lt 120000 ] || { say "no consumption from the slave within 120 s"; break; }
done
k1="$(now_ms)"
resume_ms=$((k1 - k0))
poll_ms=$((poll_ms_total / polls))
say "kill -9 of the master to the slave serving the group: $resume_ms ms (poll ~$poll_ms ms)"
kill -TERM "$c_pid" 2>/dev/null || true
wait "$c_pid" 2>/dev/null || true
stop "$s_pid"
stop "$ns_pid"

# ---- the table ----
row() {
  local s="$1" label="$2" tp p99
  tp="$(jq -r --arg s "$s" 'select(.setup == $s) | .msgs_per_sec' "$results" | median)"
  p99="$(jq -r --arg s "$s" 'select(.setup == $s) | .p99_ms' "$results" | median)"
  printf '| %s | %.0f | %.2f |\n' "$label" "$tp" "$p99"
}
echo
echo "Send throughput (mqbench producer -s $SIZE -w $threads --duration $duration, sync sends, ASYNC_FLUSH; median of $runs runs):"
echo
echo "| setup | msgs/s | p99 ms |"
echo "|---|---|---|"
row single "single broker"
row async "ASYNC_MASTER + slave"
row sync "SYNC_MASTER + slave"
echo
echo "| replication | figure |"
echo "|---|---|"
echo "| slave catch-up from empty ($catchup_size MB on the master) | $catchup_mbs MB/s ($catchup_s s from the slave's start) |"
echo "| master kill -9 to the slave serving the consumer group | $resume_ms ms (brokerStatus polled every ~$poll_ms ms) |"

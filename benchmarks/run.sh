#!/usr/bin/env bash
# benchmarks/run.sh - runs the standard workloads (SPEC section 10, issue 6)
# against our broker and, in the same run, against the peer brokers
# installed from Debian packages (Redis Streams, RabbitMQ, NATS JetStream),
# then writes benchmarks/RESULTS.md.
#
# How it measures: every system is started by this script, fresh for each
# run of each workload, in a private temporary directory on free ports,
# with the durability setting the workload calls for, and stopped
# afterwards. The load comes from build/bin/mqbench for ours and from
# benchmarks/peers/ (redis_bench, rabbitmq_bench, nats_bench: same flags,
# same histogram, same JSON line) for the peers. Workloads run one after the
# other with the systems interleaved (W1 run 1 for every system, then W1
# run 2, ...), so slow phases of a shared machine hit all systems alike;
# each figure in RESULTS.md is the median of --runs runs. 1 KiB bodies
# everywhere. W4 measures ours twice, each on a fresh broker: with the pull
# consumer (row W4, a thread per queue in a long poll, as each peer's
# consumer is a thread blocked on its socket) and with the push consumer
# (row W4-push). See benchmarks/README.md for the workloads and how each
# system is configured.
#
#   benchmarks/run.sh [--quick] [--only SYSTEMS] [--workloads W1,W3] [--runs N] [--out FILE] [--keep]
#
#   --quick           short runs for development (3 s instead of 10-20 s,
#                     a 50,000-message backlog instead of 1,000,000)
#   --only SYSTEMS    comma-separated: mq, redis, rabbitmq, nats (or a target
#                     such as rabbitmq-quorum); default all
#   --workloads LIST  comma-separated subset of W1,W2,W3,W4,W5 (default all)
#   --runs N          runs per figure, the median is reported (3)
#   --out FILE        where to write the results (benchmarks/RESULTS.md)
#   --keep            keep the temporary directory (logs, data) at the end
#
# Needs root or sudo only to install missing packages. Environment:
# BENCH_TMP (parent of the temporary directory, default /var/tmp: it must be
# a real disk, not tmpfs, for fsync to mean anything); BENCH_THREADS (W1
# producer connections, 4), BENCH_WINDOW (peers' messages in flight per
# connection, 512), BENCH_BATCH (peers' consumer batch / prefetch, 500),
# MQ_BIN (our programs, default build/bin, which the script builds; when
# MQ_BIN is set the script uses it as it is).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
self="$repo/benchmarks/$(basename "$0")"
cd "$repo"
args_given="$*"

quick=0
only="mq,redis,rabbitmq,nats"
workloads="W1,W2,W3,W4,W5"
runs=3
out="$repo/benchmarks/RESULTS.md"
keep=0

usage() {
  sed -n '2,/^set /{/^#/p}' "$self" | sed 's/^# \{0,1\}//'
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --only) [ $# -ge 2 ] || usage; only="$2"; shift ;;
    --workloads) [ $# -ge 2 ] || usage; workloads="$2"; shift ;;
    --runs) [ $# -ge 2 ] || usage; runs="$2"; shift ;;
    --out) [ $# -ge 2 ] || usage; out="$2"; shift ;;
    --keep) keep=1 ;;
    -h|--help) usage ;;
    *) echo "run.sh: unknown option $1" >&2; usage ;;
  esac
  shift
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --runs needs a positive number" >&2; exit 2; }
for w in ${workloads//,/ }; do
  [[ "$w" =~ ^W[1-5]$ ]] || { echo "run.sh: unknown workload $w (W1..W5)" >&2; exit 2; }
done

# ---- workload parameters (the same for every system) ----
SIZE=1024
THREADS_W1=${BENCH_THREADS:-4}  # producer connections for W1 and the W3 prefill
WINDOW=${BENCH_WINDOW:-512}     # peers: messages in flight per connection (async)
BATCH=${BENCH_BATCH:-500}       # peers: messages per fetch / prefetch (consumers)
RATE_W4=5000                    # messages per second for W4
W5_PRODUCERS="1 8 64"
if [ "$quick" = 1 ]; then
  DUR=3; DUR_W4=5; DUR_W5=3; BACKLOG=50000
else
  DUR=10; DUR_W4=20; DUR_W5=10; BACKLOG=1000000
fi
CONSUME_CAP=600    # W3: give up after this many seconds

TARGETS="mq redis rabbitmq-classic rabbitmq-quorum nats"
PEER_PACKAGES=(redis-server redis-tools rabbitmq-server nats-server libhiredis-dev librabbitmq-dev
  golang-go golang-github-nats-io-go-nats-dev jq iproute2)

say() { echo "bench: $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

# ---- set-up: packages, our build, the peer tools ----

install_peer_packages() {
  local missing=() p
  for p in "${PEER_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "need root to install: ${missing[*]}"
    sudo=sudo
  fi
  say "installing ${missing[*]}"
  local log
  log=$(mktemp)
  # policy-rc.d keeps the packages' own services (rabbitmq-server, redis,
  # nats) from starting: this script starts private instances.
  local policy=/usr/sbin/policy-rc.d had_policy=1
  if [ ! -e "$policy" ]; then
    had_policy=0
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
  fi
  if ! { $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
         $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
       >"$log" 2>&1; then
    [ "$had_policy" = 1 ] || $sudo rm -f "$policy"
    tail -n 30 "$log" >&2
    rm -f "$log"
    die "apt-get failed while installing: ${missing[*]}"
  fi
  [ "$had_policy" = 1 ] || $sudo rm -f "$policy"
  rm -f "$log"
}

build_ours() {
  bash deploy/setup.sh
  local log="$tmp/logs/build.log"
  if [ ! -f build/CMakeCache.txt ]; then
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >"$log" 2>&1 || { tail -n 30 "$log" >&2; die "cmake failed"; }
  fi
  cmake --build build -j"$(nproc)" --target mqnamesrv mqbroker mqadmin mqbench >>"$log" 2>&1 ||
    { tail -n 30 "$log" >&2; die "building our programs failed (see above)"; }
  build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' build/CMakeCache.txt)
  sanitize=$(sed -n 's/^MQ_SANITIZE:[A-Z]*=//p' build/CMakeCache.txt)
  case "$sanitize" in ON|on|1|TRUE|true) say "warning: build/ is a sanitizer build: our figures will be low" ;; esac
}

# newer SOURCES... than TARGET (or TARGET missing)?
stale() {
  local target="$1" s
  shift
  [ -x "$target" ] || return 0
  for s in "$@"; do [ "$s" -nt "$target" ] && return 0; done
  return 1
}

build_peers() {
  peers="$repo/build/peers"
  mkdir -p "$peers"
  local src="$repo/benchmarks/peers" log="$tmp/logs/build-peers.log"
  local cflags=(-std=c11 -O2 -g -Wall -Wextra)
  if stale "$peers/redis_bench" "$src/redis_bench.c" "$src/peer_common.c" "$src/peer_common.h"; then
    cc "${cflags[@]}" -o "$peers/redis_bench" "$src/redis_bench.c" "$src/peer_common.c" -lhiredis -lpthread \
      >>"$log" 2>&1 || { cat "$log" >&2; die "building redis_bench failed"; }
  fi
  if stale "$peers/rabbitmq_bench" "$src/rabbitmq_bench.c" "$src/peer_common.c" "$src/peer_common.h"; then
    cc "${cflags[@]}" -o "$peers/rabbitmq_bench" "$src/rabbitmq_bench.c" "$src/peer_common.c" -lrabbitmq -lpthread \
      >>"$log" 2>&1 || { cat "$log" >&2; die "building rabbitmq_bench failed"; }
  fi
  if stale "$peers/nats_bench" "$src/nats_bench/main.go"; then
    # Debian's Go and nats.go, offline: GOPATH mode over /usr/share/gocode.
    (cd "$src/nats_bench" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$peers/gocache" GOFLAGS='' \
      go build -o "$peers/nats_bench" .) >>"$log" 2>&1 || { cat "$log" >&2; die "building nats_bench failed"; }
  fi
}

# ---- ports, processes ----

# Ports come from below the kernel's ephemeral range, so that no outgoing
# connection of anyone on the machine holds them when a server binds.
used_ports=" "
read -r eph_low _ </proc/sys/net/ipv4/ip_local_port_range
port_low=10000
port_high=$((eph_low > 20000 ? eph_low - 1 : 60000))
[ "$port_high" -gt 32767 ] || port_high=32767
free_port() { # a TCP port no socket uses and this script has not handed out
  local p
  while :; do
    p=$((port_low + RANDOM % (port_high - port_low)))
    case "$used_ports" in *" $p "*) continue ;; esac
    if ! ss -Htan "sport = :$p" 2>/dev/null | grep -q .; then
      used_ports+="$p "
      echo "$p"
      return
    fi
  done
}

# wait_log FILE REGEX PID SECONDS: until FILE matches REGEX; fails if PID exits.
wait_log() {
  local file="$1" re="$2" pid="$3" secs="$4" i
  for ((i = 0; i < secs * 20; i++)); do
    grep -Eq "$re" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { say "process $pid exited; see $file"; tail -n 20 "$file" >&2; return 1; }
    sleep 0.05
  done
  say "not ready after $secs s; see $file"
  return 1
}

# stop_pid PID [SECONDS]: SIGTERM, wait, then SIGKILL.
stop_pid() {
  local pid="$1" secs="${2:-30}" i
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  say "process $pid did not stop within $secs s of SIGTERM; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

# ---- the systems: start_<system> DIR WORKLOAD / stop_<system> ----
# Each start sets what its client needs (port or nameserver), and
# DURABILITY when the text is this script's to give.

srv_pids=()
stop_fn=""

start_mq() {
  local d="$1" w="$2" flush=ASYNC_FLUSH
  [ "$w" = W5 ] && flush=SYNC_FLUSH
  stop_fn=stop_mq
  mq_ns_pid="" mq_broker_pid=""
  mkdir -p "$d"
  setsid "$bin/mqnamesrv" --listenPort=0 >"$d/namesrv.log" 2>&1 </dev/null &
  mq_ns_pid=$!
  srv_pids+=("$mq_ns_pid")
  wait_log "$d/namesrv.log" "listening on port [0-9]+" "$mq_ns_pid" 15 || return 1
  mq_ns="127.0.0.1:$(grep -Eo 'listening on port [0-9]+' "$d/namesrv.log" | head -n 1 | grep -Eo '[0-9]+$')"
  setsid "$bin/mqbroker" --listenPort=0 --haListenPort="$(free_port)" --brokerIP1=127.0.0.1 --brokerName=bench \
    -n "$mq_ns" --storePathRootDir="$d/store" --flushDiskType="$flush" >"$d/broker.log" 2>&1 </dev/null &
  mq_broker_pid=$!
  srv_pids+=("$mq_broker_pid")
  wait_log "$d/broker.log" "listening on port [0-9]+" "$mq_broker_pid" 30 || return 1
  mq_broker="127.0.0.1:$(grep -Eo 'listening on port [0-9]+' "$d/broker.log" | head -n 1 | grep -Eo '[0-9]+$')"
  "$bin/mqadmin" updateTopic -n "$mq_ns" -b "$mq_broker" -t "$TOPIC" -r 8 -w 8 >"$d/updateTopic.log" 2>&1 ||
    say "mq: updateTopic failed (the broker may still create $TOPIC on first send); see $d/updateTopic.log"
  if [ "$flush" = SYNC_FLUSH ]; then
    DURABILITY="flushDiskType=SYNC_FLUSH: ack after fsync (group commit)"
  else
    DURABILITY="flushDiskType=ASYNC_FLUSH: ack before fsync (flush every 500 ms)"
  fi
}

stop_mq() {
  stop_pid "$mq_broker_pid" # first: it unregisters from the nameserver
  stop_pid "$mq_ns_pid"
}

start_redis() {
  local d="$1" w="$2" fsync=everysec
  [ "$w" = W5 ] && fsync=always
  stop_fn=stop_redis
  redis_pid=""
  mkdir -p "$d"
  redis_port=$(free_port)
  # AOF on, RDB snapshots off, no automatic AOF rewrite during a run (a
  # rewrite forks the whole dataset; our broker has no such pause either).
  cat >"$d/redis.conf" <<EOF
bind 127.0.0.1
port $redis_port
dir $d
daemonize no
logfile $d/redis.log
save ""
appendonly yes
appendfsync $fsync
auto-aof-rewrite-percentage 0
EOF
  setsid redis-server "$d/redis.conf" >"$d/stdout.log" 2>&1 </dev/null &
  redis_pid=$!
  srv_pids+=("$redis_pid")
  wait_log "$d/redis.log" "Ready to accept connections" "$redis_pid" 15 || return 1
  DURABILITY="" # redis_bench reads appendonly/appendfsync from the server
}

stop_redis() { stop_pid "$redis_pid"; }

start_rabbitmq() {
  local d="$1"
  stop_fn=stop_rabbitmq
  rmq_pid=""
  mkdir -p "$d/mnesia" "$d/log"
  rmq_port=$(free_port)
  local dist epmd
  dist=$(free_port)
  epmd=$(free_port)
  rmq_node="bench$rmq_port@localhost"
  printf 'disk_free_limit.absolute = 1GB\n' >"$d/rabbitmq.conf"
  echo '[].' >"$d/enabled_plugins"
  : >"$d/rabbitmq-env.conf"
  # Everything private: node name, ports (AMQP, distribution, epmd), data,
  # logs, config, cookie ($HOME), no system-wide rabbitmq-env.conf.
  rmq_env=(HOME="$d" RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf" RABBITMQ_NODENAME="$rmq_node"
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$rmq_port" RABBITMQ_DIST_PORT="$dist"
    ERL_EPMD_PORT="$epmd" ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log"
    RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config"
    RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" RABBITMQ_PID_FILE="$d/rabbitmq.pid"
    ERL_CRASH_DUMP="$d/erl_crash.dump")
  env "${rmq_env[@]}" setsid "$rmq_server" >"$d/stdout.log" 2>&1 </dev/null &
  rmq_pid=$!
  srv_pids+=("$rmq_pid")
  local i
  for ((i = 0; i < 90; i++)); do
    env "${rmq_env[@]}" "$rmq_ctl" -n "$rmq_node" await_startup --timeout 5 >/dev/null 2>&1 && break
    kill -0 "$rmq_pid" 2>/dev/null || { say "rabbitmq exited; see $d/stdout.log"; tail -n 20 "$d/stdout.log" >&2; return 1; }
    sleep 1
  done
  env "${rmq_env[@]}" "$rmq_ctl" -n "$rmq_node" await_startup --timeout 5 >/dev/null 2>&1 ||
    { say "rabbitmq not ready; see $d/log"; return 1; }
  DURABILITY="" # rabbitmq_bench states it per queue type
}

stop_rabbitmq() {
  [ -n "$rmq_pid" ] && env "${rmq_env[@]}" timeout 60 "$rmq_ctl" -n "$rmq_node" stop >/dev/null 2>&1 || true
  stop_pid "$rmq_pid"
  # the node started its own epmd on the private port: stop that one
  env "${rmq_env[@]}" epmd -kill >/dev/null 2>&1 || true
}

start_nats() {
  local d="$1" w="$2"
  stop_fn=stop_nats
  nats_pid=""
  mkdir -p "$d"
  nats_port=$(free_port)
  setsid nats-server -js -sd "$d/js" -a 127.0.0.1 -p "$nats_port" -l "$d/nats.log" >"$d/stdout.log" 2>&1 </dev/null &
  nats_pid=$!
  srv_pids+=("$nats_pid")
  wait_log "$d/nats.log" "Server is ready" "$nats_pid" 15 || return 1
  DURABILITY="file store, PubAck before fsync (nats-server $nats_version has no sync option; fsync every 2 min)"
  if [ "$w" = W5 ]; then DURABILITY="NOT after fsync: $DURABILITY"; fi
}

stop_nats() { stop_pid "$nats_pid"; }

stop_current() {
  if [ -n "$stop_fn" ]; then
    $stop_fn || true
    stop_fn=""
  fi
  local p
  for p in "${srv_pids[@]}"; do stop_pid "$p" 5; done
  srv_pids=()
}

cleanup() {
  stop_current
  if [ "$keep" = 1 ]; then
    say "kept $tmp"
  else
    rm -rf "$tmp"
  fi
}

# ---- running one workload on one target ----

# measure LABEL SECONDS MODE FLAGS...: runs the current target's load
# generator with its connection flags (killed after SECONDS), keeps its
# output in the logs, leaves its JSON line in $json (empty on failure) and
# the reason in $why. Peers also get --workload (mqbench has no such flag).
measure() {
  local label="$1" secs="$2" rc=0 tool_bin
  shift 2
  local flags=()
  case "$target" in
    mq) tool_bin="$bin/mqbench"; flags=(-n "$mq_ns") ;;
    redis) tool_bin="$peers/redis_bench"; flags=(-p "$redis_port") ;;
    rabbitmq-*) tool_bin="$peers/rabbitmq_bench"; flags=(-p "$rmq_port" --queue-type "${target#rabbitmq-}") ;;
    nats) tool_bin="$peers/nats_bench"; flags=(-p "$nats_port" --durability "$DURABILITY") ;;
  esac
  [ "$target" = mq ] || flags+=(--window "$WINDOW" --batch "$BATCH" --workload "$label_workload")
  local logf="$tmp/logs/$label.log"
  echo "+ $tool_bin $* -t $TOPIC -s $SIZE --json ${flags[*]}" >"$logf"
  timeout --signal=TERM --kill-after=10 "$secs" "$tool_bin" "$@" -t "$TOPIC" -s "$SIZE" --json "${flags[@]}" \
    >>"$logf" 2>&1 </dev/null || rc=$?
  json=$(grep '^{' "$logf" | tail -n 1 || true)
  why=""
  if [ -z "$json" ] || ! jq -e . >/dev/null 2>&1 <<<"$json"; then
    json=""
    why="exit status $rc, no JSON line: $(grep -v '^\[\|^+ ' "$logf" | tail -n 3 | tr '\n' ' ' | cut -c1-300 | sed 's/ *$//')"
  elif [ "$(jq -r '.count // .msgs // 0' <<<"$json")" = 0 ]; then
    json=""
    why="no message got through (exit status $rc): $(grep -v '^\[\|^+ \|^{' "$logf" | tail -n 3 | tr '\n' ' ' | cut -c1-300 | sed 's/ *$//')"
  elif [ "$rc" -ne 0 ]; then
    why="exit status $rc"
  fi
}

# mq_status KEY: a number from `mqadmin brokerStatus` (empty if absent).
mq_status() {
  "$bin/mqadmin" brokerStatus -n "$mq_ns" -b "$mq_broker" 2>/dev/null |
    sed -n "s/^$1[[:space:]]*:[[:space:]]*\([0-9.]*\).*/\1/p" | head -n 1
}

# workload_label WORKLOAD: how progress lines name a workload that is not
# one of W1..W5 (empty for those).
workload_label() {
  case "$1" in
    W3-prefill) echo "W3 prefill: " ;;
    W4-push) echo "W4 push consumer: " ;;
  esac
}

# record WORKLOAD RUN PRODUCERS [EXTRA_JSON]: adds $json to the results.
record() {
  local w="$1" run="$2" producers="$3" extra="${4:-}" w_label
  [ -n "$extra" ] || extra='{}'
  w_label=$(workload_label "$w")
  jq -c --arg target "$target" --arg w "$w" --argjson run "$run" --argjson producers "$producers" \
    --arg durability "$DURABILITY" --argjson extra "$extra" \
    '. + {target: $target, workload: $w, run: $run, producers: $producers,
          system: (.system // "mq"), count: (.count // .msgs),
          durability: (if $durability != "" then $durability else (.durability // "") end)} + $extra' \
    <<<"$json" >>"$results"
  say "  $w_label$(tail -n 1 "$results" | jq -r '"\(.target): \(.msgs_per_sec | round) msgs/s, p50 \(.p50_ms) ms, p99 \(.p99_ms) ms, errors \(.errors)"')"
}

fail() { # WORKLOAD RUN PRODUCERS REASON
  local w_label
  w_label=$(workload_label "$1")
  jq -cn --arg target "$target" --arg w "$1" --argjson run "$2" --argjson producers "$3" --arg why "$4" \
    '{target: $target, workload: $w, run: $run, producers: $producers, error: $why}' >>"$failures"
  say "  $w_label$target: NOT MEASURED: $4"
  if [ "$target" = mq ] && [ -z "$mq_unavailable" ] && grep -q "not implemented" <<<"$4"; then
    mq_unavailable="build/bin/mqbench is still a placeholder; it says: $(grep -o 'mqbench: [^.]*not implemented[^.]*' <<<"$4" | head -n 1)"
  fi
}

# run_one WORKLOAD RUN [PRODUCERS]: start the target fresh, load it, stop it.
run_one() {
  local w="$1" run="$2" producers="${3:-1}"
  local d="$tmp/data/$target-$w-$run-$producers" label="$w-$target-run$run-p$producers"
  local system="${target%%-*}"
  local base="${w%%-*}" # W4-push shares W4's topic name
  TOPIC="bench_${base,,}"
  if [ "$target" = mq ] && [ -n "$mq_unavailable" ]; then
    fail "$w" "$run" "$producers" "skipped: $mq_unavailable"
    return 0
  fi
  local attempt started=0
  for attempt in 1 2; do # a second try on new ports: the machine is shared
    if "start_$system" "$d.$attempt" "$w" >>"$tmp/logs/$label.server.log" 2>&1; then
      started=1
      break
    fi
    stop_current
  done
  if [ "$started" = 0 ]; then
    tail -n 20 "$tmp/logs/$label.server.log" >&2
    fail "$w" "$run" "$producers" "could not start $system (logs kept in $d.*)"
    keep=1
    return 0
  fi
  [ "$attempt" = 2 ] && rm -rf "$d.1"
  d="$d.$attempt"
  local extra="{}" fs0="" put0=""
  label_workload="$w"
  case "$w" in
    W1) measure "$label" $((DUR + 120)) producer --mode async -w "$THREADS_W1" --duration "$DUR" ;;
    W2) measure "$label" $((DUR + 120)) producer --mode sync -w 1 --duration "$DUR" ;;
    W3)
      label_workload=W3-prefill
      measure "$label-prefill" 1800 producer --mode async -w "$THREADS_W1" --count "$BACKLOG" --duration 0
      label_workload=W3
      [ -n "$json" ] && record W3-prefill "$run" "$producers"
      if [ -n "$json" ] && [ -z "$why" ]; then
        local produced
        produced=$(jq -r '.count // .msgs' <<<"$json")
        if [ "$produced" -lt "$BACKLOG" ]; then
          json=""
          why="prefill stored only $produced of $BACKLOG messages"
        else
          local from=()
          [ "$target" = mq ] && from=(--from first)
          measure "$label" $((CONSUME_CAP + 60)) consumer -g bench_w3_group --count "$BACKLOG" \
            --duration "$CONSUME_CAP" "${from[@]}"
        fi
      fi
      ;;
    W4) # ours: the pull consumer, a thread per queue blocked in a long poll,
        # as every peer's consumer is a thread blocked on its socket
      local consumer=()
      [ "$target" = mq ] && consumer=(--consumer pull)
      measure "$label" $((DUR_W4 + 120)) e2e -w 1 --rate "$RATE_W4" --duration "$DUR_W4" "${consumer[@]}" ;;
    W4-push) # ours again, with the push consumer (its I/O thread hands each
        # message to a consume thread: one more thread hop)
      measure "$label" $((DUR_W4 + 120)) e2e -w 1 --rate "$RATE_W4" --duration "$DUR_W4" --consumer push ;;
    W5)
      [ "$target" = mq ] && { fs0=$(mq_status fsyncCount); put0=$(mq_status msgPutTotalSinceStart); }
      measure "$label" $((DUR_W5 + 120)) producer --mode sync -w "$producers" --duration "$DUR_W5"
      if [ "$target" = mq ] && [ -n "$json" ]; then
        local fs1 put1
        fs1=$(mq_status fsyncCount)
        put1=$(mq_status msgPutTotalSinceStart)
        if [ -n "$fs0" ] && [ -n "$fs1" ] && [ "${fs1%.*}" -gt "${fs0%.*}" ]; then
          local msgs
          if [ -n "$put0" ] && [ -n "$put1" ]; then
            msgs=$((${put1%.*} - ${put0%.*}))
          else
            msgs=$(jq -r '.count // .msgs' <<<"$json")
          fi
          extra=$(jq -cn --argjson m "$msgs" --argjson f "$((${fs1%.*} - ${fs0%.*}))" \
            '{fsyncs: $f, msgs_per_fsync: (($m / $f * 10 | round) / 10)}')
        else
          extra='{"msgs_per_fsync": null}'
        fi
      fi
      ;;
  esac
  if [ -n "$json" ]; then
    [ -n "$why" ] && say "  $target: warning: $why (figures kept)"
    record "$w" "$run" "$producers" "$extra"
  else
    fail "$w" "$run" "$producers" "$why"
  fi
  stop_current
  rm -rf "$d"
}

# ---- the report ----

machine_facts() {
  local src fstype model rota dsync
  cpu_model=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
  ram=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
  read -r src fstype < <(findmnt -no SOURCE,FSTYPE -T "$tmp" | head -n 1)
  local dev
  dev=$(lsblk -no PKNAME "$src" 2>/dev/null | head -n 1 || true)
  [ -n "$dev" ] || dev="${src##*/}"
  model=$(lsblk -dno MODEL "/dev/$dev" 2>/dev/null | head -n 1 | xargs || true)
  rota=$(cat "/sys/block/$dev/queue/rotational" 2>/dev/null || echo "?")
  # how many 4 KiB writes with O_DSYNC the disk takes per second: what
  # bounds every ack-after-fsync figure
  dsync=$(dd if=/dev/zero of="$tmp/dsync.test" bs=4k count=2000 oflag=dsync 2>&1 |
    awk '/copied/ {for (i = 1; i <= NF; i++) if ($i == "s,") printf "%.0f", 2000 / $(i - 1)}')
  rm -f "$tmp/dsync.test"
  disk="$src ($fstype, ${model:-model unknown}, rotational=$rota), $dsync synchronous 4 KiB writes/s (dd oflag=dsync)"
}

write_results() {
  local medians="$tmp/medians.json" tmpout="$out.tmp"
  jq -s '
    def median: sort | if length == 0 then null
      elif length % 2 == 1 then .[(length - 1) / 2]
      else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    def order: {"mq": 0, "redis": 1, "rabbitmq-classic": 2, "rabbitmq-quorum": 3, "nats": 4}[.] // 9;
    [.[] | select(.workload != "W3-prefill")]
    | group_by([.workload, .producers, (.target | order)])
    | map({workload: .[0].workload, target: .[0].target, producers: .[0].producers, runs: length,
           msgs_per_sec: (map(.msgs_per_sec) | median), mb_per_sec: (map(.mb_per_sec) | median),
           p50_ms: (map(.p50_ms) | median), p99_ms: (map(.p99_ms) | median),
           p999_ms: (map(.p999_ms) | median), max_ms: (map(.max_ms) | median),
           errors: (map(.errors) | add), durability: .[0].durability,
           msgs_per_fsync: ([.[] | .msgs_per_fsync // empty] | median)})' "$results" >"$medians"

  local quick_note=""
  [ "$quick" = 1 ] && quick_note="

**Quick run** (\`--quick\`: ${DUR} s runs, ${BACKLOG}-message backlog): for development, not for claims."
  {
    cat <<EOF
# Benchmark results

Generated by \`benchmarks/run.sh${args_given:+ $args_given}\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $runs run(s) per
figure, median reported. Every system was started fresh for every run, by the script, on this
machine, in the same invocation; 1 KiB bodies everywhere. Workloads, configurations and how to read
this file: [README.md](README.md).$quick_note

## Machine

| | |
|---|---|
| CPUs | $(nproc) × ${cpu_model:-unknown} |
| RAM | $ram |
| disk | $disk |
| load average | at start $load_start; at end $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shares the 2 cores) |
| kernel | $(uname -r) |
| our build | commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), CMAKE_BUILD_TYPE=${build_type:-?}, MQ_SANITIZE=${sanitize:-OFF} |
| peers | $peer_versions |

## W1 ratio and the other targets

EOF
    ratio_text
    echo
    targets_text
    cat <<EOF

## Results

Latencies in ms: producer = send to acknowledgement, W4 = send to receipt. MB/s = 2^20 bytes/s of
bodies. "durability" is the acknowledgement the figure was measured with.

| workload | system | msgs/s | MB/s | p50 | p99 | p99.9 | errors | durability |
|---|---|---:|---:|---:|---:|---:|---:|---|
EOF
    jq -r 'def ms: if . == null then "–" else (. * 1000 | round / 1000 | tostring) end;
      .[] | "| \(.workload)\(if .workload == "W5" then " ×\(.producers)" else "" end) | \(.target) | \(.msgs_per_sec | round) | \(.mb_per_sec * 10 | round / 10) | \(if .workload == "W3" then "–" else (.p50_ms | ms) end) | \(if .workload == "W3" then "–" else (.p99_ms | ms) end) | \(if .workload == "W3" then "–" else (.p999_ms | ms) end) | \(.errors) | \(.durability)\(if .msgs_per_fsync != null then "; \(.msgs_per_fsync) msgs per fsync" else "" end) |"' "$medians"
    cat <<EOF

W3 shows no latency: a backlog consumer receives messages written long before, so the figure
would be the age of the backlog (it is in the raw lines as p50_ms/p99_ms). W5 ×N: N producers,
each waiting for every acknowledgement.
EOF
    if [ -s "$failures" ]; then
      cat <<EOF

## Not measured

| system | workloads (runs) | reason |
|---|---|---|
EOF
      jq -rs 'map(.error |= sub("^skipped: "; "") | .w = .workload + (if .workload == "W5" then " ×\(.producers)" else "" end))
        | group_by([.target, .error])
        | .[] | "| \(.[0].target) | \(group_by([.workload, .producers]) | map("\(.[0].w) (\(length))") | join(", ")) | \(.[0].error | gsub("\\|"; "/")) |"' "$failures"
    fi
    cat <<EOF

## Appendix: raw JSON lines

One line per run (W3-prefill lines are the untimed publishing of the backlog).

\`\`\`
EOF
    cat "$results"
    echo '```'
  } >"$tmpout"
  mv "$tmpout" "$out"
}

# The W1 ratio: ours over the best peer, and over the best peer that, like
# our async flush, acknowledges before fsync.
ratio_text() {
  jq -r --arg unavailable "$mq_unavailable" '
    [.[] | select(.workload == "W1")] as $w1
    | ($w1 | map(select(.target == "mq")) | first) as $ours
    | ($w1 | map(select(.target != "mq")) | max_by(.msgs_per_sec)) as $best
    | ($w1 | map(select(.target == "redis" or .target == "nats")) | max_by(.msgs_per_sec)) as $best_before
    | if ($w1 | length) == 0 then "W1 was not run."
      elif $ours == null then
        "**Our broker was not measured** (\(if $unavailable != "" then $unavailable else "see Not measured below" end)): no ratio. "
        + (if $best != null then "Best peer: \($best.target), \($best.msgs_per_sec | round) msgs/s (\($best.durability))." else "" end)
      elif $best == null then "No peer was measured: no ratio."
      else
        "Ours (\($ours.durability)): **\($ours.msgs_per_sec | round) msgs/s**; best peer \($best.target): \($best.msgs_per_sec | round) msgs/s (\($best.durability)). "
        + "**Ratio \($ours.msgs_per_sec / $best.msgs_per_sec * 100 | round / 100)×** (target: at least 2×)."
        + (if $best_before != null and $best_before.target != $best.target then
             " Against the best peer that also acknowledges before fsync (\($best_before.target), \($best_before.msgs_per_sec | round) msgs/s): \($ours.msgs_per_sec / $best_before.msgs_per_sec * 100 | round / 100)×."
           else "" end)
      end' "$tmp/medians.json"
}

# The other targets of SPEC section 10 for ours, when measured.
targets_text() {
  jq -r '
    def ours($w): map(select(.workload == $w and .target == "mq")) | first;
    def r2: . * 100 | round / 100;
    (ours("W1")) as $w1 | (ours("W3")) as $w3 | (ours("W4")) as $w4 | (ours("W4-push")) as $w4push
    | (map(select(.workload == "W4" and .target != "mq")) | min_by(.p99_ms)) as $best4
    | [ (if $w1 != null and $w3 != null then
           "- W3 consuming the backlog at least as fast as W1 publishes: \($w3.msgs_per_sec | round) vs \($w1.msgs_per_sec | round) msgs/s, \(($w3.msgs_per_sec / $w1.msgs_per_sec) | r2)× (\(if $w3.msgs_per_sec >= $w1.msgs_per_sec then "met" else "missed" end))."
         else empty end),
        (if $w4 != null then
           "- W4 p99 under 1 ms: \($w4.p99_ms) ms (\(if $w4.p99_ms < 1 then "met" else "missed" end))"
           + (if $best4 != null then "; below the best peer'"'"'s p99 (\($best4.target), \($best4.p99_ms) ms): \(if $w4.p99_ms < $best4.p99_ms then "met" else "missed" end)." else "." end)
           + " (Our pull consumer: a thread per queue in a long poll, as the peers'"'"' consumers are threads blocked on their sockets.)"
         else empty end),
        (if $w4push != null then
           "- W4 with our push consumer (W4-push: its I/O thread hands each message to a consume thread): p99 \($w4push.p99_ms) ms"
           + (if $best4 != null then "; below the best peer'"'"'s p99: \(if $w4push.p99_ms < $best4.p99_ms then "met" else "missed" end)." else "." end)
         else empty end),
        (map(select(.workload == "W5" and .target == "mq")) | sort_by(.producers)
         | if length > 0 then
             "- W5 with SYNC_FLUSH: " + (map("×\(.producers): \(.msgs_per_sec | round) msgs/s, \(if .msgs_per_fsync != null then "\(.msgs_per_fsync) msgs per fsync" else "msgs per fsync not reported" end)") | join("; ")) + "."
           else empty end)
      ] | join("\n")' "$tmp/medians.json"
}

# ---- main ----

install_peer_packages
mkdir -p "${BENCH_TMP:-/var/tmp}"
tmp=$(mktemp -d "${BENCH_TMP:-/var/tmp}/mqbench-run.XXXXXX")
mkdir -p "$tmp/logs" "$tmp/data"
trap cleanup EXIT
trap 'exit 130' INT TERM
results="$tmp/results.jsonl"
failures="$tmp/failures.jsonl"
: >"$results"
: >"$failures"

if [ -n "${MQ_BIN:-}" ]; then
  bin="$(cd "$MQ_BIN" && pwd)"
  build_type="(prebuilt in $bin)"
  sanitize="?"
else
  bin="$repo/build/bin"
  build_ours
fi
build_peers
rmq_server=/usr/lib/rabbitmq/bin/rabbitmq-server
rmq_ctl=/usr/lib/rabbitmq/bin/rabbitmqctl
[ -x "$rmq_server" ] || rmq_server=$(command -v rabbitmq-server)
[ -x "$rmq_ctl" ] || rmq_ctl=$(command -v rabbitmqctl)
nats_version=$(nats-server --version 2>/dev/null | grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1)
peer_versions="redis-server $(redis-server --version | grep -Eo 'v=[0-9.]+' | cut -c3-), rabbitmq-server $(dpkg-query -W -f='${Version}' rabbitmq-server) (Erlang $(dpkg-query -W -f='${Version}' erlang-base)), nats-server $nats_version; clients: hiredis $(dpkg-query -W -f='${Version}' libhiredis-dev), librabbitmq $(dpkg-query -W -f='${Version}' librabbitmq-dev), nats.go $(dpkg-query -W -f='${Version}' golang-github-nats-io-go-nats-dev)"

mq_unavailable=""
selected=""
for t in $TARGETS; do
  for o in ${only//,/ }; do
    if [ "$o" = "$t" ] || [ "$o" = "${t%%-*}" ]; then selected+=" $t"; break; fi
  done
done
[ -n "$selected" ] || die "--only $only selects nothing (mq, redis, rabbitmq, nats)"

machine_facts
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say "temporary directory $tmp; targets:$selected; workloads $workloads; $runs run(s) each"

for w in ${workloads//,/ }; do
  producer_counts=1
  [ "$w" = W5 ] && producer_counts="$W5_PRODUCERS"
  for p in $producer_counts; do
    for ((run = 1; run <= runs; run++)); do
      say "$w$([ "$w" = W5 ] && echo " ×$p producers") run $run/$runs"
      for target in $selected; do
        run_one "$w" "$run" "$p"
        if [ "$w" = W4 ] && [ "$target" = mq ]; then
          run_one W4-push "$run" "$p"
        fi
      done
    done
  done
done

write_results
say "wrote $out"
[ -n "$mq_unavailable" ] && say "our broker was NOT measured: $mq_unavailable"
exit 0

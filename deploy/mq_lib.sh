# deploy/mq_lib.sh - process helpers shared by deploy/mq.sh and
# deploy/cluster.sh (sourced; they set $run and $logs first): pid files under
# $run, readiness by the "listening on port" log line, SIGTERM with a bounded
# wait. Names in messages come from $prog.

pid_of() { # name -> pid if running, else nothing
  local f="$run/$1.pid"
  [ -f "$f" ] || return 1
  local pid
  pid="$(cat "$f")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# Waits until log file $1 (from byte $2) says "listening on port"; $3 = pid.
wait_ready() {
  local log="$1" from="$2" pid="$3" i
  for i in $(seq 1 200); do
    if tail -c +"$((from + 1))" "$log" 2>/dev/null | grep -q "listening on port"; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { echo "$prog: process $pid exited; see $log" >&2; tail -n 20 "$log" >&2; return 1; }
    sleep 0.05
  done
  echo "$prog: not ready after 10 s; see $log" >&2
  return 1
}

# start_one NAME LOG PROGRAM ARGS...
start_one() {
  local name="$1" log="$2"
  shift 2
  if pid="$(pid_of "$name")"; then
    echo "$name already running (pid $pid)"
    return 0
  fi
  local from=0
  [ -f "$log" ] && from="$(stat -c %s "$log")"
  setsid "$@" >>"$log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$run/$name.pid"
  wait_ready "$log" "$from" "$pid" || return 1
  echo "$name started (pid $pid), log $log"
}

stop_one() {
  local name="$1" pid i
  if ! pid="$(pid_of "$name")"; then
    rm -f "$run/$name.pid"
    echo "$name not running"
    return 0
  fi
  kill -TERM "$pid"
  for i in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$run/$name.pid"; echo "$name stopped"; return 0; }
    sleep 0.1
  done
  echo "$prog: $name (pid $pid) did not stop within 30 s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$run/$name.pid"
  return 1
}


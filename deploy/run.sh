#!/usr/bin/env bash
# deploy/run.sh - sets up the machine, builds, and runs a single-node system
# in the foreground: one nameserver (port 9876) and one broker (port 10911)
# with default settings, storing under ./store, logging under ./logs.
# Ctrl-C stops both. (deploy/mq.sh start|stop|status does the same in the
# background.)
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/setup.sh
jobs="$(nproc 2>/dev/null || echo 2)"
echo "run.sh: configuring build/ ..."
cmake -S . -B build >/dev/null
echo "run.sh: building with $jobs jobs (the first build takes a few minutes; later ones seconds)"
# Progress: "[n/N] ..." lines overwrite each other on a terminal; anything
# else (compiler errors and warnings) is printed in full.
cmake --build build -j"$jobs" 2>&1 | while IFS= read -r line; do
  case "$line" in
    "["*) if [ -t 1 ]; then printf '\r\033[K%.*s' "$(( $(tput cols 2>/dev/null || echo 100) - 1 ))" "$line"; else echo "$line"; fi ;;
    *) [ -t 1 ] && printf '\n'; echo "$line" ;;
  esac
done
[ -t 1 ] && printf '\n'
echo "run.sh: build done; starting the nameserver and the broker"

exec bash deploy/mq.sh start --foreground --home .

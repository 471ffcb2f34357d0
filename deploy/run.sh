#!/usr/bin/env bash
# deploy/run.sh - sets up the machine, builds, and runs a single-node system
# in the foreground: one nameserver (port 9876) and one broker (port 10911)
# with default settings, storing under ./store, logging under ./logs.
# Ctrl-C stops both. (deploy/mq.sh start|stop|status does the same in the
# background.)
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/setup.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null

exec bash deploy/mq.sh start --foreground --home .

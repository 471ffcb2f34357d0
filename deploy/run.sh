#!/usr/bin/env bash
# deploy/run.sh - sets up the machine, builds, and runs a single-node system
# in the foreground: one nameserver (port 9876) and one broker (port 10911)
# with default settings, storing under ./store. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/setup.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null

./build/bin/mqnamesrv &
ns=$!
trap 'kill $ns $br 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
./build/bin/mqbroker -n 127.0.0.1:9876 --storePathRootDir=./store &
br=$!
echo "nameserver pid $ns on 127.0.0.1:9876, broker pid $br on port 10911 (Ctrl-C stops both)"
wait -n $ns $br

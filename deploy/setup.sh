#!/usr/bin/env bash
# deploy/setup.sh - installs every Debian package the project needs to build,
# test and run. Idempotent: does nothing when everything is installed; quiet
# on success; says what failed otherwise. Must run as root (or with sudo).
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  libprotobuf-c-dev protobuf-c-compiler
  libev-dev
  librocksdb-dev zlib1g-dev
  libisal-dev
  libgtest-dev
  libmicrohttpd-dev   # HTTP endpoints (common/http_server.c)
  libjansson-dev      # RocketMQ JSON headers and bodies (common/frame_json.c)
  prometheus          # promtool checks the /metrics format in tests/integration/ops_test.cc
  chromium            # headless browser for the console test
  procps psmisc
  clang               # libFuzzer targets (tests/fuzz), built by deploy/test.sh in build-fuzz
  libclang-rt-dev     # clang's fuzzer, ASan and UBSan runtimes
  llvm                # llvm-symbolizer: readable stacks in sanitizer and fuzzer reports
  nodejs              # ali-ons, the RocketMQ client of the compatibility suite (tests/compat)
)
# Debian's npm package conflicts with a nodejs that bundles npm (NodeSource's):
# ask for it only when no npm command is there.
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup: need root to install: ${missing[*]}" >&2; exit 1
  fi
fi

echo "setup: installing ${missing[*]}"
log=$(mktemp)
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  echo "setup: apt-get failed while installing: ${missing[*]}" >&2
  tail -n 30 "$log" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"

#!/bin/sh
# npm_setup.sh SRC_DIR DEST_DIR - installs the pinned ali-ons (package-lock.json)
# into DEST_DIR/node_modules for the compatibility suite, once per lock file:
# a copy of the lock next to node_modules says what is installed, so later
# runs cost nothing and work offline. Exits 77 (ctest: skipped) with a clear
# message when Node.js or npm is missing; any other failure is a failure.
set -eu
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "SKIPPED: Node.js and npm are needed for the RocketMQ client compatibility suite" \
         "(tests/compat, ali-ons); install them (deploy/setup.sh does) and re-run cmake."
    exit 77
fi
if [ "${1:-}" = "--not-configured" ]; then
    echo "SKIPPED: cmake found no node or npm when it configured this build; re-run cmake" \
         "to enable the RocketMQ client compatibility suite (tests/compat)."
    exit 77
fi
[ $# -eq 2 ] || { echo "usage: $0 SRC_DIR DEST_DIR" >&2; exit 2; }
src=$1
dest=$2
mkdir -p "$dest"
if [ -f "$dest/node_modules/.mq-installed-lock" ] &&
   cmp -s "$src/package-lock.json" "$dest/node_modules/.mq-installed-lock"; then
    echo "ali-ons already installed in $dest/node_modules (node $(node --version))"
    exit 0
fi
cp "$src/package.json" "$src/package-lock.json" "$dest/"
cd "$dest"
echo "installing ali-ons from $(npm config get registry) into $dest (node $(node --version), npm $(npm --version))"
npm ci --no-audit --no-fund --loglevel=error
cp package-lock.json node_modules/.mq-installed-lock
echo "installed: $(node -e 'console.log(require("ali-ons/package.json").version)' 2>/dev/null || echo '?')"

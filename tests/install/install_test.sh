#!/usr/bin/env bash
# install_test.sh BUILD_DIR SOURCE_DIR CC [EXTRA_FLAGS]
# `cmake --install` the build into a temporary prefix, then build and run a
# program against that prefix only: with `pkg-config --static --libs
# libmqclient`, with the shared library, and with find_package(mqclient).
# Also checks that libmqclient.so exports nothing but the public mq_ API.
set -euo pipefail
build=$1 src=$2 cc=$3 extra=${4:-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mq_install_test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
closed=127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
for f in bin/mqnamesrv bin/mqbroker bin/mqadmin bin/mqconsole bin/mqbench include/mq/mq.h; do
  [ -e "$prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
pc=$(find "$prefix" -name libmqclient.pc)
libdir=$(dirname "$(dirname "$pc")")
export PKG_CONFIG_PATH=$(dirname "$pc")

# The .pc file points into the prefix it was installed to.
got=$(pkg-config --variable=libdir libmqclient)
[ "$(cd "$got" && pwd -P)" = "$(cd "$libdir" && pwd -P)" ] || { echo "FAIL: .pc libdir $got, not $libdir"; exit 1; }

# Exactly what docs/CLIENT.md shows: pkg-config --static.
# shellcheck disable=SC2046,SC2086
"$cc" $extra -o "$tmp/app_pc" "$src/tests/install/app/app.c" $(pkg-config --cflags --static --libs libmqclient)
"$tmp/app_pc" "$closed"
# Fully static libmqclient (the archive by path, or -l:libmqclient.a): it
# must be self-contained, needing only the system libraries pkg-config lists.
# shellcheck disable=SC2046,SC2086
"$cc" $extra -o "$tmp/app_static" "$src/tests/install/app/app.c" $(pkg-config --cflags libmqclient) \
  -L"$libdir" -l:libmqclient.a $(pkg-config --static --libs libmqclient | sed 's/-lmqclient\b//')
if ldd "$tmp/app_static" | grep -q libmqclient; then echo "FAIL: app_static needs libmqclient.so"; exit 1; fi
"$tmp/app_static" "$closed"

# Shared: only mq_ names are exported.
so=$libdir/libmqclient.so
leaked=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^mq_[a-z]' || true)
[ -z "$leaked" ] || { echo "FAIL: libmqclient.so exports non-API symbols:"; echo "$leaked" | head -20; exit 1; }
# shellcheck disable=SC2046,SC2086
"$cc" $extra -o "$tmp/app_so" "$src/tests/install/app/app.c" $(pkg-config --cflags --libs libmqclient) \
  -Wl,-rpath,"$libdir"
"$tmp/app_so" "$closed"

# CMake package.
cmake -S "$src/tests/install/app" -B "$tmp/app-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_C_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" -DCMAKE_BUILD_RPATH="$libdir" >"$tmp/app-cmake.log"
cmake --build "$tmp/app-build" >"$tmp/app-build.log"
"$tmp/app-build/app_static" "$closed"
"$tmp/app-build/app_shared" "$closed"
echo "install test passed"

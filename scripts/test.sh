#!/usr/bin/env bash
# The one command that installs what is needed, builds pgtide twice (normal
# and AddressSanitizer+UndefinedBehaviorSanitizer) and runs every unit and
# integration test through ctest against a real PostgreSQL 15 that the test
# fixture starts in a temporary directory. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

# Servers run as the unprivileged postgres user; when we are root it must be
# able to reach the build tree.
if [ "$(id -u)" -eq 0 ]; then
	chmod o+x "$PWD" 2>/dev/null || true
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

jobs=$(nproc)

echo "== normal build"
scripts/build.sh build -DPGTIDE_WERROR=ON
(cd build && ctest --output-on-failure -j"$jobs" --timeout 600)

echo "== sanitizer build (ASan + UBSan)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
scripts/build.sh build-asan -DPGTIDE_WERROR=ON -DPGTIDE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
(cd build-asan && ctest --output-on-failure -j"$jobs" --timeout 900)

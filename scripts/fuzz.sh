#!/usr/bin/env bash
# Fuzzes pgtide's parsers with libFuzzer under AddressSanitizer and
# UndefinedBehaviorSanitizer (the targets are test/fuzz/fuzz_*.c).
#
#   scripts/fuzz.sh [SECONDS]      each target for SECONDS (default 60), one after another
#   scripts/fuzz.sh --suite        each target for 20 s (about 110 s in all)
#
# Options (before or after SECONDS):
#   --only TARGET       just one target: startup, scram, config, framer or sqlclass
#   --build-dir DIR     build directory (default build-fuzz)
#   --no-build          use the fuzz_* binaries already in --build-dir; installs,
#                       configures and builds nothing (this is how ctest runs it)
#   --merge             afterwards, merge inputs that add coverage into the
#                       committed corpus test/fuzz/corpus/TARGET (off by default:
#                       the committed corpus only grows when asked)
#
# Unless --no-build: installs clang and the libFuzzer runtime with apt-get if
# apt-cache says they are missing (Debian: clang, libclang-rt-14-dev), then
# configures DIR with CC=clang -DPGTIDE_FUZZ=ON and builds only the target
# "fuzzers" (a full clang build of the tree also compiles pgtide_core, which
# clang's -Wformat-nonliteral currently rejects under -Werror; see
# test/fuzz/CMakeLists.txt).
#
# Each fuzzer starts from a copy of its committed corpus in a temporary
# directory, so new inputs never land in the source tree. Crash, leak,
# timeout and out-of-memory inputs are kept in DIR/fuzz-artifacts/TARGET/
# along with the full log. The first failing target stops the script with a
# non-zero exit status and the path of the crashing input.
#
# The committed corpus is also replayed by the ordinary test suite: ctest -L
# fuzz (tests fuzz.replay.*) in every build, with gcc, and with ASan+UBSan in
# the sanitizer build. That is what CI runs today through scripts/test.sh.
#
# CI can additionally fuzz each target for 20 s per run, either directly
#   scripts/fuzz.sh --suite
# or through ctest in a fuzz build (fuzz.short is registered only when
# PGTIDE_FUZZ=ON, so the default suite is not slowed down):
#   CC=clang cmake -S . -B build-fuzz -DPGTIDE_FUZZ=ON
#   cmake --build build-fuzz --target fuzzers
#   (cd build-fuzz && ctest -R '^fuzz\.short$' --output-on-failure)
# e.g. as an extra step after "bash scripts/test.sh" in .ci/run. The step
# needs about 110 s of one core.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

targets=(startup scram config framer sqlclass)
declare -A max_len=(
	[startup]=10240 # PROTO_MAX_STARTUP_LEN is 10000, plus messages after it
	[scram]=2048    # SCRAM_MAX_MESSAGE is 1024; two messages and a mode byte
	[config]=8192   # many 198-byte INI lines
	[framer]=20000  # above the 16 KiB I/O buffer, so big messages stream
	[sqlclass]=4096 # queries: long enough for several statements and big literals
)

seconds=60
build_dir=build-fuzz
do_build=1
merge=0
only=

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--suite) seconds=20 ;;
	--only) only=${2:?--only needs a target}; shift ;;
	--build-dir) build_dir=${2:?--build-dir needs a directory}; shift ;;
	--no-build) do_build=0 ;;
	--merge) merge=1 ;;
	-h | --help) usage ;;
	[0-9]*) seconds=$1 ;;
	*) echo "fuzz.sh: unknown argument '$1'" >&2; usage ;;
	esac
	shift
done
if [ -n "$only" ]; then
	[ -n "${max_len[$only]:-}" ] || { echo "fuzz.sh: unknown target '$only'" >&2; exit 2; }
	targets=("$only")
fi
case $build_dir in /*) ;; *) build_dir=$root/$build_dir ;; esac

# apt-cache policy prints "Installed: (none)" for a package that is not.
# (Output captured first: grep -q closing the pipe early would fail the
# pipeline under pipefail.)
pkg_missing() {
	local policy
	policy=$(apt-cache policy "$1" 2>/dev/null) || return 0
	! grep -q 'Installed: [^(]' <<<"$policy"
}

install_clang() {
	local missing=() p
	command -v apt-cache >/dev/null || {
		command -v clang >/dev/null && return 0
		echo "fuzz.sh: clang not found and no apt-cache to install it" >&2
		exit 1
	}
	for p in clang libclang-rt-14-dev; do
		if pkg_missing "$p"; then missing+=("$p"); fi
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "== installing ${missing[*]}"
	local sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

if [ "$do_build" = 1 ]; then
	install_clang
	echo "== configuring $build_dir (clang, PGTIDE_FUZZ=ON)"
	CC=clang cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DPGTIDE_FUZZ=ON >/dev/null
	cmake --build "$build_dir" --target fuzzers -j"$(nproc)"
fi

bin_dir=$build_dir/test/fuzz
for t in "${targets[@]}"; do
	[ -x "$bin_dir/fuzz_$t" ] || {
		echo "fuzz.sh: $bin_dir/fuzz_$t missing: build the target 'fuzzers' with -DPGTIDE_FUZZ=ON" >&2
		exit 1
	}
done

work=$(mktemp -d "${TMPDIR:-/tmp}/pgtide-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

echo "== fuzzing ${targets[*]} for ${seconds}s each"
for t in "${targets[@]}"; do
	art=$build_dir/fuzz-artifacts/$t
	mkdir -p "$art" "$work/$t"
	cp "$root/test/fuzz/corpus/$t/"* "$work/$t/"
	log=$art/last-run.log
	echo "-- $t (max_len ${max_len[$t]}, log $log)"
	set +e
	"$bin_dir/fuzz_$t" "$work/$t" -max_total_time="$seconds" -max_len="${max_len[$t]}" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$art/" >"$log" 2>&1
	rc=$?
	set -e
	# The last status line ("#N DONE cov: ... ft: ... corp: ...") and the
	# final stats (executions, exec/s, new units, peak RSS).
	grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE)' "$log" | tail -1 || true
	grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" |
		tr '\n' ' ' || true
	echo
	if [ "$rc" -ne 0 ]; then
		echo "fuzz.sh: fuzz_$t FAILED (exit $rc):" >&2
		# The report from its first line, without ASan's shadow byte dump.
		start=$(grep -nE '==[0-9]+==ERROR|runtime error:|fuzz invariant failed|ERROR: libFuzzer' \
			"$log" | head -1 | cut -d: -f1)
		if [ -n "$start" ]; then
			sed -n "$start,\$p" "$log" | sed '/^Shadow bytes around/,$d' | head -60 >&2
		else
			tail -40 "$log" >&2
		fi
		crash=$(grep -oE "(Test unit written to|artifact_prefix.*; Test unit written to) [^ ]+" "$log" |
			awk '{print $NF}' | tail -1)
		[ -n "$crash" ] || crash=$(ls -t "$art"/crash-* "$art"/leak-* "$art"/timeout-* "$art"/oom-* 2>/dev/null | head -1)
		echo "fuzz.sh: crashing input: ${crash:-(none written; see $log)}" >&2
		[ -z "$crash" ] || echo "fuzz.sh: reproduce with: $bin_dir/fuzz_$t $crash" >&2
		exit 1
	fi
	if [ "$merge" = 1 ]; then
		echo "   merging new coverage into test/fuzz/corpus/$t"
		"$bin_dir/fuzz_$t" -merge=1 -max_len="${max_len[$t]}" \
			"$root/test/fuzz/corpus/$t" "$work/$t" >>"$log" 2>&1
	fi
done
echo "== all fuzzers ran without a crash"

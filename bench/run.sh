#!/usr/bin/env bash
# pgtide's benchmark suite (not part of the test suite): PostgreSQL direct,
# PgBouncer (Debian's package) and pgtide with the same pool size and mode,
# runs interleaved so ratios see the same machine noise.
#
#   bench/run.sh                 # everything (~20 minutes on 2 cores)
#   SCENARIOS="S5" bench/run.sh  # one part: S1..S5 as the shared harness
#                                # names them, S6 = multi-core
#
# S1-S5 come from the shared harness ../shared/bench/pooler-bench.sh (or
# $POOLER_BENCH) with bench/candidate.sh as the candidate:
#   S1 select-only TPS, 50 clients, -M simple and -M extended
#   S2 connection churn (pgbench -C), SCRAM and md5 users
#   S3 1,000 clients onto a pool of 20: TPS, latency average and spread
#   S4 RSS per idle client with 10,000 idle clients
#   S5 pooler cost per transaction: callgrind instructions, CPU time and
#      syscalls (perf stat software events)
# S6 is bench/multicore.sh: each pooler pinned to 1 core, then 2 (taskset).
# S5 variants (S5_VARIANTS, default "workers1 tcp"; "" for none): S5 again
# with pgtide at workers = 1, and reaching PostgreSQL over TCP as PgBouncer
# does (the default candidate uses the server's unix socket), each against
# a PgBouncer measured in that same run.
#
# Output: bench/results/<UTC date>/ with summary.tsv, raw.tsv, meta.txt,
# multicore.tsv and report.md (the table docs/performance.md quotes).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
SCENARIOS=${SCENARIOS:-"S1 S2 S3 S4 S5 S6"}
harness=${POOLER_BENCH:-$root/../shared/bench/pooler-bench.sh}

"$root/scripts/install-deps.sh"
need=()
for p in pgbouncer valgrind linux-perf python3 util-linux; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# The Debian package starts its own pgbouncer on 6432: the benchmark runs its own.
systemctl stop pgbouncer 2>/dev/null || true

echo "== building pgtide (release) into build-bench"
cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release -DPGTIDE_TESTS=OFF >/dev/null
cmake --build "$root/build-bench" -j"$(nproc)" >/dev/null
# The harness runs poolers as the postgres user.
chmod o+rx "$root" "$root/bench" "$root/build-bench" 2>/dev/null || true

out=$here/results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"

harness_scen=$(echo "$SCENARIOS" | tr ' ' '\n' | grep -E '^S[1-5]$' | tr '\n' ' ' || true)
if [ -n "${harness_scen// /}" ]; then
	[ -x "$harness" ] || [ -f "$harness" ] || { echo "shared harness not found at $harness (set POOLER_BENCH)" >&2; exit 1; }
	echo "== shared harness: $harness_scen"
	RESULTS=$out/summary.tsv RESULTS_RAW=$out/raw.tsv RESULTS_META=$out/meta.txt SCENARIOS="$harness_scen" \
		CANDIDATE_NAME=pgtide CANDIDATE_CMD="exec $here/candidate.sh" \
		PGTIDE_BIN="$root/build-bench/pgtide" bash "$harness" | tee "$out/harness.txt"
fi
if [[ " $SCENARIOS " == *" S5 "* ]]; then
	for v in ${S5_VARIANTS-workers1 tcp}; do
		case $v in
		workers1) env=(PGTIDE_WORKERS=1) ;;
		tcp) env=(PGTIDE_SERVER_VIA=tcp) ;;
		*) echo "unknown S5 variant $v" >&2; exit 1 ;;
		esac
		echo "== S5 variant: $v"
		env "${env[@]}" RESULTS=$out/s5-$v.tsv RESULTS_RAW=$out/s5-$v.raw.tsv RESULTS_META=$out/s5-$v.meta.txt \
			SCENARIOS=S5 CANDIDATE_NAME=pgtide CANDIDATE_CMD="exec $here/candidate.sh" \
			PGTIDE_BIN="$root/build-bench/pgtide" bash "$harness" >"$out/s5-$v.txt"
	done
fi
if [[ " $SCENARIOS " == *" S6 "* ]]; then
	echo "== S6 multi-core"
	PGTIDE_BIN="$root/build-bench/pgtide" bash "$here/multicore.sh" "$out/multicore.tsv"
fi
python3 "$here/report.py" "$out" >"$out/report.md"
cat "$out/report.md"
echo "results in $out"

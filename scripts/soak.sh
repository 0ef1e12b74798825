#!/usr/bin/env bash
# soak.sh - pgtide under a long mixed workload, watching its memory.
#
#   scripts/soak.sh [MINUTES]            soak (default 10 minutes)
#   scripts/soak.sh --valgrind [SECONDS] pgtide under valgrind memcheck with a
#                                        short mixed workload (default 20 s)
#
# Starts a throwaway PostgreSQL 15 (test/integration/pgcluster.sh) and a
# pgtide in front of it, then runs until the time is up:
#   - pgbench, 8 persistent clients, tpcb-like, extended protocol
#   - pgbench -C, 2 clients opening a connection per transaction (churn)
#   - clients whose statements fail (division by zero, unknown column in a
#     transaction)
#   - clients that cancel a running query (psql gets SIGINT, sends a cancel)
#   - clients killed in the middle of a transaction
#   - the admin console (SHOW POOLS, STATS, CLIENTS, SERVERS, MEM)
#
# Soak: pgtide's RSS is sampled every SOAK_SAMPLE seconds (default 5). After
# the warm-up (the first fifth, at least 60 s) the mean of the last third of
# the samples must stay within 10 % + 1 MiB of the mean of the first third.
# Valgrind: memcheck with --leak-check=full; any error or any definite or
# indirect leak fails (valgrind's exit code 99).
# Both fail when pgbench fails a transaction or pgtide does not stop cleanly.
# The last line is "N passed, M failed". Uses PGTIDE_BIN, else build/pgtide.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD

# shellcheck source=test/integration/testlib.sh
. "$ROOT/test/integration/testlib.sh"

mode=soak
if [ "${1:-}" = "--valgrind" ]; then
	mode=valgrind
	seconds=${2:-20}
else
	seconds=$((${1:-10} * 60))
fi
PGTIDE=${PGTIDE_BIN:-$ROOT/build/pgtide}
[ -x "$PGTIDE" ] || { echo "soak: no pgtide binary at $PGTIDE (build first, or set PGTIDE_BIN)" >&2; exit 2; }
BINDIR=/usr/lib/postgresql/15/bin
PGBENCH=${PGTIDE_PGBENCH:-$BINDIR/pgbench}
[ -x "$PGBENCH" ] || PGBENCH=$(command -v pgbench)
PSQL=$(command -v psql || echo "$BINDIR/psql")
SAMPLE=${SOAK_SAMPLE:-5}
if [ "$mode" = valgrind ] && ! command -v valgrind >/dev/null; then
	echo "soak: valgrind is not installed (scripts/install-deps.sh installs it)"
	exit 77
fi

work=$(mktemp -d /tmp/pgtide-soak.XXXXXX)
chmod 755 "$work"
pgtide=""
bg=()
cleanup() {
	for p in "${bg[@]}"; do kill -KILL "$p" 2>/dev/null; done
	[ -z "$pgtide" ] || kill -KILL "$pgtide" 2>/dev/null
	"$ROOT/test/integration/pgcluster.sh" destroy "$work/pg" >/dev/null 2>&1
	if [ "$fail" -eq 0 ]; then
		rm -rf "$work"
	else
		echo "files kept in $work"
	fi
}
trap cleanup EXIT

pgport=$("$ROOT/test/integration/pgcluster.sh" start "$work/pg" "$(free_ports 1)" | tail -1)
export PGPASSWORD=app-pw
"$PGBENCH" -i -s 1 -q -h 127.0.0.1 -p "$pgport" -U app app >"$work/init.out" 2>&1 ||
	{ not_ok "pgbench -i"; cat "$work/init.out"; echo "$pass passed, $fail failed"; exit 1; }

read -r port < <(free_ports 1)
printf '"app" "app-pw"\n"admin" "admin-pw"\n' >"$work/userlist.txt"
cat >"$work/pgtide.ini" <<INI
[pgtide]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $work
auth_file = $work/userlist.txt
auth_type = md5
admin_users = admin
workers = 2
max_client_conn = 200
default_pool_size = 6
server_login_retry = 0.5
log_connections = 0
log_disconnections = 0
log_pooler_errors = 0
log_stats = 0

[databases]
app = host=127.0.0.1 port=$pgport
INI

if [ "$mode" = valgrind ]; then
	valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--error-exitcode=99 --num-callers=30 --log-file="$work/valgrind.log" \
		"$PGTIDE" "$work/pgtide.ini" >"$work/pgtide.log" 2>&1 &
	pgtide=$!
	for _ in $(seq 1 600); do pg_isready -q -h 127.0.0.1 -p "$port" && break; sleep 0.1; done
	clients=4
else
	"$PGTIDE" "$work/pgtide.ini" >"$work/pgtide.log" 2>&1 &
	pgtide=$!
	wait_ready "$port"
	clients=8
fi
pg_isready -q -h 127.0.0.1 -p "$port" || { not_ok "pgtide starts"; echo "$pass passed, $fail failed"; exit 1; }
ok "pgtide starts ($mode, ${seconds} s)"

end=$((SECONDS + seconds))
q() { timeout 20 "$PSQL" -XAtq -h 127.0.0.1 -p "$port" -U app app "$@" >/dev/null 2>&1; }

"$PGBENCH" -n -h 127.0.0.1 -p "$port" -U app -c "$clients" -j 1 -T "$seconds" -M extended app \
	>"$work/pgbench.out" 2>&1 &
bench=$!
"$PGBENCH" -n -h 127.0.0.1 -p "$port" -U app -c 2 -j 1 -T "$seconds" -C -S app >"$work/churn.out" 2>&1 &
churn=$!
# Statements that fail.
(while [ $SECONDS -lt $end ]; do
	q -c "select 1/0"
	q -c "begin" -c "select nosuch from pgbench_branches" -c "rollback"
	sleep 0.2
done) &
bg+=($!)
# Cancels: psql sends a CancelRequest on SIGINT.
(while [ $SECONDS -lt $end ]; do
	timeout -s INT 0.5 "$PSQL" -XAtq -h 127.0.0.1 -p "$port" -U app app -c "select pg_sleep(5)" >/dev/null 2>&1
	sleep 0.3
done) 2>/dev/null &
bg+=($!)
# Clients that vanish in the middle of a transaction.
(while [ $SECONDS -lt $end ]; do
	timeout -s KILL 0.5 "$PSQL" -XAtq -h 127.0.0.1 -p "$port" -U app app \
		-c "begin" -c "select count(*) from pgbench_branches" -c "select pg_sleep(5)" >/dev/null 2>&1
	sleep 0.5
done) 2>/dev/null &
bg+=($!)
# The admin console.
(while [ $SECONDS -lt $end ]; do
	for s in POOLS STATS CLIENTS SERVERS MEM; do
		PGPASSWORD=admin-pw timeout 20 "$PSQL" -XAtq -h 127.0.0.1 -p "$port" -U admin pgtide -c "SHOW $s" \
			>/dev/null 2>&1
	done
	sleep 1
done) &
bg+=($!)

# RSS samples, "seconds kB" per line.
while [ $SECONDS -lt $end ]; do
	echo "$((seconds - (end - SECONDS))) $(awk '/VmRSS/ { print $2 }' "/proc/$pgtide/status" 2>/dev/null)" \
		>>"$work/rss.txt"
	sleep "$SAMPLE"
done
wait "$bench"
brc=$?
wait "$churn"
crc=$?
for p in "${bg[@]}"; do wait "$p"; done
bg=()

for f in pgbench churn; do
	out=$work/$f.out
	rc=$brc
	[ "$f" = churn ] && rc=$crc
	processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
	echo "# $f: exit $rc, ${processed:-?} transactions, ${failed:-?} failed"
	check "$f: exit 0, transactions ran, none failed" \
		'[ "$rc" = 0 ] && [ "${processed:-0}" -gt 0 ] && [ "$failed" = 0 ]'
done
check "pgtide is still running" 'kill -0 "$pgtide"'

if [ "$mode" = soak ]; then
	warm=$((seconds / 5))
	[ "$warm" -lt 60 ] && warm=60
	verdict=$(awk -v warm="$warm" 'BEGIN { n = 0 }
		$1 >= warm && $2 != "" { t[n] = $1; r[n] = $2; n++ }
		END {
			if (n < 6) { print "too-few", n; exit }
			k = int(n / 3); a = 0; b = 0
			for (i = 0; i < k; i++) { a += r[i]; b += r[n - k + i] }
			a /= k; b /= k
			printf "%s %.0f %.0f %d\n", (b <= a * 1.10 + 1024) ? "stable" : "growing", a, b, n
		}' "$work/rss.txt")
	echo "# RSS samples (s kB): $(tr '\n' ' ' <"$work/rss.txt")"
	read -r state first last n <<<"$verdict"
	echo "# after ${warm} s of warm-up: mean RSS ${first} kB in the first third, ${last} kB in the last third ($n samples)"
	check "RSS is stable after warm-up ($state)" '[ "$state" = stable ]'
fi

kill -INT "$pgtide"
limit=200
[ "$mode" = valgrind ] && limit=1200
for _ in $(seq 1 $limit); do kill -0 "$pgtide" 2>/dev/null || break; sleep 0.05; done
wait "$pgtide"
rc=$?
pgtide=""
if [ "$mode" = valgrind ]; then
	grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost" "$work/valgrind.log" | sed 's/^/# /'
	check "valgrind: no memcheck error and no leak (exit $rc)" '[ "$rc" = 0 ]'
	[ "$rc" = 0 ] || sed -n '/^==[0-9]*== [A-Z].*\(Invalid\|uninitialised\|lost in\)/,/^==[0-9]*== $/p' \
		"$work/valgrind.log" | head -80
else
	check "pgtide stops cleanly on SIGINT (exit $rc)" '[ "$rc" = 0 ]'
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

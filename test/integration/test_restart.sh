#!/usr/bin/env bash
# test_restart.sh - zero-downtime restart with so_reuseport.
#
# pgbench runs through pgtide for about 16 s, with a new connection per
# transaction (-C) over TCP and over the unix socket, plus clients that keep
# their connection. Meanwhile pgtide is replaced twice the documented way
# (docs/operations.md, "Restart without downtime"): a new pgtide is started on
# the same port with so_reuseport = 1, and once its pidfile names it the old
# one gets SIGTERM. Every transaction must succeed, no connection may be
# refused, every old pgtide must exit 0 on its own, and the work must all be
# in the table. Without so_reuseport a second pgtide still refuses the port.
#
# The kernel resets connections still queued on a listening socket when it is
# closed, unless net.ipv4.tcp_migrate_req = 1 moves them to another socket of
# the SO_REUSEPORT group. pgtide accepts what is queued before it closes, which
# leaves a window of microseconds; the test sets tcp_migrate_req = 1 when it
# may (root) and restores it, as the documentation asks of operators.
#
# Environment (set by ctest): PGTIDE_BIN, PGTIDE_TEST_PGDIR, PGTIDE_PGBENCH.
set -uo pipefail

# shellcheck source=test/integration/testlib.sh
. "$(dirname "$0")/testlib.sh"

test_tools
DURATION=${RESTART_TEST_SECONDS:-16}

work_dir restart
chmod 755 "$work"
MIGRATE=/proc/sys/net/ipv4/tcp_migrate_req
migrate_was=""
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	[ -z "$migrate_was" ] || echo "$migrate_was" >"$MIGRATE" 2>/dev/null
	pgsu -c "DROP TABLE IF EXISTS pgtide_restart" >/dev/null 2>&1
	cleanup_work
}
trap cleanup EXIT

pgsu() { "$PSQL" -XAtq -h "$PGDIR" -p "$PGPORT" -U postgres app "$@"; }

# RESTART_TEST_NO_MIGRATE=1 leaves the sysctl alone (to measure without it).
if [ -w "$MIGRATE" ] && [ -z "${RESTART_TEST_NO_MIGRATE:-}" ]; then
	migrate_was=$(cat "$MIGRATE")
	echo 1 >"$MIGRATE"
fi
echo "# net.ipv4.tcp_migrate_req = $(cat "$MIGRATE" 2>/dev/null || echo '(absent)')"

read -r port < <(free_ports 1)
printf '"app" "app-pw"\n' >"$work/userlist.txt"
write_ini() { # FILE SO_REUSEPORT
	cat >"$1" <<INI
[pgtide]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $work
auth_file = $work/userlist.txt
auth_type = md5
pidfile = $work/pgtide.pid
so_reuseport = $2
default_pool_size = 8
max_client_conn = 200
log_connections = 0
log_disconnections = 0
log_stats = 0

[databases]
app = host=127.0.0.1 port=$PGPORT
INI
}
write_ini "$work/pgtide.ini" 1
write_ini "$work/plain.ini" 0

# start_pgtide N: starts pgtide number N (log pgtide-N.log) and waits until
# its pidfile names it, i.e. until it listens. Sets $started.
start_pgtide() {
	"$PGTIDE" "$work/pgtide.ini" >"$work/pgtide-$1.log" 2>&1 &
	started=$!
	pids+=("$started")
	for _ in $(seq 1 250); do
		[ "$(cat "$work/pgtide.pid" 2>/dev/null)" = "$started" ] && return 0
		kill -0 "$started" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}

# wait_exit PID SECONDS: its exit status, or 255 if still running.
wait_exit() {
	for _ in $(seq 1 $(($2 * 20))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$1" 2>/dev/null && return 255
	wait "$1"
}

# ---- 1. without so_reuseport the port stays exclusive --------------------
start_pgtide 1 || { not_ok "pgtide starts"; echo "$pass passed, $fail failed"; exit 1; }
first=$started
"$PGTIDE" "$work/plain.ini" >"$work/plain.log" 2>&1 &
plain=$!
pids+=("$plain")
wait_exit "$plain" 5
rc=$?
check "so_reuseport = 0: a second pgtide refuses the port (exit $rc)" \
	'[ "$rc" = 1 ] && grep -q "could not listen on 127.0.0.1:$port" "$work/plain.log"'

# ---- 2. pgbench while pgtide is replaced twice ----------------------------
pgsu -c "DROP TABLE IF EXISTS pgtide_restart; CREATE TABLE pgtide_restart (id bigserial, via text, n int)" \
	>/dev/null
for via in tcp unix keep; do
	cat >"$work/$via.sql" <<SQL
BEGIN;
INSERT INTO pgtide_restart (via, n) VALUES ('$via', :client_id);
SELECT count(*) FROM pgtide_restart WHERE n = :client_id;
END;
SQL
done

export PGPASSWORD=app-pw
bench() { # VIA HOST ARGS...
	local via=$1 host=$2
	shift 2
	timeout $((DURATION + 60)) "$PGBENCH" -n -h "$host" -p "$port" -U app -j 1 -T "$DURATION" \
		-f "$work/$via.sql" "$@" app >"$work/bench-$via.out" 2>&1
	echo $? >"$work/bench-$via.rc"
}
bench tcp 127.0.0.1 -c 4 -C &
b1=$!
bench unix "$work" -c 2 -C &
b2=$!
bench keep 127.0.0.1 -c 2 &
b3=$!

old=()
sleep $((DURATION / 4))
for n in 2 3; do
	prev=$started
	if start_pgtide "$n"; then
		ok "restart $((n - 1)): pgtide $n listens beside pgtide $((n - 1)) on port $port"
	else
		not_ok "restart $((n - 1)): pgtide $n did not start"
		break
	fi
	kill -TERM "$prev"
	old+=("$prev")
	sleep $((DURATION / 3))
done
wait "$b1" "$b2" "$b3"

for via in tcp unix keep; do
	out=$work/bench-$via.out
	processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
	echo "# $via: exit $(cat "$work/bench-$via.rc"), ${processed:-?} transactions, ${failed:-?} failed"
	check "pgbench ($via) exits 0" '[ "$(cat "$work/bench-$via.rc")" = 0 ]'
	check "pgbench ($via) ran transactions and none failed" '[ "${processed:-0}" -gt 0 ] && [ "$failed" = 0 ]'
	check "pgbench ($via) saw no refused connection or error" \
		'! grep -qiE "error|fatal|could not|refused|closed|abort" "$out"'
	rows=$(pgsu -c "SELECT count(*) FROM pgtide_restart WHERE via = '$via'")
	check "pgbench ($via): every processed transaction is in the table ($rows rows)" \
		'[ "$rows" = "$processed" ]'
done

# ---- 3. the old processes left on their own, the new one serves -----------
for p in "${old[@]}"; do
	wait_exit "$p" 10
	rc=$?
	check "replaced pgtide $p exits 0 by itself (status $rc)" '[ "$rc" = 0 ]'
done
check "the pidfile names the last pgtide" '[ "$(cat "$work/pgtide.pid")" = "$started" ]'
check "the unix socket is there, no temporary socket left" \
	'[ -S "$work/.s.PGSQL.$port" ] && [ -z "$(find "$work" -name "*.tmp")" ]'
check "the last pgtide serves TCP and the unix socket" \
	'[ "$("$PSQL" -XAtq -h 127.0.0.1 -p "$port" -U app app -c "select 1")" = 1 ] &&
	 [ "$("$PSQL" -XAtq -h "$work" -p "$port" -U app app -c "select 2")" = 2 ]'
check "the replaced pgtide logged the hand-over" 'grep -q "serving connected clients" "$work/pgtide-1.log"'
kill -INT "$started"
wait_exit "$started" 10
rc=$?
check "the last pgtide stops on SIGINT (exit $rc) and removes its pidfile" \
	'[ "$rc" = 0 ] && [ ! -e "$work/pgtide.pid" ]'
: "$first"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

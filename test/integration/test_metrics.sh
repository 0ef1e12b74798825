#!/usr/bin/env bash
# test_metrics.sh - the HTTP listener: /healthz, /readyz, /metrics, 404.
#
# Starts pgtide with metrics_port set in front of the test cluster, runs 50
# transactions with pgbench and 3 queries with psql, then checks that
# /metrics agrees with SHOW STATS_TOTALS (transactions, queries, bytes, times,
# histogram counts), that promtool accepts the exposition, that /readyz turns
# 503 while draining after SIGTERM, and that a second pgtide whose database
# server is unreachable is not ready.
#
# Environment (set by ctest): PGTIDE_BIN, PGTIDE_TEST_PGDIR, PGTIDE_PGBENCH.
# The last line printed is "N passed, M failed".
#
# check() evals its condition, so conditions are single-quoted on purpose.
# shellcheck disable=SC2016,SC2034
set -uo pipefail

# shellcheck source=test/integration/testlib.sh
. "$(dirname "$0")/testlib.sh"

test_tools
PROMTOOL=$(command -v promtool || echo /usr/bin/promtool)
work_dir metrics
trap cleanup_work EXIT

read -r main_port main_mport down_port down_mport closed < <(free_ports 5)

# start_pgtide NAME TARGET_PORT PORT METRICS_PORT: writes NAME.ini, starts
# pgtide and sets $pid; true once /healthz answers.
start_pgtide() {
	local port=$3 mport=$4
	cat >"$work/$1.ini" <<INI
[pgtide]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $work
auth_file = $work/userlist.txt
auth_type = md5
admin_users = app
pool_mode = transaction
metrics_port = $mport
log_connections = 0
log_disconnections = 0

[databases]
* = host=127.0.0.1 port=$2
INI
	"$PGTIDE" "$work/$1.ini" >"$work/$1.log" 2>&1 &
	pid=$!
	pids+=("$pid")
	for _ in $(seq 1 200); do
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$mport/healthz" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# get PORT PATH: prints the status code, the body goes to $work/body.
get() { curl -s -o "$work/body" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$1$2"; }

# wait_exit PID: waits up to 15 s for the exit; sets $rc to its status
# (not through $(...): a subshell cannot wait for our children).
wait_exit() {
	for _ in $(seq 1 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
	wait "$1"
	rc=$?
}

printf '"app" "app-pw"\n' >"$work/userlist.txt"
export PGPASSWORD=app-pw

if ! start_pgtide main "$PGPORT" "$main_port" "$main_mport"; then
	not_ok "pgtide with metrics_port starts"
	echo "$pass passed, $fail failed"
	exit 1
fi
main_pid=$pid

check "/healthz answers 200 ok" '[ "$(get "$main_mport" /healthz)" = 200 ] && [ "$(cat "$work/body")" = ok ]'
check "/readyz answers 200 with a reachable database" '[ "$(get "$main_mport" /readyz)" = 200 ]'
check "unknown path answers 404" '[ "$(get "$main_mport" /nope)" = 404 ]'
check "/metrics/ (not /metrics) answers 404" '[ "$(get "$main_mport" /metrics/)" = 404 ]'

# ---- traffic: 50 transactions, then 3 single queries ----
echo 'SELECT 1;' >"$work/one.sql"
check "pgbench runs 50 transactions through pgtide" \
	'"$PGBENCH" -n -c 1 -t 50 -f "$work/one.sql" -h 127.0.0.1 -p "$main_port" -U app app >"$work/pgbench.out" 2>&1 &&
	 grep -q "processed: 50/50" "$work/pgbench.out"'
for i in 1 2 3; do
	check "psql query $i" '[ "$("$PSQL" -XAtq -h 127.0.0.1 -p "$main_port" -U app app -c "select $i")" = "$i" ]'
done

"$PSQL" -X --csv -h 127.0.0.1 -p "$main_port" -U app pgtide -c "SHOW STATS_TOTALS" >"$work/totals.csv"
get "$main_mport" /metrics >/dev/null
cp "$work/body" "$work/metrics.txt"

# totals COLUMN: SHOW STATS_TOTALS' value for database app.
totals() {
	awk -F, -v c="$1" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		$col["database"] == "app" { print $col[c] }' "$work/totals.csv"
}
# metric NAME [SCALE]: the sum over app's pools (users), times SCALE.
metric() {
	awk -v n="$1{database=\"app\"," -v k="${2:-1}" \
		'index($0, n) == 1 { s += $NF * k } END { printf "%.0f\n", s }' "$work/metrics.txt"
}
same() { # NAME METRIC SCALE COLUMN
	local m t
	m=$(metric "$2" "$3")
	t=$(totals "$4")
	if [ -n "$t" ] && [ "$m" = "$t" ]; then ok "$1 ($m)"; else not_ok "$1: metrics $m, STATS_TOTALS $t"; fi
}
same "transactions agree with SHOW STATS_TOTALS" pgtide_transactions_total 1 xact_count
same "queries agree with SHOW STATS_TOTALS" pgtide_queries_total 1 query_count
same "received bytes agree" pgtide_received_bytes_total 1 bytes_received
same "sent bytes agree" pgtide_sent_bytes_total 1 bytes_sent
same "transaction time agrees (s -> us)" pgtide_transaction_time_seconds_total 1000000 xact_time
same "wait time agrees (s -> us)" pgtide_client_wait_time_seconds_total 1000000 wait_time
same "server assignments agree" pgtide_server_assignments_total 1 server_assignment_count
same "wait histogram count = server_assignment_count" pgtide_client_wait_seconds_count 1 server_assignment_count
inf=$(awk 'index($0, "pgtide_client_wait_seconds_bucket{database=\"app\",") == 1 && /le="\+Inf"/ { s += $NF }
	END { print s + 0 }' "$work/metrics.txt")
check "wait histogram +Inf = server_assignment_count" '[ "$inf" = "$(totals server_assignment_count)" ]'
same "transaction histogram count = xact_count" pgtide_transaction_seconds_count 1 xact_count
check "53 transactions counted (50 pgbench + 3 psql)" '[ "$(totals xact_count)" = 53 ]'
check "53 queries counted" '[ "$(totals query_count)" = 53 ]'
check "every family has one HELP and one TYPE" \
	'[ "$(grep -c "^# TYPE" "$work/metrics.txt")" = "$(grep "^# TYPE" "$work/metrics.txt" | sort -u | wc -l)" ] &&
	 [ "$(grep -c "^# HELP" "$work/metrics.txt")" = "$(grep -c "^# TYPE" "$work/metrics.txt")" ]'
check "pgtide_up and pgtide_info present" \
	'grep -qx "pgtide_up 1" "$work/metrics.txt" && grep -q "^pgtide_info{version=\"[0-9.]*\"} 1$" "$work/metrics.txt"'
check "promtool check metrics passes" '"$PROMTOOL" check metrics <"$work/metrics.txt" >"$work/promtool.log" 2>&1'

# ---- an unreachable database server: not ready, still healthy ----
if start_pgtide down "$closed" "$down_port" "$down_mport"; then
	down_pid=$pid
	check "/readyz answers 503 when the server is unreachable" '[ "$(get "$down_mport" /readyz)" = 503 ]'
	check "the 503 body names the database and the server" \
		'grep -q "database \"\\*\": server 127.0.0.1:$closed unreachable" "$work/body"'
	check "/healthz still answers 200" '[ "$(get "$down_mport" /healthz)" = 200 ]'
	kill -INT "$down_pid"
	wait_exit "$down_pid"
	check "the second pgtide exits 0 on SIGINT" '[ "$rc" = 0 ]'
else
	not_ok "second pgtide starts"
fi

# ---- draining: a transaction keeps pgtide alive after SIGTERM ----
"$PSQL" -XAtq -h 127.0.0.1 -p "$main_port" -U app app -c "select pg_sleep(2)" >"$work/sleep.out" 2>&1 &
sleeper=$!
for _ in $(seq 1 100); do
	get "$main_mport" /metrics >/dev/null
	grep -q '^pgtide_servers_active{database="app",user="app"} 1$' "$work/body" && break
	sleep 0.05
done
check "the running query shows in pgtide_servers_active" \
	'grep -q "^pgtide_servers_active{database=\"app\",user=\"app\"} 1$" "$work/body"'
kill -TERM "$main_pid"
code=""
for _ in $(seq 1 40); do
	code=$(get "$main_mport" /readyz)
	[ "$code" = 503 ] && break
	sleep 0.05
done
check "/readyz answers 503 while draining" '[ "$code" = 503 ] && grep -q draining "$work/body"'
check "/healthz answers 200 while draining" '[ "$(get "$main_mport" /healthz)" = 200 ]'
wait "$sleeper"
src=$?
check "the running transaction completes during the drain" '[ "$src" = 0 ]'
wait_exit "$main_pid"
check "pgtide exits 0 after draining" '[ "$rc" = 0 ]'
check "the metrics port is closed after exit" '[ "$(get "$main_mport" /healthz)" = 000 ]'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

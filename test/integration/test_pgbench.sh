#!/usr/bin/env bash
# test_pgbench.sh - pgbench through pgtide in transaction mode.
#
# Starts its own pgtide (default_pool_size = 5) in front of the test cluster
# the ctest fixture runs, initialises the pgbench tables in database app with
# a direct connection, then runs `pgbench -c 100 -j 2 -t 200` through pgtide
# with the simple, the extended and the prepared protocol (named prepared
# statements, which transaction mode must carry across server connections:
# see docs/transaction-mode.md). Every run must process all
# 20000 transactions without a failure, pgtide must never hold more server
# connections than the pool allows, and it must stop cleanly on SIGINT.
#
# Environment (set by ctest): PGTIDE_BIN, PGTIDE_TEST_PGDIR, PGTIDE_PGBENCH.
# The last line printed is "N passed, M failed".
set -euo pipefail

PASSED=0
FAILED=0
pass() {
	PASSED=$((PASSED + 1))
	echo "ok - $*"
}
fail() {
	FAILED=$((FAILED + 1))
	echo "FAIL - $*"
}
finish() {
	echo "$PASSED passed, $FAILED failed"
	if [ "$FAILED" -eq 0 ]; then
		exit 0
	fi
	exit 1
}

: "${PGTIDE_BIN:?PGTIDE_BIN is not set (run through ctest)}"
: "${PGTIDE_TEST_PGDIR:?PGTIDE_TEST_PGDIR is not set (run through ctest)}"
PGBENCH=${PGTIDE_PGBENCH:-}
if [ -z "$PGBENCH" ] || [ ! -x "$PGBENCH" ]; then
	PGBENCH=$(command -v pgbench || echo /usr/lib/postgresql/15/bin/pgbench)
fi
PSQL=$(command -v psql || echo /usr/lib/postgresql/15/bin/psql)
PGPORT_CLUSTER=$(cat "$PGTIDE_TEST_PGDIR/port")

POOL_SIZE=5
CLIENTS=100
TXNS=200

DIR=$(mktemp -d /tmp/pgtide-pgbench-XXXXXX)
PGTIDE_PID=""

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local rc=$?
	if [ -n "$PGTIDE_PID" ] && kill -0 "$PGTIDE_PID" 2>/dev/null; then
		kill -KILL "$PGTIDE_PID" 2>/dev/null || true
		wait "$PGTIDE_PID" 2>/dev/null || true
	fi
	if [ "$FAILED" -eq 0 ] && [ "$rc" -eq 0 ]; then
		rm -rf "$DIR"
	else
		echo "test_pgbench: files kept in $DIR"
		if [ -f "$DIR/pgtide.log" ]; then
			echo "--- last lines of pgtide.log ---"
			tail -30 "$DIR/pgtide.log" || true
		fi
	fi
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

cat >"$DIR/userlist.txt" <<'USERS'
"app" "app-pw"
"admin" "admin-pw"
USERS

cat >"$DIR/pgtide.ini" <<INI
[pgtide]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir = $DIR
auth_file = $DIR/userlist.txt
auth_type = md5
admin_users = admin
pool_mode = transaction
default_pool_size = $POOL_SIZE
max_client_conn = 300
log_connections = 0
log_disconnections = 0

[databases]
app = host=127.0.0.1 port=$PGPORT_CLUSTER
INI

# ---- start pgtide ----
"$PGTIDE_BIN" "$DIR/pgtide.ini" >"$DIR/pgtide.log" 2>&1 &
PGTIDE_PID=$!
listening=0
for _ in $(seq 1 300); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
		listening=1
		break
	fi
	if ! kill -0 "$PGTIDE_PID" 2>/dev/null; then
		break
	fi
	sleep 0.02
done
if [ "$listening" -eq 1 ]; then
	pass "pgtide listens on port $PORT"
else
	fail "pgtide did not start"
	cat "$DIR/pgtide.log" || true
	finish
fi

# ---- pgbench tables, made directly on the cluster ----
if PGPASSWORD=app-pw timeout 120 "$PGBENCH" -i -s 1 -q -h 127.0.0.1 -p "$PGPORT_CLUSTER" -U app app \
	>"$DIR/init.out" 2>&1; then
	pass "pgbench -i -s 1 on the cluster"
else
	fail "pgbench -i failed"
	cat "$DIR/init.out"
	finish
fi

# The pool of (app, app) as SHOW POOLS reports it: total server connections
# and waiting clients, "sv cl_waiting".
pool_state() {
	PGPASSWORD=admin-pw timeout 20 "$PSQL" -X --csv -h 127.0.0.1 -p "$PORT" -U admin -d pgbouncer \
		-c "SHOW POOLS" 2>>"$DIR/psql.err" | awk -F, '
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		$col["database"] == "app" && $col["user"] == "app" {
			sv = $col["sv_active"] + $col["sv_idle"] + $col["sv_used"] + $col["sv_tested"] + $col["sv_login"]
			print sv, $col["cl_waiting"]
		}'
}

# Samples SHOW POOLS while pgbench runs; writes the largest server count.
monitor() {
	local out=$1 max=0 sv
	while [ ! -f "$DIR/stop-monitor" ]; do
		sv=""
		read -r sv _ < <(pool_state || true) || true
		if [ -n "${sv:-}" ] && [ "$sv" -gt "$max" ]; then
			max=$sv
		fi
		echo "$max" >"$out"
		sleep 0.2
	done
}

# ---- pgbench through pgtide ----
# run_pgbench LABEL MODE CLIENTS THREADS TXNS [pgbench options]
run_pgbench() {
	local label=$1 mode=$2 clients=$3 threads=$4 txns=$5
	shift 5
	local out="$DIR/pgbench-$label.out" rc=0
	rm -f "$DIR/stop-monitor"
	echo 0 >"$DIR/max-$label"
	monitor "$DIR/max-$label" &
	local mon=$!
	local t0=$SECONDS
	PGPASSWORD=app-pw timeout 300 "$PGBENCH" -n -h 127.0.0.1 -p "$PORT" -U app -c "$clients" -j "$threads" \
		-t "$txns" -M "$mode" "$@" app >"$out" 2>&1 || rc=$?
	touch "$DIR/stop-monitor"
	wait "$mon" || true
	echo "pgbench $label: exit status $rc after $((SECONDS - t0))s"
	grep -E '^(number of|latency average|tps)' "$out" || true

	if [ "$rc" -eq 0 ]; then
		pass "pgbench $label exits with status 0"
	else
		fail "pgbench $label exited with status $rc"
		tail -20 "$out"
	fi
	local want="number of transactions actually processed: $((clients * txns))/$((clients * txns))"
	if grep -qF "$want" "$out"; then
		pass "pgbench $label: $want"
	else
		fail "pgbench $label: no line \"$want\""
	fi
	if grep -qE '^number of failed transactions: 0 ' "$out"; then
		pass "pgbench $label: zero failed transactions"
	else
		fail "pgbench $label: failed transactions: $(grep -E '^number of failed' "$out" || echo '(line missing)')"
	fi
	if grep -qiE 'error|FATAL' "$out"; then
		fail "pgbench $label printed errors: $(grep -iE 'error|FATAL' "$out" | head -3)"
	else
		pass "pgbench $label printed no errors"
	fi
	local max
	max=$(cat "$DIR/max-$label")
	if [ "$max" -ge 1 ] && [ "$max" -le "$POOL_SIZE" ]; then
		pass "pgbench $label: at most $max server connections (pool size $POOL_SIZE)"
	else
		fail "pgbench $label: SHOW POOLS reported $max server connections (pool size $POOL_SIZE)"
	fi
}

run_pgbench simple simple "$CLIENTS" 2 "$TXNS"
run_pgbench extended extended "$CLIENTS" 2 "$TXNS"
# Named prepared statements, select-only: every client prepares on first use
# and then binds its statement on whichever of the 5 servers it gets.
run_pgbench prepared-S prepared "$CLIENTS" 2 "$TXNS" -S
# TPC-B with prepared statements: one thread per client, because pgbench 15
# prepares with a blocking PQprepare() on first use; a client waiting there
# for a server would stall the other clients of its thread, which hold the
# servers in their open transactions (true of any transaction pooler; see
# docs/transaction-mode.md).
run_pgbench prepared prepared 20 20 100

# The work really went through: every transaction updated a history row.
count=$(PGPASSWORD=app-pw "$PSQL" -X -At -h 127.0.0.1 -p "$PORT" -U app -d app \
	-c "SELECT count(*) FROM pgbench_history" 2>&1 || true)
if [ "$count" = "$((2 * CLIENTS * TXNS + 20 * 100))" ]; then
	pass "pgbench_history holds $count rows"
else
	fail "pgbench_history holds \"$count\" rows, expected $((2 * CLIENTS * TXNS + 20 * 100))"
fi

state=$(pool_state || true)
if [ -n "$state" ] && [ "${state#* }" = "0" ]; then
	pass "no client waiting after the runs (SHOW POOLS: $state)"
else
	fail "SHOW POOLS after the runs: \"$state\""
fi

# ---- clean stop ----
kill -INT "$PGTIDE_PID"
rc=0
for _ in $(seq 1 500); do
	kill -0 "$PGTIDE_PID" 2>/dev/null || break
	sleep 0.02
done
if kill -0 "$PGTIDE_PID" 2>/dev/null; then
	fail "pgtide still running 10 s after SIGINT"
	kill -KILL "$PGTIDE_PID" 2>/dev/null || true
fi
wait "$PGTIDE_PID" || rc=$?
PGTIDE_PID=""
if [ "$rc" -eq 0 ]; then
	pass "pgtide exits with status 0 on SIGINT"
else
	fail "pgtide exited with status $rc on SIGINT"
fi

finish

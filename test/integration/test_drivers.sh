#!/usr/bin/env bash
# test_drivers.sh - a real driver that prepares by default, through
# transaction mode with far more clients than server connections.
#
# Debian's python3-asyncpg (installed by scripts/install-deps.sh) runs 40
# clients on a pool of 4 (asyncpg_workload.py): its statement cache sends
# named Parse/Bind/Describe, each client keeps its own app.user_id and
# search_path, writes and reads its rows in transactions, cycles through 40
# distinct statements on servers that keep at most 20, and asyncpg's pool
# resets sessions on release. Zero errors, and pgtide stops cleanly.
#
# Environment (set by ctest): PGTIDE_BIN, PGTIDE_TEST_PGDIR.
# The last line printed is "N passed, M failed".
#
# shellcheck disable=SC2016
set -uo pipefail

# shellcheck source=test/integration/testlib.sh
. "$(dirname "$0")/testlib.sh"

test_tools
PY=/usr/bin/python3 # Debian's, where python3-asyncpg lives
work_dir drivers
pid=""
db="pt_drv_$$"
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	PGPASSWORD=app-pw "$PSQL" -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres \
		-c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
	cleanup_work
}
trap cleanup EXIT

if ! "$PY" -c 'import asyncpg' 2>/dev/null; then
	echo "python3-asyncpg is not installed (scripts/install-deps.sh installs it)"
	not_ok "asyncpg importable"
	echo "$pass passed, $fail failed"
	exit 1
fi

"$PSQL" -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -c "CREATE DATABASE $db OWNER app" &&
	"$PSQL" -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d "$db" \
		-c "CREATE TABLE drv_t (client int, n int); ALTER TABLE drv_t OWNER TO app;
		    CREATE SCHEMA s0 AUTHORIZATION app; CREATE SCHEMA s1 AUTHORIZATION app;
		    CREATE SCHEMA s2 AUTHORIZATION app;" >"$work/setup.log" 2>&1
check "test database $db created" '[ $? -eq 0 ]'

read -r port < <(free_ports 1)
printf '"app" "app-pw"\n"admin" "admin-pw"\n' >"$work/userlist.txt"
cat >"$work/pgtide.ini" <<INI
[pgtide]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $work
auth_file = $work/userlist.txt
auth_type = scram-sha-256
admin_users = admin
pool_mode = transaction
default_pool_size = 4
max_prepared_statements = 20
max_client_conn = 200
log_connections = 0
log_disconnections = 0

[databases]
$db = host=127.0.0.1 port=$PGPORT
INI
"$PGTIDE" "$work/pgtide.ini" >"$work/pgtide.log" 2>&1 &
pid=$!
check "pgtide starts" 'wait_ready "$port"'

timeout 300 "$PY" "$(dirname "$0")/asyncpg_workload.py" \
	"postgresql://app:app-pw@127.0.0.1:$port/$db" 40 30 >"$work/asyncpg.log" 2>&1
rc=$?
cat "$work/asyncpg.log"
check "asyncpg: 40 clients x 30 rounds on a pool of 4, zero errors" '[ $rc -eq 0 ] && grep -q "^errors=0 " "$work/asyncpg.log"'

rows=$(PGPASSWORD=app-pw "$PSQL" -X -At -h 127.0.0.1 -p "$PGPORT" -U app -d "$db" -c "SELECT count(*) FROM drv_t")
check "every insert committed once ($rows rows)" '[ "$rows" = "1200" ]'

evictions=$(PGPASSWORD=admin-pw "$PSQL" -X -At -F, -h 127.0.0.1 -p "$port" -U admin -d pgbouncer \
	-c "SHOW STATS_TOTALS" | awk -F, -v db="$db" '$1 == db { print $NF }')
check "servers closed least recently used statements (ps_evictions = $evictions)" '[ "${evictions:-0}" -gt 0 ]'

kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
check "pgtide exits with status 0" '[ $rc -eq 0 ]'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

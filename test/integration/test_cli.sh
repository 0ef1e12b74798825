#!/usr/bin/env bash
# Command-line behaviour: --version/--help, config errors naming file:line,
# zero-config start from --database-url and DATABASE_URL with PGTIDE_*
# overrides, -d with a pidfile, --check-config masking secrets.
set -uo pipefail

PGTIDE=${PGTIDE_BIN:?run through ctest}
PGPORT=$(cat "${PGTIDE_TEST_PGDIR:?}/port")
work=$(mktemp -d /tmp/pgtide-cli.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=test/integration/testlib.sh
. "$(dirname "$0")/testlib.sh"

free_port() { free_ports 1; }

check "--version prints the version" '"$PGTIDE" --version | grep -q "^pgtide [0-9]"'
check "--help prints usage" '"$PGTIDE" --help | grep -q "Usage: pgtide"'
check "no config is an error" '! "$PGTIDE" >/dev/null 2>&1'

printf '[pgtide]\nlisten_port = 6432\ndefault_pool_size = lots\n' >"$work/bad.ini"
out=$("$PGTIDE" "$work/bad.ini" 2>&1)
check "bad value names file, line and key" 'grep -q "bad.ini:3" <<<"$out" && grep -q "default_pool_size" <<<"$out"'
printf '[pgtide]\nno_such_setting = 1\n' >"$work/bad2.ini"
out=$("$PGTIDE" "$work/bad2.ini" 2>&1)
check "unknown key names file, line and key" 'grep -q "bad2.ini:2" <<<"$out" && grep -q "no_such_setting" <<<"$out"'

# Zero-config: URL on the command line, settings from the environment.
port=$(free_port)
PGTIDE_LISTEN_PORT=$port PGTIDE_DEFAULT_POOL_SIZE=3 PGTIDE_UNIX_SOCKET_DIR=$work \
	"$PGTIDE" --database-url "postgres://app:app-pw@127.0.0.1:$PGPORT/app" >"$work/zc.log" 2>&1 &
pids+=($!)
wait_ready "$port"
export PGPASSWORD=app-pw
check "zero-config start serves the URL's database with its user" \
	'[ "$(psql -XAtq -h 127.0.0.1 -p "$port" -U app app -c "select current_user")" = app ]'
check "PGTIDE_DEFAULT_POOL_SIZE applies (SHOW CONFIG)" \
	'psql -XAtq -h 127.0.0.1 -p "$port" -U app pgtide -c "show config" | grep -qx "default_pool_size|3|20|yes"'
check "wrong password is refused" \
	'! PGPASSWORD=nope psql -XAtq -h 127.0.0.1 -p "$port" -U app app -c "select 1" >/dev/null 2>&1'
kill -INT "${pids[-1]}"; wait "${pids[-1]}"; rc=$?
check "SIGINT exits 0" '[ "$rc" -eq 0 ]'

# DATABASE_URL from the environment, daemonized with a pidfile.
port=$(free_port)
DATABASE_URL="postgres://app:app-pw@127.0.0.1:$PGPORT/app" PGTIDE_LISTEN_PORT=$port \
	PGTIDE_UNIX_SOCKET_DIR=$work PGTIDE_PIDFILE=$work/pgtide.pid PGTIDE_LOGFILE=$work/d.log "$PGTIDE" -d
sleep 0.3
wait_ready "$port"
check "-d writes the pidfile of a running pgtide" '[ -s "$work/pgtide.pid" ] && kill -0 "$(cat "$work/pgtide.pid")"'
check "daemon serves queries" '[ "$(psql -XAtq -h 127.0.0.1 -p "$port" -U app app -c "select 6*7")" = 42 ]'
dpid=$(cat "$work/pgtide.pid")
kill -INT "$dpid"
for _ in $(seq 1 100); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.05; done
check "daemon stops on SIGINT and removes its pidfile" '! kill -0 "$dpid" 2>/dev/null && [ ! -e "$work/pgtide.pid" ]'

# PGTIDE_AUTH_FILE from the environment replaces the file's users.
printf '"envuser" "env-pw"\n' >"$work/env-users.txt"
printf '[pgtide]\nauth_file = %s/none.txt\n[databases]\n* = host=127.0.0.1 port=%s\n' "$work" "$PGPORT" >"$work/env.ini"
: >"$work/none.txt"
out=$(PGTIDE_AUTH_FILE=$work/env-users.txt "$PGTIDE" --check-config "$work/env.ini" 2>&1)
check "PGTIDE_AUTH_FILE loads that file's users" 'grep -q "^; 1 user(s) in auth_file" <<<"$out"'

out=$("$PGTIDE" --check-config --database-url "postgres://app:s3cr3t-pw@127.0.0.1:$PGPORT/app" 2>&1)
check "--check-config prints settings" 'grep -q "^default_pool_size = 20" <<<"$out"'
check "--check-config masks secrets" '! grep -q "s3cr3t-pw" <<<"$out"'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

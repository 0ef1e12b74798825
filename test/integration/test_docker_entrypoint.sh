#!/usr/bin/env bash
# test_docker_entrypoint.sh - etc/docker/docker-entrypoint.sh, run outside
# Docker against the test cluster: every path it uses is pointed into a
# temporary directory.
#
# Covers: --print-config (container defaults, masking, *_FILE, errors), an
# env-only start from DATABASE_URL + PGTIDE_* checked through SHOW CONFIG,
# the PgBouncer-image spellings (DB_HOST/DB_PORT/DB_USER/DB_PASSWORD_FILE/
# DB_NAME, POOL_MODE, DEFAULT_POOL_SIZE, ADMIN_USERS, ...), DATABASE_URLS, a
# mounted configuration file that is used and left unmodified, the
# healthcheck subcommand, exec (pgtide keeps the entrypoint's pid) and a
# SIGTERM drain that lets a running transaction finish and exits 0.
#
# Environment (set by ctest): PGTIDE_BIN, PGTIDE_TEST_PGDIR, PGTIDE_SOURCE_DIR.
# The last line printed is "N passed, M failed".
#
# check() evals its condition, so conditions are single-quoted on purpose.
# shellcheck disable=SC2016,SC2034
set -uo pipefail

# shellcheck source=test/integration/testlib.sh
. "$(dirname "$0")/testlib.sh"

test_tools
SRC=${PGTIDE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
EP=$SRC/etc/docker/docker-entrypoint.sh
work_dir entrypoint
trap cleanup_work EXIT

read -r p_env m_env p_bnc m_bnc p_file m_file p_urls m_urls p_none < <(free_ports 9)

mkdir -p "$work/etc" "$work/run" "$work/secrets"
# The entrypoint runs with a clean environment: only what each case sets.
BASE_ENV=(PATH="$PATH" PGTIDE_BIN="$PGTIDE" PGTIDE_CONFIG_DIR="$work/etc" PGTIDE_RUN_DIR="$work/run")
# ... and the sanitizer settings of the ASan build's run.
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
	[ -z "${!v:-}" ] || BASE_ENV+=("$v=${!v}")
done
# Outside a container, listen on loopback only.
LOOPBACK=(PGTIDE_LISTEN_ADDR=127.0.0.1 PGTIDE_METRICS_ADDR=127.0.0.1 PGTIDE_LOG_CONNECTIONS=0
	PGTIDE_LOG_DISCONNECTIONS=0 PGTIDE_LOG_STATS=0)
APP_URL="postgres://app:app-pw@127.0.0.1:$PGPORT/app"
export PGPASSWORD=app-pw

ep() { env -i "${BASE_ENV[@]}" "$@"; }

# start NAME PORT VAR=VALUE...: starts the entrypoint in the background (its
# pid is pgtide's, since it execs); true once pgtide accepts on PORT.
start() {
	local name=$1 port=$2
	shift 2
	env -i "${BASE_ENV[@]}" "$@" bash "$EP" >"$work/$name.log" 2>&1 &
	pid=$!
	pids+=("$pid")
	for _ in $(seq 1 200); do
		pg_isready -q -h 127.0.0.1 -p "$port" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# config PORT KEY: the value column of SHOW CONFIG for KEY.
config() {
	"$PSQL" -XAtq -h 127.0.0.1 -p "$1" -U "${ADMIN:-app}" pgtide -c "SHOW CONFIG" 2>/dev/null |
		awk -F'|' -v k="$2" '$1 == k { print $2 }'
}

# wait_exit PID: waits up to 15 s; sets rc to its exit status.
wait_exit() {
	for _ in $(seq 1 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
	wait "$1"
	rc=$?
}

query() { "$PSQL" -XAtq -h 127.0.0.1 -p "$1" -U "$2" "$3" -c "$4" 2>&1; }

# ---- --print-config ------------------------------------------------------

out=$(ep DATABASE_URL="$APP_URL" bash "$EP" --print-config 2>&1)
check "print-config: listen_addr defaults to * in a container" 'grep -qx "PGTIDE_LISTEN_ADDR=\*" <<<"$out" && grep -qx "listen_addr = \*" <<<"$out"'
check "print-config: metrics default to 0.0.0.0:9127" \
	'grep -qx "PGTIDE_METRICS_ADDR=0.0.0.0" <<<"$out" && grep -qx "PGTIDE_METRICS_PORT=9127" <<<"$out"'
check "print-config: the Unix socket goes to the run dir" 'grep -qx "unix_socket_dir = $work/run" <<<"$out"'
check "print-config: the URL's password is masked" \
	'grep -qx "DATABASE_URL=postgres://app:\*\*\*@127.0.0.1:$PGPORT/app" <<<"$out" && ! grep -q app-pw <<<"$out"'
check "print-config: pgtide is exec'd with no arguments (it reads DATABASE_URL)" 'grep -qx "exec $PGTIDE" <<<"$out"'
check "print-config: the URL's user runs the console" 'grep -qx "admin_users = app" <<<"$out"'

out=$(ep DATABASE_URL="$APP_URL" LISTEN_ADDR=10.1.2.3 PGTIDE_METRICS_PORT=0 bash "$EP" --dry-run 2>&1)
check "print-config: a set listen_addr or metrics_port is not defaulted" \
	'grep -qx "listen_addr = 10.1.2.3" <<<"$out" && grep -qx "metrics_port = 0" <<<"$out"'

printf '%s\n' "$APP_URL" >"$work/secrets/url"
printf '7\n' >"$work/secrets/pool"
out=$(ep DATABASE_URL_FILE="$work/secrets/url" PGTIDE_DEFAULT_POOL_SIZE_FILE="$work/secrets/pool" bash "$EP" --print-config 2>&1)
check "print-config: DATABASE_URL_FILE and PGTIDE_*_FILE are read" \
	'grep -qx "app = host=127.0.0.1 port=$PGPORT dbname=app" <<<"$out" && grep -qx "default_pool_size = 7" <<<"$out"'
out=$(ep DATABASE_URL="$APP_URL" DATABASE_URL_FILE="$work/secrets/url" bash "$EP" --print-config 2>&1)
rc=$?
check "NAME and NAME_FILE both set is an error" '[ "$rc" != 0 ] && grep -q "both DATABASE_URL and DATABASE_URL_FILE" <<<"$out"'
out=$(ep bash "$EP" --print-config 2>&1)
rc=$?
check "no database and no file is an error naming the choices" '[ "$rc" != 0 ] && grep -q "set DATABASE_URL" <<<"$out"'
out=$(ep DATABASE_URL="$APP_URL" bash "$EP" -d 2>&1)
rc=$?
check "-d is refused" '[ "$rc" != 0 ] && grep -q "background" <<<"$out"'
out=$(ep DATABASE_URL="$APP_URL" CLIENT_TLS_SSLMODE=require bash "$EP" --print-config 2>&1)
rc=$?
check "CLIENT_TLS_SSLMODE=require is refused, not ignored" '[ "$rc" != 0 ] && grep -q "not implemented" <<<"$out"'
out=$(ep DATABASE_URL="$APP_URL" PGTIDE_DEFAULT_POOL_SIZE=lots bash "$EP" --print-config 2>&1)
rc=$?
check "an invalid PGTIDE_ value stops the start with pgtide's message" \
	'[ "$rc" != 0 ] && grep -q "PGTIDE_DEFAULT_POOL_SIZE" <<<"$out"'
out=$(ep DATABASE_URL="$APP_URL" PGTIDE_POOLSIZE=3 bash "$EP" --print-config 2>&1)
check "a misspelt PGTIDE_ variable is reported" 'grep -q "PGTIDE_POOLSIZE is not a pgtide setting" <<<"$out"'
check "any other command runs as it is" '[ "$(ep bash "$EP" echo hello 2>&1)" = hello ]'

# ---- healthcheck with nothing running ------------------------------------

ep PGTIDE_METRICS_PORT="$p_none" bash "$EP" healthcheck >"$work/hc.out" 2>&1
rc=$?
check "healthcheck fails when pgtide is not running" '[ "$rc" != 0 ] && grep -q "not ready" "$work/hc.out"'

# ---- env-only start: DATABASE_URL + PGTIDE_* -----------------------------

ENV_CASE=("${LOOPBACK[@]}" DATABASE_URL="$APP_URL" PGTIDE_LISTEN_PORT="$p_env" PGTIDE_METRICS_PORT="$m_env"
	PGTIDE_DEFAULT_POOL_SIZE=4 PGTIDE_MAX_CLIENT_CONN=55 PGTIDE_QUERY_WAIT_TIMEOUT=30)
if start env "$p_env" "${ENV_CASE[@]}"; then
	env_pid=$pid
	check "exec: pgtide runs with the entrypoint's pid" \
		'[ "$(readlink -f "/proc/$env_pid/exe")" = "$(readlink -f "$PGTIDE")" ]'
	check "serves the URL's database" '[ "$(query "$p_env" app app "select current_user")" = app ]'
	check "SHOW CONFIG: default_pool_size from PGTIDE_DEFAULT_POOL_SIZE" '[ "$(config "$p_env" default_pool_size)" = 4 ]'
	check "SHOW CONFIG: max_client_conn from PGTIDE_MAX_CLIENT_CONN" '[ "$(config "$p_env" max_client_conn)" = 55 ]'
	check "SHOW CONFIG: query_wait_timeout from PGTIDE_QUERY_WAIT_TIMEOUT" '[ "$(config "$p_env" query_wait_timeout)" = 30 ]'
	check "SHOW CONFIG: metrics_port from the environment" '[ "$(config "$p_env" metrics_port)" = "$m_env" ]'
	check "SHOW CONFIG: unix_socket_dir defaults to the run dir" '[ "$(config "$p_env" unix_socket_dir)" = "$work/run" ]'
	check "the Unix socket is in the run dir" '[ -S "$work/run/.s.PGSQL.$p_env" ]'
	ep "${ENV_CASE[@]}" bash "$EP" healthcheck >"$work/hc.out" 2>&1
	rc=$?
	check "healthcheck (/readyz) returns 0 when ready" '[ "$rc" = 0 ]'
	check "healthcheck /healthz returns 0" 'ep "${ENV_CASE[@]}" bash "$EP" healthcheck /healthz >/dev/null 2>&1'

	# Drain: a transaction running when SIGTERM arrives completes.
	query "$p_env" app app "select pg_sleep(2)" >"$work/sleep.out" 2>&1 &
	sleeper=$!
	for _ in $(seq 1 100); do
		"$PSQL" -X --csv -h 127.0.0.1 -p "$p_env" -U app pgtide -c "SHOW POOLS" 2>/dev/null |
			awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
				$1 == "app" && $col["sv_active"] == 1 { found = 1 } END { exit !found }' && break
		sleep 0.05
	done
	kill -TERM "$env_pid"
	hc=0
	for _ in $(seq 1 20); do
		ep "${ENV_CASE[@]}" bash "$EP" healthcheck >"$work/hc.out" 2>&1 || { hc=1; break; }
		sleep 0.05
	done
	check "healthcheck fails while draining" '[ "$hc" = 1 ] && grep -q draining "$work/hc.out"'
	wait "$sleeper"
	src=$?
	check "the running transaction completes during the SIGTERM drain" '[ "$src" = 0 ]'
	wait_exit "$env_pid"
	check "SIGTERM: pgtide exits 0 after draining" '[ "$rc" = 0 ]'
	check "the drain is logged to stderr" 'grep -q "SIGTERM" "$work/env.log"'
	ep "${ENV_CASE[@]}" bash "$EP" healthcheck >/dev/null 2>&1
	rc=$?
	check "healthcheck fails once pgtide has exited" '[ "$rc" != 0 ]'
else
	not_ok "entrypoint starts pgtide from DATABASE_URL"
fi

# ---- PgBouncer-image spellings -------------------------------------------

# A role whose name and password need percent-encoding in a URL. (No blank
# in the name: admin_users is a list separated by commas or blanks.)
bnc_user='ep@user'
bnc_pass='p@ss:w/rd %x"y?'
"$PSQL" -XAtq -h "$PGDIR" -p "$PGPORT" -U postgres postgres -v ON_ERROR_STOP=1 >/dev/null 2>&1 <<SQL
SET password_encryption = 'scram-sha-256';
DROP ROLE IF EXISTS "$bnc_user";
CREATE ROLE "$bnc_user" LOGIN PASSWORD '$bnc_pass';
SQL
printf '%s\n' "$bnc_pass" >"$work/secrets/db_password"
if start bnc "$p_bnc" PGTIDE_LOG_CONNECTIONS=0 LISTEN_ADDR=127.0.0.1 LISTEN_PORT="$p_bnc" \
	PGTIDE_METRICS_ADDR=127.0.0.1 PGTIDE_METRICS_PORT="$m_bnc" \
	DB_HOST=127.0.0.1 DB_PORT="$PGPORT" DB_USER="$bnc_user" DB_PASSWORD_FILE="$work/secrets/db_password" DB_NAME=app \
	POOL_MODE=session DEFAULT_POOL_SIZE=6 MAX_CLIENT_CONN=77 MIN_POOL_SIZE=1 RESERVE_POOL_SIZE=2 \
	SERVER_RESET_QUERY="DISCARD ALL" AUTH_TYPE=scram-sha-256 ADMIN_USERS="app,$bnc_user" STATS_USERS=md5_user; then
	bnc_pid=$pid
	export PGPASSWORD=$bnc_pass
	check "DB_* with DB_PASSWORD_FILE: a user and password with URL-special characters log in" \
		'[ "$(query "$p_bnc" "$bnc_user" app "select current_user || current_database()")" = "${bnc_user}app" ]'
	ADMIN=$bnc_user
	check "POOL_MODE -> pool_mode" '[ "$(config "$p_bnc" pool_mode)" = session ]'
	check "DEFAULT_POOL_SIZE -> default_pool_size" '[ "$(config "$p_bnc" default_pool_size)" = 6 ]'
	check "MAX_CLIENT_CONN, MIN_POOL_SIZE, RESERVE_POOL_SIZE" \
		'[ "$(config "$p_bnc" max_client_conn)/$(config "$p_bnc" min_pool_size)/$(config "$p_bnc" reserve_pool_size)" = 77/1/2 ]'
	check "ADMIN_USERS and STATS_USERS" \
		'[ "$(config "$p_bnc" admin_users)" = "app,$bnc_user" ] && [ "$(config "$p_bnc" stats_users)" = md5_user ]'
	check "AUTH_TYPE, LISTEN_ADDR, LISTEN_PORT" \
		'[ "$(config "$p_bnc" auth_type)/$(config "$p_bnc" listen_addr)/$(config "$p_bnc" listen_port)" = "scram-sha-256/127.0.0.1/$p_bnc" ]'
	check "SERVER_RESET_QUERY" '[ "$(config "$p_bnc" server_reset_query)" = "DISCARD ALL" ]'
	ADMIN=app
	check "the environment holds no DB_PASSWORD once pgtide runs" \
		'! tr "\0" "\n" <"/proc/$bnc_pid/environ" | grep -q "^DB_PASSWORD"'
	export PGPASSWORD=app-pw
	kill -INT "$bnc_pid"
	wait_exit "$bnc_pid"
	check "SIGINT exits 0" '[ "$rc" = 0 ]'
else
	not_ok "entrypoint starts pgtide from DB_HOST/DB_USER/DB_PASSWORD_FILE/DB_NAME"
fi
"$PSQL" -XAtq -h "$PGDIR" -p "$PGPORT" -U postgres postgres -c "DROP ROLE IF EXISTS \"$bnc_user\"" >/dev/null 2>&1

# ---- DATABASE_URLS -------------------------------------------------------

URLS="app=$APP_URL, pg=postgres://md5_user:md5-pw@127.0.0.1:$PGPORT/postgres"
if start urls "$p_urls" "${LOOPBACK[@]}" PGTIDE_LISTEN_PORT="$p_urls" PGTIDE_METRICS_PORT="$m_urls" DATABASE_URLS="$URLS"; then
	urls_pid=$pid
	check "DATABASE_URLS: first database" '[ "$(query "$p_urls" app app "select current_database()")" = app ]'
	check "DATABASE_URLS: second database with its own user (md5)" \
		'[ "$(PGPASSWORD=md5-pw query "$p_urls" md5_user pg "select current_user || current_database()")" = md5_userpostgres ]'
	check "DATABASE_URLS: the first URL's user runs the console" '[ "$(config "$p_urls" admin_users)" = app ]'
	check "DATABASE_URLS: the generated userlist is private" \
		'[ "$(stat -c %a "$work/run/userlist-generated.txt")" = 600 ]'
	kill -INT "$urls_pid"
	wait_exit "$urls_pid"
else
	not_ok "entrypoint starts pgtide from DATABASE_URLS"
fi

# ---- a mounted configuration file ----------------------------------------

cat >"$work/etc/pgtide.ini" <<INI
[pgtide]
listen_addr = 127.0.0.1
listen_port = $p_file
unix_socket_dir = $work
auth_file = userlist.txt
admin_users = app
default_pool_size = 9
metrics_addr = 127.0.0.1
metrics_port = $m_file ; the healthcheck must find this one
log_connections = 0

[databases]
app = host=127.0.0.1 port=$PGPORT
INI
printf '"app" "app-pw"\n' >"$work/etc/userlist.txt"
chmod 0444 "$work/etc/pgtide.ini"
sum_before=$(sha256sum "$work/etc/pgtide.ini")
listing() { find "$work/etc" -printf '%p %s %m %T@\n' | sort; }
ls_before=$(listing)

out=$(ep DATABASE_URLS="$URLS" bash "$EP" --print-config 2>&1)
rc=$?
check "DATABASE_URLS with a mounted file is refused" '[ "$rc" != 0 ] && grep -q "cannot be combined" <<<"$out"'
out=$(ep bash "$EP" --print-config 2>&1)
check "print-config: the mounted file is used and its settings are not defaulted" \
	'grep -qx "exec $PGTIDE $work/etc/pgtide.ini" <<<"$out" && grep -qx "container_defaults: none" <<<"$out"'
out=$(ep PGTIDE_CONFIG_DIR=/nonexistent PGTIDE_CONFIG="$work/etc/pgtide.ini" bash "$EP" --print-config 2>&1)
check "PGTIDE_CONFIG names the file" 'grep -qx "exec $PGTIDE $work/etc/pgtide.ini" <<<"$out"'

if start file "$p_file" PGTIDE_MAX_CLIENT_CONN=66; then
	file_pid=$pid
	check "mounted file: serves queries" '[ "$(query "$p_file" app app "select 6*7")" = 42 ]'
	check "mounted file: default_pool_size from the file" '[ "$(config "$p_file" default_pool_size)" = 9 ]'
	check "mounted file: PGTIDE_MAX_CLIENT_CONN still overrides it" '[ "$(config "$p_file" max_client_conn)" = 66 ]'
	check "mounted file: its listen_addr and unix_socket_dir are kept" \
		'[ "$(config "$p_file" listen_addr)" = 127.0.0.1 ] && [ "$(config "$p_file" unix_socket_dir)" = "$work" ]'
	check "healthcheck finds metrics_port in the mounted file" 'ep bash "$EP" healthcheck >"$work/hc.out" 2>&1'
	kill -TERM "$file_pid"
	wait_exit "$file_pid"
	check "mounted file: SIGTERM with no transaction running exits 0" '[ "$rc" = 0 ]'
else
	not_ok "entrypoint starts pgtide from a mounted file"
fi
check "the mounted file is not modified" '[ "$(sha256sum "$work/etc/pgtide.ini")" = "$sum_before" ]'
check "nothing is added to or changed in the config dir" '[ "$(listing)" = "$ls_before" ]'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/bin/sh
# Starts pgtide as the candidate of the pooler benchmark harness
# (../shared/bench/pooler-bench.sh): it writes pgtide.ini from the BENCH_*
# variables the harness sets, then execs pgtide in the foreground, under
# $BENCH_EXEC_PREFIX (valgrind/callgrind in the instruction-count scenario).
#   PGTIDE_BIN      the binary (default: build-bench/pgtide beside this script)
#   PGTIDE_WORKERS  worker threads (default 0 = one per core)
#   PGTIDE_SERVER_VIA  unix (default when the harness names the server's socket
#                   directory, BENCH_PG_SOCKET_DIR) or tcp: how pgtide reaches
#                   PostgreSQL. The harness offers the socket for optional use
#                   and configures PgBouncer over TCP; docs/performance.md
#                   reports both.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${PGTIDE_BIN:-$here/../build-bench/pgtide}
dir=${BENCH_DIR:?run from the benchmark harness}

server_host=$BENCH_PG_HOST
if [ "${PGTIDE_SERVER_VIA:-unix}" = unix ] && [ -n "${BENCH_PG_SOCKET_DIR:-}" ]; then
	server_host=$BENCH_PG_SOCKET_DIR
fi

# The server's own secrets, as PgBouncer gets them in the same run: SCRAM
# clients are verified without PBKDF2 and pgtide logs into the server with
# SCRAM pass-through; the md5 secret serves both sides of md5.
cat >"$dir/userlist.txt" <<EOT
"$BENCH_USER" "$BENCH_USER_SECRET"
"$BENCH_MD5_USER" "$BENCH_MD5_SECRET"
EOT
cat >"$dir/pgtide.ini" <<EOT
[pgtide]
listen_addr = $BENCH_LISTEN_HOST
listen_port = $BENCH_LISTEN_PORT
unix_socket_dir = $dir
pool_mode = $BENCH_POOL_MODE
default_pool_size = $BENCH_POOL_SIZE
max_client_conn = $BENCH_MAX_CLIENT_CONN
auth_type = md5
auth_file = $dir/userlist.txt
workers = ${PGTIDE_WORKERS:-0}
log_connections = 0
log_disconnections = 0
log_stats = 0
query_wait_timeout = 300

[databases]
$BENCH_DB = host=$server_host port=$BENCH_PG_PORT
EOT
# shellcheck disable=SC2086
exec ${BENCH_EXEC_PREFIX:-} "$bin" "$dir/pgtide.ini"

#!/usr/bin/env bash
# S6: does the pooler use a second core? Each pooler runs pinned to one
# core (taskset -c 0), then to two (taskset -c 0,1; pgtide with workers = 2),
# under pgbench -S -c 50 through it; rounds interleave the runs. Writes
# round<TAB>pooler<TAB>cores<TAB>tps rows to $1.
#   ROUNDS (3), DURATION seconds per run (15), PGTIDE_BIN.
set -euo pipefail
outfile=${1:?usage: multicore.sh OUT.tsv}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-15}
PGBIN=/usr/lib/postgresql/15/bin
PGTIDE_BIN=${PGTIDE_BIN:?}
PG_PORT=5601 PGB_PORT=5602 PT_PORT=5603
W=$(mktemp -d /tmp/pgtide-multicore.XXXXXX)
chmod 755 "$W"
# setpriv execs, so a pooler started with "${AS_PG[@]}" ... & has the pid $!.
AS_PG=()
[ "$(id -u)" -eq 0 ] && AS_PG=(setpriv --reuid=postgres "--regid=$(id -g postgres)" --init-groups --)
as_pg() { "${AS_PG[@]}" "$@"; }
pooler_pid=""
cleanup() {
	[ -n "$pooler_pid" ] && kill -TERM "$pooler_pid" 2>/dev/null && sleep 1
	[ -f "$W/pg/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$W/pg" -m fast -w stop >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/pg" "$W/run"
[ "$(id -u)" -eq 0 ] && chown postgres: "$W/pg" "$W/run"
chmod 700 "$W/pg"
as_pg "$PGBIN/initdb" -D "$W/pg" -U postgres --auth-local=trust --auth-host=md5 >/dev/null
cat >>"$W/pg/postgresql.conf" <<EOT
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$W/run'
max_connections = 200
shared_buffers = 256MB
fsync = off
synchronous_commit = off
EOT
as_pg "$PGBIN/pg_ctl" -D "$W/pg" -l "$W/run/pg.log" -w start >/dev/null
as_pg psql -X -q -h "$W/run" -p $PG_PORT -U postgres -c "SET password_encryption='md5'; CREATE ROLE bench LOGIN PASSWORD 'bench-pw'"
as_pg psql -X -q -h "$W/run" -p $PG_PORT -U postgres -c "CREATE DATABASE bench OWNER bench"
export PGPASSWORD=bench-pw
pgbench -i -q -s 10 -h 127.0.0.1 -p $PG_PORT -U bench bench >/dev/null 2>&1
secret=$(as_pg psql -XAt -h "$W/run" -p $PG_PORT -U postgres -c "select rolpassword from pg_authid where rolname='bench'")
printf '"bench" "%s"\n' "$secret" >"$W/run/userlist.txt"
cat >"$W/run/pgbouncer.ini" <<EOT
[databases]
bench = host=127.0.0.1 port=$PG_PORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir = $W/run
auth_type = md5
auth_file = $W/run/userlist.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = 1000
log_connections = 0
log_disconnections = 0
logfile = $W/run/pgbouncer.log
EOT
write_pgtide_ini() {
	cat >"$W/run/pgtide.ini" <<EOT
[pgtide]
listen_addr = 127.0.0.1
listen_port = $PT_PORT
unix_socket_dir = $W/run
auth_type = md5
auth_file = $W/run/userlist.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = 1000
workers = $1
log_connections = 0
log_disconnections = 0
log_stats = 0
[databases]
bench = host=127.0.0.1 port=$PG_PORT
EOT
}
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$W/run"

start_pooler() { # pooler cores
	local cpus=$2 ncores
	ncores=$(echo "$cpus" | tr ',' '\n' | wc -l)
	if [ "$1" = pgbouncer ]; then
		"${AS_PG[@]}" taskset -c "$cpus" pgbouncer "$W/run/pgbouncer.ini" >/dev/null 2>&1 &
		port=$PGB_PORT
	else
		write_pgtide_ini "$ncores"
		[ "$(id -u)" -eq 0 ] && chown postgres: "$W/run/pgtide.ini"
		"${AS_PG[@]}" taskset -c "$cpus" "$PGTIDE_BIN" "$W/run/pgtide.ini" >"$W/run/pgtide.log" 2>&1 &
		port=$PT_PORT
	fi
	pooler_pid=$!
	for _ in $(seq 1 100); do
		psql -XAtq -h 127.0.0.1 -p "$port" -U bench bench -c 'select 1' >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "pooler $1 did not start" >&2
	return 1
}
stop_pooler() { kill -INT "$pooler_pid" 2>/dev/null; wait "$pooler_pid" 2>/dev/null || true; pooler_pid=""; }

printf 'round\tpooler\tcores\ttps\n' >"$outfile"
for r in $(seq 1 "$ROUNDS"); do
	for cpus in 0 0,1; do
		for p in pgbouncer pgtide; do
			start_pooler "$p" "$cpus"
			tps=$(timeout $((DURATION + 60)) pgbench -n -S -c 50 -j 2 -T "$DURATION" -h 127.0.0.1 -p "$port" -U bench bench 2>/dev/null |
				sed -n 's/^tps = \([0-9.]*\).*/\1/p')
			stop_pooler
			ncores=$(echo "$cpus" | tr ',' '\n' | wc -l)
			printf '%s\t%s\t%s\t%s\n' "$r" "$p" "$ncores" "${tps:-NA}" >>"$outfile"
			echo "round $r $p cores=$ncores tps=${tps:-NA}"
			sleep 2
		done
	done
done

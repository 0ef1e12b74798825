#!/usr/bin/env bash
# Starts and stops the throwaway PostgreSQL 15 clusters the integration tests
# run against. Runs the server as the unprivileged `postgres` user when
# invoked as root (initdb refuses root).
#
#   pgcluster.sh start DIR [PORT]   initdb DIR (if new), start on PORT (or a
#                                   free one), create the test roles; prints
#                                   the port and writes DIR/port
#   pgcluster.sh replica PRIMARY_DIR DIR [PORT]
#                                   pg_basebackup -R from the primary, start it
#   pgcluster.sh stop DIR           stop the cluster (fast), keep the files
#   pgcluster.sh destroy DIR        stop and remove
#
# Test roles: md5_user/md5-pw (md5), scram_user/scram-pw (SCRAM),
# plain users need no password over the unix socket (trust).
set -euo pipefail

BINDIR=$(pg_config --bindir 2>/dev/null || true)
if [ -z "$BINDIR" ] || [ ! -x "$BINDIR/initdb" ]; then
	BINDIR=/usr/lib/postgresql/15/bin
fi

as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

free_port() {
	python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

prepare_dir() {
	local dir=$1
	mkdir -p "$dir"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$dir"
		# The postgres user must be able to reach the directory.
		local d
		d=$(dirname "$dir")
		while [ "$d" != "/" ]; do
			chmod o+x "$d" 2>/dev/null || true
			d=$(dirname "$d")
		done
	fi
	chmod 700 "$dir"
}

write_conf() {
	local dir=$1 port=$2
	cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = replica
max_wal_senders = 5
hot_standby = on
log_min_messages = warning
logging_collector = off
CONF
}

start_cluster() {
	local dir=$1 port=${2:-}
	[ -n "$port" ] || port=$(free_port)
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		prepare_dir "$dir"
		as_pg "$BINDIR/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=md5 \
			-E UTF8 --locale=C >"$dir/initdb.log" 2>&1
		write_conf "$dir" "$port"
		cat >"$dir/data/pg_hba.conf" <<HBA
local   all             all                                     trust
local   replication     all                                     trust
host    replication     all             127.0.0.1/32            trust
host    all             postgres        127.0.0.1/32            trust
host    all             all             127.0.0.1/32            scram-sha-256
host    all             md5_user        127.0.0.1/32            md5
HBA
		# md5_user must come before the catch-all line to get md5.
		sed -i '/^host    all             all             127.0.0.1\/32            scram-sha-256$/d' "$dir/data/pg_hba.conf"
		echo "host    all             all             127.0.0.1/32            scram-sha-256" >>"$dir/data/pg_hba.conf"
	else
		sed -i "s/^port = .*/port = $port/" "$dir/data/postgresql.conf"
	fi
	as_pg "$BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
	echo "$port" >"$dir/port"
	if [ ! -f "$dir/roles.done" ]; then
		as_pg "$BINDIR/psql" -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q <<SQL
SET password_encryption = 'md5';
CREATE ROLE md5_user LOGIN PASSWORD 'md5-pw';
SET password_encryption = 'scram-sha-256';
CREATE ROLE scram_user LOGIN PASSWORD 'scram-pw';
CREATE ROLE app LOGIN PASSWORD 'app-pw' SUPERUSER;
CREATE DATABASE app OWNER app;
GRANT ALL ON DATABASE postgres TO md5_user, scram_user;
SQL
		touch "$dir/roles.done"
	fi
	echo "$port"
}

start_replica() {
	local primary=$1 dir=$2 port=${3:-}
	[ -n "$port" ] || port=$(free_port)
	local pport
	pport=$(cat "$primary/port")
	prepare_dir "$dir"
	as_pg "$BINDIR/pg_basebackup" -h "$primary" -p "$pport" -U postgres -D "$dir/data" -R -X stream -c fast \
		>"$dir/basebackup.log" 2>&1
	sed -i "s/^port = .*/port = $port/; s|^unix_socket_directories = .*|unix_socket_directories = '$dir'|" \
		"$dir/data/postgresql.conf"
	as_pg "$BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
	echo "$port" >"$dir/port"
	touch "$dir/roles.done"
	echo "$port"
}

stop_cluster() {
	local dir=$1
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_pg "$BINDIR/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
	fi
}

cmd=${1:-}
case "$cmd" in
start) start_cluster "$2" "${3:-}" ;;
replica) start_replica "$2" "$3" "${4:-}" ;;
stop) stop_cluster "$2" ;;
destroy) stop_cluster "$2"; rm -rf "$2" ;;
*) echo "usage: $0 start DIR [PORT] | replica PRIMARY_DIR DIR [PORT] | stop DIR | destroy DIR" >&2; exit 2 ;;
esac

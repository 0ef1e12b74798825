#!/usr/bin/env bash
# pgtide's main job in one command: install, build, start a throwaway local
# PostgreSQL (unless DATABASE_URL is set), put pgtide in front of it, run a
# pgbench workload with far more clients than server connections, and show
# the result and pgtide's pool state. Cleans up everything it started.
#
#   scripts/quickstart.sh                 # throwaway PostgreSQL 15
#   DATABASE_URL=postgres://u:p@host:5432/db scripts/quickstart.sh
#
# Knobs: CLIENTS (default 100), POOL_SIZE (10), DURATION seconds (10),
# PGTIDE_PORT (6432).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

CLIENTS=${CLIENTS:-100}
POOL_SIZE=${POOL_SIZE:-10}
DURATION=${DURATION:-10}
PGTIDE_PORT=${PGTIDE_PORT:-6432}

scripts/install-deps.sh
echo "== building pgtide"
scripts/build.sh build

work=$(mktemp -d /tmp/pgtide-quickstart.XXXXXX)
chmod 755 "$work"
pgtide_pid=""
own_cluster=""
cleanup() {
	[ -n "$pgtide_pid" ] && kill -INT "$pgtide_pid" 2>/dev/null && wait "$pgtide_pid" 2>/dev/null || true
	[ -n "$own_cluster" ] && "$root/test/integration/pgcluster.sh" destroy "$work/pg" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${DATABASE_URL:-}" ]; then
	echo "== starting a throwaway PostgreSQL 15 in $work/pg"
	port=$("$root/test/integration/pgcluster.sh" start "$work/pg")
	own_cluster=1
	DATABASE_URL="postgres://app:app-pw@127.0.0.1:$port/app"
fi

# Split the URL for pgbench's direct initialisation.
read -r db_user db_pass db_host db_port db_name < <(python3 - "$DATABASE_URL" <<'PY'
import sys, urllib.parse as u
p = u.urlparse(sys.argv[1])
print(u.unquote(p.username or "postgres"), u.unquote(p.password or ""), p.hostname or "127.0.0.1",
      p.port or 5432, (p.path or "/postgres")[1:] or (p.username or "postgres"))
PY
)
export PGPASSWORD=$db_pass

echo "== pgtide on 127.0.0.1:$PGTIDE_PORT, transaction mode, pool size $POOL_SIZE"
PGTIDE_LISTEN_PORT=$PGTIDE_PORT PGTIDE_DEFAULT_POOL_SIZE=$POOL_SIZE PGTIDE_MAX_CLIENT_CONN=$((CLIENTS + 100)) \
	PGTIDE_UNIX_SOCKET_DIR=$work PGTIDE_LOG_CONNECTIONS=0 PGTIDE_LOG_DISCONNECTIONS=0 \
	"$root/build/pgtide" --database-url "$DATABASE_URL" >"$work/pgtide.log" 2>&1 &
pgtide_pid=$!
for _ in $(seq 1 100); do
	pg_isready -q -h 127.0.0.1 -p "$PGTIDE_PORT" && break
	sleep 0.1
done

echo "== pgbench -i (directly on the server)"
pgbench -i -q -s 2 -h "$db_host" -p "$db_port" -U "$db_user" "$db_name" 2>&1 | tail -1

echo "== pgbench: $CLIENTS clients, ${DURATION}s, through pgtide onto $POOL_SIZE server connections"
pgbench -n -c "$CLIENTS" -j 2 -T "$DURATION" -h 127.0.0.1 -p "$PGTIDE_PORT" -U "$db_user" "$db_name" 2>&1 |
	grep -E "clients|transactions|failed|latency|tps"

admin() { psql -X -h 127.0.0.1 -p "$PGTIDE_PORT" -U "$db_user" pgtide -c "$1"; }
echo "== pgtide pool state"
admin "SHOW POOLS"
admin "SHOW STATS"
echo "== done; pgtide's log was $work/pgtide.log (removed on exit)"

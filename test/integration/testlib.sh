# testlib.sh - shared by the shell integration tests (sourced, not run):
# TAP-like ok/not ok lines, counters for the closing "N passed, M failed"
# line, and free ports.
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $1"; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }

# free_ports N: N distinct free ports below the ephemeral range, so that no
# outgoing connection on this busy machine takes one before pgtide binds it.
free_ports() {
	python3 -c 'import random, socket, sys
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
socks = []
while len(socks) < int(sys.argv[1]):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randrange(10000, max(low, 10001))))
        socks.append(s)
    except OSError:
        s.close()
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# wait_ready PORT: until something accepts PostgreSQL connections on it (5 s).
wait_ready() { for _ in $(seq 1 100); do pg_isready -q -h 127.0.0.1 -p "$1" && return 0; sleep 0.05; done; return 1; }

# test_tools: what ctest hands a shell test (PGTIDE, PGDIR, PGPORT) and the
# PostgreSQL client programs (PGBENCH, PSQL).
test_tools() {
	PGTIDE=${PGTIDE_BIN:?run through ctest}
	PGDIR=${PGTIDE_TEST_PGDIR:?run through ctest}
	PGPORT=$(cat "$PGDIR/port")
	PGBENCH=${PGTIDE_PGBENCH:-}
	[ -x "$PGBENCH" ] || PGBENCH=$(command -v pgbench || echo /usr/lib/postgresql/15/bin/pgbench)
	PSQL=$(command -v psql || echo /usr/lib/postgresql/15/bin/psql)
}

# work_dir NAME: a fresh temp directory in $work for this test. On exit,
# cleanup_work (the EXIT trap, or the end of a test's own cleanup) kills the
# processes listed in `pids`, then removes $work if every check passed, or
# keeps it and shows the end of its logs.
pids=()
work_dir() { work=$(mktemp -d "/tmp/pgtide-$1.XXXXXX"); }
cleanup_work() {
	local p f
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	if [ "$fail" -eq 0 ]; then
		rm -rf "$work"
		return
	fi
	echo "files kept in $work"
	for f in "$work"/*.log "$work"/*.out; do
		[ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }
	done
}

#!/usr/bin/env bash
# test_flood.sh - a connection flood beyond max_client_conn.
#
# pgtide runs with max_client_conn = 100. pgbench keeps 20 clients busy
# through it; 80 more connections fill the limit and stay at the password
# prompt. Then 20,000 connection attempts arrive, 200 at a time, each sending
# a startup packet. Every one of them must get an ErrorResponse with SQLSTATE
# 53300 "no more connections allowed (max_client_conn)", within the time
# limit; pgbench must see no error at all; and afterwards pgtide serves new
# clients and its pool is at rest.
#
# Environment (set by ctest): PGTIDE_BIN, PGTIDE_TEST_PGDIR, PGTIDE_PGBENCH.
set -uo pipefail

# shellcheck source=test/integration/testlib.sh
. "$(dirname "$0")/testlib.sh"

test_tools
ATTEMPTS=${FLOOD_ATTEMPTS:-20000}

work_dir flood
trap cleanup_work EXIT

# The flood needs a few hundred descriptors here and in pgtide.
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

read -r port < <(free_ports 1)
printf '"app" "app-pw"\n"admin" "admin-pw"\n' >"$work/userlist.txt"
cat >"$work/pgtide.ini" <<INI
[pgtide]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $work
auth_file = $work/userlist.txt
auth_type = md5
admin_users = admin
max_client_conn = 100
default_pool_size = 5
listen_backlog = 1024
log_connections = 0
log_disconnections = 0
log_stats = 0

[databases]
app = host=127.0.0.1 port=$PGPORT
INI

"$PGTIDE" "$work/pgtide.ini" >"$work/pgtide.log" 2>&1 &
pgtide=$!
pids+=("$pgtide")
wait_ready "$port" || { not_ok "pgtide starts"; echo "$pass passed, $fail failed"; exit 1; }
ok "pgtide starts with max_client_conn = 100"

# ---- clients within the limit: pgbench, 20 connections ----
echo 'SELECT 1;' >"$work/select.sql"
export PGPASSWORD=app-pw
timeout 90 "$PGBENCH" -n -h 127.0.0.1 -p "$port" -U app -c 20 -j 2 -T 8 -f "$work/select.sql" app \
	>"$work/pgbench.out" 2>&1 &
bench=$!

# ---- the flood ----
cat >"$work/flood.py" <<'PY'
import selectors, socket, struct, sys, time

port, attempts, hold = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
params = b"user\0app\0database\0app\0\0"
startup = struct.pack("!ii", 8 + len(params), 196608) + params

def error_fields(msg):
    fields, i = {}, 5
    while i < len(msg) and msg[i] != 0:
        end = msg.index(b"\0", i + 1)
        fields[chr(msg[i])] = msg[i + 1:end].decode()
        i = end + 1
    return fields

# 1. Fill the limit: `hold` connections that stop at the password prompt.
held = []
for _ in range(hold):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(startup)
    if s.recv(1) != b"R":
        print("holder was not asked for a password"); sys.exit(1)
    held.append(s)

# 2. The flood, `inflight` at a time.
sel = selectors.DefaultSelector()
counts = {"refused_53300": 0, "other_error": 0, "accepted": 0, "reset": 0, "timeout": 0}
other = []
started = done = 0
inflight = 200
t0 = time.monotonic()
deadline = t0 + 90

def launch():
    global started
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", port))
    sel.register(s, selectors.EVENT_WRITE, [b"", False])
    started += 1

def finish(s, outcome, detail=None):
    global done
    sel.unregister(s)
    s.close()
    counts[outcome] += 1
    if detail and len(other) < 5:
        other.append(detail)
    done += 1

while done < attempts and time.monotonic() < deadline:
    while started < attempts and started - done < inflight:
        launch()
    for key, ev in sel.select(timeout=1):
        s, st = key.fileobj, key.data
        try:
            if not st[1]:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    finish(s, "reset", "connect: errno %d" % err); continue
                s.send(startup)
                st[1] = True
                sel.modify(s, selectors.EVENT_READ, st)
                continue
            chunk = s.recv(4096)
        except OSError as e:
            finish(s, "reset", str(e)); continue
        st[0] += chunk
        buf = st[0]
        if len(buf) >= 5 and len(buf) >= 1 + struct.unpack("!i", buf[1:5])[0]:
            if buf[:1] == b"E":
                f = error_fields(buf)
                if f.get("C") == "53300" and f.get("M") == "no more connections allowed (max_client_conn)":
                    finish(s, "refused_53300")
                else:
                    finish(s, "other_error", repr(f))
            else:
                finish(s, "accepted", repr(buf[:1]))
        elif not chunk:
            finish(s, "reset", "closed without a message")
for key in list(sel.get_map().values()):
    finish(key.fileobj, "timeout")
elapsed = time.monotonic() - t0
print("attempts %d in %.1f s (%.0f/s): %s" % (done, elapsed, done / elapsed if elapsed else 0,
      " ".join("%s=%d" % kv for kv in counts.items())))
for d in other:
    print("  e.g.", d)
for s in held:
    s.close()
sys.exit(0 if counts["refused_53300"] == attempts else 1)
PY
sleep 1
t0=$SECONDS
timeout 120 python3 "$work/flood.py" "$port" "$ATTEMPTS" 80 >"$work/flood.out" 2>&1
rc=$?
cat "$work/flood.out"
check "all $ATTEMPTS attempts beyond the limit get 53300 \"no more connections allowed (max_client_conn)\"" \
	'[ "$rc" = 0 ]'
check "the flood took under 60 s ($((SECONDS - t0)) s)" '[ $((SECONDS - t0)) -lt 60 ]'

wait "$bench"
brc=$?
processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/pgbench.out")
failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$work/pgbench.out")
echo "# pgbench within the limit: exit $brc, ${processed:-?} transactions, ${failed:-?} failed"
check "pgbench within the limit exits 0 with no failed transaction" \
	'[ "$brc" = 0 ] && [ "${processed:-0}" -gt 0 ] && [ "$failed" = 0 ]'
check "pgbench printed no error" '! grep -qiE "error|fatal" "$work/pgbench.out"'

# ---- pgtide is healthy afterwards ----
check "pgtide is still running" 'kill -0 "$pgtide"'
check "a new client is served" \
	'[ "$("$PSQL" -XAtq -h 127.0.0.1 -p "$port" -U app app -c "select 42")" = 42 ]'
pools=$(PGPASSWORD=admin-pw "$PSQL" -XAtq -F' ' -h 127.0.0.1 -p "$port" -U admin pgtide \
	-c "SHOW POOLS" 2>&1 | awk '$1 == "app" { print $3, $4, $7 }')
echo "# SHOW POOLS app: cl_active cl_waiting sv_active = $pools"
check "no client left waiting or server left active" '[ "$pools" = "0 0 0" ]'
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$pgtide/status")
echo "# pgtide RSS after the flood: ${rss} kB"
check "pgtide RSS after the flood stays under 100 MB" '[ "${rss:-999999}" -lt 102400 ]'
kill -INT "$pgtide"
for _ in $(seq 1 100); do kill -0 "$pgtide" 2>/dev/null || break; sleep 0.05; done
wait "$pgtide"
rc=$?
check "pgtide stops cleanly (exit $rc)" '[ "$rc" = 0 ]'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/usr/bin/env bash
# test_tls_pgbench.sh - TLS under load, and psql over TLS.
#
# Makes a CA and a certificate for localhost/127.0.0.1 with the openssl CLI
# (nothing is committed), starts pgtide with client_tls_sslmode = require in
# front of the test cluster, checks psql with sslmode require, verify-ca and
# verify-full (and its refusals: plaintext, wrong host name, untrusted CA),
# then runs pgbench -c 50 -t 100 with sslmode=require through pgtide with
# the simple and the extended protocol: every transaction must succeed. A
# flood of stalled TLS handshakes runs at the same time and must not slow
# the benchmark into failure. pgtide must stop cleanly.
#
# Environment (set by ctest): PGTIDE_BIN, PGTIDE_TEST_PGDIR, PGTIDE_PGBENCH.
# The last line printed is "N passed, M failed".
#
# check() evals its condition, so conditions are single-quoted on purpose.
# shellcheck disable=SC2016,SC2034
set -uo pipefail

# shellcheck source=test/integration/testlib.sh
. "$(dirname "$0")/testlib.sh"

test_tools
work_dir tls-pgbench
pid=""
flood=""
cleanup() {
	[ -n "$flood" ] && kill "$flood" 2>/dev/null
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	cleanup_work
}
trap cleanup EXIT

read -r port < <(free_ports 1)
CLIENTS=50
TXNS=100

# ---- certificates ----
(
	cd "$work" || exit 1
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj '/CN=pgtide test CA'
	openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.crt -days 2 -subj '/CN=other CA'
	openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=localhost'
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext
	openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 \
		-extfile server.ext
) >"$work/openssl.out" 2>&1
check "certificates made with the openssl CLI" '[ -s "$work/server.crt" ] && [ -s "$work/server.key" ]'

printf '"app" "app-pw"\n' >"$work/userlist.txt"
cat >"$work/pgtide.ini" <<INI
[pgtide]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $work
auth_file = $work/userlist.txt
auth_type = md5
pool_mode = transaction
default_pool_size = 10
max_client_conn = 400
log_connections = 0
log_disconnections = 0
client_login_timeout = 3
client_tls_sslmode = require
client_tls_cert_file = $work/server.crt
client_tls_key_file = $work/server.key

[databases]
app = host=127.0.0.1 port=$PGPORT
INI

"$PGTIDE" "$work/pgtide.ini" >"$work/pgtide.log" 2>&1 &
pid=$!
check "pgtide accepts connections" 'wait_ready "$port"'

# ---- psql ----
q() { PGPASSWORD=app-pw PGCONNECT_TIMEOUT=10 "$PSQL" -X -At "$1" -c "$2" 2>&1; }
base="port=$port user=app dbname=app"
out=$(q "host=127.0.0.1 $base sslmode=require" "SELECT 'ok-require'")
check "psql sslmode=require" '[ "$out" = ok-require ]'
out=$(q "host=127.0.0.1 $base sslmode=verify-ca sslrootcert=$work/ca.crt" "SELECT 'ok-ca'")
check "psql sslmode=verify-ca" '[ "$out" = ok-ca ]'
out=$(q "host=localhost $base sslmode=verify-full sslrootcert=$work/ca.crt" "SELECT 'ok-full'")
check "psql sslmode=verify-full (localhost)" '[ "$out" = ok-full ]'
out=$(q "host=wrong.example hostaddr=127.0.0.1 $base sslmode=verify-full sslrootcert=$work/ca.crt" "SELECT 1")
check "psql verify-full: wrong host name refused" 'grep -q "does not match host name \"wrong.example\"" <<<"$out"'
out=$(q "host=127.0.0.1 $base sslmode=verify-ca sslrootcert=$work/other-ca.crt" "SELECT 1")
check "psql verify-ca: untrusted CA refused" 'grep -q "certificate verify failed" <<<"$out"'
out=$(q "host=127.0.0.1 $base sslmode=disable" "SELECT 1")
check "psql sslmode=disable: SSL required" 'grep -q "FATAL:  SSL required" <<<"$out"'

# ---- pgbench tables, made directly on the cluster ----
PGPASSWORD=app-pw timeout 120 "$PGBENCH" -i -s 1 -q -h 127.0.0.1 -p "$PGPORT" -U app app >"$work/init.out" 2>&1
rc=$?
check "pgbench -i on the cluster" '[ $rc -eq 0 ]'

# ---- a flood of stalled handshakes while pgbench runs ----
python3 - "$port" >"$work/flood.out" 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
socks = []
end = time.time() + 30
while time.time() < end:
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")
        s.recv(1)
        s.sendall(b"\x16\x03\x01")  # a ClientHello that never comes
        socks.append(s)
    socks = socks[-200:]
    time.sleep(0.2)
PY
flood=$!

for mode in simple extended; do
	PGPASSWORD=app-pw PGSSLMODE=require timeout 300 "$PGBENCH" -n -h 127.0.0.1 -p "$port" -U app \
		-c "$CLIENTS" -j 2 -t "$TXNS" -M "$mode" app >"$work/pgbench-$mode.out" 2>&1
	rc=$?
	grep -E '^(number of|latency average|tps)' "$work/pgbench-$mode.out"
	check "pgbench -M $mode over TLS exits with 0" '[ $rc -eq 0 ]'
	check "pgbench -M $mode: all transactions processed" \
		'grep -qF "number of transactions actually processed: $((CLIENTS * TXNS))/$((CLIENTS * TXNS))" "$work/pgbench-$mode.out"'
	check "pgbench -M $mode: zero failed transactions" \
		'grep -qE "^number of failed transactions: 0 " "$work/pgbench-$mode.out"'
	check "pgbench -M $mode: no errors printed" '! grep -qiE "error|FATAL" "$work/pgbench-$mode.out"'
done
kill "$flood" 2>/dev/null
wait "$flood" 2>/dev/null
flood=""
out=$(q "host=127.0.0.1 $base sslmode=require" "SELECT 'after-flood'")
check "psql after the handshake flood" '[ "$out" = after-flood ]'

# ---- clean stop ----
kill -INT "$pid"
rc=0
for _ in $(seq 1 500); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.02
done
wait "$pid" || rc=$?
pid=""
check "pgtide exits with status 0 on SIGINT" '[ $rc -eq 0 ]'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/usr/bin/env bash
# test_pgbouncer_migration.sh - a realistic pgbouncer.ini and userlist.txt
# load into pgtide unchanged, and docs/migrating-from-pgbouncer.md tells the
# truth.
#
# 1. Writes a pgbouncer.ini ([databases] entries with per-database options, a
#    [pgbouncer] section with common keys and some accepted-but-ignored ones)
#    and a userlist.txt with an md5 secret, SCRAM secrets copied from
#    pg_authid and a plain password; starts pgtide on it in front of the
#    test cluster; checks that each user can run queries and that SHOW CONFIG
#    shows every setting the file sets.
# 2. For every key the migration guide lists as loading unchanged, differing,
#    or accepted and ignored, loads a file that sets it and checks the result
#    with --check-config; checks that the guide classifies every setting,
#    and that the defaults and refusals it names are real.
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
GUIDE=$SRC/docs/migrating-from-pgbouncer.md
work_dir migration
trap cleanup_work EXIT

# One free port below the ephemeral range (see test_metrics.sh).
read -r port < <(python3 -c 'import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
while True:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randrange(10000, max(low, 10001))))
        break
    except OSError:
        s.close()
print(s.getsockname()[1])')

pgsu() { "$PSQL" -XAtq -h "$PGDIR" -p "$PGPORT" -U postgres postgres "$@"; }

# ---- 1. a realistic deployment -------------------------------------------

# Secrets as PgBouncer users export them: SCRAM verifiers from pg_authid, an
# md5 hash ("md5" + md5(password || user)), and one plain password.
scram_app=$(pgsu -c "select rolpassword from pg_authid where rolname = 'app'")
scram_user=$(pgsu -c "select rolpassword from pg_authid where rolname = 'scram_user'")
md5_user="md5$(printf '%s' "md5-pwmd5_user" | md5sum | cut -d' ' -f1)"
check "the cluster stores SCRAM verifiers for app and scram_user" \
	'[[ $scram_app == SCRAM-SHA-256\$* && $scram_user == SCRAM-SHA-256\$* ]]'

cat >"$work/userlist.txt" <<EOF
;; generated from pg_authid
"app" "$scram_app"
"scram_user" "$scram_user"
"md5_user" "$md5_user"
"stats" "stats-pw"
EOF

cat >"$work/pgbouncer.ini" <<EOF
;; pgbouncer.ini - production-style configuration

[databases]
; the application's database, its own pool size
app = host=127.0.0.1 port=$PGPORT dbname=app pool_size=5
; reporting: same database, session pooling, fewer servers
app_reports = host=127.0.0.1 port=$PGPORT dbname=app pool_mode=session pool_size=2 application_name=reports
; a fixed server login for every client of this entry
legacy = host=127.0.0.1 port=$PGPORT dbname=postgres user=md5_user password=md5-pw
* = host=127.0.0.1 port=$PGPORT

[pgbouncer]
logfile =
pidfile = $work/pgbouncer.pid
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $work
auth_type = md5
auth_file = userlist.txt
admin_users = app
stats_users = stats, md5_user
pool_mode = transaction
server_reset_query = DISCARD ALL
server_reset_query_always = 0
server_check_query = select 1
server_check_delay = 30
ignore_startup_parameters = extra_float_digits
max_client_conn = 500
default_pool_size = 15
min_pool_size = 0
reserve_pool_size = 3
reserve_pool_timeout = 2
max_db_connections = 50
max_user_connections = 40
server_lifetime = 1800
server_idle_timeout = 300
server_connect_timeout = 5
server_login_retry = 3
query_wait_timeout = 60
client_login_timeout = 30
client_idle_timeout = 0
idle_transaction_timeout = 600
query_timeout = 0
listen_backlog = 256
max_packet_size = 1073741824
pkt_buf = 8192
tcp_keepalive = 1
stats_period = 30
log_connections = 0
log_disconnections = 0
log_pooler_errors = 1
log_stats = 0
verbose = 0
; PgBouncer-only settings pgtide accepts and ignores
so_reuseport = 1
server_round_robin = 0
application_name_add_host = 1
tcp_keepidle = 60
tcp_keepintvl = 10
tcp_keepcnt = 5
dns_max_ttl = 15
max_prepared_statements = 0
server_tls_sslmode = prefer
client_tls_sslmode = disable
syslog = 0
unix_socket_mode = 0777
EOF

"$PGTIDE" "$work/pgbouncer.ini" >"$work/pgtide.log" 2>&1 &
pid=$!
pids+=("$pid")
for _ in $(seq 1 200); do
	pg_isready -q -h 127.0.0.1 -p "$port" && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.05
done
if ! kill -0 "$pid" 2>/dev/null; then
	not_ok "pgtide starts on the pgbouncer.ini"
	echo "$pass passed, $fail failed"
	exit 1
fi
ok "pgtide starts on the pgbouncer.ini"

q() { PGPASSWORD=$2 "$PSQL" -XAtq -h 127.0.0.1 -p "$port" -U "$1" "$3" -c "$4" 2>&1; }
check "app (SCRAM secret from pg_authid) runs a transaction on app" \
	'[ "$(q app app-pw app "begin; select current_user || current_database(); commit")" = appapp ]'
check "scram_user (SCRAM secret) reaches a SCRAM-only server through the * entry" \
	'[ "$(q scram_user scram-pw postgres "select current_user")" = scram_user ]'
check "md5_user (md5 hash) logs in to the md5 server" \
	'[ "$(q md5_user md5-pw postgres "select current_user")" = md5_user ]'
check "legacy: the entry's user and password log in for any client" \
	'[ "$(q app app-pw legacy "select current_user || current_database()")" = md5_userpostgres ]'
check "app_reports: session pooling keeps session state between statements" \
	'[ "$(q app app-pw app_reports "set application_name = x; select current_setting(\$\$application_name\$\$)" | tail -1)" = x ]'
check "a wrong password is refused" '! q app wrong app "select 1" >/dev/null'
check "the pidfile is written" '[ "$(cat "$work/pgbouncer.pid")" = "$pid" ]'

export PGPASSWORD=app-pw
"$PSQL" -XAt -F'|' -h 127.0.0.1 -p "$port" -U app pgbouncer -c "SHOW CONFIG" >"$work/config.txt" 2>&1
shown() { awk -F'|' -v k="$1" '$1 == k { print $2 }' "$work/config.txt"; }
check "SHOW CONFIG answers on the pgbouncer console database" 'grep -q "^default_pool_size|15|20|yes$" "$work/config.txt"'

# Every [pgbouncer] key that is a pgtide setting shows the file's value.
mismatch=""
nset=0
while IFS='=' read -r key value; do
	key=${key//[[:space:]]/}
	value=$(sed 's/^[[:space:]]*//; s/[[:space:]]*$//' <<<"$value")
	grep -q "^$key|" "$work/config.txt" || continue
	nset=$((nset + 1))
	expect=$value
	[ "$key" = auth_file ] && expect=$work/userlist.txt
	[ "$(shown "$key")" = "$expect" ] || mismatch+=" $key(file '$expect', shown '$(shown "$key")')"
done < <(sed -n '/^\[pgbouncer\]/,$p' "$work/pgbouncer.ini" | grep -E '^[a-z_]+ *=')
check "SHOW CONFIG shows the file's value for each of its $nset settings${mismatch:+:$mismatch}" \
	'[ -z "$mismatch" ] && [ "$nset" -ge 40 ]'
check "SHOW DATABASES lists the file's entries with their pool sizes" \
	'"$PSQL" -XAtq -h 127.0.0.1 -p "$port" -U app pgbouncer -c "SHOW DATABASES" |
	 awk -F"|" "\$1 == \"app\" && \$6 == 5 { a = 1 } \$1 == \"app_reports\" && \$6 == 2 { r = 1 } END { exit !(a && r) }"'
check "stats_users: stats may SHOW" '[ -n "$(q stats stats-pw pgbouncer "SHOW POOLS")" ]'
out=$(q stats stats-pw pgbouncer "PAUSE")
check "stats_users: stats may not PAUSE" 'grep -q ERROR <<<"$out"'

kill -TERM "$pid"
for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
wait "$pid"
rc=$?
check "SIGTERM: exits 0 and removes the pidfile" '[ "$rc" = 0 ] && [ ! -e "$work/pgbouncer.pid" ]'

# ---- 2. the migration guide against the binary ----------------------------

# guide_keys HEADING: the keys in the first column of the table under the
# "## HEADING" section.
guide_keys() {
	awk -v h="## $1" '$0 == h { on = 1; next } /^## / { on = 0 }
		on && match($0, /^\| `[a-z_]+` \|/) { k = substr($0, 4, RLENGTH - 6); print k }' "$GUIDE"
}
mapfile -t unchanged < <(guide_keys "Settings that load unchanged")
mapfile -t differ < <(guide_keys "Settings that differ in default or meaning")
mapfile -t ignored < <(guide_keys "Settings accepted and ignored")
check "the guide's tables parse (${#unchanged[@]} unchanged, ${#differ[@]} differing, ${#ignored[@]} ignored)" \
	'[ ${#unchanged[@]} -ge 30 ] && [ ${#differ[@]} -ge 4 ] && [ ${#ignored[@]} -ge 30 ]'

# The settings and their defaults, from the binary.
"$PGTIDE" --check-config --database-url postgres://u@127.0.0.1/d 2>&1 |
	sed -n '/^\[databases\]/q; /^[a-z_]* = /p' >"$work/defaults.txt"
default_of() { sed -n "s/^$1 = //p" "$work/defaults.txt"; }

# A value different from the default, in the form SHOW CONFIG prints it.
declare -A sample=(
	[listen_port]=7432 [unix_socket_dir]=/var/run/postgresql [listen_backlog]=512
	[max_client_conn]=2000 [min_pool_size]=2 [reserve_pool_size]=4 [reserve_pool_timeout]=3
	[max_db_connections]=90 [max_user_connections]=80 [server_lifetime]=1200
	[server_idle_timeout]=120 [server_connect_timeout]=7 [server_login_retry]=2
	[server_reset_query]="RESET ALL" [server_reset_query_always]=1
	[server_check_query]="select 1" [server_check_delay]=45 [query_wait_timeout]=90
	[client_login_timeout]=20 [client_idle_timeout]=3600 [idle_transaction_timeout]=300
	[query_timeout]=600 [cancel_wait_timeout]=5 [auth_file]=$work/userlist.txt
	[admin_users]="pgb_admin, ops" [stats_users]=monitoring [max_packet_size]=65536
	[stats_period]=15 [log_connections]=0 [log_disconnections]=0 [log_pooler_errors]=0
	[log_stats]=0 [verbose]=2 [logfile]=/var/log/pgbouncer/pgbouncer.log
	[pidfile]=/run/pgbouncer/pgbouncer.pid [tcp_keepalive]=0 [tcp_defer_accept]=0
	[client_tls_sslmode]=require [client_tls_key_file]=$work/tls.key
	[client_tls_cert_file]=$work/tls.crt [client_tls_ca_file]=$work/tls.crt
	[client_tls_protocols]=tlsv1.3 [client_tls_ciphers]=HIGH [server_tls_sslmode]=verify-full
	[server_tls_ca_file]=$work/tls.crt [server_tls_cert_file]=$work/tls.crt
	[server_tls_key_file]=$work/tls.key [server_tls_protocols]=all [server_tls_ciphers]=HIGH
	[ignore_startup_parameters]="extra_float_digits, search_path"
	[listen_addr]="*" [pool_mode]=session [default_pool_size]=40 [auth_type]=scram-sha-256
	[pkt_buf]=8192 [max_prepared_statements]=50 [so_reuseport]=1 [auth_hba_file]=$work/hba.conf
	[auth_user]=pgbouncer_auth
	[auth_query]='SELECT usename, passwd FROM pg_shadow WHERE usename=$1' [auth_dbname]=authdb
)
# auth_hba_file is read by --check-config: a real file.
printf 'local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n' >"$work/hba.conf"

# TLS files are loaded by --check-config: a real (self-signed) pair.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/tls.key" -out "$work/tls.crt" -days 2 \
	-subj '/CN=pgtide migration test' >/dev/null 2>&1

# loads KEY VALUE: --check-config on a [pgbouncer] file that sets KEY (and
# what KEY cannot load without); prints the value pgtide reports for KEY,
# fails if the file does not load.
loads() {
	local with=""
	case $1 in
	client_tls_sslmode) [ "$2" = disable ] ||
		with="client_tls_cert_file = $work/tls.crt"$'\n'"client_tls_key_file = $work/tls.key"$'\n' ;;
	server_tls_cert_file) with="server_tls_key_file = $work/tls.key"$'\n' ;;
	server_tls_key_file) with="server_tls_cert_file = $work/tls.crt"$'\n' ;;
	esac
	printf '[pgbouncer]\n%s = %s\n%s[databases]\n* = host=127.0.0.1 port=%s\n' "$1" "$2" "$with" "$PGPORT" >"$work/one.ini"
	"$PGTIDE" --check-config "$work/one.ini" >"$work/one.out" 2>&1 || return 1
	sed -n "s/^$1 = //p" "$work/one.out"
}

bad=""
for key in "${unchanged[@]}" "${differ[@]}"; do
	if [ -z "${sample[$key]+x}" ]; then
		bad+=" $key(no sample value in this test)"
		continue
	fi
	v=${sample[$key]}
	[ "$v" != "$(default_of "$key")" ] || bad+=" $key(sample equals the default)"
	got=$(loads "$key" "$v") || { bad+=" $key(does not load: $(head -1 "$work/one.out"))"; continue; }
	[ "$got" = "$v" ] || bad+=" $key(set '$v', got '$got')"
done
check "every key listed as loading unchanged or differing loads and takes its value${bad:+:$bad}" '[ -z "$bad" ]'

bad=""
for key in "${ignored[@]}"; do
	case $key in
	*) v=1 ;;
	esac
	loads "$key" "$v" >/dev/null || bad+=" $key"
	! grep -q "^$key = " "$work/one.out" || bad+=" $key(is a setting)"
done
check "every key listed as accepted and ignored loads and is no setting${bad:+:$bad}" '[ -z "$bad" ]'

# ... and the guide lists every key of src/config.c's ignored_keys table.
bad=""
if [ -r "$SRC/src/config.c" ]; then
	while read -r key; do
		[[ " ${ignored[*]} " == *" $key "* ]] || bad+=" $key"
	done < <(sed -n '/^static const ignored_key_t ignored_keys\[\] = {/,/^};/p' "$SRC/src/config.c" |
		sed -n 's/^[[:space:]]*{ "\([a-z_]*\)",.*/\1/p')
fi
check "the guide lists every accepted-and-ignored key of src/config.c${bad:+ (missing:$bad)}" '[ -z "$bad" ]'

# Every pgtide setting is in the guide: unchanged, differing, or in its
# paragraph of pgtide-only settings.
mapfile -t pgtide_only < <(awk '/^pgtide also has settings PgBouncer does not/ { on = 1 } on && /^$/ { exit }
	on' "$GUIDE" | grep -o '`[a-z_]*`' | tr -d '`')
bad=""
while read -r key _; do
	[[ " ${unchanged[*]} ${differ[*]} ${pgtide_only[*]} " == *" $key "* ]] ||
		bad+=" $key"
done <"$work/defaults.txt"
check "the guide classifies every pgtide setting${bad:+ (missing:$bad)}" '[ -z "$bad" ]'

# What the "differ" table and the refusals say.
check "default listen_addr is 127.0.0.1 and pool_mode transaction" \
	'[ "$(default_of listen_addr)" = 127.0.0.1 ] && [ "$(default_of pool_mode)" = transaction ]'
check "pool_mode = statement is refused" '! loads pool_mode statement >/dev/null'
check "default_pool_size = 0 is refused" '! loads default_pool_size 0 >/dev/null'
bad=""
for v in cert hba ldap pam; do loads auth_type "$v" >/dev/null && bad+=" $v"; done
check "auth_type cert (no client TLS), hba (no auth_hba_file), ldap, pam are refused${bad:+ (accepted:$bad)}" '[ -z "$bad" ]'
printf '[pgbouncer]\nauth_type = hba\nauth_hba_file = %s\n' "$work/hba.conf" >"$work/hba.ini"
check "auth_type = hba with an auth_hba_file loads" '"$PGTIDE" --check-config "$work/hba.ini" | grep -qx "auth_type = hba"'
printf 'local all all peer\n' >"$work/peer.conf"
printf '[pgbouncer]\nauth_type = hba\nauth_hba_file = %s\n' "$work/peer.conf" >"$work/peer.ini"
check "an auth_hba_file with peer is refused with its line" \
	'! "$PGTIDE" --check-config "$work/peer.ini" >"$work/peer.out" 2>&1 && grep -q "peer.conf:1: authentication method \"peer\"" "$work/peer.out"'
printf '[pgbouncer]\nclient_tls_sslmode = require\n' >"$work/tls-nocert.ini"
check "client_tls_sslmode = require without certificate files is refused" \
	'! "$PGTIDE" --check-config "$work/tls-nocert.ini" >"$work/tls-nocert.out" 2>&1 &&
	 grep -q "needs client_tls_cert_file" "$work/tls-nocert.out"'
check "server_tls_sslmode = verify-full, allow and prefer load" \
	'loads server_tls_sslmode verify-full >/dev/null && loads server_tls_sslmode allow >/dev/null &&
	 loads server_tls_sslmode prefer >/dev/null'
check "user (drop privileges) is refused" '! loads user postgres >/dev/null && grep -q "one.ini:2: user" "$work/one.out"'
check "an unknown key is refused with file, line and key" \
	'! loads no_such_key 1 >/dev/null && grep -q "one.ini:2: no_such_key" "$work/one.out"'
printf '[pgbouncer]\nlisten_port = 6432\n[users]\nalice = pool_mode=session\n' >"$work/users.ini"
check "[users] is refused" '! "$PGTIDE" --check-config "$work/users.ini" >/dev/null 2>&1'
printf '[pgbouncer]\n%%include /etc/pgbouncer/extra.ini\n' >"$work/include.ini"
check "%include is refused" '! "$PGTIDE" --check-config "$work/include.ini" >/dev/null 2>&1'
printf '[databases]\nx = host=127.0.0.1 auth_user=pgbouncer\n' >"$work/dbkey.ini"
check "auth_user in a [databases] entry is refused" '! "$PGTIDE" --check-config "$work/dbkey.ini" >/dev/null 2>&1'
printf '[databases]\nx = dbname=x\n' >"$work/host.ini"
check "[databases] host defaults to 127.0.0.1" \
	'"$PGTIDE" --check-config "$work/host.ini" 2>&1 | grep -qx "x = host=127.0.0.1 port=5432 dbname=x"'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/usr/bin/env bash
# docker-entrypoint.sh - starts pgtide in a container, configured from the
# environment, and answers the image's HEALTHCHECK.
#
#   docker-entrypoint.sh [pgtide options]     resolve the configuration, exec pgtide
#   docker-entrypoint.sh pgtide [options]     the same
#   docker-entrypoint.sh FILE.ini [options]   the same, with FILE.ini as PGTIDE_CONFIG
#   docker-entrypoint.sh --print-config [options]
#                                             (or --dry-run) print the resolved
#                                             environment, the command and pgtide's
#                                             own --check-config output; start nothing
#   docker-entrypoint.sh healthcheck [PATH]   exit 0 when GET PATH (default /readyz)
#                                             on the metrics listener answers 200
#   docker-entrypoint.sh COMMAND [ARGS]       any other command runs as it is
#
# Where the databases come from (the first that is set wins; the others are
# ignored with a warning):
#   DATABASE_URL    postgres://user:password@host:port/dbname, handed to pgtide
#                   unchanged (pgtide's zero-config mode: the URL's user is the
#                   client user and may use the admin console)
#   DATABASE_URLS   "name=URL" or "URL" items separated by commas, blanks or
#                   newlines; a configuration file ([database NAME] per item,
#                   named after the URL's database when no name is given) and a
#                   userlist (each URL's user and password) are generated in
#                   PGTIDE_RUN_DIR; the first URL's user may use the console
#   DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME
#                   turned into a DATABASE_URL (DB_NAME "*" or empty: no
#                   database in the URL, so the entry is named after DB_USER)
# A configuration file at $PGTIDE_CONFIG_DIR/pgtide.ini, or the file that
# PGTIDE_CONFIG names, is used when present and is never written to. With a
# file, DATABASE_URL (or DB_*) is passed as --database-url: its entries replace
# the file's entries of the same name. DATABASE_URLS cannot be combined with a
# file.
#
# Settings: PGTIDE_<SETTING> is pgtide's own spelling and is passed through.
# The bare spellings of PgBouncer images (POOL_MODE, MAX_CLIENT_CONN,
# DEFAULT_POOL_SIZE, ... see ALIASES below) become PGTIDE_<SETTING> unless
# that is set too, in which case PGTIDE_<SETTING> wins. CLIENT_TLS_SSLMODE and
# SERVER_TLS_SSLMODE are refused when they demand TLS, which pgtide lacks yet.
# A PGTIDE_ variable that is no setting draws a warning (pgtide ignores it).
#
# Secrets: NAME_FILE, for DATABASE_URL, DATABASE_URLS, DATABASE_READ_URL, DB_* and every
# PGTIDE_<SETTING>, sets NAME to the content of that file (trailing newlines
# removed). Setting both NAME and NAME_FILE is an error.
#
# Container defaults, applied only when neither the environment nor the
# configuration file sets them: listen_addr = * (all addresses),
# metrics_addr = 0.0.0.0, metrics_port = 9127, unix_socket_dir = PGTIDE_RUN_DIR.
#
# Paths, all overridable (so the script runs outside a container too):
#   PGTIDE_BIN         the pgtide binary (default: pgtide on PATH, else
#                      /usr/local/bin/pgtide)
#   PGTIDE_CONFIG_DIR  where a mounted pgtide.ini is looked for (/etc/pgtide)
#   PGTIDE_CONFIG      the configuration file (default: $PGTIDE_CONFIG_DIR/pgtide.ini
#                      when it exists)
#   PGTIDE_RUN_DIR     generated files and the Unix socket (/run/pgtide)
set -Eeuo pipefail

ALIASES=(
	POOL_MODE MAX_CLIENT_CONN DEFAULT_POOL_SIZE MIN_POOL_SIZE RESERVE_POOL_SIZE
	RESERVE_POOL_TIMEOUT SERVER_RESET_QUERY SERVER_RESET_QUERY_ALWAYS AUTH_TYPE
	ADMIN_USERS STATS_USERS LISTEN_PORT LISTEN_ADDR MAX_DB_CONNECTIONS MAX_USER_CONNECTIONS
	SERVER_LIFETIME SERVER_IDLE_TIMEOUT SERVER_CONNECT_TIMEOUT SERVER_LOGIN_RETRY
	SERVER_CHECK_QUERY SERVER_CHECK_DELAY QUERY_TIMEOUT QUERY_WAIT_TIMEOUT
	CLIENT_IDLE_TIMEOUT CLIENT_LOGIN_TIMEOUT IDLE_TRANSACTION_TIMEOUT
	IGNORE_STARTUP_PARAMETERS LOG_CONNECTIONS LOG_DISCONNECTIONS LOG_POOLER_ERRORS
	STATS_PERIOD
)
# Variables of this script that share the PGTIDE_ prefix but are no settings.
OWN_VARS=(PGTIDE_BIN PGTIDE_CONFIG PGTIDE_CONFIG_DIR PGTIDE_RUN_DIR)
# Variables that may be given as NAME_FILE besides the PGTIDE_<SETTING> ones.
# DATABASE_READ_URL is passed through for the read-routing feature.
FILE_VARS=(DATABASE_URL DATABASE_URLS DATABASE_READ_URL DB_HOST DB_PORT DB_USER DB_PASSWORD DB_NAME)

PGTIDE_CONFIG_DIR=${PGTIDE_CONFIG_DIR:-/etc/pgtide}
PGTIDE_RUN_DIR=${PGTIDE_RUN_DIR:-/run/pgtide}
if [ -z "${PGTIDE_BIN:-}" ]; then
	PGTIDE_BIN=$(command -v pgtide 2>/dev/null || echo /usr/local/bin/pgtide)
fi

say() { printf 'docker-entrypoint: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
warn() { say "warning: $*"; }

# ---- small helpers ----------------------------------------------------

is_set() { [ -n "${!1+x}" ]; }

# pct_encode TEXT: RFC 3986 unreserved characters stay, every other byte
# becomes %XX.
pct_encode() {
	local LC_ALL=C s=$1 out='' c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[A-Za-z0-9._~-]) out+=$c ;;
		*) printf -v c '%%%02X' "'$c"; out+=$c ;;
		esac
	done
	printf '%s' "$out"
}

# pct_decode TEXT: sets REPLY; fails on a bad escape or %00, as pgtide does.
pct_decode() {
	local s=$1
	if [[ $s =~ %([^0-9A-Fa-f]|[0-9A-Fa-f]([^0-9A-Fa-f]|$)|$) || $s == *%00* ]]; then
		return 1
	fi
	s=${s//\\/\\\\}
	printf -v REPLY '%b' "${s//%/\\x}"
}

# mask_url URL: the URL with its password replaced by ***.
mask_url() {
	local url=$1 scheme rest auth tail
	scheme=${url%%://*}
	[ "$scheme" != "$url" ] || { printf '%s' "$url"; return; }
	rest=${url#*://}
	auth=${rest%%[/?]*}
	tail=${rest:${#auth}}
	if [[ $auth == *@* && ${auth%@*} == *:* ]]; then
		auth="${auth%%:*}:***@${auth##*@}"
	fi
	tail=$(sed -E 's/([?&]password=)[^&]*/\1***/g' <<<"$tail")
	printf '%s://%s%s' "$scheme" "$auth" "$tail"
}

# The names of pgtide's settings, from the binary itself so this script
# never lags behind it: --check-config prints "name = value" lines first.
SETTINGS=()
load_settings() {
	[ -x "$PGTIDE_BIN" ] || die "pgtide binary $PGTIDE_BIN not found or not executable (set PGTIDE_BIN)"
	local out
	# The environment stays: an invalid PGTIDE_<SETTING> value stops here
	# with pgtide's own message, which names the variable.
	out=$("$PGTIDE_BIN" --check-config --database-url postgres://entrypoint@127.0.0.1/entrypoint 2>&1) ||
		die "$PGTIDE_BIN --check-config failed: $out"
	mapfile -t SETTINGS < <(sed -n '/^\[databases\]/q; s/^\([a-z_][a-z0-9_]*\) = .*/\1/p' <<<"$out")
	[ ${#SETTINGS[@]} -gt 0 ] || die "could not read the setting names from $PGTIDE_BIN"
}

is_setting() {
	local s
	for s in "${SETTINGS[@]}"; do [ "$s" = "$1" ] && return 0; done
	return 1
}

upper() { printf '%s' "${1^^}"; }

valid_port() { [[ $1 =~ ^[0-9]{1,5}$ ]] && [ "$((10#$1))" -ge 1 ] && [ "$((10#$1))" -le 65535 ]; }

# file_setting FILE KEY: prints KEY's value in FILE's [pgtide]/[pgbouncer]
# section (the last one given, as pgtide takes it) and succeeds, or fails
# when the file does not set KEY. Follows pgtide's syntax: ';' or '#' starts
# a comment line, a ';' after a blank starts an inline comment, '=' or ':'
# separates key and value, names are case-insensitive.
file_setting() {
	[ -r "$1" ] || return 1
	awk -v want="$2" '
		NR == 1 { sub(/^\357\273\277/, "") }
		{ sub(/\r$/, ""); sub(/^[ \t]+/, "") }
		/^[;#]/ || $0 == "" { next }
		/^\[/ {
			s = $0; sub(/^\[[ \t]*/, "", s); sub(/[ \t]*\].*$/, "", s); s = tolower(s)
			in_main = (s == "pgtide" || s == "pgbouncer"); next
		}
		in_main {
			i = match($0, /[=:]/); if (!i) next
			k = substr($0, 1, i - 1); v = substr($0, i + 1)
			sub(/[ \t]+$/, "", k)
			if (tolower(k) != want) next
			sub(/[ \t];.*$/, "", v); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v)
			found = 1; val = v
		}
		END { if (found) print val; exit !found }' "$1"
}

# ---- resolving the environment -----------------------------------------

CONFIG=""          # the configuration file pgtide will read, if any
CONFIG_KIND=""     # mounted | generated | ""
DB_SOURCE=""       # DATABASE_URL | DATABASE_URLS | DB_HOST | ""
DEFAULTED=()       # container defaults that were applied

# NAME_FILE -> NAME, for the variables listed above and PGTIDE_<SETTING>.
resolve_files() {
	local var base names=()
	for var in "${FILE_VARS[@]}"; do names+=("$var"); done
	for var in "${SETTINGS[@]}"; do names+=("PGTIDE_$(upper "$var")"); done
	for base in "${names[@]}"; do
		var=${base}_FILE
		is_set "$var" || continue
		# PGTIDE_AUTH_FILE is a setting (a path), not a secret file of
		# PGTIDE_AUTH; only NAME_FILE with NAME in the list counts.
		if is_set "$base"; then
			die "both $base and $var are set; set one"
		fi
		[ -r "${!var}" ] || die "$var: cannot read ${!var}"
		local content
		content=$(<"${!var}")
		content=${content%$'\r'}
		export "$base=$content"
		unset "$var"
	done
}

# Bare PgBouncer-image spellings -> PGTIDE_<SETTING>.
resolve_aliases() {
	local a p
	for a in "${ALIASES[@]}"; do
		is_set "$a" || continue
		p=PGTIDE_$a
		if [ "$a" = LISTEN_PORT ] && [[ ${!a} == tcp://* ]]; then
			warn "LISTEN_PORT=${!a} looks like a Kubernetes service link, not a port; ignored (set enableServiceLinks: false)"
			continue
		fi
		if is_set "$p"; then
			[ "${!p}" = "${!a}" ] || warn "$a and $p are both set; $p (${!p}) wins"
			continue
		fi
		export "$p=${!a}"
	done
	# PgBouncer's TLS modes: pgtide has no TLS yet, and ignoring a mode that
	# demands encryption would silently fall back to clear text.
	if is_set CLIENT_TLS_SSLMODE && [ "${CLIENT_TLS_SSLMODE,,}" != disable ]; then
		die "CLIENT_TLS_SSLMODE=$CLIENT_TLS_SSLMODE: client TLS is not implemented yet (use disable, or unset it)"
	fi
	if is_set SERVER_TLS_SSLMODE; then
		case ${SERVER_TLS_SSLMODE,,} in
		disable | allow | prefer) ;;
		*) die "SERVER_TLS_SSLMODE=$SERVER_TLS_SSLMODE: server TLS is not implemented yet (use disable, allow or prefer, or unset it)" ;;
		esac
	fi
}

warn_unknown_pgtide_vars() {
	local v name own
	while IFS= read -r v; do
		name=${v#PGTIDE_}
		for own in "${OWN_VARS[@]}"; do [ "$v" = "$own" ] && continue 2; done
		is_setting "${name,,}" && continue
		# Kubernetes service links of a Service named pgtide.
		[[ $v == PGTIDE_PORT || $v == PGTIDE_PORT_* || $v == PGTIDE_SERVICE_* ]] && continue
		warn "$v is not a pgtide setting; pgtide ignores it"
	done < <(compgen -e | grep '^PGTIDE_' || true)
}

find_config() {
	if is_set PGTIDE_CONFIG && [ -n "$PGTIDE_CONFIG" ]; then
		[ -r "$PGTIDE_CONFIG" ] || die "PGTIDE_CONFIG=$PGTIDE_CONFIG: no such readable file"
		CONFIG=$PGTIDE_CONFIG
		CONFIG_KIND=mounted
	elif [ -e "$PGTIDE_CONFIG_DIR/pgtide.ini" ]; then
		[ -r "$PGTIDE_CONFIG_DIR/pgtide.ini" ] || die "$PGTIDE_CONFIG_DIR/pgtide.ini is not readable by uid $(id -u)"
		CONFIG=$PGTIDE_CONFIG_DIR/pgtide.ini
		CONFIG_KIND=mounted
	fi
}

# DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME -> DATABASE_URL.
build_url_from_db_vars() {
	local host=$DB_HOST port=${DB_PORT:-5432} user=${DB_USER:-} pass=${DB_PASSWORD:-} name=${DB_NAME:-}
	local url=postgres:// hostpart
	if [[ $port == tcp://* ]]; then
		warn "DB_PORT=$port looks like a Kubernetes service link, not a port; using 5432 (set DB_PORT, or enableServiceLinks: false)"
		port=5432
	fi
	valid_port "$port" || die "DB_PORT=$port is not a port number"
	if [ -n "$user" ]; then
		url+=$(pct_encode "$user")
		[ -z "$pass" ] || url+=:$(pct_encode "$pass")
		url+=@
	else
		[ -z "$pass" ] || die "DB_PASSWORD is set but DB_USER is not"
		warn "DB_USER is not set: no client can log in unless AUTH_TYPE is trust or any, or an auth_file lists users"
	fi
	if [[ $host == *:* && $host != /* ]]; then
		hostpart="[$host]"         # an IPv6 address
	else
		hostpart=$(pct_encode "$host")
	fi
	url+="$hostpart:$port"
	[ -z "$name" ] || [ "$name" = "*" ] || url+=/$(pct_encode "$name")
	export DATABASE_URL=$url
}

# parse_url URL: sets U_USER U_PASS U_HOST U_PORT U_DB the way pgtide's
# config_apply_database_url reads a URL; on error sets U_ERR and fails.
parse_url() {
	local url=$1 rest auth tail userinfo hostport q kv key val
	U_USER='' U_PASS='' U_HOST='' U_PORT=5432 U_DB='' U_ERR=''
	case ${url,,} in
	postgresql://*) rest=${url:13} ;;
	postgres://*) rest=${url:11} ;;
	*) U_ERR="must start with postgres:// or postgresql://"; return 1 ;;
	esac
	auth=${rest%%[/?]*}
	tail=${rest:${#auth}}
	hostport=$auth
	if [[ $auth == *@* ]]; then
		userinfo=${auth%@*}
		hostport=${auth##*@}
		pct_decode "${userinfo%%:*}" || { U_ERR="bad percent-escape"; return 1; }
		U_USER=$REPLY
		if [[ $userinfo == *:* ]]; then
			pct_decode "${userinfo#*:}" || { U_ERR="bad percent-escape"; return 1; }
			U_PASS=$REPLY
		fi
	fi
	[[ $hostport != *,* ]] || { U_ERR="several hosts are not supported"; return 1; }
	local hostraw=$hostport portraw=''
	if [[ $hostport == \[* ]]; then
		[[ $hostport == *\]* ]] || { U_ERR="missing ']' after an IPv6 address"; return 1; }
		hostraw=${hostport#\[}
		hostraw=${hostraw%%\]*}
		local after=${hostport#*\]}
		if [ -n "$after" ]; then
			[[ $after == :* ]] || { U_ERR="unexpected text after ']'"; return 1; }
			portraw=${after#:}
			[ -n "$portraw" ] || { U_ERR="bad port"; return 1; }
		fi
	elif [[ $hostport == *:* ]]; then
		hostraw=${hostport%%:*}
		portraw=${hostport#*:}
		[ -n "$portraw" ] || { U_ERR="bad port"; return 1; }
	fi
	pct_decode "$hostraw" || { U_ERR="bad percent-escape"; return 1; }
	U_HOST=$REPLY
	if [ -n "$portraw" ]; then U_PORT=$portraw; fi
	if [[ $tail == /* ]]; then
		local p=${tail#/} path
		path=${p%%\?*}
		tail=${p:${#path}}
		pct_decode "$path" || { U_ERR="bad percent-escape"; return 1; }
		U_DB=$REPLY
	fi
	if [[ $tail == \?* ]]; then
		q=${tail#\?}
		local IFS='&'
		for kv in $q; do
			[[ $kv == *=* ]] || { U_ERR="query parameter without '='"; return 1; }
			key=${kv%%=*}
			[ -n "$key" ] || { U_ERR="query parameter without a name"; return 1; }
			pct_decode "$key" || { U_ERR="bad percent-escape"; return 1; }
			key=$REPLY
			pct_decode "${kv#*=}" || { U_ERR="bad percent-escape"; return 1; }
			val=$REPLY
			case $key in
			host) U_HOST=$val ;;
			port) U_PORT=$val ;;
			user) U_USER=$val ;;
			password) U_PASS=$val ;;
			dbname) U_DB=$val ;;
			application_name) ;;
			sslmode)
				case $val in
				disable | allow | prefer) ;;
				*) U_ERR="sslmode '$val' is not supported: server TLS is not implemented yet (use disable, allow or prefer)"; return 1 ;;
				esac ;;
			*) U_ERR="unsupported query parameter '$key' (supported: host, port, user, password, dbname, sslmode, application_name)"; return 1 ;;
			esac
		done
	fi
	valid_port "$U_PORT" || { U_ERR="bad port"; return 1; }
	[ -n "$U_USER" ] || [ -z "$U_PASS" ] || { U_ERR="password without a user name"; return 1; }
	return 0
}

# ini_value VALUE: VALUE as pgtide's [database NAME] syntax needs it, or fail.
# A value is literal unless it starts with a quote; a ';' after a blank is an
# inline comment everywhere, quotes or not, so such a value cannot be written.
ini_value() {
	local v=$1
	[[ $v != *$'\n'* && ! $v =~ [[:space:]]\; ]] || return 1
	if [[ $v == \'* || $v == \;* || $v =~ ^[[:space:]] || $v =~ [[:space:]]$ ]]; then
		v=${v//\\/\\\\}
		v="'${v//\'/\\\'}'"
	fi
	REPLY=$v
}

# DATABASE_URLS -> PGTIDE_RUN_DIR/pgtide-generated.ini and userlist-generated.txt.
generate_config() {
	local ini=$PGTIDE_RUN_DIR/pgtide-generated.ini users=$PGTIDE_RUN_DIR/userlist-generated.txt
	local item name url n=0 first_user='' body='' userlines='' seen=' ' key val line
	local -A secret_of=()
	local items=()
	# Items are separated by commas, blanks or newlines (YAML block scalars).
	IFS=$', \t\n' read -r -d '' -a items <<<"$DATABASE_URLS" || true
	for item in "${items[@]}"; do
		[ -n "$item" ] || continue
		n=$((n + 1))
		name=''
		url=$item
		if [[ $item =~ ^([^=/:[:space:]]+)=(.*)$ ]]; then
			name=${BASH_REMATCH[1]}
			url=${BASH_REMATCH[2]}
		fi
		parse_url "$url" || die "DATABASE_URLS item $n: $U_ERR"
		[ -n "$name" ] || name=${U_DB:-$U_USER}
		[ -n "$name" ] || die "DATABASE_URLS item $n: no database name (write name=URL)"
		[[ $name =~ ^[A-Za-z0-9_.$-]+$ ]] ||
			die "DATABASE_URLS item $n: database name '$name' may only use letters, digits and _ . \$ -"
		[[ $seen != *" $name "* ]] || die "DATABASE_URLS: database $name given twice"
		seen+="$name "
		body+=$'\n'"[database $name]"$'\n'
		for key in host port dbname; do
			case $key in
			host) val=$U_HOST ;;
			port) val=$U_PORT ;;
			dbname) val=${U_DB:-$U_USER} ;;
			esac
			[ -n "$val" ] || continue
			ini_value "$val" || die "DATABASE_URLS item $n: the $key cannot be written to a config file (newline or ' ;')"
			line="$key = $REPLY"
			[ ${#line} -le 198 ] || die "DATABASE_URLS item $n: the $key is too long for a config line"
			body+=$line$'\n'
		done
		if [ -n "$U_USER" ]; then
			[ -n "$first_user" ] || first_user=$U_USER
			if [ -n "$U_PASS" ]; then
				if [ -n "${secret_of[$U_USER]+x}" ] && [ "${secret_of[$U_USER]}" != "$U_PASS" ]; then
					die "DATABASE_URLS: user $U_USER has two different passwords; one user has one secret"
				fi
				if [ -z "${secret_of[$U_USER]+x}" ]; then
					[[ $U_USER != *$'\n'* && $U_PASS != *$'\n'* ]] || die "DATABASE_URLS item $n: newline in user or password"
					userlines+="\"${U_USER//\"/\"\"}\" \"${U_PASS//\"/\"\"}\""$'\n'
				fi
				secret_of[$U_USER]=$U_PASS
			fi
		fi
	done
	[ "$n" -gt 0 ] || die "DATABASE_URLS is empty"
	mkdir -p "$PGTIDE_RUN_DIR" || die "cannot create $PGTIDE_RUN_DIR"
	(
		umask 077
		printf '%s' "$userlines" >"$users.tmp" && mv -f "$users.tmp" "$users"
		{
			echo "; Generated by docker-entrypoint.sh from DATABASE_URLS; rewritten at every start."
			echo "[pgtide]"
			echo "auth_file = $users"
			# As with one DATABASE_URL, the (first) URL's user runs the console.
			[ -z "$first_user" ] || echo "admin_users = $first_user"
			printf '%s' "$body"
		} >"$ini.tmp" && mv -f "$ini.tmp" "$ini"
	) || die "cannot write $ini"
	unset DATABASE_URLS
	CONFIG=$ini
	CONFIG_KIND=generated
}

# Defaults that make sense in a container, unless the environment or the
# configuration file sets the setting.
container_default() {
	local setting=$1 value=$2 var
	var=PGTIDE_$(upper "$setting")
	is_set "$var" && return 0
	if [ -n "$CONFIG" ] && [ "$CONFIG_KIND" = mounted ] && file_setting "$CONFIG" "$setting" >/dev/null; then
		return 0
	fi
	export "$var=$value"
	DEFAULTED+=("$var")
}

resolve_all() {
	load_settings
	resolve_files
	resolve_aliases
	warn_unknown_pgtide_vars
	find_config

	local url_set=0 urls_set=0 db_set=0
	[ -z "${DATABASE_URL:-}" ] || url_set=1
	[ -z "${DATABASE_URLS:-}" ] || urls_set=1
	[ -z "${DB_HOST:-}" ] || db_set=1
	if [ $url_set = 1 ]; then
		DB_SOURCE=DATABASE_URL
		[ $urls_set = 0 ] || warn "DATABASE_URL is set: DATABASE_URLS is ignored"
		[ $db_set = 0 ] || warn "DATABASE_URL is set: DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME are ignored"
	elif [ $urls_set = 1 ]; then
		DB_SOURCE=DATABASE_URLS
		[ $db_set = 0 ] || warn "DATABASE_URLS is set: DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME are ignored"
	elif [ $db_set = 1 ]; then
		DB_SOURCE=DB_HOST
		build_url_from_db_vars
	else
		for v in DB_PORT DB_USER DB_PASSWORD DB_NAME; do
			[ -z "${!v:-}" ] || warn "$v is set but DB_HOST is not; ignored"
		done
	fi
	unset DATABASE_URLS_FILE DB_PASSWORD
	[ "$DB_SOURCE" = DATABASE_URL ] || [ "$DB_SOURCE" = DB_HOST ] || unset DATABASE_URL

	if [ "$DB_SOURCE" = DATABASE_URLS ]; then
		[ -z "$CONFIG" ] || die "DATABASE_URLS cannot be combined with the configuration file $CONFIG; list the databases in its [databases] section, or use DATABASE_URL"
	elif [ -z "$CONFIG" ] && [ -z "$DB_SOURCE" ]; then
		die "nothing to pool: set DATABASE_URL (or DATABASE_URLS, or DB_HOST/DB_USER/DB_PASSWORD/DB_NAME), or mount a configuration file at $PGTIDE_CONFIG_DIR/pgtide.ini"
	fi
}

# ---- modes ---------------------------------------------------------------

# healthcheck [PATH]: GET PATH on the metrics listener with bash's /dev/tcp
# (the image has no HTTP client); 0 on "200", 1 otherwise. With metrics_port
# = 0 it falls back to a TCP connect to listen_port.
healthcheck() {
	local path=${1:-/readyz} port addr host status line body=''
	load_settings
	resolve_files
	resolve_aliases 2>/dev/null
	find_config
	setting_value() { # SETTING DEFAULT
		local var
		var=PGTIDE_$(upper "$1")
		if is_set "$var"; then printf '%s' "${!var}"; return; fi
		if [ -n "$CONFIG" ] && file_setting "$CONFIG" "$1"; then return; fi
		printf '%s' "$2"
	}
	# The container defaults, unless the environment or the file says otherwise.
	port=$(setting_value metrics_port 9127)
	addr=$(setting_value metrics_addr 0.0.0.0)
	if [ "$port" = 0 ]; then
		port=$(setting_value listen_port 6432)
		addr=$(setting_value listen_addr '*')
		addr=${addr%%,*}
		path=""
	fi
	case $addr in
	'' | '*' | 0.0.0.0) host=127.0.0.1 ;;
	'::') host=::1 ;;
	*) host=$addr ;;
	esac
	if ! { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
		echo "not ready: nothing listens on $host:$port"
		return 1
	fi
	if [ -z "$path" ]; then
		exec 3>&-
		echo "ok: $host:$port accepts connections (metrics_port = 0, so /readyz cannot be asked)"
		return 0
	fi
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$host" >&3
	IFS= read -r -t 5 status <&3 || status=""
	status=${status%$'\r'}
	while IFS= read -r -t 5 line <&3; do
		[ "${line%$'\r'}" != "" ] || break
	done
	IFS= read -r -t 5 body <&3 || true
	exec 3>&-
	if [[ $status =~ ^HTTP/1\.[01]\ 200\  ]]; then
		echo "${body:-ok}"
		return 0
	fi
	echo "not ready: $path answered '${status:-nothing}'${body:+: $body}"
	return 1
}

print_config() {
	local v
	echo "# docker-entrypoint.sh --print-config (secrets masked)"
	case $CONFIG_KIND in
	mounted) echo "config_file: $CONFIG (used as it is, never written)" ;;
	generated) echo "config_file: $CONFIG (generated from DATABASE_URLS)" ;;
	*) echo "config_file: none" ;;
	esac
	echo "databases_from: ${DB_SOURCE:-config file}"
	echo "container_defaults: ${DEFAULTED[*]:-none}"
	echo "# environment"
	is_set DATABASE_URL && echo "DATABASE_URL=$(mask_url "$DATABASE_URL")"
	while IFS= read -r v; do
		printf '%s=%s\n' "$v" "${!v}"
	done < <(compgen -e | grep '^PGTIDE_' | sort)
	echo "# command"
	local shown=() a next=0
	for a in "${CMD[@]}"; do
		if [ $next = 1 ]; then shown+=("$(mask_url "$a")"); next=0; continue; fi
		[ "$a" = --database-url ] && next=1
		shown+=("$a")
	done
	echo "exec ${shown[*]}"
	if [ "$CONFIG_KIND" = generated ]; then
		echo "# $CONFIG"
		cat "$CONFIG"
	fi
	echo "# pgtide --check-config"
	"${CMD[@]}" --check-config
}

main() {
	local dry=0
	case ${1:-} in
	healthcheck)
		shift
		healthcheck "$@"
		return
		;;
	--print-config | --dry-run)
		dry=1
		shift
		;;
	pgtide)
		shift
		;;
	*.ini)
		export PGTIDE_CONFIG=$1
		shift
		;;
	'' | -*) ;;
	*)
		exec "$@"
		;;
	esac
	local a
	for a in "$@"; do
		case $a in
		-d | --daemon) die "$a would fork pgtide into the background and end the container; leave it out" ;;
		esac
	done

	resolve_all
	if [ "$DB_SOURCE" = DATABASE_URLS ]; then
		generate_config
	fi
	container_default listen_addr '*'
	container_default metrics_addr 0.0.0.0
	container_default metrics_port 9127
	container_default unix_socket_dir "$PGTIDE_RUN_DIR"
	if [ "${PGTIDE_UNIX_SOCKET_DIR:-}" = "$PGTIDE_RUN_DIR" ]; then
		mkdir -p "$PGTIDE_RUN_DIR" 2>/dev/null || die "cannot create $PGTIDE_RUN_DIR (set PGTIDE_RUN_DIR or PGTIDE_UNIX_SOCKET_DIR)"
	fi

	CMD=("$PGTIDE_BIN")
	[ -z "$CONFIG" ] || CMD+=("$CONFIG")
	# With a file pgtide ignores the DATABASE_URL variable, so the URL goes
	# on the command line; without one pgtide reads the variable itself,
	# which keeps the password out of the process list.
	if [ -n "$CONFIG" ] && [ -n "${DATABASE_URL:-}" ]; then
		CMD+=(--database-url "$DATABASE_URL")
	fi
	CMD+=("$@")

	if [ $dry = 1 ]; then
		print_config
		return
	fi
	exec "${CMD[@]}"
}

main "$@"

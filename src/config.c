/*
 * config.c - the settings table, the INI loader (libinih), [databases]
 * connection strings, the auth_file and DATABASE_URL.
 *
 * Everything here builds or reads a config_t; nothing logs and the only I/O
 * is reading the files the caller names. Errors are written as
 * "FILE:LINE: KEY: reason" into the caller's buffer. Secret values
 * (passwords, auth_file contents, the URL) never appear in error messages.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hba.h"

/*
 * inih copies each line into a fixed buffer of INI_MAX_LINE bytes; a longer
 * line is silently split in two. We hand it every line followed by '\n' and
 * a NUL, so content may use INI_MAX_LINE - 2 bytes. (Without the '\n', newer
 * inih releases treat a full buffer as overflow and swallow the next line.)
 */
#define CONFIG_MAX_LINE (INI_MAX_LINE - 2)
#define CONFIG_MAX_FILE ((size_t)64 << 20) /* guards against reading a device */
#define REASON_MAX 256

#define SEC(n) ((usec_t)(n) * USEC_PER_SEC)

/* ------------------------------------------------------------------ */
/* The settings table                                                  */
/* ------------------------------------------------------------------ */

static const char *const pool_mode_names[] = { "session", "transaction", NULL };
static const char *const auth_type_names[] = { "trust", "any", "plain", "md5", "scram-sha-256",
					       "cert", "hba", NULL };
static const char *const log_format_names[] = { "text", "json", NULL };
const char *const config_tls_mode_names[] = { "disable", "allow", "prefer", "require", "verify-ca",
					      "verify-full", NULL };
/* Index = session_state_mode_t. */
static const char *const session_state_names[] = { "pin", "warn", "error", NULL };
/* Index = read_routing_t / replica_fallback_t. */
static const char *const read_routing_names[] = { "off", "explicit", "auto", NULL };
static const char *const replica_fallback_names[] = { "primary", "error", NULL };

/* Field name == setting name, so one macro per type keeps the table honest. */
#define S_ENTRY(f, t, def, rel, lo, hi, en, help) \
	{ #f, t, offsetof(config_t, f), def, rel, lo, hi, en, help }
#define S_INT(f, def, rel, lo, hi, help) S_ENTRY(f, SETTING_INT, def, rel, lo, hi, NULL, help)
#define S_BOOL(f, def, rel, help) S_ENTRY(f, SETTING_BOOL, def, rel, 0, 1, NULL, help)
#define S_STR(f, def, rel, help) S_ENTRY(f, SETTING_STRING, def, rel, 0, 0, NULL, help)
#define S_DUR(f, def, rel, lo, help) S_ENTRY(f, SETTING_DURATION, def, rel, lo, 0, NULL, help)
#define S_ENUM(f, def, rel, names, help) S_ENTRY(f, SETTING_ENUM, def, rel, 0, 0, names, help)

/*
 * Defaults are written exactly as config_format_value prints them, so SHOW
 * CONFIG can print default_value as the "default" column unchanged.
 */
static const config_setting_t settings[] = {
	S_STR(listen_addr, "127.0.0.1", false,
	      "TCP addresses to listen on, comma-separated; * = all; empty = Unix socket only (PgBouncer's default is empty)"),
	S_INT(listen_port, "6432", false, 1, 65535,
	      "TCP port; also names the Unix socket .s.PGSQL.<port>"),
	S_STR(unix_socket_dir, "/tmp", false, "Directory of the Unix socket; empty = no Unix socket"),
	S_INT(listen_backlog, "128", false, 1, 65535, "Backlog passed to listen(2)"),
	S_BOOL(so_reuseport, "0", false,
	       "Let another pgtide process listen on the same port (for restarts without downtime); SIGTERM then waits for connected clients"),
	S_ENUM(pool_mode, "transaction", true, pool_mode_names,
	       "When a server returns to the pool: transaction = at transaction end, session = when the client leaves (PgBouncer's default is session)"),
	S_INT(max_client_conn, "100", true, 1, 1000000, "Most client connections open at once"),
	S_INT(default_pool_size, "20", true, 1, 100000,
	      "Server connections per (database, user) pool"),
	S_INT(min_pool_size, "0", true, 0, 100000,
	      "Server connections kept open per pool even when idle"),
	S_INT(reserve_pool_size, "0", true, 0, 100000,
	      "Extra server connections a pool may open once a client has waited reserve_pool_timeout"),
	S_DUR(reserve_pool_timeout, "5", true, 0,
	      "How long a client waits before the reserve pool may be used"),
	S_INT(max_db_connections, "0", true, 0, 1000000,
	      "Most server connections per database over all users; 0 = no limit"),
	S_INT(max_user_connections, "0", true, 0, 1000000,
	      "Most server connections per user over all databases; 0 = no limit"),
	S_DUR(server_lifetime, "3600", true, 0,
	      "Close an unused server connection older than this; 0 = use each connection once"),
	S_DUR(server_idle_timeout, "600", true, 0,
	      "Close a server connection idle longer than this; 0 = never"),
	S_DUR(server_connect_timeout, "15", true, 0,
	      "Give up connecting and logging in to a server after this"),
	S_DUR(server_login_retry, "15", true, 0,
	      "After a failed server login, wait this long before trying again"),
	S_STR(server_reset_query, "DISCARD ALL", true,
	      "Run when a server returns to the pool in session mode; empty = none"),
	S_BOOL(server_reset_query_always, "0", true,
	       "Run server_reset_query in transaction mode too"),
	S_STR(server_check_query, "", true,
	      "Run on servers idle longer than server_check_delay to prove they still work; empty = no query (idle server sockets are watched either way, so a closed server is noticed at once)"),
	S_DUR(server_check_delay, "30", true, 0,
	      "How long a server may sit idle before server_check_query is run on it"),
	S_DUR(query_wait_timeout, "120", true, 0,
	      "Disconnect a client that waited this long for a server; 0 = wait forever"),
	S_DUR(client_login_timeout, "60", true, 0,
	      "Disconnect a client that has not logged in after this; 0 = never"),
	S_DUR(client_idle_timeout, "0", true, 0,
	      "Disconnect a client idle (outside a transaction) this long; 0 = never"),
	S_DUR(idle_transaction_timeout, "0", true, 0,
	      "Disconnect a client idle inside a transaction this long; 0 = never"),
	S_DUR(query_timeout, "0", true, 0,
	      "Close a client whose query runs longer than this (SQLSTATE 57014); 0 = never"),
	S_DUR(cancel_wait_timeout, "10", true, 0,
	      "Give up on a cancel request the server has not answered after this; 0 = 10 s"),
	S_ENUM(auth_type, "md5", true, auth_type_names,
	       "Client authentication: trust, any, plain, md5 (SCRAM when the stored secret is SCRAM), scram-sha-256, cert (TLS client certificate, common name = user) or hba (per connection, from auth_hba_file)"),
	S_STR(auth_file, "", true,
	      "File of \"user\" \"secret\" lines (PgBouncer's userlist.txt); relative paths start at the config file's directory"),
	S_STR(auth_hba_file, "", true,
	      "pg_hba.conf-style rules used when auth_type = hba; relative paths start at the config file's directory"),
	S_STR(auth_user, "", true,
	      "User that looks up passwords with auth_query for users not in auth_file; empty = no lookups"),
	S_STR(auth_query, "SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END FROM pg_authid WHERE rolname=$1 AND rolcanlogin", true,
	      "Query that returns (user name, password secret) for the user name in $1"),
	S_STR(auth_dbname, "", true,
	      "Database (a [databases] entry) auth_query runs in; empty = the database the client asked for"),
	S_DUR(auth_query_cache_ttl, "30", true, 0,
	      "How long an auth_query answer (found or not) is reused; 0 = ask every time (pgtide only)"),
	S_STR(admin_users, "", true, "Users allowed every admin console command, comma-separated"),
	S_STR(stats_users, "", true,
	      "Users allowed the read-only admin SHOW commands, comma-separated"),
	S_INT(workers, "0", false, 0, 1024, "Worker threads; 0 = one per CPU core (pgtide only)"),
	S_INT(worker_busy_percent, "85", true, 0, 100,
	      "A worker busier than this (percent of one core) hands idle clients to a quieter one; below 70% of it workers pack their clients together; 0 = clients stay where the kernel placed them (pgtide only)"),
	S_INT(max_packet_size, "2147483647", true, 1024, INT_MAX,
	      "Largest protocol message accepted, in bytes"),
	S_INT(pkt_buf, "4096", false, 1024, 16777216,
	      "Accepted for PgBouncer compatibility; pgtide's I/O buffers are a fixed 16 KiB, taken only while a connection has data in flight"),
	S_DUR(stats_period, "60", true, SEC(1),
	      "Period over which averages are computed and log_stats lines are written"),
	S_BOOL(log_connections, "1", true, "Log each successful client login"),
	S_BOOL(log_disconnections, "1", true, "Log each disconnection with its reason"),
	S_BOOL(log_pooler_errors, "1", true, "Log the errors pgtide sends to clients"),
	S_BOOL(log_stats, "1", true, "Log a summary line every stats_period"),
	S_INT(verbose, "0", true, 0, 3, "Log detail: 0 = normal, higher = more debugging output"),
	S_STR(logfile, "", true, "Write the log to this file; empty = standard error"),
	S_STR(pidfile, "", false, "Write the process id to this file; empty = none"),
	S_ENUM(log_format, "text", true, log_format_names,
	       "Log line format: text or json (pgtide only)"),
	S_BOOL(tcp_keepalive, "1", true, "Turn on TCP keepalive with the system's defaults"),
	S_BOOL(tcp_defer_accept, "1", false,
	       "Accept a TCP connection only once its first bytes arrived (TCP_DEFER_ACCEPT, 45 s as PgBouncer), so the accept and the startup packet take one wake-up"),
	S_STR(metrics_addr, "127.0.0.1", false,
	      "Address of the HTTP listener for /metrics, /healthz and /readyz (pgtide only)"),
	S_INT(metrics_port, "0", false, 0, 65535,
	      "Port of the HTTP listener for /metrics, /healthz and /readyz; 0 = off (pgtide only)"),
	S_INT(max_prepared_statements, "200", true, 0, 100000,
	      "Named prepared statements kept per server connection in transaction mode (least recently used are closed); 0 = pass named statements through unchanged"),
	S_ENUM(transaction_mode_session_state, "pin", true, session_state_names,
	       "In transaction mode, a client whose session holds what cannot move between server connections (LISTEN, session advisory locks, temporary tables, WITH HOLD cursors, SET ROLE): pin = it keeps its server until that is gone, warn = log once and carry on, error = refuse such statements (pgtide only)"),
	S_STR(ignore_startup_parameters, "", true,
	      "Startup parameters clients may send that pgtide drops, comma-separated (e.g. extra_float_digits)"),
	S_ENUM(client_tls_sslmode, "disable", true, config_tls_mode_names,
	       "TLS with clients: disable, allow/prefer (accept TLS), require (refuse plaintext TCP), verify-ca/verify-full (also demand a client certificate signed by client_tls_ca_file)"),
	S_STR(client_tls_key_file, "", true, "Private key pgtide presents to clients (PEM)"),
	S_STR(client_tls_cert_file, "", true, "Certificate (chain) pgtide presents to clients (PEM)"),
	S_STR(client_tls_ca_file, "", true,
	      "CA certificates that client certificates are verified against (PEM); empty = no client certificates"),
	S_STR(client_tls_protocols, "secure", true,
	      "TLS versions allowed with clients: tlsv1.0..tlsv1.3 comma-separated, or secure (tlsv1.2,tlsv1.3), all, legacy"),
	S_STR(client_tls_ciphers, "default", true,
	      "TLS 1.2 cipher list for clients in OpenSSL syntax; default = OpenSSL's defaults"),
	S_ENUM(server_tls_sslmode, "prefer", true, config_tls_mode_names,
	       "TLS with servers over TCP: disable, allow/prefer (TLS when the server offers it), require, verify-ca (check the CA), verify-full (and the host name)"),
	S_STR(server_tls_ca_file, "", true,
	      "CA certificates that server certificates are verified against (PEM); empty = the system's CA store"),
	S_STR(server_tls_cert_file, "", true,
	      "Client certificate pgtide presents to servers (PEM); empty = none"),
	S_STR(server_tls_key_file, "", true, "Private key of server_tls_cert_file (PEM)"),
	S_STR(server_tls_protocols, "secure", true,
	      "TLS versions allowed with servers (same syntax as client_tls_protocols)"),
	S_STR(server_tls_ciphers, "default", true,
	      "TLS 1.2 cipher list for servers in OpenSSL syntax; default = OpenSSL's defaults"),
	S_STR(readonly_suffix, "_ro", true,
	      "A database with replicas also answers as its name plus this suffix, routing every transaction to replicas"),
	S_STR(replica_check_user, "", true,
	      "User the replica health checker logs in as; empty = the database's user, else the OS user"),
};

size_t config_setting_count(void)
{
	return ARRAY_SIZE(settings);
}

const config_setting_t *config_setting_at(size_t i)
{
	return i < ARRAY_SIZE(settings) ? &settings[i] : NULL;
}

const config_setting_t *config_setting_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++)
		if (strcasecmp(settings[i].name, name) == 0)
			return &settings[i];
	return NULL;
}

/*
 * PgBouncer settings pgtide does not implement yet. They are accepted so that
 * an existing pgbouncer.ini loads, but only with values whose being ignored
 * cannot weaken security (safe_values); other values are rejected instead.
 */
typedef struct ignored_key {
	const char *name;
	const char *const *safe_values; /* NULL = any value */
	const char *why;                /* said when the value is not safe */
} ignored_key_t;


static const ignored_key_t ignored_keys[] = {
	{ "application_name_add_host", NULL, NULL },
	{ "auth_ident_file", NULL, NULL },
	{ "autodb_idle_timeout", NULL, NULL },
	{ "client_tls_dheparams", NULL, NULL },
	{ "client_tls_ecdhcurve", NULL, NULL },
	{ "disable_pqexec", NULL, NULL },
	{ "dns_max_ttl", NULL, NULL },
	{ "dns_nxdomain_ttl", NULL, NULL },
	{ "dns_zone_check_period", NULL, NULL },
	{ "job_name", NULL, NULL },
	{ "max_db_client_connections", NULL, NULL },
	{ "max_user_client_connections", NULL, NULL },
	{ "peer_id", NULL, NULL },
	{ "query_wait_notify", NULL, NULL },
	{ "resolv_conf", NULL, NULL },
	{ "sbuf_loopcnt", NULL, NULL },
	{ "scram_iterations", NULL, NULL },
	{ "server_fast_close", NULL, NULL },
	{ "server_round_robin", NULL, NULL },
	{ "service_name", NULL, NULL },
	{ "suspend_timeout", NULL, NULL },
	{ "syslog", NULL, NULL },
	{ "syslog_facility", NULL, NULL },
	{ "syslog_ident", NULL, NULL },
	{ "tcp_keepcnt", NULL, NULL },
	{ "tcp_keepidle", NULL, NULL },
	{ "tcp_keepintvl", NULL, NULL },
	{ "tcp_socket_buffer", NULL, NULL },
	{ "tcp_user_timeout", NULL, NULL },
	{ "track_extra_parameters", NULL, NULL },
	{ "transaction_timeout", NULL, NULL },
	{ "unix_socket_group", NULL, NULL },
	{ "unix_socket_mode", NULL, NULL },
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static void PRINTF_LIKE(3, 4) set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
}

/* Writes the message and is false, so "return fail(...)" reads naturally;
 * a macro so that callers (and static analysers) see the constant. */
#define fail(...) (set_err(__VA_ARGS__), false)

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* Empty strings become NULL so that "not set" has one representation. */
static void replace_str(char **slot, const char *value)
{
	free(*slot);
	*slot = (value && *value) ? xstrdup(value) : NULL;
}

static const char *skip_ws(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

/* Case-insensitive index of text in a NULL-terminated list, or -1. */
static int word_index(const char *const *list, const char *text)
{
	for (int i = 0; list[i]; i++)
		if (strcasecmp(list[i], text) == 0)
			return i;
	return -1;
}

static void join_words(const char *const *list, char *buf, size_t cap)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; list[i] && used < cap; i++) {
		int n = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", list[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* ------------------------------------------------------------------ */
/* Value parsers                                                       */
/* ------------------------------------------------------------------ */

static bool parse_int(const char *text, int64_t min, int64_t max, int64_t *out, char *why,
		      size_t cap)
{
	const char *digits = text[0] == '-' ? text + 1 : text;
	char *end;
	long long v;

	/* strtoll would also take leading blanks, '+' and an empty string. */
	if (!isdigit((unsigned char)digits[0]))
		return fail(why, cap, "'%.64s' is not an integer", text);
	errno = 0;
	v = strtoll(text, &end, 10);
	if (*end)
		return fail(why, cap, "'%.64s' is not an integer", text);
	if (errno == ERANGE || v < min || v > max)
		return fail(why, cap, "%.64s is out of range [%lld, %lld]", text, (long long)min,
			    (long long)max);
	*out = v;
	return true;
}

static const char *const true_words[] = { "1", "on", "true", "yes", NULL };
static const char *const false_words[] = { "0", "off", "false", "no", NULL };

static bool parse_bool(const char *text, bool *out, char *why, size_t cap)
{
	if (word_index(true_words, text) >= 0)
		*out = true;
	else if (word_index(false_words, text) >= 0)
		*out = false;
	else
		return fail(why, cap, "'%.64s' is not a boolean (use 1/0, on/off, true/false, yes/no)",
			    text);
	return true;
}

static const struct {
	const char *suffix;
	usec_t mult;
} duration_units[] = {
	{ "us", 1 },          { "ms", USEC_PER_MSEC }, { "s", SEC(1) },
	{ "min", SEC(60) },   { "h", SEC(3600) },      { "d", SEC(86400) },
};

static bool unit_multiplier(const char *suffix, usec_t *mult)
{
	if (!*suffix) {
		*mult = SEC(1); /* a bare number is seconds, as in PgBouncer */
		return true;
	}
	for (size_t i = 0; i < ARRAY_SIZE(duration_units); i++) {
		if (strcasecmp(duration_units[i].suffix, suffix) == 0) {
			*mult = duration_units[i].mult;
			return true;
		}
	}
	return false;
}

/*
 * "15", "0.5", "250ms", "1.5 h". Integer arithmetic only, so "0.1" is exactly
 * 100000 us; at most 6 decimals keep frac * mult below 2^63.
 */
static bool parse_duration(const char *text, usec_t *out, char *why, size_t cap)
{
	const char *p = text;
	int64_t whole = 0, frac = 0, scale = 1;
	usec_t mult;

	if (!isdigit((unsigned char)*p))
		goto bad;
	for (; isdigit((unsigned char)*p); p++) {
		if (whole > (INT64_MAX - 9) / 10)
			goto too_big;
		whole = whole * 10 + (*p - '0');
	}
	if (*p == '.') {
		if (!isdigit((unsigned char)*++p))
			goto bad;
		for (; isdigit((unsigned char)*p); p++) {
			if (scale == 1000000)
				return fail(why, cap, "'%.64s' has more than 6 decimals", text);
			frac = frac * 10 + (*p - '0');
			scale *= 10;
		}
	}
	if (!unit_multiplier(skip_ws(p), &mult))
		return fail(why, cap, "'%.64s' has an unknown unit (use us, ms, s, min, h or d)",
			    text);
	if (whole > INT64_MAX / mult || whole * mult > INT64_MAX - frac * mult / scale)
		goto too_big;
	*out = whole * mult + frac * mult / scale;
	return true;
bad:
	return fail(why, cap, "'%.64s' is not a duration (e.g. 15, 0.5, 250ms, 1min)", text);
too_big:
	return fail(why, cap, "'%.64s' is too large", text);
}

static void format_duration(usec_t us, char *buf, size_t cap)
{
	long long whole = (long long)(us / SEC(1));
	long long frac = (long long)(us % SEC(1));
	size_t n;

	if (!frac) {
		snprintf(buf, cap, "%lld", whole);
		return;
	}
	snprintf(buf, cap, "%lld.%06lld", whole, frac);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
}

/* ------------------------------------------------------------------ */
/* Applying and formatting settings                                    */
/* ------------------------------------------------------------------ */

static void *setting_ptr(config_t *cfg, const config_setting_t *s)
{
	return (char *)cfg + s->offset;
}

static const void *setting_cptr(const config_t *cfg, const config_setting_t *s)
{
	return (const char *)cfg + s->offset;
}

static bool apply_duration(usec_t *slot, const config_setting_t *s, const char *text, char *why,
			   size_t cap)
{
	usec_t v = 0;
	char lim[32];

	if (!parse_duration(text, &v, why, cap))
		return false;
	if (v < s->min || (s->max && v > s->max)) {
		format_duration(v < s->min ? s->min : s->max, lim, sizeof(lim));
		return fail(why, cap, "'%.64s' is %s the %s of %ss", text,
			    v < s->min ? "below" : "above", v < s->min ? "minimum" : "maximum", lim);
	}
	*slot = v;
	return true;
}

static bool apply_enum(int *slot, const config_setting_t *s, const char *text, char *why,
		       size_t cap)
{
	int i = word_index(s->enum_names, text);
	char names[128];

	if (i < 0) {
		join_words(s->enum_names, names, sizeof(names));
		return fail(why, cap, "'%.64s' is not one of: %s", text, names);
	}
	*slot = i;
	return true;
}

/* Parses text for setting s and stores it; why gets the reason on failure. */
static bool setting_apply(config_t *cfg, const config_setting_t *s, const char *text, char *why,
			  size_t cap)
{
	void *slot = setting_ptr(cfg, s);
	int64_t v = 0;

	switch (s->type) {
	case SETTING_INT:
		if (!parse_int(text, s->min, s->max, &v, why, cap))
			return false;
		*(int *)slot = (int)v;
		return true;
	case SETTING_BOOL:
		return parse_bool(text, (bool *)slot, why, cap);
	case SETTING_STRING:
		replace_str((char **)slot, text);
		return true;
	case SETTING_DURATION:
		return apply_duration((usec_t *)slot, s, text, why, cap);
	case SETTING_ENUM:
		return apply_enum((int *)slot, s, text, why, cap);
	}
	return fail(why, cap, "bad setting type");
}

static int count_words(const char *const *list)
{
	int n = 0;

	while (list[n])
		n++;
	return n;
}

void config_format_value(const config_t *cfg, const config_setting_t *s, char *buf, size_t cap)
{
	const void *slot = setting_cptr(cfg, s);
	const char *str;
	int e;

	if (!cap)
		return;
	switch (s->type) {
	case SETTING_INT:
		snprintf(buf, cap, "%d", *(const int *)slot);
		break;
	case SETTING_BOOL:
		snprintf(buf, cap, "%s", *(const bool *)slot ? "1" : "0");
		break;
	case SETTING_STRING:
		str = *(char *const *)slot;
		snprintf(buf, cap, "%s", str ? str : "");
		break;
	case SETTING_DURATION:
		format_duration(*(const usec_t *)slot, buf, cap);
		break;
	case SETTING_ENUM:
		e = *(const int *)slot;
		if (e >= 0 && e < count_words(s->enum_names))
			snprintf(buf, cap, "%s", s->enum_names[e]);
		else
			snprintf(buf, cap, "%d", e);
		break;
	}
}

static const ignored_key_t *ignored_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(ignored_keys); i++)
		if (strcasecmp(ignored_keys[i].name, name) == 0)
			return &ignored_keys[i];
	return NULL;
}

static bool ignored_check(const ignored_key_t *k, const char *value, char *why, size_t cap)
{
	char names[128];

	if (!k->safe_values || word_index(k->safe_values, value) >= 0)
		return true;
	join_words(k->safe_values, names, sizeof(names));
	return fail(why, cap, "'%.64s' is not supported: %s (use %s, or remove the line)", value,
		    k->why, names);
}

/* A [pgtide] key: a setting, an accepted-but-ignored PgBouncer key, or an error. */
static bool main_setting(config_t *cfg, const char *key, const char *value, char *why, size_t cap)
{
	const config_setting_t *s = config_setting_find(key);
	const ignored_key_t *ig;

	if (s)
		return setting_apply(cfg, s, value, why, cap);
	ig = ignored_find(key);
	if (ig)
		return ignored_check(ig, value, why, cap);
	return fail(why, cap, "unknown setting");
}

bool config_set(config_t *cfg, const char *name, const char *value, char *err, size_t errlen)
{
	const config_setting_t *s = config_setting_find(name);
	char why[REASON_MAX];

	if (!s && ignored_find(name))
		return fail(err, errlen, "%.64s: not implemented by pgtide (accepted in config files only for PgBouncer compatibility)",
			    name);
	if (!s)
		return fail(err, errlen, "%.64s: unknown setting", name);
	if (!setting_apply(cfg, s, value ? value : "", why, sizeof(why)))
		return fail(err, errlen, "%s: %s", s->name, why);
	return true;
}

config_t *config_new_defaults(void)
{
	config_t *cfg = xcalloc(1, sizeof(*cfg));
	char why[REASON_MAX];

	cfg->refcount = 1;
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
		/* A default that does not parse is a bug in the table above;
		 * the unit tests load every default, so this cannot ship. */
		if (!setting_apply(cfg, &settings[i], settings[i].default_value, why, sizeof(why)))
			abort();
	}
	return cfg;
}

/* ------------------------------------------------------------------ */
/* Databases                                                           */
/* ------------------------------------------------------------------ */

/* "16MB", "512 kB", "1048576" (bytes), units B, kB, MB, GB, TB of 1024. */
static bool parse_bytes(const char *text, int64_t *out, char *why, size_t cap)
{
	static const char *const units[] = { "b", "kb", "mb", "gb", "tb", NULL };
	const char *p = text;
	int64_t v = 0;

	if (!isdigit((unsigned char)*p))
		return fail(why, cap, "'%.64s' is not a size (e.g. 16MB, 512kB, 1048576)", text);
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (INT64_MAX - 9) / 10)
			return fail(why, cap, "'%.64s' is too large", text);
		v = v * 10 + (*p - '0');
	}
	p = skip_ws(p);
	if (*p) {
		int u = word_index(units, p);
		if (u < 0)
			return fail(why, cap, "'%.64s' has an unknown unit (use B, kB, MB, GB or TB)", text);
		for (int i = 0; i < u; i++) {
			if (v > INT64_MAX / 1024)
				return fail(why, cap, "'%.64s' is too large", text);
			v *= 1024;
		}
	}
	*out = v;
	return true;
}

/* One "host", "host:port" or "[v6]:port" of a replicas list, [p, end). */
static bool host_entry(const char *p, const char *end, char *host, size_t hcap, int *port)
{
	const char *hend, *colon;

	if (p < end && *p == '[') {
		hend = memchr(p, ']', (size_t)(end - p));
		if (!hend)
			return false;
		p++;
		colon = hend + 1 < end ? hend + 1 : NULL;
		if (colon && *colon != ':')
			return false;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		hend = colon ? colon : end;
	}
	if (hend == p || (size_t)(hend - p) >= hcap)
		return false;
	memcpy(host, p, (size_t)(hend - p));
	host[hend - p] = '\0';
	if (colon) {
		int64_t v = 0;
		char digits[8], why[8];
		size_t n = (size_t)(end - colon - 1);

		if (n < 1 || n > 5)
			return false;
		memcpy(digits, colon + 1, n);
		digits[n] = '\0';
		if (!parse_int(digits, 1, 65535, &v, why, sizeof(why)))
			return false;
		*port = (int)v;
	}
	return true;
}

/* Walks a replicas list: the i-th entry, or false past the end / on error. */
static bool hosts_at(const char *list, int i, char *host, size_t hcap, int *port, bool *bad)
{
	const char *p = list;

	*bad = false;
	for (int k = 0; p && *p; k++) {
		const char *start = skip_ws(p), *comma = strchr(start, ',');
		const char *end = comma ? comma : start + strlen(start);

		while (end > start && isspace((unsigned char)end[-1]))
			end--;
		if (k == i) {
			*bad = !host_entry(start, end, host, hcap, port);
			return !*bad;
		}
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

static bool hosts_ok(const char *list, char *why, size_t cap)
{
	char host[256];
	int port = 0, n = 0;
	bool bad = false;

	while (hosts_at(list, n, host, sizeof(host), &port, &bad))
		n++;
	if (bad)
		return fail(why, cap, "replicas: entry %d is not host, host:port or [address]:port", n + 1);
	if (n > CONFIG_MAX_REPLICAS)
		return fail(why, cap, "replicas: at most %d replicas", CONFIG_MAX_REPLICAS);
	return true;
}

int config_db_replica_count(const db_config_t *db)
{
	char host[256];
	int port = 0, n = 0;
	bool bad;

	if (!db || !db->replicas)
		return 0;
	while (n < CONFIG_MAX_REPLICAS && hosts_at(db->replicas, n, host, sizeof(host), &port, &bad))
		n++;
	return n;
}

bool config_db_replica(const db_config_t *db, int i, char *host, size_t cap, int *port)
{
	bool bad;

	*port = db->port > 0 ? db->port : 5432;
	return db->replicas && hosts_at(db->replicas, i, host, cap, port, &bad);
}

typedef enum {
	DBK_STRING,
	DBK_INT,
	DBK_POOL_MODE,
	DBK_SSLMODE,
	DBK_ENUM,     /* int, index into names */
	DBK_BOOL,     /* int 0/1 */
	DBK_BYTES,    /* int64_t: 16MB, 512kB, 1048576 */
	DBK_DURATION, /* usec_t */
	DBK_HOSTS,    /* string: host[:port],host[:port] */
} db_key_type_t;

/* The keys of a [databases] connection string and of a [database NAME] section. */
static const struct db_key {
	const char *name;
	db_key_type_t type;
	size_t offset;
	int min, max;
	const char *const *names; /* DBK_ENUM */
} db_keys[] = {
	{ "host", DBK_STRING, offsetof(db_config_t, host), 0, 0, NULL },
	{ "port", DBK_INT, offsetof(db_config_t, port), 1, 65535, NULL },
	{ "dbname", DBK_STRING, offsetof(db_config_t, dbname), 0, 0, NULL },
	{ "user", DBK_STRING, offsetof(db_config_t, user), 0, 0, NULL },
	{ "password", DBK_STRING, offsetof(db_config_t, password), 0, 0, NULL },
	{ "pool_size", DBK_INT, offsetof(db_config_t, pool_size), 1, 100000, NULL },
	{ "pool_mode", DBK_POOL_MODE, offsetof(db_config_t, pool_mode), 0, 0, NULL },
	{ "min_pool_size", DBK_INT, offsetof(db_config_t, min_pool_size), 0, 100000, NULL },
	{ "reserve_pool", DBK_INT, offsetof(db_config_t, reserve_pool), 0, 100000, NULL },
	{ "max_db_connections", DBK_INT, offsetof(db_config_t, max_db_connections), 0, 1000000, NULL },
	{ "client_encoding", DBK_STRING, offsetof(db_config_t, client_encoding), 0, 0, NULL },
	{ "datestyle", DBK_STRING, offsetof(db_config_t, datestyle), 0, 0, NULL },
	{ "timezone", DBK_STRING, offsetof(db_config_t, timezone), 0, 0, NULL },
	{ "application_name", DBK_STRING, offsetof(db_config_t, application_name), 0, 0, NULL },
	{ "connect_query", DBK_STRING, offsetof(db_config_t, connect_query), 0, 0, NULL },
	{ "sslmode", DBK_SSLMODE, offsetof(db_config_t, sslmode), 0, 0, NULL },
	{ "replicas", DBK_HOSTS, offsetof(db_config_t, replicas), 0, 0, NULL },
	{ "read_routing", DBK_ENUM, offsetof(db_config_t, read_routing), 0, 0, read_routing_names },
	{ "replica_max_lag", DBK_BYTES, offsetof(db_config_t, replica_max_lag), 0, 0, NULL },
	{ "replica_max_lag_time", DBK_DURATION, offsetof(db_config_t, replica_max_lag_time), 0, 0, NULL },
	{ "replica_check_period", DBK_DURATION, offsetof(db_config_t, replica_check_period), 0, 0, NULL },
	{ "replica_fallback", DBK_ENUM, offsetof(db_config_t, replica_fallback), 0, 0, replica_fallback_names },
	{ "read_your_writes", DBK_BOOL, offsetof(db_config_t, read_your_writes), 0, 0, NULL },
};

static bool db_key_is_string(const struct db_key *k)
{
	return k->type == DBK_STRING || k->type == DBK_HOSTS;
}

static char **db_str(db_config_t *db, size_t i)
{
	return (char **)((char *)db + db_keys[i].offset);
}

static void db_init(db_config_t *db, const char *name)
{
	memset(db, 0, sizeof(*db));
	db->name = xstrdup(name);
	db->port = 5432;
	db->pool_size = -1;
	db->min_pool_size = -1;
	db->reserve_pool = -1;
	db->max_db_connections = -1;
	db->pool_mode = POOL_MODE_INHERIT;
	db->sslmode = TLS_MODE_INHERIT;
	db->read_routing = READ_ROUTING_EXPLICIT;
	db->replica_max_lag = (int64_t)16 << 20;
	db->replica_max_lag_time = SEC(10);
	db->replica_check_period = SEC(1);
	db->replica_fallback = REPLICA_FALLBACK_PRIMARY;
	db->read_your_writes = 1;
}

void config_db_clear(db_config_t *db)
{
	if (!db)
		return;
	free(db->name);
	for (size_t i = 0; i < ARRAY_SIZE(db_keys); i++)
		if (db_key_is_string(&db_keys[i]))
			free(*db_str(db, i));
	memset(db, 0, sizeof(*db));
}

static void db_copy(db_config_t *dst, const db_config_t *src)
{
	*dst = *src;
	dst->name = xstrdup(src->name);
	for (size_t i = 0; i < ARRAY_SIZE(db_keys); i++)
		if (db_key_is_string(&db_keys[i]))
			*db_str(dst, i) = dup_or_null(*db_str(dst, i));
}

static bool db_set_key(db_config_t *db, const char *key, const char *value, char *why,
		       size_t cap)
{
	int64_t v = 0;
	int mode;
	bool b;

	for (size_t i = 0; i < ARRAY_SIZE(db_keys); i++) {
		const struct db_key *k = &db_keys[i];
		int *slot = (int *)((char *)db + k->offset);

		if (strcasecmp(k->name, key) != 0)
			continue;
		switch (k->type) {
		case DBK_STRING:
			replace_str(db_str(db, i), value);
			return true;
		case DBK_INT:
			if (!parse_int(value, k->min, k->max, &v, why, cap))
				return fail(why + strlen(why), cap - strlen(why), " for '%s'",
					    k->name);
			*slot = (int)v;
			return true;
		case DBK_POOL_MODE:
			mode = word_index(pool_mode_names, value);
			if (mode < 0)
				return fail(why, cap,
					    "pool_mode '%.64s' is not one of: session, transaction",
					    value);
			*slot = mode;
			return true;
		case DBK_SSLMODE:
			mode = word_index(config_tls_mode_names, value);
			if (mode < 0)
				return fail(why, cap,
					    "sslmode '%.64s' is not one of: disable, allow, prefer, require, verify-ca, verify-full",
					    value);
			*slot = mode;
			return true;
		case DBK_ENUM: {
			char list[128];

			mode = word_index(k->names, value);
			if (mode >= 0) {
				*slot = mode;
				return true;
			}
			join_words(k->names, list, sizeof(list));
			return fail(why, cap, "%s '%.64s' is not one of: %s", k->name, value, list);
		}
		case DBK_BOOL:
			if (!parse_bool(value, &b, why, cap))
				return false;
			*slot = b;
			return true;
		case DBK_BYTES:
			if (!parse_bytes(value, (int64_t *)(void *)slot, why, cap))
				return fail(why + strlen(why), cap - strlen(why), " for '%s'", k->name);
			return true;
		case DBK_DURATION:
			if (!parse_duration(value, (usec_t *)(void *)slot, why, cap))
				return fail(why + strlen(why), cap - strlen(why), " for '%s'", k->name);
			return true;
		case DBK_HOSTS:
			if (!hosts_ok(value, why, cap))
				return false;
			replace_str(db_str(db, i), value);
			return true;
		}
	}
	return fail(why, cap, "unknown parameter '%.64s'", key);
}

/*
 * One libpq value at *pp into out (which has room for the rest of the
 * string): 'single quoted' or bare up to whitespace; a backslash takes the
 * next character literally in both forms, as libpq does.
 */
static bool connstr_value(const char **pp, char *out)
{
	const char *p = *pp;
	bool quoted = *p == '\'';

	if (quoted)
		p++;
	while (*p && !(quoted ? *p == '\'' : isspace((unsigned char)*p))) {
		if (*p == '\\' && p[1])
			p++;
		*out++ = *p++;
	}
	*out = '\0';
	if (quoted && *p++ != '\'')
		return false;
	*pp = p;
	return true;
}

static bool connstr_pair(const char **pp, char *key, char *val, db_config_t *db, char *why,
			 size_t cap)
{
	const char *p = *pp;
	size_t n = 0;

	while (*p && *p != '=' && !isspace((unsigned char)*p))
		key[n++] = *p++;
	key[n] = '\0';
	if (!n)
		return fail(why, cap, "missing parameter name before '='");
	p = skip_ws(p);
	if (*p != '=')
		return fail(why, cap, "missing '=' after '%.64s'", key);
	p = skip_ws(p + 1);
	if (!connstr_value(&p, val))
		return fail(why, cap, "unterminated quoted value for '%.64s'", key);
	/* libpq would start the next key right after a closing quote; a
	 * missing blank there is almost always a quoting mistake. */
	if (*p && !isspace((unsigned char)*p))
		return fail(why, cap, "unexpected text after the quoted value for '%.64s'", key);
	*pp = p;
	return db_set_key(db, key, val, why, cap);
}

static bool db_parse_connstr(db_config_t *db, const char *connstr, char *why, size_t cap)
{
	size_t n = strlen(connstr) + 1;
	char *key = xmalloc(n), *val = xmalloc(n);
	const char *p = connstr;
	bool ok = true;

	while (ok && *(p = skip_ws(p)))
		ok = connstr_pair(&p, key, val, db, why, cap);
	free(key);
	free(val);
	return ok;
}

bool config_parse_db_connstr(const char *name, const char *connstr, db_config_t *out, char *err,
			     size_t errlen)
{
	char why[REASON_MAX];

	db_init(out, name);
	if (db_parse_connstr(out, connstr, why, sizeof(why)))
		return true;
	config_db_clear(out);
	return fail(err, errlen, "%.64s: %s", name, why);
}

static db_config_t *db_find_exact(const config_t *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->ndbs; i++)
		if (strcmp(cfg->dbs[i].name, name) == 0)
			return &cfg->dbs[i];
	return NULL;
}

/* Takes ownership of *db. Returns its index. */
static size_t db_append(config_t *cfg, db_config_t *db)
{
	cfg->dbs = xrealloc(cfg->dbs, (cfg->ndbs + 1) * sizeof(*cfg->dbs));
	cfg->dbs[cfg->ndbs] = *db;
	return cfg->ndbs++;
}

/* Takes ownership of *db, replacing an entry of the same name. */
static void db_replace(config_t *cfg, db_config_t *db)
{
	db_config_t *old = db_find_exact(cfg, db->name);

	if (!old) {
		db_append(cfg, db);
		return;
	}
	config_db_clear(old);
	*old = *db;
}

/* Bare names only: what a client can send as its database. */
static bool db_name_ok(const char *name)
{
	if (!*name)
		return false;
	for (const char *p = name; *p; p++)
		if (isspace((unsigned char)*p) || *p == '\'' || *p == '"')
			return false;
	return true;
}

/* ------------------------------------------------------------------ */
/* Users (auth_file)                                                   */
/* ------------------------------------------------------------------ */

static void users_append(config_t *cfg, char *name, char *secret)
{
	cfg->users = xrealloc(cfg->users, (cfg->nusers + 1) * sizeof(*cfg->users));
	cfg->users[cfg->nusers].name = name;
	cfg->users[cfg->nusers].secret = secret;
	cfg->nusers++;
}

typedef struct user_seq {
	user_secret_t u;
	size_t seq;
} user_seq_t;

static int user_seq_cmp(const void *a, const void *b)
{
	const user_seq_t *x = a, *y = b;
	int c = strcmp(x->u.name, y->u.name);

	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Restores the invariant "sorted by name, unique": the later of two
 * entries with the same name wins, so the sort must be stable. */
static void users_normalize(config_t *cfg)
{
	size_t n = cfg->nusers, out = 0;
	user_seq_t *tmp;

	if (n < 2)
		return;
	tmp = xmalloc(n * sizeof(*tmp));
	for (size_t i = 0; i < n; i++)
		tmp[i] = (user_seq_t){ cfg->users[i], i };
	qsort(tmp, n, sizeof(*tmp), user_seq_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && strcmp(tmp[i].u.name, tmp[i + 1].u.name) == 0) {
			free(tmp[i].u.name);
			free(tmp[i].u.secret);
			continue;
		}
		cfg->users[out++] = tmp[i].u;
	}
	cfg->nusers = out;
	free(tmp);
}

static void users_truncate(config_t *cfg, size_t n)
{
	while (cfg->nusers > n) {
		cfg->nusers--;
		free(cfg->users[cfg->nusers].name);
		free(cfg->users[cfg->nusers].secret);
	}
}

/* One "quoted" field of a userlist line; "" inside is a literal quote. */
static bool auth_field(const char **pp, const char *end, char **out, char *why, size_t cap)
{
	const char *p = *pp;
	char *buf, *w;

	if (*p != '"')
		return fail(why, cap, "expected a double-quoted field");
	buf = w = xmalloc((size_t)(end - p));
	for (p++;; p++) {
		if (p == end) {
			free(buf);
			return fail(why, cap, "unterminated quoted field");
		}
		if (*p == '"' && !(p + 1 < end && p[1] == '"'))
			break;
		if (*p == '"')
			p++;
		*w++ = *p;
	}
	*w = '\0';
	p++;
	/* Catches an unescaped quote inside a password, which would otherwise
	 * silently end the field early. */
	if (p < end && !isspace((unsigned char)*p)) {
		free(buf);
		return fail(why, cap, "expected a blank after the closing quote (write \"\" for a quote inside a field)");
	}
	while (p < end && isspace((unsigned char)*p))
		p++;
	*pp = p;
	*out = buf;
	return true;
}

/* Parses one line; a comment or blank line succeeds with *name == NULL. */
static bool auth_line(const char *p, const char *end, char **name, char **secret, char *why,
		      size_t cap)
{
	char *extra;

	*name = *secret = NULL;
	while (p < end && isspace((unsigned char)*p))
		p++;
	if (p >= end || *p == ';' || *p == '#')
		return true;
	if (!auth_field(&p, end, name, why, cap))
		return false;
	if (!**name || p == end) {
		set_err(why, cap, **name ? "missing the secret field" : "empty user name");
		goto bad;
	}
	if (!auth_field(&p, end, secret, why, cap))
		goto bad;
	/* PgBouncer ignores further fields; they must still be well formed. */
	while (p < end) {
		if (!auth_field(&p, end, &extra, why, cap))
			goto bad;
		free(extra);
	}
	return true;
bad:
	free(*name);
	free(*secret);
	*name = *secret = NULL;
	return false;
}

static bool read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 4096, n = 0, got;
	char *buf;

	if (!f)
		return fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
	buf = xmalloc(cap + 1);
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap && cap >= CONFIG_MAX_FILE)
			break;
		if (n == cap)
			buf = xrealloc(buf, (cap *= 2) + 1);
	}
	if (ferror(f) || n >= CONFIG_MAX_FILE) {
		free(buf);
		fclose(f);
		return fail(err, errlen, "%s: %s", path,
			    n >= CONFIG_MAX_FILE ? "file too large" : "read error");
	}
	fclose(f);
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return true;
}

/* A NUL would silently end the text for every string function after us. */
static bool check_no_nul(const char *text, size_t len, const char *name, char *err,
			 size_t errlen)
{
	const char *nul = memchr(text, '\0', len);
	int line = 1;

	if (!nul)
		return true;
	for (const char *p = text; p < nul; p++)
		line += *p == '\n';
	return fail(err, errlen, "%s:%d: NUL byte in file", name, line);
}

static bool auth_parse_text(config_t *cfg, const char *text, const char *path, char *err,
			    size_t errlen)
{
	const char *p = text;
	char *name, *secret, why[REASON_MAX];
	int lineno = 0;

	while (*p) {
		const char *eol = p + strcspn(p, "\n");

		lineno++;
		if (!auth_line(p, eol, &name, &secret, why, sizeof(why)))
			return fail(err, errlen, "%s:%d: %s", path, lineno, why);
		if (name)
			users_append(cfg, name, secret);
		p = *eol ? eol + 1 : eol;
	}
	return true;
}

bool config_replace_auth_file(config_t *cfg, char *err, size_t errlen)
{
	users_truncate(cfg, 0);
	return !cfg->auth_file || config_load_auth_file(cfg, cfg->auth_file, err, errlen);
}

bool config_load_auth_file(config_t *cfg, const char *path, char *err, size_t errlen)
{
	size_t before = cfg->nusers, len = 0;
	char *text = NULL;
	bool ok;

	if (!read_file(path, &text, &len, err, errlen))
		return false;
	ok = check_no_nul(text, len, path, err, errlen) &&
	     auth_parse_text(cfg, text, path, err, errlen);
	free(text);
	if (!ok) {
		users_truncate(cfg, before);
		return false;
	}
	users_normalize(cfg);
	return true;
}

/* ------------------------------------------------------------------ */
/* The INI file                                                        */
/* ------------------------------------------------------------------ */

typedef enum { SEC_NONE, SEC_MAIN, SEC_DATABASES, SEC_DATABASE } section_kind_t;

typedef struct ini_ctx {
	config_t *cfg;
	const char *name;     /* file name for messages */
	const char *pos, *end; /* text not yet handed to inih */
	int lineno;           /* of the line inih is working on */
	section_kind_t kind;
	size_t db;            /* cfg->dbs index for SEC_DATABASE */
	int err_line;         /* first error, 0 = none */
	char *err;
	size_t errlen;
} ini_ctx_t;

static void PRINTF_LIKE(2, 3) ini_set_error(ini_ctx_t *c, const char *fmt, ...)
{
	char msg[REASON_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->err_line = c->lineno;
	set_err(c->err, c->errlen, "%s:%d: %s", c->name, c->lineno, msg);
}

/* Records the first error with the current line; false, like fail(). */
#define ini_error(c, ...) (ini_set_error(c, __VA_ARGS__), false)

static const char line_workaround[] =
	"split a long connection string into a [database NAME] section with one key per line, and keep long secrets in auth_file";

/* Done before parsing, so a cut line can never have been half applied. */
static bool check_line_lengths(const char *text, size_t len, const char *name, char *err,
			       size_t errlen)
{
	const char *p = text, *end = text + len;

	for (int lineno = 1; p < end; lineno++) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((eol ? eol : end) - p);

		if (n && p[n - 1] == '\r')
			n--;
		if (n > CONFIG_MAX_LINE)
			return fail(err, errlen, "%s:%d: line longer than %d bytes; %s", name, lineno,
				    CONFIG_MAX_LINE, line_workaround);
		p = eol ? eol + 1 : end;
	}
	return true;
}

static bool section_database(ini_ctx_t *c, const char *dbname)
{
	db_config_t db;

	if (!db_name_ok(dbname))
		return ini_error(c, "[database %.64s]: not a valid database name", dbname);
	if (db_find_exact(c->cfg, dbname))
		return ini_error(c, "[database %.64s]: database defined twice", dbname);
	db_init(&db, dbname);
	c->db = db_append(c->cfg, &db);
	c->kind = SEC_DATABASE;
	return true;
}

static bool section_named(ini_ctx_t *c, const char *name)
{
	if (strcasecmp(name, "pgtide") == 0 || strcasecmp(name, "pgbouncer") == 0)
		c->kind = SEC_MAIN;
	else if (strcasecmp(name, "databases") == 0)
		c->kind = SEC_DATABASES;
	else if (strcasecmp(name, "database") == 0)
		return ini_error(c, "[database]: missing the database name ([database NAME])");
	else if (strlen(name) > 8 && strncasecmp(name, "database", 8) == 0 &&
		 isspace((unsigned char)name[8]))
		return section_database(c, skip_ws(name + 8));
	else if (strcasecmp(name, "users") == 0 || strcasecmp(name, "peers") == 0)
		return ini_error(c, "[%s]: section not supported yet", name);
	else
		return ini_error(c, "[%.64s]: unknown section (expected [pgtide], [pgbouncer], [databases] or [database NAME])",
				 name);
	return true;
}

/*
 * A "[name]" line. We track sections ourselves rather than trusting the
 * section string inih passes: inih cuts names at 49 bytes and does not call
 * us for a section without keys, so an empty [database x] or [users] would
 * otherwise go unseen. ']' is searched the way inih does (stopping at an
 * inline " ;" comment), so both agree on what a header is.
 */
static bool ini_section(ini_ctx_t *c, const char *line)
{
	char name[INI_MAX_LINE] = "";
	const char *p = line + 1, *rest;
	size_t n;

	while (*p && *p != ']' && !(*p == ';' && isspace((unsigned char)p[-1])))
		p++;
	if (*p != ']')
		return ini_error(c, "missing ']' in section header");
	rest = skip_ws(p + 1);
	if (*rest && *rest != ';' && *rest != '#')
		return ini_error(c, "unexpected text after ']'");
	p = skip_ws(line + 1);
	for (n = 0; p[n] != ']'; n++)
		name[n] = p[n];
	while (n && isspace((unsigned char)name[n - 1]))
		n--;
	name[n] = '\0';
	return section_named(c, name);
}

/* Looks at a line before inih does; false stops the parse. */
static bool ini_inspect(ini_ctx_t *c, const char *line)
{
	if (line[0] == '[')
		return ini_section(c, line);
	if (line[0] == '%')
		return ini_error(c, "%%include and other directives are not supported");
	return true;
}

/*
 * inih's line source: one line per call, so our lineno is always the line
 * inih reports. Leading blanks are dropped because inih would take an
 * indented line as a continuation of the previous value.
 */
static char *ini_read_line(char *buf, int num, void *stream)
{
	ini_ctx_t *c = stream;
	const char *line = c->pos, *eol;
	size_t len;

	if (c->err_line || c->pos >= c->end)
		return NULL;
	eol = memchr(line, '\n', (size_t)(c->end - line));
	if (!eol)
		eol = c->end;
	c->pos = eol < c->end ? eol + 1 : eol;
	c->lineno++;
	len = (size_t)(eol - line);
	if (len && line[len - 1] == '\r')
		len--;
	if (c->lineno == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
		line += 3;
		len -= 3;
	}
	while (len && isspace((unsigned char)*line)) {
		line++;
		len--;
	}
	/* check_line_lengths used INI_MAX_LINE from the header; this guards
	 * against a library built with a smaller buffer. */
	if (num < 2 || len > (size_t)num - 2) {
		ini_set_error(c, "line longer than %d bytes; %s", num - 2, line_workaround);
		return NULL;
	}
	memcpy(buf, line, len);
	buf[len] = '\0';
	if (!ini_inspect(c, buf))
		return NULL;
	buf[len] = '\n';
	buf[len + 1] = '\0';
	return buf;
}

static bool databases_entry(config_t *cfg, const char *key, const char *value, char *why,
			    size_t cap)
{
	db_config_t db;

	if (!db_name_ok(key))
		return fail(why, cap, "not a valid database name");
	if (db_find_exact(cfg, key))
		return fail(why, cap, "database defined twice");
	db_init(&db, key);
	if (!db_parse_connstr(&db, value, why, cap)) {
		config_db_clear(&db);
		return false;
	}
	db_append(cfg, &db);
	return true;
}

/* In a [database NAME] section a value is taken literally unless it starts
 * with a quote; then it is one libpq-quoted value (for leading blanks). */
static bool database_key(config_t *cfg, size_t idx, const char *key, const char *value, char *why,
			 size_t cap)
{
	char *val;
	const char *p = value;
	bool ok;

	if (*value != '\'')
		return db_set_key(&cfg->dbs[idx], key, value, why, cap);
	val = xmalloc(strlen(value) + 1);
	if (!connstr_value(&p, val))
		ok = fail(why, cap, "unterminated quoted value");
	else if (*p)
		ok = fail(why, cap, "unexpected text after the closing quote");
	else
		ok = db_set_key(&cfg->dbs[idx], key, val, why, cap);
	free(val);
	return ok;
}

static int ini_on_pair(void *user, const char *section, const char *key, const char *value)
{
	ini_ctx_t *c = user;
	char why[REASON_MAX];
	bool ok = false;

	if (c->err_line)
		return 0;
	if (!*key)
		return ini_error(c, "missing key before '='");
	switch (c->kind) {
	case SEC_NONE:
		set_err(why, sizeof(why), "setting outside any section (put [pgtide] above it)");
		break;
	case SEC_MAIN:
		ok = main_setting(c->cfg, key, value, why, sizeof(why));
		break;
	case SEC_DATABASES:
		ok = databases_entry(c->cfg, key, value, why, sizeof(why));
		break;
	case SEC_DATABASE:
		ok = database_key(c->cfg, c->db, key, value, why, sizeof(why));
		break;
	}
	if (!ok)
		ini_set_error(c, "%.64s: %s", key, why);
	return ok;
}

static bool parse_ini_text(config_t *cfg, const char *text, size_t len, const char *name,
			   char *err, size_t errlen)
{
	ini_ctx_t c = {
		.cfg = cfg, .name = name, .pos = text, .end = text + len, .err = err,
		.errlen = errlen,
	};
	int rc;

	rc = ini_parse_stream(ini_read_line, &c, ini_on_pair, &c);
	if (rc < 0)
		return fail(err, errlen, "%s: inih failed (%d)", name, rc);
	/* inih reports lines it could not split itself (no '=') only through
	 * its return value; every non-zero return is fatal. */
	if (rc > 0 && (!c.err_line || rc < c.err_line))
		return fail(err, errlen, "%s:%d: expected KEY = VALUE or [section]", name, rc);
	return c.err_line == 0;
}

static config_t *load_text(const char *text, size_t len, const char *name, char *err,
			   size_t errlen)
{
	config_t *cfg;

	if (!check_no_nul(text, len, name, err, errlen) ||
	    !check_line_lengths(text, len, name, err, errlen))
		return NULL;
	cfg = config_new_defaults();
	cfg->source = xstrdup(name);
	if (!parse_ini_text(cfg, text, len, name, err, errlen)) {
		config_unref(cfg);
		return NULL;
	}
	return cfg;
}

config_t *config_load_string(const char *text, const char *name, char *err, size_t errlen)
{
	return load_text(text, strlen(text), name ? name : "(string)", err, errlen);
}

/* auth_file = userlist.txt next to /etc/pgtide/pgtide.ini means
 * /etc/pgtide/userlist.txt whatever the working directory is (the same
 * for auth_hba_file). */
static void resolve_auth_file(const char *ini_path, char **file)
{
	const char *slash = strrchr(ini_path, '/');
	size_t dirlen, n;
	char *full;

	if (!*file || (*file)[0] == '/' || !slash)
		return;
	dirlen = (size_t)(slash - ini_path) + 1;
	n = dirlen + strlen(*file) + 1;
	full = xmalloc(n);
	memcpy(full, ini_path, dirlen);
	strcpy(full + dirlen, *file);
	free(*file);
	*file = full;
}

bool config_load_hba_file(config_t *cfg, char *err, size_t errlen)
{
	hba_t *h = NULL;

	if (cfg->auth_hba_file) {
		h = hba_load_file(cfg->auth_hba_file, err, errlen);
		if (!h)
			return false;
	} else if (cfg->auth_type == AUTH_TYPE_HBA) {
		return fail(err, errlen, "auth_type = hba needs auth_hba_file");
	}
	hba_unref(cfg->hba);
	cfg->hba = h;
	return true;
}

config_t *config_load_file(const char *path, char *err, size_t errlen)
{
	config_t *cfg;
	char *text = NULL;
	size_t len = 0;

	if (!read_file(path, &text, &len, err, errlen))
		return NULL;
	cfg = load_text(text, len, path, err, errlen);
	free(text);
	if (!cfg)
		return NULL;
	resolve_auth_file(path, &cfg->auth_file);
	resolve_auth_file(path, &cfg->auth_hba_file);
	if ((cfg->auth_file && !config_load_auth_file(cfg, cfg->auth_file, err, errlen)) ||
	    !config_load_hba_file(cfg, err, errlen)) {
		config_unref(cfg);
		return NULL;
	}
	return cfg;
}

/* ------------------------------------------------------------------ */
/* DATABASE_URL                                                        */
/* ------------------------------------------------------------------ */

typedef struct url_parts {
	char *user, *password, *host, *dbname;
	int port;
	int sslmode;         /* TLS_MODE_INHERIT unless ?sslmode= */
} url_parts_t;

static void url_parts_free(url_parts_t *u)
{
	free(u->user);
	free(u->password);
	free(u->host);
	free(u->dbname);
}

static int hex_digit(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Percent-decodes [p, end); empty input gives NULL through *out. */
static bool pct_decode(const char *p, const char *end, char **out, char *why, size_t cap)
{
	char *buf = xmalloc((size_t)(end - p) + 1), *w = buf;

	for (; p < end; p++) {
		int hi, lo;

		if (*p != '%') {
			*w++ = *p;
			continue;
		}
		hi = p + 1 < end ? hex_digit((unsigned char)p[1]) : -1;
		lo = p + 2 < end ? hex_digit((unsigned char)p[2]) : -1;
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			free(buf);
			return fail(why, cap, "bad percent-escape");
		}
		*w++ = (char)(hi * 16 + lo);
		p += 2;
	}
	*w = '\0';
	free(*out);
	*out = *buf ? buf : NULL;
	if (!*buf)
		free(buf);
	return true;
}

static bool url_port(const char *p, const char *end, int *port, char *why, size_t cap)
{
	char digits[8];
	int64_t v = 0;

	if (end - p < 1 || end - p > 5)
		return fail(why, cap, "bad port");
	memcpy(digits, p, (size_t)(end - p));
	digits[end - p] = '\0';
	for (const char *d = digits; *d; d++)
		if (!isdigit((unsigned char)*d))
			return fail(why, cap, "bad port");
	if (!parse_int(digits, 1, 65535, &v, why, cap))
		return fail(why, cap, "bad port");
	*port = (int)v;
	return true;
}

static bool url_hostport(const char *p, const char *end, url_parts_t *u, char *why, size_t cap)
{
	const char *hend;

	if (memchr(p, ',', (size_t)(end - p)))
		return fail(why, cap, "several hosts are not supported");
	if (p < end && *p == '[') {
		hend = memchr(p, ']', (size_t)(end - p));
		if (!hend)
			return fail(why, cap, "missing ']' after an IPv6 address");
		if (!pct_decode(p + 1, hend, &u->host, why, cap))
			return false;
		p = hend + 1;
		if (p < end && *p != ':')
			return fail(why, cap, "unexpected text after ']'");
	} else {
		hend = memchr(p, ':', (size_t)(end - p));
		hend = hend ? hend : end;
		if (!pct_decode(p, hend, &u->host, why, cap))
			return false;
		p = hend;
	}
	if (p < end)
		return url_port(p + 1, end, &u->port, why, cap);
	return true;
}

static bool url_userinfo(const char *p, const char *end, url_parts_t *u, char *why, size_t cap)
{
	const char *colon = memchr(p, ':', (size_t)(end - p));

	if (!pct_decode(p, colon ? colon : end, &u->user, why, cap))
		return false;
	if (colon && !pct_decode(colon + 1, end, &u->password, why, cap))
		return false;
	return true;
}

static bool url_param(url_parts_t *u, const char *key, const char *val, char *why, size_t cap)
{
	const char *v = val ? val : "";

	if (!key)
		return fail(why, cap, "query parameter without a name");

	if (strcmp(key, "host") == 0)
		return pct_decode(v, v + strlen(v), &u->host, why, cap);
	if (strcmp(key, "port") == 0)
		return url_port(v, v + strlen(v), &u->port, why, cap);
	if (strcmp(key, "user") == 0)
		return pct_decode(v, v + strlen(v), &u->user, why, cap);
	if (strcmp(key, "password") == 0)
		return pct_decode(v, v + strlen(v), &u->password, why, cap);
	if (strcmp(key, "dbname") == 0)
		return pct_decode(v, v + strlen(v), &u->dbname, why, cap);
	if (strcmp(key, "application_name") == 0)
		return true;
	if (strcmp(key, "sslmode") == 0) {
		u->sslmode = word_index(config_tls_mode_names, v);
		if (u->sslmode >= 0)
			return true;
		return fail(why, cap, "sslmode '%.32s' is not one of: disable, allow, prefer, require, verify-ca, verify-full",
			    v);
	}
	return fail(why, cap, "unsupported query parameter '%.32s' (supported: host, port, user, password, dbname, sslmode, application_name)",
		    key);
}

static bool url_query(const char *q, url_parts_t *u, char *why, size_t cap)
{
	bool ok = true;

	while (ok && *q) {
		const char *amp = q + strcspn(q, "&");
		const char *eq = memchr(q, '=', (size_t)(amp - q));
		char *key = NULL, *val = NULL;

		if (!eq)
			return fail(why, cap, "query parameter without '='");
		if (eq == q)
			return fail(why, cap, "query parameter without a name");
		ok = pct_decode(q, eq, &key, why, cap) && pct_decode(eq + 1, amp, &val, why, cap) &&
		     url_param(u, key, val, why, cap);
		free(key);
		free(val);
		q = *amp ? amp + 1 : amp;
	}
	return ok;
}

static bool url_parse(const char *url, url_parts_t *u, char *why, size_t cap)
{
	const char *p, *auth_end, *at = NULL;

	if (strncasecmp(url, "postgresql://", 13) == 0)
		p = url + 13;
	else if (strncasecmp(url, "postgres://", 11) == 0)
		p = url + 11;
	else
		return fail(why, cap, "must start with postgres:// or postgresql://");
	auth_end = p + strcspn(p, "/?");
	/* The last '@': a raw '@' in a password is a common mistake that libpq
	 * rejects; taking the last one makes it work instead. */
	for (const char *s = p; s < auth_end; s++)
		if (*s == '@')
			at = s;
	if (at && !url_userinfo(p, at, u, why, cap))
		return false;
	if (!url_hostport(at ? at + 1 : p, auth_end, u, why, cap))
		return false;
	p = auth_end;
	if (*p == '/') {
		const char *e = p + 1 + strcspn(p + 1, "?");

		if (!pct_decode(p + 1, e, &u->dbname, why, cap))
			return false;
		p = e;
	}
	return *p == '?' ? url_query(p + 1, u, why, cap) : true;
}

static void url_db(db_config_t *db, const char *name, const url_parts_t *u, const char *dbname)
{
	db_init(db, name);
	db->host = dup_or_null(u->host);
	db->port = u->port;
	db->dbname = dup_or_null(dbname);
	db->sslmode = u->sslmode;
}

bool config_apply_database_url(config_t *cfg, const char *url, char *err, size_t errlen)
{
	url_parts_t u = { .port = 5432, .sslmode = TLS_MODE_INHERIT };
	char why[REASON_MAX];
	const char *dbname;
	db_config_t db;

	if (!url_parse(url, &u, why, sizeof(why)) ||
	    (u.password && !u.user && !fail(why, sizeof(why), "password without a user name"))) {
		url_parts_free(&u);
		return fail(err, errlen, "DATABASE_URL: %s", why);
	}
	/* Everything parsed: from here on nothing can fail half-way. */
	dbname = u.dbname ? u.dbname : u.user; /* libpq's default */
	if (dbname) {
		url_db(&db, dbname, &u, dbname);
		db_replace(cfg, &db);
	}
	url_db(&db, "*", &u, NULL);
	db_replace(cfg, &db);
	if (u.user && u.password) {
		users_append(cfg, xstrdup(u.user), xstrdup(u.password));
		users_normalize(cfg);
	}
	if (!cfg->source)
		cfg->source = xstrdup("DATABASE_URL");
	url_parts_free(&u);
	return true;
}

bool config_apply_replica_urls(config_t *cfg, const char *dbname, const char *urls, char *err,
			       size_t errlen)
{
	db_config_t *db = NULL;
	char why[REASON_MAX];
	char *list = NULL;
	size_t len = 0;
	const char *p = urls;

	if (dbname) {
		db = db_find_exact(cfg, dbname);
	} else {
		for (size_t i = 0; i < cfg->ndbs; i++) {
			if (strcmp(cfg->dbs[i].name, "*") == 0)
				continue;
			if (db)
				return fail(err, errlen, "replica URLs: several databases; which one is unclear");
			db = &cfg->dbs[i];
		}
	}
	if (!db)
		return fail(err, errlen, "replica URLs: no database to add replicas to (set DATABASE_URL)");
	while (*(p = skip_ws(p))) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char *one = xmalloc(n + 1);
		url_parts_t u = { .port = 5432, .sslmode = TLS_MODE_INHERIT };
		bool ok;

		memcpy(one, p, n);
		one[n] = '\0';
		while (n && isspace((unsigned char)one[n - 1]))
			one[--n] = '\0';
		ok = url_parse(one, &u, why, sizeof(why));
		free(one);
		if (ok && (!u.host || strchr(u.host, ',') || strchr(u.host, ' ')))
			ok = fail(why, sizeof(why), "a replica URL needs one host");
		if (ok) {
			size_t need = len + strlen(u.host) + 16;
			bool v6 = strchr(u.host, ':') != NULL;

			list = xrealloc(list, need);
			len += (size_t)snprintf(list + len, need - len, "%s%s%s%s:%d", len ? "," : "",
						v6 ? "[" : "", u.host, v6 ? "]" : "", u.port);
		}
		url_parts_free(&u);
		if (!ok) {
			free(list);
			return fail(err, errlen, "replica URL: %s", why);
		}
		p = comma ? comma + 1 : p + n;
	}
	if (!list)
		return true;
	if (db->replicas) {
		size_t need = strlen(db->replicas) + len + 2;
		char *joined = xmalloc(need);

		snprintf(joined, need, "%s,%s", db->replicas, list);
		free(list);
		list = joined;
	}
	if (!hosts_ok(list, why, sizeof(why))) {
		free(list);
		return fail(err, errlen, "replica URLs: %s", why);
	}
	free(db->replicas);
	db->replicas = list;
	db->read_routing = READ_ROUTING_AUTO;
	return true;
}

/* ------------------------------------------------------------------ */
/* Lifetime                                                            */
/* ------------------------------------------------------------------ */

_Static_assert(offsetof(config_t, refcount) == 0, "config_clone copies what follows refcount");

config_t *config_clone(const config_t *src)
{
	config_t *c = xmalloc(sizeof(*c));
	size_t skip = offsetof(config_t, source);

	/* Everything but refcount, which other threads may be changing. */
	memcpy((char *)c + skip, (const char *)src + skip, sizeof(*c) - skip);
	c->refcount = 1;
	c->source = dup_or_null(src->source);
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
		char **slot = setting_ptr(c, &settings[i]);

		if (settings[i].type == SETTING_STRING)
			*slot = dup_or_null(*slot);
	}
	c->dbs = src->ndbs ? xmalloc(src->ndbs * sizeof(*c->dbs)) : NULL;
	for (size_t i = 0; i < src->ndbs; i++)
		db_copy(&c->dbs[i], &src->dbs[i]);
	c->hba = hba_ref(src->hba);
	c->users = src->nusers ? xmalloc(src->nusers * sizeof(*c->users)) : NULL;
	for (size_t i = 0; i < src->nusers; i++) {
		c->users[i].name = xstrdup(src->users[i].name);
		c->users[i].secret = xstrdup(src->users[i].secret);
	}
	return c;
}

void config_ref(config_t *cfg)
{
	__atomic_add_fetch(&cfg->refcount, 1, __ATOMIC_RELAXED);
}

static void config_free(config_t *cfg)
{
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++)
		if (settings[i].type == SETTING_STRING)
			free(*(char **)setting_ptr(cfg, &settings[i]));
	for (size_t i = 0; i < cfg->ndbs; i++)
		config_db_clear(&cfg->dbs[i]);
	free(cfg->dbs);
	users_truncate(cfg, 0);
	free(cfg->users);
	hba_unref(cfg->hba);
	free(cfg->source);
	free(cfg);
}

void config_unref(config_t *cfg)
{
	/* acq_rel: the last owner must see every other owner's writes. */
	if (cfg && __atomic_sub_fetch(&cfg->refcount, 1, __ATOMIC_ACQ_REL) == 0)
		config_free(cfg);
}

/* ------------------------------------------------------------------ */
/* Lookups                                                             */
/* ------------------------------------------------------------------ */

const db_config_t *config_find_db(const config_t *cfg, const char *name)
{
	const db_config_t *db = name ? db_find_exact(cfg, name) : NULL;

	return db ? db : db_find_exact(cfg, "*");
}

const db_config_t *config_find_ro_alias(const config_t *cfg, const char *name)
{
	const char *suffix = cfg->readonly_suffix;
	size_t n = name ? strlen(name) : 0, sn = suffix ? strlen(suffix) : 0;
	char base[256];
	const db_config_t *db;

	if (!sn || n <= sn || n - sn >= sizeof(base) || strcmp(name + n - sn, suffix) != 0 ||
	    db_find_exact(cfg, name))
		return NULL;
	memcpy(base, name, n - sn);
	base[n - sn] = '\0';
	db = db_find_exact(cfg, base);
	return db && db->replicas ? db : NULL;
}

static int user_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const user_secret_t *)elem)->name);
}

const char *config_find_user_secret(const config_t *cfg, const char *user)
{
	const user_secret_t *u;

	if (!user || !cfg->nusers)
		return NULL;
	u = bsearch(user, cfg->users, cfg->nusers, sizeof(*cfg->users), user_key_cmp);
	return u ? u->secret : NULL;
}

bool config_list_contains(const char *list, const char *user)
{
	size_t ulen;

	if (!list || !user || !*user)
		return false;
	ulen = strlen(user);
	while (*list) {
		size_t n;

		list += strspn(list, ", \t");
		n = strcspn(list, ", \t");
		if (n == ulen && memcmp(list, user, n) == 0)
			return true;
		list += n;
	}
	return false;
}

int config_db_pool_size(const config_t *cfg, const db_config_t *db)
{
	return db && db->pool_size >= 0 ? db->pool_size : cfg->default_pool_size;
}

int config_db_pool_mode(const config_t *cfg, const db_config_t *db)
{
	return db && db->pool_mode != POOL_MODE_INHERIT ? db->pool_mode : cfg->pool_mode;
}

int config_db_min_pool_size(const config_t *cfg, const db_config_t *db)
{
	return db && db->min_pool_size >= 0 ? db->min_pool_size : cfg->min_pool_size;
}

int config_db_reserve_pool_size(const config_t *cfg, const db_config_t *db)
{
	return db && db->reserve_pool >= 0 ? db->reserve_pool : cfg->reserve_pool_size;
}

int config_db_max_connections(const config_t *cfg, const db_config_t *db)
{
	return db && db->max_db_connections >= 0 ? db->max_db_connections :
						   cfg->max_db_connections;
}

int config_db_sslmode(const config_t *cfg, const db_config_t *db)
{
	return db && db->sslmode != TLS_MODE_INHERIT ? db->sslmode : cfg->server_tls_sslmode;
}

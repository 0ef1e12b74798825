/*
 * test_admin.c - the admin console (databases "pgtide" and "pgbouncer"):
 *
 *  - every SHOW command over the simple protocol and both extended forms
 *    (PQexecParams; PQprepare + PQdescribePrepared + PQexecPrepared), column
 *    names, order and types against PgBouncer's lists followed by pgtide's
 *    additions (docs/admin-console.md), same rows over every path;
 *  - exact counting of transactions, queries and bytes in SHOW STATS_TOTALS;
 *  - wait-time percentiles, maxwait and utilization under a saturated pool,
 *    and the wait-cause counters (timeout, abandoned, canceled, killed,
 *    failed);
 *  - access control (admin_users, stats_users, ordinary users);
 *  - PAUSE / RESUME under pgbench load;
 *  - RECONNECT + WAIT_CLOSE, KILL, KILL_CLIENT, DISABLE / ENABLE, SET,
 *    RELOAD, SHUTDOWN.
 *
 * Every test starts its own pgtide and checks that it stops cleanly
 * (pgtide_stop() == 0: no sanitizer report). PGTIDE_TEST_FILTER=pattern runs
 * only the matching tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The pgtide of the running test; the per-test teardown stops it when the
 * test failed before doing so itself. */
static pgtide_proc_t g_proc;
static pid_t g_bench_pid;
static char g_bench_db[64];

static int teardown_proc(void **state)
{
	(void)state;
	if (g_bench_pid > 0) {
		kill(g_bench_pid, SIGKILL);
		waitpid(g_bench_pid, NULL, 0);
		g_bench_pid = 0;
	}
	if (g_proc.pid > 0)
		(void)pgtide_stop(&g_proc);
	return 0;
}

static void stop_ok(void)
{
	int rc = pgtide_stop(&g_proc);
	if (rc != 0)
		fail_msg("pgtide did not stop cleanly (status %d): see its log above", rc);
}

static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* ------------------------------------------------------------------ */
/* small libpq helpers                                                 */
/* ------------------------------------------------------------------ */

static PGconn *connect_ok(const pgtide_proc_t *p, const char *user, const char *pw, const char *db,
			  const char *extra)
{
	PGconn *c = pt_connect(p, user, pw, db, extra);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect as %s to %s failed: %s", user, db, PQerrorMessage(c));
	PQsetNoticeProcessor(c, quiet_notices, NULL);
	return c;
}

static PGconn *app_conn(const char *db)
{
	return connect_ok(&g_proc, "app", "app-pw", db, NULL);
}

static PGconn *admin_conn(const char *db)
{
	return connect_ok(&g_proc, "admin", "admin-pw", db, NULL);
}

static const char *sqlstate_of(const PGresult *r)
{
	const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	return s ? s : "";
}

/* Runs sql, fails the test unless it succeeds; copies the first value. */
static void run_ok(PGconn *c, const char *sql, char *out, size_t cap)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
		fail_msg("%s failed: %s %s", sql, PQresStatus(st), PQerrorMessage(c));
	if (out) {
		out[0] = '\0';
		if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQnfields(r) > 0)
			snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
	}
	PQclear(r);
}

static void exec_ok(PGconn *c, const char *sql)
{
	run_ok(c, sql, NULL, 0);
}

/* Runs a command and returns its SQLSTATE ("" when it worked). */
static const char *state_of(PGconn *c, const char *sql)
{
	static char st[8];
	PGresult *r = PQexec(c, sql);
	snprintf(st, sizeof(st), "%s", sqlstate_of(r));
	if (!st[0] && PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
		snprintf(st, sizeof(st), "?????");
	PQclear(r);
	return st;
}

static void expect_state(PGconn *c, const char *sql, const char *want)
{
	const char *got = state_of(c, sql);
	if (strcmp(got, want) != 0)
		fail_msg("%s: SQLSTATE '%s', expected '%s' (%s)", sql, got, want, PQerrorMessage(c));
}

/* Waits for the next result of an asynchronous query; false on timeout.
 * *out may be NULL when the connection died without an error result. */
static bool wait_result(PGconn *c, double timeout_s, PGresult **out)
{
	double deadline = now_seconds() + timeout_s;
	*out = NULL;
	for (;;) {
		if (!PQisBusy(c)) {
			*out = PQgetResult(c);
			return true;
		}
		int left = (int)((deadline - now_seconds()) * 1000);
		if (left <= 0)
			return false;
		struct pollfd pfd = { .fd = PQsocket(c), .events = POLLIN };
		if (pfd.fd < 0) {
			*out = PQgetResult(c);
			return true;
		}
		(void)poll(&pfd, 1, left);
		if (!PQconsumeInput(c)) {
			*out = PQgetResult(c);
			return true;
		}
	}
}

/* Reads the remaining results of a query (up to NULL). */
static void drain(PGconn *c)
{
	PGresult *r;
	for (int i = 0; i < 100 && (r = PQgetResult(c)) != NULL; i++)
		PQclear(r);
}

/* Whether an asynchronous query is still without an answer after secs. */
static bool still_waiting(PGconn *c, double secs)
{
	double deadline = now_seconds() + secs;
	while (now_seconds() < deadline) {
		struct pollfd pfd = { .fd = PQsocket(c), .events = POLLIN };
		(void)poll(&pfd, 1, 20);
		if (!PQconsumeInput(c))
			return false;
		if (!PQisBusy(c))
			return false;
	}
	return true;
}

/* An asynchronous query's first result must be an error with this SQLSTATE
 * (or the connection must have closed when want is NULL). */
static void expect_async_error(PGconn *c, const char *want, const char *what)
{
	PGresult *r = NULL;
	if (!wait_result(c, 10, &r))
		fail_msg("%s: no answer within 10 s", what);
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	char got[8];
	snprintf(got, sizeof(got), "%s", sqlstate_of(r));
	PQclear(r);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		fail_msg("%s: the query succeeded", what);
	if (want && strcmp(got, want) != 0)
		fail_msg("%s: SQLSTATE '%s', expected '%s': %s", what, got, want, PQerrorMessage(c));
	if (PQstatus(c) == CONNECTION_OK)
		drain(c);
}

static bool send_cancel(PGconn *c, char *err, size_t cap)
{
	PGcancel *cn = PQgetCancel(c);
	if (!cn) {
		snprintf(err, cap, "PQgetCancel returned NULL");
		return false;
	}
	int ok = PQcancel(cn, err, (int)cap);
	PQfreeCancel(cn);
	return ok == 1;
}

/* ------------------------------------------------------------------ */
/* SHOW helpers                                                        */
/* ------------------------------------------------------------------ */

static PGresult *show(PGconn *a, const char *sql)
{
	PGresult *r = PQexec(a, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s %s", sql, PQresStatus(PQresultStatus(r)), PQerrorMessage(a));
	return r;
}

static int col_of(const PGresult *r, const char *col)
{
	int i = PQfnumber(r, col);
	if (i < 0)
		fail_msg("no column %s in the answer", col);
	return i;
}

static int row_of(const PGresult *r, const char *keycol, const char *key)
{
	int k = col_of(r, keycol);
	for (int i = 0; i < PQntuples(r); i++) {
		if (strcmp(PQgetvalue(r, i, k), key) == 0)
			return i;
	}
	return -1;
}

/* A numeric value of row key/column col; fails the test when missing. */
static double res_num(const PGresult *r, const char *keycol, const char *key, const char *col)
{
	int row = row_of(r, keycol, key);
	if (row < 0)
		fail_msg("no row %s = %s", keycol, key);
	const char *v = PQgetvalue(r, row, col_of(r, col));
	char *end;
	double d = strtod(v, &end);
	if (!*v || *end)
		fail_msg("%s of %s is not a number: '%s'", col, key, v);
	return d;
}

static uint64_t res_u64(const PGresult *r, const char *keycol, const char *key, const char *col)
{
	int row = row_of(r, keycol, key);
	if (row < 0)
		fail_msg("no row %s = %s", keycol, key);
	const char *v = PQgetvalue(r, row, col_of(r, col));
	char *end;
	errno = 0;
	unsigned long long u = strtoull(v, &end, 10);
	if (!*v || *end || errno)
		fail_msg("%s of %s is not an integer: '%s'", col, key, v);
	return (uint64_t)u;
}

static double show_num(PGconn *a, const char *sql, const char *keycol, const char *key, const char *col)
{
	PGresult *r = show(a, sql);
	double d = res_num(r, keycol, key, col);
	PQclear(r);
	return d;
}

static void show_text(PGconn *a, const char *sql, const char *keycol, const char *key, const char *col, char *out,
		      size_t cap)
{
	PGresult *r = show(a, sql);
	int row = row_of(r, keycol, key);
	if (row < 0)
		fail_msg("%s: no row %s = %s", sql, keycol, key);
	snprintf(out, cap, "%s", PQgetvalue(r, row, col_of(r, col)));
	PQclear(r);
}

/* Polls a SHOW POOLS column of database db until it is >= want. */
static bool wait_pool_ge(PGconn *a, const char *db, const char *col, double want, double timeout_s)
{
	double deadline = now_seconds() + timeout_s;
	do {
		PGresult *r = show(a, "SHOW POOLS");
		bool ok = row_of(r, "database", db) >= 0 && res_num(r, "database", db, col) >= want;
		PQclear(r);
		if (ok)
			return true;
		usleep(20000);
	} while (now_seconds() < deadline);
	return false;
}

/* SHOW STATS_TOTALS of one database, every counter. */
typedef struct totals {
	uint64_t assign, xact, query, recv, sent, xact_time, query_time, wait_time, cparse, sparse, bind, logins;
	uint64_t w_timeout, w_abandoned, w_canceled, w_killed, w_failed;
} totals_t;

static void read_totals(PGconn *a, const char *db, totals_t *t)
{
	PGresult *r = show(a, "SHOW STATS_TOTALS");
	t->assign = res_u64(r, "database", db, "server_assignment_count");
	t->xact = res_u64(r, "database", db, "xact_count");
	t->query = res_u64(r, "database", db, "query_count");
	t->recv = res_u64(r, "database", db, "bytes_received");
	t->sent = res_u64(r, "database", db, "bytes_sent");
	t->xact_time = res_u64(r, "database", db, "xact_time");
	t->query_time = res_u64(r, "database", db, "query_time");
	t->wait_time = res_u64(r, "database", db, "wait_time");
	t->cparse = res_u64(r, "database", db, "client_parse_count");
	t->sparse = res_u64(r, "database", db, "server_parse_count");
	t->bind = res_u64(r, "database", db, "bind_count");
	t->logins = res_u64(r, "database", db, "client_login_count");
	t->w_timeout = res_u64(r, "database", db, "wait_timeout_count");
	t->w_abandoned = res_u64(r, "database", db, "wait_abandoned_count");
	t->w_canceled = res_u64(r, "database", db, "wait_canceled_count");
	t->w_killed = res_u64(r, "database", db, "wait_killed_count");
	t->w_failed = res_u64(r, "database", db, "wait_failed_count");
	PQclear(r);
}

/* Logs in over a raw socket to an instance with auth_type = trust and
 * returns the SQLSTATE of the ErrorResponse that ends the login ("" when
 * ReadyForQuery came, "auth" when a password was asked, "timeout"). */
static void raw_login(int port, const char *user, const char *db, char *state, size_t cap, char *msg,
		      size_t mcap)
{
	int fd = raw_connect(port);
	unsigned char buf[16384];
	size_t n = raw_startup(buf, sizeof(buf), user, db);
	assert_true(raw_send(fd, buf, n));
	size_t have = 0;
	double deadline = now_seconds() + 10;
	snprintf(state, cap, "timeout");
	if (msg && mcap)
		msg[0] = '\0';
	for (;;) {
		size_t pos = 0;
		while (pos + 5 <= have) {
			uint32_t len = ((uint32_t)buf[pos + 1] << 24) | ((uint32_t)buf[pos + 2] << 16) |
				       ((uint32_t)buf[pos + 3] << 8) | buf[pos + 4];
			if (len < 4 || pos + 1 + len > have)
				break;
			char t = (char)buf[pos];
			if (t == 'E') {
				size_t f = pos + 5, end = pos + 1 + len;
				snprintf(state, cap, "?");
				while (f < end && buf[f]) {
					char ft = (char)buf[f++];
					const char *val = (const char *)&buf[f];
					size_t vl = strnlen(val, end - f);
					if (ft == 'C')
						snprintf(state, cap, "%.*s", (int)vl, val);
					if (ft == 'M' && msg)
						snprintf(msg, mcap, "%.*s", (int)vl, val);
					f += vl + 1;
				}
				close(fd);
				return;
			}
			if (t == 'Z') {
				snprintf(state, cap, "%s", "");
				close(fd);
				return;
			}
			if (t == 'R' && len >= 8 && (buf[pos + 5] | buf[pos + 6] | buf[pos + 7] | buf[pos + 8]) != 0) {
				snprintf(state, cap, "auth");
				close(fd);
				return;
			}
			pos += 1 + len;
		}
		int left = (int)((deadline - now_seconds()) * 1000);
		if (left <= 0 || have == sizeof(buf))
			break;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, left) <= 0)
			break;
		ssize_t k = recv(fd, buf + have, sizeof(buf) - have, 0);
		if (k <= 0) {
			snprintf(state, cap, "closed");
			break;
		}
		have += (size_t)k;
	}
	close(fd);
}

/* ------------------------------------------------------------------ */
/* The SHOW commands: PgBouncer's columns, then pgtide's additions.    */
/* Suffixes give the type sent in RowDescription: :i int4, :l int8,    */
/* :n numeric, none = text.                                            */
/* ------------------------------------------------------------------ */

static const char *const pools_pgb[] = {
	"database", "user", "cl_active:i", "cl_waiting:i", "cl_active_cancel_req:i", "cl_waiting_cancel_req:i",
	"sv_active:i", "sv_active_cancel:i", "sv_being_canceled:i", "sv_idle:i", "sv_used:i", "sv_tested:i",
	"sv_login:i", "maxwait:i", "maxwait_us:i", "pool_mode", "load_balance_hosts",
};
static const char *const pools_tide[] = {
	"wait_p50_us:l", "wait_p95_us:l", "wait_p99_us:l", "wait_max_us:l",
	"xact_p50_us:l", "xact_p95_us:l", "xact_p99_us:l", "xact_max_us:l",
	"total_wait_p50_us:l", "total_wait_p95_us:l", "total_wait_p99_us:l", "total_wait_max_us:l",
	"total_xact_p50_us:l", "total_xact_p95_us:l", "total_xact_p99_us:l", "total_xact_max_us:l",
	"utilization:n", "wait_timeouts:l", "wait_abandoned:l", "wait_canceled:l", "wait_killed:l",
	"wait_failed:l", "role", "address",
};
static const char *const conn_tide[] = { "role", "worker:i" };
static const char *const stats_pgb[] = {
	"database", "total_server_assignment_count:l", "total_xact_count:l", "total_query_count:l",
	"total_received:l", "total_sent:l", "total_xact_time:l", "total_query_time:l", "total_wait_time:l",
	"total_client_parse_count:l", "total_server_parse_count:l", "total_bind_count:l",
	"total_client_login_count:l", "avg_server_assignment_count:l", "avg_xact_count:l", "avg_query_count:l",
	"avg_recv:l", "avg_sent:l", "avg_xact_time:l", "avg_query_time:l", "avg_wait_time:l",
	"avg_client_parse_count:l", "avg_server_parse_count:l", "avg_bind_count:l", "avg_client_login_count:l",
};
static const char *const stats_tide[] = {
	"total_wait_timeout_count:l", "total_wait_abandoned_count:l", "total_wait_canceled_count:l",
	"total_wait_killed_count:l", "total_wait_failed_count:l", "total_ps_hits:l",
	"total_ps_misses:l", "total_ps_evictions:l",
};
static const char *const stats_totals_pgb[] = {
	"database", "server_assignment_count:l", "xact_count:l", "query_count:l", "bytes_received:l",
	"bytes_sent:l", "xact_time:l", "query_time:l", "wait_time:l", "client_parse_count:l",
	"server_parse_count:l", "bind_count:l", "client_login_count:l",
};
static const char *const stats_totals_tide[] = {
	"wait_timeout_count:l", "wait_abandoned_count:l", "wait_canceled_count:l", "wait_killed_count:l",
	"wait_failed_count:l", "ps_hits:l", "ps_misses:l", "ps_evictions:l",
};
static const char *const stats_averages_pgb[] = {
	"database", "server_assignment_count:l", "xact_count:l", "query_count:l", "bytes_received:l",
	"bytes_sent:l", "xact_time:l", "query_time:l", "wait_time:l", "avg_client_parse_count:l",
	"avg_server_parse_count:l", "avg_bind_count:l", "avg_client_login_count:l",
};
static const char *const totals_pgb[] = { "name", "value:l" };
static const char *const conn_pgb[] = {
	"type", "user", "database", "replication", "state", "addr", "port:i", "local_addr", "local_port:i",
	"connect_time", "request_time", "wait:i", "wait_us:i", "close_needed:i", "ptr", "link", "remote_pid:i",
	"tls", "application_name", "prepared_statements:i", "id:l",
};
static const char *const databases_pgb[] = {
	"name", "host", "port:i", "database", "force_user", "pool_size:i", "min_pool_size:i",
	"reserve_pool_size:i", "server_lifetime:i", "pool_mode", "load_balance_hosts", "max_connections:i",
	"current_connections:i", "max_client_connections:i", "current_client_connections:i", "paused:i",
	"disabled:i",
};
static const char *const users_pgb[] = {
	"name", "pool_size:i", "reserve_pool_size:i", "pool_mode", "max_user_connections:i",
	"current_connections:i", "max_user_client_connections:i", "current_client_connections:i",
};
static const char *const config_pgb[] = { "key", "value", "default", "changeable" };
static const char *const lists_pgb[] = { "list", "items:i" };
static const char *const mem_pgb[] = { "name", "size:i", "used:i", "free:i", "memtotal:l" };
static const char *const dns_hosts_pgb[] = { "hostname", "ttl:l", "addrs" };
static const char *const dns_zones_pgb[] = { "zonename", "serial:l", "count:i" };
static const char *const state_pgb[] = { "key", "value" };
static const char *const version_pgb[] = { "version" };

typedef struct show_spec {
	const char *what;
	const char *const *pgb;
	size_t npgb;
	const char *const *tide;
	size_t ntide;
	bool stable; /* the same rows on two calls while nothing happens */
} show_spec_t;

#define SPEC(w, p, t, s) { w, p, NELEM(p), t, NELEM(t), s }
#define SPEC0(w, p, s) { w, p, NELEM(p), NULL, 0, s }

static const show_spec_t show_specs[] = {
	SPEC("POOLS", pools_pgb, pools_tide, true),
	SPEC("STATS", stats_pgb, stats_tide, true),
	SPEC("STATS_TOTALS", stats_totals_pgb, stats_totals_tide, true),
	SPEC0("STATS_AVERAGES", stats_averages_pgb, true),
	SPEC0("TOTALS", totals_pgb, true),
	SPEC("CLIENTS", conn_pgb, conn_tide, true),
	SPEC("SERVERS", conn_pgb, conn_tide, true),
	SPEC0("DATABASES", databases_pgb, true),
	SPEC0("USERS", users_pgb, true),
	SPEC0("CONFIG", config_pgb, true),
	SPEC0("LISTS", lists_pgb, true),
	SPEC0("MEM", mem_pgb, false), /* I/O buffer counts move with the console's own traffic */
	SPEC0("DNS_HOSTS", dns_hosts_pgb, true),
	SPEC0("DNS_ZONES", dns_zones_pgb, true),
	SPEC0("STATE", state_pgb, true),
	SPEC0("VERSION", version_pgb, true),
};

static unsigned type_oid(const char *spec)
{
	const char *colon = strchr(spec, ':');
	switch (colon ? colon[1] : 't') {
	case 'i': return 23;
	case 'l': return 20;
	case 'n': return 1700;
	default: return 25;
	}
}

static void check_columns(const char *label, const PGresult *r, const show_spec_t *s)
{
	size_t n = s->npgb + s->ntide;
	if ((size_t)PQnfields(r) != n)
		fail_msg("%s: %d columns, expected %zu", label, PQnfields(r), n);
	for (size_t i = 0; i < n; i++) {
		const char *want = i < s->npgb ? s->pgb[i] : s->tide[i - s->npgb];
		size_t wl = strcspn(want, ":");
		const char *got = PQfname(r, (int)i);
		if (strlen(got) != wl || strncmp(got, want, wl) != 0)
			fail_msg("%s: column %zu is '%s', expected '%.*s'", label, i + 1, got, (int)wl, want);
		if (PQftype(r, (int)i) != type_oid(want))
			fail_msg("%s: column %s has type %u, expected %u", label, got, PQftype(r, (int)i),
				 type_oid(want));
	}
}

static void compare_rows(const char *label, const PGresult *a, const PGresult *b, bool full)
{
	if (PQntuples(a) != PQntuples(b))
		fail_msg("%s: %d rows over the simple protocol, %d over the extended one", label, PQntuples(a),
			 PQntuples(b));
	int nf = full ? PQnfields(a) : 1;
	for (int i = 0; i < PQntuples(a); i++) {
		for (int j = 0; j < nf; j++) {
			if (PQgetisnull(a, i, j) != PQgetisnull(b, i, j) ||
			    strcmp(PQgetvalue(a, i, j), PQgetvalue(b, i, j)) != 0)
				fail_msg("%s: row %d column %s: simple '%s', extended '%s'", label, i,
					 PQfname(a, j), PQgetvalue(a, i, j), PQgetvalue(b, i, j));
		}
	}
}

static char g_notice[2048];

static void keep_notice(void *arg, const PGresult *r)
{
	(void)arg;
	const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	snprintf(g_notice, sizeof(g_notice), "%s", m ? m : "");
}

/* One SHOW over the three paths; returns the simple protocol's answer. */
static PGresult *show_three_ways(PGconn *a, const char *db, const show_spec_t *s)
{
	char sql[64], label[128];
	snprintf(sql, sizeof(sql), "SHOW %s", s->what);

	snprintf(label, sizeof(label), "%s on %s (simple)", sql, db);
	PGresult *simple = PQexec(a, sql);
	if (PQresultStatus(simple) != PGRES_TUPLES_OK)
		fail_msg("%s: %s %s", label, PQresStatus(PQresultStatus(simple)), PQerrorMessage(a));
	check_columns(label, simple, s);

	snprintf(label, sizeof(label), "%s on %s (PQexecParams)", sql, db);
	PGresult *ext = PQexecParams(a, sql, 0, NULL, NULL, NULL, NULL, 0);
	if (PQresultStatus(ext) != PGRES_TUPLES_OK)
		fail_msg("%s: %s %s", label, PQresStatus(PQresultStatus(ext)), PQerrorMessage(a));
	check_columns(label, ext, s);
	compare_rows(label, simple, ext, s->stable);
	PQclear(ext);

	snprintf(label, sizeof(label), "%s on %s (PQprepare)", sql, db);
	PGresult *prep = PQprepare(a, "adm_stmt", sql, 0, NULL);
	if (PQresultStatus(prep) != PGRES_COMMAND_OK)
		fail_msg("%s: %s %s", label, PQresStatus(PQresultStatus(prep)), PQerrorMessage(a));
	PQclear(prep);
	snprintf(label, sizeof(label), "%s on %s (PQdescribePrepared)", sql, db);
	PGresult *desc = PQdescribePrepared(a, "adm_stmt");
	if (PQresultStatus(desc) != PGRES_COMMAND_OK)
		fail_msg("%s: %s %s", label, PQresStatus(PQresultStatus(desc)), PQerrorMessage(a));
	if (PQnparams(desc) != 0)
		fail_msg("%s: %d parameters", label, PQnparams(desc));
	check_columns(label, desc, s);
	PQclear(desc);
	snprintf(label, sizeof(label), "%s on %s (PQexecPrepared)", sql, db);
	PGresult *exe = PQexecPrepared(a, "adm_stmt", 0, NULL, NULL, NULL, 0);
	if (PQresultStatus(exe) != PGRES_TUPLES_OK)
		fail_msg("%s: %s %s", label, PQresStatus(PQresultStatus(exe)), PQerrorMessage(a));
	check_columns(label, exe, s);
	compare_rows(label, simple, exe, s->stable);
	PQclear(exe);
	return simple;
}

static void check_row_names(const char *label, const PGresult *r, const char *const *names, size_t n)
{
	if ((size_t)PQntuples(r) != n)
		fail_msg("%s: %d rows, expected %zu", label, PQntuples(r), n);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(PQgetvalue(r, (int)i, 0), names[i]) != 0)
			fail_msg("%s: row %zu is '%s', expected '%s'", label, i + 1, PQgetvalue(r, (int)i, 0),
				 names[i]);
	}
}

/* What each answer says about a pgtide with one idle client of app that
 * has run one query (one pool, one idle server). */
static void check_show_content(const char *what, const PGresult *r, const char *backend_pid)
{
	char label[64];
	snprintf(label, sizeof(label), "SHOW %s", what);
	if (strcmp(what, "POOLS") == 0) {
		assert_int_equal(PQntuples(r), 1);
		assert_string_equal(PQgetvalue(r, 0, col_of(r, "database")), "app");
		assert_string_equal(PQgetvalue(r, 0, col_of(r, "user")), "app");
		assert_int_equal((int)res_num(r, "database", "app", "cl_active"), 1);
		assert_int_equal((int)res_num(r, "database", "app", "cl_waiting"), 0);
		assert_int_equal((int)res_num(r, "database", "app", "sv_active"), 0);
		assert_int_equal((int)res_num(r, "database", "app", "sv_idle"), 1);
		assert_int_equal((int)res_num(r, "database", "app", "sv_login"), 0);
		assert_int_equal((int)res_num(r, "database", "app", "maxwait"), 0);
		assert_int_equal((int)res_num(r, "database", "app", "maxwait_us"), 0);
		assert_string_equal(PQgetvalue(r, 0, col_of(r, "pool_mode")), "transaction");
		/* Since start: the login's borrowed server and one query. */
		assert_true(res_num(r, "database", "app", "total_xact_max_us") > 0);
	} else if (strcmp(what, "STATS") == 0 || strcmp(what, "STATS_TOTALS") == 0) {
		assert_int_equal(PQntuples(r), 1);
		const char *xc = strcmp(what, "STATS") == 0 ? "total_xact_count" : "xact_count";
		const char *qc = strcmp(what, "STATS") == 0 ? "total_query_count" : "query_count";
		assert_int_equal((int)res_u64(r, "database", "app", xc), 1);
		assert_int_equal((int)res_u64(r, "database", "app", qc), 1);
	} else if (strcmp(what, "STATS_AVERAGES") == 0) {
		assert_int_equal(PQntuples(r), 1);
	} else if (strcmp(what, "TOTALS") == 0) {
		static const char *const names[] = {
			"total_server_assignment_count", "total_xact_count", "total_query_count",
			"total_client_bytes", "total_server_bytes", "total_xact_time", "total_query_time",
			"total_wait_time", "total_ps_client_parse_count", "total_ps_server_parse_count",
			"total_ps_bind_count", "total_client_login_count",
			"avg_server_assignment_count", "avg_xact_count", "avg_query_count",
			"avg_client_bytes", "avg_server_bytes", "avg_xact_time", "avg_query_time",
			"avg_wait_time", "avg_ps_client_parse_count", "avg_ps_server_parse_count",
			"avg_ps_bind_count", "avg_client_login_count",
		};
		check_row_names(label, r, names, NELEM(names));
		assert_int_equal((int)res_u64(r, "name", "total_xact_count", "value"), 1);
	} else if (strcmp(what, "CLIENTS") == 0) {
		/* Pooled clients only: the console sessions are not listed. */
		assert_int_equal(PQntuples(r), 1);
		assert_string_equal(PQgetvalue(r, 0, col_of(r, "type")), "C");
		assert_string_equal(PQgetvalue(r, 0, col_of(r, "user")), "app");
		assert_string_equal(PQgetvalue(r, 0, col_of(r, "database")), "app");
		assert_string_equal(PQgetvalue(r, 0, col_of(r, "state")), "idle");
		assert_string_equal(PQgetvalue(r, 0, col_of(r, "addr")), "127.0.0.1");
		assert_int_equal(atoi(PQgetvalue(r, 0, col_of(r, "local_port"))), g_proc.port);
		assert_true(atoll(PQgetvalue(r, 0, col_of(r, "id"))) > 0);
	} else if (strcmp(what, "SERVERS") == 0) {
		assert_int_equal(PQntuples(r), 1);
		assert_string_equal(PQgetvalue(r, 0, col_of(r, "type")), "S");
		assert_string_equal(PQgetvalue(r, 0, col_of(r, "state")), "idle");
		assert_string_equal(PQgetvalue(r, 0, col_of(r, "database")), "app");
		assert_int_equal(atoi(PQgetvalue(r, 0, col_of(r, "port"))), pg_port());
		assert_string_equal(PQgetvalue(r, 0, col_of(r, "remote_pid")), backend_pid);
	} else if (strcmp(what, "DATABASES") == 0) {
		assert_int_equal(PQntuples(r), 1);
		assert_string_equal(PQgetvalue(r, 0, col_of(r, "name")), "app");
		assert_string_equal(PQgetvalue(r, 0, col_of(r, "host")), "127.0.0.1");
		assert_int_equal(atoi(PQgetvalue(r, 0, col_of(r, "port"))), pg_port());
		assert_string_equal(PQgetvalue(r, 0, col_of(r, "database")), "app");
		assert_int_equal(atoi(PQgetvalue(r, 0, col_of(r, "pool_size"))), 4);
		assert_int_equal(atoi(PQgetvalue(r, 0, col_of(r, "current_connections"))), 1);
		assert_int_equal(atoi(PQgetvalue(r, 0, col_of(r, "current_client_connections"))), 1);
		assert_int_equal(atoi(PQgetvalue(r, 0, col_of(r, "paused"))), 0);
		assert_int_equal(atoi(PQgetvalue(r, 0, col_of(r, "disabled"))), 0);
	} else if (strcmp(what, "USERS") == 0) {
		assert_true(row_of(r, "name", "app") >= 0);
		assert_true(row_of(r, "name", "admin") >= 0);
		assert_int_equal((int)res_num(r, "name", "app", "current_client_connections"), 1);
		assert_int_equal((int)res_num(r, "name", "app", "current_connections"), 1);
	} else if (strcmp(what, "CONFIG") == 0) {
		int row = row_of(r, "key", "default_pool_size");
		assert_true(row >= 0);
		assert_string_equal(PQgetvalue(r, row, 1), "4");
		assert_string_equal(PQgetvalue(r, row, 2), "20");
		assert_string_equal(PQgetvalue(r, row, 3), "yes");
		row = row_of(r, "key", "listen_port");
		assert_true(row >= 0);
		assert_string_equal(PQgetvalue(r, row, 3), "no");
	} else if (strcmp(what, "LISTS") == 0) {
		static const char *const names[] = {
			"databases", "users", "peers", "pools", "peer_pools", "free_clients", "used_clients",
			"login_clients", "free_servers", "used_servers", "dns_names", "dns_zones", "dns_queries",
			"dns_pending",
		};
		check_row_names(label, r, names, NELEM(names));
		assert_int_equal((int)res_num(r, "list", "databases", "items"), 1);
		assert_int_equal((int)res_num(r, "list", "pools", "items"), 1);
		assert_int_equal((int)res_num(r, "list", "used_clients", "items"), 1);
		assert_int_equal((int)res_num(r, "list", "used_servers", "items"), 1);
	} else if (strcmp(what, "MEM") == 0) {
		static const char *const names[] = { "iobuf", "client", "server", "pool" };
		check_row_names(label, r, names, NELEM(names));
		assert_int_equal((int)res_num(r, "name", "server", "used"), 1);
		assert_int_equal((int)res_num(r, "name", "pool", "used"), 1);
	} else if (strcmp(what, "DNS_HOSTS") == 0 || strcmp(what, "DNS_ZONES") == 0) {
		assert_int_equal(PQntuples(r), 0);
	} else if (strcmp(what, "STATE") == 0) {
		static const char *const names[] = { "active", "paused", "suspended" };
		check_row_names(label, r, names, NELEM(names));
		assert_string_equal(PQgetvalue(r, 0, 1), "yes");
		assert_string_equal(PQgetvalue(r, 1, 1), "no");
		assert_string_equal(PQgetvalue(r, 2, 1), "no");
	} else if (strcmp(what, "VERSION") == 0) {
		assert_int_equal(PQntuples(r), 1);
		assert_true(strncmp(PQgetvalue(r, 0, 0), "pgtide ", 7) == 0);
	}
}

static void check_help(PGconn *a, const char *db)
{
	PQsetNoticeReceiver(a, keep_notice, NULL);
	for (int way = 0; way < 3; way++) {
		g_notice[0] = '\0';
		PGresult *r;
		if (way == 0) {
			r = PQexec(a, "SHOW HELP");
		} else if (way == 1) {
			r = PQexecParams(a, "SHOW HELP", 0, NULL, NULL, NULL, NULL, 0);
		} else {
			PQclear(PQprepare(a, "adm_help", "SHOW HELP", 0, NULL));
			PGresult *d = PQdescribePrepared(a, "adm_help");
			if (PQresultStatus(d) != PGRES_COMMAND_OK || PQnfields(d) != 0)
				fail_msg("SHOW HELP on %s: describe gave %s with %d columns", db,
					 PQresStatus(PQresultStatus(d)), PQnfields(d));
			PQclear(d);
			g_notice[0] = '\0';
			r = PQexecPrepared(a, "adm_help", 0, NULL, NULL, NULL, 0);
		}
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			fail_msg("SHOW HELP on %s (way %d): %s %s", db, way, PQresStatus(PQresultStatus(r)),
				 PQerrorMessage(a));
		PQclear(r);
		if (!strstr(g_notice, "SHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS") ||
		    !strstr(g_notice, "KILL_CLIENT") || !strstr(g_notice, "WAIT_CLOSE"))
			fail_msg("SHOW HELP on %s (way %d): notice was '%s'", db, way, g_notice);
	}
	PQsetNoticeProcessor(a, quiet_notices, NULL);
}

static void test_show_commands(void **state)
{
	(void)state;
	char dbs[256];
	snprintf(dbs, sizeof(dbs), "app = host=127.0.0.1 port=%d\n", pg_port());
	pgtide_start(&g_proc, "default_pool_size = 4\n", dbs);
	PGconn *c = app_conn("app");
	char pid[32];
	run_ok(c, "SELECT pg_backend_pid()", pid, sizeof(pid));

	const char *admin_dbs[] = { "pgtide", "pgbouncer" };
	PGconn *admins[2];
	for (int d = 0; d < 2; d++)
		admins[d] = admin_conn(admin_dbs[d]);
	for (int d = 0; d < 2; d++) {
		PGconn *a = admins[d];
		for (size_t i = 0; i < NELEM(show_specs); i++) {
			PGresult *r = show_three_ways(a, admin_dbs[d], &show_specs[i]);
			check_show_content(show_specs[i].what, r, pid);
			PQclear(r);
		}
		check_help(a, admin_dbs[d]);
		/* Lower case, a trailing semicolon, SELECT as an alias. */
		PGresult *r = show(a, "show pools;");
		assert_int_equal(PQntuples(r), 1);
		PQclear(r);
		r = show(a, "SELECT VERSION");
		assert_int_equal(PQntuples(r), 1);
		PQclear(r);
		expect_state(a, "SHOW NO_SUCH_THING", "42601");
		expect_state(a, "FROBNICATE", "42601");
		/* The session goes on after errors, on both protocols. */
		PGresult *e = PQexecParams(a, "SHOW NO_SUCH_THING", 0, NULL, NULL, NULL, NULL, 0);
		assert_string_equal(sqlstate_of(e), "42601");
		PQclear(e);
		r = show(a, "SHOW STATE");
		PQclear(r);
	}
	/* Stats of the pool did not move while the console was used. */
	PGresult *r = show(admins[0], "SHOW STATS_TOTALS");
	assert_int_equal((int)res_u64(r, "database", "app", "query_count"), 1);
	PQclear(r);
	PQfinish(admins[0]);
	PQfinish(admins[1]);
	PQfinish(c);
	stop_ok();
}

/* ------------------------------------------------------------------ */
/* Exact counting                                                      */
/* ------------------------------------------------------------------ */

/* Wire sizes. A simple Query is 'Q' + length + SQL + NUL. */
#define Q_SIZE(sql) (1 + 4 + sizeof(sql))
/* PostgreSQL's answers relayed to the client:
 *   RowDescription for one column "?column?" (int4):
 *     1 + 4 + 2 + (9 + 4 + 2 + 4 + 2 + 4 + 2) = 34
 *   DataRow "1": 1 + 4 + 2 + 4 + 1 = 12
 *   CommandComplete "SELECT 1": 1 + 4 + 9 = 14
 *   CommandComplete "BEGIN": 1 + 4 + 6 = 11, "COMMIT": 1 + 4 + 7 = 12
 *   ReadyForQuery: 1 + 4 + 1 = 6 */
#define SELECT1_REPLY (34 + 12 + 14 + 6)
#define BEGIN_REPLY (11 + 6)
#define COMMIT_REPLY (12 + 6)
/* libpq's PQexecParams("SELECT 1") with no parameters:
 *   Parse 1+4+1+9+2 = 17, Bind 1+4+1+1+2+2+2+2 = 15, Describe portal
 *   1+4+1+1 = 7, Execute 1+4+1+4 = 10, Sync 5 -> 54;
 * answer: ParseComplete 5, BindComplete 5, then as SELECT1_REPLY -> 76. */
#define EXT_SELECT1_REQ 54
#define EXT_SELECT1_REPLY (5 + 5 + SELECT1_REPLY)

static void test_exact_counting(void **state)
{
	(void)state;
	pgtide_start(&g_proc, "default_pool_size = 2\n", NULL);
	PGconn *a = admin_conn("pgtide");
	PGconn *c = app_conn("app");
	totals_t t0, t1, t2;
	read_totals(a, "app", &t0);
	/* The login borrowed a server once (to learn the server's parameter
	 * spellings): at most one assignment, nothing relayed, no query. */
	if (t0.assign > 1)
		fail_msg("a login made %" PRIu64 " server assignments", t0.assign);
	assert_int_equal(t0.xact, 0);
	assert_int_equal(t0.query, 0);
	assert_int_equal(t0.recv, 0);
	assert_int_equal(t0.sent, 0);
	assert_int_equal(t0.logins, 1);

	const int N = 40, M = 25, P = 10;
	char v[64];
	for (int i = 0; i < N; i++) {
		exec_ok(c, "BEGIN");
		run_ok(c, "SELECT 1", v, sizeof(v));
		assert_string_equal(v, "1");
		exec_ok(c, "COMMIT");
	}
	for (int i = 0; i < M; i++)
		run_ok(c, "SELECT 1", v, sizeof(v));
	read_totals(a, "app", &t1);

	/* A transaction = one ReadyForQuery 'I'; a query = one ReadyForQuery. */
	assert_int_equal(t1.xact - t0.xact, N + M);
	assert_int_equal(t1.query - t0.query, 3 * N + M);
	/* In transaction mode, each transaction gets a server once. */
	assert_int_equal(t1.assign - t0.assign, N + M);
	uint64_t want_recv = (uint64_t)N * (Q_SIZE("BEGIN") + Q_SIZE("SELECT 1") + Q_SIZE("COMMIT")) +
			     (uint64_t)M * Q_SIZE("SELECT 1");
	uint64_t want_sent = (uint64_t)N * (BEGIN_REPLY + SELECT1_REPLY + COMMIT_REPLY) + (uint64_t)M * SELECT1_REPLY;
	if (t1.recv - t0.recv != want_recv || t1.sent - t0.sent != want_sent)
		fail_msg("bytes: received %" PRIu64 " (expected %" PRIu64 "), sent %" PRIu64 " (expected %" PRIu64 ")",
			 t1.recv - t0.recv, want_recv, t1.sent - t0.sent, want_sent);
	assert_true(t1.query_time > t0.query_time);
	assert_true(t1.xact_time - t0.xact_time >= t1.query_time - t0.query_time);
	assert_int_equal(t1.cparse - t0.cparse, 0);
	assert_int_equal(t1.bind - t0.bind, 0);
	assert_int_equal(t1.logins, 1);

	/* Extended protocol: one Sync, one ReadyForQuery. */
	for (int i = 0; i < P; i++) {
		PGresult *r = PQexecParams(c, "SELECT 1", 0, NULL, NULL, NULL, NULL, 0);
		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		PQclear(r);
	}
	read_totals(a, "app", &t2);
	assert_int_equal(t2.xact - t1.xact, P);
	assert_int_equal(t2.query - t1.query, P);
	assert_int_equal(t2.assign - t1.assign, P);
	assert_int_equal(t2.cparse - t1.cparse, P);
	assert_int_equal(t2.sparse - t1.sparse, P);
	assert_int_equal(t2.bind - t1.bind, P);
	if (t2.recv - t1.recv != (uint64_t)P * EXT_SELECT1_REQ || t2.sent - t1.sent != (uint64_t)P * EXT_SELECT1_REPLY)
		fail_msg("extended bytes: received %" PRIu64 " (expected %d), sent %" PRIu64 " (expected %d)",
			 t2.recv - t1.recv, P * EXT_SELECT1_REQ, t2.sent - t1.sent, P * EXT_SELECT1_REPLY);
	/* Nobody waited for more than a moment: one client, idle servers. */
	assert_true(t2.w_timeout + t2.w_abandoned + t2.w_canceled + t2.w_killed + t2.w_failed == 0);

	/* SHOW STATS and SHOW TOTALS say the same as SHOW STATS_TOTALS. */
	PGresult *r = show(a, "SHOW STATS");
	assert_int_equal(res_u64(r, "database", "app", "total_xact_count"), t2.xact);
	assert_int_equal(res_u64(r, "database", "app", "total_query_count"), t2.query);
	assert_int_equal(res_u64(r, "database", "app", "total_received"), t2.recv);
	assert_int_equal(res_u64(r, "database", "app", "total_sent"), t2.sent);
	assert_int_equal(res_u64(r, "database", "app", "total_server_assignment_count"), t2.assign);
	assert_int_equal(res_u64(r, "database", "app", "total_wait_time"), t2.wait_time);
	assert_int_equal(res_u64(r, "database", "app", "total_bind_count"), t2.bind);
	PQclear(r);
	r = show(a, "SHOW TOTALS");
	assert_int_equal(res_u64(r, "name", "total_xact_count", "value"), t2.xact);
	assert_int_equal(res_u64(r, "name", "total_query_count", "value"), t2.query);
	assert_int_equal(res_u64(r, "name", "total_client_bytes", "value"), t2.recv);
	assert_int_equal(res_u64(r, "name", "total_server_bytes", "value"), t2.sent);
	assert_int_equal(res_u64(r, "name", "total_ps_bind_count", "value"), t2.bind);
	PQclear(r);
	/* The transaction-time histogram saw every transaction. */
	r = show(a, "SHOW POOLS");
	assert_true(res_u64(r, "database", "app", "total_xact_max_us") > 0);
	assert_true(res_u64(r, "database", "app", "total_xact_p50_us") <=
		    res_u64(r, "database", "app", "total_xact_p99_us"));
	PQclear(r);
	PQfinish(c);
	PQfinish(a);
	stop_ok();
}

/* ------------------------------------------------------------------ */
/* Wait time and utilization on a saturated pool                       */
/* ------------------------------------------------------------------ */

#define WT_CLIENTS 8

typedef struct wt_client {
	PGconn *conn;
	double deadline;
	int done;
	char err[256];
} wt_client_t;

static pthread_barrier_t wt_go;

static void *wt_thread(void *arg)
{
	wt_client_t *w = arg;
	static const char *const steps[] = { "BEGIN", "SELECT pg_sleep(0.05)", "COMMIT" };
	pthread_barrier_wait(&wt_go);
	while (now_seconds() < w->deadline) {
		for (int i = 0; i < 3; i++) {
			PGresult *r = PQexec(w->conn, steps[i]);
			ExecStatusType st = PQresultStatus(r);
			PQclear(r);
			if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
				snprintf(w->err, sizeof(w->err), "%s: %s", steps[i], PQerrorMessage(w->conn));
				return NULL;
			}
		}
		w->done++;
	}
	return NULL;
}

static void test_wait_time_and_utilization(void **state)
{
	(void)state;
	pgtide_start(&g_proc, "default_pool_size = 1\nstats_period = 1\n", NULL);
	PGconn *a = admin_conn("pgbouncer");
	static wt_client_t cl[WT_CLIENTS];
	pthread_t th[WT_CLIENTS];
	for (int i = 0; i < WT_CLIENTS; i++) {
		memset(&cl[i], 0, sizeof(cl[i]));
		cl[i].conn = app_conn("app");
	}
	pthread_barrier_init(&wt_go, NULL, WT_CLIENTS + 1);
	double t0 = now_seconds();
	for (int i = 0; i < WT_CLIENTS; i++) {
		cl[i].deadline = t0 + 3.0;
		pthread_create(&th[i], NULL, wt_thread, &cl[i]);
	}
	pthread_barrier_wait(&wt_go);

	/* Mid-load: the last complete stats period (1 s) lies inside the load. */
	while (now_seconds() < t0 + 2.6)
		usleep(10000);
	PGresult *mid = show(a, "SHOW POOLS");
	PGresult *mid_stats = show(a, "SHOW STATS");
	for (int i = 0; i < WT_CLIENTS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&wt_go);

	int total = 0;
	for (int i = 0; i < WT_CLIENTS; i++) {
		if (cl[i].err[0])
			fail_msg("client %d: %s", i, cl[i].err);
		if (cl[i].done < 2)
			fail_msg("client %d finished %d transactions in 3 s: the queue is not fair", i, cl[i].done);
		total += cl[i].done;
	}
	double p50 = res_num(mid, "database", "app", "wait_p50_us");
	double p99 = res_num(mid, "database", "app", "wait_p99_us");
	double pmax = res_num(mid, "database", "app", "wait_max_us");
	double util = res_num(mid, "database", "app", "utilization");
	double waiting = res_num(mid, "database", "app", "cl_waiting");
	double maxwait = res_num(mid, "database", "app", "maxwait") * 1e6 + res_num(mid, "database", "app", "maxwait_us");
	double avg_wait = res_num(mid_stats, "database", "app", "avg_wait_time");
	fprintf(stderr,
		"test_admin: %d transactions; mid-load period: wait p50 %.0f p99 %.0f max %.0f us, util %.3f, "
		"cl_waiting %.0f, maxwait %.0f us, avg_wait_time %.0f us\n",
		total, p50, p99, pmax, util, waiting, maxwait, avg_wait);
	PQclear(mid);
	PQclear(mid_stats);
	/* 8 clients on one server, ~50 ms each: a client waits for the 7 others. */
	if (total < 20)
		fail_msg("only %d transactions in 3 s", total);
	if (p50 < 100e3 || p50 > 1e6)
		fail_msg("period wait p50 %.0f us, expected 100 ms .. 1 s", p50);
	if (p99 < p50 || pmax < p99 || pmax > 2e6)
		fail_msg("period wait p99 %.0f / max %.0f us out of order or above 2 s", p99, pmax);
	if (util < 0.8 || util > 1.001)
		fail_msg("utilization %.3f of a saturated period", util);
	if (waiting < 1)
		fail_msg("no client waiting mid-load (cl_waiting %.0f)", waiting);
	if (maxwait <= 0 || maxwait > 2e6)
		fail_msg("maxwait %.0f us mid-load", maxwait);
	if (avg_wait < 100e3 || avg_wait > 1e6)
		fail_msg("avg_wait_time %.0f us, expected 100 ms .. 1 s", avg_wait);

	/* Since start. */
	PGresult *r = show(a, "SHOW POOLS");
	double tp50 = res_num(r, "database", "app", "total_wait_p50_us");
	double tp99 = res_num(r, "database", "app", "total_wait_p99_us");
	double tmax = res_num(r, "database", "app", "total_wait_max_us");
	double txact50 = res_num(r, "database", "app", "total_xact_p50_us");
	PQclear(r);
	if (tp50 < 100e3 || tp50 > 1e6 || tp99 < tp50 || tmax < tp99 || tmax > 2e6 || tmax < pmax)
		fail_msg("since start: wait p50 %.0f p99 %.0f max %.0f us", tp50, tp99, tmax);
	/* A transaction holds its server for pg_sleep(0.05) at least. */
	if (txact50 < 40e3 || txact50 > 1e6)
		fail_msg("since start: xact p50 %.0f us", txact50);
	totals_t t;
	read_totals(a, "app", &t);
	if (t.xact < (uint64_t)total || t.assign < (uint64_t)total)
		fail_msg("xact_count %" PRIu64 " / assignments %" PRIu64 " below the %d transactions run", t.xact,
			 t.assign, total);
	double mean = (double)t.wait_time / (double)t.assign;
	if (mean < 50e3 || mean > 1e6)
		fail_msg("wait_time / server_assignment_count = %.0f us", mean);

	/* A whole stats period with no traffic: no samples, no busy time. */
	usleep(2300000);
	r = show(a, "SHOW POOLS");
	assert_int_equal((int)res_num(r, "database", "app", "wait_p50_us"), 0);
	assert_int_equal((int)res_num(r, "database", "app", "wait_max_us"), 0);
	assert_int_equal((int)res_num(r, "database", "app", "xact_max_us"), 0);
	assert_true(res_num(r, "database", "app", "utilization") == 0.0);
	assert_int_equal((int)res_num(r, "database", "app", "cl_waiting"), 0);
	assert_true(res_num(r, "database", "app", "total_wait_max_us") == tmax);
	PQclear(r);
	for (int i = 0; i < WT_CLIENTS; i++)
		PQfinish(cl[i].conn);
	PQfinish(a);
	stop_ok();
}

/* ------------------------------------------------------------------ */
/* Waits that end without a server, by cause                           */
/* ------------------------------------------------------------------ */

static void check_causes(PGconn *a, const char *db, int timeouts, int abandoned, int canceled, int killed,
			 int failed)
{
	PGresult *r = show(a, "SHOW POOLS");
	int got[5] = { (int)res_num(r, "database", db, "wait_timeouts"), (int)res_num(r, "database", db, "wait_abandoned"),
		       (int)res_num(r, "database", db, "wait_canceled"), (int)res_num(r, "database", db, "wait_killed"),
		       (int)res_num(r, "database", db, "wait_failed") };
	PQclear(r);
	totals_t t;
	read_totals(a, db, &t);
	int want[5] = { timeouts, abandoned, canceled, killed, failed };
	uint64_t tot[5] = { t.w_timeout, t.w_abandoned, t.w_canceled, t.w_killed, t.w_failed };
	static const char *const names[5] = { "timeouts", "abandoned", "canceled", "killed", "failed" };
	for (int i = 0; i < 5; i++) {
		if (got[i] != want[i] || tot[i] != (uint64_t)want[i])
			fail_msg("%s: wait_%s is %d in SHOW POOLS and %" PRIu64 " in SHOW STATS_TOTALS, expected %d",
				 db, names[i], got[i], tot[i], want[i]);
	}
}

static void test_wait_timeout_counted(void **state)
{
	(void)state;
	pgtide_start(&g_proc, "default_pool_size = 1\nquery_wait_timeout = 1\n", NULL);
	PGconn *a = admin_conn("pgtide");
	PGconn *holder = app_conn("app");
	PGconn *b = app_conn("app");
	exec_ok(holder, "BEGIN");
	exec_ok(holder, "SELECT 1");
	totals_t before;
	read_totals(a, "app", &before);
	double t0 = now_seconds();
	PGresult *r = PQexec(b, "SELECT 2");
	double waited = now_seconds() - t0;
	char st[8], msg[512];
	snprintf(st, sizeof(st), "%s", sqlstate_of(r));
	snprintf(msg, sizeof(msg), "%s", PQerrorMessage(b));
	ExecStatusType es = PQresultStatus(r);
	PQclear(r);
	if (es == PGRES_TUPLES_OK)
		fail_msg("the waiting client got a server while the only one was in a transaction");
	assert_string_equal(st, "57014");
	if (!strstr(msg, "query_wait_timeout"))
		fail_msg("message: %s", msg);
	if (waited < 0.9 || waited > 3.5)
		fail_msg("query_wait_timeout = 1 fired after %.2f s", waited);
	check_causes(a, "app", 1, 0, 0, 0, 0);
	/* A wait that ended without a server is not a server assignment and
	 * adds nothing to wait_time. */
	totals_t after;
	read_totals(a, "app", &after);
	assert_int_equal(after.assign, before.assign);
	assert_int_equal(after.wait_time, before.wait_time);
	exec_ok(holder, "COMMIT");
	if (PQstatus(b) == CONNECTION_OK)
		exec_ok(b, "SELECT 3");
	PQfinish(b);
	PQfinish(holder);
	PQfinish(a);
	stop_ok();
}

static void test_wait_causes(void **state)
{
	(void)state;
	char dbs[512];
	snprintf(dbs, sizeof(dbs),
		 "app = host=127.0.0.1 port=%d\n"
		 "broken = host=127.0.0.1 port=%d dbname=adm_no_such_database\n",
		 pg_port(), pg_port());
	pgtide_start(&g_proc, "default_pool_size = 1\n", dbs);
	PGconn *a = admin_conn("pgtide");
	PGconn *holder = app_conn("app");
	exec_ok(holder, "BEGIN");
	exec_ok(holder, "SELECT 1");
	check_causes(a, "app", 0, 0, 0, 0, 0);

	/* A waiting client that disconnects: abandoned. */
	PGconn *c = app_conn("app");
	assert_int_equal(PQsendQuery(c, "SELECT 'abandoned'"), 1);
	if (!wait_pool_ge(a, "app", "cl_waiting", 1, 5))
		fail_msg("the client never queued");
	PQfinish(c);
	double deadline = now_seconds() + 5;
	while (show_num(a, "SHOW POOLS", "database", "app", "wait_abandoned") < 1 && now_seconds() < deadline)
		usleep(20000);
	check_causes(a, "app", 0, 1, 0, 0, 0);
	assert_int_equal((int)show_num(a, "SHOW POOLS", "database", "app", "cl_waiting"), 0);

	/* A cancel request for a waiting client: canceled; the client stays. */
	PGconn *w = app_conn("app");
	assert_int_equal(PQsendQuery(w, "SELECT 'canceled'"), 1);
	if (!wait_pool_ge(a, "app", "cl_waiting", 1, 5))
		fail_msg("the client never queued");
	char err[256];
	if (!send_cancel(w, err, sizeof(err)))
		fail_msg("PQcancel: %s", err);
	expect_async_error(w, "57014", "cancel while waiting");
	check_causes(a, "app", 0, 1, 1, 0, 0);
	assert_int_equal((int)show_num(a, "SHOW POOLS", "database", "app", "cl_waiting"), 0);
	exec_ok(holder, "COMMIT");
	char v[64];
	run_ok(w, "SELECT 'after cancel'", v, sizeof(v));
	assert_string_equal(v, "after cancel");

	/* KILL of the database with a client waiting: killed. */
	exec_ok(holder, "BEGIN");
	exec_ok(holder, "SELECT 1");
	assert_int_equal(PQsendQuery(w, "SELECT 'killed'"), 1);
	if (!wait_pool_ge(a, "app", "cl_waiting", 1, 5))
		fail_msg("the client never queued");
	exec_ok(a, "KILL app");
	expect_async_error(w, "57P01", "KILL while waiting");
	check_causes(a, "app", 0, 1, 1, 1, 0);
	exec_ok(a, "RESUME app");

	/* The server refuses the login of a waiting client: failed. */
	PGconn *f = pt_connect(&g_proc, "app", "app-pw", "broken", NULL);
	assert_int_not_equal(PQstatus(f), CONNECTION_OK);
	if (!strstr(PQerrorMessage(f), "adm_no_such_database"))
		fail_msg("login to a database the server lacks: %s", PQerrorMessage(f));
	PQfinish(f);
	check_causes(a, "broken", 0, 0, 0, 0, 1);
	check_causes(a, "app", 0, 1, 1, 1, 0);
	/* SHOW STATS carries the same counters with the total_ prefix. */
	PGresult *r = show(a, "SHOW STATS");
	assert_int_equal((int)res_u64(r, "database", "app", "total_wait_abandoned_count"), 1);
	assert_int_equal((int)res_u64(r, "database", "app", "total_wait_canceled_count"), 1);
	assert_int_equal((int)res_u64(r, "database", "app", "total_wait_killed_count"), 1);
	assert_int_equal((int)res_u64(r, "database", "broken", "total_wait_failed_count"), 1);
	PQclear(r);
	PQfinish(w);
	PQfinish(holder);
	PQfinish(a);
	stop_ok();
}

/* ------------------------------------------------------------------ */
/* Access control                                                      */
/* ------------------------------------------------------------------ */

static const char *const control_cmds[] = {
	"PAUSE", "PAUSE app", "RESUME", "RESUME app", "KILL", "KILL app", "KILL_CLIENT 1",
	"SET default_pool_size = 3", "SHUTDOWN", "SHUTDOWN WAIT_FOR_CLIENTS", "RELOAD", "RECONNECT",
	"WAIT_CLOSE", "DISABLE app", "ENABLE app",
};

static void test_access_control(void **state)
{
	(void)state;
	/* trust: the raw socket logins below need no password exchange. */
	pgtide_start(&g_proc, "auth_type = trust\nstats_users = stats\n", NULL);
	char st[16], msg[256];
	const char *admin_dbs[] = { "pgtide", "pgbouncer" };
	for (int d = 0; d < 2; d++) {
		raw_login(g_proc.port, "app", admin_dbs[d], st, sizeof(st), msg, sizeof(msg));
		if (strcmp(st, "28000") != 0)
			fail_msg("ordinary user on %s: '%s' %s", admin_dbs[d], st, msg);
		if (!strstr(msg, "not allowed to use the admin console"))
			fail_msg("message: %s", msg);
		raw_login(g_proc.port, "stats", admin_dbs[d], st, sizeof(st), msg, sizeof(msg));
		assert_string_equal(st, "");
		raw_login(g_proc.port, "admin", admin_dbs[d], st, sizeof(st), msg, sizeof(msg));
		assert_string_equal(st, "");
	}
	PGconn *app = app_conn("app");
	exec_ok(app, "SELECT 1");
	PGconn *s = connect_ok(&g_proc, "stats", "", "pgbouncer", NULL);
	for (size_t i = 0; i < NELEM(show_specs); i++) {
		char sql[64];
		snprintf(sql, sizeof(sql), "SHOW %s", show_specs[i].what);
		PQclear(show(s, sql));
	}
	for (size_t i = 0; i < NELEM(control_cmds); i++) {
		expect_state(s, control_cmds[i], "42501");
		PGresult *r = PQexecParams(s, control_cmds[i], 0, NULL, NULL, NULL, NULL, 0);
		if (strcmp(sqlstate_of(r), "42501") != 0)
			fail_msg("%s over the extended protocol: '%s'", control_cmds[i], sqlstate_of(r));
		PQclear(r);
	}
	/* Nothing happened: still running, not paused, settings unchanged,
	 * the pooled client untouched. */
	usleep(300000);
	char v[64];
	show_text(s, "SHOW STATE", "key", "paused", "value", v, sizeof(v));
	assert_string_equal(v, "no");
	show_text(s, "SHOW CONFIG", "key", "default_pool_size", "value", v, sizeof(v));
	assert_string_equal(v, "20");
	run_ok(app, "SELECT 'still here'", v, sizeof(v));
	assert_string_equal(v, "still here");
	PQfinish(s);
	/* The admin may. */
	PGconn *a = admin_conn("pgtide");
	exec_ok(a, "PAUSE app");
	exec_ok(a, "RESUME app");
	PQfinish(a);
	PQfinish(app);
	stop_ok();

	/* md5 (the default): the refusal as a driver reports it. */
	pgtide_start(&g_proc, "stats_users = stats\n", NULL);
	PGconn *c = pt_connect(&g_proc, "app", "app-pw", "pgbouncer", NULL);
	assert_int_not_equal(PQstatus(c), CONNECTION_OK);
	if (!strstr(PQerrorMessage(c), "not allowed to use the admin console"))
		fail_msg("app on the console: %s", PQerrorMessage(c));
	PQfinish(c);
	c = pt_connect(&g_proc, "admin", "wrong", "pgtide", NULL);
	assert_int_not_equal(PQstatus(c), CONNECTION_OK);
	assert_non_null(strstr(PQerrorMessage(c), "password authentication failed"));
	PQfinish(c);
	s = connect_ok(&g_proc, "stats", "stats-pw", "pgtide", NULL);
	PQclear(show(s, "SHOW POOLS"));
	expect_state(s, "PAUSE", "42501");
	PQfinish(s);
	stop_ok();

	/* auth_type = any: everybody is a stats user, admin_users still admins. */
	pgtide_start(&g_proc, "auth_type = any\n", NULL);
	c = connect_ok(&g_proc, "app", "", "pgbouncer", NULL);
	PQclear(show(c, "SHOW POOLS"));
	expect_state(c, "PAUSE", "42501");
	PQfinish(c);
	a = connect_ok(&g_proc, "admin", "", "pgbouncer", NULL);
	exec_ok(a, "PAUSE");
	exec_ok(a, "RESUME");
	PQfinish(a);
	stop_ok();
}

/* ------------------------------------------------------------------ */
/* PAUSE / RESUME under pgbench                                        */
/* ------------------------------------------------------------------ */

static const char *pgbench_path(void)
{
	const char *p = getenv("PGTIDE_PGBENCH");
	if (p && *p && access(p, X_OK) == 0)
		return p;
	if (access("/usr/lib/postgresql/15/bin/pgbench", X_OK) == 0)
		return "/usr/lib/postgresql/15/bin/pgbench";
	return NULL;
}

static pid_t spawn_pgbench(const char *out_path, char *const argv[])
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setenv("PGPASSWORD", "app-pw", 1);
		unsetenv("PGSERVICE");
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Waits for a child; returns its exit status, -1 on timeout (killed). */
static int wait_child(pid_t pid, double timeout_s)
{
	double deadline = now_seconds() + timeout_s;
	int st = 0;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (now_seconds() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		usleep(20000);
	}
}

static char *read_file(const char *path)
{
	static char buf[65536];
	buf[0] = '\0';
	FILE *f = fopen(path, "r");
	if (f) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

static int count_backends(PGconn *d, const char *db, const char *extra_where)
{
	char sql[512], v[32];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND backend_type = 'client backend' %s",
		 db, extra_where ? extra_where : "");
	run_ok(d, sql, v, sizeof(v));
	return atoi(v);
}

static void create_bench_db(void)
{
	snprintf(g_bench_db, sizeof(g_bench_db), "adm_%d", (int)getpid());
	if (!pt_create_database(g_bench_db, NULL))
		fail_msg("could not create database %s", g_bench_db);
}

static void test_pause_resume_under_pgbench(void **state)
{
	(void)state;
	const char *pgbench = pgbench_path();
	if (!pgbench) {
		fprintf(stderr, "test_admin: pgbench not found; skipping\n");
		skip();
	}
	create_bench_db();
	char port[16], out_init[128], out_run[128], tport[16];
	snprintf(port, sizeof(port), "%d", pg_port());
	snprintf(out_init, sizeof(out_init), "/tmp/%s-init.out", g_bench_db);
	snprintf(out_run, sizeof(out_run), "/tmp/%s-run.out", g_bench_db);
	char *init_argv[] = { (char *)pgbench, "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", port, "-U", "app",
			      g_bench_db, NULL };
	g_bench_pid = spawn_pgbench(out_init, init_argv);
	int rc = wait_child(g_bench_pid, 120);
	g_bench_pid = 0;
	if (rc != 0)
		fail_msg("pgbench -i exited %d: %s", rc, read_file(out_init));

	pgtide_start(&g_proc, "default_pool_size = 5\nmax_client_conn = 200\n", NULL);
	snprintf(tport, sizeof(tport), "%d", g_proc.port);
	PGconn *a = admin_conn("pgbouncer");
	PGconn *a2 = admin_conn("pgtide");
	PGconn *d = pg_connect_direct("postgres");
	PGconn *holder = app_conn(g_bench_db);
	char *run_argv[] = { (char *)pgbench, "-n", "-c", "20", "-j", "2", "-T", "6", "-h", "127.0.0.1", "-p", tport,
			     "-U", "app", g_bench_db, NULL };
	double t0 = now_seconds();
	g_bench_pid = spawn_pgbench(out_run, run_argv);
	usleep(2000000);

	/* A transaction that is running when PAUSE arrives. */
	exec_ok(holder, "BEGIN");
	exec_ok(holder, "SELECT count(*) FROM pgbench_branches");
	assert_int_equal(PQsendQuery(a, "PAUSE"), 1);
	double t_pause = now_seconds();
	bool blocked = still_waiting(a, 0.7);
	char v[64];
	/* The transaction finishes; its server is not taken away meanwhile. */
	run_ok(holder, "SELECT 'inside'", v, sizeof(v));
	exec_ok(holder, "COMMIT");
	double t_commit = now_seconds();
	PGresult *r = NULL;
	bool answered = wait_result(a, 10, &r);
	double t_paused = now_seconds();
	ExecStatusType pst = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	char ptag[32];
	snprintf(ptag, sizeof(ptag), "%s", r ? PQcmdStatus(r) : "");
	PQclear(r);
	if (answered)
		drain(a);
	/* Right after PAUSE: no server is in a transaction. */
	int in_tx = count_backends(d, g_bench_db, "AND state <> 'idle'");
	PGresult *p0 = show(a2, "SHOW POOLS");
	int sv_active0 = (int)res_num(p0, "database", g_bench_db, "sv_active");
	PQclear(p0);

	/* Hold 1 s: servers stay unused and closed, clients queue. */
	int max_waiting = 0, max_active = 0, max_servers = 0;
	char paused_state[8] = "";
	double hold_end = t_paused + 1.0;
	int backends_late = -1;
	while (now_seconds() < hold_end) {
		PGresult *p = show(a2, "SHOW POOLS");
		int act = (int)res_num(p, "database", g_bench_db, "sv_active");
		int wt = (int)res_num(p, "database", g_bench_db, "cl_waiting");
		int svs = act + (int)res_num(p, "database", g_bench_db, "sv_idle") +
			  (int)res_num(p, "database", g_bench_db, "sv_login") +
			  (int)res_num(p, "database", g_bench_db, "sv_tested");
		PQclear(p);
		max_active = act > max_active ? act : max_active;
		max_waiting = wt > max_waiting ? wt : max_waiting;
		if (now_seconds() > t_paused + 0.5) {
			max_servers = svs > max_servers ? svs : max_servers;
			int nb = count_backends(d, g_bench_db, NULL);
			backends_late = nb > backends_late ? nb : backends_late;
		}
		usleep(50000);
	}
	show_text(a2, "SHOW STATE", "key", "paused", "value", paused_state, sizeof(paused_state));
	exec_ok(a, "RESUME");
	/* Served again after RESUME. */
	bool resumed = false;
	double deadline = now_seconds() + 5;
	totals_t t_before, t_after;
	read_totals(a2, g_bench_db, &t_before);
	while (!resumed && now_seconds() < deadline) {
		usleep(100000);
		read_totals(a2, g_bench_db, &t_after);
		resumed = t_after.xact > t_before.xact + 5;
	}
	rc = wait_child(g_bench_pid, 60);
	g_bench_pid = 0;
	const char *out = read_file(out_run);
	fprintf(stderr,
		"test_admin: PAUSE sent at %.2f s, blocked while a transaction ran: %d, answered %.2f s after "
		"COMMIT; while paused: max cl_waiting %d, max sv_active %d, max servers %d, max backends %d\n",
		t_pause - t0, blocked, t_paused - t_commit, max_waiting, max_active, max_servers, backends_late);

	if (!blocked)
		fail_msg("PAUSE returned while a transaction was still running");
	if (!answered || pst != PGRES_COMMAND_OK || strcmp(ptag, "PAUSE") != 0)
		fail_msg("PAUSE did not complete after the transaction ended (%s '%s')", PQresStatus(pst), ptag);
	if (in_tx != 0)
		fail_msg("%d server connections still in a transaction when PAUSE returned", in_tx);
	if (sv_active0 != 0 || max_active != 0)
		fail_msg("sv_active %d right after PAUSE, up to %d while paused", sv_active0, max_active);
	if (max_waiting < 1)
		fail_msg("no pgbench client waiting while paused");
	assert_string_equal(paused_state, "yes");
	if (!resumed)
		fail_msg("no transactions after RESUME");
	if (rc != 0 || strstr(out, "aborted") || !strstr(out, "number of failed transactions: 0 "))
		fail_msg("pgbench exited %d:\n%s", rc, out);
	if (!strstr(out, "number of transactions actually processed: "))
		fail_msg("pgbench output:\n%s", out);
	show_text(a2, "SHOW STATE", "key", "paused", "value", paused_state, sizeof(paused_state));
	assert_string_equal(paused_state, "no");
	/* PAUSE empties the pool: no server connection while it holds. */
	if (max_servers != 0 || backends_late != 0)
		fail_msg("while paused, 0.5 s after PAUSE returned: up to %d server connections in SHOW POOLS and %d "
			 "backends on the server (PAUSE should leave none)",
			 max_servers, backends_late);
	PQfinish(holder);
	PQfinish(d);
	PQfinish(a2);
	PQfinish(a);
	stop_ok();
	unlink(out_init);
	unlink(out_run);
}

/* ------------------------------------------------------------------ */
/* Control commands                                                    */
/* ------------------------------------------------------------------ */

static void two_dbs(char *buf, size_t cap)
{
	snprintf(buf, cap, "app = host=127.0.0.1 port=%d\npostgres = host=127.0.0.1 port=%d\n", pg_port(), pg_port());
}

/* Logs in to database "fresh" and runs one query (it may be held at login:
 * the first login of a pool borrows a server). */
typedef struct first_client {
	bool done, ok;
	char err[256];
} first_client_t;

static void *first_client_thread(void *arg)
{
	first_client_t *fc = arg;
	PGconn *c = pt_connect(&g_proc, "app", "app-pw", "fresh", NULL);
	if (PQstatus(c) == CONNECTION_OK) {
		PGresult *r = PQexec(c, "SELECT 'first'");
		fc->ok = PQresultStatus(r) == PGRES_TUPLES_OK;
		PQclear(r);
	}
	if (!fc->ok)
		snprintf(fc->err, sizeof(fc->err), "%s", PQerrorMessage(c));
	PQfinish(c);
	__atomic_store_n(&fc->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* PAUSE db waits for that database's running transactions and holds its new
 * ones; other databases run on; SHOW DATABASES says paused. */
static void test_pause_database(void **state)
{
	(void)state;
	char dbs[512];
	two_dbs(dbs, sizeof(dbs));
	snprintf(dbs + strlen(dbs), sizeof(dbs) - strlen(dbs), "fresh = host=127.0.0.1 port=%d dbname=app\n",
		 pg_port());
	pgtide_start(&g_proc, "default_pool_size = 2\n", dbs);
	PGconn *a = admin_conn("pgtide");
	PGconn *holder = app_conn("app");
	PGconn *other = app_conn("postgres");
	PGconn *late = app_conn("app");
	exec_ok(other, "SELECT 1");
	exec_ok(holder, "BEGIN");
	exec_ok(holder, "SELECT 1");
	assert_int_equal(PQsendQuery(a, "PAUSE app"), 1);
	if (!still_waiting(a, 0.5))
		fail_msg("PAUSE app returned while a transaction of app was running");
	/* Another database is not paused. */
	exec_ok(other, "SELECT 2");
	exec_ok(holder, "COMMIT");
	PGresult *r = NULL;
	if (!wait_result(a, 5, &r) || PQresultStatus(r) != PGRES_COMMAND_OK || strcmp(PQcmdStatus(r), "PAUSE") != 0)
		fail_msg("PAUSE app did not complete after COMMIT: %s", r ? PQresStatus(PQresultStatus(r)) : "timeout");
	PQclear(r);
	drain(a);
	/* New transactions of app wait. */
	assert_int_equal(PQsendQuery(late, "SELECT 'late'"), 1);
	if (!still_waiting(late, 0.5))
		fail_msg("a transaction started on a paused database");
	assert_int_equal((int)show_num(a, "SHOW POOLS", "database", "app", "cl_waiting"), 1);
	assert_int_equal((int)show_num(a, "SHOW POOLS", "database", "app", "sv_active"), 0);
	exec_ok(other, "SELECT 3");
	/* Only app is paused: SHOW STATE is about the whole process. */
	char v[64];
	show_text(a, "SHOW STATE", "key", "paused", "value", v, sizeof(v));
	assert_string_equal(v, "no");
	/* Over the extended protocol PAUSE answers at once. */
	r = PQexecParams(a, "PAUSE app", 0, NULL, NULL, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	expect_state(a, "PAUSE adm_no_such_db", "3D000");
	expect_state(a, "RESUME adm_no_such_db", "3D000");
	bool db_paused = (int)show_num(a, "SHOW DATABASES", "name", "app", "paused") == 1;
	bool other_paused = (int)show_num(a, "SHOW DATABASES", "name", "postgres", "paused") != 0;
	exec_ok(a, "RESUME app");
	r = NULL;
	if (!wait_result(late, 5, &r) || PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("the held transaction did not run after RESUME");
	assert_string_equal(PQgetvalue(r, 0, 0), "late");
	PQclear(r);
	drain(late);
	/* Global PAUSE / RESUME show in SHOW STATE. */
	exec_ok(a, "PAUSE");
	show_text(a, "SHOW STATE", "key", "paused", "value", v, sizeof(v));
	assert_string_equal(v, "yes");
	show_text(a, "SHOW STATE", "key", "active", "value", v, sizeof(v));
	assert_string_equal(v, "no");
	exec_ok(a, "RESUME");
	show_text(a, "SHOW STATE", "key", "paused", "value", v, sizeof(v));
	assert_string_equal(v, "no");
	run_ok(late, "SELECT 'after'", v, sizeof(v));
	assert_string_equal(v, "after");

	/* A configured database nobody has used yet can be paused too: its
	 * first clients are held until RESUME. */
	exec_ok(a, "PAUSE fresh");
	first_client_t fc = { .done = false };
	pthread_t th;
	pthread_create(&th, NULL, first_client_thread, &fc);
	usleep(600000);
	bool held = !__atomic_load_n(&fc.done, __ATOMIC_ACQUIRE);
	exec_ok(a, "RESUME fresh");
	pthread_join(th, NULL);
	if (!fc.ok)
		fail_msg("the first client of fresh after RESUME: %s", fc.err);
	PQfinish(late);
	PQfinish(other);
	PQfinish(holder);
	PQfinish(a);
	stop_ok();
	char problems[512] = "";
	if (!held)
		snprintf(problems, sizeof(problems), "PAUSE of a database without a pool yet did not hold its first "
						     "client; ");
	if (!db_paused || other_paused)
		snprintf(problems + strlen(problems), sizeof(problems) - strlen(problems),
			 "SHOW DATABASES paused: app %s, postgres %s (expected 1 and 0 while app was paused)",
			 db_paused ? "1" : "0", other_paused ? "1" : "0");
	if (problems[0])
		fail_msg("%s", problems);
}

static void pids_of_servers(PGconn *a, const char *db, char pids[][16], int *n, int cap)
{
	PGresult *r = show(a, "SHOW SERVERS");
	int dc = col_of(r, "database"), pc = col_of(r, "remote_pid");
	*n = 0;
	for (int i = 0; i < PQntuples(r) && *n < cap; i++) {
		if (strcmp(PQgetvalue(r, i, dc), db) == 0)
			snprintf(pids[(*n)++], 16, "%s", PQgetvalue(r, i, pc));
	}
	PQclear(r);
}

static bool pid_in(const char *pid, char pids[][16], int n)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(pids[i], pid) == 0)
			return true;
	}
	return false;
}

static void test_reconnect_wait_close(void **state)
{
	(void)state;
	char dbs[256];
	two_dbs(dbs, sizeof(dbs));
	pgtide_start(&g_proc, "default_pool_size = 2\n", dbs);
	PGconn *a = admin_conn("pgtide");
	PGconn *c = app_conn("app");
	PGconn *holder = app_conn("app");
	char v[32];
	exec_ok(c, "SELECT 1");
	exec_ok(holder, "BEGIN");
	char hold_pid[32];
	run_ok(holder, "SELECT pg_backend_pid()", hold_pid, sizeof(hold_pid));
	/* Make sure the pool has two servers. */
	exec_ok(c, "SELECT 1");
	char old[8][16];
	int nold;
	pids_of_servers(a, "app", old, &nold, 8);
	assert_int_equal(nold, 2);
	assert_true(pid_in(hold_pid, old, nold));

	exec_ok(a, "RECONNECT app");
	assert_int_equal(PQsendQuery(a, "WAIT_CLOSE app"), 1);
	if (!still_waiting(a, 0.6))
		fail_msg("WAIT_CLOSE returned while a server from before RECONNECT was in a transaction");
	/* Meanwhile new transactions get new servers. */
	run_ok(c, "SELECT pg_backend_pid()", v, sizeof(v));
	if (pid_in(v, old, nold))
		fail_msg("a transaction after RECONNECT ran on old backend %s", v);
	/* The running transaction is not disturbed. */
	run_ok(holder, "SELECT pg_backend_pid()", v, sizeof(v));
	assert_string_equal(v, hold_pid);
	exec_ok(holder, "COMMIT");
	PGresult *r = NULL;
	if (!wait_result(a, 5, &r) || PQresultStatus(r) != PGRES_COMMAND_OK ||
	    strcmp(PQcmdStatus(r), "WAIT_CLOSE") != 0)
		fail_msg("WAIT_CLOSE did not complete once the old server was released");
	PQclear(r);
	drain(a);
	char now_pids[8][16];
	int nnow;
	pids_of_servers(a, "app", now_pids, &nnow, 8);
	for (int i = 0; i < nnow; i++) {
		if (pid_in(now_pids[i], old, nold))
			fail_msg("backend %s from before RECONNECT still in SHOW SERVERS", now_pids[i]);
	}
	run_ok(holder, "SELECT pg_backend_pid()", v, sizeof(v));
	if (pid_in(v, old, nold))
		fail_msg("after WAIT_CLOSE a transaction ran on old backend %s", v);
	/* The old backends are gone on the server too. */
	PGconn *d = pg_connect_direct("postgres");
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_stat_activity WHERE pid IN (%s, %s)", old[0], old[1]);
	double deadline = now_seconds() + 3;
	do {
		run_ok(d, sql, v, sizeof(v));
		if (strcmp(v, "0") == 0)
			break;
		usleep(50000);
	} while (now_seconds() < deadline);
	assert_string_equal(v, "0");
	PQfinish(d);
	/* With nothing old, WAIT_CLOSE returns at once; RECONNECT of every
	 * database; unknown database. */
	exec_ok(a, "WAIT_CLOSE");
	exec_ok(a, "RECONNECT");
	exec_ok(a, "WAIT_CLOSE");
	expect_state(a, "RECONNECT adm_no_such_db", "3D000");
	expect_state(a, "WAIT_CLOSE adm_no_such_db", "3D000");
	/* Over the extended protocol WAIT_CLOSE answers at once, with its own
	 * command tag. */
	r = PQexecParams(a, "WAIT_CLOSE app", 0, NULL, NULL, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	char tag[32];
	snprintf(tag, sizeof(tag), "%s", PQcmdStatus(r));
	PQclear(r);
	PQfinish(holder);
	PQfinish(c);
	PQfinish(a);
	stop_ok();
	if (strcmp(tag, "WAIT_CLOSE") != 0)
		fail_msg("WAIT_CLOSE over the extended protocol answered with command tag '%s'", tag);
}

static char g_kill_notice[512];

static void kill_notice(void *arg, const char *message)
{
	(void)arg;
	snprintf(g_kill_notice, sizeof(g_kill_notice), "%s", message);
}

/* An idle client's connection was closed by the console: the next query
 * fails and the connection is bad. */
static void expect_closed(PGconn *c, const char *what)
{
	double deadline = now_seconds() + 3;
	/* Read what the server sent meanwhile (the FATAL, then EOF). */
	while (now_seconds() < deadline && PQconsumeInput(c))
		usleep(20000);
	PGresult *r = PQexec(c, "SELECT 1");
	ExecStatusType st = PQresultStatus(r);
	PQclear(r);
	if (st == PGRES_TUPLES_OK)
		fail_msg("%s: the client still runs queries", what);
	assert_int_equal(PQstatus(c), CONNECTION_BAD);
}

static void test_kill(void **state)
{
	(void)state;
	char dbs[256];
	two_dbs(dbs, sizeof(dbs));
	pgtide_start(&g_proc, "default_pool_size = 1\n", dbs);
	PGconn *a = admin_conn("pgtide");
	PGconn *idle = app_conn("app");
	PQsetNoticeProcessor(idle, kill_notice, NULL);
	PGconn *holder = app_conn("app");
	PGconn *waiter = app_conn("app");
	PGconn *other = app_conn("postgres");
	char other_pid[32], v[64];
	exec_ok(idle, "SELECT 1");
	run_ok(other, "SELECT pg_backend_pid()", other_pid, sizeof(other_pid));
	exec_ok(holder, "BEGIN");
	exec_ok(holder, "SELECT 1");
	assert_int_equal(PQsendQuery(waiter, "SELECT 'waiting'"), 1);
	if (!wait_pool_ge(a, "app", "cl_waiting", 1, 5))
		fail_msg("the client never queued");

	PGresult *r = PQexec(a, "KILL app");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	assert_string_equal(PQcmdStatus(r), "KILL");
	PQclear(r);
	expect_async_error(waiter, "57P01", "a waiting client at KILL");
	expect_closed(holder, "a client in a transaction at KILL");
	expect_closed(idle, "an idle client at KILL");
	if (!strstr(g_kill_notice, "KILL") && !strstr(PQerrorMessage(idle), "KILL"))
		fail_msg("the idle client was not told why: notice '%s', error '%s'", g_kill_notice,
			 PQerrorMessage(idle));
	/* Other databases are not touched: same server, same session. */
	run_ok(other, "SELECT pg_backend_pid()", v, sizeof(v));
	assert_string_equal(v, other_pid);
	/* The database's servers are closed and its clients gone. */
	double deadline = now_seconds() + 3;
	int servers = -1, clients = -1;
	do {
		PGresult *p = show(a, "SHOW POOLS");
		servers = (int)(res_num(p, "database", "app", "sv_active") + res_num(p, "database", "app", "sv_idle") +
				res_num(p, "database", "app", "sv_tested") + res_num(p, "database", "app", "sv_login"));
		clients = (int)(res_num(p, "database", "app", "cl_active") + res_num(p, "database", "app", "cl_waiting"));
		PQclear(p);
		if (servers == 0 && clients == 0)
			break;
		usleep(50000);
	} while (now_seconds() < deadline);
	if (servers != 0 || clients != 0)
		fail_msg("after KILL app: %d servers and %d clients left", servers, clients);
	check_causes(a, "app", 0, 0, 0, 1, 0);

	/* New clients of the killed database wait until RESUME. */
	PGconn *n = app_conn("app");
	assert_int_equal(PQsendQuery(n, "SELECT 'new'"), 1);
	if (!still_waiting(n, 0.5))
		fail_msg("a new client of a killed database ran before RESUME");
	assert_int_equal((int)show_num(a, "SHOW POOLS", "database", "app", "cl_waiting"), 1);
	exec_ok(a, "RESUME app");
	r = NULL;
	if (!wait_result(n, 5, &r) || PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("the new client did not run after RESUME");
	assert_string_equal(PQgetvalue(r, 0, 0), "new");
	PQclear(r);
	drain(n);

	/* KILL without a database: every pooled client, never the console. */
	exec_ok(a, "KILL");
	expect_closed(other, "a client of another database at KILL");
	expect_closed(n, "a client at KILL");
	PQclear(show(a, "SHOW POOLS"));
	PGconn *n2 = app_conn("postgres");
	assert_int_equal(PQsendQuery(n2, "SELECT 'n2'"), 1);
	if (!still_waiting(n2, 0.4))
		fail_msg("a new client ran before RESUME after KILL");
	exec_ok(a, "RESUME");
	r = NULL;
	if (!wait_result(n2, 5, &r) || PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("the new client did not run after RESUME");
	PQclear(r);
	drain(n2);
	expect_state(a, "KILL adm_no_such_db", "3D000");
	PQfinish(n2);
	PQfinish(n);
	PQfinish(other);
	PQfinish(waiter);
	PQfinish(holder);
	PQfinish(idle);
	PQfinish(a);
	stop_ok();
}

static long long client_id(PGconn *a, const char *app_name)
{
	PGresult *r = show(a, "SHOW CLIENTS");
	int row = row_of(r, "application_name", app_name);
	long long id = row >= 0 ? atoll(PQgetvalue(r, row, col_of(r, "id"))) : -1;
	PQclear(r);
	return id;
}

static void test_kill_client(void **state)
{
	(void)state;
	pgtide_start(&g_proc, "default_pool_size = 1\n", NULL);
	PGconn *a = admin_conn("pgtide");
	PGconn *victim = connect_ok(&g_proc, "app", "app-pw", "app", "application_name=victim");
	PGconn *bystander = connect_ok(&g_proc, "app", "app-pw", "app", "application_name=bystander");
	char v[64];
	exec_ok(victim, "SELECT 1");
	exec_ok(bystander, "SELECT 1");
	long long vid = client_id(a, "victim"), bid = client_id(a, "bystander");
	assert_true(vid > 0 && bid > 0 && vid != bid);
	char sql[64];
	snprintf(sql, sizeof(sql), "KILL_CLIENT %lld", vid);
	PGresult *r = PQexec(a, sql);
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	assert_string_equal(PQcmdStatus(r), "KILL_CLIENT");
	PQclear(r);
	expect_closed(victim, "KILL_CLIENT");
	run_ok(bystander, "SELECT 'fine'", v, sizeof(v));
	assert_string_equal(v, "fine");
	double deadline = now_seconds() + 3;
	while (client_id(a, "victim") >= 0 && now_seconds() < deadline)
		usleep(20000);
	assert_true(client_id(a, "victim") < 0);
	assert_int_equal(client_id(a, "bystander"), bid);
	/* Unknown ids, ids of killed clients, no id. */
	expect_state(a, sql, "42704");
	expect_state(a, "KILL_CLIENT 987654321", "42704");
	expect_state(a, "KILL_CLIENT", "42704");
	/* The database is not paused by KILL_CLIENT. */
	PGconn *again = app_conn("app");
	run_ok(again, "SELECT 'new'", v, sizeof(v));
	assert_string_equal(v, "new");
	PQfinish(again);

	/* A waiting client killed by id: the wait ended by an admin kill.
	 * (It logs in first: a new application_name borrows a server once.) */
	PGconn *w = connect_ok(&g_proc, "app", "app-pw", "app", "application_name=waiter");
	exec_ok(bystander, "BEGIN");
	exec_ok(bystander, "SELECT 1");
	assert_int_equal(PQsendQuery(w, "SELECT 'waiting'"), 1);
	if (!wait_pool_ge(a, "app", "cl_waiting", 1, 5))
		fail_msg("the client never queued");
	snprintf(sql, sizeof(sql), "KILL_CLIENT %lld", client_id(a, "waiter"));
	exec_ok(a, sql);
	expect_async_error(w, "57P01", "KILL_CLIENT of a waiting client");
	exec_ok(bystander, "COMMIT");
	deadline = now_seconds() + 3;
	while (show_num(a, "SHOW POOLS", "database", "app", "cl_waiting") > 0 && now_seconds() < deadline)
		usleep(20000);
	PGresult *p = show(a, "SHOW POOLS");
	int killed = (int)res_num(p, "database", "app", "wait_killed");
	int abandoned = (int)res_num(p, "database", "app", "wait_abandoned");
	PQclear(p);
	PQfinish(w);
	PQfinish(bystander);
	PQfinish(victim);
	PQfinish(a);
	stop_ok();
	if (killed != 1 || abandoned != 0)
		fail_msg("KILL_CLIENT of a waiting client counted as wait_killed %d, wait_abandoned %d "
			 "(expected 1 and 0, as KILL counts it)",
			 killed, abandoned);
}

/* SHOW CLIENTS / SHOW SERVERS for linked, waiting and idle connections. */
static void test_show_clients_servers(void **state)
{
	(void)state;
	pgtide_start(&g_proc, "default_pool_size = 1\nlisten_addr = 127.0.0.1,127.0.0.2\n", NULL);
	PGconn *a = admin_conn("pgtide");
	/* Connected to 127.0.0.2: the kernel picks 127.0.0.1 as the source. */
	PGconn *c1 = connect_ok(&g_proc, "app", "app-pw", "app", "host=127.0.0.2 application_name=first");
	PGconn *c2 = connect_ok(&g_proc, "app", "app-pw", "app", "application_name=second");
	char pid[32];
	exec_ok(c1, "BEGIN");
	run_ok(c1, "SELECT pg_backend_pid()", pid, sizeof(pid));
	assert_int_equal(PQsendQuery(c2, "SELECT 'second'"), 1);
	if (!wait_pool_ge(a, "app", "cl_waiting", 1, 5))
		fail_msg("the second client never queued");
	usleep(300000);
	PGresult *cl = show(a, "SHOW CLIENTS");
	PGresult *sv = show(a, "SHOW SERVERS");
	assert_int_equal(PQntuples(cl), 2);
	assert_int_equal(PQntuples(sv), 1);
	int r1 = row_of(cl, "application_name", "first"), r2 = row_of(cl, "application_name", "second");
	assert_true(r1 >= 0 && r2 >= 0);
	assert_string_equal(PQgetvalue(cl, r1, col_of(cl, "state")), "active");
	assert_string_equal(PQgetvalue(cl, r2, col_of(cl, "state")), "waiting");
	double waited = atof(PQgetvalue(cl, r2, col_of(cl, "wait"))) * 1e6 + atof(PQgetvalue(cl, r2, col_of(cl, "wait_us")));
	if (waited < 200e3 || waited > 10e6)
		fail_msg("the waiting client shows wait %.0f us after waiting >= 0.3 s", waited);
	assert_int_equal(atoi(PQgetvalue(cl, r1, col_of(cl, "wait"))) + atoi(PQgetvalue(cl, r1, col_of(cl, "wait_us"))), 0);
	assert_string_equal(PQgetvalue(cl, r2, col_of(cl, "link")), "");
	assert_string_equal(PQgetvalue(sv, 0, col_of(sv, "state")), "active");
	assert_string_equal(PQgetvalue(sv, 0, col_of(sv, "remote_pid")), pid);
	/* link: each side names the other's ptr. */
	assert_string_equal(PQgetvalue(cl, r1, col_of(cl, "link")), PQgetvalue(sv, 0, col_of(sv, "ptr")));
	assert_string_equal(PQgetvalue(sv, 0, col_of(sv, "link")), PQgetvalue(cl, r1, col_of(cl, "ptr")));
	assert_int_equal(atoi(PQgetvalue(cl, r1, col_of(cl, "local_port"))), g_proc.port);
	assert_string_equal(PQgetvalue(cl, r1, col_of(cl, "addr")), "127.0.0.1");
	char local_addr[64];
	snprintf(local_addr, sizeof(local_addr), "%s", PQgetvalue(cl, r1, col_of(cl, "local_addr")));
	PQclear(cl);
	PQclear(sv);
	exec_ok(c1, "COMMIT");
	PGresult *r = NULL;
	if (!wait_result(c2, 5, &r) || PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("the waiting client was not served after COMMIT");
	PQclear(r);
	drain(c2);
	cl = show(a, "SHOW CLIENTS");
	for (int i = 0; i < PQntuples(cl); i++) {
		assert_string_equal(PQgetvalue(cl, i, col_of(cl, "state")), "idle");
		assert_string_equal(PQgetvalue(cl, i, col_of(cl, "link")), "");
	}
	PQclear(cl);
	sv = show(a, "SHOW SERVERS");
	assert_string_equal(PQgetvalue(sv, 0, col_of(sv, "state")), "idle");
	PQclear(sv);
	PQfinish(c2);
	PQfinish(c1);
	PQfinish(a);
	stop_ok();
	if (strcmp(local_addr, "127.0.0.2") != 0)
		fail_msg("SHOW CLIENTS local_addr is '%s' for a client connected to 127.0.0.2 from 127.0.0.1", local_addr);
}

static void test_disable_enable(void **state)
{
	(void)state;
	char dbs[256];
	two_dbs(dbs, sizeof(dbs));
	/* trust: a raw login shows the SQLSTATE of the refusal. */
	pgtide_start(&g_proc, "auth_type = trust\n", dbs);
	PGconn *a = admin_conn("pgtide");
	PGconn *existing = app_conn("app");
	exec_ok(existing, "SELECT 1");
	PGresult *r = PQexec(a, "DISABLE app");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	assert_string_equal(PQcmdStatus(r), "DISABLE");
	PQclear(r);
	char st[16], msg[256], v[64];
	raw_login(g_proc.port, "app", "app", st, sizeof(st), msg, sizeof(msg));
	if (strcmp(st, "57P03") != 0)
		fail_msg("login to a disabled database: '%s' %s", st, msg);
	PGconn *c = pt_connect(&g_proc, "app", "", "app", NULL);
	assert_int_not_equal(PQstatus(c), CONNECTION_OK);
	if (!strstr(PQerrorMessage(c), "disabled"))
		fail_msg("login to a disabled database: %s", PQerrorMessage(c));
	PQfinish(c);
	/* Other databases and clients already logged in carry on. */
	raw_login(g_proc.port, "app", "postgres", st, sizeof(st), msg, sizeof(msg));
	assert_string_equal(st, "");
	run_ok(existing, "SELECT 'existing'", v, sizeof(v));
	assert_string_equal(v, "existing");
	int disabled_flag = (int)show_num(a, "SHOW DATABASES", "name", "app", "disabled");
	int other_flag = (int)show_num(a, "SHOW DATABASES", "name", "postgres", "disabled");
	r = PQexec(a, "ENABLE app");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	assert_string_equal(PQcmdStatus(r), "ENABLE");
	PQclear(r);
	raw_login(g_proc.port, "app", "app", st, sizeof(st), msg, sizeof(msg));
	assert_string_equal(st, "");
	c = app_conn("app");
	exec_ok(c, "SELECT 1");
	PQfinish(c);
	expect_state(a, "DISABLE adm_no_such_db", "3D000");
	expect_state(a, "ENABLE adm_no_such_db", "3D000");
	expect_state(a, "DISABLE", "42601");
	assert_int_equal((int)show_num(a, "SHOW DATABASES", "name", "app", "disabled"), 0);
	PQfinish(existing);
	PQfinish(a);
	stop_ok();
	if (disabled_flag != 1 || other_flag != 0)
		fail_msg("SHOW DATABASES disabled: app %d, postgres %d while app was disabled (expected 1 and 0)",
			 disabled_flag, other_flag);
}

static void test_set(void **state)
{
	(void)state;
	pgtide_start(&g_proc, "default_pool_size = 1\n", NULL);
	PGconn *a = admin_conn("pgtide");
	PGconn *c1 = app_conn("app"), *c2 = app_conn("app"), *c3 = app_conn("app");
	char p1[32], p2[32], p3[32], v[64];
	exec_ok(c1, "BEGIN");
	run_ok(c1, "SELECT pg_backend_pid()", p1, sizeof(p1));
	assert_int_equal(PQsendQuery(c2, "BEGIN; SELECT pg_backend_pid()"), 1);
	if (!wait_pool_ge(a, "app", "cl_waiting", 1, 5))
		fail_msg("the second client never queued on a pool of one");

	PGresult *r = PQexec(a, "SET default_pool_size = 3");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	assert_string_equal(PQcmdStatus(r), "SET");
	PQclear(r);
	show_text(a, "SHOW CONFIG", "key", "default_pool_size", "value", v, sizeof(v));
	assert_string_equal(v, "3");
	/* The waiting client gets a second server without anyone committing. */
	r = NULL;
	for (int i = 0; i < 2; i++) {
		PGresult *x = NULL;
		if (!wait_result(c2, 5, &x) || !x || PQresultStatus(x) == PGRES_FATAL_ERROR)
			fail_msg("the waiting client was not served after SET default_pool_size = 3");
		if (PQresultStatus(x) == PGRES_TUPLES_OK) {
			PQclear(r);
			r = x;
		} else {
			PQclear(x);
		}
	}
	assert_non_null(r);
	snprintf(p2, sizeof(p2), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	drain(c2);
	exec_ok(c3, "BEGIN");
	run_ok(c3, "SELECT pg_backend_pid()", p3, sizeof(p3));
	assert_true(strcmp(p1, p2) != 0 && strcmp(p1, p3) != 0 && strcmp(p2, p3) != 0);
	exec_ok(c1, "COMMIT");
	exec_ok(c2, "COMMIT");
	exec_ok(c3, "COMMIT");

	/* Settings that cannot change at run time, unknown ones, bad values. */
	expect_state(a, "SET listen_port = 7000", "22023");
	if (!strstr(PQerrorMessage(a), "listen_port"))
		fail_msg("error for listen_port: %s", PQerrorMessage(a));
	show_text(a, "SHOW CONFIG", "key", "listen_port", "value", v, sizeof(v));
	assert_int_equal(atoi(v), g_proc.port);
	expect_state(a, "SET workers = 3", "22023");
	expect_state(a, "SET no_such_setting = 1", "22023");
	expect_state(a, "SET default_pool_size = banana", "22023");
	expect_state(a, "SET default_pool_size = 0", "22023");
	expect_state(a, "SET default_pool_size", "42601");
	show_text(a, "SHOW CONFIG", "key", "default_pool_size", "value", v, sizeof(v));
	assert_string_equal(v, "3");
	/* Quoted values and the extended protocol. */
	exec_ok(a, "SET query_wait_timeout = '30'");
	show_text(a, "SHOW CONFIG", "key", "query_wait_timeout", "value", v, sizeof(v));
	assert_string_equal(v, "30");
	r = PQexecParams(a, "SET default_pool_size = 4", 0, NULL, NULL, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	show_text(a, "SHOW CONFIG", "key", "default_pool_size", "value", v, sizeof(v));
	assert_string_equal(v, "4");
	PQfinish(c3);
	PQfinish(c2);
	PQfinish(c1);
	PQfinish(a);
	stop_ok();
}

static bool wait_config(PGconn *a, const char *key, const char *want, double timeout_s)
{
	double deadline = now_seconds() + timeout_s;
	char v[128];
	do {
		show_text(a, "SHOW CONFIG", "key", key, "value", v, sizeof(v));
		if (strcmp(v, want) == 0)
			return true;
		usleep(20000);
	} while (now_seconds() < deadline);
	return false;
}

static void test_reload(void **state)
{
	(void)state;
	pgtide_start(&g_proc, "default_pool_size = 3\n", NULL);
	PGconn *a = admin_conn("pgbouncer");
	PGconn *c = app_conn("app");
	exec_ok(c, "SELECT 1");
	pgtide_rewrite_config(&g_proc, "default_pool_size = 6\n", NULL);
	PGresult *r = PQexec(a, "RELOAD");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	assert_string_equal(PQcmdStatus(r), "RELOAD");
	PQclear(r);
	if (!wait_config(a, "default_pool_size", "6", 3))
		fail_msg("RELOAD did not apply default_pool_size = 6");
	/* A value set with SET lasts until the next RELOAD reads the file. */
	exec_ok(a, "SET default_pool_size = 9");
	assert_true(wait_config(a, "default_pool_size", "9", 1));
	exec_ok(a, "RELOAD");
	if (!wait_config(a, "default_pool_size", "6", 3))
		fail_msg("RELOAD did not go back to the file's default_pool_size");
	/* Clients carry on across reloads. */
	char v[32];
	run_ok(c, "SELECT 2", v, sizeof(v));
	assert_string_equal(v, "2");
	PQfinish(c);
	PQfinish(a);
	stop_ok();
}

static void test_shutdown(void **state)
{
	(void)state;
	pgtide_start(&g_proc, NULL, NULL);
	PGconn *c = app_conn("app");
	exec_ok(c, "SELECT 1");
	PGconn *a = admin_conn("pgtide");
	PGresult *r = PQexec(a, "SHUTDOWN");
	/* The answer may or may not make it out before the process exits. */
	if (PQresultStatus(r) == PGRES_COMMAND_OK)
		assert_string_equal(PQcmdStatus(r), "SHUTDOWN");
	PQclear(r);
	siginfo_t si;
	bool exited = false;
	double deadline = now_seconds() + 10;
	while (!exited && now_seconds() < deadline) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)g_proc.pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == g_proc.pid)
			exited = true;
		else
			usleep(20000);
	}
	PQfinish(a);
	PQfinish(c);
	if (!exited)
		fail_msg("pgtide still runs 10 s after SHUTDOWN");
	stop_ok();
}

static int group_teardown(void **state)
{
	(void)state;
	if (g_bench_db[0]) {
		PGconn *d = pg_connect_direct("postgres");
		char sql[256];
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", g_bench_db);
		PQclear(PQexec(d, sql));
		PQfinish(d);
		snprintf(sql, sizeof(sql), "/tmp/%s-init.out", g_bench_db);
		unlink(sql);
		snprintf(sql, sizeof(sql), "/tmp/%s-run.out", g_bench_db);
		unlink(sql);
	}
	return 0;
}

/* Under AddressSanitizer: what a failed test leaves unfreed in this process
 * (libpq connections and results skipped by a failure) is not pgtide's. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libpq.so\n";
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	/* PGTIDE_TEST_FILTER=test_kill* runs only the matching tests. */
	if (getenv("PGTIDE_TEST_FILTER"))
		cmocka_set_test_filter(getenv("PGTIDE_TEST_FILTER"));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_show_commands, teardown_proc),
		cmocka_unit_test_teardown(test_exact_counting, teardown_proc),
		cmocka_unit_test_teardown(test_wait_time_and_utilization, teardown_proc),
		cmocka_unit_test_teardown(test_wait_timeout_counted, teardown_proc),
		cmocka_unit_test_teardown(test_wait_causes, teardown_proc),
		cmocka_unit_test_teardown(test_access_control, teardown_proc),
		cmocka_unit_test_teardown(test_pause_resume_under_pgbench, teardown_proc),
		cmocka_unit_test_teardown(test_pause_database, teardown_proc),
		cmocka_unit_test_teardown(test_reconnect_wait_close, teardown_proc),
		cmocka_unit_test_teardown(test_kill, teardown_proc),
		cmocka_unit_test_teardown(test_kill_client, teardown_proc),
		cmocka_unit_test_teardown(test_show_clients_servers, teardown_proc),
		cmocka_unit_test_teardown(test_disable_enable, teardown_proc),
		cmocka_unit_test_teardown(test_set, teardown_proc),
		cmocka_unit_test_teardown(test_reload, teardown_proc),
		cmocka_unit_test_teardown(test_shutdown, teardown_proc),
	};
	return cmocka_run_group_tests(tests, NULL, group_teardown);
}

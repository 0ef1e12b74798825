/*
 * test_pooling.c - transaction pooling under load and at its edges: many
 * clients on few servers, session parameters that follow the client, clients
 * and backends that die mid-transaction, max_client_conn, query_wait_timeout,
 * cancel requests (running and queued), COPY both ways, pipeline mode and
 * large results.
 *
 * Every test starts its own pgtide (different pool sizes and limits) and
 * uses a database of its own (pt_pool_<pid>), so that the server connection
 * counts read from pg_stat_activity are not disturbed by other tests that
 * share the cluster.
 *
 * Threads never call cmocka assertions: they record what they saw and the
 * main thread checks it after joining them.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

/* The test's own database, created in the group setup. */
static char g_db[64];
/* The pgtide of the running test; stopped by the teardown if a test failed
 * before it could stop it itself. */
static pgtide_proc_t g_proc;

/* ---- helpers ---- */

/* Connections opened by the main thread, so that the teardown of a failed
 * test can close what the test left open (keeps sanitizer output about the
 * failure, not about the test's own leaks). Worker threads do not use it. */
#define MAX_TRACKED 64
static PGconn *g_conns[MAX_TRACKED];
static void *g_big_buffer;

static PGconn *track(PGconn *c)
{
	for (int i = 0; i < MAX_TRACKED; i++) {
		if (!g_conns[i]) {
			g_conns[i] = c;
			break;
		}
	}
	return c;
}

static void pt_finish(PGconn *c)
{
	for (int i = 0; i < MAX_TRACKED; i++) {
		if (g_conns[i] == c)
			g_conns[i] = NULL;
	}
	PQfinish(c);
}

static void finish_all(void)
{
	for (int i = 0; i < MAX_TRACKED; i++) {
		if (g_conns[i]) {
			PQfinish(g_conns[i]);
			g_conns[i] = NULL;
		}
	}
	free(g_big_buffer);
	g_big_buffer = NULL;
}

/* Direct connection to the cluster (main thread). */
static PGconn *direct(const char *db)
{
	return track(pg_connect_direct(db));
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			fprintf(stderr, "test_pooling: setrlimit(NOFILE): %s\n", strerror(errno));
	}
}

static void start_proc(const char *settings)
{
	pgtide_start(&g_proc, settings, NULL);
}

/* Stops the test's pgtide and requires a clean exit (ASan reports make it
 * non-zero in sanitizer builds). */
static void stop_proc(void)
{
	int rc = pgtide_stop(&g_proc);
	g_proc.pid = 0;
	assert_int_equal(rc, 0);
}

static void busy_stop_if_running(void);

static int teardown_proc(void **state)
{
	(void)state;
	busy_stop_if_running();
	finish_all();
	if (g_proc.pid > 0) {
		fprintf(stderr, "test_pooling: stopping pgtide left by a failed test (log in %s)\n", g_proc.log_path);
		setenv("PGTIDE_KEEP_TEST_DIR", "1", 1);
		(void)pgtide_stop(&g_proc);
		unsetenv("PGTIDE_KEEP_TEST_DIR");
		g_proc.pid = 0;
	}
	return 0;
}

/* A client of the test database through pgtide (thread-safe). */
static PGconn *db_connect(const char *extra)
{
	return pt_connect(&g_proc, "app", "app-pw", g_db, extra);
}

static PGconn *db_connect_ok(const char *extra)
{
	PGconn *c = track(db_connect(extra));
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect to pgtide (db %s, %s) failed: %s", g_db, extra ? extra : "no extra",
			 PQerrorMessage(c));
	return c;
}

/* Runs sql and returns the first value (static buffer; main thread only).
 * Fails the test on an error. */
static const char *qv(PGconn *c, const char *sql)
{
	static char value[4096];
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) : PQerrorMessage(c));
		PQclear(r);
		fail_msg("query \"%.200s\" failed: %s", sql, msg);
	}
	value[0] = '\0';
	if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQnfields(r) > 0)
		snprintf(value, sizeof(value), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return value;
}

static void expect_q(PGconn *c, const char *sql, const char *want)
{
	const char *got = qv(c, sql);
	if (strcmp(got, want) != 0)
		fail_msg("query \"%.200s\": expected \"%s\", got \"%s\"", sql, want, got);
}

/* Thread-safe: runs sql; on success copies the first value into out (or "")
 * and returns true; on failure writes the error into out. */
static bool q1(PGconn *c, const char *sql, char *out, size_t cap)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	bool ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
	if (!ok) {
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		snprintf(out, cap, "[%s] %s: %s", state ? state : "?", sql, PQerrorMessage(c));
	} else if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQnfields(r) > 0) {
		snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
	} else {
		out[0] = '\0';
	}
	PQclear(r);
	return ok;
}

/* Number of server connections of user app to the test database, seen by
 * the cluster itself. */
static int server_conn_count(PGconn *direct)
{
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' AND datname = '%s'", g_db);
	PGresult *r = PQexec(direct, sql);
	int n = -1;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		n = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return n;
}

/* Waits until the count of server connections is at most `want`. */
static int wait_server_conns_at_most(PGconn *direct, int want, double timeout_s)
{
	double deadline = now_seconds() + timeout_s;
	int n;
	while ((n = server_conn_count(direct)) > want && now_seconds() < deadline)
		usleep(20000);
	return n;
}

/* Waits until a backend of the test database runs a query like `pattern`. */
static bool wait_active_query(PGconn *direct, const char *pattern, double timeout_s)
{
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND state = 'active' "
		 "AND query LIKE '%s'",
		 g_db, pattern);
	double deadline = now_seconds() + timeout_s;
	while (now_seconds() < deadline) {
		PGresult *r = PQexec(direct, sql);
		bool found = PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) > 0;
		PQclear(r);
		if (found)
			return true;
		usleep(20000);
	}
	return false;
}

/* Waits up to timeout_s for c's next result. Returns false on timeout;
 * *out is NULL when the current query has no more results. */
static bool next_result(PGconn *c, double timeout_s, PGresult **out)
{
	double deadline = now_seconds() + timeout_s;
	*out = NULL;
	while (PQisBusy(c)) {
		int left = (int)((deadline - now_seconds()) * 1000);
		if (left <= 0)
			return false;
		struct pollfd pfd = { .fd = PQsocket(c), .events = POLLIN };
		int rc = poll(&pfd, 1, left);
		if (rc < 0 && errno != EINTR)
			return false;
		if (!PQconsumeInput(c))
			break; /* broken connection: PQgetResult reports it */
	}
	*out = PQgetResult(c);
	return true;
}

/* Reads results until the end of the query; false on timeout. */
static bool drain_results(PGconn *c, double timeout_s)
{
	PGresult *r;
	for (;;) {
		if (!next_result(c, timeout_s, &r))
			return false;
		if (!r)
			return true;
		PQclear(r);
	}
}

static const char *sqlstate_of(const PGresult *r)
{
	const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	return s ? s : "";
}

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 1024 * 1024);
	pthread_t th;
	int rc = pthread_create(&th, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		fail_msg("pthread_create: %s", strerror(rc));
	return th;
}

/* ---- a background client that keeps running small transactions ---- */

typedef struct busy_client {
	atomic_bool stop;
	atomic_int ok;  /* transactions that worked */
	atomic_int failed;
	char err[512];
	pthread_t th;
} busy_client_t;

static void *busy_thread(void *arg)
{
	busy_client_t *b = arg;
	PGconn *c = db_connect(NULL);
	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(b->err, sizeof(b->err), "connect: %s", PQerrorMessage(c));
		b->failed++;
		PQfinish(c);
		return NULL;
	}
	char v[512];
	for (int i = 0; !atomic_load(&b->stop); i++) {
		char sql[128];
		snprintf(sql, sizeof(sql), "SELECT %d + 1", i);
		char want[32];
		snprintf(want, sizeof(want), "%d", i + 1);
		bool ok = q1(c, "BEGIN", v, sizeof(v)) && q1(c, sql, v, sizeof(v)) && strcmp(v, want) == 0;
		if (ok && !q1(c, "COMMIT", v, sizeof(v)))
			ok = false;
		if (ok) {
			b->ok++;
		} else {
			b->failed++;
			if (!b->err[0])
				snprintf(b->err, sizeof(b->err), "iteration %d: %.400s (want %s)", i, v, want);
			if (PQstatus(c) != CONNECTION_OK)
				break;
			PGresult *r = PQexec(c, "ROLLBACK");
			PQclear(r);
		}
		usleep(2000);
	}
	PQfinish(c);
	return NULL;
}

/* The test's background client (one at a time); global so that the
 * teardown of a failed test can stop it. */
static busy_client_t g_busy;
static bool g_busy_running;

static void busy_start(busy_client_t *b)
{
	memset(b, 0, sizeof(*b));
	g_busy_running = true;
	atomic_init(&b->stop, false);
	atomic_init(&b->ok, 0);
	atomic_init(&b->failed, 0);
	b->th = spawn(busy_thread, b);
}

/* Stops the client (once it got at least min_ok transactions done, or
 * after 10 s) and requires that all its transactions worked. */
static void busy_finish(busy_client_t *b, int min_ok)
{
	double deadline = now_seconds() + 10;
	while (atomic_load(&b->ok) < min_ok && atomic_load(&b->failed) == 0 && now_seconds() < deadline)
		usleep(10000);
	atomic_store(&b->stop, true);
	pthread_join(b->th, NULL);
	g_busy_running = false;
	if (b->failed)
		fail_msg("background client: %d of %d transactions failed, first: %s", atomic_load(&b->failed),
			 atomic_load(&b->ok) + atomic_load(&b->failed), b->err);
	if (atomic_load(&b->ok) < min_ok)
		fail_msg("background client got only %d transactions done (want >= %d)", atomic_load(&b->ok), min_ok);
}

static void busy_stop_if_running(void)
{
	if (g_busy_running) {
		atomic_store(&g_busy.stop, true);
		pthread_join(g_busy.th, NULL);
		g_busy_running = false;
	}
}

/* ---- group setup: a database of our own ---- */

static int group_setup(void **state)
{
	(void)state;
	raise_nofile();
	snprintf(g_db, sizeof(g_db), "pt_pool_%d", (int)getpid());
	return pt_create_database(g_db, "CREATE TABLE kill_t (id int);"
					 "CREATE TABLE copy_t (id int, payload text);"
					 "ALTER TABLE kill_t OWNER TO app; ALTER TABLE copy_t OWNER TO app;")
		       ? 0
		       : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	pt_drop_database(g_db);
	return 0;
}

/* ================================================================== */
/* 500 clients, 5 servers                                              */
/* ================================================================== */

#define MC_CLIENTS 500
#define MC_TX 20
#define MC_POOL 5

typedef struct mc_client {
	int id;
	int done_tx;
	int pids[MC_TX];
	char err[512];
} mc_client_t;

static pthread_barrier_t mc_connected, mc_go;

static bool mc_fail(mc_client_t *m, const char *what, PGconn *c, PGresult *r)
{
	if (!m->err[0])
		snprintf(m->err, sizeof(m->err), "client %d tx %d: %s: %s", m->id, m->done_tx, what,
			 r && PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) : PQerrorMessage(c));
	PQclear(r);
	return false;
}

static bool mc_command(mc_client_t *m, PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		return mc_fail(m, sql, c, r);
	PQclear(r);
	return true;
}

/* One transaction that must only ever see the client's own values, all on
 * one backend. */
static bool mc_transaction(mc_client_t *m, PGconn *c, int t)
{
	char sql[256], want[64], idstr[16];
	snprintf(idstr, sizeof(idstr), "%d", m->id);
	snprintf(want, sizeof(want), "%d-%d", m->id, t);
	if (!mc_command(m, c, "BEGIN"))
		return false;

	snprintf(sql, sizeof(sql), "SELECT %d, pg_backend_pid()", m->id);
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		return mc_fail(m, sql, c, r);
	if (strcmp(PQgetvalue(r, 0, 0), idstr) != 0) {
		snprintf(m->err, sizeof(m->err), "client %d saw id %s", m->id, PQgetvalue(r, 0, 0));
		PQclear(r);
		return false;
	}
	int pid = atoi(PQgetvalue(r, 0, 1));
	PQclear(r);

	/* Half simple, half extended protocol. */
	if (t % 2) {
		const char *params[] = { want };
		r = PQexecParams(c, "SELECT set_config('app.me', $1, true)", 1, NULL, params, NULL, NULL, 0);
	} else {
		snprintf(sql, sizeof(sql), "SELECT set_config('app.me', '%s', true)", want);
		r = PQexec(c, sql);
	}
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		return mc_fail(m, "set_config", c, r);
	if (strcmp(PQgetvalue(r, 0, 0), want) != 0) {
		snprintf(m->err, sizeof(m->err), "client %d: set_config returned %s, want %s", m->id,
			 PQgetvalue(r, 0, 0), want);
		PQclear(r);
		return false;
	}
	PQclear(r);

	r = PQexec(c, "SELECT current_setting('app.me'), pg_backend_pid()");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		return mc_fail(m, "current_setting", c, r);
	if (strcmp(PQgetvalue(r, 0, 0), want) != 0 || atoi(PQgetvalue(r, 0, 1)) != pid) {
		snprintf(m->err, sizeof(m->err),
			 "client %d tx %d: saw app.me=%s on backend %s, expected its own %s on backend %d", m->id, t,
			 PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), want, pid);
		PQclear(r);
		return false;
	}
	PQclear(r);
	if (!mc_command(m, c, "COMMIT"))
		return false;
	m->pids[t] = pid;

	if (t % 4 == 3) {
		/* Outside a transaction no transaction-local value survives. */
		r = PQexec(c, "SELECT coalesce(current_setting('app.me', true), '')");
		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
			return mc_fail(m, "current_setting after commit", c, r);
		if (PQgetvalue(r, 0, 0)[0] != '\0') {
			snprintf(m->err, sizeof(m->err), "client %d: app.me leaked out of a transaction: \"%s\"", m->id,
				 PQgetvalue(r, 0, 0));
			PQclear(r);
			return false;
		}
		PQclear(r);
	}
	return true;
}

static void *mc_thread(void *arg)
{
	mc_client_t *m = arg;
	PGconn *c = db_connect(NULL);
	bool ok = PQstatus(c) == CONNECTION_OK;
	if (!ok)
		snprintf(m->err, sizeof(m->err), "client %d: connect: %s", m->id, PQerrorMessage(c));
	pthread_barrier_wait(&mc_connected);
	pthread_barrier_wait(&mc_go);
	for (int t = 0; ok && t < MC_TX; t++) {
		ok = mc_transaction(m, c, t);
		if (ok)
			m->done_tx++;
	}
	PQfinish(c);
	return NULL;
}

typedef struct monitor {
	atomic_bool stop;
	int max;
	int samples;
	int errors;
} monitor_t;

static void *monitor_thread(void *arg)
{
	monitor_t *mo = arg;
	PGconn *d = pg_connect_direct(g_db);
	while (!atomic_load(&mo->stop)) {
		int n = server_conn_count(d);
		if (n < 0) {
			mo->errors++;
		} else {
			mo->samples++;
			if (n > mo->max)
				mo->max = n;
		}
		usleep(5000);
	}
	PQfinish(d);
	return NULL;
}

static void test_many_clients_few_servers(void **state)
{
	(void)state;
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < MC_CLIENTS + 100)
		fail_msg("RLIMIT_NOFILE is %llu: too low for %d clients", (unsigned long long)rl.rlim_cur, MC_CLIENTS);
	start_proc("pool_mode = transaction\n"
		   "default_pool_size = 5\n"
		   "max_client_conn = 1000\n"
		   "listen_backlog = 1024\n");

	monitor_t mo;
	memset(&mo, 0, sizeof(mo));
	atomic_init(&mo.stop, false);
	pthread_t mon = spawn(monitor_thread, &mo);

	static mc_client_t clients[MC_CLIENTS];
	static pthread_t threads[MC_CLIENTS];
	memset(clients, 0, sizeof(clients));
	pthread_barrier_init(&mc_connected, NULL, MC_CLIENTS + 1);
	pthread_barrier_init(&mc_go, NULL, MC_CLIENTS + 1);
	double t0 = now_seconds();
	for (int i = 0; i < MC_CLIENTS; i++) {
		clients[i].id = 1000 + i;
		threads[i] = spawn(mc_thread, &clients[i]);
	}
	pthread_barrier_wait(&mc_connected);
	double t_connected = now_seconds();
	/* Everyone is logged in and idle: pgtide must see them all. */
	PGconn *admin = track(pt_connect(&g_proc, "admin", "admin-pw", "pgbouncer", NULL));
	char cl_active[64] = "(admin console failed)";
	if (PQstatus(admin) == CONNECTION_OK) {
		const char *v = pt_show_value(admin, "SHOW POOLS", "database", g_db, "cl_active");
		snprintf(cl_active, sizeof(cl_active), "%s", v ? v : "(no pool row)");
	}
	pthread_barrier_wait(&mc_go);
	double t_go = now_seconds();
	for (int i = 0; i < MC_CLIENTS; i++)
		pthread_join(threads[i], NULL);
	double t_end = now_seconds();
	atomic_store(&mo.stop, true);
	pthread_join(mon, NULL);
	pthread_barrier_destroy(&mc_connected);
	pthread_barrier_destroy(&mc_go);

	/* Pool counters after the run. */
	char sv_total[128] = "";
	int sv_sum = -1;
	if (PQstatus(admin) == CONNECTION_OK) {
		sv_sum = 0;
		const char *cols[] = { "sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login" };
		for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
			const char *v = pt_show_value(admin, "SHOW POOLS", "database", g_db, cols[i]);
			sv_sum += v ? atoi(v) : 0;
		}
		snprintf(sv_total, sizeof(sv_total), "%d", sv_sum);
	}
	pt_finish(admin);

	int failed = 0, total_tx = 0;
	const char *first_err = NULL;
	int distinct[64], ndistinct = 0;
	for (int i = 0; i < MC_CLIENTS; i++) {
		total_tx += clients[i].done_tx;
		if (clients[i].done_tx != MC_TX || clients[i].err[0]) {
			failed++;
			if (!first_err)
				first_err = clients[i].err;
		}
		for (int t = 0; t < clients[i].done_tx; t++) {
			int j;
			for (j = 0; j < ndistinct && distinct[j] != clients[i].pids[t]; j++)
				;
			if (j == ndistinct && ndistinct < 64)
				distinct[ndistinct++] = clients[i].pids[t];
		}
	}
	fprintf(stderr,
		"test_pooling: %d clients connected in %.2fs, %d transactions in %.2fs; max server conns %d "
		"(%d samples); %d distinct backends; cl_active at the barrier %s; servers after %s\n",
		MC_CLIENTS, t_connected - t0, total_tx, t_end - t_go, mo.max, mo.samples, ndistinct, cl_active,
		sv_total);
	char expect_active[16];
	snprintf(expect_active, sizeof(expect_active), "%d", MC_CLIENTS);
	if (failed)
		fail_msg("%d of %d clients failed; first: %s", failed, MC_CLIENTS, first_err ? first_err : "?");
	assert_int_equal(total_tx, MC_CLIENTS * MC_TX);
	if (mo.max > MC_POOL)
		fail_msg("the cluster saw %d server connections for the pool (default_pool_size = %d)", mo.max, MC_POOL);
	assert_true(mo.max >= 1);
	assert_true(mo.samples >= 3);
	assert_int_equal(mo.errors, 0);
	assert_string_equal(cl_active, expect_active);
	assert_true(sv_sum >= 1 && sv_sum <= MC_POOL);
	stop_proc();
}

/* ================================================================== */
/* Session parameters follow the client                                */
/* ================================================================== */

static void test_session_params_follow_client(void **state)
{
	(void)state;
	start_proc("pool_mode = transaction\ndefault_pool_size = 1\n");
	PGconn *a = db_connect_ok("options='-c DateStyle=SQL,DMY' application_name=aaa");
	PGconn *b = db_connect_ok(NULL);

	assert_string_equal(PQparameterStatus(a, "DateStyle"), "SQL, DMY");
	assert_string_equal(PQparameterStatus(a, "application_name"), "aaa");
	assert_string_equal(PQparameterStatus(b, "DateStyle"), "ISO, MDY");
	const char *b_app = PQparameterStatus(b, "application_name");
	assert_true(b_app == NULL || strcmp(b_app, "") == 0);

	/* One server serves both, in turns: each sees its own settings. */
	char pid_a[32];
	snprintf(pid_a, sizeof(pid_a), "%s", qv(a, "SELECT pg_backend_pid()"));
	expect_q(b, "SELECT pg_backend_pid()", pid_a);
	for (int i = 0; i < 5; i++) {
		expect_q(a, "SHOW DateStyle", "SQL, DMY");
		expect_q(b, "SHOW DateStyle", "ISO, MDY");
		expect_q(a, "SHOW application_name", "aaa");
		expect_q(b, "SHOW application_name", "");
		expect_q(a, "SELECT '2024-03-01'::date::text", "01/03/2024");
		expect_q(b, "SELECT '2024-03-01'::date::text", "2024-03-01");
		/* Inside a transaction too, interleaved with the other. */
		qv(a, "BEGIN");
		expect_q(a, "SHOW DateStyle", "SQL, DMY");
		qv(a, "COMMIT");
		qv(b, "BEGIN");
		expect_q(b, "SHOW application_name", "");
		qv(b, "COMMIT");
	}

	/* A client's own SET outside a transaction stays its own. */
	qv(a, "SET application_name = 'aaa2'");
	assert_string_equal(PQparameterStatus(a, "application_name"), "aaa2");
	expect_q(b, "SHOW application_name", "");
	expect_q(a, "SHOW application_name", "aaa2");
	qv(b, "SET DateStyle = 'Postgres, YMD'");
	expect_q(a, "SHOW DateStyle", "SQL, DMY");
	expect_q(b, "SHOW DateStyle", "Postgres, YMD");
	/* SET LOCAL ends with its transaction. */
	qv(b, "BEGIN");
	qv(b, "SET LOCAL DateStyle = 'ISO, DMY'");
	expect_q(b, "SHOW DateStyle", "ISO, DMY");
	qv(b, "COMMIT");
	expect_q(a, "SHOW DateStyle", "SQL, DMY");
	expect_q(b, "SHOW DateStyle", "Postgres, YMD");
	assert_string_equal(PQparameterStatus(b, "DateStyle"), "Postgres, YMD");
	/* A SET rolled back is undone for the client as well. */
	qv(a, "BEGIN");
	qv(a, "SET application_name = 'rolled-back'");
	qv(a, "ROLLBACK");
	expect_q(b, "SHOW application_name", "");
	expect_q(a, "SHOW application_name", "aaa2");
	assert_string_equal(PQparameterStatus(a, "application_name"), "aaa2");
	expect_q(b, "SELECT pg_backend_pid()", pid_a);

	/* client_encoding as the client spells it comes back normalised:
	 * first through a server (login sync), then from pgtide's cache. */
	for (int i = 0; i < 2; i++) {
		PGconn *u = db_connect_ok("client_encoding=utf-8");
		assert_string_equal(PQparameterStatus(u, "client_encoding"), "UTF8");
		expect_q(u, "SHOW client_encoding", "UTF8");
		/* U+00E9 as UTF-8 */
		expect_q(u, "SELECT '\xc3\xa9' = chr(233)", "t");
		pt_finish(u);
	}
	setenv("PGCLIENTENCODING", "utf-8", 1);
	PGconn *e = db_connect_ok(NULL);
	unsetenv("PGCLIENTENCODING");
	assert_string_equal(PQparameterStatus(e, "client_encoding"), "UTF8");
	expect_q(e, "SHOW client_encoding", "UTF8");

	PGconn *l = db_connect_ok("client_encoding=latin1");
	assert_string_equal(PQparameterStatus(l, "client_encoding"), "LATIN1");
	expect_q(l, "SHOW client_encoding", "LATIN1");
	/* U+00E9 as LATIN1: a lone byte 0xE9 the server must convert. */
	expect_q(l, "SELECT '\xe9' = chr(233)", "t");
	expect_q(e, "SHOW client_encoding", "UTF8");
	expect_q(b, "SHOW client_encoding", "UTF8");
	expect_q(l, "SELECT length('\xe9\xe9')", "2");

	/* Startup parameters PostgreSQL does not report (statement_timeout,
	 * search_path) follow the client as well. */
	PGconn *x = db_connect_ok("options='-c statement_timeout=4321 -c search_path=pg_catalog'");
	for (int i = 0; i < 3; i++) {
		expect_q(x, "SHOW statement_timeout", "4321ms");
		expect_q(b, "SHOW statement_timeout", "0");
		expect_q(x, "SHOW search_path", "pg_catalog");
		expect_q(a, "SHOW search_path", "\"$user\", public");
		expect_q(x, "SHOW DateStyle", "ISO, MDY");
		expect_q(a, "SHOW DateStyle", "SQL, DMY");
	}
	expect_q(x, "SELECT pg_backend_pid()", pid_a);
	pt_finish(x);
	pt_finish(l);
	pt_finish(e);
	pt_finish(a);
	pt_finish(b);
	stop_proc();
}

/* ================================================================== */
/* A client dies in the middle of a transaction                        */
/* ================================================================== */

/* Closes the client's socket with a RST, without a Terminate message. */
static void kill_client_socket(PGconn *c)
{
	int fd = PQsocket(c);
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	int devnull = open("/dev/null", O_WRONLY);
	assert_true(devnull >= 0);
	/* Atomically replaces (and so closes) the socket: libpq's Terminate
	 * goes to /dev/null. */
	assert_true(dup2(devnull, fd) == fd);
	close(devnull);
	pt_finish(c);
}

static void check_clean_next_client(PGconn *direct, const char *label)
{
	PGconn *b = db_connect_ok(NULL);
	PGresult *r = PQexec(b, "SELECT txid_current_if_assigned() IS NULL, now() = statement_timestamp(), "
				"(SELECT count(*) FROM kill_t)");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		fail_msg("%s: next client's query failed: %s", label, PQerrorMessage(b));
	}
	char no_xid[8], fresh[8], rows[32];
	snprintf(no_xid, sizeof(no_xid), "%s", PQgetvalue(r, 0, 0));
	snprintf(fresh, sizeof(fresh), "%s", PQgetvalue(r, 0, 1));
	snprintf(rows, sizeof(rows), "%s", PQgetvalue(r, 0, 2));
	PQclear(r);
	if (strcmp(no_xid, "t") != 0 || strcmp(fresh, "t") != 0)
		fail_msg("%s: next client is inside someone's transaction (no xid: %s, fresh tx: %s)", label, no_xid,
			 fresh);
	if (strcmp(rows, "0") != 0)
		fail_msg("%s: the killed client's uncommitted rows are visible: %s", label, rows);
	qv(b, "BEGIN");
	expect_q(b, "SELECT txid_current_if_assigned() IS NULL", "t");
	expect_q(b, "SELECT count(*) FROM kill_t", "0");
	qv(b, "COMMIT");
	assert_int_equal(PQtransactionStatus(b), PQTRANS_IDLE);
	pt_finish(b);
	(void)direct;
}

static void test_client_killed_mid_transaction(void **state)
{
	(void)state;
	start_proc("pool_mode = transaction\ndefault_pool_size = 1\n");
	PGconn *d = direct(g_db);
	qv(d, "TRUNCATE kill_t");

	/* Idle in transaction, then the socket is reset. */
	PGconn *a = db_connect_ok(NULL);
	qv(a, "BEGIN");
	qv(a, "INSERT INTO kill_t VALUES (1)");
	expect_q(a, "SELECT txid_current_if_assigned() IS NOT NULL", "t");
	assert_int_equal(server_conn_count(d), 1);
	kill_client_socket(a);
	check_clean_next_client(d, "after a reset mid-transaction");
	assert_int_equal(server_conn_count(d), 1);

	/* Same with a FIN (shutdown) and two writes in the transaction. */
	a = db_connect_ok(NULL);
	qv(a, "BEGIN");
	qv(a, "INSERT INTO kill_t VALUES (2)");
	qv(a, "INSERT INTO kill_t VALUES (3)");
	shutdown(PQsocket(a), SHUT_RDWR);
	pt_finish(a);
	check_clean_next_client(d, "after a close mid-transaction");
	assert_int_equal(server_conn_count(d), 1);

	/* Killed while a statement of the transaction is still running: the
	 * server is busy, pgtide may drop it; the next client must still get a
	 * clean one, and the pool goes back to one connection. */
	a = db_connect_ok(NULL);
	qv(a, "BEGIN");
	qv(a, "INSERT INTO kill_t VALUES (4)");
	assert_int_equal(PQsendQuery(a, "SELECT pg_sleep(0.5)"), 1);
	assert_true(wait_active_query(d, "SELECT pg_sleep(0.5)%", 5));
	shutdown(PQsocket(a), SHUT_RDWR);
	pt_finish(a);
	check_clean_next_client(d, "after a close during a running statement");
	int n = wait_server_conns_at_most(d, 1, 10);
	if (n != 1)
		fail_msg("%d server connections 10 s after the killed client (pool size 1)", n);
	expect_q(d, "SELECT count(*) FROM kill_t", "0");

	/* Killed while the server streams a large result it never reads. */
	a = db_connect_ok(NULL);
	qv(a, "BEGIN");
	qv(a, "INSERT INTO kill_t VALUES (5)");
	assert_int_equal(PQsendQuery(a, "SELECT repeat('z', 1000) FROM generate_series(1, 50000)"), 1);
	usleep(300000);
	kill_client_socket(a);
	check_clean_next_client(d, "after a reset during a large result");
	n = wait_server_conns_at_most(d, 1, 10);
	if (n != 1)
		fail_msg("%d server connections 10 s after the killed client (pool size 1)", n);
	expect_q(d, "SELECT count(*) FROM kill_t", "0");
	pt_finish(d);
	stop_proc();
}

/* Killed in the middle of a COPY FROM STDIN inside a transaction. */
static void test_client_killed_mid_copy(void **state)
{
	(void)state;
	start_proc("pool_mode = transaction\ndefault_pool_size = 1\nquery_wait_timeout = 10\n");
	PGconn *d = direct(g_db);
	qv(d, "TRUNCATE kill_t");
	PGconn *a = db_connect_ok(NULL);
	qv(a, "BEGIN");
	qv(a, "INSERT INTO kill_t VALUES (1)");
	PGresult *r = PQexec(a, "COPY kill_t (id) FROM STDIN");
	assert_int_equal(PQresultStatus(r), PGRES_COPY_IN);
	PQclear(r);
	for (int i = 0; i < 1000; i++) {
		char row[16];
		int n = snprintf(row, sizeof(row), "%d\n", i + 10);
		assert_int_equal(PQputCopyData(a, row, n), 1);
	}
	assert_int_equal(PQflush(a), 0);
	usleep(200000);
	kill_client_socket(a);
	check_clean_next_client(d, "after a reset during COPY FROM STDIN");
	int n = wait_server_conns_at_most(d, 1, 10);
	if (n != 1)
		fail_msg("%d server connections 10 s after the killed client (pool size 1)", n);
	expect_q(d, "SELECT count(*) FROM kill_t", "0");
	pt_finish(d);
	stop_proc();
}

/* Killed after an extended-protocol Execute that ran but was never
 * followed by Sync: the implicit transaction was never committed by the
 * client, so its row must not become visible (PostgreSQL aborts it when the
 * client goes away). */
static void test_client_killed_before_sync(void **state)
{
	(void)state;
	start_proc("pool_mode = transaction\ndefault_pool_size = 1\nquery_wait_timeout = 10\n");
	PGconn *d = direct(g_db);
	qv(d, "TRUNCATE kill_t");
	PGconn *a = db_connect_ok(NULL);
	assert_int_equal(PQenterPipelineMode(a), 1);
	const char *params[] = { "7" };
	assert_int_equal(PQsendQueryParams(a, "INSERT INTO kill_t VALUES ($1::int)", 1, NULL, params, NULL, NULL, 0), 1);
	assert_int_equal(PQsendFlushRequest(a), 1);
	assert_int_equal(PQflush(a), 0);
	/* The INSERT ran: its CommandComplete came back. */
	PGresult *r = NULL;
	if (!next_result(a, 10, &r) || !r)
		fail_msg("no result for the pipelined INSERT");
	ExecStatusType st = PQresultStatus(r);
	PQclear(r);
	assert_int_equal(st, PGRES_COMMAND_OK);
	kill_client_socket(a);
	usleep(300000);
	check_clean_next_client(d, "after a reset with an executed but unsynced INSERT");
	int n = wait_server_conns_at_most(d, 1, 10);
	if (n != 1)
		fail_msg("%d server connections 10 s after the killed client (pool size 1)", n);
	expect_q(d, "SELECT count(*) FROM kill_t", "0");
	pt_finish(d);
	stop_proc();
}

/* ================================================================== */
/* A backend is terminated under a client in a transaction             */
/* ================================================================== */

static void test_backend_terminated(void **state)
{
	(void)state;
	start_proc("pool_mode = transaction\ndefault_pool_size = 2\n");
	PGconn *d = direct(g_db);
	busy_client_t *busy = &g_busy;
	busy_start(busy);

	PGconn *a = db_connect_ok(NULL);
	qv(a, "BEGIN");
	char pid_a[32];
	snprintf(pid_a, sizeof(pid_a), "%s", qv(a, "SELECT pg_backend_pid()"));
	usleep(200000);
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%s)", pid_a);
	expect_q(d, sql, "t");
	usleep(300000);

	PGresult *r = PQexec(a, "SELECT 1");
	ExecStatusType st = PQresultStatus(r);
	char state_a[8];
	snprintf(state_a, sizeof(state_a), "%s", sqlstate_of(r));
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", PQerrorMessage(a));
	PQclear(r);
	bool bad = PQstatus(a) == CONNECTION_BAD;
	fprintf(stderr, "test_pooling: client of the terminated backend: status %s, sqlstate %s, bad %d: %s",
		PQresStatus(st), state_a, bad, msg);
	if (st == PGRES_TUPLES_OK)
		fail_msg("the client's transaction went on after its backend was terminated");
	if (!(bad || strncmp(state_a, "08", 2) == 0 || strcmp(state_a, "57P01") == 0))
		fail_msg("unexpected error for the client of a terminated backend: [%s] %s", state_a, msg);
	pt_finish(a);

	usleep(300000);
	busy_finish(busy, 10);

	PGconn *c = db_connect_ok(NULL);
	expect_q(c, "SELECT 1", "1");
	qv(c, "BEGIN");
	const char *pid_c = qv(c, "SELECT pg_backend_pid()");
	if (strcmp(pid_c, pid_a) == 0)
		fail_msg("new client got the terminated backend %s", pid_a);
	expect_q(c, "SELECT txid_current_if_assigned() IS NULL", "t");
	qv(c, "COMMIT");
	pt_finish(c);
	int n = server_conn_count(d);
	if (n > 2)
		fail_msg("%d server connections with pool size 2", n);

	/* Backends terminated while idle in the pool: pgtide drops them and
	 * the clients carry on with new ones. */
	PGconn *e = db_connect_ok(NULL);
	PGconn *f = db_connect_ok(NULL);
	qv(e, "BEGIN");
	qv(f, "BEGIN");
	char pid_e[32], pid_f[32];
	snprintf(pid_e, sizeof(pid_e), "%s", qv(e, "SELECT pg_backend_pid()"));
	snprintf(pid_f, sizeof(pid_f), "%s", qv(f, "SELECT pg_backend_pid()"));
	qv(e, "COMMIT");
	qv(f, "COMMIT");
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%s) AND pg_terminate_backend(%s)", pid_e, pid_f);
	expect_q(d, sql, "t");
	usleep(500000);
	for (int i = 0; i < 5; i++) {
		expect_q(e, "SELECT 'e works'", "e works");
		expect_q(f, "SELECT 'f works'", "f works");
	}
	qv(e, "BEGIN");
	const char *pid_now = qv(e, "SELECT pg_backend_pid()");
	if (strcmp(pid_now, pid_e) == 0 || strcmp(pid_now, pid_f) == 0)
		fail_msg("client got terminated backend %s", pid_now);
	qv(e, "COMMIT");
	n = server_conn_count(d);
	if (n > 2)
		fail_msg("%d server connections with pool size 2", n);
	pt_finish(e);
	pt_finish(f);
	pt_finish(d);
	stop_proc();
}

/* ================================================================== */
/* max_client_conn                                                     */
/* ================================================================== */

static void test_max_client_conn(void **state)
{
	(void)state;
	start_proc("pool_mode = transaction\ndefault_pool_size = 2\nmax_client_conn = 5\n");
	PGconn *c[5];
	for (int i = 0; i < 5; i++) {
		c[i] = db_connect_ok(NULL);
		expect_q(c[i], "SELECT 1", "1");
	}
	PGconn *x = track(db_connect(NULL));
	if (PQstatus(x) != CONNECTION_BAD)
		fail_msg("a 6th client got in with max_client_conn = 5");
	if (!strstr(PQerrorMessage(x), "no more connections allowed"))
		fail_msg("unexpected message for the 6th client: %s", PQerrorMessage(x));
	pt_finish(x);
	for (int i = 0; i < 5; i++) {
		char sql[32], want[16];
		snprintf(sql, sizeof(sql), "SELECT %d * 2", i);
		snprintf(want, sizeof(want), "%d", i * 2);
		expect_q(c[i], sql, want);
	}
	/* A free slot can be used again. */
	pt_finish(c[4]);
	PGconn *y = NULL;
	for (int i = 0; i < 100; i++) {
		y = track(db_connect(NULL));
		if (PQstatus(y) == CONNECTION_OK)
			break;
		pt_finish(y);
		y = NULL;
		usleep(30000);
	}
	if (!y)
		fail_msg("no client could connect after one of the 5 left");
	expect_q(y, "SELECT 'again'", "again");
	pt_finish(y);
	for (int i = 0; i < 4; i++)
		pt_finish(c[i]);
	stop_proc();
}

/* ================================================================== */
/* query_wait_timeout                                                  */
/* ================================================================== */

static void test_query_wait_timeout(void **state)
{
	(void)state;
	start_proc("pool_mode = transaction\ndefault_pool_size = 1\nquery_wait_timeout = 1\n");
	PGconn *a = db_connect_ok(NULL);
	PGconn *b = db_connect_ok(NULL);
	qv(a, "BEGIN");
	expect_q(a, "SELECT 1", "1");

	double t0 = now_seconds();
	PGresult *r = PQexec(b, "SELECT 2");
	double waited = now_seconds() - t0;
	char state_b[8], msg[512];
	snprintf(state_b, sizeof(state_b), "%s", sqlstate_of(r));
	snprintf(msg, sizeof(msg), "%s", PQerrorMessage(b));
	ExecStatusType st = PQresultStatus(r);
	PQclear(r);
	fprintf(stderr, "test_pooling: waiting client: %s after %.2fs: [%s] %s", PQresStatus(st), waited, state_b,
		msg);
	if (st == PGRES_TUPLES_OK)
		fail_msg("the waiting client got a server while the only one was in a transaction");
	assert_string_equal(state_b, "57014");
	if (!strstr(msg, "query_wait_timeout"))
		fail_msg("message does not mention query_wait_timeout: %s", msg);
	if (waited < 0.9 || waited > 3.5)
		fail_msg("query_wait_timeout = 1 fired after %.2fs", waited);

	expect_q(a, "SELECT 3", "3");
	qv(a, "COMMIT");
	if (PQstatus(b) == CONNECTION_OK) {
		expect_q(b, "SELECT 4", "4");
	} else {
		pt_finish(b);
		b = db_connect_ok(NULL);
		expect_q(b, "SELECT 4", "4");
	}
	pt_finish(b);
	pt_finish(a);
	stop_proc();
}

/* ================================================================== */
/* Cancel                                                              */
/* ================================================================== */

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

typedef struct sleeper {
	double seconds;
	ExecStatusType status;
	double elapsed;
	char sqlstate[8];
	char err[512];
} sleeper_t;

static void *sleeper_thread(void *arg)
{
	sleeper_t *s = arg;
	PGconn *c = db_connect(NULL);
	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(s->err, sizeof(s->err), "connect: %s", PQerrorMessage(c));
		s->status = PGRES_FATAL_ERROR;
		PQfinish(c);
		return NULL;
	}
	char sql[64];
	snprintf(sql, sizeof(sql), "SELECT pg_sleep(%g), 'slept'", s->seconds);
	double t0 = now_seconds();
	PGresult *r = PQexec(c, sql);
	s->elapsed = now_seconds() - t0;
	s->status = PQresultStatus(r);
	snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", sqlstate_of(r));
	snprintf(s->err, sizeof(s->err), "%s", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return NULL;
}

static void test_cancel_running_query(void **state)
{
	(void)state;
	start_proc("pool_mode = transaction\ndefault_pool_size = 2\n");
	PGconn *d = direct(g_db);
	sleeper_t other = { .seconds = 2 };
	pthread_t th = spawn(sleeper_thread, &other);
	bool other_running = wait_active_query(d, "SELECT pg_sleep(2)%", 5);

	PGconn *a = db_connect_ok(NULL);
	assert_int_equal(PQsendQuery(a, "SELECT pg_sleep(30)"), 1);
	bool a_running = wait_active_query(d, "SELECT pg_sleep(30)%", 5);
	usleep(300000);
	char err[256];
	bool sent = send_cancel(a, err, sizeof(err));
	double t_cancel = now_seconds();
	PGresult *r = NULL;
	bool got = next_result(a, 10, &r);
	double took = now_seconds() - t_cancel;
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_EMPTY_QUERY;
	char state_a[8];
	snprintf(state_a, sizeof(state_a), "%s", r ? sqlstate_of(r) : "");
	PQclear(r);
	bool drained = got && drain_results(a, 5);
	pthread_join(th, NULL);

	if (!other_running || !a_running)
		fail_msg("the two sleeps did not both run (other %d, canceled one %d)", other_running, a_running);
	if (!sent)
		fail_msg("PQcancel failed: %s", err);
	if (!got)
		fail_msg("the canceled query still ran 10 s after PQcancel");
	if (st != PGRES_FATAL_ERROR || strcmp(state_a, "57014") != 0)
		fail_msg("canceled query ended with %s [%s]: %s", PQresStatus(st), state_a, PQerrorMessage(a));
	if (took > 5)
		fail_msg("cancel took %.2fs", took);
	assert_true(drained);
	/* The other client's query on the same pool was not touched. */
	if (other.status != PGRES_TUPLES_OK)
		fail_msg("the other client's pg_sleep(2) failed: [%s] %s", other.sqlstate, other.err);
	if (other.elapsed < 1.9)
		fail_msg("the other client's pg_sleep(2) ended after %.2fs", other.elapsed);
	/* The canceled client goes on. */
	assert_int_equal(PQtransactionStatus(a), PQTRANS_IDLE);
	expect_q(a, "SELECT 'after cancel'", "after cancel");
	/* A cancel for an idle client is harmless. */
	assert_true(send_cancel(a, err, sizeof(err)));
	usleep(200000);
	expect_q(a, "SELECT 'still fine'", "still fine");
	pt_finish(a);
	pt_finish(d);
	stop_proc();
}

/* A cancel sent around the end of a client's query must never hit the
 * query another client runs next on the same server. */
typedef struct cancel_victim {
	atomic_bool stop;
	int ok;
	int canceled;
	int other_errors;
	char err[512];
} cancel_victim_t;

static void *victim_thread(void *arg)
{
	cancel_victim_t *v = arg;
	PGconn *c = db_connect(NULL);
	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(v->err, sizeof(v->err), "connect: %s", PQerrorMessage(c));
		v->other_errors++;
		PQfinish(c);
		return NULL;
	}
	while (!atomic_load(&v->stop)) {
		PGresult *r = PQexec(c, "SELECT pg_sleep(0.02), 'victim'");
		if (PQresultStatus(r) == PGRES_TUPLES_OK) {
			v->ok++;
		} else if (strcmp(sqlstate_of(r), "57014") == 0) {
			v->canceled++;
		} else {
			v->other_errors++;
			if (!v->err[0])
				snprintf(v->err, sizeof(v->err), "%s", PQerrorMessage(c));
		}
		PQclear(r);
		if (PQstatus(c) != CONNECTION_OK)
			break;
	}
	PQfinish(c);
	return NULL;
}

static void test_cancel_never_hits_other_client(void **state)
{
	(void)state;
	start_proc("pool_mode = transaction\ndefault_pool_size = 1\nquery_wait_timeout = 20\n");
	cancel_victim_t v;
	memset(&v, 0, sizeof(v));
	atomic_init(&v.stop, false);
	PGconn *a = db_connect_ok(NULL);
	pthread_t th = spawn(victim_thread, &v);
	int a_ok = 0, a_canceled = 0, a_other = 0;
	char a_err[512] = "", err[256];
	unsigned seed = 12345;
	double deadline = now_seconds() + 4;
	while (now_seconds() < deadline) {
		if (PQsendQuery(a, "SELECT pg_sleep(0.01), 'canceler'") != 1) {
			snprintf(a_err, sizeof(a_err), "PQsendQuery: %s", PQerrorMessage(a));
			a_other++;
			break;
		}
		/* Cancel at a random moment: before, during, or just after the
		 * query ran, when the server may already serve the victim. */
		seed = seed * 1103515245 + 12345;
		usleep((seed >> 16) % 30000);
		if (!send_cancel(a, err, sizeof(err))) {
			snprintf(a_err, sizeof(a_err), "PQcancel: %s", err);
			a_other++;
			break;
		}
		PGresult *r;
		bool first = true;
		for (;;) {
			if (!next_result(a, 10, &r)) {
				snprintf(a_err, sizeof(a_err), "no result 10 s after a cancel");
				a_other++;
				break;
			}
			if (!r)
				break;
			if (first) {
				if (PQresultStatus(r) == PGRES_TUPLES_OK)
					a_ok++;
				else if (strcmp(sqlstate_of(r), "57014") == 0)
					a_canceled++;
				else {
					a_other++;
					snprintf(a_err, sizeof(a_err), "%s", PQerrorMessage(a));
				}
				first = false;
			}
			PQclear(r);
		}
		if (a_other)
			break;
	}
	atomic_store(&v.stop, true);
	pthread_join(th, NULL);
	fprintf(stderr,
		"test_pooling: canceler: %d done, %d canceled; victim: %d done, %d canceled, %d other errors\n", a_ok,
		a_canceled, v.ok, v.canceled, v.other_errors);
	if (a_other)
		fail_msg("the canceling client failed: %s", a_err);
	if (v.other_errors)
		fail_msg("the other client failed: %s", v.err);
	if (v.canceled)
		fail_msg("%d queries of a client that never asked for a cancel were canceled", v.canceled);
	assert_true(v.ok > 10);
	assert_true(a_canceled + a_ok > 10);
	expect_q(a, "SELECT 'canceler still fine'", "canceler still fine");
	pt_finish(a);
	stop_proc();
}

static void test_cancel_while_waiting(void **state)
{
	(void)state;
	start_proc("pool_mode = transaction\ndefault_pool_size = 1\nquery_wait_timeout = 30\n");
	PGconn *h = db_connect_ok(NULL);
	PGconn *b = db_connect_ok(NULL);
	qv(h, "BEGIN");
	char pid_h[32];
	snprintf(pid_h, sizeof(pid_h), "%s", qv(h, "SELECT pg_backend_pid()"));

	for (int round = 0; round < 2; round++) {
		const char *label = round == 0 ? "simple query" : "extended query";
		if (round == 0) {
			assert_int_equal(PQsendQuery(b, "SELECT 42"), 1);
		} else {
			const char *params[] = { "42" };
			assert_int_equal(PQsendQueryParams(b, "SELECT $1::int", 1, NULL, params, NULL, NULL, 0), 1);
		}
		usleep(300000);
		/* Still queued: the only server is in h's transaction. */
		assert_int_equal(PQisBusy(b), 1);
		char err[256];
		if (!send_cancel(b, err, sizeof(err)))
			fail_msg("PQcancel failed: %s", err);
		double t0 = now_seconds();
		PGresult *r = NULL;
		if (!next_result(b, 5, &r))
			fail_msg("%s: the queued query was not canceled within 5 s", label);
		double took = now_seconds() - t0;
		ExecStatusType st = PQresultStatus(r);
		char state_b[8];
		snprintf(state_b, sizeof(state_b), "%s", sqlstate_of(r));
		PQclear(r);
		if (st != PGRES_FATAL_ERROR || strcmp(state_b, "57014") != 0)
			fail_msg("%s: queued query ended with %s [%s]: %s", label, PQresStatus(st), state_b,
				 PQerrorMessage(b));
		if (took > 3)
			fail_msg("%s: cancel of a queued query took %.2fs", label, took);
		if (!drain_results(b, 5))
			fail_msg("%s: no end of the canceled query", label);
		assert_int_equal(PQstatus(b), CONNECTION_OK);
		assert_int_equal(PQtransactionStatus(b), PQTRANS_IDLE);
		/* h kept its server and transaction throughout. */
		expect_q(h, "SELECT pg_backend_pid()", pid_h);
		assert_int_equal(PQtransactionStatus(h), PQTRANS_INTRANS);
	}
	qv(h, "COMMIT");
	expect_q(b, "SELECT 5", "5");
	const char *params[] = { "6" };
	PGresult *r = PQexecParams(b, "SELECT $1::int", 1, NULL, params, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(r, 0, 0), "6");
	PQclear(r);
	pt_finish(b);
	pt_finish(h);
	stop_proc();
}

/* ================================================================== */
/* COPY                                                                */
/* ================================================================== */

#define COPY_ROWS 50000
#define COPY_PAYLOAD 100

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

#define FNV_INIT 14695981039346656037ull

/* Rows "id\tpayload\n" for ids first..first+n-1; returns the length. */
static size_t make_copy_data(char *buf, size_t cap, int first, int n)
{
	size_t len = 0;
	for (int id = first; id < first + n; id++) {
		int k = snprintf(buf + len, cap - len, "%d\t", id);
		len += (size_t)k;
		for (int j = 0; j < COPY_PAYLOAD; j++)
			buf[len++] = (char)('a' + (id * 7 + j) % 26);
		buf[len++] = '\n';
	}
	return len;
}

/* COPY FROM STDIN of data in chunks of `chunk` bytes; returns the command
 * result (caller clears). */
static PGresult *copy_in(PGconn *c, const char *data, size_t len, size_t chunk, const char *fail_with)
{
	PGresult *r = PQexec(c, "COPY copy_t (id, payload) FROM STDIN");
	if (PQresultStatus(r) != PGRES_COPY_IN)
		fail_msg("COPY FROM STDIN did not start: %s", PQerrorMessage(c));
	PQclear(r);
	for (size_t off = 0; off < len; off += chunk) {
		size_t k = len - off < chunk ? len - off : chunk;
		if (PQputCopyData(c, data + off, (int)k) != 1)
			fail_msg("PQputCopyData failed at %zu: %s", off, PQerrorMessage(c));
	}
	if (PQputCopyEnd(c, fail_with) != 1)
		fail_msg("PQputCopyEnd failed: %s", PQerrorMessage(c));
	r = PQgetResult(c);
	PGresult *extra;
	while ((extra = PQgetResult(c)) != NULL)
		PQclear(extra);
	return r;
}

typedef struct copy_out_sum {
	size_t bytes;
	uint64_t hash;
	long rows;
	long long id_sum;
} copy_out_sum_t;

static void copy_out(PGconn *c, const char *sql, copy_out_sum_t *s)
{
	memset(s, 0, sizeof(*s));
	s->hash = FNV_INIT;
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COPY_OUT)
		fail_msg("COPY TO STDOUT did not start: %s", PQerrorMessage(c));
	PQclear(r);
	char *buf;
	int n;
	while ((n = PQgetCopyData(c, &buf, 0)) > 0) {
		/* libpq returns one row per call. */
		s->bytes += (size_t)n;
		s->hash = fnv1a(s->hash, buf, (size_t)n);
		s->rows++;
		s->id_sum += atoll(buf);
		PQfreemem(buf);
	}
	if (n != -1)
		fail_msg("PQgetCopyData failed: %s", PQerrorMessage(c));
	r = PQgetResult(c);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("COPY TO STDOUT ended with %s: %s", PQresStatus(PQresultStatus(r)), PQerrorMessage(c));
	PQclear(r);
	while ((r = PQgetResult(c)) != NULL)
		PQclear(r);
}

static void test_copy(void **state)
{
	(void)state;
	/* Pool size 1 and a busy second client: the server must stay with the
	 * copying client for the whole COPY. */
	start_proc("pool_mode = transaction\ndefault_pool_size = 1\nquery_wait_timeout = 5\n");
	PGconn *c = db_connect_ok(NULL);
	qv(c, "TRUNCATE copy_t");
	busy_client_t *busy = &g_busy;
	busy_start(busy);

	/* Small. */
	static char small[64 * 1024];
	size_t slen = make_copy_data(small, sizeof(small), 1, 10);
	PGresult *r = copy_in(c, small, slen, 7, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("small COPY FROM STDIN: %s", PQerrorMessage(c));
	assert_string_equal(PQcmdTuples(r), "10");
	PQclear(r);
	expect_q(c, "SELECT count(*) || ' ' || sum(id) FROM copy_t", "10 55");
	copy_out_sum_t so;
	copy_out(c, "COPY (SELECT id, payload FROM copy_t ORDER BY id) TO STDOUT", &so);
	assert_int_equal(so.rows, 10);
	assert_int_equal(so.bytes, slen);
	assert_true(so.hash == fnv1a(FNV_INIT, small, slen));
	qv(c, "TRUNCATE copy_t");

	/* Large: ~5 MB, far larger than pgtide's buffers, sent in chunks that
	 * do not line up with rows or messages. */
	size_t cap = (size_t)COPY_ROWS * (COPY_PAYLOAD + 16);
	char *big = malloc(cap);
	assert_non_null(big);
	g_big_buffer = big;
	size_t blen = make_copy_data(big, cap, 1, COPY_ROWS);
	assert_true(blen > 5 * 1000 * 1000);
	uint64_t bhash = fnv1a(FNV_INIT, big, blen);
	double t0 = now_seconds();
	r = copy_in(c, big, blen, 65536 + 13, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("large COPY FROM STDIN: %s", PQerrorMessage(c));
	char want[64];
	snprintf(want, sizeof(want), "%d", COPY_ROWS);
	assert_string_equal(PQcmdTuples(r), want);
	PQclear(r);
	double t_in = now_seconds() - t0;
	long long id_sum = (long long)COPY_ROWS * (COPY_ROWS + 1) / 2;
	snprintf(want, sizeof(want), "%d %lld %d", COPY_ROWS, id_sum, COPY_ROWS * COPY_PAYLOAD);
	expect_q(c, "SELECT count(*) || ' ' || sum(id) || ' ' || sum(length(payload)) FROM copy_t", want);
	t0 = now_seconds();
	copy_out(c, "COPY (SELECT id, payload FROM copy_t ORDER BY id) TO STDOUT", &so);
	double t_out = now_seconds() - t0;
	fprintf(stderr, "test_pooling: COPY of %zu bytes: in %.2fs, out %.2fs\n", blen, t_in, t_out);
	assert_int_equal(so.rows, COPY_ROWS);
	assert_int_equal(so.id_sum, id_sum);
	assert_int_equal(so.bytes, blen);
	if (so.hash != bhash)
		fail_msg("COPY TO STDOUT returned different bytes than were copied in");
	assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);

	/* COPY inside a transaction that is rolled back. */
	qv(c, "BEGIN");
	slen = make_copy_data(small, sizeof(small), COPY_ROWS + 1, 5);
	r = copy_in(c, small, slen, 1000, NULL);
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	snprintf(want, sizeof(want), "%d", COPY_ROWS + 5);
	expect_q(c, "SELECT count(*) FROM copy_t", want);
	qv(c, "ROLLBACK");
	snprintf(want, sizeof(want), "%d", COPY_ROWS);
	expect_q(c, "SELECT count(*) FROM copy_t", want);

	/* CopyFail from the client. */
	r = copy_in(c, small, slen, 1000, "client gave up");
	assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
	assert_string_equal(sqlstate_of(r), "57014");
	PQclear(r);
	expect_q(c, "SELECT count(*) FROM copy_t", want);
	/* Bad data: the server's error ends the COPY. */
	const char *bad = "1\tok\nnot-a-number\tbad\n";
	r = copy_in(c, bad, strlen(bad), 4, NULL);
	assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
	assert_string_equal(sqlstate_of(r), "22P02");
	PQclear(r);
	expect_q(c, "SELECT count(*) FROM copy_t", want);
	assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);

	/* COPY TO STDOUT with the extended protocol. */
	{
		r = PQexecParams(c, "COPY (SELECT id FROM copy_t WHERE id <= 100 ORDER BY id) TO STDOUT", 0, NULL, NULL,
				 NULL, NULL, 0);
		assert_int_equal(PQresultStatus(r), PGRES_COPY_OUT);
		PQclear(r);
		char *buf;
		int len, rows = 0;
		long long sum = 0;
		while ((len = PQgetCopyData(c, &buf, 0)) > 0) {
			rows++;
			sum += atoll(buf);
			PQfreemem(buf);
		}
		assert_int_equal(len, -1);
		r = PQgetResult(c);
		assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
		PQclear(r);
		while ((r = PQgetResult(c)) != NULL)
			PQclear(r);
		assert_int_equal(rows, 100);
		assert_int_equal(sum, 5050);
		/* The server went back to the pool: another client gets it. */
		PGconn *o = db_connect_ok(NULL);
		expect_q(o, "SELECT 'after extended COPY TO'", "after extended COPY TO");
		pt_finish(o);
	}

	/* COPY FROM STDIN sent with the extended protocol (PQexecParams):
	 * PostgreSQL ignores the Sync that follows the Execute while in copy
	 * mode, and answers the one libpq sends after CopyDone. The server
	 * must come back to the pool afterwards. */
	r = PQexecParams(c, "COPY copy_t (id, payload) FROM STDIN", 0, NULL, NULL, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_COPY_IN);
	PQclear(r);
	slen = make_copy_data(small, sizeof(small), COPY_ROWS + 1, 3);
	assert_int_equal(PQputCopyData(c, small, (int)slen), 1);
	assert_int_equal(PQputCopyEnd(c, NULL), 1);
	r = PQgetResult(c);
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	assert_string_equal(PQcmdTuples(r), "3");
	PQclear(r);
	while ((r = PQgetResult(c)) != NULL)
		PQclear(r);
	snprintf(want, sizeof(want), "%d", COPY_ROWS + 3);
	expect_q(c, "SELECT count(*) FROM copy_t", want);
	/* Another client gets the only server now that c is idle. */
	PGconn *other = db_connect_ok(NULL);
	double t0_other = now_seconds();
	PGresult *ro = PQexec(other, "SELECT 'other got the server'");
	double waited_other = now_seconds() - t0_other;
	if (PQresultStatus(ro) != PGRES_TUPLES_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(other));
		PQclear(ro);
		fail_msg("after an extended-protocol COPY, another client could not get the server (%.1fs): %s",
			 waited_other, msg);
	}
	PQclear(ro);
	pt_finish(other);

	busy_finish(busy, 5);
	g_big_buffer = NULL;
	free(big);
	pt_finish(c);
	stop_proc();
}

/* ================================================================== */
/* Pipeline mode                                                       */
/* ================================================================== */

/* Reads one result of a pipeline and checks its status (and the value of
 * a TUPLES_OK result when want is not NULL), then the NULL that ends it. */
static void expect_pipeline_result(PGconn *c, ExecStatusType want_status, const char *want, const char *label)
{
	PGresult *r;
	if (!next_result(c, 10, &r))
		fail_msg("%s: no result within 10 s", label);
	if (!r)
		fail_msg("%s: got the end of a query, expected %s", label, PQresStatus(want_status));
	ExecStatusType st = PQresultStatus(r);
	if (st != want_status) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
		PQclear(r);
		fail_msg("%s: got %s, expected %s (%s)", label, PQresStatus(st), PQresStatus(want_status), msg);
	}
	if (want && st == PGRES_TUPLES_OK) {
		if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), want) != 0) {
			char got[256];
			snprintf(got, sizeof(got), "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "(no rows)");
			PQclear(r);
			fail_msg("%s: got value %s, expected %s", label, got, want);
		}
	}
	if (want && st == PGRES_FATAL_ERROR && strcmp(sqlstate_of(r), want) != 0) {
		char got[8];
		snprintf(got, sizeof(got), "%s", sqlstate_of(r));
		PQclear(r);
		fail_msg("%s: got SQLSTATE %s, expected %s", label, got, want);
	}
	PQclear(r);
	if (st == PGRES_PIPELINE_SYNC)
		return; /* no NULL after a sync */
	if (!next_result(c, 10, &r) || r != NULL) {
		PQclear(r);
		fail_msg("%s: expected the end of the query", label);
	}
}

static void send_params(PGconn *c, const char *sql, const char *p1)
{
	const char *params[] = { p1 };
	if (PQsendQueryParams(c, sql, p1 ? 1 : 0, NULL, p1 ? params : NULL, NULL, NULL, 0) != 1)
		fail_msg("PQsendQueryParams(%s): %s", sql, PQerrorMessage(c));
}

static void test_pipeline(void **state)
{
	(void)state;
	start_proc("pool_mode = transaction\ndefault_pool_size = 1\n");
	PGconn *c = db_connect_ok(NULL);
	busy_client_t *busy = &g_busy;
	busy_start(busy);

	for (int round = 0; round < 20; round++) {
		assert_int_equal(PQenterPipelineMode(c), 1);
		/* Two sync blocks with plain statements. */
		send_params(c, "SELECT $1::int + 1", "41");
		send_params(c, "SELECT upper($1)", "abc");
		send_params(c, "SELECT $1::int * 3", "5");
		assert_int_equal(PQpipelineSync(c), 1);
		send_params(c, "SELECT $1::text || '!'", "hi");
		send_params(c, "SELECT count(*) FROM generate_series(1, $1::int)", "1000");
		assert_int_equal(PQpipelineSync(c), 1);
		/* A transaction across two sync blocks keeps its server. */
		send_params(c, "BEGIN", NULL);
		send_params(c, "SELECT set_config('app.me', $1, true)", "pipe");
		assert_int_equal(PQpipelineSync(c), 1);
		send_params(c, "SELECT current_setting('app.me')", NULL);
		send_params(c, "COMMIT", NULL);
		assert_int_equal(PQpipelineSync(c), 1);

		expect_pipeline_result(c, PGRES_TUPLES_OK, "42", "block 1 query 1");
		expect_pipeline_result(c, PGRES_TUPLES_OK, "ABC", "block 1 query 2");
		expect_pipeline_result(c, PGRES_TUPLES_OK, "15", "block 1 query 3");
		expect_pipeline_result(c, PGRES_PIPELINE_SYNC, NULL, "sync 1");
		expect_pipeline_result(c, PGRES_TUPLES_OK, "hi!", "block 2 query 1");
		expect_pipeline_result(c, PGRES_TUPLES_OK, "1000", "block 2 query 2");
		expect_pipeline_result(c, PGRES_PIPELINE_SYNC, NULL, "sync 2");
		expect_pipeline_result(c, PGRES_COMMAND_OK, NULL, "BEGIN");
		expect_pipeline_result(c, PGRES_TUPLES_OK, "pipe", "set_config");
		expect_pipeline_result(c, PGRES_PIPELINE_SYNC, NULL, "sync 3");
		expect_pipeline_result(c, PGRES_TUPLES_OK, "pipe", "current_setting in the same transaction");
		expect_pipeline_result(c, PGRES_COMMAND_OK, NULL, "COMMIT");
		expect_pipeline_result(c, PGRES_PIPELINE_SYNC, NULL, "sync 4");
		assert_int_equal(PQexitPipelineMode(c), 1);
		assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);

		/* An error in the middle: the rest of its block is skipped, the
		 * next block runs. */
		assert_int_equal(PQenterPipelineMode(c), 1);
		send_params(c, "SELECT $1::int", "1");
		send_params(c, "SELECT 1 / $1::int", "0");
		send_params(c, "SELECT $1::int", "3");
		assert_int_equal(PQpipelineSync(c), 1);
		send_params(c, "SELECT $1::int", "4");
		assert_int_equal(PQpipelineSync(c), 1);
		expect_pipeline_result(c, PGRES_TUPLES_OK, "1", "before the error");
		expect_pipeline_result(c, PGRES_FATAL_ERROR, "22012", "division by zero");
		expect_pipeline_result(c, PGRES_PIPELINE_ABORTED, NULL, "after the error");
		expect_pipeline_result(c, PGRES_PIPELINE_SYNC, NULL, "sync after the error");
		expect_pipeline_result(c, PGRES_TUPLES_OK, "4", "next block");
		expect_pipeline_result(c, PGRES_PIPELINE_SYNC, NULL, "sync of the next block");

		/* An error inside an explicit transaction leaves it aborted
		 * across syncs until the ROLLBACK. */
		send_params(c, "BEGIN", NULL);
		send_params(c, "SELECT 1 / $1::int", "0");
		assert_int_equal(PQpipelineSync(c), 1);
		send_params(c, "SELECT $1::int", "5");
		assert_int_equal(PQpipelineSync(c), 1);
		send_params(c, "ROLLBACK", NULL);
		assert_int_equal(PQpipelineSync(c), 1);
		expect_pipeline_result(c, PGRES_COMMAND_OK, NULL, "BEGIN before the error");
		expect_pipeline_result(c, PGRES_FATAL_ERROR, "22012", "error in the transaction");
		expect_pipeline_result(c, PGRES_PIPELINE_SYNC, NULL, "sync in the failed transaction");
		expect_pipeline_result(c, PGRES_FATAL_ERROR, "25P02", "statement in the failed transaction");
		expect_pipeline_result(c, PGRES_PIPELINE_SYNC, NULL, "second sync in the failed transaction");
		expect_pipeline_result(c, PGRES_COMMAND_OK, NULL, "ROLLBACK");
		expect_pipeline_result(c, PGRES_PIPELINE_SYNC, NULL, "sync after ROLLBACK");
		assert_int_equal(PQexitPipelineMode(c), 1);
		assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
		expect_q(c, "SELECT 'out of the pipeline'", "out of the pipeline");
	}
	busy_finish(busy, 5);
	pt_finish(c);
	stop_proc();
}

/* ================================================================== */
/* Large results and queries                                           */
/* ================================================================== */

static void test_large_results(void **state)
{
	(void)state;
	start_proc("pool_mode = transaction\ndefault_pool_size = 2\n");
	PGconn *c = db_connect_ok(NULL);
	busy_client_t *busy = &g_busy;
	busy_start(busy);

	for (int round = 0; round < 2; round++) {
		/* One 1 MB value. */
		PGresult *r = PQexec(c, "SELECT repeat('x', 1000000), 'end'");
		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		assert_int_equal(PQgetlength(r, 0, 0), 1000000);
		assert_int_equal(strspn(PQgetvalue(r, 0, 0), "x"), 1000000);
		assert_string_equal(PQgetvalue(r, 0, 1), "end");
		PQclear(r);

		/* 200000 rows. */
		r = PQexec(c, "SELECT g FROM generate_series(1, 200000) g");
		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		assert_int_equal(PQntuples(r), 200000);
		long long sum = 0;
		for (int i = 0; i < PQntuples(r); i++) {
			long v = atol(PQgetvalue(r, i, 0));
			if (v != i + 1) {
				PQclear(r);
				fail_msg("row %d holds %ld", i, v);
			}
			sum += v;
		}
		PQclear(r);
		assert_true(sum == 200000LL * 200001 / 2);

		/* A slow reader: pgtide must hold back the server's output and
		 * lose nothing. */
		assert_int_equal(PQsendQuery(c, "SELECT g, repeat(chr(65 + g % 26), 100) FROM generate_series(1, 100000) g"),
				 1);
		assert_int_equal(PQsetSingleRowMode(c), 1);
		int rows = 0;
		for (;;) {
			r = PQgetResult(c);
			if (!r)
				break;
			ExecStatusType st = PQresultStatus(r);
			if (st == PGRES_SINGLE_TUPLE) {
				int g = atoi(PQgetvalue(r, 0, 0));
				const char *v = PQgetvalue(r, 0, 1);
				bool ok = g == rows + 1 && PQgetlength(r, 0, 1) == 100 && v[0] == 'A' + g % 26 &&
					  v[99] == 'A' + g % 26;
				PQclear(r);
				if (!ok)
					fail_msg("slow reader: row %d is wrong (g = %d)", rows + 1, g);
				rows++;
				if (rows % 10000 == 0)
					usleep(50000);
			} else {
				char msg[256];
				snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
				PQclear(r);
				if (st != PGRES_TUPLES_OK)
					fail_msg("slow reader: %s: %s", PQresStatus(st), msg);
			}
		}
		assert_int_equal(rows, 100000);

		/* Large queries: a 1 MB literal and a 2 MB parameter. */
		size_t n = 1000000;
		char *sql = malloc(n + 64);
		assert_non_null(sql);
		int k = snprintf(sql, 64, "SELECT length('");
		memset(sql + k, 'q', n);
		snprintf(sql + k + n, 64, "')");
		expect_q(c, sql, "1000000");
		free(sql);
		char *param = malloc(2 * n + 1);
		assert_non_null(param);
		memset(param, 'p', 2 * n);
		param[2 * n] = '\0';
		const char *params[] = { param };
		r = PQexecParams(c, "SELECT length($1), md5($1) = md5(repeat('p', 2000000))", 1, NULL, params, NULL, NULL,
				 0);
		free(param);
		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		assert_string_equal(PQgetvalue(r, 0, 0), "2000000");
		assert_string_equal(PQgetvalue(r, 0, 1), "t");
		PQclear(r);
	}
	busy_finish(busy, 20);
	pt_finish(c);
	stop_proc();
}

int main(void)
{
	/* PGTIDE_TEST_FILTER=test_copy runs only the matching tests. */
	const char *filter = getenv("PGTIDE_TEST_FILTER");
	if (filter && *filter)
		cmocka_set_test_filter(filter);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_many_clients_few_servers, teardown_proc),
		cmocka_unit_test_teardown(test_session_params_follow_client, teardown_proc),
		cmocka_unit_test_teardown(test_client_killed_mid_transaction, teardown_proc),
		cmocka_unit_test_teardown(test_client_killed_mid_copy, teardown_proc),
		cmocka_unit_test_teardown(test_client_killed_before_sync, teardown_proc),
		cmocka_unit_test_teardown(test_backend_terminated, teardown_proc),
		cmocka_unit_test_teardown(test_max_client_conn, teardown_proc),
		cmocka_unit_test_teardown(test_query_wait_timeout, teardown_proc),
		cmocka_unit_test_teardown(test_cancel_running_query, teardown_proc),
		cmocka_unit_test_teardown(test_cancel_never_hits_other_client, teardown_proc),
		cmocka_unit_test_teardown(test_cancel_while_waiting, teardown_proc),
		cmocka_unit_test_teardown(test_copy, teardown_proc),
		cmocka_unit_test_teardown(test_pipeline, teardown_proc),
		cmocka_unit_test_teardown(test_large_results, teardown_proc),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

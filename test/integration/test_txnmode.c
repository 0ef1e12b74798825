/*
 * test_txnmode.c - what a client's session carries across server
 * connections in transaction mode: named prepared statements (protocol and
 * SQL level), SET / RESET / set_config() settings, and state that pins a
 * client to its server (LISTEN, advisory locks, temporary tables).
 *
 * Every test starts its own pgtide with a pool much smaller than its number
 * of clients, so consecutive transactions of one client land on different
 * server connections, and uses a database of its own (pt_txn_<pid>).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static char g_db[64];
static pgtide_proc_t g_proc;

#define MAX_TRACKED 32
static PGconn *g_conns[MAX_TRACKED];

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

static void finish(PGconn *c)
{
	for (int i = 0; i < MAX_TRACKED; i++)
		if (g_conns[i] == c)
			g_conns[i] = NULL;
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
}

static void start_proc(const char *settings)
{
	pgtide_start(&g_proc, settings, NULL);
}

static void stop_proc(void)
{
	int rc = pgtide_stop(&g_proc);
	g_proc.pid = 0;
	assert_int_equal(rc, 0);
}

static int teardown_proc(void **state)
{
	(void)state;
	finish_all();
	if (g_proc.pid > 0) {
		fprintf(stderr, "test_txnmode: stopping pgtide left by a failed test (log in %s)\n", g_proc.log_path);
		setenv("PGTIDE_KEEP_TEST_DIR", "1", 1);
		(void)pgtide_stop(&g_proc);
		unsetenv("PGTIDE_KEEP_TEST_DIR");
		g_proc.pid = 0;
	}
	return 0;
}

static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static PGconn *client(void)
{
	PGconn *c = track(pt_connect(&g_proc, "app", "app-pw", g_db, NULL));
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect to pgtide failed: %s", PQerrorMessage(c));
	PQsetNoticeProcessor(c, quiet_notices, NULL);
	return c;
}

/* Runs sql, fails the test on error, returns the first value ("" if none). */
static const char *qv(PGconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *qv(PGconn *c, const char *fmt, ...)
{
	static char value[1024];
	char sql[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
		PQclear(r);
		fail_msg("query \"%.200s\" failed: %s", sql, msg);
	}
	value[0] = '\0';
	if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQnfields(r) > 0)
		snprintf(value, sizeof(value), "%s", PQgetisnull(r, 0, 0) ? "<null>" : PQgetvalue(r, 0, 0));
	PQclear(r);
	return value;
}

/* Runs sql expecting an error; returns its SQLSTATE (static). */
static const char *q_err(PGconn *c, const char *sql, char *msg, size_t cap)
{
	static char state[8];
	PGresult *r = PQexec(c, sql);
	const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	snprintf(state, sizeof(state), "%s", s ? s : "");
	if (msg)
		snprintf(msg, cap, "%s", PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) ?: "");
	PQclear(r);
	return state;
}

/* Executes a named statement with one text parameter; returns the value or
 * "ERR:<sqlstate>" (static). */
static const char *exec_prepared(PGconn *c, const char *name, const char *param)
{
	static char out[256];
	const char *params[1] = { param };
	PGresult *r = PQexecPrepared(c, name, param ? 1 : 0, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		snprintf(out, sizeof(out), "%s", PQgetvalue(r, 0, 0));
	else
		snprintf(out, sizeof(out), "ERR:%s %s", PQresultErrorField(r, PG_DIAG_SQLSTATE) ?: "?",
			 PQresultErrorMessage(r));
	PQclear(r);
	return out;
}

static void prepare_ok(PGconn *c, const char *name, const char *sql, int nparams)
{
	PGresult *r = PQprepare(c, name, sql, nparams, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
		PQclear(r);
		fail_msg("PQprepare(%s, %s) failed: %s", name, sql, msg);
	}
	PQclear(r);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(g_db, sizeof(g_db), "pt_txn_%d", (int)getpid());
	return pt_create_database(g_db, "CREATE SCHEMA a_schema AUTHORIZATION app;"
					 "CREATE TABLE ddl_t (id int, v text); ALTER TABLE ddl_t OWNER TO app;"
					 "INSERT INTO ddl_t VALUES (1, 'one');")
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
/* Protocol-level prepared statements                                  */
/* ================================================================== */

#define NCLIENTS 6
#define NEXTRA 4

/* Six clients on two servers: the same name with different SQL, different
 * names with the same SQL, and more statements than max_prepared_statements;
 * every result is the client's own, and no server holds more than the limit. */
static void test_prepared_statements_follow_client(void **state)
{
	(void)state;
	start_proc("default_pool_size = 2\nmax_prepared_statements = 3\n");
	PGconn *c[NCLIENTS];
	char sql[128], name[32];
	for (int i = 0; i < NCLIENTS; i++) {
		c[i] = client();
		snprintf(sql, sizeof(sql), "SELECT $1::int * %d", i + 1);
		prepare_ok(c[i], "same_name", sql, 1);
		snprintf(name, sizeof(name), "own_%d", i);
		prepare_ok(c[i], name, "SELECT $1::int + 1000", 1);
		for (int k = 0; k < NEXTRA; k++) {
			snprintf(name, sizeof(name), "extra_%d", k);
			snprintf(sql, sizeof(sql), "SELECT %d + $1::int", k * 100);
			prepare_ok(c[i], name, sql, 1);
		}
	}
	char param[32], want[64];
	for (int it = 0; it < 300; it++) {
		int i = (it * 7) % NCLIENTS;
		snprintf(param, sizeof(param), "%d", it);
		snprintf(want, sizeof(want), "%d", it * (i + 1));
		assert_string_equal(exec_prepared(c[i], "same_name", param), want);
		snprintf(name, sizeof(name), "own_%d", i);
		snprintf(want, sizeof(want), "%d", it + 1000);
		assert_string_equal(exec_prepared(c[i], name, param), want);
		int k = it % NEXTRA;
		snprintf(name, sizeof(name), "extra_%d", k);
		snprintf(want, sizeof(want), "%d", k * 100 + it);
		assert_string_equal(exec_prepared(c[i], name, param), want);
		if (it % 50 == 0) {
			int n = atoi(qv(c[i], "SELECT count(*) FROM pg_prepared_statements"));
			assert_true(n <= 3);
		}
	}
	/* Reused, not re-prepared each time: far fewer server Parses than Binds. */
	PGconn *admin = track(pt_connect(&g_proc, "admin", "admin-pw", "pgtide", NULL));
	long parses = atol(pt_show_value(admin, "SHOW STATS_TOTALS", "database", g_db, "server_parse_count"));
	long binds = atol(pt_show_value(admin, "SHOW STATS_TOTALS", "database", g_db, "bind_count"));
	long hits = atol(pt_show_value(admin, "SHOW STATS_TOTALS", "database", g_db, "ps_hits"));
	long misses = atol(pt_show_value(admin, "SHOW STATS_TOTALS", "database", g_db, "ps_misses"));
	long evictions = atol(pt_show_value(admin, "SHOW STATS_TOTALS", "database", g_db, "ps_evictions"));
	assert_true(binds >= 900);
	assert_true(parses < binds);
	/* Every use is a hit or a miss; 6 statements cycling through servers
	 * that keep 3 must evict. */
	assert_int_equal(hits + misses, binds + NCLIENTS * (2 + NEXTRA));
	assert_true(misses > 0 && evictions > 0);
	for (int i = 0; i < NCLIENTS; i++)
		finish(c[i]);
	finish(admin);
	stop_proc();
}

/* Errors are PostgreSQL's own, and only confirmed statements are recorded. */
static void test_prepared_statement_errors(void **state)
{
	(void)state;
	start_proc("default_pool_size = 2\n");
	PGconn *a = client(), *b = client();
	char msg[256];

	/* A Parse that fails leaves nothing behind. */
	PGresult *r = PQprepare(a, "bad", "SELEC 1", 0, NULL);
	assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
	assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42601");
	PQclear(r);
	const char *got = exec_prepared(a, "bad", NULL);
	assert_non_null(strstr(got, "ERR:26000"));
	assert_non_null(strstr(got, "prepared statement \"bad\" does not exist"));

	/* Redefining a name is refused as PostgreSQL refuses it. */
	prepare_ok(a, "dup", "SELECT 1", 0);
	r = PQprepare(a, "dup", "SELECT 2", 0, NULL);
	assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
	assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42P05");
	assert_string_equal(PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY), "prepared statement \"dup\" already exists");
	PQclear(r);
	assert_string_equal(exec_prepared(a, "dup", NULL), "1");

	/* A pipeline with an error in the middle: the Parse before it stands,
	 * the one that failed and everything after it up to Sync do not. */
	assert_int_equal(PQenterPipelineMode(a), 1);
	assert_int_equal(PQsendPrepare(a, "p1", "SELECT 11", 0, NULL), 1);
	assert_int_equal(PQsendPrepare(a, "p2", "SELEC 12", 0, NULL), 1);
	assert_int_equal(PQsendPrepare(a, "p3", "SELECT 13", 0, NULL), 1);
	assert_int_equal(PQsendQueryPrepared(a, "p1", 0, NULL, NULL, NULL, 0), 1);
	assert_int_equal(PQpipelineSync(a), 1);
	ExecStatusType want[] = { PGRES_COMMAND_OK, PGRES_FATAL_ERROR, PGRES_PIPELINE_ABORTED, PGRES_PIPELINE_ABORTED,
				  PGRES_PIPELINE_SYNC };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		r = PQgetResult(a);
		assert_non_null(r);
		if (PQresultStatus(r) != want[i])
			fail_msg("pipeline result %zu: %s, wanted %s (%s)", i, PQresStatus(PQresultStatus(r)),
				 PQresStatus(want[i]), PQresultErrorMessage(r));
		PQclear(r);
		if (want[i] != PGRES_PIPELINE_SYNC)
			assert_null(PQgetResult(a)); /* end of this query's results */
	}
	assert_int_equal(PQexitPipelineMode(a), 1);
	assert_string_equal(exec_prepared(a, "p1", NULL), "11");
	assert_non_null(strstr(exec_prepared(a, "p2", NULL), "ERR:26000"));
	assert_non_null(strstr(exec_prepared(a, "p3", NULL), "ERR:26000"));

	/* SQL DEALLOCATE of a protocol-level statement: gone for a, and only
	 * for a, as on a direct connection. */
	prepare_ok(a, "to_drop", "SELECT 'a'", 0);
	prepare_ok(b, "to_drop", "SELECT 'a'", 0);
	qv(a, "DEALLOCATE to_drop");
	assert_non_null(strstr(exec_prepared(a, "to_drop", NULL), "ERR:26000"));
	assert_string_equal(exec_prepared(b, "to_drop", NULL), "a");
	qv(a, "BEGIN");
	prepare_ok(a, "in_tx", "SELECT 2", 0);
	qv(a, "DEALLOCATE PREPARE in_tx");
	assert_string_equal(qv(a, "SELECT 'still in the transaction'"), "still in the transaction");
	qv(a, "COMMIT");
	assert_non_null(strstr(exec_prepared(a, "in_tx", NULL), "ERR:26000"));

	/* DEALLOCATE ALL drops a's statements only. */
	prepare_ok(b, "theirs", "SELECT 'b'", 0);
	qv(a, "DEALLOCATE ALL");
	assert_non_null(strstr(exec_prepared(a, "dup", NULL), "ERR:26000"));
	assert_non_null(strstr(exec_prepared(a, "p1", NULL), "ERR:26000"));
	assert_string_equal(exec_prepared(b, "theirs", NULL), "b");
	/* ...and a may reuse the names. */
	prepare_ok(a, "dup", "SELECT 3", 0);
	assert_string_equal(exec_prepared(a, "dup", NULL), "3");
	(void)msg;
	finish(a);
	finish(b);
	stop_proc();
}

/* A named statement whose text is larger than pgtide's 16 KiB buffers is
 * gathered whole and carried like any other. */
static void test_prepared_statement_larger_than_buffer(void **state)
{
	(void)state;
	start_proc("default_pool_size = 2\n");
	PGconn *a = client(), *b = client();
	size_t n = 100000;
	char *sql = malloc(n + 64);
	assert_non_null(sql);
	int len = snprintf(sql, n + 64, "SELECT $1::int + length('");
	memset(sql + len, 'x', n);
	snprintf(sql + len + n, 64, "')");
	prepare_ok(a, "big", sql, 1);
	prepare_ok(b, "big", sql, 1);
	free(sql);
	for (int i = 0; i < 20; i++) {
		assert_string_equal(exec_prepared(i % 2 ? a : b, "big", "1"), "100001");
		qv(b, "SELECT 1"); /* moves servers around */
	}
	finish(a);
	finish(b);
	stop_proc();
}

/* DDL changes the result of a shared statement: outside a transaction
 * pgtide prepares it again and replays, so the client gets its rows; inside
 * one, PostgreSQL's error reaches the client as it would directly. */
static void test_prepared_survives_ddl(void **state)
{
	(void)state;
	start_proc("default_pool_size = 1\n");
	PGconn *a = client();
	PGconn *d = track(pg_connect_direct(g_db));
	prepare_ok(a, "all_rows", "SELECT * FROM ddl_t ORDER BY id", 0);
	PGresult *r = PQexecPrepared(a, "all_rows", 0, NULL, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_int_equal(PQnfields(r), 2);
	PQclear(r);

	qv(d, "ALTER TABLE ddl_t ADD COLUMN extra int DEFAULT 5");
	r = PQexecPrepared(a, "all_rows", 0, NULL, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("after ALTER TABLE: %s", PQresultErrorMessage(r));
	assert_int_equal(PQnfields(r), 3);
	assert_string_equal(PQgetvalue(r, 0, 2), "5");
	PQclear(r);
	assert_true(pgtide_log_contains(&g_proc, "prepared again after a plan change"));

	qv(d, "ALTER TABLE ddl_t DROP COLUMN extra");
	qv(a, "BEGIN");
	r = PQexecPrepared(a, "all_rows", 0, NULL, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
	assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "0A000");
	PQclear(r);
	qv(a, "ROLLBACK");
	r = PQexecPrepared(a, "all_rows", 0, NULL, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_int_equal(PQnfields(r), 2);
	PQclear(r);
	finish(d);
	finish(a);
	stop_proc();
}

/* The server connection a client's statements lived on dies: the next use
 * prepares them again on another, and the client never notices. */
static void test_prepared_after_backend_killed(void **state)
{
	(void)state;
	start_proc("default_pool_size = 2\n");
	PGconn *a = client();
	prepare_ok(a, "k", "SELECT $1::int * 2", 1);
	assert_string_equal(exec_prepared(a, "k", "21"), "42");
	PGconn *d = track(pg_connect_direct(g_db));
	qv(d, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '%s' AND usename = 'app'",
	   g_db);
	usleep(300000); /* pgtide sees the idle sockets close */
	for (int i = 0; i < 5; i++)
		assert_string_equal(exec_prepared(a, "k", "5"), "10");
	finish(d);
	finish(a);
	stop_proc();
}

/* ================================================================== */
/* Session settings                                                    */
/* ================================================================== */

static void expect_setting(PGconn *c, const char *name, const char *want)
{
	const char *got = qv(c, "SELECT coalesce(current_setting('%s', true), '<null>')", name);
	if (strcmp(got, want) != 0)
		fail_msg("%s: expected \"%s\", got \"%s\"", name, want, got);
}

/* Three clients on two servers: each always sees its own settings, never
 * another's, across thousands of interleaved transactions (1,500 rounds,
 * about 4,000 transactions); RESET, rolled
 * back SETs, SET LOCAL and set_config() behave as on a direct connection. */
static void test_session_settings_follow_client(void **state)
{
	(void)state;
	start_proc("default_pool_size = 2\n");
	PGconn *a = client(), *b = client(), *c = client();
	const char *def_path = qv(c, "SHOW search_path");
	char default_path[128];
	snprintf(default_path, sizeof(default_path), "%s", def_path);

	qv(a, "SET app.user_id = 'a'");
	qv(a, "SET search_path = a_schema, public");
	qv(a, "SET statement_timeout = '7s'");
	qv(b, "SELECT set_config('app.user_id', 'b', false)");
	for (int it = 0; it < 1500; it++) {
		switch (it % 3) {
		case 0:
			expect_setting(a, "app.user_id", "a");
			expect_setting(a, "search_path", "a_schema, public");
			expect_setting(a, "statement_timeout", "7s");
			break;
		case 1:
			qv(b, "BEGIN");
			expect_setting(b, "app.user_id", "b");
			expect_setting(b, "search_path", default_path);
			qv(b, "COMMIT");
			expect_setting(b, "statement_timeout", "0");
			break;
		default: {
			const char *v = qv(c, "SELECT coalesce(current_setting('app.user_id', true), '')");
			assert_string_equal(v, ""); /* never set by c: unset or empty, never a or b */
			expect_setting(c, "search_path", default_path);
			break;
		}
		}
	}
	/* Rolled back: the SET never happened. */
	qv(b, "BEGIN");
	qv(b, "SET app.user_id = 'rolled back'");
	qv(b, "ROLLBACK");
	expect_setting(b, "app.user_id", "b");
	/* SET LOCAL ends with its transaction. */
	qv(b, "BEGIN");
	qv(b, "SET LOCAL app.user_id = 'local'");
	expect_setting(b, "app.user_id", "local");
	qv(b, "COMMIT");
	expect_setting(b, "app.user_id", "b");
	/* RESET goes back to the default, RESET ALL to all defaults. */
	qv(a, "RESET search_path");
	expect_setting(a, "search_path", default_path);
	expect_setting(a, "app.user_id", "a");
	qv(a, "RESET ALL");
	expect_setting(a, "statement_timeout", "0");
	assert_string_equal(qv(a, "SELECT coalesce(current_setting('app.user_id', true), '')"), "");
	for (int i = 0; i < 10; i++)
		expect_setting(b, "app.user_id", "b");
	finish(a);
	finish(b);
	finish(c);
	stop_proc();
}

/* SQL-level PREPARE / EXECUTE / DEALLOCATE follow the client too. */
static void test_sql_prepare_follows_client(void **state)
{
	(void)state;
	start_proc("default_pool_size = 2\n");
	PGconn *a = client(), *b = client(), *c = client();
	qv(a, "PREPARE q(int) AS SELECT $1 * 10");
	qv(b, "PREPARE q(int) AS SELECT $1 * 20");
	char want[32];
	for (int it = 0; it < 100; it++) {
		snprintf(want, sizeof(want), "%d", it * 10);
		assert_string_equal(qv(a, "EXECUTE q(%d)", it), want);
		snprintf(want, sizeof(want), "%d", it * 20);
		assert_string_equal(qv(b, "EXECUTE q(%d)", it), want);
		/* c, which prepared nothing, never finds a q on its server. */
		if (it % 10 == 0)
			assert_string_equal(qv(c, "SELECT count(*) FROM pg_prepared_statements WHERE from_sql"), "0");
	}
	qv(a, "DEALLOCATE q");
	assert_string_equal(q_err(a, "EXECUTE q(1)", NULL, 0), "26000");
	assert_string_equal(qv(b, "EXECUTE q(2)"), "40");
	assert_string_equal(q_err(c, "EXECUTE q(1)", NULL, 0), "26000");
	finish(a);
	finish(b);
	finish(c);
	stop_proc();
}

/* ================================================================== */
/* State that cannot move                                              */
/* ================================================================== */

/* LISTEN, an advisory lock or a temporary table keep the client on its
 * server until they are gone; nobody else ever sees them. */
static void test_session_state_pins_client(void **state)
{
	(void)state;
	start_proc("default_pool_size = 1\nquery_wait_timeout = 20\n");
	PGconn *a = client(), *b = client();
	qv(a, "LISTEN chan");
	/* b waits: the only server stays with a. */
	assert_int_equal(PQsendQuery(b, "SELECT count(*) FROM pg_listening_channels()"), 1);
	usleep(300000);
	assert_int_equal(PQconsumeInput(b), 1);
	assert_int_equal(PQisBusy(b), 1);
	/* a still listens on its server and gets what it listens for. */
	qv(a, "NOTIFY chan, 'hello'");
	PGnotify *n = PQnotifies(a);
	assert_non_null(n);
	assert_string_equal(n->extra, "hello");
	PQfreemem(n);
	qv(a, "UNLISTEN *");
	/* Now the server is free: b runs, and sees no listener of a's. */
	PGresult *r;
	char got[32] = "";
	while ((r = PQgetResult(b))) {
		if (PQresultStatus(r) == PGRES_TUPLES_OK)
			snprintf(got, sizeof(got), "%s", PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	assert_string_equal(got, "0");

	/* A temporary table: a keeps using it across transactions. */
	qv(a, "CREATE TEMP TABLE t_tmp (x int)");
	qv(a, "INSERT INTO t_tmp VALUES (1)");
	assert_string_equal(qv(a, "SELECT count(*) FROM t_tmp"), "1");
	qv(a, "DROP TABLE t_tmp");
	assert_string_equal(qv(b, "SELECT coalesce(to_regclass('pg_temp.t_tmp')::text, 'none')"), "none");

	/* A session advisory lock: held until unlocked, then the server moves on.
	 * The key is this process's pid: the suite's other runs of this test
	 * (other worker settings) share the cluster and pg_locks. */
	int key = (int)getpid();
	qv(a, "SELECT pg_advisory_lock(%d)", key);
	assert_int_equal(PQsendQuery(b, "SELECT 1"), 1);
	usleep(300000);
	assert_int_equal(PQconsumeInput(b), 1);
	assert_int_equal(PQisBusy(b), 1);
	qv(a, "SELECT pg_advisory_unlock(%d)", key);
	while ((r = PQgetResult(b)))
		PQclear(r);
	assert_string_equal(qv(b, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %d", key),
			    "0");
	finish(a);
	finish(b);
	stop_proc();
}

/* transaction_mode_session_state = error refuses such statements with a
 * clear error and leaves the connection usable. */
static void test_session_state_error_mode(void **state)
{
	(void)state;
	start_proc("transaction_mode_session_state = error\n");
	PGconn *a = client();
	char msg[256];
	assert_string_equal(q_err(a, "LISTEN chan", msg, sizeof(msg)), "0A000");
	assert_non_null(strstr(msg, "LISTEN"));
	assert_non_null(strstr(msg, "transaction pooling"));
	assert_string_equal(q_err(a, "SELECT pg_advisory_lock(7)", msg, sizeof(msg)), "0A000");
	assert_string_equal(qv(a, "SELECT count(*) FROM pg_listening_channels()"), "0");
	assert_string_equal(qv(a, "SELECT 1"), "1");
	finish(a);
	stop_proc();
}

int main(void)
{
	const char *filter = getenv("PGTIDE_TEST_FILTER");
	if (filter && *filter)
		cmocka_set_test_filter(filter);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_prepared_statements_follow_client, teardown_proc),
		cmocka_unit_test_teardown(test_prepared_statement_errors, teardown_proc),
		cmocka_unit_test_teardown(test_prepared_after_backend_killed, teardown_proc),
		cmocka_unit_test_teardown(test_prepared_statement_larger_than_buffer, teardown_proc),
		cmocka_unit_test_teardown(test_prepared_survives_ddl, teardown_proc),
		cmocka_unit_test_teardown(test_session_settings_follow_client, teardown_proc),
		cmocka_unit_test_teardown(test_sql_prepare_follows_client, teardown_proc),
		cmocka_unit_test_teardown(test_session_state_pins_client, teardown_proc),
		cmocka_unit_test_teardown(test_session_state_error_mode, teardown_proc),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/*
 * test_replicas.c - read replicas with real streaming replication.
 *
 * A private primary and one streaming replica (pg_basebackup -R, through
 * pgcluster.sh) in a temporary directory, never the shared fixture: these
 * tests pause replay and stop the replica. See docs/routing.md.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static char base_dir[256], primary_dir[300], replica_dir[300];
static int primary_port, replica_port;
static char dbs[512];

static void destroy_clusters(void)
{
	if (!base_dir[0])
		return;
	pt_run("%s destroy %s >/dev/null 2>&1", pt_pgcluster_script(), replica_dir);
	pt_run("%s destroy %s >/dev/null 2>&1", pt_pgcluster_script(), primary_dir);
	pt_run("rm -rf %s", base_dir);
	base_dir[0] = '\0';
}

static PGconn *direct(const char *dir, int port)
{
	char ci[512];
	snprintf(ci, sizeof(ci), "host=%s port=%d user=postgres dbname=app", dir, port);
	PGconn *c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("direct connection to %s failed: %s", dir, PQerrorMessage(c));
	return c;
}

static int group_setup(void **state)
{
	snprintf(base_dir, sizeof(base_dir), "/tmp/pgtide-replicas-XXXXXX");
	if (!mkdtemp(base_dir))
		return -1;
	atexit(destroy_clusters);
	snprintf(primary_dir, sizeof(primary_dir), "%s/p", base_dir);
	snprintf(replica_dir, sizeof(replica_dir), "%s/r", base_dir);
	primary_port = free_tcp_port();
	if (pt_run("%s start %s %d >/dev/null", pt_pgcluster_script(), primary_dir, primary_port) != 0)
		return -1;
	replica_port = free_tcp_port();
	if (pt_run("%s replica %s %s %d >/dev/null", pt_pgcluster_script(), primary_dir, replica_dir, replica_port) != 0)
		return -1;
	PGconn *c = direct(primary_dir, primary_port);
	PQclear(PQexec(c, "CREATE TABLE ryw (id int PRIMARY KEY, who int)"));
	PQfinish(c);
	/* Until the replica has it. */
	c = direct(replica_dir, replica_port);
	for (int i = 0; i < 500; i++) {
		PGresult *r = PQexec(c, "SELECT to_regclass('ryw') IS NOT NULL");
		bool there = PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
		PQclear(r);
		if (there)
			break;
		usleep(20000);
	}
	PQfinish(c);
	snprintf(dbs, sizeof(dbs),
		 "app = host=127.0.0.1 port=%d replicas=127.0.0.1:%d read_routing=auto "
		 "replica_check_period=100ms replica_max_lag_time=1s\n",
		 primary_port, replica_port);
	return 0;
}

static int group_teardown(void **state)
{
	destroy_clusters();
	return 0;
}

#define SETTINGS "replica_check_user = postgres\ndefault_pool_size = 10\nmax_client_conn = 200\n"

static PGconn *admin(const pgtide_proc_t *p)
{
	return pt_connect_ok(p, "admin", "admin-pw", "pgtide");
}

static const char *replica_state(PGconn *a)
{
	return pt_show_value(a, "SHOW REPLICAS", "database", "app", "state");
}

static void wait_state(const pgtide_proc_t *p, const char *want, double timeout)
{
	PGconn *a = admin(p);
	double until = now_seconds() + timeout;
	char got[32] = "";
	while (now_seconds() < until) {
		snprintf(got, sizeof(got), "%s", replica_state(a));
		if (strcmp(got, want) == 0)
			break;
		usleep(20000);
	}
	PQfinish(a);
	if (strcmp(got, want) != 0)
		fail_msg("replica state is %s after %.1fs, expected %s", got, timeout, want);
}

static bool in_recovery(PGconn *c, const char *sql)
{
	return strcmp(pt_query_value(c, sql), "t") == 0;
}

/* ---- routing ---- */

static void test_routing_auto(void **state)
{
	pgtide_proc_t p;
	pgtide_start(&p, SETTINGS, dbs);
	wait_state(&p, "up", 5);
	enum { NC = 8 };
	PGconn *c[NC], *wr[NC];
	for (int i = 0; i < NC; i++) {
		c[i] = pt_connect_ok(&p, "app", "app-pw", "app");
		wr[i] = pt_connect_ok(&p, "app", "app-pw", "app");
	}
	int reads_on_replica = 0, writes_on_primary = 0;
	for (int k = 0; k < 25; k++) {
		for (int i = 0; i < NC; i++) {
			reads_on_replica += in_recovery(c[i], "SELECT pg_is_in_recovery()");
			/* A write in autocommit: the primary (other clients: their
			 * reads are not held back by read-your-writes). */
			writes_on_primary += !in_recovery(
				wr[i], "WITH w AS (UPDATE ryw SET who = 0 WHERE false RETURNING 1) SELECT pg_is_in_recovery()");
		}
	}
	for (int i = 0; i < NC; i++)
		PQfinish(wr[i]);
	/* Clients that never wrote read from the replica every time. */
	assert_int_equal(reads_on_replica, 25 * NC);
	assert_int_equal(writes_on_primary, 25 * NC);

	/* BEGIN READ ONLY goes to a replica; a plain BEGIN to the primary. */
	PGconn *x = c[0];
	assert_string_equal(pt_query_value(x, "BEGIN READ ONLY"), "");
	assert_true(in_recovery(x, "SELECT pg_is_in_recovery()"));
	assert_string_equal(pt_query_sqlstate(x, "INSERT INTO ryw VALUES (-1, 0)"), "25006");
	pt_query_value(x, "ROLLBACK");
	assert_true(in_recovery(x, "START TRANSACTION READ ONLY; SELECT pg_is_in_recovery()"));
	pt_query_value(x, "COMMIT");

	/* Extended protocol: unnamed and named statements. */
	PGresult *r = PQexecParams(x, "SELECT pg_is_in_recovery()", 0, NULL, NULL, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	PQclear(PQprepare(x, "rec", "SELECT pg_is_in_recovery()", 0, NULL));
	PQclear(PQprepare(x, "wr", "INSERT INTO ryw VALUES (-2, 0) ON CONFLICT DO NOTHING RETURNING pg_is_in_recovery()", 0, NULL));
	for (int k = 0; k < 5; k++) {
		r = PQexecPrepared(x, "rec", 0, NULL, NULL, NULL, 0);
		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		assert_string_equal(PQgetvalue(r, 0, 0), "t");
		PQclear(r);
	}
	r = PQexecPrepared(x, "wr", 0, NULL, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	PQclear(r);
	/* A plain BEGIN: the primary. */
	pt_query_value(x, "BEGIN");
	assert_false(in_recovery(x, "SELECT pg_is_in_recovery()"));
	pt_query_value(x, "COMMIT");

	/* The _ro entry point and default_transaction_read_only=on: replicas. */
	PGconn *ro = pt_connect_ok(&p, "app", "app-pw", "app_ro");
	assert_true(in_recovery(ro, "BEGIN; SELECT pg_is_in_recovery()"));
	pt_query_value(ro, "COMMIT");
	assert_string_equal(pt_query_sqlstate(ro, "INSERT INTO ryw VALUES (-3, 0)"), "25006");
	PQfinish(ro);
	ro = pt_connect(&p, "app", "app-pw", "app", "options='-c default_transaction_read_only=on'");
	assert_int_equal(PQstatus(ro), CONNECTION_OK);
	assert_true(in_recovery(ro, "SELECT pg_is_in_recovery()"));
	PQfinish(ro);

	PGconn *a = admin(&p);
	assert_true(atoi(pt_show_value(a, "SHOW REPLICAS", "database", "app", "transactions")) >= 25 * NC);
	/* SHOW POOLS: a primary and a replica row. */
	PGresult *pools = PQexec(a, "SHOW POOLS");
	int roles = 0;
	for (int i = 0; i < PQntuples(pools); i++) {
		const char *role = PQgetvalue(pools, i, PQfnumber(pools, "role"));
		roles |= strcmp(role, "primary") == 0 ? 1 : strcmp(role, "replica") == 0 ? 2 : 0;
	}
	PQclear(pools);
	assert_int_equal(roles, 3);
	PQfinish(a);
	for (int i = 0; i < NC; i++)
		PQfinish(c[i]);
	assert_int_equal(pgtide_stop(&p), 0);
}

/* ---- read your writes ---- */

typedef struct ryw_arg {
	const pgtide_proc_t *p;
	int id0, n;
	atomic_int *misses, *errors, *replica_reads;
} ryw_arg_t;

static void *ryw_worker(void *v)
{
	ryw_arg_t *a = v;
	PGconn *c = pt_connect(a->p, "app", "app-pw", "app", NULL);
	if (PQstatus(c) != CONNECTION_OK) {
		atomic_fetch_add(a->errors, a->n);
		PQfinish(c);
		return NULL;
	}
	for (int i = 0; i < a->n; i++) {
		char sql[160];
		int id = a->id0 + i;
		snprintf(sql, sizeof(sql), "INSERT INTO ryw VALUES (%d, 1)", id);
		PGresult *r = PQexec(c, sql);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			atomic_fetch_add(a->errors, 1);
		PQclear(r);
		snprintf(sql, sizeof(sql), "SELECT count(*), pg_is_in_recovery() FROM ryw WHERE id = %d", id);
		r = PQexec(c, sql);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			atomic_fetch_add(a->errors, 1);
		else if (strcmp(PQgetvalue(r, 0, 0), "1") != 0)
			atomic_fetch_add(a->misses, 1);
		else if (strcmp(PQgetvalue(r, 0, 1), "t") == 0)
			atomic_fetch_add(a->replica_reads, 1);
		PQclear(r);
	}
	PQfinish(c);
	return NULL;
}

/* 20 clients, each INSERT then SELECT of that row in the next transaction. */
static void run_ryw(const pgtide_proc_t *p, int id0, int per_client, int *misses, int *errors, int *replica_reads)
{
	enum { NT = 20 };
	pthread_t t[NT];
	ryw_arg_t args[NT];
	atomic_int m = 0, e = 0, rr = 0;
	for (int i = 0; i < NT; i++) {
		args[i] = (ryw_arg_t){ p, id0 + i * per_client, per_client, &m, &e, &rr };
		pthread_create(&t[i], NULL, ryw_worker, &args[i]);
	}
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	*misses = m;
	*errors = e;
	*replica_reads = rr;
}

static void test_read_your_writes(void **state)
{
	pgtide_proc_t p;
	pgtide_start(&p, SETTINGS, dbs);
	wait_state(&p, "up", 5);
	int misses, errors, replica_reads;
	/* Replicas in use: another client reads from them meanwhile. */
	PGconn *reader = pt_connect_ok(&p, "app", "app-pw", "app");
	run_ryw(&p, 100000, 100, &misses, &errors, &replica_reads);
	assert_true(in_recovery(reader, "SELECT pg_is_in_recovery()"));
	PQfinish(reader);
	print_message("read-your-writes: 2000 iterations, %d misses, %d errors, %d reads on the replica\n", misses,
		      errors, replica_reads);
	assert_int_equal(errors, 0);
	assert_int_equal(misses, 0);

	/* Replay paused: every read of a fresh write must go to the primary. */
	PGconn *r = direct(replica_dir, replica_port);
	pt_query_value(r, "SELECT pg_wal_replay_pause()");
	run_ryw(&p, 200000, 25, &misses, &errors, &replica_reads);
	pt_query_value(r, "SELECT pg_wal_replay_resume()");
	PQfinish(r);
	print_message("replay paused: 500 iterations, %d misses, %d errors, %d reads on the replica\n", misses, errors,
		      replica_reads);
	assert_int_equal(errors, 0);
	assert_int_equal(misses, 0);
	assert_int_equal(replica_reads, 0);
	assert_int_equal(pgtide_stop(&p), 0);
}

/* ---- lag ---- */

static void test_lag_takes_replica_out(void **state)
{
	pgtide_proc_t p;
	pgtide_start(&p, SETTINGS, dbs);
	wait_state(&p, "up", 5);
	PGconn *reader = pt_connect_ok(&p, "app", "app-pw", "app");
	assert_true(in_recovery(reader, "SELECT pg_is_in_recovery()"));
	PGconn *r = direct(replica_dir, replica_port);
	PGconn *w = direct(primary_dir, primary_port);
	pt_query_value(r, "SELECT pg_wal_replay_pause()");
	/* Writes the replica does not replay: behind for more than 1 s. */
	pt_query_value(w, "INSERT INTO ryw VALUES (300000, 0)");
	wait_state(&p, "lagging", 4);
	assert_false(in_recovery(reader, "SELECT pg_is_in_recovery()"));
	pt_query_value(r, "SELECT pg_wal_replay_resume()");
	wait_state(&p, "up", 4);
	assert_true(in_recovery(reader, "SELECT pg_is_in_recovery()"));
	PQfinish(r);
	PQfinish(w);
	PQfinish(reader);
	assert_int_equal(pgtide_stop(&p), 0);
}

/* ---- failure ---- */

typedef struct load_arg {
	const pgtide_proc_t *p;
	atomic_bool *stop;
	atomic_int *ok, *failed, *on_replica;
	bool slow;
} load_arg_t;

static void *read_load(void *v)
{
	load_arg_t *a = v;
	PGconn *c = pt_connect(a->p, "app", "app-pw", "app", NULL);
	/* Half the readers sleep inside the query: a replica stopping then
	 * sends its FATAL after the answer's RowDescription. */
	const char *sql = a->slow ? "SELECT pg_is_in_recovery() FROM pg_sleep(0.002)" : "SELECT pg_is_in_recovery()";
	while (!atomic_load(a->stop)) {
		PGresult *r = PQexec(c, sql);
		if (PQresultStatus(r) == PGRES_TUPLES_OK) {
			atomic_fetch_add(a->ok, 1);
			if (strcmp(PQgetvalue(r, 0, 0), "t") == 0)
				atomic_fetch_add(a->on_replica, 1);
		} else {
			atomic_fetch_add(a->failed, 1);
			fprintf(stderr, "read failed: %s", PQerrorMessage(c));
			if (PQstatus(c) != CONNECTION_OK) {
				PQfinish(c);
				c = pt_connect(a->p, "app", "app-pw", "app", NULL);
			}
		}
		PQclear(r);
	}
	PQfinish(c);
	return NULL;
}

static void test_replica_down_and_back(void **state)
{
	pgtide_proc_t p;
	pgtide_start(&p, SETTINGS, dbs);
	wait_state(&p, "up", 5);
	enum { NT = 6 };
	pthread_t t[NT];
	atomic_bool stop = false;
	atomic_int ok = 0, failed = 0, on_replica = 0;
	load_arg_t a[2] = { { &p, &stop, &ok, &failed, &on_replica, false },
			    { &p, &stop, &ok, &failed, &on_replica, true } };
	for (int i = 0; i < NT; i++)
		pthread_create(&t[i], NULL, read_load, &a[i % 2]);
	/* Under load (CI runs tests side by side) the first reads may take a while. */
	for (int i = 0; i < 250 && atomic_load(&on_replica) == 0; i++)
		usleep(20000);
	assert_true(atomic_load(&on_replica) > 0);
	double t0 = now_seconds();
	assert_int_equal(pt_run("%s stop %s", pt_pgcluster_script(), replica_dir), 0);
	wait_state(&p, "down", 5);
	print_message("replica marked down %.2fs after pg_ctl stop returned\n", now_seconds() - t0);
	int failed_at_stop = atomic_load(&failed);
	int ok_at_stop = atomic_load(&ok);
	usleep(500000);
	/* Reads carry on, on the primary, and nothing fails. */
	assert_true(atomic_load(&ok) > ok_at_stop);
	assert_int_equal(atomic_load(&failed), failed_at_stop);
	assert_int_equal(pt_run("%s start %s %d >/dev/null", pt_pgcluster_script(), replica_dir, replica_port), 0);
	wait_state(&p, "up", 10);
	int replica_before = atomic_load(&on_replica);
	usleep(500000);
	atomic_store(&stop, true);
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	print_message("reads: %d ok, %d failed (%d while the replica stopped)\n", atomic_load(&ok),
		      atomic_load(&failed), failed_at_stop);
	/* Back in use. */
	assert_true(atomic_load(&on_replica) > replica_before);
	/* Reads running on the replica when it stopped are sent again
	 * elsewhere (client_replay_unit): none fails. */
	assert_int_equal(failed_at_stop, 0);
	assert_int_equal(pgtide_stop(&p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routing_auto),
		cmocka_unit_test(test_read_your_writes),
		cmocka_unit_test(test_lag_takes_replica_out),
		cmocka_unit_test(test_replica_down_and_back),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/*
 * test_balance.c - clients move between workers (balance.c): idle clients
 * gather on one worker when the load is light, spread when a worker is busy,
 * and carry their whole session with them (SET values, SQL and protocol
 * prepared statements, TLS, cancel keys). Each test sets workers = 2 itself,
 * so this binary is not run again under the worker matrix.
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
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

enum { NCLIENTS = 16 };

/* How many of user's clients each worker serves (SHOW CLIENTS). */
static void clients_per_worker(PGconn *admin, const char *user, int counts[2])
{
	counts[0] = counts[1] = 0;
	PGresult *r = PQexec(admin, "SHOW CLIENTS");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	int cu = PQfnumber(r, "user"), cw = PQfnumber(r, "worker");
	assert_true(cu >= 0 && cw >= 0);
	for (int i = 0; i < PQntuples(r); i++) {
		int w = atoi(PQgetvalue(r, i, cw));
		if (strcmp(PQgetvalue(r, i, cu), user) == 0 && w >= 0 && w < 2)
			counts[w]++;
	}
	PQclear(r);
}

/* Polls until every one of user's clients is on worker 0 (true) or timeout. */
static bool wait_all_on_first(PGconn *admin, const char *user, int expect, double timeout_s)
{
	double end = now_seconds() + timeout_s;
	int counts[2];
	do {
		clients_per_worker(admin, user, counts);
		if (counts[0] == expect && counts[1] == 0)
			return true;
		usleep(100000);
	} while (now_seconds() < end);
	fprintf(stderr, "clients per worker: %d, %d (expected %d, 0)\n", counts[0], counts[1], expect);
	return false;
}

/* Session state that must travel with a client: a custom setting, an SQL
 * prepared statement and a protocol-level one, all holding i. */
static void give_session(PGconn *c, int i)
{
	char sql[160];
	snprintf(sql, sizeof(sql), "SET app.who = '%d'", i);
	pt_query_value(c, sql);
	snprintf(sql, sizeof(sql), "PREPARE mine AS SELECT %d + $1::int", i);
	pt_query_value(c, sql);
	PGresult *r = PQprepare(c, "proto_mine", "SELECT $1::int * 2", 1, NULL);
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
}

static void check_session(PGconn *c, int i)
{
	char want[32];
	snprintf(want, sizeof(want), "%d", i);
	assert_string_equal(pt_query_value(c, "SELECT current_setting('app.who')"), want);
	snprintf(want, sizeof(want), "%d", i + 1);
	assert_string_equal(pt_query_value(c, "EXECUTE mine(1)"), want);
	const char *v = want;
	snprintf(want, sizeof(want), "%d", i);
	PGresult *r = PQexecPrepared(c, "proto_mine", 1, &v, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	snprintf(want, sizeof(want), "%d", i * 2);
	assert_string_equal(PQgetvalue(r, 0, 0), want);
	PQclear(r);
}

static void test_idle_clients_pack_onto_one_worker(void **state)
{
	char certs[] = "/tmp/pgtide-test-balance-XXXXXX";
	assert_non_null(mkdtemp(certs));
	assert_true(pt_make_cert(certs, "server", "localhost", NULL, NULL));
	char settings[1024];
	snprintf(settings, sizeof(settings),
		 "workers = 2\ndefault_pool_size = 4\nclient_tls_sslmode = prefer\n"
		 "client_tls_cert_file = %s/server.crt\nclient_tls_key_file = %s/server.key\n",
		 certs, certs);
	pgtide_proc_t p;
	pgtide_start(&p, settings, NULL);
	PGconn *admin = pt_connect_ok(&p, "admin", "admin-pw", "pgtide");
	PGconn *c[NCLIENTS];
	/* Before the first balance period the kernel spreads connections over
	 * both workers' sockets. Half the clients speak TLS. */
	for (int i = 0; i < NCLIENTS; i++) {
		c[i] = pt_connect(&p, "app", "app-pw", "app", i % 2 ? "sslmode=require" : "sslmode=disable");
		assert_int_equal(PQstatus(c[i]), CONNECTION_OK);
		assert_int_equal(PQsslInUse(c[i]), i % 2);
	}
	int counts[2];
	clients_per_worker(admin, "app", counts);
	assert_int_equal(counts[0] + counts[1], NCLIENTS);
	for (int i = 0; i < NCLIENTS; i++)
		give_session(c[i], i);
	/* Light load: the clients of worker 1 move to worker 0. */
	assert_true(wait_all_on_first(admin, "app", NCLIENTS, 5.0));
	for (int i = 0; i < NCLIENTS; i++)
		check_session(c[i], i);
	/* New connections reach worker 0 only (reuseport steering), from
	 * worker 0's next balance period on. */
	usleep(1000000);
	PGconn *late[8];
	for (int i = 0; i < 8; i++)
		late[i] = pt_connect_ok(&p, "md5_user", "md5-pw", "app");
	clients_per_worker(admin, "md5_user", counts);
	assert_int_equal(counts[0], 8);
	assert_int_equal(counts[1], 0);
	for (int i = 0; i < 8; i++)
		PQfinish(late[i]);
	/* A moved client's cancel key still reaches its query. */
	assert_int_equal(PQsendQuery(c[1], "SELECT pg_sleep(30)"), 1);
	usleep(300000);
	PGcancel *cancel = PQgetCancel(c[1]);
	char err[256];
	assert_int_equal(PQcancel(cancel, err, sizeof(err)), 1);
	PQfreeCancel(cancel);
	PGresult *r;
	char sqlstate[8] = "";
	while ((r = PQgetResult(c[1])) != NULL) {
		if (PQresultStatus(r) == PGRES_FATAL_ERROR)
			snprintf(sqlstate, sizeof(sqlstate), "%s", PQresultErrorField(r, PG_DIAG_SQLSTATE));
		PQclear(r);
	}
	assert_string_equal(sqlstate, "57014");
	check_session(c[1], 1);
	for (int i = 0; i < NCLIENTS; i++)
		PQfinish(c[i]);
	PQfinish(admin);
	assert_int_equal(pgtide_stop(&p), 0);
	pt_run("rm -rf %s", certs);
}

typedef struct load_arg {
	PGconn *c;
	atomic_bool *stop;
	atomic_int *failed;
	int i;
} load_arg_t;

static void *query_loop(void *v)
{
	load_arg_t *a = v;
	PGconn *c = a->c;
	char want[32];
	snprintf(want, sizeof(want), "%d", a->i);
	while (!atomic_load(a->stop)) {
		PGresult *r = PQexec(c, "SELECT current_setting('app.who')");
		if (PQresultStatus(r) != PGRES_TUPLES_OK || strcmp(PQgetvalue(r, 0, 0), want) != 0) {
			fprintf(stderr, "client %d: %s", a->i, PQerrorMessage(c));
			atomic_fetch_add(a->failed, 1);
		}
		PQclear(r);
	}
	return NULL;
}

/* worker_busy_percent = 1: any real load counts as busy. Idle clients
 * first gather on worker 0; once they run queries, worker 0 hands some to
 * worker 1, and every query still sees its own client's setting. */
static void test_busy_worker_spreads_clients(void **state)
{
	pgtide_proc_t p;
	pgtide_start(&p, "workers = 2\ndefault_pool_size = 4\nworker_busy_percent = 1\n", NULL);
	PGconn *admin = pt_connect_ok(&p, "admin", "admin-pw", "pgtide");
	enum { NT = 8 };
	pthread_t t[NT];
	load_arg_t a[NT];
	atomic_bool stop = false;
	atomic_int failed = 0;
	PGconn *c[NT];
	for (int i = 0; i < NT; i++) {
		c[i] = pt_connect_ok(&p, "app", "app-pw", "app");
		char sql[64];
		snprintf(sql, sizeof(sql), "SET app.who = '%d'", i);
		pt_query_value(c[i], sql);
	}
	assert_true(wait_all_on_first(admin, "app", NT, 5.0));
	for (int i = 0; i < NT; i++) {
		a[i] = (load_arg_t){ c[i], &stop, &failed, i };
		pthread_create(&t[i], NULL, query_loop, &a[i]);
	}
	bool spread = false;
	double end = now_seconds() + 6.0;
	while (!spread && now_seconds() < end) {
		usleep(200000);
		int counts[2];
		clients_per_worker(admin, "app", counts);
		spread = counts[0] > 0 && counts[1] > 0 && counts[0] + counts[1] == NT;
	}
	/* New connections now reach both busy workers: steering picks one of
	 * the two at random (thirty-two all on one: 1 in 2^31), from worker
	 * 0's next balance period on at the latest. Meanwhile the clients keep
	 * working across moves. */
	enum { NLATE = 32 };
	PGconn *late[NLATE];
	int late_counts[2] = { 0, 0 }, nlate = 0;
	usleep(600000);
	while (nlate < NLATE && !(late_counts[0] > 0 && late_counts[1] > 0)) {
		late[nlate++] = pt_connect_ok(&p, "md5_user", "md5-pw", "app");
		clients_per_worker(admin, "md5_user", late_counts);
		usleep(50000);
	}
	for (int i = 0; i < nlate; i++)
		PQfinish(late[i]);
	atomic_store(&stop, true);
	for (int i = 0; i < NT; i++) {
		pthread_join(t[i], NULL);
		PQfinish(c[i]);
	}
	assert_true(spread);
	assert_int_equal(atomic_load(&failed), 0);
	assert_true(late_counts[0] > 0 && late_counts[1] > 0);
	PQfinish(admin);
	assert_int_equal(pgtide_stop(&p), 0);
}

/* worker_busy_percent = 0: clients stay where the kernel put them. */
static void test_balancing_off_keeps_placement(void **state)
{
	pgtide_proc_t p;
	pgtide_start(&p, "workers = 2\nworker_busy_percent = 0\n", NULL);
	PGconn *admin = pt_connect_ok(&p, "admin", "admin-pw", "pgtide");
	PGconn *c[NCLIENTS];
	for (int i = 0; i < NCLIENTS; i++)
		c[i] = pt_connect_ok(&p, "app", "app-pw", "app");
	usleep(1500000); /* three balance periods */
	int counts[2];
	clients_per_worker(admin, "app", counts);
	/* All sixteen on one worker by the kernel's hash: odds 1 in 32,768. */
	assert_true(counts[0] > 0 && counts[1] > 0);
	assert_int_equal(counts[0] + counts[1], NCLIENTS);
	for (int i = 0; i < NCLIENTS; i++)
		PQfinish(c[i]);
	PQfinish(admin);
	assert_int_equal(pgtide_stop(&p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_clients_pack_onto_one_worker),
		cmocka_unit_test(test_busy_worker_spreads_clients),
		cmocka_unit_test(test_balancing_off_keeps_placement),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_lifecycle.c - reload, graceful shutdown, session mode, unix socket.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static void test_reload_keeps_clients(void **state)
{
	pgtide_proc_t p;
	pgtide_start(&p, "default_pool_size = 3\n", NULL);
	PGconn *c = pt_connect_ok(&p, "app", "app-pw", "app");
	assert_string_equal(pt_query_value(c, "SELECT 1"), "1");
	PGconn *a = pt_connect_ok(&p, "admin", "admin-pw", "pgtide");
	assert_string_equal(pt_show_value(a, "SHOW CONFIG", "key", "default_pool_size", "value"), "3");

	pgtide_rewrite_config(&p, "default_pool_size = 7\n", NULL);
	pgtide_signal(&p, SIGHUP);
	const char *v = NULL;
	for (int i = 0; i < 100; i++) {
		v = pt_show_value(a, "SHOW CONFIG", "key", "default_pool_size", "value");
		if (v && strcmp(v, "7") == 0)
			break;
		usleep(20000);
	}
	assert_string_equal(v, "7");
	/* The client connected before the reload carries on. */
	assert_string_equal(pt_query_value(c, "SELECT 2"), "2");
	PQfinish(c);

	/* A broken file is refused and the old settings stay. */
	pgtide_rewrite_config(&p, "default_pool_size = banana\n", NULL);
	pgtide_signal(&p, SIGHUP);
	usleep(300000);
	assert_string_equal(pt_show_value(a, "SHOW CONFIG", "key", "default_pool_size", "value"), "7");
	assert_true(pgtide_log_contains(&p, "reload failed"));
	PQfinish(a);
	assert_int_equal(pgtide_stop(&p), 0);
}

/* Servers keep logging in while RELOAD moves the pool between two ways to
 * reach the same PostgreSQL (TCP, then its unix socket) many times: each
 * server logs in with its own copy of the pool's target (server_target_t),
 * so none reads a string RELOAD freed (ASan watches), and every query is
 * served. */
typedef struct churn_arg {
	const pgtide_proc_t *p;
	atomic_int *failed;
} churn_arg_t;

static void *reload_churn_client(void *v)
{
	churn_arg_t *a = v;
	PGconn *c = pt_connect(a->p, "app", "app-pw", "app", NULL);
	for (int i = 0; i < 150; i++) {
		PGresult *r = PQexec(c, "SELECT 1");
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			fprintf(stderr, "query failed: %s", PQerrorMessage(c));
			atomic_fetch_add(a->failed, 1);
		}
		PQclear(r);
	}
	PQfinish(c);
	return NULL;
}

static void test_reload_storm_while_servers_log_in(void **state)
{
	char tcp_db[512], unix_db[512];
	snprintf(tcp_db, sizeof(tcp_db), "app = host=127.0.0.1 port=%d dbname=app password=app-pw\n", pg_port());
	snprintf(unix_db, sizeof(unix_db), "app = host=%s port=%d dbname=app password=app-pw\n", pg_host(), pg_port());
	const char *settings = "default_pool_size = 4\n";
	pgtide_proc_t p;
	pgtide_start(&p, settings, tcp_db);
	enum { NT = 4 };
	pthread_t t[NT];
	atomic_int failed = 0;
	churn_arg_t a = { &p, &failed };
	for (int i = 0; i < NT; i++)
		pthread_create(&t[i], NULL, reload_churn_client, &a);
	/* Each reload changes the target: servers are replaced as released. */
	for (int i = 0; i < 40; i++) {
		pgtide_rewrite_config(&p, settings, i % 2 ? tcp_db : unix_db);
		pgtide_signal(&p, SIGHUP);
		usleep(15000);
	}
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&failed), 0);
	assert_false(pgtide_log_contains(&p, "reload failed"));
	PGconn *c = pt_connect_ok(&p, "app", "app-pw", "app");
	assert_string_equal(pt_query_value(c, "SELECT 'after'"), "after");
	PQfinish(c);
	assert_int_equal(pgtide_stop(&p), 0);
}

static void test_sigterm_lets_transactions_finish(void **state)
{
	pgtide_proc_t p;
	pgtide_start(&p, "default_pool_size = 2\n", NULL);
	PGconn *c = pt_connect_ok(&p, "app", "app-pw", "app");
	pt_query_value(c, "BEGIN");
	pt_query_value(c, "SELECT 1");
	pgtide_signal(&p, SIGTERM);
	usleep(200000);
	/* New clients are refused while draining. */
	PGconn *late = pt_connect(&p, "app", "app-pw", "app", NULL);
	assert_int_not_equal(PQstatus(late), CONNECTION_OK);
	PQfinish(late);
	/* The open transaction still completes. */
	assert_string_equal(pt_query_value(c, "SELECT 41 + 1"), "42");
	pt_query_value(c, "COMMIT");
	/* Then pgtide exits by itself. */
	int st = 0;
	pid_t r = 0;
	for (int i = 0; i < 250 && r == 0; i++) {
		r = waitpid(p.pid, &st, WNOHANG);
		if (r == 0)
			usleep(20000);
	}
	assert_int_equal(r, p.pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	p.pid = 0;
	PQfinish(c);
	assert_int_equal(pgtide_stop(&p), 0);
}

static int wait_exit(pgtide_proc_t *p, int tries)
{
	int st = 0;
	pid_t r = 0;
	for (int i = 0; i < tries && r == 0; i++) {
		r = waitpid(p->pid, &st, WNOHANG);
		if (r == 0)
			usleep(20000);
	}
	if (r != p->pid)
		return -1;
	p->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* SHUTDOWN WAIT_FOR_CLIENTS: connected clients keep working (new
 * transactions too), new connections are refused, and pgtide exits when
 * the last client leaves. */
static void test_shutdown_wait_for_clients(void **state)
{
	pgtide_proc_t p;
	pgtide_start(&p, "default_pool_size = 2\n", NULL);
	PGconn *c = pt_connect_ok(&p, "app", "app-pw", "app");
	PGconn *a = pt_connect_ok(&p, "admin", "admin-pw", "pgtide");
	assert_string_equal(pt_query_sqlstate(a, "SHUTDOWN WAIT_FOR_CLIENTS"), "");
	PQfinish(a);
	usleep(300000);
	PGconn *late = pt_connect(&p, "app", "app-pw", "app", NULL);
	assert_int_not_equal(PQstatus(late), CONNECTION_OK);
	PQfinish(late);
	assert_string_equal(pt_query_value(c, "SELECT 'still served'"), "still served");
	pt_query_value(c, "BEGIN");
	assert_string_equal(pt_query_value(c, "SELECT 3"), "3");
	pt_query_value(c, "COMMIT");
	assert_int_equal(wait_exit(&p, 10), -1); /* still running */
	PQfinish(c);
	assert_int_equal(wait_exit(&p, 250), 0);
	assert_int_equal(pgtide_stop(&p), 0);
}

/* SIGUSR1 pauses (a new transaction waits), SIGUSR2 resumes it. */
static void test_sigusr_pause_resume(void **state)
{
	pgtide_proc_t p;
	pgtide_start(&p, NULL, NULL);
	PGconn *c = pt_connect_ok(&p, "app", "app-pw", "app");
	pgtide_signal(&p, SIGUSR1);
	usleep(200000);
	assert_int_equal(PQsendQuery(c, "SELECT 'after resume'"), 1);
	usleep(500000);
	assert_int_equal(PQconsumeInput(c), 1);
	assert_int_equal(PQisBusy(c), 1); /* held while paused */
	pgtide_signal(&p, SIGUSR2);
	PGresult *r = PQgetResult(c);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(r, 0, 0), "after resume");
	PQclear(r);
	while ((r = PQgetResult(c)) != NULL)
		PQclear(r);
	PQfinish(c);
	assert_int_equal(pgtide_stop(&p), 0);
}

/* A database entry with user= has one pool for all its client users. */
static void test_forced_user_single_pool(void **state)
{
	pgtide_proc_t p;
	char dbs[256];
	snprintf(dbs, sizeof(dbs), "forced = host=127.0.0.1 port=%d dbname=app user=app password=app-pw\n", pg_port());
	pgtide_start(&p, NULL, dbs);
	PGconn *a = pt_connect_ok(&p, "md5_user", "md5-pw", "forced");
	PGconn *b = pt_connect_ok(&p, "scram_user", "scram-pw", "forced");
	assert_string_equal(pt_query_value(a, "SELECT current_user"), "app");
	assert_string_equal(pt_query_value(b, "SELECT current_user"), "app");
	PGconn *adm = pt_connect_ok(&p, "admin", "admin-pw", "pgtide");
	PGresult *r = PQexec(adm, "SHOW POOLS");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(r), 1);
	assert_string_equal(PQgetvalue(r, 0, PQfnumber(r, "user")), "app");
	PQclear(r);
	PQfinish(adm);
	PQfinish(a);
	PQfinish(b);
	assert_int_equal(pgtide_stop(&p), 0);
}

static void test_session_mode_resets_server(void **state)
{
	pgtide_proc_t p;
	pgtide_start(&p, "pool_mode = session\ndefault_pool_size = 1\n", NULL);
	PGconn *c = pt_connect_ok(&p, "app", "app-pw", "app");
	/* Session state lives across transactions in session mode. */
	pt_query_value(c, "CREATE TEMP TABLE mine(x int)");
	pt_query_value(c, "SET work_mem = '7MB'");
	assert_string_equal(pt_query_value(c, "SHOW work_mem"), "7MB");
	const char *pid1 = pt_query_value(c, "SELECT pg_backend_pid()");
	char pid[32];
	snprintf(pid, sizeof(pid), "%s", pid1);
	PQfinish(c);
	/* The next client gets the same server, reset by DISCARD ALL. */
	PGconn *d = pt_connect_ok(&p, "app", "app-pw", "app");
	assert_string_equal(pt_query_value(d, "SELECT pg_backend_pid()"), pid);
	assert_string_equal(pt_query_value(d, "SHOW work_mem"), "4MB");
	assert_string_equal(pt_query_sqlstate(d, "SELECT * FROM mine"), "42P01");
	PQfinish(d);
	assert_int_equal(pgtide_stop(&p), 0);
}

static void test_transaction_mode_shares_servers(void **state)
{
	pgtide_proc_t p;
	pgtide_start(&p, "pool_mode = transaction\ndefault_pool_size = 1\n", NULL);
	PGconn *a = pt_connect_ok(&p, "app", "app-pw", "app");
	PGconn *b = pt_connect_ok(&p, "app", "app-pw", "app");
	char pa[32];
	snprintf(pa, sizeof(pa), "%s", pt_query_value(a, "SELECT pg_backend_pid()"));
	assert_string_equal(pt_query_value(b, "SELECT pg_backend_pid()"), pa);
	PQfinish(a);
	PQfinish(b);
	assert_int_equal(pgtide_stop(&p), 0);
}

static void test_unix_socket(void **state)
{
	pgtide_proc_t p;
	pgtide_start(&p, NULL, NULL);
	char conninfo[512];
	snprintf(conninfo, sizeof(conninfo), "host=%s port=%d user=app password=app-pw dbname=app", p.unix_dir,
		 p.port);
	PGconn *c = PQconnectdb(conninfo);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	assert_string_equal(pt_query_value(c, "SELECT 5"), "5");
	PQfinish(c);
	assert_int_equal(pgtide_stop(&p), 0);
}

static void test_admin_access_control(void **state)
{
	pgtide_proc_t p;
	pgtide_start(&p, "stats_users = stats\n", NULL);
	/* An ordinary user gets no console. */
	PGconn *c = pt_connect(&p, "app", "app-pw", "pgbouncer", NULL);
	assert_int_not_equal(PQstatus(c), CONNECTION_OK);
	assert_non_null(strstr(PQerrorMessage(c), "not allowed"));
	PQfinish(c);
	/* A stats user may SHOW but not control. */
	PGconn *s = pt_connect_ok(&p, "stats", "stats-pw", "pgbouncer");
	assert_string_equal(pt_query_sqlstate(s, "SHOW POOLS"), "");
	assert_string_equal(pt_query_sqlstate(s, "PAUSE"), "42501");
	assert_string_equal(pt_query_sqlstate(s, "SHUTDOWN"), "42501");
	PQfinish(s);
	assert_int_equal(pgtide_stop(&p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reload_keeps_clients),
		cmocka_unit_test(test_reload_storm_while_servers_log_in),
		cmocka_unit_test(test_sigterm_lets_transactions_finish),
		cmocka_unit_test(test_shutdown_wait_for_clients),
		cmocka_unit_test(test_sigusr_pause_resume),
		cmocka_unit_test(test_forced_user_single_pool),
		cmocka_unit_test(test_session_mode_resets_server),
		cmocka_unit_test(test_transaction_mode_shares_servers),
		cmocka_unit_test(test_unix_socket),
		cmocka_unit_test(test_admin_access_control),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

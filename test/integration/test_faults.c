/*
 * test_faults.c - the server goes away and comes back.
 *
 * These tests stop, freeze and restart PostgreSQL, so they run against a
 * private throwaway cluster (pgcluster.sh in a temporary directory), never
 * the shared fixture. Each checks what the clients see and that the pool
 * returns to its resting state afterwards (SHOW POOLS: nobody waiting, no
 * server active or logging in, no more servers than the pool size).
 */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <poll.h>

#include "harness.h"

static char cluster_dir[256];
static int cluster_port;
static char dbs[256];

static void cluster_start(void)
{
	assert_int_equal(pt_run("%s start %s %d >/dev/null", pt_pgcluster_script(), cluster_dir, cluster_port), 0);
}

static void cluster_stop(void)
{
	assert_int_equal(pt_run("%s stop %s", pt_pgcluster_script(), cluster_dir), 0);
}

static void destroy_cluster(void)
{
	if (cluster_dir[0])
		pt_run("%s destroy %s", pt_pgcluster_script(), cluster_dir);
	cluster_dir[0] = '\0';
}

static int group_setup(void **state)
{
	snprintf(cluster_dir, sizeof(cluster_dir), "/tmp/pgtide-faults-XXXXXX");
	if (!mkdtemp(cluster_dir))
		return -1;
	/* The harness exit()s on a fatal error: the cluster goes all the same. */
	atexit(destroy_cluster);
	cluster_port = free_tcp_port();
	if (pt_run("%s start %s %d >/dev/null", pt_pgcluster_script(), cluster_dir, cluster_port) != 0)
		return -1;
	snprintf(dbs, sizeof(dbs), "app = host=127.0.0.1 port=%d\n", cluster_port);
	return 0;
}

static int group_teardown(void **state)
{
	destroy_cluster();
	return 0;
}

/* The postmaster and every process it started. */
static int cluster_pids(pid_t *pids, int cap)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/data/postmaster.pid", cluster_dir);
	FILE *f = fopen(path, "r");
	int pm = 0, n = 0;
	if (!f || fscanf(f, "%d", &pm) != 1) {
		if (f)
			fclose(f);
		return 0;
	}
	fclose(f);
	pids[n++] = pm;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL && n < cap) {
		int pid = atoi(e->d_name), ppid = 0;
		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		FILE *s = fopen(path, "r");
		/* "pid (comm) state ppid": comm has no ')' for postgres. */
		if (s && fscanf(s, "%*d (%*[^)]) %*c %d", &ppid) == 1 && ppid == pm)
			pids[n++] = pid;
		if (s)
			fclose(s);
	}
	if (d)
		closedir(d);
	return n;
}

/* SIGSTOP: the postmaster first, so it starts nobody new; SIGCONT last. */
static void cluster_signal(int sig)
{
	pid_t pids[256];
	int n = cluster_pids(pids, 256);
	assert_true(n > 1);
	for (int i = 0; i < n; i++)
		kill(sig == SIGSTOP ? pids[i] : pids[n - 1 - i], sig);
}

/* Waits for the result of a query sent with PQsendQuery; returns its
 * status (PGRES_FATAL_ERROR also when the connection broke), -1 when still
 * busy after timeout_ms. The SQLSTATE, if any, goes to sqlstate. */
static int await_result(PGconn *c, int timeout_ms, char sqlstate[6], char *value, size_t vlen)
{
	double deadline = now_seconds() + timeout_ms / 1000.0;
	sqlstate[0] = '\0';
	if (value)
		value[0] = '\0';
	while (PQisBusy(c)) {
		int left = (int)((deadline - now_seconds()) * 1000);
		if (left <= 0)
			return -1;
		struct pollfd pfd = { .fd = PQsocket(c), .events = POLLIN };
		if (poll(&pfd, 1, left) < 0 || !PQconsumeInput(c))
			break;
	}
	int status = -1;
	PGresult *r;
	while ((r = PQgetResult(c)) != NULL) {
		int st = PQresultStatus(r);
		if (status == -1 || st == PGRES_FATAL_ERROR)
			status = st;
		const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		if (s && !sqlstate[0])
			snprintf(sqlstate, 6, "%s", s);
		if (value && st == PGRES_TUPLES_OK && PQntuples(r) > 0)
			snprintf(value, vlen, "%s", PQgetvalue(r, 0, 0));
		PQclear(r);
		if (PQstatus(c) == CONNECTION_BAD)
			break;
	}
	if (status == -1 && PQstatus(c) == CONNECTION_BAD)
		status = PGRES_FATAL_ERROR;
	return status;
}

/* The query sent on c returns one row whose first value is want. */
static void expect_row(PGconn *c, const char *want)
{
	char st[6], v[256];
	int status = await_result(c, 10000, st, v, sizeof(v));
	if (status != PGRES_TUPLES_OK || strcmp(v, want) != 0)
		fail_msg("wanted \"%s\", got status %d value \"%s\" SQLSTATE %s: %s", want, status, v, st,
			 PQerrorMessage(c));
}

static bool still_busy(PGconn *c)
{
	PQconsumeInput(c);
	return PQisBusy(c) && PQstatus(c) == CONNECTION_OK;
}

static int pool_col(PGconn *admin, const char *col)
{
	const char *v = pt_show_value(admin, "SHOW POOLS", "database", "app", col);
	return v ? atoi(v) : -1;
}

/* SHOW POOLS settles: nobody waiting, no server active, connecting or
 * logging in, at most max_servers servers. Polls up to 5 s. */
static void assert_pool_settles(PGconn *admin, int max_servers)
{
	int waiting = 0, active = 0, login = 0, total = 0;
	for (int i = 0; i < 100; i++) {
		waiting = pool_col(admin, "cl_waiting");
		active = pool_col(admin, "sv_active");
		login = pool_col(admin, "sv_login");
		total = active + login + pool_col(admin, "sv_idle") + pool_col(admin, "sv_used") +
			pool_col(admin, "sv_tested");
		if (waiting == 0 && active == 0 && login == 0 && total <= max_servers)
			return;
		usleep(50000);
	}
	fail_msg("pool did not settle: cl_waiting=%d sv_active=%d sv_login=%d servers=%d (max %d)", waiting, active,
		 login, total, max_servers);
}

static PGconn *send_query(const pgtide_proc_t *p, const char *sql)
{
	PGconn *c = pt_connect_ok(p, "app", "app-pw", "app");
	assert_int_equal(PQsendQuery(c, sql), 1);
	return c;
}

/* The server freezes (SIGSTOP on the postmaster and every backend) for
 * longer than server_connect_timeout, then thaws. A query that was running
 * finishes, a client that was waiting for a server is served, a login that
 * timed out meanwhile is retried, and nothing leaks. */
static void test_server_frozen_then_thawed(void **state)
{
	pgtide_proc_t p;
	pgtide_start(&p,
		     "default_pool_size = 2\nserver_connect_timeout = 1\nserver_login_retry = 0.2\n"
		     "query_wait_timeout = 30\n",
		     dbs);
	PGconn *admin = pt_connect_ok(&p, "admin", "admin-pw", "pgtide");
	PGconn *warm = pt_connect_ok(&p, "app", "app-pw", "app");
	assert_string_equal(pt_query_value(warm, "SELECT 1"), "1");

	cluster_signal(SIGSTOP);
	PGconn *running = send_query(&p, "SELECT 'running'");
	PGconn *waiting[3];
	for (int i = 0; i < 3; i++)
		waiting[i] = send_query(&p, "SELECT 'waited'");
	/* Longer than server_connect_timeout: the new login gives up. */
	usleep(2500000);
	assert_true(still_busy(running));
	for (int i = 0; i < 3; i++)
		assert_true(still_busy(waiting[i]));
	cluster_signal(SIGCONT);

	expect_row(running, "running");
	for (int i = 0; i < 3; i++) {
		expect_row(waiting[i], "waited");
		PQfinish(waiting[i]);
	}
	PQfinish(running);
	assert_string_equal(pt_query_value(warm, "SELECT 2"), "2");
	assert_pool_settles(admin, 2);
	assert_true(pgtide_log_contains(&p, "server connect timeout"));
	PQfinish(warm);
	PQfinish(admin);
	assert_int_equal(pgtide_stop(&p), 0);
}

/* The server is down when pgtide starts. A client whose wait runs out gets
 * an error and nothing else breaks; once the server is up, a client that
 * was waiting for it is served. */
static void test_server_down_at_start(void **state)
{
	cluster_stop();
	pgtide_proc_t p;
	pgtide_start(&p, "default_pool_size = 2\nserver_login_retry = 0.2\nquery_wait_timeout = 1\n", dbs);
	PGconn *admin = pt_connect_ok(&p, "admin", "admin-pw", "pgtide");

	double t0 = now_seconds();
	PGconn *early = pt_connect(&p, "app", "app-pw", "app", NULL);
	double took = now_seconds() - t0;
	assert_int_not_equal(PQstatus(early), CONNECTION_OK);
	assert_true(took < 5);
	printf("# server down, wait ran out after %.1f s: %s", took, PQerrorMessage(early));
	PQfinish(early);

	/* A longer wait, and the server comes up in the middle of it. */
	pgtide_rewrite_config(&p, "default_pool_size = 2\nserver_login_retry = 0.2\nquery_wait_timeout = 30\n", dbs);
	pgtide_signal(&p, SIGHUP);
	usleep(300000);
	pid_t starter = fork();
	assert_true(starter >= 0);
	if (starter == 0) {
		usleep(1000000);
		_exit(pt_run("%s start %s %d >/dev/null", pt_pgcluster_script(), cluster_dir, cluster_port));
	}
	PGconn *c = pt_connect(&p, "app", "app-pw", "app", NULL);
	int st = 0;
	waitpid(starter, &st, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	assert_string_equal(pt_query_value(c, "SELECT 'up'"), "up");
	PQfinish(c);
	assert_pool_settles(admin, 2);
	PQfinish(admin);
	assert_int_equal(pgtide_stop(&p), 0);
}

/* The server restarts under load: work in flight on a server that dies
 * fails, work that had no server yet waits and is served once it is back,
 * idle clients carry on, and nothing leaks. */
static void test_server_restart_mid_workload(void **state)
{
	pgtide_proc_t p;
	pgtide_start(&p, "default_pool_size = 3\nserver_login_retry = 0.2\nquery_wait_timeout = 30\n", dbs);
	PGconn *admin = pt_connect_ok(&p, "admin", "admin-pw", "pgtide");
	PGconn *idle = pt_connect_ok(&p, "app", "app-pw", "app");
	assert_string_equal(pt_query_value(idle, "SELECT 1"), "1");
	PGconn *in_tx = pt_connect_ok(&p, "app", "app-pw", "app");
	pt_query_value(in_tx, "BEGIN");
	pt_query_value(in_tx, "SELECT 1");
	PGconn *running = send_query(&p, "SELECT pg_sleep(30)");
	usleep(200000);

	cluster_stop();
	char st[6];
	/* The running query's server is gone: an error, promptly. */
	assert_int_equal(await_result(running, 5000, st, NULL, 0), PGRES_FATAL_ERROR);
	printf("# running query: SQLSTATE %s, %s", st[0] ? st : "(none)", PQerrorMessage(running));
	PQfinish(running);
	/* The open transaction is lost with its server. */
	assert_int_equal(PQsendQuery(in_tx, "SELECT 2"), 1);
	assert_int_equal(await_result(in_tx, 5000, st, NULL, 0), PGRES_FATAL_ERROR);
	printf("# open transaction: SQLSTATE %s, %s", st[0] ? st : "(none)", PQerrorMessage(in_tx));
	PQfinish(in_tx);

	/* With the server down, the idle client's next query waits for it. */
	assert_int_equal(PQsendQuery(idle, "SELECT 'after restart'"), 1);
	PGconn *newcomer = send_query(&p, "SELECT 'newcomer'");
	usleep(700000);
	assert_true(still_busy(idle));
	assert_true(still_busy(newcomer));
	cluster_start();
	expect_row(idle, "after restart");
	expect_row(newcomer, "newcomer");
	PQfinish(newcomer);
	/* And the idle client keeps working on the new servers. */
	assert_string_equal(pt_query_value(idle, "SELECT 3"), "3");
	assert_pool_settles(admin, 3);
	PQfinish(idle);
	PQfinish(admin);
	assert_int_equal(pgtide_stop(&p), 0);
}

/* Regression: a server answering logins with 57P03 (starting up, shutting
 * down) used to fail every waiting client at once; they now wait for the
 * retry. A smart shutdown held open by one session refuses new logins with
 * 57P03 for as long as that session stays. */
static void test_server_refusing_logins_for_a_while(void **state)
{
	pgtide_proc_t p;
	/* server_lifetime = 0: no idle server is left to serve the query. */
	pgtide_start(&p,
		     "default_pool_size = 2\nserver_login_retry = 0.2\nquery_wait_timeout = 30\n"
		     "server_lifetime = 0\n",
		     dbs);
	PGconn *admin = pt_connect_ok(&p, "admin", "admin-pw", "pgtide");
	PGconn *c = pt_connect_ok(&p, "app", "app-pw", "app");
	assert_string_equal(pt_query_value(c, "SELECT 1"), "1");
	char conninfo[512];
	snprintf(conninfo, sizeof(conninfo), "host=%s port=%d user=postgres dbname=postgres", cluster_dir,
		 cluster_port);
	PGconn *holder = PQconnectdb(conninfo);
	assert_int_equal(PQstatus(holder), CONNECTION_OK);
	/* SIGTERM to the postmaster is a smart shutdown. */
	pid_t pm[1];
	assert_int_equal(cluster_pids(pm, 1), 1);
	kill(pm[0], SIGTERM);
	usleep(300000);
	assert_int_equal(PQsendQuery(c, "SELECT 'served'"), 1);
	usleep(1000000);
	assert_true(still_busy(c));
	assert_true(pgtide_log_contains(&p, "shutting down"));
	/* The session leaves, the server stops, and starts again. */
	PQfinish(holder);
	for (int i = 0; i < 100 && pt_run("test -e %s/data/postmaster.pid", cluster_dir) == 0; i++)
		usleep(100000);
	cluster_start();
	expect_row(c, "served");
	PQfinish(c);
	assert_pool_settles(admin, 2);
	PQfinish(admin);
	assert_int_equal(pgtide_stop(&p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_frozen_then_thawed),
		cmocka_unit_test(test_server_down_at_start),
		cmocka_unit_test(test_server_restart_mid_workload),
		cmocka_unit_test(test_server_refusing_logins_for_a_while),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

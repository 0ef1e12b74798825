/*
 * test_basic.c - logging in and running queries through pgtide: simple and
 * extended protocol, errors, authentication failures, unknown databases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static pgtide_proc_t proc;

static int setup(void **state)
{
	pgtide_start(&proc, "pool_mode = transaction\ndefault_pool_size = 2\nauth_type = md5\n", NULL);
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(pgtide_stop(&proc), 0);
	return 0;
}

static void test_simple_query(void **state)
{
	PGconn *c = pt_connect_ok(&proc, "app", "app-pw", "app");
	assert_string_equal(pt_query_value(c, "SELECT 40 + 2"), "42");
	assert_string_equal(pt_query_value(c, "SELECT current_user"), "app");
	assert_string_equal(pt_query_value(c, "SELECT current_database()"), "app");
	PQfinish(c);
}

static void test_extended_query(void **state)
{
	PGconn *c = pt_connect_ok(&proc, "app", "app-pw", "app");
	const char *params[] = { "21" };
	PGresult *r = PQexecParams(c, "SELECT $1::int * 2", 1, NULL, params, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(r, 0, 0), "42");
	PQclear(r);
	PQfinish(c);
}

static void test_error_in_transaction(void **state)
{
	PGconn *c = pt_connect_ok(&proc, "app", "app-pw", "app");
	pt_query_value(c, "BEGIN");
	assert_string_equal(pt_query_sqlstate(c, "SELECT 1/0"), "22012");
	assert_string_equal(pt_query_sqlstate(c, "SELECT 1"), "25P02");
	pt_query_value(c, "ROLLBACK");
	assert_string_equal(pt_query_value(c, "SELECT 7"), "7");
	PQfinish(c);
}

static void test_wrong_password(void **state)
{
	PGconn *c = pt_connect(&proc, "app", "wrong", "app", NULL);
	assert_int_equal(PQstatus(c), CONNECTION_BAD);
	assert_non_null(strstr(PQerrorMessage(c), "password authentication failed for user \"app\""));
	PQfinish(c);
	/* An unknown user fails with the same message. */
	c = pt_connect(&proc, "nobody", "wrong", "app", NULL);
	assert_int_equal(PQstatus(c), CONNECTION_BAD);
	assert_non_null(strstr(PQerrorMessage(c), "password authentication failed for user \"nobody\""));
	PQfinish(c);
}

static void test_unknown_database(void **state)
{
	pgtide_proc_t p2;
	char dbs[256];
	snprintf(dbs, sizeof(dbs), "app = host=127.0.0.1 port=%d\n", pg_port());
	pgtide_start(&p2, NULL, dbs);
	PGconn *c = pt_connect(&p2, "app", "app-pw", "nosuchdb", NULL);
	assert_int_equal(PQstatus(c), CONNECTION_BAD);
	assert_non_null(strstr(PQerrorMessage(c), "database \"nosuchdb\" does not exist"));
	PQfinish(c);
	assert_int_equal(pgtide_stop(&p2), 0);
}

static void test_admin_show_pools(void **state)
{
	PGconn *c = pt_connect_ok(&proc, "app", "app-pw", "app");
	pt_query_value(c, "SELECT 1");
	PGconn *a = pt_connect_ok(&proc, "admin", "admin-pw", "pgbouncer");
	const char *mode = pt_show_value(a, "SHOW POOLS", "database", "app", "pool_mode");
	assert_non_null(mode);
	assert_string_equal(mode, "transaction");
	PQfinish(a);
	PQfinish(c);
}

/* Each client auth_type against users whose server login is SCRAM (app,
 * scram_user) or md5 (md5_user). */
static void test_auth_types(void **state)
{
	const char *types[] = { "md5", "scram-sha-256", "plain", "trust" };
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		pgtide_proc_t p;
		char settings[128];
		snprintf(settings, sizeof(settings), "auth_type = %s\n", types[t]);
		pgtide_start(&p, settings, NULL);
		const char *users[][2] = { { "app", "app-pw" }, { "md5_user", "md5-pw" }, { "scram_user", "scram-pw" } };
		for (size_t u = 0; u < 3; u++) {
			PGconn *c = pt_connect(&p, users[u][0], users[u][1], "postgres", NULL);
			if (PQstatus(c) != CONNECTION_OK)
				fail_msg("auth_type %s user %s: %s", types[t], users[u][0], PQerrorMessage(c));
			assert_string_equal(pt_query_value(c, "SELECT current_user"), users[u][0]);
			PQfinish(c);
			if (strcmp(types[t], "trust") != 0) {
				c = pt_connect(&p, users[u][0], "wrong-pw", "postgres", NULL);
				assert_int_equal(PQstatus(c), CONNECTION_BAD);
				assert_non_null(strstr(PQerrorMessage(c), "password authentication failed"));
				PQfinish(c);
			}
		}
		/* A client that insists on SCRAM (libpq require_auth is 16+, so
		 * check the method the server asked for via a wrong password). */
		assert_int_equal(pgtide_stop(&p), 0);
	}
}

static void test_normalised_parameters(void **state)
{
	PGconn *c = pt_connect(&proc, "app", "app-pw", "app", "client_encoding=utf-8 options='-c TimeZone=europe/berlin'");
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	assert_string_equal(PQparameterStatus(c, "client_encoding"), "UTF8");
	assert_string_equal(PQparameterStatus(c, "TimeZone"), "Europe/Berlin");
	assert_string_equal(pt_query_value(c, "SHOW TimeZone"), "Europe/Berlin");
	PQfinish(c);
	/* A bad startup setting fails the login as on a direct connection. */
	c = pt_connect(&proc, "app", "app-pw", "app", "options='-c no_such.setting_x=1 -c bogus=2'");
	assert_int_equal(PQstatus(c), CONNECTION_BAD);
	assert_non_null(strstr(PQerrorMessage(c), "unrecognized configuration parameter"));
	PQfinish(c);
}

/* SCRAM pass-through: the auth_file holds only the server's own SCRAM
 * secret (no plaintext anywhere), and pgtide still logs into the server. */
static void test_scram_passthrough(void **state)
{
	PGconn *d = pg_connect_direct("postgres");
	char secret[512];
	snprintf(secret, sizeof(secret), "%s",
		 pt_query_value(d, "SELECT rolpassword FROM pg_authid WHERE rolname = 'scram_user'"));
	PQfinish(d);
	assert_non_null(strstr(secret, "SCRAM-SHA-256$"));

	pgtide_proc_t p;
	pgtide_start(&p, "auth_type = md5\n", NULL);
	char path[512], line[700];
	snprintf(path, sizeof(path), "%s/userlist.txt", p.dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	snprintf(line, sizeof(line), "\"scram_user\" \"%s\"\n\"admin\" \"admin-pw\"\n", secret);
	fputs(line, f);
	fclose(f);
	pgtide_signal(&p, SIGHUP);
	for (int i = 0; i < 100 && !pgtide_log_contains(&p, "configuration reloaded"); i++)
		usleep(20000);
	assert_true(pgtide_log_contains(&p, "configuration reloaded"));

	PGconn *c = pt_connect(&p, "scram_user", "scram-pw", "postgres", NULL);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("SCRAM pass-through login failed: %s", PQerrorMessage(c));
	assert_string_equal(pt_query_value(c, "SELECT current_user"), "scram_user");
	PQfinish(c);
	c = pt_connect(&p, "scram_user", "not-it", "postgres", NULL);
	assert_int_equal(PQstatus(c), CONNECTION_BAD);
	PQfinish(c);
	assert_int_equal(pgtide_stop(&p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_query),
		cmocka_unit_test(test_extended_query),
		cmocka_unit_test(test_error_in_transaction),
		cmocka_unit_test(test_wrong_password),
		cmocka_unit_test(test_unknown_database),
		cmocka_unit_test(test_admin_show_pools),
		cmocka_unit_test(test_auth_types),
		cmocka_unit_test(test_normalised_parameters),
		cmocka_unit_test(test_scram_passthrough),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

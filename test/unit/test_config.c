/*
 * test_config.c - unit tests for config.c: the settings table and its
 * defaults, the INI loader and its error messages, the inih line-length trap,
 * [databases] connection strings, [database NAME] sections, the auth_file,
 * DATABASE_URL, SET/SHOW CONFIG round trips and clone/unref.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "hba.h"

#define ERRLEN 512

/* ---- helpers ---- */

static config_t *load(const char *text)
{
	char err[ERRLEN] = "";
	config_t *cfg = config_load_string(text, "t.ini", err, sizeof(err));

	if (!cfg)
		fail_msg("unexpected load error: %s", err);
	return cfg;
}

/* Loads text expecting failure; the message must start with prefix and
 * contain needle (when given). */
static void expect_load_error(const char *text, const char *prefix, const char *needle)
{
	char err[ERRLEN] = "";
	config_t *cfg = config_load_string(text, "t.ini", err, sizeof(err));

	if (cfg) {
		config_unref(cfg);
		fail_msg("expected an error starting with '%s'", prefix);
	}
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("error '%s' does not start with '%s'", err, prefix);
	if (needle && !strstr(err, needle))
		fail_msg("error '%s' does not contain '%s'", err, needle);
}

static void assert_value(const config_t *cfg, const char *name, const char *expect)
{
	const config_setting_t *s = config_setting_find(name);
	char buf[256];

	assert_non_null(s);
	config_format_value(cfg, s, buf, sizeof(buf));
	assert_string_equal(buf, expect);
}

/* Writes content to a new file in dir (mkstemp); returns its path. */
static char *write_temp(const char *dir, const char *content)
{
	size_t n = strlen(dir) + 32;
	char *path = malloc(n);
	int fd;

	assert_non_null(path);
	snprintf(path, n, "%s/pgtide-test-XXXXXX", dir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

static void remove_temp(char *path)
{
	unlink(path);
	free(path);
}

static char *make_line(const char *prefix, size_t total_len)
{
	char *s = malloc(total_len + 1);
	size_t plen = strlen(prefix);

	assert_non_null(s);
	assert_true(plen <= total_len);
	memcpy(s, prefix, plen);
	memset(s + plen, 'x', total_len - plen);
	s[total_len] = '\0';
	return s;
}

/* ---- the table and defaults ---- */

static void test_defaults_match_table(void **state)
{
	config_t *cfg = config_new_defaults();

	for (size_t i = 0; i < config_setting_count(); i++) {
		const config_setting_t *s = config_setting_at(i);

		assert_value(cfg, s->name, s->default_value);
	}
	assert_int_equal(cfg->refcount, 1);
	assert_string_equal(cfg->listen_addr, "127.0.0.1");
	assert_int_equal(cfg->listen_port, 6432);
	assert_string_equal(cfg->unix_socket_dir, "/tmp");
	assert_int_equal(cfg->pool_mode, POOL_MODE_TRANSACTION);
	assert_int_equal(cfg->max_client_conn, 100);
	assert_int_equal(cfg->default_pool_size, 20);
	assert_int_equal(cfg->reserve_pool_timeout, 5 * USEC_PER_SEC);
	assert_int_equal(cfg->server_lifetime, 3600 * USEC_PER_SEC);
	assert_int_equal(cfg->server_idle_timeout, 600 * USEC_PER_SEC);
	assert_int_equal(cfg->server_connect_timeout, 15 * USEC_PER_SEC);
	assert_string_equal(cfg->server_reset_query, "DISCARD ALL");
	assert_false(cfg->server_reset_query_always);
	assert_null(cfg->server_check_query);
	assert_string_equal(cfg->metrics_addr, "127.0.0.1");
	assert_int_equal(cfg->metrics_port, 0);
	assert_int_equal(cfg->query_wait_timeout, 120 * USEC_PER_SEC);
	assert_int_equal(cfg->client_idle_timeout, 0);
	assert_int_equal(cfg->cancel_wait_timeout, 10 * USEC_PER_SEC);
	assert_int_equal(cfg->auth_type, AUTH_TYPE_MD5);
	assert_null(cfg->auth_file);
	assert_null(cfg->admin_users);
	assert_int_equal(cfg->workers, 0);
	assert_int_equal(cfg->max_packet_size, 2147483647);
	assert_int_equal(cfg->pkt_buf, 4096);
	assert_int_equal(cfg->stats_period, 60 * USEC_PER_SEC);
	assert_true(cfg->log_connections);
	assert_true(cfg->tcp_keepalive);
	assert_int_equal(cfg->log_format, LOG_FORMAT_TEXT);
	assert_int_equal(cfg->listen_backlog, 128);
	assert_int_equal(cfg->ndbs, 0);
	assert_int_equal(cfg->nusers, 0);
	config_unref(cfg);
}

static size_t field_size(setting_type_t t)
{
	switch (t) {
	case SETTING_BOOL:
		return sizeof(bool);
	case SETTING_STRING:
		return sizeof(char *);
	case SETTING_DURATION:
		return sizeof(usec_t);
	default:
		return sizeof(int);
	}
}

static int by_offset(const void *a, const void *b)
{
	const config_setting_t *x = *(const config_setting_t *const *)a;
	const config_setting_t *y = *(const config_setting_t *const *)b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* The table covers every field of config_t's settings part: sorted by
 * offset, each field starts exactly where the previous one ends, rounded up
 * to its own alignment (= its size for these types). A new field without a
 * table entry leaves a gap and fails here, except a bool that fits in what
 * could be padding; the exact count in test_table_is_sane catches that. */
static void test_table_covers_config_t(void **state)
{
	size_t n = config_setting_count(), end = offsetof(config_t, listen_addr);
	const config_setting_t **sorted = calloc(n, sizeof(*sorted));

	assert_non_null(sorted);
	for (size_t i = 0; i < n; i++)
		sorted[i] = config_setting_at(i);
	qsort(sorted, n, sizeof(*sorted), by_offset);
	for (size_t i = 0; i < n; i++) {
		size_t size = field_size(sorted[i]->type);

		if (sorted[i]->offset != (end + size - 1) / size * size)
			fail_msg("gap or overlap before %s", sorted[i]->name);
		end = sorted[i]->offset + size;
	}
	assert_int_equal(offsetof(config_t, dbs), (end + sizeof(void *) - 1) / sizeof(void *) * sizeof(void *));
	free(sorted);
}

static void test_table_is_sane(void **state)
{
	size_t n = config_setting_count();

	assert_int_equal(n, 70);
	assert_null(config_setting_at(n));
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_at(i);

		assert_non_null(s->help);
		assert_true(strlen(s->help) > 10);
		assert_true(s->offset >= offsetof(config_t, listen_addr));
		assert_true(s->offset < offsetof(config_t, dbs));
		assert_true((s->type == SETTING_ENUM) == (s->enum_names != NULL));
		assert_ptr_equal(config_setting_find(s->name), s);
		for (size_t j = 0; j < i; j++) {
			assert_string_not_equal(config_setting_at(j)->name, s->name);
			assert_int_not_equal(config_setting_at(j)->offset, s->offset);
		}
	}
	assert_ptr_equal(config_setting_find("LISTEN_PORT"), config_setting_find("listen_port"));
	assert_null(config_setting_find("no_such_setting"));
	/* The enum arrays follow the C enums. */
	assert_string_equal(config_setting_find("auth_type")->enum_names[AUTH_TYPE_SCRAM],
			    "scram-sha-256");
	assert_string_equal(config_setting_find("auth_type")->enum_names[AUTH_TYPE_ANY], "any");
	assert_string_equal(config_setting_find("pool_mode")->enum_names[POOL_MODE_SESSION],
			    "session");
	assert_string_equal(config_setting_find("log_format")->enum_names[LOG_FORMAT_JSON],
			    "json");
	assert_false(config_setting_find("listen_port")->reloadable);
	assert_false(config_setting_find("pkt_buf")->reloadable);
	assert_true(config_setting_find("pool_mode")->reloadable);
}

/* ---- full files ---- */

static const char full_ini[] =
	"; every setting, none at its default\n"
	"[pgtide]\n"
	"listen_addr = 0.0.0.0\n"
	"listen_port = 7432\n"
	"unix_socket_dir = /run/pgtide\n"
	"listen_backlog = 256\n"
	"so_reuseport = yes\n"
	"pool_mode = session\n"
	"max_client_conn = 5000\n"
	"default_pool_size = 40\n"
	"min_pool_size = 2\n"
	"reserve_pool_size = 3\n"
	"reserve_pool_timeout = 2.5\n"
	"max_db_connections = 100\n"
	"max_user_connections = 50\n"
	"server_lifetime = 2h\n"
	"server_idle_timeout = 5min\n"
	"server_connect_timeout = 3s\n"
	"server_login_retry = 500ms\n"
	"server_reset_query = RESET ALL\n"
	"server_reset_query_always = yes\n"
	"server_check_query = select 2\n"
	"server_check_delay = 10\n"
	"query_wait_timeout = 60\n"
	"client_login_timeout = 30\n"
	"client_idle_timeout = 1d\n"
	"idle_transaction_timeout = 90\n"
	"query_timeout = 250us\n"
	"cancel_wait_timeout = 0\n"
	"auth_type = scram-sha-256\n"
	"auth_file = /etc/pgtide/userlist.txt\n"
	"auth_hba_file = /etc/pgtide/hba.conf\n"
	"auth_user = pgtide_auth\n"
	"auth_query = SELECT usename, passwd FROM pg_shadow WHERE usename=$1\n"
	"auth_dbname = authdb\n"
	"auth_query_cache_ttl = 2min\n"
	"admin_users = admin, root\n"
	"stats_users = monitor\n"
	"workers = 4\n"
	"worker_busy_percent = 50\n"
	"max_packet_size = 1048576\n"
	"pkt_buf = 8192\n"
	"stats_period = 30\n"
	"log_connections = off\n"
	"log_disconnections = false\n"
	"log_pooler_errors = no\n"
	"log_stats = 0\n"
	"verbose = 2\n"
	"logfile = /var/log/pgtide.log\n"
	"pidfile = /run/pgtide.pid\n"
	"log_format = JSON\n"
	"tcp_keepalive = off\n"
	"tcp_defer_accept = off\n"
	"metrics_addr = 0.0.0.0\n"
	"metrics_port = 9127\n"
	"ignore_startup_parameters = extra_float_digits\n"
	"client_tls_sslmode = verify-full\n"
	"client_tls_key_file = /etc/pgtide/server.key\n"
	"client_tls_cert_file = /etc/pgtide/server.crt\n"
	"client_tls_ca_file = /etc/pgtide/clients-ca.crt\n"
	"client_tls_protocols = tlsv1.3\n"
	"client_tls_ciphers = HIGH\n"
	"server_tls_sslmode = Verify-CA\n"
	"max_prepared_statements = 50\n"
	"transaction_mode_session_state = warn\n"
	"server_tls_ca_file = /etc/pgtide/servers-ca.crt\n"
	"server_tls_cert_file = /etc/pgtide/pgtide.crt\n"
	"server_tls_key_file = /etc/pgtide/pgtide.key\n"
	"server_tls_protocols = all\n"
	"server_tls_ciphers = HIGH:!aNULL\n"
	"readonly_suffix = _read\n"
	"replica_check_user = monitor\n"
	"\n"
	"[databases]\n"
	"app = host=10.0.0.1 port=5433 dbname=appdb user=appuser password='s3cr et' pool_size=5 "
	"pool_mode=transaction\n"
	"* = host=/var/run/postgresql\n";

static void test_full_file(void **state)
{
	config_t *cfg = load(full_ini);
	const db_config_t *db;

	assert_string_equal(cfg->source, "t.ini");
	assert_string_equal(cfg->listen_addr, "0.0.0.0");
	assert_int_equal(cfg->listen_port, 7432);
	assert_string_equal(cfg->unix_socket_dir, "/run/pgtide");
	assert_int_equal(cfg->listen_backlog, 256);
	assert_true(cfg->so_reuseport);
	assert_int_equal(cfg->pool_mode, POOL_MODE_SESSION);
	assert_int_equal(cfg->max_client_conn, 5000);
	assert_int_equal(cfg->default_pool_size, 40);
	assert_int_equal(cfg->min_pool_size, 2);
	assert_int_equal(cfg->reserve_pool_size, 3);
	assert_int_equal(cfg->reserve_pool_timeout, 2500000);
	assert_int_equal(cfg->max_db_connections, 100);
	assert_int_equal(cfg->max_user_connections, 50);
	assert_int_equal(cfg->server_lifetime, 7200 * USEC_PER_SEC);
	assert_int_equal(cfg->server_idle_timeout, 300 * USEC_PER_SEC);
	assert_int_equal(cfg->server_connect_timeout, 3 * USEC_PER_SEC);
	assert_int_equal(cfg->server_login_retry, 500 * USEC_PER_MSEC);
	assert_string_equal(cfg->server_reset_query, "RESET ALL");
	assert_true(cfg->server_reset_query_always);
	assert_string_equal(cfg->server_check_query, "select 2");
	assert_int_equal(cfg->server_check_delay, 10 * USEC_PER_SEC);
	assert_int_equal(cfg->query_wait_timeout, 60 * USEC_PER_SEC);
	assert_int_equal(cfg->client_login_timeout, 30 * USEC_PER_SEC);
	assert_int_equal(cfg->client_idle_timeout, 86400 * USEC_PER_SEC);
	assert_int_equal(cfg->idle_transaction_timeout, 90 * USEC_PER_SEC);
	assert_int_equal(cfg->query_timeout, 250);
	assert_int_equal(cfg->cancel_wait_timeout, 0);
	assert_int_equal(cfg->auth_type, AUTH_TYPE_SCRAM);
	assert_string_equal(cfg->auth_file, "/etc/pgtide/userlist.txt");
	/* config_load_string does no I/O: the hba file is not read */
	assert_string_equal(cfg->auth_hba_file, "/etc/pgtide/hba.conf");
	assert_null(cfg->hba);
	assert_string_equal(cfg->auth_user, "pgtide_auth");
	assert_string_equal(cfg->auth_query, "SELECT usename, passwd FROM pg_shadow WHERE usename=$1");
	assert_string_equal(cfg->auth_dbname, "authdb");
	assert_int_equal(cfg->auth_query_cache_ttl, 120 * USEC_PER_SEC);
	assert_string_equal(cfg->admin_users, "admin, root");
	assert_string_equal(cfg->stats_users, "monitor");
	assert_int_equal(cfg->workers, 4);
	assert_int_equal(cfg->worker_busy_percent, 50);
	assert_int_equal(cfg->max_packet_size, 1048576);
	assert_int_equal(cfg->pkt_buf, 8192);
	assert_int_equal(cfg->stats_period, 30 * USEC_PER_SEC);
	assert_false(cfg->log_connections);
	assert_false(cfg->log_disconnections);
	assert_false(cfg->log_pooler_errors);
	assert_false(cfg->log_stats);
	assert_int_equal(cfg->verbose, 2);
	assert_string_equal(cfg->logfile, "/var/log/pgtide.log");
	assert_string_equal(cfg->pidfile, "/run/pgtide.pid");
	assert_int_equal(cfg->log_format, LOG_FORMAT_JSON);
	assert_false(cfg->tcp_keepalive);
	assert_false(cfg->tcp_defer_accept);
	assert_string_equal(cfg->ignore_startup_parameters, "extra_float_digits");
	assert_string_equal(cfg->metrics_addr, "0.0.0.0");
	assert_int_equal(cfg->metrics_port, 9127);
	assert_int_equal(cfg->client_tls_sslmode, TLS_MODE_VERIFY_FULL);
	assert_string_equal(cfg->client_tls_ca_file, "/etc/pgtide/clients-ca.crt");
	assert_int_equal(cfg->server_tls_sslmode, TLS_MODE_VERIFY_CA);
	assert_int_equal(cfg->max_prepared_statements, 50);
	assert_int_equal(cfg->transaction_mode_session_state, SESSION_STATE_WARN);
	assert_string_equal(cfg->readonly_suffix, "_read");
	assert_string_equal(cfg->replica_check_user, "monitor");
	assert_string_equal(cfg->server_tls_key_file, "/etc/pgtide/pgtide.key");

	/* Every setting really differs from its default. */
	for (size_t i = 0; i < config_setting_count(); i++) {
		const config_setting_t *s = config_setting_at(i);
		char buf[256];

		config_format_value(cfg, s, buf, sizeof(buf));
		if (strcmp(buf, s->default_value) == 0)
			fail_msg("%s still has its default value", s->name);
	}

	assert_int_equal(cfg->ndbs, 2);
	db = config_find_db(cfg, "app");
	assert_non_null(db);
	assert_string_equal(db->host, "10.0.0.1");
	assert_int_equal(db->port, 5433);
	assert_string_equal(db->dbname, "appdb");
	assert_string_equal(db->user, "appuser");
	assert_string_equal(db->password, "s3cr et");
	assert_int_equal(db->pool_size, 5);
	assert_int_equal(db->pool_mode, POOL_MODE_TRANSACTION);
	assert_int_equal(db->min_pool_size, -1);
	assert_int_equal(config_db_pool_mode(cfg, db), POOL_MODE_TRANSACTION);
	db = config_find_db(cfg, "other");
	assert_non_null(db);
	assert_string_equal(db->name, "*");
	assert_string_equal(db->host, "/var/run/postgresql");
	assert_int_equal(db->port, 5432);
	assert_null(db->dbname);
	assert_int_equal(config_db_pool_mode(cfg, db), POOL_MODE_SESSION);
	config_unref(cfg);
}

static void test_pgbouncer_section(void **state)
{
	config_t *cfg = load("[databases]\n"
			     "app = host=127.0.0.1 dbname=app\n"
			     "\n"
			     "[pgbouncer]\n"
			     "listen_addr = *\n"
			     "listen_port = 6433\n"
			     "auth_type = md5\n"
			     "auth_hba_file = /etc/pgbouncer/hba.conf\n"
			     "pool_mode = session\n"
			     "so_reuseport = 1\n"
			     "max_prepared_statements = 100\n"
			     "server_tls_sslmode = prefer\n"
			     "client_tls_sslmode = disable\n"
			     "unix_socket_mode = 0777\n"
			     "server_round_robin = 1\n"
			     "# a hash comment\n"
			     "; a semicolon comment\n"
			     "Max_Client_Conn = 200 ; inline comment\n");

	assert_string_equal(cfg->listen_addr, "*");
	assert_int_equal(cfg->listen_port, 6433);
	assert_int_equal(cfg->pool_mode, POOL_MODE_SESSION);
	assert_int_equal(cfg->max_client_conn, 200);
	assert_non_null(config_find_db(cfg, "app"));
	config_unref(cfg);
}

static void test_accepted_but_ignored_keys_are_listed(void **state)
{
	/* Not everything is accepted: a made-up key still fails. */
	expect_load_error("[pgbouncer]\nso_reuseport_typo = 1\n", "t.ini:2: so_reuseport_typo: ",
			  "unknown setting");
	/* TLS modes are real settings now: bad values are errors. */
	expect_load_error("[pgbouncer]\nclient_tls_sslmode = required\n",
			  "t.ini:2: client_tls_sslmode: ", "not one of");
	expect_load_error("[pgbouncer]\n\nserver_tls_sslmode = verify\n",
			  "t.ini:3: server_tls_sslmode: ", "not one of");
	/* `user` (drop privileges) is not ignorable either. */
	expect_load_error("[pgbouncer]\nuser = postgres\n", "t.ini:2: user: ", "unknown setting");
}

/* ---- errors name file, line and key ---- */

static void test_error_messages(void **state)
{
	expect_load_error("[pgtide]\nlisten_port = 6432\nbogus = 1\n",
			  "t.ini:3: bogus: unknown setting", NULL);
	expect_load_error("[pgtide]\nlisten_port = 64x\n", "t.ini:2: listen_port: ",
			  "not an integer");
	expect_load_error("[pgtide]\nlisten_port = \n", "t.ini:2: listen_port: ",
			  "not an integer");
	expect_load_error("[pgtide]\n\nlisten_port = 70000\n", "t.ini:3: listen_port: ",
			  "out of range [1, 65535]");
	expect_load_error("[pgtide]\nmax_client_conn = 99999999999999999999\n",
			  "t.ini:2: max_client_conn: ", "out of range");
	expect_load_error("[pgtide]\nquery_timeout = 5 weeks\n", "t.ini:2: query_timeout: ",
			  "unknown unit");
	expect_load_error("[pgtide]\nquery_timeout = -1\n", "t.ini:2: query_timeout: ",
			  "not a duration");
	expect_load_error("[pgtide]\nstats_period = 0\n", "t.ini:2: stats_period: ",
			  "below the minimum of 1s");
	expect_load_error("[pgtide]\npool_mode = statement\n", "t.ini:2: pool_mode: ",
			  "not one of: session, transaction");
	expect_load_error("[pgtide]\nauth_type = pam\n", "t.ini:2: auth_type: ",
			  "not one of: trust, any, plain, md5, scram-sha-256, cert, hba");
	expect_load_error("[pgtide]\ntcp_keepalive = maybe\n", "t.ini:2: tcp_keepalive: ",
			  "not a boolean");
	expect_load_error("[pgtide]\n[nonsense]\n", "t.ini:2: [nonsense]: unknown section", NULL);
	expect_load_error("[pgtide]\n[users]\n", "t.ini:2: [users]: section not supported yet",
			  NULL);
	expect_load_error("[users]\nbob = pool_mode=session\n", "t.ini:1: [users]: ", NULL);
	expect_load_error("[peers]\n", "t.ini:1: [peers]: section not supported yet", NULL);
	expect_load_error("listen_port = 1\n", "t.ini:1: listen_port: ", "outside any section");
	expect_load_error("[databases]\napp = host=h colour=blue\n", "t.ini:2: app: ",
			  "unknown parameter 'colour'");
	expect_load_error("[databases]\n\napp = host=h password='abc\n", "t.ini:3: app: ",
			  "unterminated quoted value for 'password'");
	expect_load_error("[databases]\napp = host=h port=http\n", "t.ini:2: app: ",
			  "not an integer");
	expect_load_error("[databases]\napp = host\n", "t.ini:2: app: ", "missing '='");
	expect_load_error("[databases]\napp = host=a\napp = host=b\n", "t.ini:3: app: ",
			  "defined twice");
	expect_load_error("[pgtide]\nthis line has no equals sign\n", "t.ini:2: ",
			  "expected KEY = VALUE");
	expect_load_error("[pgtide\n", "t.ini:1: missing ']'", NULL);
	expect_load_error("[pgtide] junk\n", "t.ini:1: unexpected text after ']'", NULL);
	expect_load_error("[database]\n", "t.ini:1: [database]: missing the database name", NULL);
	expect_load_error("%include other.ini\n", "t.ini:1: %include", NULL);
	expect_load_error("[pgtide]\n = 5\n", "t.ini:2: missing key", NULL);
	/* The first error wins even when inih carries on past it. */
	expect_load_error("[pgtide]\nno equals\nbogus = 1\n", "t.ini:2: ", "expected KEY = VALUE");
}

static void test_error_does_not_echo_passwords(void **state)
{
	char err[ERRLEN];
	config_t *cfg = config_load_string("[databases]\napp = password='hunter2\n", "t.ini", err,
					   sizeof(err));

	assert_null(cfg);
	assert_null(strstr(err, "hunter2"));
}

/* ---- the inih line-length trap ---- */

static int record_value(void *user, const char *section, const char *name, const char *value)
{
	size_t *longest = user;

	if (strlen(value) > *longest)
		*longest = strlen(value);
	return 1;
}

/* Pins the library behaviour that the checks in config.c exist for: the
 * packaged inih cuts a long line and only its return value says so. If this
 * starts failing, inih changed and CONFIG_MAX_LINE should be revisited. */
static void test_inih_cuts_long_lines(void **state)
{
	char *line = make_line("key = ", 300);
	char *text = malloc(strlen(line) + 2);
	size_t longest = 0;
	int rc;

	assert_non_null(text);
	sprintf(text, "%s\n", line);
	rc = ini_parse_string(text, record_value, &longest);
	assert_int_not_equal(rc, 0);
	assert_true(longest < 300 - strlen("key = "));
	assert_int_equal(INI_MAX_LINE, 200);
	free(text);
	free(line);
}

static void test_long_lines(void **state)
{
	/* 198 bytes of content is the longest line that survives inih intact. */
	char *ok_line = make_line("server_check_query = ", 198);
	char *long_line = make_line("server_check_query = ", 199);
	char *very_long = make_line("app = host=h password=", 300);
	char text[1024];
	char err[ERRLEN];
	config_t *cfg;

	snprintf(text, sizeof(text), "[pgtide]\n%s\nlisten_port = 7000\n", ok_line);
	cfg = load(text);
	assert_int_equal(strlen(cfg->server_check_query), 198 - strlen("server_check_query = "));
	assert_int_equal(cfg->listen_port, 7000);
	config_unref(cfg);

	/* Same with CRLF line ends: the '\r' does not count. */
	snprintf(text, sizeof(text), "[pgtide]\r\n%s\r\nlisten_port = 7000\r\n", ok_line);
	cfg = load(text);
	assert_int_equal(cfg->listen_port, 7000);
	config_unref(cfg);

	snprintf(text, sizeof(text), "[pgtide]\n%s\n", long_line);
	expect_load_error(text, "t.ini:2: line longer than 198 bytes; ", "[database NAME]");

	/* The real line number, even for a line far past the limit. */
	snprintf(text, sizeof(text), "[pgtide]\nlisten_port = 7000\n\n[databases]\n%s\n",
		 very_long);
	cfg = config_load_string(text, "t.ini", err, sizeof(err));
	assert_null(cfg);
	assert_string_equal(err,
			    "t.ini:5: line longer than 198 bytes; split a long connection string into a [database NAME] section with one key per line, and keep long secrets in auth_file");
	free(ok_line);
	free(long_line);
	free(very_long);
}

static void test_long_line_in_file(void **state)
{
	char *line = make_line("admin_users = ", 250);
	char text[1024], err[ERRLEN], expect[300];
	char *path;

	snprintf(text, sizeof(text), "[pgtide]\n; comment\n%s\n", line);
	path = write_temp("/tmp", text);
	assert_null(config_load_file(path, err, sizeof(err)));
	snprintf(expect, sizeof(expect), "%s:3: line longer than 198 bytes", path);
	assert_int_equal(strncmp(err, expect, strlen(expect)), 0);
	remove_temp(path);
	free(line);
}

/* ---- inih quirks that the loader neutralises or documents ---- */

static void test_indented_lines_are_not_continuations(void **state)
{
	config_t *cfg = load("[pgtide]\n"
			     "    listen_addr = 10.1.1.1\n"
			     "    listen_port = 7000\n"
			     "\t[databases]\n"
			     "\tapp = host=h\n");

	assert_string_equal(cfg->listen_addr, "10.1.1.1");
	assert_int_equal(cfg->listen_port, 7000);
	assert_non_null(config_find_db(cfg, "app"));
	config_unref(cfg);
}

static void test_inline_comment_behaviour(void **state)
{
	/* A ';' after whitespace starts a comment, even inside a "value". */
	config_t *cfg = load("[database app]\npassword = abc ;def\n"
			     "[pgtide]\nadmin_users = a;b\n");

	assert_string_equal(config_find_db(cfg, "app")->password, "abc");
	assert_string_equal(cfg->admin_users, "a;b");
	config_unref(cfg);
	/* In a connection string the cut shows up as an unterminated quote. */
	expect_load_error("[databases]\napp = password='abc ;def'\n", "t.ini:2: app: ",
			  "unterminated");
}

static void test_bom_and_colon_separator(void **state)
{
	config_t *cfg = load("\xEF\xBB\xBF[pgtide]\nlisten_port: 7001\n");

	assert_int_equal(cfg->listen_port, 7001);
	config_unref(cfg);
}

static void test_section_names_longer_than_inih_keeps(void **state)
{
	const char *name = "a_database_name_that_is_longer_than_fifty_bytes_total";
	char text[256];
	config_t *cfg;

	snprintf(text, sizeof(text), "[database %s]\nhost = h\n[database %.40s]\nhost = i\n", name,
		 name);
	cfg = load(text);
	assert_int_equal(cfg->ndbs, 2);
	assert_string_equal(config_find_db(cfg, name)->host, "h");
	config_unref(cfg);
}

/* ---- [database NAME] sections ---- */

static void test_database_sections(void **state)
{
	config_t *cfg = load("[database app]\n"
			     "host = db.example.com\n"
			     "port = 6543\n"
			     "dbname = app_prod\n"
			     "user = app\n"
			     "password = '  leading and trailing  '\n"
			     "pool_size = 7\n"
			     "pool_mode = session\n"
			     "min_pool_size = 1\n"
			     "reserve_pool = 2\n"
			     "max_db_connections = 30\n"
			     "client_encoding = UTF8\n"
			     "datestyle = ISO, MDY\n"
			     "timezone = UTC\n"
			     "application_name = my app\n"
			     "connect_query = SET search_path = app, public\n"
			     "\n"
			     "[database empty]\n"
			     "\n"
			     "[databases]\n"
			     "other = host=h2\n");
	const db_config_t *db = config_find_db(cfg, "app");

	assert_int_equal(cfg->ndbs, 3);
	assert_string_equal(db->host, "db.example.com");
	assert_int_equal(db->port, 6543);
	assert_string_equal(db->dbname, "app_prod");
	assert_string_equal(db->user, "app");
	assert_string_equal(db->password, "  leading and trailing  ");
	assert_int_equal(db->pool_size, 7);
	assert_int_equal(db->pool_mode, POOL_MODE_SESSION);
	assert_int_equal(db->min_pool_size, 1);
	assert_int_equal(db->reserve_pool, 2);
	assert_int_equal(db->max_db_connections, 30);
	assert_string_equal(db->client_encoding, "UTF8");
	assert_string_equal(db->datestyle, "ISO, MDY");
	assert_string_equal(db->timezone, "UTC");
	assert_string_equal(db->application_name, "my app");
	assert_string_equal(db->connect_query, "SET search_path = app, public");
	assert_int_equal(config_db_pool_size(cfg, db), 7);
	assert_int_equal(config_db_min_pool_size(cfg, db), 1);
	assert_int_equal(config_db_reserve_pool_size(cfg, db), 2);
	assert_int_equal(config_db_max_connections(cfg, db), 30);

	/* A section without keys still defines the database. */
	db = config_find_db(cfg, "empty");
	assert_non_null(db);
	assert_string_equal(db->name, "empty");
	assert_null(db->host);
	assert_int_equal(config_db_pool_size(cfg, db), 20);
	assert_int_equal(config_db_pool_mode(cfg, db), POOL_MODE_TRANSACTION);
	assert_int_equal(config_db_min_pool_size(cfg, db), 0);
	assert_int_equal(config_db_reserve_pool_size(cfg, db), 0);
	assert_int_equal(config_db_max_connections(cfg, db), 0);
	assert_null(config_find_db(cfg, "missing"));
	config_unref(cfg);

	cfg = load("[database app]\nhost = h\nsslmode = verify-full\n[databases]\nb = host=h\n");
	assert_int_equal(config_db_sslmode(cfg, config_find_db(cfg, "app")), TLS_MODE_VERIFY_FULL);
	assert_int_equal(config_db_sslmode(cfg, config_find_db(cfg, "b")), TLS_MODE_PREFER);
	assert_int_equal(config_db_sslmode(cfg, NULL), TLS_MODE_PREFER);
	config_unref(cfg);
	expect_load_error("[database app]\nhost = h\nsslmode = on\n",
			  "t.ini:3: sslmode: sslmode 'on' is not one of", NULL);
	expect_load_error("[database app]\nport = 0\n", "t.ini:2: port: ", "out of range");
	expect_load_error("[database app]\npool_mode = statement\n", "t.ini:2: pool_mode: ",
			  "not one of");
	expect_load_error("[database app]\npassword = 'abc\n", "t.ini:2: password: ",
			  "unterminated");
	expect_load_error("[database app]\npassword = 'abc'def\n", "t.ini:2: password: ",
			  "after the closing quote");
	expect_load_error("[databases]\napp = host=a\n[database app]\n",
			  "t.ini:3: [database app]: database defined twice", NULL);
	expect_load_error("[database my app]\n", "t.ini:1: [database my app]: not a valid", NULL);
}

/* ---- connection strings ---- */

static void test_connstr_quoting(void **state)
{
	db_config_t db;
	char err[ERRLEN];

	assert_true(config_parse_db_connstr(
		"app",
		"  host=h1   port = 5433 dbname='my db' user=u password='it\\'s a \\\\ secret' "
		"application_name=a\\ b timezone='' datestyle=ISO\\,DMY ",
		&db, err, sizeof(err)));
	assert_string_equal(db.name, "app");
	assert_string_equal(db.host, "h1");
	assert_int_equal(db.port, 5433);
	assert_string_equal(db.dbname, "my db");
	assert_string_equal(db.user, "u");
	assert_string_equal(db.password, "it's a \\ secret");
	assert_string_equal(db.application_name, "a b");
	assert_null(db.timezone); /* '' = not set */
	assert_string_equal(db.datestyle, "ISO,DMY");
	assert_int_equal(db.pool_size, -1);
	assert_int_equal(db.pool_mode, POOL_MODE_INHERIT);
	config_db_clear(&db);

	/* An empty connection string is all defaults, as in PgBouncer. */
	assert_true(config_parse_db_connstr("x", "", &db, err, sizeof(err)));
	assert_null(db.host);
	assert_int_equal(db.port, 5432);
	config_db_clear(&db);

	assert_false(config_parse_db_connstr("x", "password='abc", &db, err, sizeof(err)));
	assert_string_equal(err, "x: unterminated quoted value for 'password'");
	assert_false(config_parse_db_connstr("x", "password='ab\\'", &db, err, sizeof(err)));
	assert_string_equal(err, "x: unterminated quoted value for 'password'");
	assert_false(config_parse_db_connstr("x", "user='a'b=c", &db, err, sizeof(err)));
	assert_string_equal(err, "x: unexpected text after the quoted value for 'user'");
	assert_false(config_parse_db_connstr("x", "host=h =5", &db, err, sizeof(err)));
	assert_string_equal(err, "x: missing parameter name before '='");
	assert_false(config_parse_db_connstr("x", "auth_user=a", &db, err, sizeof(err)));
	assert_string_equal(err, "x: unknown parameter 'auth_user'");
	assert_false(config_parse_db_connstr("x", "pool_size=-1", &db, err, sizeof(err)));
	assert_non_null(strstr(err, "for 'pool_size'"));
	assert_false(config_parse_db_connstr("x", "pool_mode=statement", &db, err, sizeof(err)));
	/* After a failure there is nothing to free; clearing is still safe. */
	config_db_clear(&db);
}

/* ---- auth_file ---- */

static const char userlist[] =
	"; comment\n"
	"# another comment\n"
	"\n"
	"\"alice\" \"plain pass\"\n"
	"  \"bob\"\t\"md5a3556571e93b0d20722ba62be61e8c2d\"   \n"
	"\"quo\"\"te\" \"with \"\"quotes\"\" inside\"\r\n"
	"\"carol\" \"SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy\" \"extra\" \"fields\"\n"
	"\"alice\" \"newer secret\"\n"
	"\"trusty\" \"\"\n";

static void test_auth_file(void **state)
{
	config_t *cfg = config_new_defaults();
	char err[ERRLEN];
	char *path = write_temp("/tmp", userlist);

	assert_true(config_load_auth_file(cfg, path, err, sizeof(err)));
	assert_int_equal(cfg->nusers, 5);
	assert_string_equal(config_find_user_secret(cfg, "alice"), "newer secret");
	assert_string_equal(config_find_user_secret(cfg, "bob"),
			    "md5a3556571e93b0d20722ba62be61e8c2d");
	assert_string_equal(config_find_user_secret(cfg, "quo\"te"), "with \"quotes\" inside");
	assert_string_equal(config_find_user_secret(cfg, "carol"),
			    "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy");
	assert_string_equal(config_find_user_secret(cfg, "trusty"), "");
	assert_null(config_find_user_secret(cfg, "mallory"));
	assert_null(config_find_user_secret(cfg, "Alice"));
	/* Sorted, so lookups can bsearch. */
	for (size_t i = 1; i < cfg->nusers; i++)
		assert_true(strcmp(cfg->users[i - 1].name, cfg->users[i].name) < 0);
	remove_temp(path);
	config_unref(cfg);
}

static void expect_auth_error(const char *content, int line, const char *needle)
{
	config_t *cfg = config_new_defaults();
	char *path = write_temp("/tmp", content);
	char err[ERRLEN], prefix[300];

	assert_true(config_load_auth_file(cfg, path, err, sizeof(err)) == false);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, needle))
		fail_msg("auth error '%s' lacks '%s' or '%s'", err, prefix, needle);
	/* A failed load leaves no half-read users behind. */
	assert_int_equal(cfg->nusers, 0);
	assert_null(strstr(err, "s3cret"));
	remove_temp(path);
	config_unref(cfg);
}

static void test_auth_file_errors(void **state)
{
	char err[ERRLEN];
	config_t *cfg = config_new_defaults();

	expect_auth_error("\"a\" \"b\"\n\"bob\" \"s3cret\n", 2, "unterminated");
	expect_auth_error("\"bob\"\n", 1, "missing the secret");
	expect_auth_error("\"bob\" s3cret\n", 1, "double-quoted");
	expect_auth_error("\"bob\" \"s3\"cret\"\n", 1, "blank after the closing quote");
	expect_auth_error("\n\n\"\" \"s3cret\"\n", 3, "empty user name");
	expect_auth_error("bob s3cret\n", 1, "double-quoted");
	expect_auth_error("\"a\" \"b\" junk\n", 1, "double-quoted");

	assert_false(config_load_auth_file(cfg, "/nonexistent/userlist.txt", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/userlist.txt: cannot open"));
	config_unref(cfg);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* auth_hba_file: relative to the config, read at load, shared by clones,
 * a bad file or auth_type = hba without one fails the load. */
static void test_hba_file(void **state)
{
	char dir[] = "/tmp/pgtide-hba-XXXXXX";
	char ini_path[128], hba_path[128], err[ERRLEN];
	config_t *cfg, *copy;

	assert_non_null(mkdtemp(dir));
	snprintf(hba_path, sizeof(hba_path), "%s/hba.conf", dir);
	snprintf(ini_path, sizeof(ini_path), "%s/pgtide.ini", dir);
	write_text(hba_path, "local all all trust\nhost all all 0.0.0.0/0 md5\n");
	write_text(ini_path, "[pgtide]\nauth_type = hba\nauth_hba_file = hba.conf\n");
	cfg = config_load_file(ini_path, err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	assert_string_equal(cfg->auth_hba_file, hba_path);
	assert_int_equal(cfg->auth_type, AUTH_TYPE_HBA);
	assert_non_null(cfg->hba);
	assert_int_equal(cfg->hba->nrules, 2);
	copy = config_clone(cfg);
	assert_ptr_equal(copy->hba, cfg->hba);
	config_unref(cfg);
	assert_int_equal(copy->hba->nrules, 2);
	config_unref(copy);

	write_text(hba_path, "local all all peer\n");
	assert_null(config_load_file(ini_path, err, sizeof(err)));
	assert_non_null(strstr(err, "hba.conf:1: authentication method \"peer\""));

	write_text(ini_path, "[pgtide]\nauth_type = hba\n");
	assert_null(config_load_file(ini_path, err, sizeof(err)));
	assert_non_null(strstr(err, "auth_type = hba needs auth_hba_file"));

	unlink(hba_path);
	unlink(ini_path);
	rmdir(dir);
}

static void test_auth_file_relative_to_config(void **state)
{
	char dir[] = "/tmp/pgtide-cfg-XXXXXX";
	char ini_path[128], users_path[128], ini[256], err[ERRLEN];
	config_t *cfg;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(users_path, sizeof(users_path), "%s/userlist.txt", dir);
	f = fopen(users_path, "w");
	assert_non_null(f);
	fputs("\"app\" \"pw\"\n", f);
	fclose(f);
	snprintf(ini, sizeof(ini), "[pgtide]\nauth_file = userlist.txt\n");
	snprintf(ini_path, sizeof(ini_path), "%s/pgtide.ini", dir);
	f = fopen(ini_path, "w");
	assert_non_null(f);
	fputs(ini, f);
	fclose(f);

	cfg = config_load_file(ini_path, err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	assert_string_equal(cfg->auth_file, users_path);
	assert_string_equal(cfg->source, ini_path);
	assert_string_equal(config_find_user_secret(cfg, "app"), "pw");
	config_unref(cfg);

	/* A bad auth_file fails the whole load with the auth_file's name. */
	f = fopen(users_path, "w");
	assert_non_null(f);
	fputs("\"app\" \"pw\n", f);
	fclose(f);
	assert_null(config_load_file(ini_path, err, sizeof(err)));
	assert_int_equal(strncmp(err, users_path, strlen(users_path)), 0);
	assert_non_null(strstr(err, ":1: unterminated"));

	unlink(users_path);
	unlink(ini_path);
	rmdir(dir);
	assert_null(config_load_file(ini_path, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot open"));
}

/* ---- DATABASE_URL ---- */

static void test_database_url_full(void **state)
{
	config_t *cfg = config_new_defaults();
	char err[ERRLEN];
	const db_config_t *db;

	assert_true(config_apply_database_url(
		cfg, "postgresql://us%40er:p%3Ass%2Fw@rd@db.example.com:6543/my%20db?sslmode=prefer&application_name=x",
		err, sizeof(err)));
	assert_string_equal(cfg->source, "DATABASE_URL");
	assert_int_equal(cfg->ndbs, 2);
	db = config_find_db(cfg, "my db");
	assert_non_null(db);
	assert_string_equal(db->name, "my db");
	assert_string_equal(db->host, "db.example.com");
	assert_int_equal(db->port, 6543);
	assert_string_equal(db->dbname, "my db");
	assert_null(db->user);
	assert_null(db->password);
	assert_int_equal(db->sslmode, TLS_MODE_PREFER);
	db = config_find_db(cfg, "anything");
	assert_string_equal(db->name, "*");
	assert_string_equal(db->host, "db.example.com");
	assert_int_equal(db->port, 6543);
	assert_null(db->dbname);
	/* A raw '@' in the password works: the last '@' ends the user info. */
	assert_string_equal(config_find_user_secret(cfg, "us@er"), "p:ss/w@rd");
	config_unref(cfg);
}

static void test_database_url_variants(void **state)
{
	config_t *cfg = config_new_defaults();
	char err[ERRLEN];
	const db_config_t *db;

	/* IPv6, no password. */
	assert_true(config_apply_database_url(cfg, "postgres://bob@[::1]:5433/app", err,
					      sizeof(err)));
	db = config_find_db(cfg, "app");
	assert_string_equal(db->host, "::1");
	assert_int_equal(db->port, 5433);
	assert_int_equal(cfg->nusers, 0);
	config_unref(cfg);

	/* No port, no database: the database is named after the user. */
	cfg = config_new_defaults();
	assert_true(config_apply_database_url(cfg, "postgres://bob:pw@localhost", err,
					      sizeof(err)));
	db = config_find_db(cfg, "bob");
	assert_string_equal(db->name, "bob");
	assert_string_equal(db->dbname, "bob");
	assert_string_equal(db->host, "localhost");
	assert_int_equal(db->port, 5432);
	assert_string_equal(config_find_user_secret(cfg, "bob"), "pw");
	config_unref(cfg);

	/* Neither user nor database: only the fallback. */
	cfg = config_new_defaults();
	assert_true(config_apply_database_url(cfg, "postgresql://10.0.0.5/", err, sizeof(err)));
	assert_int_equal(cfg->ndbs, 1);
	assert_string_equal(config_find_db(cfg, "x")->host, "10.0.0.5");
	config_unref(cfg);

	/* Unix socket, as a query parameter and percent-encoded in place of the host. */
	cfg = config_new_defaults();
	assert_true(config_apply_database_url(
		cfg, "postgresql://app@/appdb?host=/var/run/postgresql&port=5434", err,
		sizeof(err)));
	db = config_find_db(cfg, "appdb");
	assert_string_equal(db->host, "/var/run/postgresql");
	assert_int_equal(db->port, 5434);
	config_unref(cfg);
	cfg = config_new_defaults();
	assert_true(config_apply_database_url(cfg, "postgresql://%2Ftmp/db", err, sizeof(err)));
	assert_string_equal(config_find_db(cfg, "db")->host, "/tmp");
	config_unref(cfg);

	/* No host at all. */
	cfg = config_new_defaults();
	assert_true(config_apply_database_url(cfg, "postgresql:///db", err, sizeof(err)));
	assert_null(config_find_db(cfg, "db")->host);
	config_unref(cfg);
}

static void expect_url_error(const char *url, const char *needle)
{
	config_t *cfg = config_new_defaults();
	char err[ERRLEN];

	assert_false(config_apply_database_url(cfg, url, err, sizeof(err)));
	if (strncmp(err, "DATABASE_URL: ", 14) != 0 || !strstr(err, needle))
		fail_msg("url error '%s' lacks '%s'", err, needle);
	assert_null(strstr(err, "s3cret"));
	/* Nothing was half applied. */
	assert_int_equal(cfg->ndbs, 0);
	assert_int_equal(cfg->nusers, 0);
	assert_null(cfg->source);
	config_unref(cfg);
}

static void test_database_url_errors(void **state)
{
	expect_url_error("mysql://u:s3cret@h/db", "postgres://");
	expect_url_error("postgres://u:s3cret@h:99999/db", "bad port");
	expect_url_error("postgres://u:s3cret@h:/db", "bad port");
	expect_url_error("postgres://u:s3cret@h:54x/db", "bad port");
	expect_url_error("postgres://u:s3cret@h1,h2/db", "several hosts");
	expect_url_error("postgres://u:s3cret@[::1/db", "missing ']'");
	expect_url_error("postgres://u:s3cret@h/db?connect_timeout=5", "'connect_timeout'");
	expect_url_error("postgres://u:s3cret@h/db?sslmode=required", "sslmode 'required'");
	expect_url_error("postgres://u:s3cret@h/db?sslmode", "without '='");
	expect_url_error("postgres://u:s3%2@h/db", "percent-escape");
	expect_url_error("postgres://u:s3%00cret@h/db", "percent-escape");
	expect_url_error("postgres://:s3cret@h/db", "password without a user");
}

static void test_database_url_over_file(void **state)
{
	config_t *cfg = load("[databases]\n* = host=old\nkeep = host=k\n");
	char err[ERRLEN];

	assert_true(config_apply_database_url(cfg, "postgres://u:p@new/app", err, sizeof(err)));
	assert_string_equal(cfg->source, "t.ini");
	assert_int_equal(cfg->ndbs, 3);
	assert_string_equal(config_find_db(cfg, "nope")->host, "new");
	assert_string_equal(config_find_db(cfg, "keep")->host, "k");
	assert_string_equal(config_find_db(cfg, "app")->host, "new");
	/* Applying again replaces rather than duplicates. */
	assert_true(config_apply_database_url(cfg, "postgres://u:q@newer/app", err, sizeof(err)));
	assert_int_equal(cfg->ndbs, 3);
	assert_int_equal(cfg->nusers, 1);
	assert_string_equal(config_find_user_secret(cfg, "u"), "q");
	assert_string_equal(config_find_db(cfg, "app")->host, "newer");
	config_unref(cfg);
}

/* ---- SET and SHOW CONFIG ---- */

static void check_set(config_t *cfg, const char *name, const char *value, const char *shown)
{
	char err[ERRLEN];

	if (!config_set(cfg, name, value, err, sizeof(err)))
		fail_msg("SET %s = %s failed: %s", name, value, err);
	assert_value(cfg, name, shown);
}

static void test_set_and_format(void **state)
{
	config_t *cfg = config_new_defaults();
	char err[ERRLEN];

	check_set(cfg, "query_timeout", "250ms", "0.25");
	assert_int_equal(cfg->query_timeout, 250000);
	check_set(cfg, "query_timeout", "1min", "60");
	check_set(cfg, "query_timeout", "1.5h", "5400");
	check_set(cfg, "query_timeout", "2 d", "172800");
	check_set(cfg, "query_timeout", "0.5", "0.5");
	check_set(cfg, "query_timeout", "0.000001", "0.000001");
	check_set(cfg, "query_timeout", "10us", "0.00001");
	check_set(cfg, "query_timeout", "1.5us", "0.000001");
	check_set(cfg, "query_timeout", "15", "15");
	check_set(cfg, "query_timeout", "0.1", "0.1");
	assert_int_equal(cfg->query_timeout, 100000);
	check_set(cfg, "query_timeout", "1.25MS", "0.00125");
	check_set(cfg, "tcp_keepalive", "OFF", "0");
	check_set(cfg, "tcp_keepalive", "True", "1");
	check_set(cfg, "tcp_keepalive", "no", "0");
	check_set(cfg, "tcp_keepalive", "yes", "1");
	check_set(cfg, "auth_type", "SCRAM-SHA-256", "scram-sha-256");
	check_set(cfg, "auth_type", "trust", "trust");
	check_set(cfg, "admin_users", "root", "root");
	check_set(cfg, "admin_users", "", "");
	assert_null(cfg->admin_users);
	check_set(cfg, "Listen_Port", "1", "1");
	check_set(cfg, "listen_port", "65535", "65535");
	check_set(cfg, "max_packet_size", "2147483647", "2147483647");

	assert_false(config_set(cfg, "listen_port", "0", err, sizeof(err)));
	assert_string_equal(err, "listen_port: 0 is out of range [1, 65535]");
	assert_false(config_set(cfg, "nope", "1", err, sizeof(err)));
	assert_string_equal(err, "nope: unknown setting");
	assert_false(config_set(cfg, "sbuf_loopcnt", "1", err, sizeof(err)));
	assert_non_null(strstr(err, "sbuf_loopcnt: not implemented"));
	check_set(cfg, "so_reuseport", "on", "1");
	assert_false(config_set(cfg, "query_timeout", "1.1234567", err, sizeof(err)));
	assert_non_null(strstr(err, "more than 6 decimals"));
	assert_false(config_set(cfg, "query_timeout", "99999999999999999999", err, sizeof(err)));
	assert_non_null(strstr(err, "too large"));
	assert_false(config_set(cfg, "query_timeout", "9999999999999d", err, sizeof(err)));
	assert_non_null(strstr(err, "too large"));
	assert_false(config_set(cfg, "query_timeout", ".5", err, sizeof(err)));
	assert_false(config_set(cfg, "query_timeout", "5.", err, sizeof(err)));
	assert_false(config_set(cfg, "query_timeout", "1e3", err, sizeof(err)));
	assert_false(config_set(cfg, "query_timeout", "", err, sizeof(err)));
	assert_false(config_set(cfg, "listen_port", " 5", err, sizeof(err)));
	assert_false(config_set(cfg, "listen_port", "+5", err, sizeof(err)));
	/* A failed SET leaves the old value. */
	assert_value(cfg, "query_timeout", "0.00125");
	config_unref(cfg);
}

/* Every value SHOW CONFIG prints can be fed back through SET unchanged. */
static void test_format_round_trip(void **state)
{
	config_t *a = load(full_ini), *b = config_new_defaults();
	char va[256], vb[256], err[ERRLEN];

	for (size_t i = 0; i < config_setting_count(); i++) {
		const config_setting_t *s = config_setting_at(i);

		config_format_value(a, s, va, sizeof(va));
		if (!config_set(b, s->name, va, err, sizeof(err)))
			fail_msg("%s", err);
		config_format_value(b, s, vb, sizeof(vb));
		assert_string_equal(va, vb);
	}
	/* A small buffer is cut, never overrun. */
	config_format_value(a, config_setting_find("server_reset_query"), va, 4);
	assert_string_equal(va, "RES");
	config_unref(a);
	config_unref(b);
}

/* ---- clone, ref, unref ---- */

static void test_clone_and_refcount(void **state)
{
	config_t *a = load(full_ini), *b;
	char err[ERRLEN];

	assert_true(config_apply_database_url(a, "postgres://u:p@h/extra", err, sizeof(err)));
	b = config_clone(a);
	assert_int_equal(b->refcount, 1);
	assert_string_equal(b->source, "t.ini");
	assert_ptr_not_equal(b->listen_addr, a->listen_addr);
	assert_string_equal(b->listen_addr, a->listen_addr);
	assert_int_equal(b->ndbs, a->ndbs);
	assert_int_equal(b->nusers, 1);
	assert_string_equal(config_find_db(b, "app")->password, "s3cr et");
	assert_string_equal(config_find_user_secret(b, "u"), "p");

	/* Changing the clone leaves the original alone. */
	assert_true(config_set(b, "listen_addr", "::", err, sizeof(err)));
	assert_string_equal(a->listen_addr, "0.0.0.0");

	config_ref(b);
	assert_int_equal(b->refcount, 2);
	config_unref(b);
	assert_int_equal(b->refcount, 1);
	config_unref(b);
	config_unref(a);
	config_unref(NULL);

	/* A clone of the bare defaults (NULL strings, no arrays). */
	a = config_new_defaults();
	b = config_clone(a);
	assert_null(b->dbs);
	assert_null(b->users);
	assert_null(b->auth_file);
	config_unref(a);
	config_unref(b);
}

/* ---- lookups ---- */

static void test_lookups(void **state)
{
	config_t *cfg = load("[databases]\napp = host=a\n");

	assert_string_equal(config_find_db(cfg, "app")->host, "a");
	assert_null(config_find_db(cfg, "other"));
	assert_null(config_find_db(cfg, "APP"));
	assert_null(config_find_user_secret(cfg, "nobody"));
	config_unref(cfg);

	assert_true(config_list_contains("admin", "admin"));
	assert_true(config_list_contains(" admin , root ", "root"));
	assert_true(config_list_contains("a,b c\td", "c"));
	assert_true(config_list_contains("a,b c\td", "d"));
	assert_false(config_list_contains("administrator", "admin"));
	assert_false(config_list_contains("admin", "administrator"));
	assert_false(config_list_contains("Admin", "admin"));
	assert_false(config_list_contains(NULL, "admin"));
	assert_false(config_list_contains("", "admin"));
	assert_false(config_list_contains(" , ", ""));
	assert_false(config_list_contains("a", NULL));
}

/* ---- the shipped sample and docs ---- */

/* The repository root, from where this file was compiled. */
static void repo_path(const char *rel, char *out, size_t cap)
{
	const char *me = __FILE__, *tail = "test/unit/test_config.c";
	size_t n = strlen(me) - strlen(tail);

	if (strlen(me) < strlen(tail) || strcmp(me + n, tail) != 0)
		n = 0;
	snprintf(out, cap, "%.*s%s", (int)n, me, rel);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Uncomments every ";name = value" line whose name is a setting. */
static char *uncomment_settings(const char *text, size_t *found)
{
	char *out = strdup(text), *line = out;

	assert_non_null(out);
	*found = 0;
	while (*line) {
		char *eol = line + strcspn(line, "\n");
		char name[64];

		if (sscanf(line, ";%63[a-z_] =", name) == 1 && config_setting_find(name)) {
			line[0] = ' ';
			(*found)++;
		}
		line = *eol ? eol + 1 : eol;
	}
	return out;
}

static void test_sample_ini(void **state)
{
	char path[PATH_MAX], err[ERRLEN], buf[256];
	char *text, *live;
	config_t *cfg;
	size_t found;

	repo_path("etc/pgtide.ini", path, sizeof(path));
	text = slurp(path);
	if (!text)
		skip();
	cfg = config_load_file(path, err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	config_unref(cfg);

	/* Its commented-out values are the real defaults, for every setting. */
	live = uncomment_settings(text, &found);
	assert_int_equal(found, config_setting_count());
	cfg = config_load_string(live, path, err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	for (size_t i = 0; i < config_setting_count(); i++) {
		const config_setting_t *s = config_setting_at(i);

		config_format_value(cfg, s, buf, sizeof(buf));
		if (strcmp(buf, s->default_value) != 0)
			fail_msg("etc/pgtide.ini shows %s = %s, default is %s", s->name, buf,
				 s->default_value);
	}
	config_unref(cfg);
	free(live);
	free(text);
}

static void test_docs_list_every_setting(void **state)
{
	char path[PATH_MAX], needle[80];
	char *text;

	repo_path("docs/configuration.md", path, sizeof(path));
	text = slurp(path);
	if (!text)
		skip();
	for (size_t i = 0; i < config_setting_count(); i++) {
		snprintf(needle, sizeof(needle), "| `%s` |", config_setting_at(i)->name);
		if (!strstr(text, needle))
			fail_msg("docs/configuration.md has no row for %s",
				 config_setting_at(i)->name);
	}
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_match_table),
		cmocka_unit_test(test_table_is_sane),
		cmocka_unit_test(test_table_covers_config_t),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_pgbouncer_section),
		cmocka_unit_test(test_accepted_but_ignored_keys_are_listed),
		cmocka_unit_test(test_error_messages),
		cmocka_unit_test(test_error_does_not_echo_passwords),
		cmocka_unit_test(test_inih_cuts_long_lines),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_long_line_in_file),
		cmocka_unit_test(test_indented_lines_are_not_continuations),
		cmocka_unit_test(test_inline_comment_behaviour),
		cmocka_unit_test(test_bom_and_colon_separator),
		cmocka_unit_test(test_section_names_longer_than_inih_keeps),
		cmocka_unit_test(test_database_sections),
		cmocka_unit_test(test_connstr_quoting),
		cmocka_unit_test(test_auth_file),
		cmocka_unit_test(test_auth_file_errors),
		cmocka_unit_test(test_auth_file_relative_to_config),
		cmocka_unit_test(test_hba_file),
		cmocka_unit_test(test_database_url_full),
		cmocka_unit_test(test_database_url_variants),
		cmocka_unit_test(test_database_url_errors),
		cmocka_unit_test(test_database_url_over_file),
		cmocka_unit_test(test_set_and_format),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_clone_and_refcount),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_sample_ini),
		cmocka_unit_test(test_docs_list_every_setting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

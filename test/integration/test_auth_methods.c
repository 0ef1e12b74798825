/*
 * test_auth_methods.c - auth_type = hba and auth_query against the real
 * PostgreSQL fixture.
 *
 * hba: every line kind (local over the unix socket, host, hostssl,
 * hostnossl over TCP with and without TLS) and method (trust, reject, md5,
 * scram-sha-256, password, cert, clientcert=verify-full), the method the
 * client is really asked for (seen on the wire), PostgreSQL's messages for
 * no match and reject, reload (a good file replaces the rules, a broken one
 * is refused and the old rules stay).
 *
 * auth_query: roles made for this run (names carry the pid, so parallel
 * runs of this binary do not collide) that are in PostgreSQL and in no
 * auth_file: SCRAM login, with pgtide logging into the server with the
 * learned keys (no plaintext password anywhere); an md5 role; wrong password
 * and unknown user fail alike (28P01, same message, same SASL exchange);
 * hostile user names just fail; a custom auth_query with
 * auth_query_cache_ttl = 0; a lookup that cannot work fails with 08006.
 *
 * Certificates are made at test time with the openssl CLI, as in test_tls.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "auth.h"
#include "harness.h"

#define IO_TIMEOUT_MS 5000

static char work[256]; /* temp dir: certificates and hba files */
static char role_s[64], role_m[64], canary[64];

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

static const char *work_path(const char *file)
{
	static char buf[4][512];
	static int next;
	char *b = buf[next++ % 4];
	snprintf(b, 512, "%s/%s", work, file);
	return b;
}

static void write_text(const char *file, const char *text)
{
	FILE *f = fopen(work_path(file), "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}


/* ---- connecting ---- */

/* libpq with keyword arrays, so any user name travels unharmed. host NULL =
 * 127.0.0.1; sslmode NULL = disable; cert = name of a client certificate. */
static PGconn *conn(const pgtide_proc_t *p, const char *host, const char *user, const char *pw, const char *db,
		    const char *sslmode, const char *cert)
{
	char port[16], crt[512], key[512];
	const char *k[12], *v[12];
	int n = 0;
	snprintf(port, sizeof(port), "%d", p->port);
	k[n] = "host", v[n++] = host ? host : "127.0.0.1";
	k[n] = "port", v[n++] = port;
	k[n] = "user", v[n++] = user;
	k[n] = "dbname", v[n++] = db;
	k[n] = "password", v[n++] = pw ? pw : "";
	k[n] = "sslmode", v[n++] = sslmode ? sslmode : "disable";
	k[n] = "connect_timeout", v[n++] = "10";
	k[n] = "gssencmode", v[n++] = "disable";
	if (cert) {
		snprintf(crt, sizeof(crt), "%s/%s.crt", work, cert);
		snprintf(key, sizeof(key), "%s/%s.key", work, cert);
		k[n] = "sslcert", v[n++] = crt;
		k[n] = "sslkey", v[n++] = key;
	}
	k[n] = NULL, v[n] = NULL;
	return PQconnectdbParams(k, v, 0);
}

static void expect_ok(PGconn *c, const char *user)
{
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connection as %s failed: %s", user, PQerrorMessage(c));
	assert_string_equal(pt_query_value(c, "SELECT current_user"), user);
	PQfinish(c);
}

static void expect_fail(PGconn *c, const char *text)
{
	if (PQstatus(c) == CONNECTION_OK)
		fail_msg("connection should have failed with \"%s\"", text);
	if (!strstr(PQerrorMessage(c), text))
		fail_msg("expected \"%s\" in: %s", text, PQerrorMessage(c));
	PQfinish(c);
}

/* ---- raw protocol ---- */

static uint32_t get_u32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static bool read_full(int fd, unsigned char *buf, size_t n)
{
	size_t have = 0;
	double deadline = now_seconds() + IO_TIMEOUT_MS / 1000.0;
	while (have < n) {
		int left = (int)((deadline - now_seconds()) * 1000);
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return false;
		ssize_t got = recv(fd, buf + have, n - have, 0);
		if (got <= 0)
			return false;
		have += (size_t)got;
	}
	return true;
}

/* One backend message: type and body (len bytes, NUL added). */
static bool read_msg(int fd, char *type, unsigned char *body, size_t cap, size_t *len)
{
	unsigned char hdr[5];
	if (!read_full(fd, hdr, 5))
		return false;
	uint32_t l = get_u32(hdr + 1);
	if (l < 4 || l - 4 >= cap)
		return false;
	*type = (char)hdr[0];
	*len = l - 4;
	body[*len] = 0;
	return read_full(fd, body, *len);
}

/* What a login attempt saw: the first authentication request code (-1 =
 * none) and the final error, if any. */
typedef struct outcome {
	int first_code;
	char sqlstate[8];
	char message[256];
} outcome_t;

static void take_error(const unsigned char *body, size_t len, outcome_t *o)
{
	const unsigned char *f = body, *end = body + len;
	while (f < end && *f) {
		char t = (char)*f++;
		size_t l = strnlen((const char *)f, (size_t)(end - f));
		if (t == 'C')
			snprintf(o->sqlstate, sizeof(o->sqlstate), "%.*s", (int)l, (const char *)f);
		if (t == 'M')
			snprintf(o->message, sizeof(o->message), "%.*s", (int)l, (const char *)f);
		f += l + 1;
	}
}

static bool send_password_msg(int fd, const void *data, size_t len)
{
	unsigned char buf[2048];
	buf[0] = 'p';
	put_u32(buf + 1, (uint32_t)(len + 4));
	memcpy(buf + 5, data, len);
	return raw_send(fd, buf, len + 5);
}

/* Logs in over raw TCP answering SCRAM (with pgtide's own client code) or
 * a cleartext request with password; stops at the first other request. */
static outcome_t raw_login(int port, const char *user, const char *db, const char *password)
{
	outcome_t o = { .first_code = -1 };
	unsigned char buf[4096];
	char type;
	size_t len;
	scram_client_t sc;
	int fd = raw_connect(port);
	size_t n = raw_startup(buf, sizeof(buf), user, db);
	assert_true(raw_send(fd, buf, n));
	scram_client_init_password(&sc, password);
	while (read_msg(fd, &type, buf, sizeof(buf), &len)) {
		if (type == 'E') {
			take_error(buf, len, &o);
			break;
		}
		if (type != 'R' || len < 4)
			break;
		int code = (int)get_u32(buf);
		if (o.first_code < 0)
			o.first_code = code;
		char out[1024];
		size_t olen = 0;
		const char *err = NULL;
		if (code == 0) {
			break; /* AuthenticationOk */
		} else if (code == 3) {
			assert_true(send_password_msg(fd, password, strlen(password) + 1));
		} else if (code == 10) {
			unsigned char init[1200];
			assert_int_equal(scram_client_first(&sc, out, sizeof(out), &olen), 0);
			memcpy(init, "SCRAM-SHA-256", 14);
			put_u32(init + 14, (uint32_t)olen);
			memcpy(init + 18, out, olen);
			assert_true(send_password_msg(fd, init, 18 + olen));
		} else if (code == 11) {
			if (scram_client_handle_server_first(&sc, buf + 4, len - 4, out, sizeof(out), &olen, &err) != 0)
				fail_msg("bad server-first-message: %s", err);
			assert_true(send_password_msg(fd, out, olen));
		} else if (code == 12) {
			continue;
		} else {
			break; /* md5 and others: the code is all we wanted */
		}
	}
	close(fd);
	return o;
}

/* The first authentication request code pgtide sends user (or -1 after an
 * error, whose SQLSTATE and message go to o). */
static outcome_t first_request(int port, const char *user, const char *db)
{
	return raw_login(port, user, db, "");
}

/* ---- fixtures ---- */

static void direct_sql(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void direct_sql(const char *fmt, ...)
{
	char sql[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	PGconn *d = pg_connect_direct("postgres");
	pt_query_value(d, sql);
	PQfinish(d);
}

static int setup(void **state)
{
	snprintf(work, sizeof(work), "/tmp/pgtide-authm-XXXXXX");
	if (!mkdtemp(work))
		return -1;
	assert_true(pt_make_cert(work, "ca", "pgtide test CA", NULL, NULL));
	assert_true(pt_make_cert(work, "server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\n", "ca"));
	assert_true(pt_make_cert(work, "client_app", "app", "extendedKeyUsage=clientAuth\n", "ca"));
	assert_true(pt_make_cert(work, "client_md5", "md5_user", "extendedKeyUsage=clientAuth\n", "ca"));
	snprintf(role_s, sizeof(role_s), "aq_scram_%d", (int)getpid());
	snprintf(role_m, sizeof(role_m), "aq_md5_%d", (int)getpid());
	snprintf(canary, sizeof(canary), "aq_canary_%d", (int)getpid());
	direct_sql("SET password_encryption = 'scram-sha-256'; CREATE ROLE %s LOGIN PASSWORD 'aq-pw'", role_s);
	direct_sql("SET password_encryption = 'md5'; CREATE ROLE %s LOGIN PASSWORD 'aqm-pw'", role_m);
	direct_sql("CREATE TABLE public.%s (x int)", canary);
	return 0;
}

static int teardown(void **state)
{
	direct_sql("DROP TABLE IF EXISTS public.%s", canary);
	direct_sql("DROP ROLE IF EXISTS %s", role_s);
	direct_sql("DROP ROLE IF EXISTS %s", role_m);
	run("rm -rf %s", work);
	return 0;
}

static void start_hba(pgtide_proc_t *p, const char *hba_file, const char *more)
{
	char extra[2048];
	snprintf(extra, sizeof(extra), "auth_type = hba\nauth_hba_file = %s\n%s", work_path(hba_file),
		 more ? more : "");
	pgtide_start(p, extra, NULL);
}

/* ---- hba without TLS ---- */

static const char hba_plain[] = "# pgtide test rules\n"
				"local   all       md5_user                     trust\n"
				"local   all       all                          md5\n"
				"host    all       rejectu    127.0.0.1/32      reject\n"
				"host    app       app        127.0.0.1/32      scram-sha-256\n"
				"host    all       md5_user   127.0.0.1/32      md5\n"
				"host    all       scram_user 127.0.0.1 255.255.255.255 password\n"
				"host    sameuser  all        127.0.0.0/8       md5\n"
				"host    postgres  app        ::1/128           trust\n";

static void test_hba_local_and_host(void **state)
{
	pgtide_proc_t p;
	write_text("hba_plain.conf", hba_plain);
	start_hba(&p, "hba_plain.conf", NULL);

	/* local: trust for md5_user, md5 for the others */
	expect_ok(conn(&p, p.unix_dir, "md5_user", NULL, "postgres", NULL, NULL), "md5_user");
	expect_ok(conn(&p, p.unix_dir, "app", "app-pw", "app", NULL, NULL), "app");
	expect_fail(conn(&p, p.unix_dir, "app", "nope", "app", NULL, NULL),
		    "password authentication failed for user \"app\"");

	/* host: the method each line names is the one asked for */
	assert_int_equal(first_request(p.port, "app", "app").first_code, 10);       /* SASL */
	assert_int_equal(first_request(p.port, "md5_user", "postgres").first_code, 5); /* md5 */
	assert_int_equal(first_request(p.port, "scram_user", "postgres").first_code, 3); /* cleartext */
	expect_ok(conn(&p, NULL, "app", "app-pw", "app", NULL, NULL), "app");
	expect_ok(conn(&p, NULL, "md5_user", "md5-pw", "postgres", NULL, NULL), "md5_user");
	expect_ok(conn(&p, NULL, "scram_user", "scram-pw", "postgres", NULL, NULL), "scram_user");
	expect_fail(conn(&p, NULL, "scram_user", "wrong", "postgres", NULL, NULL),
		    "password authentication failed for user \"scram_user\"");
	expect_fail(conn(&p, NULL, "md5_user", "wrong", "postgres", NULL, NULL),
		    "password authentication failed for user \"md5_user\"");
	outcome_t o = raw_login(p.port, "app", "app", "wrong");
	assert_string_equal(o.sqlstate, "28P01");

	/* sameuser: a user connecting to the database of its own name */
	assert_int_equal(first_request(p.port, "postgres", "postgres").first_code, 5);

	/* reject, and no matching line, in PostgreSQL's words */
	o = first_request(p.port, "rejectu", "postgres");
	assert_int_equal(o.first_code, -1);
	assert_string_equal(o.sqlstate, "28000");
	assert_string_equal(o.message, "pg_hba.conf rejects connection for host \"127.0.0.1\", user \"rejectu\", "
				       "database \"postgres\", SSL off");
	o = first_request(p.port, "app", "postgres"); /* the ::1 line does not match 127.0.0.1 */
	assert_string_equal(o.sqlstate, "28000");
	assert_string_equal(o.message, "no pg_hba.conf entry for host \"127.0.0.1\", user \"app\", "
				       "database \"postgres\", SSL off");
	expect_fail(conn(&p, NULL, "nobody", "x", "nodb", NULL, NULL), "no pg_hba.conf entry for host");
	assert_true(pgtide_log_contains(&p, "no auth_hba_file line matches: user=nobody db=nodb addr=127.0.0.1"));
	assert_true(pgtide_log_contains(&p, "auth_hba_file line 4 rejects: user=rejectu"));
	assert_int_equal(pgtide_stop(&p), 0);
}

/* Waits up to 5 s for a login to reach the expected first request code. */
static bool wait_first_code(int port, const char *user, const char *db, int want)
{
	for (int i = 0; i < 250; i++) {
		if (first_request(port, user, db).first_code == want)
			return true;
		usleep(20000);
	}
	return false;
}

static void test_hba_reload(void **state)
{
	pgtide_proc_t p;
	write_text("hba_reload.conf", hba_plain);
	start_hba(&p, "hba_reload.conf", NULL);
	assert_string_equal(first_request(p.port, "app", "postgres").sqlstate, "28000");

	/* A new first line: app may use postgres without a password. */
	char text[2048];
	snprintf(text, sizeof(text), "host postgres app 127.0.0.1/32 trust\n%s", hba_plain);
	write_text("hba_reload.conf", text);
	pgtide_signal(&p, SIGHUP);
	assert_true(wait_first_code(p.port, "app", "postgres", 0));
	expect_ok(conn(&p, NULL, "app", "not-checked", "postgres", NULL, NULL), "app");

	/* A file that does not parse: the reload is refused, the rules stay. */
	write_text("hba_reload.conf", "local all all peer\n");
	pgtide_signal(&p, SIGHUP);
	for (int i = 0; i < 250 && !pgtide_log_contains(&p, "reload failed"); i++)
		usleep(20000);
	assert_true(pgtide_log_contains(&p, "authentication method \"peer\" is not supported"));
	assert_int_equal(first_request(p.port, "app", "postgres").first_code, 0);
	assert_int_equal(first_request(p.port, "md5_user", "postgres").first_code, 5);
	assert_int_equal(pgtide_stop(&p), 0);
}

/* ---- hba with TLS ---- */

static const char hba_tls[] = "hostssl   all  app        127.0.0.1/32 cert\n"
			      "hostssl   all  md5_user   127.0.0.1/32 md5 clientcert=verify-full\n"
			      "hostnossl all  scram_user 127.0.0.1/32 scram-sha-256\n"
			      "hostssl   all  scram_user 127.0.0.1/32 reject\n"
			      "local     all  all                     scram-sha-256\n";

static void test_hba_tls(void **state)
{
	pgtide_proc_t p;
	char more[1024];
	write_text("hba_tls.conf", hba_tls);
	snprintf(more, sizeof(more),
		 "client_tls_sslmode = prefer\nclient_tls_cert_file = %s\nclient_tls_key_file = %s\n"
		 "client_tls_ca_file = %s\n",
		 work_path("server.crt"), work_path("server.key"), work_path("ca.crt"));
	start_hba(&p, "hba_tls.conf", more);

	/* hostssl ... cert */
	expect_ok(conn(&p, NULL, "app", NULL, "app", "require", "client_app"), "app");
	expect_fail(conn(&p, NULL, "app", "app-pw", "app", "require", NULL),
		    "connection requires a valid client certificate");
	expect_fail(conn(&p, NULL, "app", "app-pw", "app", "disable", NULL),
		    "no pg_hba.conf entry for host \"127.0.0.1\", user \"app\", database \"app\", SSL off");

	/* hostssl ... md5 clientcert=verify-full: certificate and password */
	expect_ok(conn(&p, NULL, "md5_user", "md5-pw", "postgres", "require", "client_md5"), "md5_user");
	expect_fail(conn(&p, NULL, "md5_user", "wrong", "postgres", "require", "client_md5"),
		    "password authentication failed for user \"md5_user\"");
	expect_fail(conn(&p, NULL, "md5_user", "md5-pw", "postgres", "require", "client_app"),
		    "certificate validation (clientcert=verify-full) failed for user \"md5_user\": CN mismatch");
	expect_fail(conn(&p, NULL, "md5_user", "md5-pw", "postgres", "require", NULL),
		    "connection requires a valid client certificate");

	/* hostnossl / hostssl for the same user */
	expect_ok(conn(&p, NULL, "scram_user", "scram-pw", "postgres", "disable", NULL), "scram_user");
	expect_fail(conn(&p, NULL, "scram_user", "scram-pw", "postgres", "require", NULL),
		    "pg_hba.conf rejects connection for host \"127.0.0.1\", user \"scram_user\", "
		    "database \"postgres\", SSL on");
	/* local lines on the same pgtide */
	expect_ok(conn(&p, p.unix_dir, "scram_user", "scram-pw", "postgres", NULL, NULL), "scram_user");
	assert_int_equal(pgtide_stop(&p), 0);
}

/* ---- auth_query ---- */

static void start_authq(pgtide_proc_t *p, const char *more)
{
	char extra[2048], dbs[1024];
	snprintf(extra, sizeof(extra), "auth_user = app\n%s", more ? more : "");
	snprintf(dbs, sizeof(dbs),
		 "viaunix = host=%s port=%d dbname=postgres\n"
		 "* = host=127.0.0.1 port=%d\n",
		 pg_host(), pg_port(), pg_port());
	pgtide_start(p, extra, dbs);
}

static void canary_exists(void)
{
	char sql[256];
	PGconn *d = pg_connect_direct("postgres");
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_class WHERE relname = '%s'", canary);
	assert_string_equal(pt_query_value(d, sql), "1");
	PQfinish(d);
}

static void test_auth_query(void **state)
{
	pgtide_proc_t p;
	char msg[200];
	start_authq(&p, NULL);

	/* A SCRAM role in PostgreSQL only: the client proves the password,
	 * and pgtide logs into the server (TCP, scram-sha-256 in the
	 * fixture's pg_hba.conf) with the keys it learned. */
	expect_ok(conn(&p, NULL, role_s, "aq-pw", "postgres", NULL, NULL), role_s);
	expect_ok(conn(&p, NULL, role_s, "aq-pw", "postgres", NULL, NULL), role_s); /* cached */
	expect_ok(conn(&p, p.unix_dir, role_s, "aq-pw", "postgres", NULL, NULL), role_s);

	/* wrong password and unknown user: the same exchange, the same error */
	outcome_t wrong = raw_login(p.port, role_s, "postgres", "wrong");
	outcome_t unknown = raw_login(p.port, "aq_nobody_here", "postgres", "wrong");
	assert_int_equal(wrong.first_code, 10);
	assert_int_equal(unknown.first_code, 10);
	assert_string_equal(wrong.sqlstate, "28P01");
	assert_string_equal(unknown.sqlstate, "28P01");
	snprintf(msg, sizeof(msg), "password authentication failed for user \"%s\"", role_s);
	assert_string_equal(wrong.message, msg);
	assert_string_equal(unknown.message, "password authentication failed for user \"aq_nobody_here\"");
	expect_fail(conn(&p, NULL, role_s, "wrong", "postgres", NULL, NULL), msg);

	/* similar timing, cached and not (loose: a lookup is a round trip) */
	double t0 = now_seconds();
	raw_login(p.port, role_s, "postgres", "wrong");
	double t_wrong = now_seconds() - t0;
	t0 = now_seconds();
	raw_login(p.port, "aq_nobody_here", "postgres", "wrong");
	double t_unknown = now_seconds() - t0;
	assert_true(t_wrong < 2.0 && t_unknown < 2.0);

	/* hostile names are only ever a bind parameter */
	const char *hostile[] = { "x' OR '1'='1", "\"; DROP TABLE x; --", "app' --", "postgres\\", "a$1b" };
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		outcome_t o = raw_login(p.port, hostile[i], "postgres", "anything");
		assert_string_equal(o.sqlstate, "28P01");
	}
	char drop[128];
	snprintf(drop, sizeof(drop), "\"; DROP TABLE public.%s; --", canary);
	assert_string_equal(raw_login(p.port, drop, "postgres", "x").sqlstate, "28P01");
	snprintf(drop, sizeof(drop), "x'; DROP TABLE public.%s; --", canary);
	assert_string_equal(raw_login(p.port, drop, "postgres", "x").sqlstate, "28P01");
	canary_exists();

	/* an md5 role (the server login goes over the unix socket, where the
	 * fixture trusts: PostgreSQL's scram-sha-256 line cannot take md5) */
	assert_int_equal(first_request(p.port, role_m, "viaunix").first_code, 5);
	expect_ok(conn(&p, NULL, role_m, "aqm-pw", "viaunix", NULL, NULL), role_m);
	expect_fail(conn(&p, NULL, role_m, "wrong", "viaunix", NULL, NULL), "password authentication failed");

	/* auth_file users do not ask the database */
	expect_ok(conn(&p, NULL, "scram_user", "scram-pw", "postgres", NULL, NULL), "scram_user");

	/* failures are logged with the client's address */
	snprintf(msg, sizeof(msg), "password authentication failed: user=%s db=postgres addr=127.0.0.1", role_s);
	assert_true(pgtide_log_contains(&p, msg));
	assert_true(pgtide_log_contains(&p, "password authentication failed: user=aq_nobody_here"));
	assert_int_equal(pgtide_stop(&p), 0);
}

static void test_auth_query_custom_no_cache(void **state)
{
	pgtide_proc_t p;
	start_authq(&p, "auth_query = SELECT usename, passwd FROM pg_shadow WHERE usename = $1\n"
			"auth_dbname = viaunix\n"
			"auth_query_cache_ttl = 0\n");
	expect_ok(conn(&p, NULL, role_s, "aq-pw", "postgres", NULL, NULL), role_s);
	/* no cache: a new password works at once, the old one no longer */
	direct_sql("SET password_encryption = 'scram-sha-256'; ALTER ROLE %s PASSWORD 'aq-pw2'", role_s);
	expect_ok(conn(&p, NULL, role_s, "aq-pw2", "postgres", NULL, NULL), role_s);
	expect_fail(conn(&p, NULL, role_s, "aq-pw", "postgres", NULL, NULL), "password authentication failed");
	direct_sql("SET password_encryption = 'scram-sha-256'; ALTER ROLE %s PASSWORD 'aq-pw'", role_s);
	assert_int_equal(pgtide_stop(&p), 0);
}

/* n logins started at once (libpq's asynchronous API); how many got in. */
static int parallel_logins(const pgtide_proc_t *p, const char *user, const char *pw, int n)
{
	char port[16];
	PGconn *c[64];
	bool done[64] = { false };
	int ok = 0, left = n;
	snprintf(port, sizeof(port), "%d", p->port);
	const char *k[] = { "host", "port", "user", "password", "dbname", "sslmode", NULL };
	const char *v[] = { "127.0.0.1", port, user, pw, "postgres", "disable", NULL };
	assert_true(n <= 64);
	for (int i = 0; i < n; i++)
		c[i] = PQconnectStartParams(k, v, 0);
	double deadline = now_seconds() + 20;
	while (left > 0 && now_seconds() < deadline) {
		for (int i = 0; i < n; i++) {
			if (done[i])
				continue;
			PostgresPollingStatusType st = PQconnectPoll(c[i]);
			if (st == PGRES_POLLING_OK || st == PGRES_POLLING_FAILED) {
				done[i] = true;
				left--;
				ok += st == PGRES_POLLING_OK;
				continue;
			}
			struct pollfd pfd = { .fd = PQsocket(c[i]),
					      .events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT };
			poll(&pfd, 1, 1);
		}
	}
	for (int i = 0; i < n; i++)
		PQfinish(c[i]);
	return ok;
}

/* Many clients of one user at once, nothing cached: they share lookups and
 * all get in; as many made-up users fail, and pgtide stays fine. */
static void test_auth_query_concurrent(void **state)
{
	pgtide_proc_t p;
	start_authq(&p, "auth_query_cache_ttl = 0\n");
	assert_int_equal(parallel_logins(&p, role_s, "aq-pw", 40), 40);
	assert_int_equal(parallel_logins(&p, role_s, "wrong", 20), 0);
	assert_int_equal(parallel_logins(&p, "aq_nobody_at_all", "x", 20), 0);
	expect_ok(conn(&p, NULL, role_s, "aq-pw", "postgres", NULL, NULL), role_s);
	assert_int_equal(pgtide_stop(&p), 0);
}

static void test_auth_query_cannot_look_up(void **state)
{
	pgtide_proc_t p;
	start_authq(&p, "auth_dbname = aq_no_such_database\n");
	outcome_t o = raw_login(p.port, role_s, "postgres", "aq-pw");
	assert_string_equal(o.sqlstate, "08006");
	assert_non_null(strstr(o.message, "auth_query"));
	assert_true(pgtide_log_contains(&p, "auth_query for user="));
	/* auth_file users are not affected */
	expect_ok(conn(&p, NULL, "scram_user", "scram-pw", "postgres", NULL, NULL), "scram_user");
	assert_int_equal(pgtide_stop(&p), 0);
}

/* A lookup server that never answers: the lookup times out (08006), and a
 * client that leaves while its lookup runs takes the lookup with it. */
static void test_auth_query_stalled(void **state)
{
	pgtide_proc_t p;
	char extra[512], dbs[512];
	int hole = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t slen = sizeof(sin);
	assert_int_equal(bind(hole, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(hole, 16), 0); /* never accepted: the kernel completes handshakes */
	assert_int_equal(getsockname(hole, (struct sockaddr *)&sin, &slen), 0);
	snprintf(extra, sizeof(extra), "auth_user = app\nauth_dbname = hole\nserver_connect_timeout = 0.5\n");
	snprintf(dbs, sizeof(dbs), "hole = host=127.0.0.1 port=%d dbname=postgres\n* = host=127.0.0.1 port=%d\n",
		 ntohs(sin.sin_port), pg_port());
	pgtide_start(&p, extra, dbs);

	/* leaves while the lookup runs */
	unsigned char buf[512];
	int fd = raw_connect(p.port);
	size_t n = raw_startup(buf, sizeof(buf), role_s, "postgres");
	assert_true(raw_send(fd, buf, n));
	usleep(100000);
	close(fd);

	double t0 = now_seconds();
	outcome_t o = raw_login(p.port, role_s, "postgres", "aq-pw");
	assert_string_equal(o.sqlstate, "08006");
	assert_true(now_seconds() - t0 < 3.0);
	assert_true(pgtide_log_contains(&p, "auth_query timed out"));
	/* the loop was never blocked meanwhile, and auth_file users still work */
	expect_ok(conn(&p, NULL, "scram_user", "scram-pw", "postgres", NULL, NULL), "scram_user");
	assert_int_equal(pgtide_stop(&p), 0);
	close(hole);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hba_local_and_host),
		cmocka_unit_test(test_hba_reload),
		cmocka_unit_test(test_hba_tls),
		cmocka_unit_test(test_auth_query),
		cmocka_unit_test(test_auth_query_custom_no_cache),
		cmocka_unit_test(test_auth_query_concurrent),
		cmocka_unit_test(test_auth_query_cannot_look_up),
		cmocka_unit_test(test_auth_query_stalled),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

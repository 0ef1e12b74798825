/*
 * test_tls.c - TLS with clients and servers.
 *
 * The certificates are made at test time with the openssl CLI (nothing is
 * committed): a CA, a server certificate for localhost / 127.0.0.1, a
 * second one for the reload test, a client certificate (CN app), and an
 * unrelated CA that trusts none of them.
 *
 * Client side: libpq with sslmode require / verify-ca / verify-full, wrong
 * host names and untrusted CAs, client_tls_sslmode = require refusing
 * plaintext (28000), SSLRequest / GSSENCRequest followed by injected bytes,
 * direct TLS (ALPN "postgresql") with OpenSSL, client certificates, slow and
 * garbage handshakes, certificate reload on SIGHUP.
 * Server side: a throwaway PostgreSQL cluster with ssl = on and only
 * hostssl lines in its pg_hba.conf (the shared fixture stays unchanged),
 * reached with server_tls_sslmode = verify-full.
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

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "harness.h"

#define IO_TIMEOUT_MS 5000

static char certs[256];      /* temp dir with the certificates */
static pgtide_proc_t proc;   /* client_tls_sslmode = require, trust */

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

static const char *cert_path(const char *file)
{
	static char buf[4][512];
	static int next;
	char *b = buf[next++ % 4];
	snprintf(b, 512, "%s/%s", certs, file);
	return b;
}

static void start_tls_pgtide(pgtide_proc_t *p, const char *mode, const char *cert, const char *more)
{
	char extra[2048];
	snprintf(extra, sizeof(extra),
		 "auth_type = trust\n"
		 "client_tls_sslmode = %s\n"
		 "client_tls_cert_file = %s/%s.crt\n"
		 "client_tls_key_file = %s/%s.key\n"
		 "%s",
		 mode, certs, cert, certs, cert, more ? more : "");
	pgtide_start(p, extra, NULL);
}

static int setup(void **state)
{
	snprintf(certs, sizeof(certs), "/tmp/pgtide-tls-XXXXXX");
	if (!mkdtemp(certs))
		return -1;
	assert_true(pt_make_cert(certs, "ca", "pgtide test CA", NULL, NULL));
	assert_true(pt_make_cert(certs, "other-ca", "some other CA", NULL, NULL));
	assert_true(pt_make_cert(certs, "server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\n", "ca"));
	assert_true(
	    pt_make_cert(certs, "server2", "pgtide reloaded", "subjectAltName=DNS:localhost,IP:127.0.0.1\n", "ca"));
	assert_true(pt_make_cert(certs, "client", "app", "extendedKeyUsage=clientAuth\n", "ca"));
	assert_true(pt_make_cert(certs, "other-client", "app", "extendedKeyUsage=clientAuth\n", "other-ca"));
	start_tls_pgtide(&proc, "require", "server", NULL);
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(pgtide_stop(&proc), 0);
	run("rm -rf %s", certs);
	return 0;
}

static PGconn *tls_connect(const pgtide_proc_t *p, const char *host, const char *params)
{
	char conninfo[2048];
	snprintf(conninfo, sizeof(conninfo),
		 "host=%s port=%d user=app dbname=app connect_timeout=10 %.1500s", host, p->port, params);
	return PQconnectdb(conninfo);
}

static void expect_ok(PGconn *c)
{
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connection failed: %s", PQerrorMessage(c));
	assert_int_equal(PQsslInUse(c), 1);
	assert_string_equal(pt_query_value(c, "SELECT 6 * 7"), "42");
}

static void expect_fail(PGconn *c, const char *text)
{
	assert_int_equal(PQstatus(c), CONNECTION_BAD);
	if (!strstr(PQerrorMessage(c), text))
		fail_msg("expected \"%s\" in: %s", text, PQerrorMessage(c));
}

/* ---- libpq sslmodes ---- */

static void test_libpq_sslmodes(void **state)
{
	char opt[600];
	PGconn *c = tls_connect(&proc, "127.0.0.1", "sslmode=require");
	expect_ok(c);
	assert_string_equal(PQsslAttribute(c, "protocol"), "TLSv1.3");
	/* SHOW CLIENTS says how the client is connected. */
	PGconn *a = tls_connect(&proc, "127.0.0.1", "user=admin password=admin-pw dbname=pgtide sslmode=require");
	assert_int_equal(PQstatus(a), CONNECTION_OK);
	assert_memory_equal(pt_show_value(a, "SHOW CLIENTS", "user", "app", "tls"), "TLSv1.3/", 8);
	PQfinish(a);
	PQfinish(c);

	snprintf(opt, sizeof(opt), "sslmode=verify-ca sslrootcert=%s", cert_path("ca.crt"));
	c = tls_connect(&proc, "127.0.0.1", opt);
	expect_ok(c);
	PQfinish(c);

	snprintf(opt, sizeof(opt), "sslmode=verify-full sslrootcert=%s", cert_path("ca.crt"));
	c = tls_connect(&proc, "localhost", opt);
	expect_ok(c);
	PQfinish(c);
	c = tls_connect(&proc, "127.0.0.1", opt);
	expect_ok(c);
	PQfinish(c);

	/* The certificate does not name the host the client asked for. */
	snprintf(opt, sizeof(opt), "hostaddr=127.0.0.1 sslmode=verify-full sslrootcert=%s", cert_path("ca.crt"));
	c = tls_connect(&proc, "wrong.example", opt);
	expect_fail(c, "does not match host name \"wrong.example\"");
	PQfinish(c);

	/* A CA that did not sign pgtide's certificate. */
	snprintf(opt, sizeof(opt), "sslmode=verify-ca sslrootcert=%s", cert_path("other-ca.crt"));
	c = tls_connect(&proc, "127.0.0.1", opt);
	expect_fail(c, "certificate verify failed");
	PQfinish(c);

	/* TLS 1.2 works as well (client_tls_protocols = secure). */
	c = tls_connect(&proc, "127.0.0.1", "sslmode=require ssl_max_protocol_version=TLSv1.2");
	expect_ok(c);
	assert_string_equal(PQsslAttribute(c, "protocol"), "TLSv1.2");
	PQfinish(c);
	/* ...TLS 1.1 does not. */
	c = tls_connect(&proc, "127.0.0.1", "sslmode=require ssl_max_protocol_version=TLSv1.1");
	assert_int_equal(PQstatus(c), CONNECTION_BAD);
	PQfinish(c);
}

/* ---- raw protocol helpers ---- */

static uint32_t get_u32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* The value of field `code` of the first ErrorResponse in buf[0..n). */
static const char *error_field(const unsigned char *buf, size_t n, char code)
{
	static char value[256];
	size_t pos = 0;
	while (pos + 5 <= n) {
		uint32_t len = get_u32(buf + pos + 1);
		if (buf[pos] == 'E') {
			const unsigned char *f = buf + pos + 5, *end = buf + pos + 1 + len;
			while (f < end && *f) {
				char t = (char)*f++;
				size_t l = strnlen((const char *)f, (size_t)(end - f));
				if (t == code) {
					snprintf(value, sizeof(value), "%.*s", (int)l, (const char *)f);
					return value;
				}
				f += l + 1;
			}
			return "";
		}
		pos += 1 + len;
	}
	return "";
}

/* StartupMessage with user, database and application_name. */
static size_t startup_with_app(unsigned char *buf, const char *user, const char *db, const char *app)
{
	size_t n = 8;
	const char *kv[] = { "user", user, "database", db, "application_name", app };
	for (int i = 0; i < 6; i++) {
		size_t l = strlen(kv[i]) + 1;
		memcpy(buf + n, kv[i], l);
		n += l;
	}
	buf[n++] = 0;
	buf[0] = (unsigned char)(n >> 24);
	buf[1] = (unsigned char)(n >> 16);
	buf[2] = (unsigned char)(n >> 8);
	buf[3] = (unsigned char)n;
	buf[4] = 0;
	buf[5] = 3;
	buf[6] = 0;
	buf[7] = 0;
	return n;
}

static const unsigned char ssl_request[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
static const unsigned char gssenc_request[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30 };

static void test_require_refuses_plaintext(void **state)
{
	unsigned char buf[4096];
	int fd = raw_connect(proc.port);
	size_t n = raw_startup(buf, sizeof(buf), "app", "app");
	assert_true(raw_send(fd, buf, n));
	ssize_t got = raw_read_until(fd, 'E', buf, sizeof(buf), IO_TIMEOUT_MS);
	assert_true(got > 0);
	assert_string_equal(error_field(buf, (size_t)got, 'C'), "28000");
	assert_string_equal(error_field(buf, (size_t)got, 'M'), "SSL required");
	assert_true(raw_wait_closed(fd, IO_TIMEOUT_MS));
	close(fd);

	/* libpq shows it as PgBouncer's message. */
	PGconn *c = tls_connect(&proc, "127.0.0.1", "sslmode=disable");
	expect_fail(c, "SSL required");
	PQfinish(c);

	/* The unix socket is exempt (local, and never TLS). */
	char conninfo[512];
	snprintf(conninfo, sizeof(conninfo), "host=%s port=%d user=app dbname=app sslmode=disable", proc.unix_dir,
		 proc.port);
	c = PQconnectdb(conninfo);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	assert_string_equal(pt_query_value(c, "SELECT 1"), "1");
	PQfinish(c);
}

/* How many sessions of the fixture cluster carry this application_name. */
static int sessions_named(const char *app)
{
	PGconn *d = pg_connect_direct("postgres");
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s'", app);
	int n = atoi(pt_query_value(d, sql));
	PQfinish(d);
	return n;
}

static void test_request_with_injected_bytes(void **state)
{
	/* SSLRequest (or GSSENCRequest) and a plaintext startup in one write:
	 * refused before any answer byte, and nothing reaches a server. */
	const unsigned char *reqs[] = { ssl_request, gssenc_request };
	for (int i = 0; i < 2; i++) {
		unsigned char buf[4096];
		memcpy(buf, reqs[i], 8);
		size_t n = startup_with_app(buf + 8, "app", "app", "tls_injected");
		int fd = raw_connect(proc.port);
		assert_true(raw_send(fd, buf, 8 + n));
		ssize_t got = raw_read_until(fd, 'E', buf, sizeof(buf), IO_TIMEOUT_MS);
		assert_true(got > 0);
		if (buf[0] == 'S' || buf[0] == 'N')
			fail_msg("pgtide answered '%c' to a request followed by injected bytes", buf[0]);
		assert_string_equal(error_field(buf, (size_t)got, 'C'), "08P01");
		assert_non_null(strstr(error_field(buf, (size_t)got, 'M'), "unencrypted data after"));
		assert_true(raw_wait_closed(fd, IO_TIMEOUT_MS));
		close(fd);
	}
	assert_int_equal(sessions_named("tls_injected"), 0);
	assert_false(pgtide_log_contains(&proc, "tls_injected"));
	/* Others are still served. */
	PGconn *c = tls_connect(&proc, "127.0.0.1", "sslmode=require");
	expect_ok(c);
	PQfinish(c);
}

/* ---- direct TLS with OpenSSL ---- */

typedef struct tls_client {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
} tls_client_t;

/* Handshake on fd (after SSLRequest/'S' or directly). alpn NULL = none. */
static bool tls_client_open(tls_client_t *t, int fd, const char *alpn)
{
	t->fd = fd;
	t->ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
	if (alpn) {
		unsigned char wire[64];
		size_t l = strlen(alpn);
		wire[0] = (unsigned char)l;
		memcpy(wire + 1, alpn, l);
		SSL_CTX_set_alpn_protos(t->ctx, wire, (unsigned)l + 1);
	}
	t->ssl = SSL_new(t->ctx);
	SSL_set_fd(t->ssl, fd);
	int r = SSL_connect(t->ssl);
	ERR_clear_error();
	return r == 1;
}

static void tls_client_close(tls_client_t *t)
{
	SSL_free(t->ssl);
	SSL_CTX_free(t->ctx);
	close(t->fd);
}

/* Reads messages until one of type `type`; returns bytes read or -1. */
static ssize_t tls_read_until(tls_client_t *t, char type, unsigned char *buf, size_t cap)
{
	size_t have = 0;
	for (;;) {
		size_t pos = 0;
		while (pos + 5 <= have) {
			uint32_t len = get_u32(buf + pos + 1);
			if (pos + 1 + len > have)
				break;
			if ((char)buf[pos] == type)
				return (ssize_t)have;
			pos += 1 + len;
		}
		if (have == cap)
			return -1;
		int n = SSL_read(t->ssl, buf + have, (int)(cap - have));
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
}

static void direct_login_and_query(tls_client_t *t)
{
	unsigned char buf[8192];
	size_t n = raw_startup(buf, sizeof(buf), "app", "app");
	assert_int_equal(SSL_write(t->ssl, buf, (int)n), (int)n);
	assert_true(tls_read_until(t, 'Z', buf, sizeof(buf)) > 0);
	static const unsigned char q[] = { 'Q', 0, 0, 0, 13, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '7', 0 };
	assert_int_equal(SSL_write(t->ssl, q, sizeof(q)), (int)sizeof(q));
	ssize_t got = tls_read_until(t, 'Z', buf, sizeof(buf));
	assert_true(got > 0);
	/* A DataRow with "7" came back. */
	bool seen = false;
	for (size_t pos = 0; pos + 5 <= (size_t)got; pos += 1 + get_u32(buf + pos + 1))
		seen |= buf[pos] == 'D' && get_u32(buf + pos + 1) == 11 && buf[pos + 11] == '7';
	assert_true(seen);
}

static void test_direct_tls(void **state)
{
	/* PostgreSQL 17 sslnegotiation=direct: TLS from the first byte. */
	tls_client_t t;
	assert_true(tls_client_open(&t, raw_connect(proc.port), "postgresql"));
	direct_login_and_query(&t);
	tls_client_close(&t);

	/* Direct TLS without ALPN is refused after the handshake (as
	 * PostgreSQL does); with another protocol, during it. */
	assert_true(tls_client_open(&t, raw_connect(proc.port), NULL));
	unsigned char buf[4096];
	size_t n = raw_startup(buf, sizeof(buf), "app", "app");
	SSL_write(t.ssl, buf, (int)n);
	ssize_t got = tls_read_until(&t, 'E', buf, sizeof(buf));
	assert_true(got > 0);
	assert_non_null(strstr(error_field(buf, (size_t)got, 'M'), "ALPN"));
	tls_client_close(&t);
	assert_false(tls_client_open(&t, raw_connect(proc.port), "http/1.1"));
	tls_client_close(&t);

	/* SSLRequest, then TLS with ALPN: the same session afterwards. */
	int fd = raw_connect(proc.port);
	assert_true(raw_send(fd, ssl_request, 8));
	unsigned char answer = 0;
	assert_int_equal(recv(fd, &answer, 1, 0), 1);
	assert_int_equal(answer, 'S');
	assert_true(tls_client_open(&t, fd, "postgresql"));
	direct_login_and_query(&t);
	tls_client_close(&t);
}

/* ---- client certificates ---- */

static void test_client_certificates(void **state)
{
	pgtide_proc_t p;
	char more[512], opt[1024];
	snprintf(more, sizeof(more), "client_tls_ca_file = %s/ca.crt\n", certs);
	start_tls_pgtide(&p, "verify-ca", "server", more);

	snprintf(opt, sizeof(opt), "sslmode=require sslcert=%s sslkey=%s", cert_path("client.crt"),
		 cert_path("client.key"));
	PGconn *c = tls_connect(&p, "127.0.0.1", opt);
	expect_ok(c);
	PQfinish(c);

	/* No certificate, or one from another CA: refused in the handshake. */
	snprintf(opt, sizeof(opt), "sslmode=require sslcert=/nonexistent sslkey=/nonexistent");
	c = tls_connect(&p, "127.0.0.1", opt);
	assert_int_equal(PQstatus(c), CONNECTION_BAD);
	PQfinish(c);
	snprintf(opt, sizeof(opt), "sslmode=require sslcert=%s sslkey=%s", cert_path("other-client.crt"),
		 cert_path("other-client.key"));
	c = tls_connect(&p, "127.0.0.1", opt);
	assert_int_equal(PQstatus(c), CONNECTION_BAD);
	PQfinish(c);
	assert_true(pgtide_log_contains(&p, "client TLS handshake failed"));
	assert_int_equal(pgtide_stop(&p), 0);
}

/* ---- authentication over TLS ---- */

static void test_cert_auth(void **state)
{
	pgtide_proc_t p;
	char more[512], opt[1024];
	snprintf(more, sizeof(more), "client_tls_ca_file = %s/ca.crt\nauth_type = cert\n", certs);
	start_tls_pgtide(&p, "require", "server", more);
	/* client.crt says CN=app. */
	snprintf(opt, sizeof(opt), "sslmode=require sslcert=%s sslkey=%s", cert_path("client.crt"),
		 cert_path("client.key"));
	PGconn *c = tls_connect(&p, "127.0.0.1", opt);
	expect_ok(c);
	assert_string_equal(pt_query_value(c, "SELECT current_user"), "app");
	PQfinish(c);
	/* The same certificate for another user. */
	char conninfo[1500];
	snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%d user=md5_user dbname=postgres %s", p.port, opt);
	c = PQconnectdb(conninfo);
	expect_fail(c, "certificate authentication failed for user \"md5_user\"");
	PQfinish(c);
	/* No certificate at all. */
	c = tls_connect(&p, "127.0.0.1", "sslmode=require sslcert=/nonexistent sslkey=/nonexistent");
	expect_fail(c, "connection requires a valid client certificate");
	PQfinish(c);
	assert_int_equal(pgtide_stop(&p), 0);
}

static void test_scram_channel_binding(void **state)
{
	pgtide_proc_t p;
	start_tls_pgtide(&p, "prefer", "server", "auth_type = scram-sha-256\n");
	/* SCRAM-SHA-256-PLUS with tls-server-end-point. */
	PGconn *c = tls_connect(&p, "127.0.0.1", "password=app-pw sslmode=require channel_binding=require");
	expect_ok(c);
	PQfinish(c);
	c = tls_connect(&p, "127.0.0.1", "password=wrong sslmode=require channel_binding=require");
	expect_fail(c, "password authentication failed");
	PQfinish(c);
	/* Without binding over TLS, and without TLS (PLUS is not offered). */
	c = tls_connect(&p, "127.0.0.1", "password=app-pw sslmode=require channel_binding=disable");
	expect_ok(c);
	PQfinish(c);
	c = tls_connect(&p, "127.0.0.1", "password=app-pw sslmode=disable channel_binding=prefer");
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	assert_string_equal(pt_query_value(c, "SELECT 1"), "1");
	PQfinish(c);
	c = tls_connect(&p, "127.0.0.1", "password=app-pw sslmode=disable channel_binding=require");
	assert_int_equal(PQstatus(c), CONNECTION_BAD);
	PQfinish(c);
	assert_int_equal(pgtide_stop(&p), 0);
}

/* ---- handshakes that hurt no one ---- */

static void test_slow_and_garbage_handshakes(void **state)
{
	pgtide_proc_t p;
	start_tls_pgtide(&p, "prefer", "server", "client_login_timeout = 2\n");
	enum { SLOW = 40, GARBAGE = 40 };
	int slow[SLOW], garbage[GARBAGE];
	unsigned char junk[512];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 37 + 11);
	for (int i = 0; i < SLOW; i++) {
		/* SSLRequest, 'S', then half a ClientHello header and silence. */
		slow[i] = raw_connect(p.port);
		assert_true(raw_send(slow[i], ssl_request, 8));
		unsigned char a = 0;
		assert_int_equal(recv(slow[i], &a, 1, 0), 1);
		assert_int_equal(a, 'S');
		assert_true(raw_send(slow[i], "\x16\x03\x01", 3));
	}
	for (int i = 0; i < GARBAGE; i++) {
		garbage[i] = raw_connect(p.port);
		assert_true(raw_send(garbage[i], ssl_request, 8));
		unsigned char a = 0;
		assert_int_equal(recv(garbage[i], &a, 1, 0), 1);
		assert_true(raw_send(garbage[i], junk, sizeof(junk)));
	}
	/* Meanwhile a real client logs in and queries at once. */
	double t0 = now_seconds();
	PGconn *c = tls_connect(&p, "127.0.0.1", "sslmode=require");
	expect_ok(c);
	assert_true(now_seconds() - t0 < 1.5);
	/* Garbage ends promptly; the slow ones at client_login_timeout. */
	for (int i = 0; i < GARBAGE; i++) {
		assert_true(raw_wait_closed(garbage[i], 2000));
		close(garbage[i]);
	}
	for (int i = 0; i < SLOW; i++) {
		assert_true(raw_wait_closed(slow[i], 6000));
		close(slow[i]);
	}
	assert_string_equal(pt_query_value(c, "SELECT 'still here'"), "still here");
	PQfinish(c);
	/* The same for direct TLS that never completes. */
	int fd = raw_connect(p.port);
	assert_true(raw_send(fd, "\x16\x03\x01\x00", 4));
	assert_true(raw_wait_closed(fd, 6000));
	close(fd);
	assert_int_equal(pgtide_stop(&p), 0);
}

/* ---- reload ---- */

static char *peer_cn(PGconn *c)
{
	static char cn[256];
	SSL *ssl = PQsslStruct(c, "OpenSSL");
	assert_non_null(ssl);
	X509 *cert = SSL_get1_peer_certificate(ssl);
	assert_non_null(cert);
	X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
	X509_free(cert);
	return cn;
}

static void test_reload_certificates(void **state)
{
	pgtide_proc_t p;
	start_tls_pgtide(&p, "require", "server", NULL);
	PGconn *before = tls_connect(&p, "127.0.0.1", "sslmode=require");
	expect_ok(before);
	assert_string_equal(peer_cn(before), "localhost");

	char extra[1024];
	snprintf(extra, sizeof(extra),
		 "auth_type = trust\nclient_tls_sslmode = require\n"
		 "client_tls_cert_file = %s/server2.crt\nclient_tls_key_file = %s/server2.key\n",
		 certs, certs);
	pgtide_rewrite_config(&p, extra, NULL);
	pgtide_signal(&p, SIGHUP);
	double deadline = now_seconds() + 5;
	char *cn = NULL;
	while (now_seconds() < deadline) {
		PGconn *c = tls_connect(&p, "127.0.0.1", "sslmode=require");
		expect_ok(c);
		cn = peer_cn(c);
		PQfinish(c);
		if (strcmp(cn, "pgtide reloaded") == 0)
			break;
		usleep(50000);
	}
	assert_string_equal(cn, "pgtide reloaded");
	/* The client connected before the reload carries on. */
	assert_string_equal(pt_query_value(before, "SELECT 'kept'"), "kept");
	PQfinish(before);

	/* A reload with a broken key keeps the old contexts. */
	snprintf(extra, sizeof(extra),
		 "auth_type = trust\nclient_tls_sslmode = require\n"
		 "client_tls_cert_file = %s/server2.crt\nclient_tls_key_file = %s/server.key\n",
		 certs, certs);
	pgtide_rewrite_config(&p, extra, NULL);
	pgtide_signal(&p, SIGHUP);
	deadline = now_seconds() + 5;
	while (now_seconds() < deadline && !pgtide_log_contains(&p, "reload failed"))
		usleep(50000);
	assert_true(pgtide_log_contains(&p, "reload failed, keeping the old configuration: client_tls_key_file"));
	PGconn *c = tls_connect(&p, "127.0.0.1", "sslmode=require");
	expect_ok(c);
	assert_string_equal(peer_cn(c), "pgtide reloaded");
	PQfinish(c);
	assert_int_equal(pgtide_stop(&p), 0);
}

/* ---- server side: a PostgreSQL that accepts TLS only ---- */

static char tls_pgdir[300];

static void pgcluster(const char *args)
{
	const char *src = getenv("PGTIDE_SOURCE_DIR");
	assert_non_null(src);
	run("%s/test/integration/pgcluster.sh %s >/dev/null", src, args);
}

static int tls_cluster_port(void)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/port", tls_pgdir);
	FILE *f = fopen(path, "r");
	int port = 0;
	if (!f || fscanf(f, "%d", &port) != 1)
		fail_msg("cannot read %s", path);
	fclose(f);
	return port;
}

static void start_tls_cluster(void)
{
	char args[400];
	snprintf(tls_pgdir, sizeof(tls_pgdir), "%s/pg", certs);
	snprintf(args, sizeof(args), "start %s", tls_pgdir);
	pgcluster(args);
	snprintf(args, sizeof(args), "stop %s", tls_pgdir);
	pgcluster(args);
	run("cp %s/server.crt %s/server.key %s/data/ && chmod 600 %s/data/server.key && "
	    "(chown postgres: %s/data/server.crt %s/data/server.key 2>/dev/null || true) && "
	    "printf \"ssl = on\\nssl_cert_file = 'server.crt'\\nssl_key_file = 'server.key'\\n\" "
	    ">> %s/data/postgresql.conf && "
	    "sed -i 's/^host /hostssl /' %s/data/pg_hba.conf",
	    certs, certs, tls_pgdir, tls_pgdir, tls_pgdir, tls_pgdir, tls_pgdir, tls_pgdir);
	snprintf(args, sizeof(args), "start %s", tls_pgdir);
	pgcluster(args);
}

static void test_server_tls(void **state)
{
	start_tls_cluster();
	int port = tls_cluster_port();
	pgtide_proc_t p;
	char extra[1024], dbs[1024];
	snprintf(extra, sizeof(extra),
		 "auth_type = md5\nserver_tls_sslmode = verify-full\nserver_tls_ca_file = %s/ca.crt\n", certs);
	snprintf(dbs, sizeof(dbs),
		 "app = host=127.0.0.1 port=%d\n"
		 "plain = host=127.0.0.1 port=%d dbname=app sslmode=disable\n"
		 "fixture = host=127.0.0.1 port=%d dbname=app sslmode=require\n",
		 port, port, pg_port());
	pgtide_start(&p, extra, dbs);

	/* The backend sees a TLS session (hostssl matched). */
	PGconn *c = pt_connect_ok(&p, "app", "app-pw", "app");
	assert_string_equal(pt_query_value(c, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "t");
	assert_string_equal(pt_query_value(c, "SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"),
			    "TLSv1.3");
	PQfinish(c);
	PGconn *a = pt_connect_ok(&p, "admin", "admin-pw", "pgtide");
	assert_memory_equal(pt_show_value(a, "SHOW SERVERS", "database", "app", "tls"), "TLSv1.3/", 8);
	PQfinish(a);

	/* Without TLS the cluster has no pg_hba.conf line for us. */
	c = pt_connect(&p, "app", "app-pw", "plain", NULL);
	expect_fail(c, "no encryption");
	PQfinish(c);

	/* sslmode=require against a server without TLS. */
	c = pt_connect(&p, "app", "app-pw", "fixture", NULL);
	expect_fail(c, "does not support TLS");
	PQfinish(c);
	assert_int_equal(pgtide_stop(&p), 0);

	/* verify-full against the wrong name, and an untrusted CA. */
	snprintf(dbs, sizeof(dbs), "app = host=127.0.0.2 port=%d\n", port);
	run("sed -i \"s/^listen_addresses = .*/listen_addresses = '127.0.0.1,127.0.0.2'/\" %s/data/postgresql.conf",
	    tls_pgdir);
	char args[400];
	snprintf(args, sizeof(args), "stop %s", tls_pgdir);
	pgcluster(args);
	snprintf(args, sizeof(args), "start %s %d", tls_pgdir, port);
	pgcluster(args);
	pgtide_start(&p, extra, dbs);
	c = pt_connect(&p, "app", "app-pw", "app", NULL);
	expect_fail(c, "certificate verify failed");
	assert_non_null(strstr(PQerrorMessage(c), "mismatch"));
	PQfinish(c);
	assert_int_equal(pgtide_stop(&p), 0);

	snprintf(extra, sizeof(extra),
		 "auth_type = md5\nserver_tls_sslmode = verify-ca\nserver_tls_ca_file = %s/other-ca.crt\n", certs);
	snprintf(dbs, sizeof(dbs), "app = host=127.0.0.1 port=%d\n", port);
	pgtide_start(&p, extra, dbs);
	c = pt_connect(&p, "app", "app-pw", "app", NULL);
	expect_fail(c, "certificate verify failed: unable to get local issuer certificate");
	PQfinish(c);
	assert_int_equal(pgtide_stop(&p), 0);

	snprintf(args, sizeof(args), "destroy %s", tls_pgdir);
	pgcluster(args);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libpq_sslmodes),
		cmocka_unit_test(test_require_refuses_plaintext),
		cmocka_unit_test(test_request_with_injected_bytes),
		cmocka_unit_test(test_direct_tls),
		cmocka_unit_test(test_client_certificates),
		cmocka_unit_test(test_cert_auth),
		cmocka_unit_test(test_scram_channel_binding),
		cmocka_unit_test(test_slow_and_garbage_handshakes),
		cmocka_unit_test(test_reload_certificates),
		cmocka_unit_test(test_server_tls),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

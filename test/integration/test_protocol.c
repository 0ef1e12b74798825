/*
 * test_protocol.c - hostile and unusual protocol input against a running
 * pgtide, over raw sockets. Every case must end in an ErrorResponse (with
 * the right SQLSTATE) and/or a clean close, or complete normally where the
 * protocol allows it; after every case pgtide must still serve a normal
 * libpq client.
 *
 * Two pgtide instances: one with auth_type = trust (no password exchange
 * needed for raw logins; client_login_timeout = 1 and max_packet_size =
 * 100000 for the limit cases) and one with md5 for the cases about the
 * order of messages during authentication.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static pgtide_proc_t trust_proc; /* auth_type = trust */
static pgtide_proc_t md5_proc;   /* auth_type = md5 */

#define IO_TIMEOUT_MS 5000

/* ---- raw protocol helpers ---- */

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* 1 = got n bytes, 0 = EOF (or reset) first, -1 = timeout. */
static int recv_exact(int fd, uint8_t *buf, size_t n, int timeout_ms)
{
	size_t have = 0;
	double deadline = now_seconds() + timeout_ms / 1000.0;
	while (have < n) {
		int left = (int)((deadline - now_seconds()) * 1000);
		if (left <= 0)
			return -1;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int pr = poll(&pfd, 1, left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return -1;
		ssize_t k = recv(fd, buf + have, n - have, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return 0;
		have += (size_t)k;
	}
	return 1;
}

typedef struct msg {
	uint8_t type;
	uint32_t len;        /* body length */
	uint8_t body[65536]; /* longer bodies are read and cut */
} msg_t;

/* Reads one typed message. 1 = ok, 0 = EOF, -1 = timeout. */
static int read_msg(int fd, msg_t *m, int timeout_ms)
{
	uint8_t hdr[5];
	int r = recv_exact(fd, hdr, 5, timeout_ms);
	if (r != 1)
		return r;
	m->type = hdr[0];
	uint32_t len = get_u32(hdr + 1);
	if (len < 4)
		fail_msg("pgtide sent message '%c' with length %u", hdr[0], len);
	m->len = len - 4;
	size_t keep = m->len < sizeof(m->body) ? m->len : sizeof(m->body);
	r = recv_exact(fd, m->body, keep, timeout_ms);
	if (r != 1)
		return r == 0 ? 0 : -1;
	for (size_t rest = m->len - keep; rest > 0;) {
		uint8_t junk[4096];
		size_t k = rest < sizeof(junk) ? rest : sizeof(junk);
		r = recv_exact(fd, junk, k, timeout_ms);
		if (r != 1)
			return r == 0 ? 0 : -1;
		rest -= k;
	}
	if (m->len < sizeof(m->body))
		m->body[m->len] = 0;
	return 1;
}

/* Looks up one field of an ErrorResponse/NoticeResponse body ("" if absent). */
static const char *error_field(const msg_t *m, char code)
{
	static char out[8][512];
	static int slot;
	char *res = out[slot++ % 8];
	res[0] = 0;
	size_t pos = 0, n = m->len < sizeof(m->body) ? m->len : sizeof(m->body);
	while (pos < n && m->body[pos] != 0) {
		char c = (char)m->body[pos++];
		const uint8_t *nul = memchr(m->body + pos, 0, n - pos);
		if (!nul)
			fail_msg("malformed ErrorResponse from pgtide");
		size_t vlen = (size_t)(nul - (m->body + pos));
		if (c == code)
			snprintf(res, 512, "%.*s", (int)vlen, (const char *)m->body + pos);
		pos += vlen + 1;
	}
	return res;
}

static void send_all(int fd, const void *data, size_t len)
{
	if (!raw_send(fd, data, len))
		fail_msg("send failed: %s", strerror(errno));
}

/* Sends and tolerates the peer having closed already (its answer is then
 * waiting in our receive buffer). */
static void send_maybe(int fd, const void *data, size_t len)
{
	(void)raw_send(fd, data, len);
}

/* The next message must be an ErrorResponse with this SQLSTATE (messages
 * of the types in `allowed_before` may come first), after which pgtide
 * closes the connection. `msg_part`, if given, must appear in the message. */
static void expect_error_and_close(int fd, const char *sqlstate, const char *msg_part, const char *allowed_before)
{
	static msg_t mbuf;
	msg_t *m = &mbuf;
	for (;;) {
		int r = read_msg(fd, m, IO_TIMEOUT_MS);
		if (r == 0)
			fail_msg("connection closed without an ErrorResponse (expected SQLSTATE %s)", sqlstate);
		if (r < 0)
			fail_msg("no ErrorResponse within %d ms (expected SQLSTATE %s)", IO_TIMEOUT_MS, sqlstate);
		if (m->type == 'E')
			break;
		if (!allowed_before || !strchr(allowed_before, m->type))
			fail_msg("expected ErrorResponse, got message '%c'", m->type);
	}
	const char *state = error_field(m, 'C');
	const char *severity = error_field(m, 'V')[0] ? error_field(m, 'V') : error_field(m, 'S');
	const char *text = error_field(m, 'M');
	if (strcmp(state, sqlstate) != 0)
		fail_msg("SQLSTATE %s (%s: %s), expected %s", state, severity, text, sqlstate);
	if (msg_part && !strstr(text, msg_part))
		fail_msg("error message \"%s\" does not contain \"%s\"", text, msg_part);
	/* A protocol violation ends the session. */
	assert_string_equal(severity, "FATAL");
	if (!raw_wait_closed(fd, IO_TIMEOUT_MS))
		fail_msg("pgtide did not close the connection after the FATAL error");
	close(fd);
}

/* Reads the rest of a login after the startup packet: optional
 * NegotiateProtocolVersion, AuthenticationOk, ParameterStatus..., BackendKeyData,
 * ReadyForQuery. */
static void expect_login_ok(int fd)
{
	static msg_t mbuf;
	msg_t *m = &mbuf;
	bool auth_ok = false, key = false;
	for (;;) {
		int r = read_msg(fd, m, 10000);
		if (r != 1)
			fail_msg("login: %s", r == 0 ? "connection closed" : "timeout");
		switch (m->type) {
		case 'R':
			assert_int_equal(m->len, 4);
			assert_int_equal(get_u32(m->body), 0);
			auth_ok = true;
			break;
		case 'S':
		case 'N':
			assert_true(auth_ok);
			break;
		case 'K':
			assert_true(auth_ok);
			assert_int_equal(m->len, 8);
			key = true;
			break;
		case 'Z':
			assert_true(auth_ok);
			assert_true(key);
			assert_int_equal(m->len, 1);
			assert_int_equal(m->body[0], 'I');
					return;
		case 'E':
			fail_msg("login failed: %s %s", error_field(m, 'C'), error_field(m, 'M'));
			break;
		default:
			fail_msg("unexpected message '%c' during login", m->type);
		}
	}
}

static size_t build_startup(uint8_t *buf, size_t cap, uint32_t version, const char *const *kv, int nkv)
{
	size_t n = 8;
	for (int i = 0; i < nkv; i++) {
		size_t l = strlen(kv[i]) + 1;
		assert_true(n + l + 1 <= cap);
		memcpy(buf + n, kv[i], l);
		n += l;
	}
	buf[n++] = 0;
	put_u32(buf, (uint32_t)n);
	put_u32(buf + 4, version);
	return n;
}

/* A logged-in raw connection to the trust instance. */
static int raw_login_trust(void)
{
	int fd = raw_connect(trust_proc.port);
	uint8_t pkt[256];
	size_t n = raw_startup(pkt, sizeof(pkt), "app", "app");
	send_all(fd, pkt, n);
	expect_login_ok(fd);
	return fd;
}

/* Runs a simple query on a raw connection; returns the first column of the
 * first row ("" if none). Fails on an error or a timeout. */
static const char *raw_query(int fd, const char *sql)
{
	static char value[256];
	uint8_t buf[1024];
	size_t l = strlen(sql) + 1;
	assert_true(l + 5 <= sizeof(buf));
	buf[0] = 'Q';
	put_u32(buf + 1, (uint32_t)(4 + l));
	memcpy(buf + 5, sql, l);
	send_all(fd, buf, 5 + l);
	value[0] = 0;
	bool got_row = false;
	static msg_t mbuf;
	msg_t *m = &mbuf;
	for (;;) {
		int r = read_msg(fd, m, IO_TIMEOUT_MS);
		if (r != 1)
			fail_msg("query \"%s\": %s", sql, r == 0 ? "connection closed" : "timeout");
		if (m->type == 'E')
			fail_msg("query \"%s\" failed: %s %s", sql, error_field(m, 'C'), error_field(m, 'M'));
		if (m->type == 'D' && !got_row) {
			got_row = true;
			assert_true(m->len >= 6);
			uint32_t vl = get_u32(m->body + 2);
			if (vl != UINT32_MAX) {
				assert_true(vl < sizeof(value) && 6 + vl <= m->len);
				memcpy(value, m->body + 6, vl);
				value[vl] = 0;
			}
		}
		if (m->type == 'Z')
			break;
	}
	return value;
}

/* Sends "SELECT length('xxx...')" as a Query whose length field is exactly
 * `msglen`; returns the number of x's (the expected answer). */
static size_t send_query_len(int fd, uint32_t msglen)
{
	const char *head = "SELECT length('", *tail = "')";
	size_t sqlbytes = msglen - 4; /* with the NUL */
	size_t k = sqlbytes - strlen(head) - strlen(tail) - 1;
	uint8_t *buf = malloc(5 + sqlbytes);
	assert_non_null(buf);
	buf[0] = 'Q';
	put_u32(buf + 1, msglen);
	char *sql = (char *)buf + 5;
	memcpy(sql, head, strlen(head));
	memset(sql + strlen(head), 'x', k);
	memcpy(sql + strlen(head) + k, tail, strlen(tail) + 1);
	send_all(fd, buf, 5 + sqlbytes);
	free(buf);
	return k;
}

/* Reads a query's answer up to ReadyForQuery; "" on success with the first
 * value in out, else what went wrong. */
static const char *read_result(int fd, int timeout_ms, char *out, size_t cap)
{
	static char why[256];
	static msg_t mbuf;
	msg_t *m = &mbuf;
	out[0] = 0;
	why[0] = 0;
	for (;;) {
		int r = read_msg(fd, m, timeout_ms);
		if (r != 1) {
			snprintf(why, sizeof(why), "%s", r == 0 ? "connection closed" : "no answer in time");
			break;
		}
		if (m->type == 'E') {
			snprintf(why, sizeof(why), "error %s: %s", error_field(m, 'C'), error_field(m, 'M'));
			break;
		}
		if (m->type == 'D')
			snprintf(out, cap, "%.*s", (int)get_u32(m->body + 2), (const char *)m->body + 6);
		if (m->type == 'Z')
			break;
	}
	return why;
}

static void check_query_len(int fd, uint32_t msglen)
{
	size_t k = send_query_len(fd, msglen);
	char got[32], want[32];
	const char *why = read_result(fd, IO_TIMEOUT_MS, got, sizeof(got));
	if (why[0])
		fail_msg("%u-byte query: %s", msglen, why);
	snprintf(want, sizeof(want), "%zu", k);
	assert_string_equal(got, want);
}

static void raw_terminate(int fd)
{
	static const uint8_t x[5] = { 'X', 0, 0, 0, 4 };
	send_maybe(fd, x, sizeof(x));
	assert_true(raw_wait_closed(fd, IO_TIMEOUT_MS));
	close(fd);
}

/* pgtide is alive and serves a normal libpq client (and a raw one, with
 * timeouts, so a wedged pgtide fails the test instead of hanging it). */
static void check_serving(pgtide_proc_t *p)
{
	assert_int_equal(kill(p->pid, 0), 0);
	if (p == &trust_proc) {
		int fd = raw_login_trust();
		assert_string_equal(raw_query(fd, "SELECT 6 * 7"), "42");
		raw_terminate(fd);
	}
	PGconn *c = pt_connect(p, "app", "app-pw", "app", "options='-c statement_timeout=5000'");
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("libpq client cannot connect after the case: %s", PQerrorMessage(c));
	assert_string_equal(pt_query_value(c, "SELECT 'still serving'"), "still serving");
	assert_string_equal(pt_query_value(c, "SELECT current_user"), "app");
	PQfinish(c);
}

/* ---- fixtures ---- */

static int setup(void **state)
{
	signal(SIGPIPE, SIG_IGN);
	/* tcp_defer_accept off: test_startup_incomplete_login_timeout has a
	 * client that connects and sends nothing, which TCP_DEFER_ACCEPT
	 * would keep in the kernel, away from pgtide, for 45 s. */
	pgtide_start(&trust_proc,
		     "pool_mode = transaction\n"
		     "auth_type = trust\n"
		     "tcp_defer_accept = 0\n"
		     "client_login_timeout = 1\n"
		     "max_packet_size = 100000\n",
		     NULL);
	pgtide_start(&md5_proc, "pool_mode = transaction\nauth_type = md5\n", NULL);
	return 0;
}

static int teardown(void **state)
{
	int a = pgtide_stop(&trust_proc);
	int b = pgtide_stop(&md5_proc);
	assert_int_equal(a, 0);
	assert_int_equal(b, 0);
	return 0;
}

/* ---- startup packet ---- */

static void test_startup_oversized_length(void **state)
{
	static const uint32_t lengths[] = { 0x7fffffff, 20000, 10001, 0xffffffff, 0x80000000 };
	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		int fd = raw_connect(trust_proc.port);
		uint8_t hdr[8];
		put_u32(hdr, lengths[i]);
		put_u32(hdr + 4, 0x00030000);
		send_all(fd, hdr, sizeof(hdr));
		expect_error_and_close(fd, "08P01", "length", NULL);
	}
	check_serving(&trust_proc);
}

static void test_startup_short_length(void **state)
{
	static const uint32_t lengths[] = { 0, 1, 4, 7 };
	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		int fd = raw_connect(trust_proc.port);
		uint8_t hdr[8];
		put_u32(hdr, lengths[i]);
		put_u32(hdr + 4, 0x00030000);
		send_all(fd, hdr, sizeof(hdr));
		expect_error_and_close(fd, "08P01", "length", NULL);
	}
	/* 8 bytes: a v3 startup with no room for even the terminator. */
	int fd = raw_connect(trust_proc.port);
	uint8_t hdr[8];
	put_u32(hdr, 8);
	put_u32(hdr + 4, 0x00030000);
	send_all(fd, hdr, sizeof(hdr));
	expect_error_and_close(fd, "08P01", NULL, NULL);
	check_serving(&trust_proc);
}

static void test_startup_malformed_content(void **state)
{
	/* No user. */
	uint8_t pkt[256];
	const char *kv[] = { "database", "app" };
	size_t n = build_startup(pkt, sizeof(pkt), 0x00030000, kv, 2);
	int fd = raw_connect(trust_proc.port);
	send_all(fd, pkt, n);
	expect_error_and_close(fd, "08P01", "user", NULL);
	/* Missing terminator: the last pair's NUL is the last byte. */
	n = build_startup(pkt, sizeof(pkt), 0x00030000, (const char *[]){ "user", "app" }, 2);
	put_u32(pkt, (uint32_t)(n - 1));
	fd = raw_connect(trust_proc.port);
	send_all(fd, pkt, n - 1);
	expect_error_and_close(fd, "08P01", NULL, NULL);
	check_serving(&trust_proc);
}

static void test_startup_byte_by_byte(void **state)
{
	uint8_t pkt[256];
	const char *kv[] = { "user", "app", "database", "app", "application_name", "slowpoke" };
	size_t n = build_startup(pkt, sizeof(pkt), 0x00030000, kv, 6);
	int fd = raw_connect(trust_proc.port);
	/* client_login_timeout is 1 s here: ~60 bytes at 3 ms stay well within. */
	for (size_t i = 0; i < n; i++) {
		send_all(fd, pkt + i, 1);
		usleep(3000);
	}
	expect_login_ok(fd);
	assert_string_equal(raw_query(fd, "SELECT current_setting('application_name')"), "slowpoke");
	assert_string_equal(raw_query(fd, "SELECT 1"), "1");
	raw_terminate(fd);
	check_serving(&trust_proc);
}

static void test_startup_pipelined_with_query(void **state)
{
	/* Startup and a query in one write (trust: no auth exchange). */
	uint8_t buf[256];
	size_t n = raw_startup(buf, sizeof(buf), "app", "app");
	const char sql[] = "SELECT 5";
	buf[n] = 'Q';
	put_u32(buf + n + 1, (uint32_t)(4 + sizeof(sql)));
	memcpy(buf + n + 5, sql, sizeof(sql));
	int fd = raw_connect(trust_proc.port);
	send_all(fd, buf, n + 5 + sizeof(sql));
	expect_login_ok(fd);
	static msg_t mbuf;
	msg_t *m = &mbuf;
	bool row = false;
	for (;;) {
		assert_int_equal(read_msg(fd, m, IO_TIMEOUT_MS), 1);
		assert_int_not_equal(m->type, 'E');
		if (m->type == 'D') {
			assert_memory_equal(m->body + 2, "\0\0\0\x01" "5", 5);
			row = true;
		}
		if (m->type == 'Z')
			break;
	}
	assert_true(row);
	raw_terminate(fd);
	check_serving(&trust_proc);
}

static void test_startup_incomplete_login_timeout(void **state)
{
	uint8_t pkt[256];
	size_t n = raw_startup(pkt, sizeof(pkt), "app", "app");
	double t0 = now_seconds();
	/* Three clients that never finish: part of a packet, less than the
	 * 8-byte header, nothing at all. */
	int fds[3];
	fds[0] = raw_connect(trust_proc.port);
	send_all(fds[0], pkt, n - 3);
	fds[1] = raw_connect(trust_proc.port);
	send_all(fds[1], pkt, 3);
	fds[2] = raw_connect(trust_proc.port);
	for (int i = 0; i < 3; i++) {
		expect_error_and_close(fds[i], "08P01", "client_login_timeout", NULL);
		double elapsed = now_seconds() - t0;
		if (elapsed > 3.5)
			fail_msg("client %d closed only after %.2f s (client_login_timeout = 1)", i, elapsed);
	}
	/* Not before the timeout either. */
	assert_true(now_seconds() - t0 >= 0.9);
	check_serving(&trust_proc);
}

/* ---- protocol versions ---- */

static void test_protocol_version_2(void **state)
{
	/* A protocol 2.0 startup packet: fixed 296 bytes. */
	uint8_t pkt[296];
	memset(pkt, 0, sizeof(pkt));
	put_u32(pkt, sizeof(pkt));
	put_u32(pkt + 4, 0x00020000);
	memcpy(pkt + 8, "app", 3);       /* database[64] */
	memcpy(pkt + 8 + 64, "app", 3);  /* user[32] */
	int fd = raw_connect(trust_proc.port);
	send_all(fd, pkt, sizeof(pkt));
	expect_error_and_close(fd, "0A000", "unsupported frontend protocol", NULL);

	/* 4.0 is not spoken either. */
	uint8_t v4[64];
	size_t n = build_startup(v4, sizeof(v4), 0x00040000, (const char *[]){ "user", "app" }, 2);
	fd = raw_connect(trust_proc.port);
	send_all(fd, v4, n);
	expect_error_and_close(fd, "0A000", NULL, NULL);
	check_serving(&trust_proc);
}

static void test_protocol_3_2_negotiation(void **state)
{
	uint8_t pkt[256];
	const char *kv[] = { "user", "app", "database", "app", "_pq_.test_option", "on" };
	size_t n = build_startup(pkt, sizeof(pkt), 0x00030002, kv, 6);
	int fd = raw_connect(trust_proc.port);
	send_all(fd, pkt, n);
	static msg_t mbuf;
	msg_t *m = &mbuf;
	assert_int_equal(read_msg(fd, m, IO_TIMEOUT_MS), 1);
	if (m->type != 'v')
		fail_msg("expected NegotiateProtocolVersion first, got '%c'", m->type);
	/* Newest minor version supported: 0; one option not recognised. */
	static const char want[] = "\0\0\0\0" "\0\0\0\x01" "_pq_.test_option\0";
	assert_int_equal(m->len, sizeof(want) - 1);
	assert_memory_equal(m->body, want, sizeof(want) - 1);
	/* Then a 3.0 session. */
	expect_login_ok(fd);
	assert_string_equal(raw_query(fd, "SELECT 32"), "32");
	raw_terminate(fd);

	/* 3.2 without options: NegotiateProtocolVersion with no option. */
	n = build_startup(pkt, sizeof(pkt), 0x00030002, kv, 4);
	fd = raw_connect(trust_proc.port);
	send_all(fd, pkt, n);
	assert_int_equal(read_msg(fd, m, IO_TIMEOUT_MS), 1);
	assert_int_equal(m->type, 'v');
	assert_int_equal(m->len, 8);
	assert_memory_equal(m->body, "\0\0\0\0\0\0\0\0", 8);
	expect_login_ok(fd);
	assert_string_equal(raw_query(fd, "SELECT 'x'"), "x");
	raw_terminate(fd);
	check_serving(&trust_proc);
}

/* ---- encryption requests ---- */

static const uint8_t ssl_request[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
static const uint8_t gssenc_request[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30 };

static void request_refused_then_login(const uint8_t *req)
{
	int fd = raw_connect(trust_proc.port);
	send_all(fd, req, 8);
	uint8_t answer = 0;
	assert_int_equal(recv_exact(fd, &answer, 1, IO_TIMEOUT_MS), 1);
	assert_int_equal(answer, 'N');
	/* Nothing else follows the 'N'. */
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 200), 0);
	/* The client carries on unencrypted. */
	uint8_t pkt[256];
	size_t n = raw_startup(pkt, sizeof(pkt), "app", "app");
	send_all(fd, pkt, n);
	expect_login_ok(fd);
	assert_string_equal(raw_query(fd, "SELECT 2"), "2");
	raw_terminate(fd);
}

static void test_ssl_request_refused(void **state)
{
	request_refused_then_login(ssl_request);
	check_serving(&trust_proc);
}

static void test_gssenc_request_refused(void **state)
{
	request_refused_then_login(gssenc_request);
	/* GSSENC refused, then SSL asked and refused too, then plain. */
	int fd = raw_connect(trust_proc.port);
	uint8_t answer = 0;
	send_all(fd, gssenc_request, 8);
	assert_int_equal(recv_exact(fd, &answer, 1, IO_TIMEOUT_MS), 1);
	assert_int_equal(answer, 'N');
	send_all(fd, ssl_request, 8);
	assert_int_equal(recv_exact(fd, &answer, 1, IO_TIMEOUT_MS), 1);
	assert_int_equal(answer, 'N');
	uint8_t pkt[256];
	size_t n = raw_startup(pkt, sizeof(pkt), "app", "app");
	send_all(fd, pkt, n);
	expect_login_ok(fd);
	raw_terminate(fd);
	check_serving(&trust_proc);
}

static void test_ssl_request_with_trailing_bytes(void **state)
{
	/* Bytes sent along with SSLRequest before the answer could be read
	 * (CVE-2021-23214 class): refused, never answered with 'N'. */
	const uint8_t *reqs[] = { ssl_request, gssenc_request };
	for (int i = 0; i < 2; i++) {
		uint8_t buf[300];
		memcpy(buf, reqs[i], 8);
		size_t n = raw_startup(buf + 8, sizeof(buf) - 8, "app", "app");
		int fd = raw_connect(trust_proc.port);
		send_all(fd, buf, 8 + n);
		uint8_t first = 0;
		int r = recv_exact(fd, &first, 1, IO_TIMEOUT_MS);
		assert_int_equal(r, 1);
		if (first == 'N')
			fail_msg("pgtide answered 'N' to a request followed by injected bytes");
		assert_int_equal(first, 'E');
		/* The rest of the ErrorResponse. */
		uint8_t lenb[4];
		assert_int_equal(recv_exact(fd, lenb, 4, IO_TIMEOUT_MS), 1);
		uint32_t len = get_u32(lenb);
		assert_true(len >= 4 && len < 4096);
		static msg_t mbuf;
		msg_t *m = &mbuf;
		m->type = 'E';
		m->len = len - 4;
		assert_int_equal(recv_exact(fd, m->body, m->len, IO_TIMEOUT_MS), 1);
		assert_string_equal(error_field(m, 'C'), "08P01");
			assert_true(raw_wait_closed(fd, IO_TIMEOUT_MS));
		close(fd);
	}
	check_serving(&trust_proc);
}

/* ---- messages in the wrong place ---- */

static void test_password_message_instead_of_startup(void **state)
{
	static const uint8_t pw[] = { 'p', 0, 0, 0, 9, 'p', 'a', 's', 's', 0 };
	int fd = raw_connect(trust_proc.port);
	send_all(fd, pw, sizeof(pw));
	expect_error_and_close(fd, "08P01", NULL, NULL);
	/* Same on the md5 instance. */
	fd = raw_connect(md5_proc.port);
	send_all(fd, pw, sizeof(pw));
	expect_error_and_close(fd, "08P01", NULL, NULL);
	/* And a query as the very first message. */
	static const uint8_t q[] = { 'Q', 0, 0, 0, 13, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 0 };
	fd = raw_connect(trust_proc.port);
	send_all(fd, q, sizeof(q));
	expect_error_and_close(fd, "08P01", NULL, NULL);
	check_serving(&trust_proc);
	check_serving(&md5_proc);
}

/* Startup on the md5 instance; returns once AuthenticationMD5Password came. */
static int md5_startup(void)
{
	int fd = raw_connect(md5_proc.port);
	uint8_t pkt[256];
	size_t n = raw_startup(pkt, sizeof(pkt), "app", "app");
	send_all(fd, pkt, n);
	static msg_t mbuf;
	msg_t *m = &mbuf;
	assert_int_equal(read_msg(fd, m, IO_TIMEOUT_MS), 1);
	assert_int_equal(m->type, 'R');
	assert_int_equal(m->len, 8);
	assert_int_equal(get_u32(m->body), 5); /* MD5, 4-byte salt */
	return fd;
}

static void test_query_before_auth_completes(void **state)
{
	static const uint8_t q[] = { 'Q', 0, 0, 0, 13, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 0 };
	/* pgtide waits for the password; a query comes instead. */
	int fd = md5_startup();
	send_all(fd, q, sizeof(q));
	expect_error_and_close(fd, "08P01", NULL, NULL);

	/* Sync, or an unknown type instead of the password. */
	static const uint8_t others[][5] = { { 'S', 0, 0, 0, 4 }, { 'z', 0, 0, 0, 4 } };
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		fd = md5_startup();
		send_all(fd, others[i], 5);
		expect_error_and_close(fd, "08P01", NULL, NULL);
	}
	/* Terminate instead of the password: a clean close (an error first is
	 * allowed, but must be a protocol one). */
	fd = md5_startup();
	send_all(fd, "X\0\0\0\x04", 5);
	static msg_t mbuf;
	msg_t *m = &mbuf;
	int r = read_msg(fd, m, IO_TIMEOUT_MS);
	assert_int_not_equal(r, -1);
	if (r == 1) {
		assert_int_equal(m->type, 'E');
		assert_string_equal(error_field(m, 'C'), "08P01");
		assert_true(raw_wait_closed(fd, IO_TIMEOUT_MS));
	}
	close(fd);
	/* A password message with a silly length. */
	fd = md5_startup();
	static const uint8_t huge_pw[] = { 'p', 0x7f, 0xff, 0xff, 0xff, 'x' };
	send_all(fd, huge_pw, sizeof(huge_pw));
	expect_error_and_close(fd, "08P01", NULL, NULL);
	check_serving(&md5_proc);
}

static void test_query_pipelined_before_password_request(void **state)
{
	/* Startup and a query in one write: the query is already buffered when
	 * pgtide asks for the password, and must be refused the same way. */
	uint8_t buf[256];
	size_t n = raw_startup(buf, sizeof(buf), "app", "app");
	static const uint8_t q[] = { 'Q', 0, 0, 0, 13, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 0 };
	memcpy(buf + n, q, sizeof(q));
	int fd = raw_connect(md5_proc.port);
	send_all(fd, buf, n + sizeof(q));
	expect_error_and_close(fd, "08P01", NULL, "R");
	check_serving(&md5_proc);
}

static void test_second_startup_after_login(void **state)
{
	int fd = raw_login_trust();
	uint8_t pkt[256];
	size_t n = raw_startup(pkt, sizeof(pkt), "app", "app");
	send_all(fd, pkt, n);
	expect_error_and_close(fd, "08P01", NULL, NULL);
	check_serving(&trust_proc);
}

static void test_unknown_message_type_after_login(void **state)
{
	static const uint8_t bad[][5] = {
		{ 'z', 0, 0, 0, 4 }, { 0, 0, 0, 0, 4 }, { 0xff, 0, 0, 0, 4 }, { 'p', 0, 0, 0, 4 }, { 'R', 0, 0, 0, 4 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = raw_login_trust();
		send_all(fd, bad[i], 5);
		expect_error_and_close(fd, "08P01", NULL, NULL);
	}
	/* After a successful query too (a server was used and released). */
	int fd = raw_login_trust();
	assert_string_equal(raw_query(fd, "SELECT 3"), "3");
	send_all(fd, bad[0], 5);
	expect_error_and_close(fd, "08P01", NULL, NULL);
	check_serving(&trust_proc);
}

static void test_message_beyond_max_packet_size(void **state)
{
	/* max_packet_size = 100000 here. After a query (a server was used). */
	int fd = raw_login_trust();
	assert_string_equal(raw_query(fd, "SELECT 3"), "3");
	/* Beyond it: error and close, without waiting for the body. */
	uint8_t hdr[5 + 16] = { 'Q' };
	put_u32(hdr + 1, 200000);
	memcpy(hdr + 5, "SELECT 'aaaaaaa", 16);
	send_all(fd, hdr, sizeof(hdr));
	expect_error_and_close(fd, "08P01", NULL, NULL);

	/* Also as the first message after login, before any server is used. */
	fd = raw_login_trust();
	put_u32(hdr + 1, 100001);
	send_all(fd, hdr, sizeof(hdr));
	expect_error_and_close(fd, "08P01", NULL, NULL);
	/* A length below 4 is invalid whatever the limit. */
	fd = raw_login_trust();
	static const uint8_t tiny[5] = { 'Q', 0, 0, 0, 3 };
	send_all(fd, tiny, sizeof(tiny));
	expect_error_and_close(fd, "08P01", NULL, NULL);
	check_serving(&trust_proc);
}

static void test_sync_before_anything(void **state)
{
	int fd = raw_login_trust();
	static const uint8_t sync[5] = { 'S', 0, 0, 0, 4 };
	send_all(fd, sync, sizeof(sync));
	static msg_t mbuf;
	msg_t *m = &mbuf;
	assert_int_equal(read_msg(fd, m, IO_TIMEOUT_MS), 1);
	if (m->type != 'Z')
		fail_msg("expected ReadyForQuery after a lone Sync, got '%c'", m->type);
	assert_int_equal(m->len, 1);
	assert_int_equal(m->body[0], 'I');
	/* Flush with nothing pending, then two Syncs: exactly two Readys. */
	static const uint8_t more[] = { 'H', 0, 0, 0, 4, 'S', 0, 0, 0, 4, 'S', 0, 0, 0, 4 };
	send_all(fd, more, sizeof(more));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(read_msg(fd, m, IO_TIMEOUT_MS), 1);
		assert_int_equal(m->type, 'Z');
		assert_int_equal(m->body[0], 'I');
	}
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 300), 0);
	assert_string_equal(raw_query(fd, "SELECT 11"), "11");
	raw_terminate(fd);
	check_serving(&trust_proc);
}

static void test_copy_data_outside_copy(void **state)
{
	int fd = raw_login_trust();
	/* CopyData, CopyDone and CopyFail with no COPY running, then a query
	 * in the same write: the copy messages are ignored. */
	uint8_t buf[128];
	size_t n = 0;
	memcpy(buf + n, "d\0\0\0\x07" "abc", 8);
	n += 8;
	memcpy(buf + n, "c\0\0\0\x04", 5);
	n += 5;
	memcpy(buf + n, "f\0\0\0\x07" "no\0", 8);
	n += 8;
	memcpy(buf + n, "Q\0\0\0\x0e" "SELECT 77\0", 15);
	n += 15;
	send_all(fd, buf, n);
	static msg_t mbuf;
	msg_t *m = &mbuf;
	const char *order = "TDCZ";
	for (int i = 0; order[i]; i++) {
		assert_int_equal(read_msg(fd, m, IO_TIMEOUT_MS), 1);
		if (m->type == 'E')
			fail_msg("copy message outside COPY caused an error: %s %s", error_field(m, 'C'),
				 error_field(m, 'M'));
		if (m->type != (uint8_t)order[i])
			fail_msg("message %d: '%c', expected '%c'", i, m->type, order[i]);
		if (m->type == 'D')
			assert_memory_equal(m->body + 2, "\0\0\0\x02" "77", 6);
	}
	/* The session goes on normally. */
	assert_string_equal(raw_query(fd, "SELECT 'after'"), "after");
	/* And also after a real transaction. */
	assert_string_equal(raw_query(fd, "BEGIN"), "");
	send_all(fd, "d\0\0\0\x05" "z", 6);
	assert_string_equal(raw_query(fd, "SELECT 1"), "1");
	assert_string_equal(raw_query(fd, "COMMIT"), "");
	raw_terminate(fd);
	check_serving(&trust_proc);
}

/* Messages bigger than pgtide's I/O buffer, relayed in pieces: straight
 * to an idle server, and after waiting for one (the client's buffer fills
 * up while it waits). One worker and one server make the paths
 * deterministic. */
static void test_large_message_relay(void **state)
{
	pgtide_proc_t p;
	pgtide_start(&p,
		     "pool_mode = transaction\n"
		     "auth_type = trust\n"
		     "workers = 1\n"
		     "default_pool_size = 1\n"
		     "max_packet_size = 100000\n",
		     NULL);
	int a = raw_connect(p.port);
	uint8_t pkt[256];
	size_t n = raw_startup(pkt, sizeof(pkt), "app", "app");
	send_all(a, pkt, n);
	expect_login_ok(a);
	/* The login left the pool's one server idle: exactly max_packet_size. */
	check_query_len(a, 100000);
	check_query_len(a, 50000);

	/* a holds the only server in a transaction; b's queries wait for it. */
	int b = raw_connect(p.port);
	send_all(b, pkt, n);
	expect_login_ok(b);
	char got[32];
	const char *why;
	/* A small query waits and completes once a commits. */
	assert_string_equal(raw_query(a, "BEGIN"), "");
	static const uint8_t q[] = { 'Q', 0, 0, 0, 13, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '4', 0 };
	send_all(b, q, sizeof(q));
	usleep(300000);
	assert_string_equal(raw_query(a, "COMMIT"), "");
	why = read_result(b, IO_TIMEOUT_MS, got, sizeof(got));
	if (why[0])
		fail_msg("small query after waiting: %s", why);
	assert_string_equal(got, "4");

	/* A query bigger than pgtide's input buffer, while waiting: the
	 * buffer fills up, and once the server comes everything must flow. */
	assert_string_equal(raw_query(a, "BEGIN"), "");
	size_t k = send_query_len(b, 90000);
	usleep(300000);
	assert_string_equal(raw_query(a, "COMMIT"), "");
	why = read_result(b, 10000, got, sizeof(got));
	char big_why[256];
	snprintf(big_why, sizeof(big_why), "%s", why);
	char want[32];
	snprintf(want, sizeof(want), "%zu", k);
	bool big_ok = !big_why[0] && strcmp(got, want) == 0;
	/* Stop pgtide before failing, so no process is left behind. */
	close(b);
	close(a);
	int rc = pgtide_stop(&p);
	if (!big_ok)
		fail_msg("90000-byte query sent while waiting for a server: %s (got \"%s\"; pgtide exit %d)",
			 big_why[0] ? big_why : "wrong answer", got, rc);
	assert_int_equal(rc, 0);
}

static void test_truncated_message_then_close(void **state)
{
	/* A query announced as 100 bytes, 20 sent, then the client is gone.
	 * Part of it may already be on a server: that server must never be
	 * reused in the middle of a message. */
	for (int round = 0; round < 3; round++) {
		int fd = raw_login_trust();
		if (round == 1)
			assert_string_equal(raw_query(fd, "SELECT 1"), "1");
		uint8_t buf[25] = { 'Q' };
		put_u32(buf + 1, 100);
		memcpy(buf + 5, "SELECT 'xxxxxxxxxxx", 20);
		send_all(fd, buf, sizeof(buf));
		usleep(100000);
		close(fd);
	}
	/* Only a header fragment. */
	int fd = raw_login_trust();
	send_all(fd, "Q\0\0", 3);
	usleep(50000);
	close(fd);
	/* A truncated startup packet. */
	fd = raw_connect(trust_proc.port);
	send_all(fd, "\0\0\0\x30\0\3\0\0us", 10);
	usleep(50000);
	close(fd);
	usleep(200000);
	/* Every server of the pool still speaks in step: many short sessions
	 * and a few at once. */
	for (int i = 0; i < 8; i++) {
		int c = raw_login_trust();
		char sql[32], want[16];
		snprintf(sql, sizeof(sql), "SELECT %d", 1000 + i);
		snprintf(want, sizeof(want), "%d", 1000 + i);
		assert_string_equal(raw_query(c, sql), want);
		raw_terminate(c);
	}
	int many[4];
	for (int i = 0; i < 4; i++) {
		many[i] = raw_login_trust();
		assert_string_equal(raw_query(many[i], "BEGIN"), "");
	}
	for (int i = 0; i < 4; i++) {
		assert_string_equal(raw_query(many[i], "SELECT 'in step'"), "in step");
		assert_string_equal(raw_query(many[i], "COMMIT"), "");
		raw_terminate(many[i]);
	}
	check_serving(&trust_proc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_startup_oversized_length),
		cmocka_unit_test(test_startup_short_length),
		cmocka_unit_test(test_startup_malformed_content),
		cmocka_unit_test(test_startup_byte_by_byte),
		cmocka_unit_test(test_startup_pipelined_with_query),
		cmocka_unit_test(test_startup_incomplete_login_timeout),
		cmocka_unit_test(test_protocol_version_2),
		cmocka_unit_test(test_protocol_3_2_negotiation),
		cmocka_unit_test(test_ssl_request_refused),
		cmocka_unit_test(test_gssenc_request_refused),
		cmocka_unit_test(test_ssl_request_with_trailing_bytes),
		cmocka_unit_test(test_password_message_instead_of_startup),
		cmocka_unit_test(test_query_before_auth_completes),
		cmocka_unit_test(test_query_pipelined_before_password_request),
		cmocka_unit_test(test_second_startup_after_login),
		cmocka_unit_test(test_unknown_message_type_after_login),
		cmocka_unit_test(test_message_beyond_max_packet_size),
		cmocka_unit_test(test_sync_before_anything),
		cmocka_unit_test(test_copy_data_outside_copy),
		cmocka_unit_test(test_large_message_relay),
		cmocka_unit_test(test_truncated_message_then_close),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

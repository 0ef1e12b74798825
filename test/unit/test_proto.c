/*
 * test_proto.c - message framing, startup packet parsing, the body readers
 * and ErrorResponse parsing.
 *
 * Every packet is handed to the parser in a heap buffer of exactly the bytes
 * "received" so far, so ASan catches any read past what the parser was given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

/* A string literal and its length, embedded NULs included. */
#define S(lit) lit, sizeof(lit) - 1

/* ---- helpers ---- */

static uint8_t *dup_exact(const void *data, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	assert_non_null(p);
	if (len)
		memcpy(p, data, len);
	return p;
}

/* Builds a startup packet: length, version, then `body` (already containing
 * the name\0value\0 pairs and, if wanted, the final terminator). */
static size_t build_packet(uint8_t *buf, size_t cap, uint32_t version, const void *body, size_t blen)
{
	assert_true(8 + blen <= cap);
	proto_put_u32(buf, (uint32_t)(8 + blen));
	proto_put_u32(buf + 4, version);
	if (blen)
		memcpy(buf + 8, body, blen);
	return 8 + blen;
}

/* Parses `len` bytes from an exact-size heap copy. The copy is returned in
 * *keep (so the strings in out stay valid); free it when done. */
static startup_kind_t parse_exact(const uint8_t *data, size_t len, startup_t *out, uint8_t **keep)
{
	uint8_t *copy = dup_exact(data, len);
	startup_kind_t k = proto_parse_startup(copy, len, out);
	*keep = copy;
	return k;
}

/* A pointer returned by the parser must lie inside the packet and its
 * string must end inside it too. */
static void assert_in_packet(const char *s, const uint8_t *pkt, size_t len)
{
	assert_non_null(s);
	assert_true((const uint8_t *)s >= pkt + 8);
	assert_true((const uint8_t *)s < pkt + len);
	assert_non_null(memchr(s, 0, (size_t)(pkt + len - (const uint8_t *)s)));
}

/* ---- proto_frame ---- */

static void test_frame_need_more(void **state)
{
	uint8_t msg[5] = { 'Q', 0, 0, 0, 4 };
	for (size_t avail = 0; avail < 5; avail++) {
		uint8_t *copy = dup_exact(msg, avail);
		uint8_t type = 0xEE;
		uint32_t total = 0xEEEEEEEE;
		assert_int_equal(proto_frame(copy, avail, 1000, &type, &total), FRAME_NEED_MORE);
		/* Nothing is reported until the header is complete. */
		assert_int_equal(type, 0xEE);
		assert_int_equal(total, 0xEEEEEEEE);
		free(copy);
	}
}

static void test_frame_ok(void **state)
{
	uint8_t type = 0;
	uint32_t total = 0;
	/* The smallest valid message: length 4, no body. */
	uint8_t *m = dup_exact((const uint8_t[]){ 'S', 0, 0, 0, 4 }, 5);
	assert_int_equal(proto_frame(m, 5, 1000, &type, &total), FRAME_OK);
	assert_int_equal(type, 'S');
	assert_int_equal(total, 5);
	free(m);

	/* A header is enough: the body need not be there yet. */
	m = dup_exact((const uint8_t[]){ 'Q', 0, 0, 0x01, 0x00 }, 5);
	assert_int_equal(proto_frame(m, 5, 1000, &type, &total), FRAME_OK);
	assert_int_equal(type, 'Q');
	assert_int_equal(total, 257);
	free(m);

	/* Exactly max_len is allowed. */
	m = dup_exact((const uint8_t[]){ 'd', 0, 0, 0x03, 0xe8 }, 5);
	assert_int_equal(proto_frame(m, 5, 1000, &type, &total), FRAME_OK);
	assert_int_equal(type, 'd');
	assert_int_equal(total, 1001);
	free(m);

	/* More bytes than the header (the next message) change nothing. */
	uint8_t two[10] = { 'H', 0, 0, 0, 4, 'S', 0, 0, 0, 4 };
	m = dup_exact(two, sizeof(two));
	assert_int_equal(proto_frame(m, sizeof(two), 1000, &type, &total), FRAME_OK);
	assert_int_equal(type, 'H');
	assert_int_equal(total, 5);
	assert_int_equal(proto_frame(m + total, sizeof(two) - total, 1000, &type, &total), FRAME_OK);
	assert_int_equal(type, 'S');
	free(m);

	/* Any type byte is reported as is (the caller judges it). */
	m = dup_exact((const uint8_t[]){ 0, 0, 0, 0, 8 }, 5);
	assert_int_equal(proto_frame(m, 5, 1000, &type, &total), FRAME_OK);
	assert_int_equal(type, 0);
	assert_int_equal(total, 9);
	free(m);
}

static void test_frame_bad_lengths(void **state)
{
	static const struct {
		uint32_t len, max;
	} cases[] = {
		{ 0, 1000 }, { 1, 1000 }, { 2, 1000 }, { 3, 1000 },
		{ 1001, 1000 }, { 0x7fffffff, 1000 }, { 0xffffffff, 1000 },
		/* Even with no configured limit, total = len + 1 must not overflow. */
		{ 0xffffffff, UINT32_MAX }, { 0x80000000, UINT32_MAX }, { 0x7fffffff, UINT32_MAX },
		{ 100000, 99999 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t hdr[5] = { 'Q' };
		proto_put_u32(hdr + 1, cases[i].len);
		uint8_t *m = dup_exact(hdr, 5);
		uint8_t type = 0;
		uint32_t total = 0;
		assert_int_equal(proto_frame(m, 5, cases[i].max, &type, &total), FRAME_BAD_LENGTH);
		free(m);
	}
	/* Just inside the largest accepted length. */
	uint8_t hdr[5] = { 'Q' };
	proto_put_u32(hdr + 1, 0x7ffffffe);
	uint8_t type = 0;
	uint32_t total = 0;
	assert_int_equal(proto_frame(hdr, 5, UINT32_MAX, &type, &total), FRAME_OK);
	assert_int_equal(total, 0x7fffffff);
}

/* ---- startup packets ---- */

static void test_startup_v3(void **state)
{
	uint8_t buf[256], *keep;
	size_t n = build_packet(buf, sizeof(buf), PROTO_V3_0,
				S("user\0alice\0database\0shop\0application_name\0psql\0"
				  "client_encoding\0UTF8\0\0"));
	startup_t st;
	assert_int_equal(parse_exact(buf, n, &st, &keep), STARTUP_OK);
	assert_int_equal(st.kind, STARTUP_OK);
	assert_int_equal(st.length, n);
	assert_int_equal(st.version, PROTO_V3_0);
	assert_string_equal(st.user, "alice");
	assert_string_equal(st.database, "shop");
	assert_in_packet(st.user, keep, n);
	assert_in_packet(st.database, keep, n);
	/* user and database are not in params; the rest keep their order. */
	assert_int_equal(st.nparams, 2);
	assert_string_equal(st.params[0].name, "application_name");
	assert_string_equal(st.params[0].value, "psql");
	assert_string_equal(st.params[1].name, "client_encoding");
	assert_string_equal(st.params[1].value, "UTF8");
	for (int i = 0; i < st.nparams; i++) {
		assert_in_packet(st.params[i].name, keep, n);
		assert_in_packet(st.params[i].value, keep, n);
	}
	assert_int_equal(st.nunsupported, 0);
	assert_null(st.errmsg);
	free(keep);

	/* Order does not matter; values may be empty. */
	n = build_packet(buf, sizeof(buf), PROTO_V3_0, S("options\0\0database\0d\0user\0u\0\0"));
	assert_int_equal(parse_exact(buf, n, &st, &keep), STARTUP_OK);
	assert_string_equal(st.user, "u");
	assert_string_equal(st.database, "d");
	assert_int_equal(st.nparams, 1);
	assert_string_equal(st.params[0].name, "options");
	assert_string_equal(st.params[0].value, "");
	free(keep);

	/* The packet is followed by other bytes: only its own length counts. */
	uint8_t more[300];
	n = build_packet(more, sizeof(more), PROTO_V3_0, S("user\0u\0\0"));
	memcpy(more + n, "Q\0\0\0\x05x", 6);
	assert_int_equal(parse_exact(more, n + 6, &st, &keep), STARTUP_OK);
	assert_int_equal(st.length, n);
	assert_string_equal(st.user, "u");
	free(keep);
}

static void test_startup_database_defaults_to_user(void **state)
{
	uint8_t buf[128], *keep;
	startup_t st;
	size_t n = build_packet(buf, sizeof(buf), PROTO_V3_0, S("user\0bob\0\0"));
	assert_int_equal(parse_exact(buf, n, &st, &keep), STARTUP_OK);
	assert_string_equal(st.user, "bob");
	assert_non_null(st.database);
	assert_string_equal(st.database, "bob");
	free(keep);

	/* An empty database name also means "same as the user". */
	n = build_packet(buf, sizeof(buf), PROTO_V3_0, S("database\0\0user\0carol\0\0"));
	assert_int_equal(parse_exact(buf, n, &st, &keep), STARTUP_OK);
	assert_string_equal(st.database, "carol");
	free(keep);
}

static void test_startup_ssl_gssenc(void **state)
{
	uint8_t buf[32], *keep;
	startup_t st;
	size_t n = build_packet(buf, sizeof(buf), PROTO_SSL_CODE, NULL, 0);
	assert_int_equal(parse_exact(buf, n, &st, &keep), STARTUP_SSL);
	assert_int_equal(st.kind, STARTUP_SSL);
	assert_int_equal(st.length, 8);
	free(keep);

	n = build_packet(buf, sizeof(buf), PROTO_GSSENC_CODE, NULL, 0);
	assert_int_equal(parse_exact(buf, n, &st, &keep), STARTUP_GSSENC);
	assert_int_equal(st.kind, STARTUP_GSSENC);
	assert_int_equal(st.length, 8);
	free(keep);

	/* Bytes after the request are not part of it (the caller must see
	 * them and refuse them: length stays 8). */
	uint8_t twice[16];
	build_packet(twice, sizeof(twice), PROTO_SSL_CODE, NULL, 0);
	build_packet(twice + 8, 8, PROTO_V3_0, NULL, 0);
	assert_int_equal(parse_exact(twice, 16, &st, &keep), STARTUP_SSL);
	assert_int_equal(st.length, 8);
	free(keep);

	/* An encryption request of another length is malformed. */
	uint8_t longer[12] = { 0 };
	proto_put_u32(longer, 12);
	proto_put_u32(longer + 4, PROTO_SSL_CODE);
	assert_int_equal(parse_exact(longer, 12, &st, &keep), STARTUP_BAD);
	assert_non_null(st.errmsg);
	free(keep);
	proto_put_u32(longer + 4, PROTO_GSSENC_CODE);
	assert_int_equal(parse_exact(longer, 12, &st, &keep), STARTUP_BAD);
	free(keep);
}

static void test_startup_cancel(void **state)
{
	uint8_t buf[300], *keep;
	startup_t st;
	size_t n = build_packet(buf, sizeof(buf), PROTO_CANCEL_CODE, S("\x00\x00\x30\x39\xde\xad\xbe\xef"));
	assert_int_equal(n, 16);
	assert_int_equal(parse_exact(buf, n, &st, &keep), STARTUP_CANCEL);
	assert_int_equal(st.kind, STARTUP_CANCEL);
	assert_int_equal(st.length, 16);
	assert_int_equal(st.cancel_pid, 12345);
	assert_int_equal(st.cancel_key_len, 4);
	assert_memory_equal(st.cancel_key, "\xde\xad\xbe\xef", 4);
	free(keep);

	/* 3.2: longer keys, up to 256 bytes. */
	uint8_t body[4 + 256];
	memset(body, 0, 4);
	body[3] = 7;
	for (int i = 0; i < 256; i++)
		body[4 + i] = (uint8_t)(255 - i);
	n = build_packet(buf, sizeof(buf), PROTO_CANCEL_CODE, body, sizeof(body));
	assert_int_equal(parse_exact(buf, n, &st, &keep), STARTUP_CANCEL);
	assert_int_equal(st.cancel_pid, 7);
	assert_int_equal(st.cancel_key_len, 256);
	assert_memory_equal(st.cancel_key, body + 4, 256);
	free(keep);

	/* Too short (no full key) and too long are refused. */
	n = build_packet(buf, sizeof(buf), PROTO_CANCEL_CODE, S("\0\0\0\1\2\3\4"));
	assert_int_equal(parse_exact(buf, n, &st, &keep), STARTUP_BAD);
	assert_non_null(st.errmsg);
	free(keep);
	n = build_packet(buf, sizeof(buf), PROTO_CANCEL_CODE, S("\0\0\0\1"));
	assert_int_equal(parse_exact(buf, n, &st, &keep), STARTUP_BAD);
	free(keep);
	uint8_t big[4 + 257] = { 0 };
	n = build_packet(buf, sizeof(buf), PROTO_CANCEL_CODE, big, sizeof(big));
	assert_int_equal(parse_exact(buf, n, &st, &keep), STARTUP_BAD);
	free(keep);
}

static void test_startup_v3_2_options(void **state)
{
	uint8_t buf[256], *keep;
	startup_t st;
	size_t n = build_packet(buf, sizeof(buf), PROTO_V3_2,
				S("user\0u\0_pq_.compression\0on\0database\0db\0_pq_.foo\0bar\0DateStyle\0ISO\0\0"));
	assert_int_equal(parse_exact(buf, n, &st, &keep), STARTUP_OK);
	assert_int_equal(st.version, PROTO_V3_2);
	assert_string_equal(st.user, "u");
	assert_string_equal(st.database, "db");
	/* Protocol options are recorded as unsupported, not passed on. */
	assert_int_equal(st.nunsupported, 2);
	assert_string_equal(st.unsupported_options[0], "_pq_.compression");
	assert_string_equal(st.unsupported_options[1], "_pq_.foo");
	assert_in_packet(st.unsupported_options[0], keep, n);
	assert_int_equal(st.nparams, 1);
	assert_string_equal(st.params[0].name, "DateStyle");
	free(keep);

	/* More options than the array holds: the rest are dropped, no overflow. */
	char body[1024];
	size_t bl = 0;
	bl += (size_t)snprintf(body + bl, sizeof(body) - bl, "user") + 1;
	bl += (size_t)snprintf(body + bl, sizeof(body) - bl, "u") + 1;
	for (int i = 0; i < 20; i++) {
		bl += (size_t)snprintf(body + bl, sizeof(body) - bl, "_pq_.opt%d", i) + 1;
		bl += (size_t)snprintf(body + bl, sizeof(body) - bl, "v") + 1;
	}
	body[bl++] = 0;
	uint8_t big[1100];
	n = build_packet(big, sizeof(big), PROTO_V3_2, body, bl);
	assert_int_equal(parse_exact(big, n, &st, &keep), STARTUP_OK);
	assert_int_equal(st.nunsupported, (int)ARRAY_SIZE(st.unsupported_options));
	assert_string_equal(st.unsupported_options[0], "_pq_.opt0");
	assert_string_equal(st.unsupported_options[7], "_pq_.opt7");
	assert_int_equal(st.nparams, 0);
	free(keep);

	/* A plain 3.0 packet may carry _pq_ options too. */
	n = build_packet(buf, sizeof(buf), PROTO_V3_0, S("user\0u\0_pq_.x\0y\0\0"));
	assert_int_equal(parse_exact(buf, n, &st, &keep), STARTUP_OK);
	assert_int_equal(st.nunsupported, 1);
	free(keep);
}

static void test_startup_unsupported_versions(void **state)
{
	static const uint32_t versions[] = {
		PROTO_VERSION(2, 0), PROTO_VERSION(1, 0), PROTO_VERSION(4, 0), PROTO_VERSION(0, 0),
		PROTO_VERSION(1234, 5681), PROTO_VERSION(0xffff, 0xffff),
	};
	for (size_t i = 0; i < ARRAY_SIZE(versions); i++) {
		uint8_t buf[64], *keep;
		startup_t st;
		size_t n = build_packet(buf, sizeof(buf), versions[i], S("user\0u\0\0"));
		assert_int_equal(parse_exact(buf, n, &st, &keep), STARTUP_UNSUPPORTED);
		assert_int_equal(st.kind, STARTUP_UNSUPPORTED);
		assert_int_equal(st.version, versions[i]);
		assert_non_null(st.errmsg);
		free(keep);
	}
}

static void expect_bad(const void *body, size_t blen, uint32_t version, const char *errpart)
{
	uint8_t buf[2048], *keep;
	startup_t st;
	size_t n = build_packet(buf, sizeof(buf), version, body, blen);
	startup_kind_t k = parse_exact(buf, n, &st, &keep);
	if (k != STARTUP_BAD)
		fail_msg("expected STARTUP_BAD (%s), got %d", errpart ? errpart : "-", (int)k);
	assert_int_equal(st.kind, STARTUP_BAD);
	assert_non_null(st.errmsg);
	if (errpart && !strstr(st.errmsg, errpart))
		fail_msg("errmsg \"%s\" does not mention \"%s\"", st.errmsg, errpart);
	free(keep);
}

static void test_startup_malformed_layout(void **state)
{
	/* No terminator: the last byte is not a NUL. */
	expect_bad(S("user\0bob"), PROTO_V3_0, "terminator");
	/* The last pair's NUL is the last byte: no separate terminator. */
	expect_bad(S("user\0bob\0"), PROTO_V3_0, "terminator");
	/* A name without a value before the end. */
	expect_bad(S("user\0bob\0abc\0"), PROTO_V3_0, NULL);
	/* No parameters at all (just the 8-byte header). */
	expect_bad(NULL, 0, PROTO_V3_0, "terminator");
	/* Only the terminator: no user. */
	expect_bad(S("\0"), PROTO_V3_0, "user");
	/* Missing user. */
	expect_bad(S("database\0db\0\0"), PROTO_V3_0, "user");
	expect_bad(S("application_name\0x\0\0"), PROTO_V3_0, "user");
	/* Empty user. */
	expect_bad(S("user\0\0database\0db\0\0"), PROTO_V3_0, "user");
	/* An empty parameter name. */
	expect_bad(S("user\0bob\0\0x\0\0"), PROTO_V3_0, "empty parameter name");
	/* Garbage after the terminator (inside the declared length). */
	expect_bad(S("user\0bob\0\0\0\0"), PROTO_V3_0, NULL);
}

static void test_startup_name_lengths(void **state)
{
	char body[512];
	char name63[64], name64[65];
	memset(name63, 'a', 63);
	name63[63] = 0;
	memset(name64, 'b', 64);
	name64[64] = 0;
	uint8_t buf[600], *keep;
	startup_t st;

	/* 63 bytes (NAMEDATALEN - 1) is fine for both. */
	int bl = snprintf(body, sizeof(body), "user%c%s%cdatabase%c%s%c", 0, name63, 0, 0, name63, 0);
	body[bl++] = 0;
	size_t n = build_packet(buf, sizeof(buf), PROTO_V3_0, body, (size_t)bl);
	assert_int_equal(parse_exact(buf, n, &st, &keep), STARTUP_OK);
	assert_int_equal(strlen(st.user), 63);
	assert_int_equal(strlen(st.database), 63);
	free(keep);

	bl = snprintf(body, sizeof(body), "user%c%s%c", 0, name64, 0);
	body[bl++] = 0;
	expect_bad(body, (size_t)bl, PROTO_V3_0, "user");

	bl = snprintf(body, sizeof(body), "user%cu%cdatabase%c%s%c", 0, 0, 0, name64, 0);
	body[bl++] = 0;
	expect_bad(body, (size_t)bl, PROTO_V3_0, "database");

	/* An empty database with a 63-byte user defaults to that user. */
	bl = snprintf(body, sizeof(body), "database%c%cuser%c%s%c", 0, 0, 0, name63, 0);
	body[bl++] = 0;
	n = build_packet(buf, sizeof(buf), PROTO_V3_0, body, (size_t)bl);
	assert_int_equal(parse_exact(buf, n, &st, &keep), STARTUP_OK);
	assert_string_equal(st.database, name63);
	free(keep);
}

static void test_startup_too_many_params(void **state)
{
	char body[4096];
	size_t bl = 0;
	bl += (size_t)snprintf(body + bl, sizeof(body) - bl, "user") + 1;
	bl += (size_t)snprintf(body + bl, sizeof(body) - bl, "u") + 1;
	for (int i = 0; i < PROTO_MAX_STARTUP_PARAMS; i++) {
		bl += (size_t)snprintf(body + bl, sizeof(body) - bl, "p%d", i) + 1;
		bl += (size_t)snprintf(body + bl, sizeof(body) - bl, "%d", i) + 1;
	}
	/* database does not count against the limit. */
	bl += (size_t)snprintf(body + bl, sizeof(body) - bl, "database") + 1;
	bl += (size_t)snprintf(body + bl, sizeof(body) - bl, "d") + 1;
	char full[4096];
	memcpy(full, body, bl);
	full[bl] = 0;

	uint8_t buf[4200], *keep;
	startup_t st;
	size_t n = build_packet(buf, sizeof(buf), PROTO_V3_0, full, bl + 1);
	assert_int_equal(parse_exact(buf, n, &st, &keep), STARTUP_OK);
	assert_int_equal(st.nparams, PROTO_MAX_STARTUP_PARAMS);
	assert_string_equal(st.params[PROTO_MAX_STARTUP_PARAMS - 1].name, "p63");
	assert_string_equal(st.database, "d");
	free(keep);

	/* One more is refused. */
	bl += (size_t)snprintf(body + bl, sizeof(body) - bl, "extra") + 1;
	bl += (size_t)snprintf(body + bl, sizeof(body) - bl, "x") + 1;
	body[bl++] = 0;
	expect_bad(body, bl, PROTO_V3_0, "too many");
}

static void test_startup_lengths(void **state)
{
	startup_t st;
	uint8_t *keep;
	/* Length below 8 or above 10000 is decided on the first 8 bytes, before
	 * the packet is complete, whatever the code. */
	static const uint32_t bad_lengths[] = { 0, 1, 4, 7, 10001, 20000, 0x7fffffff, 0x80000000, 0xffffffff };
	static const uint32_t codes[] = { PROTO_V3_0, PROTO_SSL_CODE, PROTO_CANCEL_CODE, PROTO_VERSION(2, 0) };
	for (size_t i = 0; i < ARRAY_SIZE(bad_lengths); i++) {
		for (size_t j = 0; j < ARRAY_SIZE(codes); j++) {
			uint8_t hdr[8];
			proto_put_u32(hdr, bad_lengths[i]);
			proto_put_u32(hdr + 4, codes[j]);
			assert_int_equal(parse_exact(hdr, 8, &st, &keep), STARTUP_BAD);
			assert_non_null(st.errmsg);
			assert_non_null(strstr(st.errmsg, "length"));
			free(keep);
		}
	}
	/* Fewer than 8 bytes: always need more. */
	for (size_t avail = 0; avail < 8; avail++) {
		uint8_t hdr[8];
		proto_put_u32(hdr, 0x7fffffff);
		proto_put_u32(hdr + 4, PROTO_V3_0);
		assert_int_equal(parse_exact(hdr, avail, &st, &keep), STARTUP_NEED_MORE);
		free(keep);
	}
	/* Exactly 10000 is allowed (and then waits for the bytes). */
	uint8_t *big = calloc(1, 10000);
	assert_non_null(big);
	proto_put_u32(big, 10000);
	proto_put_u32(big + 4, PROTO_V3_0);
	memcpy(big + 8, "user\0u\0x\0", 9);
	/* Pad with one long parameter value up to the terminator. */
	memset(big + 17, 'v', 10000 - 17 - 2);
	big[10000 - 2] = 0;
	big[10000 - 1] = 0;
	assert_int_equal(parse_exact(big, 9999, &st, &keep), STARTUP_NEED_MORE);
	free(keep);
	assert_int_equal(parse_exact(big, 10000, &st, &keep), STARTUP_OK);
	assert_int_equal(st.length, 10000);
	assert_int_equal(st.nparams, 1);
	assert_string_equal(st.params[0].name, "x");
	assert_int_equal(strlen(st.params[0].value), 10000 - 17 - 2);
	free(keep);
	free(big);
}

/* Feeding a packet byte by byte: NEED_MORE until the last byte, then the
 * same result as parsing it whole. */
static void check_split_everywhere(const uint8_t *pkt, size_t n, startup_kind_t want)
{
	startup_t whole, part;
	uint8_t *keep_whole, *keep;
	assert_int_equal(parse_exact(pkt, n, &whole, &keep_whole), want);
	for (size_t avail = 0; avail < n; avail++) {
		startup_kind_t k = parse_exact(pkt, avail, &part, &keep);
		if (k != STARTUP_NEED_MORE)
			fail_msg("prefix of %zu/%zu bytes gave %d instead of NEED_MORE", avail, n, (int)k);
		free(keep);
	}
	/* Complete, and complete with extra bytes behind it. */
	for (size_t extra = 0; extra <= 5; extra += 5) {
		uint8_t *more = malloc(n + extra);
		assert_non_null(more);
		memcpy(more, pkt, n);
		memset(more + n, 'Q', extra);
		assert_int_equal(parse_exact(more, n + extra, &part, &keep), want);
		free(more);
		assert_int_equal(part.kind, whole.kind);
		assert_int_equal(part.length, whole.length);
		assert_int_equal(part.version, whole.version);
		assert_int_equal(part.nparams, whole.nparams);
		assert_int_equal(part.nunsupported, whole.nunsupported);
		if (want == STARTUP_OK) {
			assert_string_equal(part.user, whole.user);
			assert_string_equal(part.database, whole.database);
			for (int i = 0; i < whole.nparams; i++) {
				assert_string_equal(part.params[i].name, whole.params[i].name);
				assert_string_equal(part.params[i].value, whole.params[i].value);
			}
			for (int i = 0; i < whole.nunsupported; i++)
				assert_string_equal(part.unsupported_options[i], whole.unsupported_options[i]);
		}
		if (want == STARTUP_CANCEL) {
			assert_int_equal(part.cancel_pid, whole.cancel_pid);
			assert_int_equal(part.cancel_key_len, whole.cancel_key_len);
			assert_memory_equal(part.cancel_key, whole.cancel_key, whole.cancel_key_len);
		}
		if (want == STARTUP_BAD || want == STARTUP_UNSUPPORTED)
			assert_string_equal(part.errmsg, whole.errmsg);
		free(keep);
	}
	free(keep_whole);
}

static void test_startup_split_every_byte(void **state)
{
	uint8_t buf[512];
	size_t n = build_packet(buf, sizeof(buf), PROTO_V3_0,
				S("user\0alice\0database\0shop\0application_name\0my app\0options\0-c x=1\0\0"));
	check_split_everywhere(buf, n, STARTUP_OK);

	n = build_packet(buf, sizeof(buf), PROTO_V3_2, S("user\0u\0_pq_.a\0b\0\0"));
	check_split_everywhere(buf, n, STARTUP_OK);

	n = build_packet(buf, sizeof(buf), PROTO_CANCEL_CODE, S("\0\0\1\0\1\2\3\4"));
	check_split_everywhere(buf, n, STARTUP_CANCEL);

	/* Malformed content is only judged once the packet is complete. */
	n = build_packet(buf, sizeof(buf), PROTO_V3_0, S("database\0x\0\0"));
	check_split_everywhere(buf, n, STARTUP_BAD);
	n = build_packet(buf, sizeof(buf), PROTO_VERSION(2, 0), S("user\0u\0\0"));
	check_split_everywhere(buf, n, STARTUP_UNSUPPORTED);

	/* The 8-byte requests: NEED_MORE for 0..7 bytes, then decided. */
	n = build_packet(buf, sizeof(buf), PROTO_SSL_CODE, NULL, 0);
	check_split_everywhere(buf, n, STARTUP_SSL);
	n = build_packet(buf, sizeof(buf), PROTO_GSSENC_CODE, NULL, 0);
	check_split_everywhere(buf, n, STARTUP_GSSENC);
}

/* A table of hostile packets: none may crash or read out of bounds (ASan),
 * and every answer must be consistent. */
static void check_sane(const uint8_t *pkt, size_t n)
{
	/* Every prefix too. */
	for (size_t avail = 0; avail <= n; avail++) {
		startup_t st;
		uint8_t *keep;
		startup_kind_t k = parse_exact(pkt, avail, &st, &keep);
		assert_true(k >= STARTUP_NEED_MORE && k <= STARTUP_UNSUPPORTED);
		if (k != STARTUP_NEED_MORE)
			assert_int_equal(st.kind, k);
		switch (k) {
		case STARTUP_BAD:
		case STARTUP_UNSUPPORTED:
			assert_non_null(st.errmsg);
			break;
		case STARTUP_OK:
			assert_true(st.length >= 9 && st.length <= avail && st.length <= PROTO_MAX_STARTUP_LEN);
			assert_in_packet(st.user, keep, st.length);
			assert_in_packet(st.database, keep, st.length);
			assert_true(*st.user != 0);
			assert_true(strlen(st.user) <= PROTO_MAX_NAME_LEN);
			assert_true(strlen(st.database) <= PROTO_MAX_NAME_LEN);
			assert_true(st.nparams >= 0 && st.nparams <= PROTO_MAX_STARTUP_PARAMS);
			for (int i = 0; i < st.nparams; i++) {
				assert_in_packet(st.params[i].name, keep, st.length);
				assert_in_packet(st.params[i].value, keep, st.length);
			}
			assert_true(st.nunsupported >= 0 && st.nunsupported <= 8);
			break;
		case STARTUP_CANCEL:
			assert_true(st.length <= avail);
			assert_true(st.cancel_key_len >= 4 && st.cancel_key_len <= sizeof(st.cancel_key));
			break;
		case STARTUP_SSL:
		case STARTUP_GSSENC:
			assert_int_equal(st.length, 8);
			break;
		case STARTUP_NEED_MORE:
			break;
		}
		free(keep);
	}
}

static void test_startup_malformed_table_no_crash(void **state)
{
	static const struct {
		const char *data;
		size_t len;
	} table[] = {
		{ S("") },
		{ S("\0") },
		{ S("\0\0\0\0") },
		{ S("\0\0\0\0\0\0\0\0") },
		{ S("\0\0\0\x08\0\3\0\0") },
		{ S("\0\0\0\x09\0\3\0\0\0") },
		{ S("\0\0\0\x09\0\3\0\0x") },
		{ S("\0\0\0\x0a\0\3\0\0x\0") },
		{ S("\0\0\0\x0b\0\3\0\0x\0\0") },
		{ S("\0\0\0\x0c\0\3\0\0\0\0\0\0") },
		{ S("\0\0\0\x0d\0\3\0\0user\0") },
		{ S("\0\0\0\x0e\0\3\0\0user\0\0") },
		{ S("\0\0\0\x0f\0\3\0\0user\0u\0") },
		{ S("\0\0\0\x10\0\3\0\0user\0u\0\0") },
		{ S("\0\0\0\x10\0\3\0\0user\0uu\0") },
		{ S("\0\0\0\x11\0\3\0\0user\0u\0x\0") },
		{ S("\0\0\0\x12\0\3\0\0user\0u\0\0\0\0") },
		{ S("\0\0\0\x12\0\3\0\0user\0u\0x\0\0") },
		{ S("\0\0\0\x13\0\3\0\0user\0u\0x\0y\0") },
		{ S("\0\0\0\x14\0\3\0\0user\0u\0x\0y\0\0") },
		{ S("\0\0\0\x14\0\3\0\0\0user\0u\0x\0y\0") },
		{ S("\0\0\0\x15\0\3\0\0user\0user\0user\0\0") },
		{ S("\0\0\0\x0f\0\3\0\0useruser") },
		{ S("\0\0\0\x0c\x04\xd2\x16\x2e\0\0\0\1") },
		{ S("\0\0\0\x0f\x04\xd2\x16\x2e\0\0\0\1\2\3\4") },
		{ S("\0\0\0\x10\x04\xd2\x16\x2e\0\0\0\1\2\3\4\5") },
		{ S("\0\0\0\x08\x04\xd2\x16\x2e") },
		{ S("\0\0\0\x08\x04\xd2\x16\x2f") },
		{ S("\0\0\0\x09\x04\xd2\x16\x2f\0") },
		{ S("\0\0\0\x08\x04\xd2\x16\x30") },
		{ S("\0\0\0\x07\x04\xd2\x16\x30") },
		{ S("\0\0\0\x10\0\2\0\0user\0u\0\0") },
		{ S("\0\0\0\x10\0\3\0\2user\0u\0\0") },
		{ S("\0\0\0\x10\0\3\xff\xffuser\0u\0\0") },
		{ S("\0\0\x27\x11\0\3\0\0user\0u\0\0") },
		{ S("\x7f\xff\xff\xff\0\3\0\0user\0u\0\0") },
		{ S("\xff\xff\xff\xff\0\3\0\0") },
		{ S("p\0\0\0\x09pass\0") },
		{ S("Q\0\0\0\x0dSELECT 1\0") },
		{ S("\0\0\0\x16\0\3\0\0_pq_.\0\0user\0u\0\0") },
		{ S("\0\0\0\x13\0\3\0\0database\0\0\0") },
	};
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		check_sane((const uint8_t *)table[i].data, table[i].len);

	/* Deterministic mutations of a valid packet: flipped bytes, NULs and
	 * lengths that lie. */
	uint8_t base[128];
	size_t n = build_packet(base, sizeof(base), PROTO_V3_0,
				S("user\0alice\0database\0shop\0_pq_.x\0y\0application_name\0a\0\0"));
	uint32_t seed = 12345;
	for (int iter = 0; iter < 1500; iter++) {
		uint8_t m[128];
		memcpy(m, base, n);
		size_t len = n;
		int edits = 1 + iter % 4;
		for (int e = 0; e < edits; e++) {
			seed = seed * 1103515245u + 12345u;
			size_t pos = (seed >> 8) % n;
			seed = seed * 1103515245u + 12345u;
			uint8_t v = (uint8_t)(seed >> 16);
			switch ((seed >> 24) % 4) {
			case 0: m[pos] = v; break;
			case 1: m[pos] = 0; break;
			case 2: len = pos + 1; break; /* truncate */
			default: proto_put_u32(m, (uint32_t)(8 + (v % (n + 8)))); break; /* lying length */
			}
		}
		check_sane(m, len);
	}
}

/* ---- msg_reader ---- */

static void test_reader_exact_ends(void **state)
{
	const uint8_t data[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 'a', 'b', 0, 0 };
	uint8_t *body = dup_exact(data, sizeof(data));
	msg_reader_t r;
	msg_reader_init(&r, body, sizeof(data));
	assert_int_equal(msg_remaining(&r), sizeof(data));
	assert_int_equal(msg_read_u8(&r), 0x01);
	assert_int_equal(msg_read_u16(&r), 0x0203);
	assert_int_equal(msg_read_u32(&r), 0x04050607);
	assert_string_equal(msg_read_cstr(&r), "ab");
	assert_string_equal(msg_read_cstr(&r), "");
	assert_false(r.bad);
	assert_int_equal(msg_remaining(&r), 0);
	/* Zero bytes at the very end are fine. */
	assert_non_null(msg_read_bytes(&r, 0));
	assert_false(r.bad);
	/* Anything more is not. */
	assert_int_equal(msg_read_u8(&r), 0);
	assert_true(r.bad);
	free(body);
}

static void test_reader_short(void **state)
{
	msg_reader_t r;
	/* Empty body. */
	uint8_t *body = dup_exact("", 0);
	msg_reader_init(&r, body, 0);
	assert_int_equal(msg_read_u8(&r), 0);
	assert_true(r.bad);
	msg_reader_init(&r, body, 0);
	assert_int_equal(msg_read_u16(&r), 0);
	assert_true(r.bad);
	msg_reader_init(&r, body, 0);
	assert_int_equal(msg_read_u32(&r), 0);
	assert_true(r.bad);
	msg_reader_init(&r, body, 0);
	assert_null(msg_read_cstr(&r));
	assert_true(r.bad);
	msg_reader_init(&r, body, 0);
	assert_null(msg_read_bytes(&r, 1));
	assert_true(r.bad);
	free(body);

	/* One byte short of each width: nothing consumed past the end. */
	body = dup_exact("\xff\xff\xff", 3);
	msg_reader_init(&r, body, 1);
	assert_int_equal(msg_read_u16(&r), 0);
	assert_true(r.bad);
	msg_reader_init(&r, body, 3);
	assert_int_equal(msg_read_u32(&r), 0);
	assert_true(r.bad);
	msg_reader_init(&r, body, 3);
	assert_null(msg_read_bytes(&r, 4));
	assert_true(r.bad);
	/* A string without its NUL inside the body. */
	msg_reader_init(&r, body, 3);
	assert_null(msg_read_cstr(&r));
	assert_true(r.bad);
	free(body);

	/* A huge n cannot wrap around. */
	body = dup_exact("abcd", 4);
	msg_reader_init(&r, body, 4);
	msg_read_u8(&r);
	assert_null(msg_read_bytes(&r, SIZE_MAX));
	assert_true(r.bad);
	free(body);

	/* bad is sticky: later reads fail even if the bytes are there. */
	body = dup_exact("\x01\x02\x03\x04\x05\0", 6);
	msg_reader_init(&r, body, 6);
	assert_null(msg_read_bytes(&r, 7));
	assert_true(r.bad);
	assert_int_equal(msg_read_u8(&r), 0);
	assert_int_equal(msg_read_u16(&r), 0);
	assert_int_equal(msg_read_u32(&r), 0);
	assert_null(msg_read_cstr(&r));
	assert_null(msg_read_bytes(&r, 0));
	assert_true(r.bad);
	free(body);

	/* Exact read of the rest. */
	body = dup_exact("\x01\x02\x03", 3);
	msg_reader_init(&r, body, 3);
	const uint8_t *p = msg_read_bytes(&r, 3);
	assert_ptr_equal(p, body);
	assert_int_equal(msg_remaining(&r), 0);
	assert_false(r.bad);
	free(body);
}

/* ---- ErrorResponse bodies ---- */

static bool parse_error_exact(const char *body, size_t len, error_fields_t *out, uint8_t **keep)
{
	*keep = dup_exact(body, len);
	return proto_parse_error(*keep, len, out);
}

static void test_parse_error_full(void **state)
{
	error_fields_t f;
	uint8_t *keep;
	assert_true(parse_error_exact(S("SERROR\0VERROR\0C42601\0Msyntax error\0P7\0\0"), &f, &keep));
	assert_string_equal(f.severity, "ERROR");
	assert_string_equal(f.sqlstate, "42601");
	assert_string_equal(f.message, "syntax error");
	free(keep);

	/* V (non-localized) wins over a localized S whatever the order. */
	assert_true(parse_error_exact(S("SFEHLER\0VERROR\0\0"), &f, &keep));
	assert_string_equal(f.severity, "ERROR");
	free(keep);
	assert_true(parse_error_exact(S("VFATAL\0SFATAL-LOCAL\0\0"), &f, &keep));
	assert_string_equal(f.severity, "FATAL");
	free(keep);

	/* Unknown fields are skipped. */
	assert_true(parse_error_exact(S("Dsome detail\0Hhint\0Wwhere\0C57014\0\0"), &f, &keep));
	assert_null(f.severity);
	assert_string_equal(f.sqlstate, "57014");
	assert_null(f.message);
	free(keep);
}

static void test_parse_error_missing_fields(void **state)
{
	error_fields_t f;
	uint8_t *keep;
	/* Only the terminator: valid, every field NULL. */
	assert_true(parse_error_exact(S("\0"), &f, &keep));
	assert_null(f.severity);
	assert_null(f.sqlstate);
	assert_null(f.message);
	free(keep);

	assert_true(parse_error_exact(S("Mjust a message\0\0"), &f, &keep));
	assert_null(f.severity);
	assert_null(f.sqlstate);
	assert_string_equal(f.message, "just a message");
	free(keep);

	/* Empty field values are values. */
	assert_true(parse_error_exact(S("C\0M\0\0"), &f, &keep));
	assert_string_equal(f.sqlstate, "");
	assert_string_equal(f.message, "");
	free(keep);
}

static void test_parse_error_malformed(void **state)
{
	static const struct {
		const char *data;
		size_t len;
	} bad[] = {
		{ S("") },                       /* empty body */
		{ S("SERROR\0") },               /* no terminator */
		{ S("SERROR") },                 /* value without its NUL */
		{ S("S") },                      /* code without a value */
		{ S("SERROR\0C") },              /* second code without a value */
		{ S("SERROR\0C42601") },
		{ S("Mmsg\0CXX000\0Sx") },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		error_fields_t f;
		uint8_t *keep;
		assert_false(parse_error_exact(bad[i].data, bad[i].len, &f, &keep));
		free(keep);
	}
	/* Every prefix of a valid body but the whole is refused (and safe). */
	const char full[] = "SERROR\0VERROR\0C42601\0Msyntax error\0";
	size_t n = sizeof(full); /* includes the terminating NUL */
	for (size_t k = 0; k < n; k++) {
		error_fields_t f;
		uint8_t *keep;
		assert_false(parse_error_exact(full, k, &f, &keep));
		free(keep);
	}
	error_fields_t f;
	uint8_t *keep;
	assert_true(parse_error_exact(full, n, &f, &keep));
	assert_string_equal(f.message, "syntax error");
	free(keep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_need_more),
		cmocka_unit_test(test_frame_ok),
		cmocka_unit_test(test_frame_bad_lengths),
		cmocka_unit_test(test_startup_v3),
		cmocka_unit_test(test_startup_database_defaults_to_user),
		cmocka_unit_test(test_startup_ssl_gssenc),
		cmocka_unit_test(test_startup_cancel),
		cmocka_unit_test(test_startup_v3_2_options),
		cmocka_unit_test(test_startup_unsupported_versions),
		cmocka_unit_test(test_startup_malformed_layout),
		cmocka_unit_test(test_startup_name_lengths),
		cmocka_unit_test(test_startup_too_many_params),
		cmocka_unit_test(test_startup_lengths),
		cmocka_unit_test(test_startup_split_every_byte),
		cmocka_unit_test(test_startup_malformed_table_no_crash),
		cmocka_unit_test(test_reader_exact_ends),
		cmocka_unit_test(test_reader_short),
		cmocka_unit_test(test_parse_error_full),
		cmocka_unit_test(test_parse_error_missing_fields),
		cmocka_unit_test(test_parse_error_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

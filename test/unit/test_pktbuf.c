/*
 * test_pktbuf.c - protocol message builders: exact bytes of every whole
 * message, fixed buffers that overflow (failed set, nothing written past
 * cap) and growable buffers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pktbuf.h"
#include "proto.h"

/* A string literal and its length, embedded NULs included. */
#define S(lit) lit, sizeof(lit) - 1

static void assert_bytes(const pktbuf_t *pb, const void *want, size_t n)
{
	assert_false(pb->failed);
	if (pb->len != n) {
		fprintf(stderr, "got %zu bytes:", pb->len);
		for (size_t i = 0; i < pb->len; i++)
			fprintf(stderr, " %02x", pb->data[i]);
		fprintf(stderr, "\n");
		fail_msg("length %zu, expected %zu", pb->len, n);
	}
	assert_memory_equal(pb->data, want, n);
}

/* The length field of a typed message must match its size. */
static void assert_framed(const uint8_t *msg, size_t n)
{
	uint8_t type;
	uint32_t total;
	assert_int_equal(proto_frame(msg, n, UINT32_MAX, &type, &total), FRAME_OK);
	assert_int_equal(total, n);
}

/* ---- exact bytes ---- */

static void test_error_response(void **state)
{
	uint8_t mem[256];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	pktbuf_error(&pb, "ERROR", "42601", "bad %s at %d", "token", 7);
	static const char want[] = "E\0\0\0\x2a"
				   "SERROR\0"
				   "VERROR\0"
				   "C42601\0"
				   "Mbad token at 7\0"
				   "\0";
	assert_bytes(&pb, want, sizeof(want) - 1);
	assert_framed(pb.data, pb.len);

	/* It parses back. */
	error_fields_t f;
	assert_true(proto_parse_error(pb.data + 5, pb.len - 5, &f));
	assert_string_equal(f.severity, "ERROR");
	assert_string_equal(f.sqlstate, "42601");
	assert_string_equal(f.message, "bad token at 7");

	/* A format directive in an argument is not expanded. */
	pktbuf_reset(&pb);
	pktbuf_error(&pb, "FATAL", "08P01", "%s", "100%s %n");
	assert_true(proto_parse_error(pb.data + 5, pb.len - 5, &f));
	assert_string_equal(f.message, "100%s %n");
	assert_string_equal(f.severity, "FATAL");
}

static void test_notice_response(void **state)
{
	uint8_t mem[128];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	pktbuf_notice(&pb, "01000", "hi");
	static const char want[] = "N\0\0\0\x20"
				   "SNOTICE\0"
				   "VNOTICE\0"
				   "C01000\0"
				   "Mhi\0"
				   "\0";
	assert_bytes(&pb, want, sizeof(want) - 1);
	assert_framed(pb.data, pb.len);
}

static void test_error_long_message(void **state)
{
	/* A message longer than the formatting buffer is cut, still framed. */
	char *big = malloc(5000);
	assert_non_null(big);
	memset(big, 'x', 4999);
	big[4999] = 0;
	pktbuf_t pb;
	pktbuf_init_growable(&pb, 16);
	pktbuf_error(&pb, "ERROR", "XX000", "%s", big);
	assert_false(pb.failed);
	assert_framed(pb.data, pb.len);
	error_fields_t f;
	assert_true(proto_parse_error(pb.data + 5, pb.len - 5, &f));
	assert_true(strlen(f.message) > 0 && strlen(f.message) <= 4999);
	assert_int_equal(strspn(f.message, "x"), strlen(f.message));
	pktbuf_free(&pb);
	free(big);
}

static void test_ready_for_query(void **state)
{
	uint8_t mem[32];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	pktbuf_ready(&pb, 'I');
	pktbuf_ready(&pb, 'T');
	pktbuf_ready(&pb, 'E');
	assert_bytes(&pb, S("Z\0\0\0\x05I" "Z\0\0\0\x05T" "Z\0\0\0\x05" "E"));
}

static void test_parameter_status(void **state)
{
	uint8_t mem[64];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	pktbuf_param_status(&pb, "client_encoding", "UTF8");
	assert_bytes(&pb, S("S\0\0\0\x19" "client_encoding\0UTF8\0"));
	assert_framed(pb.data, pb.len);

	pktbuf_reset(&pb);
	pktbuf_param_status(&pb, "application_name", "");
	assert_bytes(&pb, S("S\0\0\0\x16" "application_name\0\0"));
}

static void test_backend_key(void **state)
{
	uint8_t mem[32];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	pktbuf_backend_key(&pb, 0x01020304, 0xdeadbeef);
	assert_bytes(&pb, S("K\0\0\0\x0c\x01\x02\x03\x04\xde\xad\xbe\xef"));
}

static void test_auth(void **state)
{
	uint8_t mem[64];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	pktbuf_auth(&pb, AUTH_REQ_OK, NULL, 0);
	assert_bytes(&pb, S("R\0\0\0\x08\0\0\0\0"));

	pktbuf_reset(&pb);
	pktbuf_auth(&pb, AUTH_REQ_MD5, "\x11\x22\x33\x44", 4);
	assert_bytes(&pb, S("R\0\0\0\x0c\0\0\0\x05\x11\x22\x33\x44"));

	pktbuf_reset(&pb);
	static const char mech[] = "SCRAM-SHA-256\0";
	pktbuf_auth(&pb, AUTH_REQ_SASL, mech, sizeof(mech));
	assert_bytes(&pb, S("R\0\0\0\x17\0\0\0\x0a" "SCRAM-SHA-256\0\0"));
}

static void test_query_and_command_complete(void **state)
{
	uint8_t mem[64];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	pktbuf_query(&pb, "SELECT 1");
	pktbuf_command_complete(&pb, "SELECT 1");
	assert_bytes(&pb, S("Q\0\0\0\x0dSELECT 1\0" "C\0\0\0\x0dSELECT 1\0"));
}

static void test_row_description(void **state)
{
	uint8_t mem[256];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	const char *cols[] = { "a:i", "bb", "c:l", "d:n", "e:b", "f:t" };
	pktbuf_row_description(&pb, cols, 6);
	static const char want[] =
		"T\0\0\0\x7f" "\0\x06"
		/* name, table oid, column no, type oid, size, typmod, format */
		"a\0" "\0\0\0\0" "\0\0" "\0\0\0\x17" "\0\x04" "\xff\xff\xff\xff" "\0\0"
		"bb\0" "\0\0\0\0" "\0\0" "\0\0\0\x19" "\xff\xff" "\xff\xff\xff\xff" "\0\0"
		"c\0" "\0\0\0\0" "\0\0" "\0\0\0\x14" "\0\x08" "\xff\xff\xff\xff" "\0\0"
		"d\0" "\0\0\0\0" "\0\0" "\0\0\x06\xa4" "\xff\xff" "\xff\xff\xff\xff" "\0\0"
		"e\0" "\0\0\0\0" "\0\0" "\0\0\0\x10" "\0\x01" "\xff\xff\xff\xff" "\0\0"
		"f\0" "\0\0\0\0" "\0\0" "\0\0\0\x19" "\xff\xff" "\xff\xff\xff\xff" "\0\0";
	assert_bytes(&pb, want, sizeof(want) - 1);
	assert_framed(pb.data, pb.len);

	/* No columns. */
	pktbuf_reset(&pb);
	pktbuf_row_description(&pb, NULL, 0);
	assert_bytes(&pb, S("T\0\0\0\x06\0\0"));
}

static void test_data_row(void **state)
{
	uint8_t mem[128];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	const char *vals[] = { "x", NULL, "", "hello" };
	pktbuf_data_row(&pb, vals, 4);
	static const char want[] = "D\0\0\0\x1c" "\0\x04"
				   "\0\0\0\x01x"
				   "\xff\xff\xff\xff"
				   "\0\0\0\0"
				   "\0\0\0\x05hello";
	assert_bytes(&pb, want, sizeof(want) - 1);
	assert_framed(pb.data, pb.len);
}

static void test_negotiate_version(void **state)
{
	uint8_t mem[128];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	const char *opts[] = { "_pq_.a", "_pq_.compression" };
	pktbuf_negotiate_version(&pb, 0, opts, 2);
	static const char want[] = "v\0\0\0\x24" "\0\0\0\0" "\0\0\0\x02"
				   "_pq_.a\0" "_pq_.compression\0";
	assert_bytes(&pb, want, sizeof(want) - 1);
	assert_framed(pb.data, pb.len);

	pktbuf_reset(&pb);
	pktbuf_negotiate_version(&pb, 0, NULL, 0);
	assert_bytes(&pb, S("v\0\0\0\x0c\0\0\0\0\0\0\0\0"));
}

static void test_untyped_and_primitives(void **state)
{
	uint8_t mem[64];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	/* A startup packet: no type byte, the length counts itself. */
	pktbuf_begin(&pb, 0);
	pktbuf_put_u32(&pb, PROTO_V3_0);
	pktbuf_put_cstr(&pb, "user");
	pktbuf_put_cstr(&pb, "u");
	pktbuf_put_u8(&pb, 0);
	pktbuf_end(&pb);
	assert_bytes(&pb, S("\0\0\0\x10\0\x03\0\0user\0u\0\0"));

	pktbuf_reset(&pb);
	assert_int_equal(pb.len, 0);
	pktbuf_put_u16(&pb, 0xabcd);
	pktbuf_put_u32(&pb, 0x01020304);
	pktbuf_put_bytes(&pb, "xy", 2);
	pktbuf_put_bytes(&pb, NULL, 0);
	pktbuf_put_cstr(&pb, "");
	assert_bytes(&pb, S("\xab\xcd\x01\x02\x03\x04xy\0"));

	/* Several messages back to back, each with its own length. */
	pktbuf_reset(&pb);
	pktbuf_param_status(&pb, "a", "b");
	pktbuf_backend_key(&pb, 1, 2);
	pktbuf_ready(&pb, 'I');
	assert_bytes(&pb, S("S\0\0\0\x08" "a\0b\0" "K\0\0\0\x0c\0\0\0\x01\0\0\0\x02" "Z\0\0\0\x05I"));
}

/* ---- fixed buffer overflow ---- */

#define GUARD 32

/* Builds the same messages into a fixed buffer of every capacity from 0 to
 * the full size; too small must fail without touching memory past cap. */
typedef void (*builder_fn)(pktbuf_t *pb);

static void build_error(pktbuf_t *pb)
{
	pktbuf_error(pb, "ERROR", "42601", "syntax error at or near \"%s\"", "FROM");
}

static void build_mix(pktbuf_t *pb)
{
	const char *cols[] = { "name:t", "n:i" };
	const char *vals[] = { "abc", NULL };
	pktbuf_row_description(pb, cols, 2);
	pktbuf_data_row(pb, vals, 2);
	pktbuf_command_complete(pb, "SELECT 1");
	pktbuf_ready(pb, 'I');
}

static void build_negotiate(pktbuf_t *pb)
{
	const char *opts[] = { "_pq_.one", "_pq_.two", "_pq_.three" };
	pktbuf_negotiate_version(pb, 0, opts, 3);
	pktbuf_auth(pb, AUTH_REQ_MD5, "salt", 4);
}

static void check_every_cap(builder_fn build)
{
	/* Reference output. */
	pktbuf_t ref;
	pktbuf_init_growable(&ref, 8);
	build(&ref);
	assert_false(ref.failed);
	size_t need = ref.len;

	for (size_t cap = 0; cap <= need; cap++) {
		/* Exact-size heap block for ASan, plus a guard area checked by hand. */
		uint8_t *mem = malloc(cap + GUARD);
		assert_non_null(mem);
		memset(mem, 0xA5, cap + GUARD);
		pktbuf_t pb;
		pktbuf_init_fixed(&pb, mem, cap);
		build(&pb);
		assert_true(pb.len <= cap);
		for (size_t i = cap; i < cap + GUARD; i++)
			if (mem[i] != 0xA5)
				fail_msg("cap %zu: byte %zu past cap was written", cap, i);
		if (cap < need) {
			assert_true(pb.failed);
		} else {
			assert_false(pb.failed);
			assert_int_equal(pb.len, need);
			assert_memory_equal(mem, ref.data, need);
		}
		free(mem);
	}
	pktbuf_free(&ref);
}

static void test_fixed_overflow_every_cap(void **state)
{
	check_every_cap(build_error);
	check_every_cap(build_mix);
	check_every_cap(build_negotiate);
}

static void test_fixed_overflow_sticky(void **state)
{
	uint8_t mem[8 + GUARD];
	memset(mem, 0xA5, sizeof(mem));
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, 8);
	pktbuf_ready(&pb, 'I'); /* 6 bytes: fits */
	assert_false(pb.failed);
	assert_int_equal(pb.len, 6);
	pktbuf_ready(&pb, 'T'); /* does not fit */
	assert_true(pb.failed);
	/* Once failed, even what would fit is not written. */
	size_t len = pb.len;
	pktbuf_put_u8(&pb, 'x');
	pktbuf_put_bytes(&pb, "y", 1);
	assert_true(pb.failed);
	assert_int_equal(pb.len, len);
	assert_true(pb.len <= 8);
	for (size_t i = 8; i < sizeof(mem); i++)
		assert_int_equal(mem[i], 0xA5);
	/* The first message is intact. */
	assert_memory_equal(mem, "Z\0\0\0\x05I", 6);

	/* A huge write fails at once. */
	pktbuf_reset(&pb);
	assert_false(pb.failed);
	assert_int_equal(pb.len, 0);
	pktbuf_put_bytes(&pb, mem, SIZE_MAX / 2);
	assert_true(pb.failed);
	assert_int_equal(pb.len, 0);

	/* reset makes it usable again. */
	pktbuf_reset(&pb);
	pktbuf_ready(&pb, 'E');
	assert_bytes(&pb, S("Z\0\0\0\x05" "E"));

	/* Zero capacity. */
	pktbuf_init_fixed(&pb, NULL, 0);
	pktbuf_put_bytes(&pb, NULL, 0);
	assert_false(pb.failed);
	pktbuf_ready(&pb, 'I');
	assert_true(pb.failed);
	assert_int_equal(pb.len, 0);
}

/* ---- growable ---- */

static void test_growable(void **state)
{
	pktbuf_t pb;
	pktbuf_init_growable(&pb, 1);
	assert_true(pb.growable);
	/* 100 000 DataRows: the buffer grows, content stays exact. */
	char val[16];
	for (int i = 0; i < 100000; i++) {
		snprintf(val, sizeof(val), "%08d", i);
		const char *v[] = { val };
		pktbuf_data_row(&pb, v, 1);
	}
	assert_false(pb.failed);
	/* D + len(4) + count(2) + vlen(4) + 8 bytes = 19 per row. */
	assert_int_equal(pb.len, (size_t)100000 * 19);
	assert_true(pb.cap >= pb.len);
	for (int i = 0; i < 100000; i += 9973) {
		const uint8_t *m = pb.data + (size_t)i * 19;
		snprintf(val, sizeof(val), "%08d", i);
		assert_int_equal(m[0], 'D');
		assert_int_equal(proto_get_u32(m + 1), 18);
		assert_int_equal(proto_get_u16(m + 5), 1);
		assert_int_equal(proto_get_u32(m + 7), 8);
		assert_memory_equal(m + 11, val, 8);
	}

	/* One write much bigger than the buffer. */
	pktbuf_reset(&pb);
	size_t big = 3 * 1024 * 1024 + 7;
	uint8_t *blob = malloc(big);
	assert_non_null(blob);
	for (size_t i = 0; i < big; i++)
		blob[i] = (uint8_t)(i * 31);
	pktbuf_begin(&pb, 'd');
	pktbuf_put_bytes(&pb, blob, big);
	pktbuf_end(&pb);
	assert_false(pb.failed);
	assert_int_equal(pb.len, big + 5);
	assert_framed(pb.data, pb.len);
	assert_memory_equal(pb.data + 5, blob, big);
	free(blob);
	pktbuf_free(&pb);
	assert_null(pb.data);
	assert_int_equal(pb.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_response),
		cmocka_unit_test(test_notice_response),
		cmocka_unit_test(test_error_long_message),
		cmocka_unit_test(test_ready_for_query),
		cmocka_unit_test(test_parameter_status),
		cmocka_unit_test(test_backend_key),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_query_and_command_complete),
		cmocka_unit_test(test_row_description),
		cmocka_unit_test(test_data_row),
		cmocka_unit_test(test_negotiate_version),
		cmocka_unit_test(test_untyped_and_primitives),
		cmocka_unit_test(test_fixed_overflow_every_cap),
		cmocka_unit_test(test_fixed_overflow_sticky),
		cmocka_unit_test(test_growable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

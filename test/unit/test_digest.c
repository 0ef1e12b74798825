/*
 * test_digest.c - the fetched-once digests against published vectors, and
 * from several threads at once (the first use races to fetch).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "digest.h"

/* The digest d (n bytes) spelled in lowercase hex is want. */
static void assert_hex(const uint8_t *d, size_t n, const char *want)
{
	char got[2 * DIGEST_SHA256_LEN + 1];
	assert_true(n <= DIGEST_SHA256_LEN);
	for (size_t i = 0; i < n; i++)
		sprintf(got + 2 * i, "%02x", d[i]);
	got[2 * n] = '\0';
	assert_string_equal(got, want);
}

/* RFC 1321 appendix A.5; split across the two parts in every way. */
static void test_md5_rfc1321(void **state)
{
	(void)state;
	static const char msg[] = "message digest";
	uint8_t d[DIGEST_MD5_LEN];
	for (size_t cut = 0; cut <= strlen(msg); cut++) {
		assert_true(digest_md5_2(msg, cut, msg + cut, strlen(msg) - cut, d));
		assert_hex(d, sizeof(d), "f96b697d7cb7938d525a2f31aaf161d0");
	}
	assert_true(digest_md5_2("", 0, "", 0, d));
	assert_hex(d, sizeof(d), "d41d8cd98f00b204e9800998ecf8427e");
}

/* FIPS 180-2 appendix B.1 and B.2. */
static void test_sha256_fips180(void **state)
{
	(void)state;
	uint8_t d[DIGEST_SHA256_LEN];
	assert_true(digest_sha256("abc", 3, d));
	assert_hex(d, sizeof(d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	assert_true(digest_sha256(two_blocks, strlen(two_blocks), d));
	assert_hex(d, sizeof(d), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* RFC 4231 test cases 2 (short key) and 6 (key longer than a block). */
static void test_hmac_rfc4231(void **state)
{
	(void)state;
	uint8_t d[DIGEST_SHA256_LEN];
	static const char data2[] = "what do ya want for nothing?";
	assert_true(digest_hmac_sha256((const uint8_t *)"Jefe", 4, data2, strlen(data2), d));
	assert_hex(d, sizeof(d), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	uint8_t key6[131];
	memset(key6, 0xaa, sizeof(key6));
	static const char data6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
	assert_true(digest_hmac_sha256(key6, sizeof(key6), data6, strlen(data6), d));
	assert_hex(d, sizeof(d), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* RFC 7914 section 11, first PBKDF2-HMAC-SHA-256 vector (c = 1). */
static void test_pbkdf2_rfc7914(void **state)
{
	(void)state;
	uint8_t d[DIGEST_SHA256_LEN];
	assert_true(digest_pbkdf2_sha256("passwd", 6, (const uint8_t *)"salt", 4, 1, d));
	assert_hex(d, sizeof(d), "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc");
}

static void *hash_many(void *arg)
{
	uint8_t *out = arg;
	for (int i = 0; i < 200; i++) {
		if (!digest_sha256("abc", 3, out) || !digest_hmac_sha256((const uint8_t *)"k", 1, "m", 1, out + 32))
			memset(out, 0, 64);
	}
	return NULL;
}

/* First use from four threads at once: each must get the right answers. */
static void test_concurrent_first_use(void **state)
{
	(void)state;
	pthread_t t[4];
	uint8_t out[4][64];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hash_many, out[i]), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	uint8_t want[64];
	assert_true(digest_sha256("abc", 3, want));
	assert_true(digest_hmac_sha256((const uint8_t *)"k", 1, "m", 1, want + 32));
	for (int i = 0; i < 4; i++)
		assert_memory_equal(out[i], want, 64);
}

int main(void)
{
	/* The thread test runs first, so that it is the first use. */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_first_use), cmocka_unit_test(test_md5_rfc1321),
		cmocka_unit_test(test_sha256_fips180),       cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_pbkdf2_rfc7914),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

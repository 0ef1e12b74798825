/*
 * digest.c - MD5, SHA-256, HMAC-SHA-256 and PBKDF2 over algorithms fetched once per
 * process (see digest.h for why).
 *
 * The fetched algorithms are process-wide constants: written once under
 * pthread_once, read-only afterwards, released at exit. They are not part of
 * the runtime context because the pure auth and prepared-statement code that
 * hashes has no runtime to hand, and nothing in them ever changes.
 */
#include "digest.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

static struct {
	EVP_MD *md5;          /* NULL where the provider has no MD5 (FIPS) */
	EVP_MD *sha256;
	EVP_MAC_CTX *hmac256; /* HMAC with SHA-256 chosen; duplicated per use */
} fetched;

static pthread_once_t fetched_once = PTHREAD_ONCE_INIT;

/* Runs before OpenSSL's own exit handler, which was registered earlier (the
 * fetches below initialise OpenSSL) and atexit runs handlers in reverse. */
static void release_fetched(void)
{
	EVP_MAC_CTX_free(fetched.hmac256);
	EVP_MD_free(fetched.sha256);
	EVP_MD_free(fetched.md5);
	fetched.hmac256 = NULL;
	fetched.sha256 = fetched.md5 = NULL;
}

static EVP_MAC_CTX *hmac_sha256_template(void)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC_free(mac); /* the context keeps its own reference */
	if (ctx && EVP_MAC_CTX_set_params(ctx, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

static void fetch_all(void)
{
	fetched.md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	fetched.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	fetched.hmac256 = hmac_sha256_template();
	atexit(release_fetched);
}

static void ensure_fetched(void)
{
	pthread_once(&fetched_once, fetch_all);
}

static bool digest_parts(const EVP_MD *md, const void *a, size_t a_len, const void *b, size_t b_len,
			 uint8_t *out, unsigned int want)
{
	EVP_MD_CTX *ctx;
	unsigned int n = 0;
	bool ok;

	if (!md)
		return false;
	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) == 1 && EVP_DigestUpdate(ctx, a, a_len) == 1 &&
	     (b_len == 0 || EVP_DigestUpdate(ctx, b, b_len) == 1) && EVP_DigestFinal_ex(ctx, out, &n) == 1 &&
	     n == want;
	EVP_MD_CTX_free(ctx);
	return ok;
}

bool digest_md5_2(const void *a, size_t a_len, const void *b, size_t b_len, uint8_t out[DIGEST_MD5_LEN])
{
	ensure_fetched();
	return digest_parts(fetched.md5, a, a_len, b, b_len, out, DIGEST_MD5_LEN);
}

bool digest_sha256(const void *data, size_t len, uint8_t out[DIGEST_SHA256_LEN])
{
	ensure_fetched();
	return digest_parts(fetched.sha256, data, len, NULL, 0, out, DIGEST_SHA256_LEN);
}

bool digest_hmac_sha256(const uint8_t *key, size_t key_len, const void *data, size_t len,
			uint8_t out[DIGEST_SHA256_LEN])
{
	EVP_MAC_CTX *ctx;
	size_t n = 0;
	bool ok;

	ensure_fetched();
	if (!fetched.hmac256)
		return false;
	ctx = EVP_MAC_CTX_dup(fetched.hmac256);
	ok = ctx && EVP_MAC_init(ctx, key, key_len, NULL) == 1 && EVP_MAC_update(ctx, data, len) == 1 &&
	     EVP_MAC_final(ctx, out, &n, DIGEST_SHA256_LEN) == 1 && n == DIGEST_SHA256_LEN;
	EVP_MAC_CTX_free(ctx);
	return ok;
}

bool digest_pbkdf2_sha256(const char *password, size_t password_len, const uint8_t *salt, size_t salt_len,
			  int iterations, uint8_t out[DIGEST_SHA256_LEN])
{
	ensure_fetched();
	if (!fetched.sha256 || password_len > INT_MAX || salt_len > INT_MAX)
		return false;
	return PKCS5_PBKDF2_HMAC(password, (int)password_len, salt, (int)salt_len, iterations, fetched.sha256,
				 DIGEST_SHA256_LEN, out) == 1;
}

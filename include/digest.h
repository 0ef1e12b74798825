/*
 * digest.h - MD5, SHA-256, HMAC-SHA-256 and PBKDF2 over algorithms fetched once per
 * process.
 *
 * OpenSSL 3 looks an algorithm up in its provider store on every use of
 * EVP_md5()/EVP_sha256()/HMAC() (a locked hash-table search and reference
 * counting). A login costs two or three digests, so the lookups were most of
 * the user-space work of an md5 login (docs/performance.md, S2). Here the
 * algorithms are fetched on first use and kept until exit.
 *
 * All functions are thread-safe and return false only when OpenSSL fails
 * (out of memory, or a FIPS-only configuration without MD5).
 */
#ifndef PGTIDE_DIGEST_H
#define PGTIDE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIGEST_MD5_LEN 16
#define DIGEST_SHA256_LEN 32

/* out = md5(a || b), streamed so nothing is concatenated. */
bool digest_md5_2(const void *a, size_t a_len, const void *b, size_t b_len, uint8_t out[DIGEST_MD5_LEN]);

bool digest_sha256(const void *data, size_t len, uint8_t out[DIGEST_SHA256_LEN]);

bool digest_hmac_sha256(const uint8_t *key, size_t key_len, const void *data, size_t len,
			uint8_t out[DIGEST_SHA256_LEN]);

/* PBKDF2-HMAC-SHA-256 (SCRAM's SaltedPassword). */
bool digest_pbkdf2_sha256(const char *password, size_t password_len, const uint8_t *salt, size_t salt_len,
			  int iterations, uint8_t out[DIGEST_SHA256_LEN]);

#endif

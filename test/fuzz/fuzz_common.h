/*
 * fuzz_common.h - shared by the fuzz targets in test/fuzz/.
 *
 * Each target defines LLVMFuzzerTestOneInput. Built with clang and
 * -fsanitize=fuzzer it is a libFuzzer binary; built with any compiler and
 * replay_main.c it replays the committed corpus as an ordinary test.
 *
 * A target must be deterministic (no time, no randomness: SCRAM nonces are
 * fixed through the test hooks) and leak-free, and it checks invariants of
 * its own with FUZZ_CHECK, which aborts: libFuzzer reports an abort as a
 * crash with the input that caused it.
 */
#ifndef PGTIDE_FUZZ_COMMON_H
#define PGTIDE_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                    \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__,     \
				__LINE__, #cond);                                           \
			abort();                                                            \
		}                                                                           \
	} while (0)

/* A heap copy of exactly len bytes (no NUL after it), so ASan reports any
 * read past len. malloc(0) may return NULL: one byte is allocated then, and
 * the parser is still told len = 0. */
static inline uint8_t *fuzz_dup_exact(const uint8_t *data, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	if (!p)
		abort();
	if (len)
		memcpy(p, data, len);
	return p;
}

/* A NUL-terminated heap copy, for the parsers that take C strings. Embedded
 * NULs simply end the string early, as they would for the real caller. */
static inline char *fuzz_dup_str(const uint8_t *data, size_t len)
{
	char *p = malloc(len + 1);

	if (!p)
		abort();
	if (len)
		memcpy(p, data, len);
	p[len] = '\0';
	return p;
}

/* Splits [data, data+size) at the first NUL: *a_len bytes before it, the
 * rest after it in *b / *b_len (NULL / 0 when there is no NUL). */
static inline void fuzz_split_nul(const uint8_t *data, size_t size, size_t *a_len,
				  const uint8_t **b, size_t *b_len)
{
	const uint8_t *nul = size ? memchr(data, 0, size) : NULL;

	*a_len = nul ? (size_t)(nul - data) : size;
	*b = nul ? nul + 1 : NULL;
	*b_len = nul ? size - *a_len - 1 : 0;
}

/* FNV-1a, to compare what two runs saw without keeping it all. */
static inline uint64_t fuzz_hash(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FUZZ_HASH_INIT 0xcbf29ce484222325ULL

#endif

/*
 * common.h - small macros and types shared by every pgtide module.
 */
#ifndef PGTIDE_COMMON_H
#define PGTIDE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Microseconds; all durations and timestamps inside pgtide use this unit. */
typedef int64_t usec_t;
#define USEC_PER_SEC ((usec_t)1000000)
#define USEC_PER_MSEC ((usec_t)1000)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define UNUSED __attribute__((unused))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

/* Allocation that cannot fail silently: pgtide aborts on out-of-memory at
 * start-up paths only; hot paths use preallocated caches. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Copies src into dst (capacity cap, always NUL-terminated); returns false
 * when src had to be cut. */
bool strlcpy_ok(char *dst, const char *src, size_t cap);

#endif

/*
 * iobuf.h - fixed-size I/O buffers handed out on demand from a per-worker
 * cache, so an idle client holds no buffer and the hot path never calls
 * malloc (server connections keep theirs: link.h, keeps_buffers). Data
 * lives in data[start, end).
 */
#ifndef PGTIDE_IOBUF_H
#define PGTIDE_IOBUF_H

#include <string.h>

#include "common.h"

#define IOBUF_SIZE (16 * 1024 - 64)
#define IOBUF_CACHE_MAX 512 /* free buffers a worker keeps before giving memory back */

typedef struct iobuf {
	uint32_t start, end;
	struct iobuf *next_free;
	uint8_t data[IOBUF_SIZE];
} iobuf_t;

typedef struct iobuf_cache {
	iobuf_t *free_list;
	int nfree;
	int nused;  /* buffers handed out and not returned: SHOW MEM, leak checks */
} iobuf_cache_t;

iobuf_t *iobuf_get(iobuf_cache_t *cache);
void iobuf_put(iobuf_cache_t *cache, iobuf_t *buf);
void iobuf_cache_destroy(iobuf_cache_t *cache);

static inline size_t iobuf_len(const iobuf_t *b)
{
	return b->end - b->start;
}

static inline size_t iobuf_tail_room(const iobuf_t *b)
{
	return IOBUF_SIZE - b->end;
}

static inline uint8_t *iobuf_head(iobuf_t *b)
{
	return b->data + b->start;
}

/* Drops n bytes from the front; an emptied buffer starts over at 0. */
static inline void iobuf_consume(iobuf_t *b, size_t n)
{
	b->start += (uint32_t)n;
	if (b->start == b->end)
		b->start = b->end = 0;
}

/* Moves the unread bytes to the front so the whole tail is free. */
static inline void iobuf_compact(iobuf_t *b)
{
	if (b->start == 0)
		return;
	size_t n = iobuf_len(b);
	memmove(b->data, b->data + b->start, n);
	b->start = 0;
	b->end = (uint32_t)n;
}

#endif

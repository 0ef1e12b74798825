/*
 * iobuf.c - the per-worker buffer cache. Only the owning worker's thread
 * touches a cache, so there is no lock.
 */
#include "iobuf.h"

#include <stdlib.h>

iobuf_t *iobuf_get(iobuf_cache_t *cache)
{
	iobuf_t *b = cache->free_list;
	if (b) {
		cache->free_list = b->next_free;
		cache->nfree--;
	} else {
		b = xmalloc(sizeof(*b));
	}
	b->start = b->end = 0;
	b->next_free = NULL;
	cache->nused++;
	return b;
}

void iobuf_put(iobuf_cache_t *cache, iobuf_t *buf)
{
	cache->nused--;
	if (cache->nfree >= IOBUF_CACHE_MAX) {
		free(buf);
		return;
	}
	buf->next_free = cache->free_list;
	cache->free_list = buf;
	cache->nfree++;
}

void iobuf_cache_destroy(iobuf_cache_t *cache)
{
	while (cache->free_list) {
		iobuf_t *b = cache->free_list;
		cache->free_list = b->next_free;
		free(b);
	}
	cache->nfree = 0;
}

/*
 * stats.c - counter arithmetic and the log-linear histogram.
 */
#include "stats.h"

#include <string.h>

/* Bucket index: values below HIST_SUB map to themselves; above, the power of
 * two picks the group and the next HIST_SUB_BITS bits the sub-bucket. */
static int bucket_of(uint64_t v)
{
	if (v < HIST_SUB)
		return (int)v;
	int pow = 63 - __builtin_clzll(v);
	if (pow > HIST_MAX_POW)
		return HIST_BUCKETS - 1;
	int sub = (int)((v >> (pow - HIST_SUB_BITS)) & (HIST_SUB - 1));
	return (pow - HIST_SUB_BITS + 1) * HIST_SUB + sub;
}

uint64_t hist_bucket_upper(int i)
{
	if (i < HIST_SUB)
		return (uint64_t)i;
	int group = i / HIST_SUB, sub = i % HIST_SUB;
	int pow = group + HIST_SUB_BITS - 1;
	uint64_t base = (uint64_t)1 << pow;
	uint64_t width = base >> HIST_SUB_BITS;
	return base + width * (uint64_t)(sub + 1) - 1;
}

void hist_add(hist_t *h, uint64_t value)
{
	h->count++;
	h->sum += value;
	if (value > h->max)
		h->max = value;
	h->buckets[bucket_of(value)]++;
}

void hist_merge(hist_t *dst, const hist_t *src)
{
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
	for (int i = 0; i < HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
}

void hist_diff(hist_t *dst, const hist_t *now, const hist_t *before)
{
	dst->count = now->count - before->count;
	dst->sum = now->sum - before->sum;
	dst->max = 0;
	for (int i = 0; i < HIST_BUCKETS; i++) {
		dst->buckets[i] = now->buckets[i] - before->buckets[i];
		if (dst->buckets[i])
			dst->max = MIN(hist_bucket_upper(i), now->max);
	}
}

uint64_t hist_quantile(const hist_t *h, double q)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)h->count + 0.5);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (int i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank)
			return MIN(hist_bucket_upper(i), h->max);
	}
	return h->max;
}

void stats_counters_add(stats_counters_t *dst, const stats_counters_t *src)
{
#define ADD(name) dst->name += src->name;
	STATS_COUNTERS(ADD)
#undef ADD
}

void stats_counters_sub(stats_counters_t *dst, const stats_counters_t *a, const stats_counters_t *b)
{
#define SUB(name) dst->name = a->name - b->name;
	STATS_COUNTERS(SUB)
#undef SUB
}

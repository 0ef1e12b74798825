/*
 * stats.h - counters and histograms.
 *
 * Counters are defined once (STATS_COUNTERS X-macro). Each pool has one slot
 * per worker, written only by that worker's thread without a lock and summed
 * on read (a reader may see a value a few microseconds old, never a torn one:
 * 64-bit aligned stores). Histograms are fixed log-linear buckets: recording
 * a sample is an index computation and an increment, no allocation.
 */
#ifndef PGTIDE_STATS_H
#define PGTIDE_STATS_H

#include "common.h"

#define STATS_COUNTERS(X) \
	X(server_assignment_count) \
	X(xact_count) \
	X(query_count) \
	X(bytes_received) \
	X(bytes_sent) \
	X(xact_time) \
	X(query_time) \
	X(wait_time) \
	X(client_parse_count) \
	X(server_parse_count) \
	X(bind_count) \
	X(ps_hit_count) \
	X(ps_miss_count) \
	X(ps_eviction_count) \
	X(replica_replay_count) \
	X(client_login_count) \
	X(wait_timeout_count) \
	X(wait_abandoned_count) \
	X(wait_canceled_count) \
	X(wait_killed_count) \
	X(wait_failed_count) \
	X(login_failures) \
	X(server_errors)

/* Histogram: 4 linear sub-buckets per power of two, from 1 µs up to 2^40 µs
 * (12 days). Bucket upper bounds are exact, so quantiles are accurate to
 * within 25%. */
#define HIST_SUB_BITS 2
#define HIST_SUB (1 << HIST_SUB_BITS)
#define HIST_MAX_POW 40
#define HIST_BUCKETS ((HIST_MAX_POW + 1) * HIST_SUB)

typedef struct hist {
	uint64_t count;
	uint64_t sum;
	uint64_t max;
	uint64_t buckets[HIST_BUCKETS];
} hist_t;

void hist_add(hist_t *h, uint64_t value);
void hist_merge(hist_t *dst, const hist_t *src);
void hist_diff(hist_t *dst, const hist_t *now, const hist_t *before);
/* q in [0,1]; returns the upper bound of the bucket holding that quantile. */
uint64_t hist_quantile(const hist_t *h, double q);
/* Upper bound (inclusive) of bucket i, for Prometheus "le" labels. */
uint64_t hist_bucket_upper(int i);

typedef struct stats_counters {
#define STATS_FIELD(name) uint64_t name;
	STATS_COUNTERS(STATS_FIELD)
#undef STATS_FIELD
} stats_counters_t;

/* One worker's slot in a pool: padded to a cache line so two workers never
 * write the same line. */
typedef struct stats_slot {
	stats_counters_t c;
	hist_t wait_hist;
	hist_t xact_hist;
} __attribute__((aligned(64))) stats_slot_t;

void stats_counters_add(stats_counters_t *dst, const stats_counters_t *src);
void stats_counters_sub(stats_counters_t *dst, const stats_counters_t *a, const stats_counters_t *b);

#endif

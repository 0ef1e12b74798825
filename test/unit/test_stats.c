/*
 * test_stats.c - the log-linear histogram (buckets, quantiles, merge, diff)
 * and counter arithmetic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stats.h"

/* Histograms are ~1.3 KB: keep them off the cmocka stack. */
static hist_t *hist_new(void)
{
	hist_t *h = calloc(1, sizeof(*h));
	assert_non_null(h);
	return h;
}

/* The bucket a single value lands in (via hist_add only). */
static int bucket_for(uint64_t v)
{
	hist_t h;
	memset(&h, 0, sizeof(h));
	hist_add(&h, v);
	int found = -1;
	for (int i = 0; i < HIST_BUCKETS; i++) {
		if (h.buckets[i]) {
			assert_int_equal(h.buckets[i], 1);
			assert_int_equal(found, -1);
			found = i;
		}
	}
	assert_true(found >= 0);
	assert_int_equal(h.count, 1);
	assert_int_equal(h.sum, v);
	assert_int_equal(h.max, v);
	return found;
}

/* Largest value inside the documented range (up to 2^40 us: every value
 * whose highest bit is at most bit 40). */
#define HIST_RANGE_MAX ((UINT64_C(1) << (HIST_MAX_POW + 1)) - 1)

static void test_bucket_bounds_monotonic(void **state)
{
	for (int i = 1; i < HIST_BUCKETS; i++) {
		if (hist_bucket_upper(i) <= hist_bucket_upper(i - 1))
			fail_msg("bucket %d upper %llu <= bucket %d upper %llu", i,
				 (unsigned long long)hist_bucket_upper(i), i - 1,
				 (unsigned long long)hist_bucket_upper(i - 1));
	}
	assert_int_equal(hist_bucket_upper(0), 0);
	assert_int_equal(hist_bucket_upper(1), 1);
	assert_true(hist_bucket_upper(HIST_BUCKETS - 1) >= HIST_RANGE_MAX);
}

/* Contiguous: bucket i holds exactly the values in (upper(i-1), upper(i)]. */
static void test_bucket_bounds_contiguous(void **state)
{
	int last_used = -1;
	for (int i = 0; i < HIST_BUCKETS; i++) {
		uint64_t lo = i == 0 ? 0 : hist_bucket_upper(i - 1) + 1;
		uint64_t hi = hist_bucket_upper(i);
		if (lo > HIST_RANGE_MAX)
			break;
		int blo = bucket_for(lo), bhi = bucket_for(hi);
		if (blo != i || bhi != i)
			fail_msg("bucket %d [%llu, %llu]: lo lands in %d, hi in %d", i, (unsigned long long)lo,
				 (unsigned long long)hi, blo, bhi);
		/* The next value starts the next bucket. */
		if (hi + 1 <= HIST_RANGE_MAX)
			assert_int_equal(bucket_for(hi + 1), i + 1);
		last_used = i;
	}
	/* The whole documented range is covered without reaching the end. */
	assert_true(last_used > 0);
	assert_true(bucket_for(HIST_RANGE_MAX) < HIST_BUCKETS);
	/* Everything beyond still lands somewhere (the last bucket), sum/max exact. */
	assert_int_equal(bucket_for(UINT64_MAX), HIST_BUCKETS - 1);
	assert_int_equal(bucket_for(UINT64_C(1) << 50), HIST_BUCKETS - 1);

	/* Dense check of small values: each in the bucket whose bounds hold it. */
	for (uint64_t v = 0; v < 20000; v++) {
		int b = bucket_for(v);
		assert_true(hist_bucket_upper(b) >= v);
		assert_true(b == 0 || hist_bucket_upper(b - 1) < v);
	}
}

static void test_quantile_exact_small(void **state)
{
	hist_t *h = hist_new();
	assert_int_equal(hist_quantile(h, 0.5), 0); /* empty */
	assert_int_equal(hist_quantile(h, 1.0), 0);
	/* Values below 2 * HIST_SUB have one bucket each: exact. */
	for (uint64_t v = 0; v < 2 * HIST_SUB; v++)
		assert_int_equal(hist_bucket_upper(bucket_for(v)), v);
	for (uint64_t v = 0; v < 8; v++)
		hist_add(h, v);
	assert_int_equal(h->count, 8);
	assert_int_equal(h->sum, 28);
	assert_int_equal(h->max, 7);
	assert_int_equal(hist_quantile(h, 0.0), 0);
	assert_int_equal(hist_quantile(h, 0.125), 0);
	assert_int_equal(hist_quantile(h, 0.25), 1);
	assert_int_equal(hist_quantile(h, 0.5), 3);
	assert_int_equal(hist_quantile(h, 0.75), 5);
	assert_int_equal(hist_quantile(h, 1.0), 7);
	free(h);

	/* A single sample is reported exactly, whatever its size (clamped to max). */
	static const uint64_t singles[] = { 1, 5, 9, 1000, 123457, 999999999, UINT64_C(1) << 40 };
	for (size_t i = 0; i < sizeof(singles) / sizeof(singles[0]); i++) {
		h = hist_new();
		hist_add(h, singles[i]);
		assert_int_equal(hist_quantile(h, 0.5), singles[i]);
		assert_int_equal(hist_quantile(h, 0.99), singles[i]);
		free(h);
	}
}

/* Larger values: the reported quantile is at or above the true value and
 * within 25% of it. */
static void check_within_25(uint64_t v)
{
	hist_t *h = hist_new();
	/* A bigger sample so that max does not clamp v's bucket bound. */
	hist_add(h, v);
	hist_add(h, v * 8 + 1000);
	uint64_t q = hist_quantile(h, 0.5);
	if (q < v || (double)q > (double)v * 1.25)
		fail_msg("value %llu reported as %llu", (unsigned long long)v, (unsigned long long)q);
	uint64_t up = hist_bucket_upper(bucket_for(v));
	assert_true(up >= v);
	assert_true((double)up <= (double)v * 1.25);
	free(h);
}

static void test_quantile_within_25_percent(void **state)
{
	for (uint64_t v = 1; v < 5000; v++)
		check_within_25(v);
	for (int pow = 2; pow <= HIST_MAX_POW; pow++) {
		uint64_t base = UINT64_C(1) << pow;
		check_within_25(base);
		check_within_25(base - 1);
		check_within_25(base + 1);
		check_within_25(base + base / 4);
		check_within_25(base + base / 4 - 1);
		check_within_25(base + base / 2 + 3);
		check_within_25(base * 2 - 1);
	}
	uint64_t x = 88172645463325252ULL;
	for (int i = 0; i < 2000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		check_within_25(1 + x % (UINT64_C(1) << 40));
	}
}

static void test_quantile_distribution(void **state)
{
	hist_t *h = hist_new();
	/* 1..1000 once each: p50 ~ 500, p90 ~ 900, p99 ~ 990, p100 = 1000. */
	for (uint64_t v = 1; v <= 1000; v++)
		hist_add(h, v);
	static const struct {
		double q;
		uint64_t truth;
	} qs[] = { { 0.5, 500 }, { 0.9, 900 }, { 0.99, 990 }, { 0.01, 10 }, { 1.0, 1000 } };
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		uint64_t got = hist_quantile(h, qs[i].q);
		if (got < qs[i].truth || (double)got > (double)qs[i].truth * 1.25)
			fail_msg("q%.2f: got %llu, truth %llu", qs[i].q, (unsigned long long)got,
				 (unsigned long long)qs[i].truth);
	}
	/* Quantiles never exceed the max, and grow with q. */
	uint64_t prev = 0;
	for (double q = 0.0; q <= 1.0; q += 0.01) {
		uint64_t got = hist_quantile(h, q);
		assert_true(got <= h->max);
		assert_true(got >= prev);
		prev = got;
	}
	assert_int_equal(hist_quantile(h, 1.0), 1000);
	free(h);

	/* Out-of-range samples: reported values stay <= max. */
	h = hist_new();
	hist_add(h, UINT64_C(1) << 45);
	hist_add(h, 3);
	assert_true(hist_quantile(h, 1.0) <= h->max);
	assert_int_equal(hist_quantile(h, 0.5), 3);
	free(h);
}

static void test_merge_diff(void **state)
{
	hist_t *a = hist_new(), *b = hist_new(), *m = hist_new(), *all = hist_new();
	static const uint64_t va[] = { 1, 7, 100, 5000, 5000 };
	static const uint64_t vb[] = { 2, 7, 250000, 33 };
	for (size_t i = 0; i < sizeof(va) / sizeof(va[0]); i++) {
		hist_add(a, va[i]);
		hist_add(all, va[i]);
	}
	for (size_t i = 0; i < sizeof(vb) / sizeof(vb[0]); i++) {
		hist_add(b, vb[i]);
		hist_add(all, vb[i]);
	}
	hist_merge(m, a);
	hist_merge(m, b);
	assert_int_equal(m->count, 9);
	assert_int_equal(m->sum, 1 + 7 + 100 + 5000 + 5000 + 2 + 7 + 250000 + 33);
	assert_int_equal(m->max, 250000);
	assert_memory_equal(m, all, sizeof(*m));
	/* Merging an empty histogram changes nothing. */
	hist_t *empty = hist_new();
	hist_merge(m, empty);
	assert_memory_equal(m, all, sizeof(*m));

	/* diff(now, before) is what was added in between. */
	hist_t *before = hist_new(), *now = hist_new(), *d = hist_new();
	hist_add(before, 1000);
	hist_add(before, 3);
	memcpy(now, before, sizeof(*now));
	hist_add(now, 5);
	hist_add(now, 6);
	hist_diff(d, now, before);
	assert_int_equal(d->count, 2);
	assert_int_equal(d->sum, 11);
	int b5 = bucket_for(5), b6 = bucket_for(6);
	for (int i = 0; i < HIST_BUCKETS; i++)
		assert_int_equal(d->buckets[i], (uint64_t)(i == b5) + (uint64_t)(i == b6));
	/* The period's max comes from its own samples, not the older 1000. */
	assert_int_equal(d->max, 6);
	assert_int_equal(hist_quantile(d, 1.0), 6);

	/* A new maximum in the period is kept exactly. */
	hist_add(now, 777777);
	hist_diff(d, now, before);
	assert_int_equal(d->count, 3);
	assert_int_equal(d->max, 777777);

	/* Nothing new: empty period. */
	hist_diff(d, before, before);
	assert_int_equal(d->count, 0);
	assert_int_equal(d->sum, 0);
	assert_int_equal(d->max, 0);
	assert_int_equal(hist_quantile(d, 0.99), 0);

	free(a);
	free(b);
	free(m);
	free(all);
	free(empty);
	free(before);
	free(now);
	free(d);
}

static void test_counters_add_sub(void **state)
{
	stats_counters_t a, b, sum, diff;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	uint64_t k = 1;
	/* Distinct values in every field, so a field left out shows up. */
#define FILL(name) a.name = k * 1000 + 7; b.name = k; k++;
	STATS_COUNTERS(FILL)
#undef FILL
	sum = a;
	stats_counters_add(&sum, &b);
	k = 1;
#define CHECK_ADD(name) assert_int_equal(sum.name, k * 1000 + 7 + k); k++;
	STATS_COUNTERS(CHECK_ADD)
#undef CHECK_ADD
	memset(&diff, 0xff, sizeof(diff));
	stats_counters_sub(&diff, &sum, &b);
	assert_memory_equal(&diff, &a, sizeof(a));
	stats_counters_sub(&diff, &a, &a);
	k = 0;
#define CHECK_ZERO(name) assert_int_equal(diff.name, 0); k++;
	STATS_COUNTERS(CHECK_ZERO)
#undef CHECK_ZERO
	assert_int_equal(k * sizeof(uint64_t), sizeof(stats_counters_t));
	/* Adding zero is the identity. */
	stats_counters_t zero;
	memset(&zero, 0, sizeof(zero));
	sum = a;
	stats_counters_add(&sum, &zero);
	assert_memory_equal(&sum, &a, sizeof(a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_bounds_monotonic),
		cmocka_unit_test(test_bucket_bounds_contiguous),
		cmocka_unit_test(test_quantile_exact_small),
		cmocka_unit_test(test_quantile_within_25_percent),
		cmocka_unit_test(test_quantile_distribution),
		cmocka_unit_test(test_merge_diff),
		cmocka_unit_test(test_counters_add_sub),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

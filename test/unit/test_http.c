/*
 * test_http.c - the Prometheus exposition writer (http_metrics_write) on
 * hand-made snapshots: label escaping, histogram buckets, one HELP/TYPE per
 * family with its samples together, exact seconds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "http.h"

/* Snapshot pools hold two histograms each (~2.7 KB): keep them on the heap. */
static http_snapshot_t *snap_new(int npools)
{
	http_snapshot_t *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->version = "9.8.7";
	s->clients_connected = 3;
	s->start_wall = 1700000000123456;
	s->npools = npools;
	s->pools = calloc((size_t)(npools ? npools : 1), sizeof(*s->pools));
	assert_non_null(s->pools);
	for (int i = 0; i < npools; i++) {
		s->pools[i].database = strdup(i ? "other" : "app");
		s->pools[i].user = strdup("app");
	}
	return s;
}

static void snap_free(http_snapshot_t *s)
{
	http_snapshot_free(s);
	free(s);
}

/* The exposition as one NUL-terminated string (caller frees). */
static char *render(const http_snapshot_t *s)
{
	struct evbuffer *b = evbuffer_new();
	http_metrics_write(s, b);
	size_t len = evbuffer_get_length(b);
	char *text = malloc(len + 1);
	assert_non_null(text);
	evbuffer_remove(b, text, len);
	text[len] = '\0';
	evbuffer_free(b);
	return text;
}

/* The value of the line starting with exactly `series ` (NULL if none). */
static const char *value_of(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *line = text; *line; line = strchr(line, '\n') + 1) {
		if (strncmp(line, series, n) == 0 && line[n] == ' ')
			return line + n + 1;
		if (!strchr(line, '\n'))
			break;
	}
	return NULL;
}

static void assert_value(const char *text, const char *series, const char *want)
{
	const char *v = value_of(text, series);
	if (!v)
		fail_msg("no sample %s", series);
	size_t n = strcspn(v, "\n");
	if (strlen(want) != n || strncmp(v, want, n) != 0)
		fail_msg("%s = %.*s, want %s", series, (int)n, v, want);
}

static void test_label_escaping(void **state)
{
	http_snapshot_t *s = snap_new(1);
	free(s->pools[0].database);
	free(s->pools[0].user);
	s->pools[0].database = strdup("we\"ird\\db\nx");
	s->pools[0].user = strdup("plain");
	s->pools[0].total.xact_count = 5;
	char *text = render(s);
	assert_value(text, "pgtide_transactions_total{database=\"we\\\"ird\\\\db\\nx\",user=\"plain\"}", "5");
	/* No raw newline inside a label: every line is a comment or a sample. */
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		assert_true(line[0] == '#' || strncmp(line, "pgtide_", 7) == 0);
	free(text);
	snap_free(s);
}

static void test_values_and_units(void **state)
{
	http_snapshot_t *s = snap_new(1);
	http_pool_snap_t *p = &s->pools[0];
	p->total.xact_time = 1500000;
	p->total.query_time = 7;
	p->total.wait_time = 0;
	p->total.bytes_received = 123456789012;
	p->total.wait_abandoned_count = 4;
	p->maxwait_us = 2000000;
	p->utilization = 0.25;
	p->servers_tested = 2;
	char *text = render(s);
	assert_value(text, "pgtide_up", "1");
	assert_value(text, "pgtide_info{version=\"9.8.7\"}", "1");
	assert_value(text, "pgtide_clients_connected", "3");
	assert_value(text, "pgtide_start_time_seconds", "1700000000.123456");
	assert_value(text, "pgtide_transaction_time_seconds_total{database=\"app\",user=\"app\"}", "1.5");
	assert_value(text, "pgtide_query_time_seconds_total{database=\"app\",user=\"app\"}", "0.000007");
	assert_value(text, "pgtide_client_wait_time_seconds_total{database=\"app\",user=\"app\"}", "0");
	assert_value(text, "pgtide_received_bytes_total{database=\"app\",user=\"app\"}", "123456789012");
	assert_value(text, "pgtide_pool_maxwait_seconds{database=\"app\",user=\"app\"}", "2");
	assert_value(text, "pgtide_pool_utilization{database=\"app\",user=\"app\"}", "0.250000");
	assert_value(text, "pgtide_servers_tested{database=\"app\",user=\"app\"}", "2");
	assert_value(text,
		     "pgtide_waits_ended_without_server_total{database=\"app\",user=\"app\",cause=\"client_gone\"}",
		     "4");
	assert_value(text, "pgtide_waits_ended_without_server_total{database=\"app\",user=\"app\",cause=\"timeout\"}",
		     "0");
	free(text);
	snap_free(s);
}

#define WAIT_BUCKET(le) "pgtide_client_wait_seconds_bucket{database=\"app\",user=\"app\",le=\"" le "\"}"

static void test_histogram_buckets(void **state)
{
	http_snapshot_t *s = snap_new(1);
	hist_t *h = &s->pools[0].wait;
	/* Edges: 127 µs is the first bound (inclusive), 128 µs is past it;
	 * 2^35 µs is past the last finite bound, 2^41 µs lands in hist_t's
	 * overflow bucket: both only in +Inf. */
	uint64_t samples[] = { 0, 100, 127, 128, 255, 1000000, (UINT64_C(1) << 35) - 1, UINT64_C(1) << 35,
			       UINT64_C(1) << 41 };
	uint64_t sum = 0;
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		hist_add(h, samples[i]);
		sum += samples[i];
	}
	char *text = render(s);
	assert_value(text, WAIT_BUCKET("0.000127"), "3");
	assert_value(text, WAIT_BUCKET("0.000255"), "5");
	assert_value(text, WAIT_BUCKET("0.524287"), "5");
	assert_value(text, WAIT_BUCKET("1.048575"), "6");
	assert_value(text, WAIT_BUCKET("34359.738367"), "7");
	assert_value(text, WAIT_BUCKET("+Inf"), "9");
	assert_value(text, "pgtide_client_wait_seconds_count{database=\"app\",user=\"app\"}", "9");
	char want_sum[64];
	snprintf(want_sum, sizeof(want_sum), "%llu.%06llu", (unsigned long long)(sum / 1000000),
		 (unsigned long long)(sum % 1000000));
	assert_value(text, "pgtide_client_wait_seconds_sum{database=\"app\",user=\"app\"}", want_sum);

	/* One line per power of two from 2^7 to 2^35 µs plus +Inf, in order,
	 * counts never decreasing. */
	int nb = 0;
	unsigned long long prev = 0;
	double prev_le = -1;
	for (const char *l = strstr(text, "pgtide_client_wait_seconds_bucket{"); l && *l;
	     l = strchr(l, '\n') + 1) {
		if (strncmp(l, "pgtide_client_wait_seconds_bucket{", 34) != 0)
			break;
		const char *le = strstr(l, "le=\"") + 4;
		double lev = strncmp(le, "+Inf", 4) == 0 ? 1e300 : strtod(le, NULL);
		unsigned long long v = strtoull(strchr(l, ' ') + 1, NULL, 10);
		assert_true(lev > prev_le);
		assert_true(v >= prev);
		prev_le = lev;
		prev = v;
		nb++;
	}
	assert_int_equal(nb, HTTP_LE_MAX_POW - HTTP_LE_MIN_POW + 2);
	free(text);
	snap_free(s);
}

/* The family a sample belongs to, given the current TYPE. */
static int sample_matches(const char *name, size_t len, const char *family, const char *type)
{
	size_t fl = strlen(family);
	if (len == fl && strncmp(name, family, fl) == 0)
		return strcmp(type, "histogram") != 0;
	if (strcmp(type, "histogram") != 0 || len <= fl || strncmp(name, family, fl) != 0)
		return 0;
	const char *suffix = name + fl;
	size_t sl = len - fl;
	return (sl == 7 && strncmp(suffix, "_bucket", 7) == 0) || (sl == 4 && strncmp(suffix, "_sum", 4) == 0) ||
	       (sl == 6 && strncmp(suffix, "_count", 6) == 0);
}

/* Every sample follows the HELP and TYPE of its own family, each family's
 * HELP/TYPE appears once: so families are never interleaved. */
static void test_one_header_per_family(void **state)
{
	http_snapshot_t *s = snap_new(2);
	hist_add(&s->pools[1].xact, 5000);
	char *text = render(s);
	char family[128] = "", type[32] = "", help_for[128] = "";
	char seen[64][128];
	int nseen = 0, nsamples = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "# HELP ", 7) == 0) {
			assert_int_equal(sscanf(line + 7, "%127s", help_for), 1);
			for (int i = 0; i < nseen; i++)
				if (strcmp(seen[i], help_for) == 0)
					fail_msg("family %s announced twice", help_for);
			assert_true(nseen < 64);
			strcpy(seen[nseen++], help_for);
		} else if (strncmp(line, "# TYPE ", 7) == 0) {
			assert_int_equal(sscanf(line + 7, "%127s %31s", family, type), 2);
			assert_string_equal(family, help_for);
		} else {
			size_t len = strcspn(line, "{ ");
			if (!sample_matches(line, len, family, type))
				fail_msg("sample \"%s\" outside its family (current %s)", line, family);
			nsamples++;
		}
	}
	/* 4 process-wide families; per pool: 10 gauges, 17 counters, the
	 * waits by cause and 2 histograms. */
	assert_int_equal(nseen, 4 + 10 + 17 + 1 + 2);
	assert_int_equal(nsamples, 4 + 2 * (10 + 17 + 5 + 2 * (HTTP_LE_MAX_POW - HTTP_LE_MIN_POW + 4)));
	free(text);
	snap_free(s);
}

static void test_counters_end_in_total(void **state)
{
	http_snapshot_t *s = snap_new(0);
	char *text = render(s);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char name[128], type[32];
		if (sscanf(line, "# TYPE %127s %31s", name, type) != 2)
			continue;
		size_t n = strlen(name);
		bool total = n > 6 && strcmp(name + n - 6, "_total") == 0;
		if (total != (strcmp(type, "counter") == 0))
			fail_msg("%s is a %s", name, type);
	}
	free(text);
	snap_free(s);
}

/* Read replicas: one series per replica in each replica family. */
static void test_replica_families(void **state)
{
	(void)state;
	http_snapshot_t *s = snap_new(1);
	s->nreplicas = s->replicas_cap = 2;
	s->replicas = calloc(2, sizeof(*s->replicas));
	assert_non_null(s->replicas);
	s->replicas[0] = (http_replica_snap_t){ .database = strdup("app"), .replica = strdup("10.0.0.2:5432"),
						.state = 1 /* REPLICA_UP */, .lag_bytes = 4096, .lag_usec = 1500000,
						.transactions = 42, .check_failures = 0 };
	s->replicas[1] = (http_replica_snap_t){ .database = strdup("app"), .replica = strdup("10.0.0.3:5432"),
						.state = 2 /* REPLICA_DOWN */, .check_failures = 7 };
	char *text = render(s);
	assert_value(text, "pgtide_replica_up{database=\"app\",replica=\"10.0.0.2:5432\"}", "1");
	assert_value(text, "pgtide_replica_up{database=\"app\",replica=\"10.0.0.3:5432\"}", "0");
	assert_value(text, "pgtide_replica_lag_bytes{database=\"app\",replica=\"10.0.0.2:5432\"}", "4096");
	assert_value(text, "pgtide_replica_lag_seconds{database=\"app\",replica=\"10.0.0.2:5432\"}", "1.5");
	assert_value(text, "pgtide_replica_transactions_total{database=\"app\",replica=\"10.0.0.2:5432\"}", "42");
	assert_value(text, "pgtide_replica_check_failures_total{database=\"app\",replica=\"10.0.0.3:5432\"}",
		     "7");
	assert_non_null(strstr(text, "# TYPE pgtide_replica_up gauge\n"));
	free(text);
	snap_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_values_and_units),
		cmocka_unit_test(test_histogram_buckets),
		cmocka_unit_test(test_one_header_per_family),
		cmocka_unit_test(test_counters_end_in_total),
		cmocka_unit_test(test_replica_families),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

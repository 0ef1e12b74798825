/*
 * test_prepared.c - statement keys, the client's name map, the server's
 * statement set (LRU) and the answer queue, including its error skipping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "prepared.h"

static const uint8_t body_a[] = "SELECT 1\0\0";
static const uint8_t body_b[] = "SELECT 2\0\0";

static void test_keys_and_names(void **state)
{
	(void)state;
	ps_key_t a1 = ps_key_of(body_a, sizeof(body_a) - 1);
	ps_key_t a2 = ps_key_of(body_a, sizeof(body_a) - 1);
	ps_key_t b = ps_key_of(body_b, sizeof(body_b) - 1);
	assert_true(a1.a == a2.a && a1.b == a2.b);
	assert_false(a1.a == b.a && a1.b == b.b);
	char name[PS_SERVER_NAME_SIZE];
	ps_server_name(a1, name);
	assert_int_equal(strlen(name), PS_SERVER_NAME_SIZE - 1);
	assert_memory_equal(name, "pgtide_", 7);
}

static void test_client_map(void **state)
{
	(void)state;
	ps_map_t m = { 0 };
	char name[16];
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		ps_map_insert(&m, ps_stmt_new(name, strlen(name), body_a, sizeof(body_a) - 1));
	}
	assert_int_equal(m.count, 100);
	ps_stmt_t *st = ps_map_find(&m, "s42", 3);
	assert_non_null(st);
	assert_string_equal(st->mem, "s42");
	assert_memory_equal(st->body, body_a, sizeof(body_a) - 1);
	assert_null(ps_map_find(&m, "s420", 4));
	/* A statement an answer still points to outlives its removal. */
	st->rq_refs++;
	ps_map_remove(&m, st);
	assert_null(ps_map_find(&m, "s42", 3));
	assert_false(st->in_map);
	ps_stmt_unref(st); /* freed here (ASan checks) */
	assert_int_equal(m.count, 99);
	ps_map_clear(&m);
	assert_int_equal(m.count, 0);
	assert_null(ps_map_find(&m, "s1", 2));
}

static void test_server_set_lru(void **state)
{
	(void)state;
	ps_set_t s;
	ps_set_init(&s);
	ps_key_t k[40];
	for (int i = 0; i < 40; i++) {
		k[i].a = (uint64_t)i * 7919;
		k[i].b = (uint64_t)i;
		ps_set_add(&s, k[i]);
	}
	assert_int_equal(s.count, 40);
	/* Using key 0 makes key 1 the least recently used. */
	assert_non_null(ps_set_use(&s, k[0]));
	ps_key_t victim;
	assert_true(ps_set_evict(&s, &victim));
	assert_true(victim.a == k[1].a && victim.b == k[1].b);
	assert_false(ps_set_has(&s, k[1]));
	assert_true(ps_set_has(&s, k[0]));
	ps_set_remove(&s, k[2]);
	assert_false(ps_set_has(&s, k[2]));
	assert_int_equal(s.count, 38);
	ps_set_clear(&s);
	assert_int_equal(s.count, 0);
	assert_false(ps_set_evict(&s, &victim));
}

static void push(rq_t *q, rq_kind_t kind, ps_stmt_t *st)
{
	rq_entry_t e = { .kind = (uint8_t)kind, .count = 1, .stmt = st };
	rq_event_t ev;
	assert_false(rq_push(q, &e, &ev));
}

/* Parse(ok) Bind Execute Sync: the answers resolve in order, plain runs are
 * counted, ReadyForQuery ends at the Sync. */
static void test_queue_in_order(void **state)
{
	(void)state;
	rq_t q;
	rq_init(&q);
	ps_stmt_t *st = ps_stmt_new("n", 1, body_a, sizeof(body_a) - 1);
	push(&q, RQ_PARSE, st);
	push(&q, RQ_PLAIN, NULL);
	push(&q, RQ_PLAIN, NULL);
	push(&q, RQ_SYNC, NULL);
	assert_int_equal(q.len, 3); /* the two plain ones share an entry */
	assert_true(rq_is_final(&q, '1'));
	rq_event_t ev;
	rq_pop(&q, &ev, true);
	assert_int_equal(ev.kind, RQ_PARSE);
	assert_true(ev.ok);
	assert_ptr_equal(ev.stmt, st);
	ps_stmt_unref(ev.stmt); /* frees st: it was never in a map */
	assert_false(rq_is_final(&q, 'D'));
	assert_true(rq_is_final(&q, '2'));
	rq_pop(&q, &ev, true);
	assert_int_equal(ev.kind, RQ_PLAIN);
	assert_true(rq_is_final(&q, 'C'));
	rq_pop(&q, &ev, true);
	assert_false(rq_is_final(&q, 'C')); /* inside the Sync's answer only Z ends */
	assert_true(rq_is_final(&q, 'Z'));
	rq_pop(&q, &ev, true);
	assert_true(rq_empty(&q));
	rq_free(&q);
}

/* An error skips everything up to the Sync; with no Sync queued yet, later
 * pushes are dropped until one comes. */
static void test_queue_error_skips_to_sync(void **state)
{
	(void)state;
	rq_t q;
	rq_init(&q);
	ps_stmt_t *st = ps_stmt_new("n", 1, body_a, sizeof(body_a) - 1);
	push(&q, RQ_PLAIN, NULL);
	push(&q, RQ_PARSE, st);
	push(&q, RQ_SYNTH_CLOSE, NULL);
	push(&q, RQ_SYNC, NULL);
	push(&q, RQ_PLAIN, NULL);
	rq_event_t ev;
	rq_pop(&q, &ev, false); /* the first plain message failed */
	int skipped = 0;
	while (rq_skip_next(&q, &ev)) {
		assert_false(ev.ok);
		ps_stmt_unref(ev.stmt);
		skipped++;
	}
	assert_int_equal(skipped, 2);
	assert_int_equal(rq_head(&q)->kind, RQ_SYNC);
	rq_pop(&q, &ev, true);
	/* Error with nothing queued behind it: the server skips what comes next. */
	rq_pop(&q, &ev, false);
	assert_false(rq_skip_next(&q, &ev));
	assert_true(q.skipping);
	rq_entry_t e = { .kind = RQ_SYNTH_PARSE, .count = 1 };
	assert_true(rq_push(&q, &e, &ev));
	assert_false(ev.ok);
	e.kind = RQ_SYNC;
	assert_false(rq_push(&q, &e, &ev));
	assert_false(q.skipping);
	assert_int_equal(q.len, 1);
	rq_free(&q);
}

/* The queue grows past its inline ring and wraps around correctly. */
static void test_queue_grows(void **state)
{
	(void)state;
	rq_t q;
	rq_init(&q);
	rq_event_t ev;
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 100; i++) {
			push(&q, RQ_SYNTH_PARSE, NULL);
			push(&q, RQ_SYNC, NULL);
		}
		for (int i = 0; i < 100; i++) {
			assert_int_equal(rq_head(&q)->kind, RQ_SYNTH_PARSE);
			rq_pop(&q, &ev, true);
			assert_int_equal(rq_head(&q)->kind, RQ_SYNC);
			rq_pop(&q, &ev, true);
		}
		assert_true(rq_empty(&q));
	}
	rq_free(&q);
}

/* COPY FROM STDIN: Syncs sent after the command get no answer of their own. */
static void test_queue_copy_in(void **state)
{
	(void)state;
	rq_t q;
	rq_init(&q);
	push(&q, RQ_PLAIN, NULL); /* Execute of COPY */
	push(&q, RQ_SYNC, NULL);
	push(&q, RQ_SYNTH_CLOSE, NULL);
	push(&q, RQ_SYNC, NULL);
	rq_copy_in_started(&q);
	assert_int_equal(q.len, 2);
	rq_event_t ev;
	rq_pop(&q, &ev, true);
	assert_int_equal(rq_head(&q)->kind, RQ_SYNTH_CLOSE);
	rq_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_and_names),
		cmocka_unit_test(test_client_map),
		cmocka_unit_test(test_server_set_lru),
		cmocka_unit_test(test_queue_in_order),
		cmocka_unit_test(test_queue_error_skips_to_sync),
		cmocka_unit_test(test_queue_grows),
		cmocka_unit_test(test_queue_copy_in),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

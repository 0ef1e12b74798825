/*
 * prepared.c - statement keys, the client's name map, the server's statement
 * set with LRU eviction, and the queue of answers a server owes.
 */
#include "prepared.h"
#include "digest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- keys ---- */

ps_key_t ps_key_of(const void *parse_body, size_t len)
{
	uint8_t md[DIGEST_SHA256_LEN];
	ps_key_t k = { 0, 0 };
	/* SHA-256, not a fast hash: a client must not be able to make its SQL
	 * collide with another client's statement of the same pool. */
	if (!digest_sha256(parse_body, len, md))
		abort(); /* only on allocation failure inside OpenSSL */
	memcpy(&k.a, md, 8);
	memcpy(&k.b, md + 8, 8);
	return k;
}

void ps_server_name(ps_key_t key, char out[PS_SERVER_NAME_SIZE])
{
	snprintf(out, PS_SERVER_NAME_SIZE, "pgtide_%016llx%016llx", (unsigned long long)key.a,
		 (unsigned long long)key.b);
}

static bool key_eq(ps_key_t x, ps_key_t y)
{
	return x.a == y.a && x.b == y.b;
}

/* ---- the client's map ---- */

static uint32_t name_hash(const char *name, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)name[i]) * 16777619u;
	return h;
}

ps_stmt_t *ps_stmt_new(const char *name, size_t name_len, const void *body, size_t body_len)
{
	ps_stmt_t *st = xcalloc(1, sizeof(*st) + name_len + 1 + body_len);
	memcpy(st->mem, name, name_len);
	st->mem[name_len] = '\0';
	st->name_len = (uint32_t)name_len;
	st->body = (uint8_t *)st->mem + name_len + 1;
	memcpy(st->body, body, body_len);
	st->body_len = (uint32_t)body_len;
	st->key = ps_key_of(body, body_len);
	return st;
}

static void stmt_maybe_free(ps_stmt_t *st)
{
	if (!st->in_map && st->rq_refs == 0)
		free(st);
}

void ps_stmt_unref(ps_stmt_t *st)
{
	if (!st)
		return;
	st->rq_refs--;
	stmt_maybe_free(st);
}

ps_stmt_t *ps_map_find(const ps_map_t *m, const char *name, size_t name_len)
{
	if (!m->nslots)
		return NULL;
	ps_stmt_t *st = m->slots[name_hash(name, name_len) & (m->nslots - 1)];
	for (; st; st = st->next)
		if (st->name_len == name_len && memcmp(st->mem, name, name_len) == 0)
			return st;
	return NULL;
}

static void map_grow(ps_map_t *m)
{
	uint32_t n = m->nslots ? m->nslots * 2 : 8;
	ps_stmt_t **slots = xcalloc(n, sizeof(*slots));
	for (uint32_t i = 0; i < m->nslots; i++) {
		ps_stmt_t *st = m->slots[i];
		while (st) {
			ps_stmt_t *next = st->next;
			uint32_t j = name_hash(st->mem, st->name_len) & (n - 1);
			st->next = slots[j];
			slots[j] = st;
			st = next;
		}
	}
	free(m->slots);
	m->slots = slots;
	m->nslots = n;
}

void ps_map_insert(ps_map_t *m, ps_stmt_t *st)
{
	if (m->count >= m->nslots)
		map_grow(m);
	uint32_t j = name_hash(st->mem, st->name_len) & (m->nslots - 1);
	st->next = m->slots[j];
	m->slots[j] = st;
	st->in_map = true;
	m->count++;
}

void ps_map_remove(ps_map_t *m, ps_stmt_t *st)
{
	if (!st->in_map)
		return;
	ps_stmt_t **pp = &m->slots[name_hash(st->mem, st->name_len) & (m->nslots - 1)];
	while (*pp && *pp != st)
		pp = &(*pp)->next;
	if (*pp)
		*pp = st->next;
	st->next = NULL;
	st->in_map = false;
	m->count--;
	stmt_maybe_free(st);
}

void ps_map_clear(ps_map_t *m)
{
	for (uint32_t i = 0; i < m->nslots; i++) {
		ps_stmt_t *st = m->slots[i];
		while (st) {
			ps_stmt_t *next = st->next;
			st->next = NULL;
			st->in_map = false;
			stmt_maybe_free(st);
			st = next;
		}
	}
	free(m->slots);
	m->slots = NULL;
	m->nslots = m->count = 0;
}

/* ---- the server's set ---- */

void ps_set_init(ps_set_t *s)
{
	memset(s, 0, sizeof(*s));
	list_init(&s->lru);
}

static ps_entry_t **set_slot(const ps_set_t *s, ps_key_t key)
{
	return &s->slots[(uint32_t)key.a & (s->nslots - 1)];
}

static ps_entry_t **set_find(const ps_set_t *s, ps_key_t key)
{
	if (!s->nslots)
		return NULL;
	ps_entry_t **pp = set_slot(s, key);
	while (*pp && !key_eq((*pp)->key, key))
		pp = &(*pp)->next;
	return *pp ? pp : NULL;
}

bool ps_set_has(const ps_set_t *s, ps_key_t key)
{
	return set_find(s, key) != NULL;
}

ps_entry_t *ps_set_use(ps_set_t *s, ps_key_t key)
{
	ps_entry_t **pp = set_find(s, key);
	if (!pp)
		return NULL;
	ps_entry_t *e = *pp;
	list_del(&e->lru);
	list_push_front(&s->lru, &e->lru);
	return e;
}

static void set_grow(ps_set_t *s)
{
	uint32_t n = s->nslots ? s->nslots * 2 : 16;
	ps_entry_t **old = s->slots;
	uint32_t oldn = s->nslots;
	s->slots = xcalloc(n, sizeof(*s->slots));
	s->nslots = n;
	for (uint32_t i = 0; i < oldn; i++) {
		ps_entry_t *e = old[i];
		while (e) {
			ps_entry_t *next = e->next;
			ps_entry_t **slot = set_slot(s, e->key);
			e->next = *slot;
			*slot = e;
			e = next;
		}
	}
	free(old);
}

void ps_set_add(ps_set_t *s, ps_key_t key)
{
	if (ps_set_use(s, key))
		return;
	if (s->count >= s->nslots)
		set_grow(s);
	ps_entry_t *e = xcalloc(1, sizeof(*e));
	e->key = key;
	ps_entry_t **slot = set_slot(s, key);
	e->next = *slot;
	*slot = e;
	list_push_front(&s->lru, &e->lru);
	s->count++;
}

static void set_unlink(ps_set_t *s, ps_entry_t **pp)
{
	ps_entry_t *e = *pp;
	*pp = e->next;
	list_del(&e->lru);
	s->count--;
	free(e);
}

void ps_set_remove(ps_set_t *s, ps_key_t key)
{
	ps_entry_t **pp = set_find(s, key);
	if (pp)
		set_unlink(s, pp);
}

bool ps_set_evict(ps_set_t *s, ps_key_t *victim)
{
	if (list_empty(&s->lru))
		return false;
	ps_entry_t *e = container_of(s->lru.prev, ps_entry_t, lru);
	*victim = e->key;
	set_unlink(s, set_find(s, e->key));
	return true;
}

void ps_set_clear(ps_set_t *s)
{
	for (uint32_t i = 0; i < s->nslots; i++) {
		ps_entry_t *e = s->slots[i];
		while (e) {
			ps_entry_t *next = e->next;
			free(e);
			e = next;
		}
	}
	free(s->slots);
	ps_set_init(s);
}

/* ---- the answer queue ---- */

void rq_init(rq_t *q)
{
	memset(q, 0, sizeof(*q));
	q->ring = q->inline_ring;
	q->cap = RQ_INLINE;
}

static rq_entry_t *rq_at(const rq_t *q, uint32_t i)
{
	return &q->ring[(q->head + i) & (q->cap - 1)];
}

static void rq_release_entry(rq_entry_t *e)
{
	ps_stmt_unref(e->stmt);
	e->stmt = NULL;
}

void rq_clear(rq_t *q)
{
	for (uint32_t i = 0; i < q->len; i++)
		rq_release_entry(rq_at(q, i));
	q->head = q->len = 0;
	q->skipping = false;
}

void rq_free(rq_t *q)
{
	rq_clear(q);
	if (q->ring != q->inline_ring)
		free(q->ring);
	rq_init(q);
}

bool rq_empty(const rq_t *q)
{
	return q->len == 0;
}

const rq_entry_t *rq_head(const rq_t *q)
{
	return q->len ? rq_at(q, 0) : NULL;
}

static void rq_grow(rq_t *q)
{
	uint32_t n = q->cap * 2;
	rq_entry_t *ring = xcalloc(n, sizeof(*ring));
	for (uint32_t i = 0; i < q->len; i++)
		ring[i] = *rq_at(q, i);
	if (q->ring != q->inline_ring)
		free(q->ring);
	q->ring = ring;
	q->cap = n;
	q->head = 0;
}

static void event_of(const rq_entry_t *e, rq_event_t *ev, bool ok)
{
	ev->kind = (rq_kind_t)e->kind;
	ev->ok = ok;
	ev->key = e->key;
	ev->stmt = e->stmt;
}

bool rq_push(rq_t *q, const rq_entry_t *e, rq_event_t *dropped)
{
	if (e->stmt)
		e->stmt->rq_refs++;
	if (e->kind == RQ_SYNC) {
		q->skipping = false;
	} else if (q->skipping) {
		event_of(e, dropped, false);
		return true;
	}
	if (e->kind == RQ_PLAIN && q->len) {
		rq_entry_t *tail = rq_at(q, q->len - 1);
		if (tail->kind == RQ_PLAIN) {
			tail->count += e->count;
			return false;
		}
	}
	if (q->len == q->cap)
		rq_grow(q);
	*rq_at(q, q->len) = *e;
	q->len++;
	return false;
}

void rq_pop(rq_t *q, rq_event_t *ev, bool ok)
{
	rq_entry_t *h = rq_at(q, 0);
	event_of(h, ev, ok);
	if (h->kind == RQ_PLAIN && ok && h->count > 1) {
		h->count--;
		return;
	}
	/* The reference moves to the event; the caller releases it. */
	h->stmt = NULL;
	q->head = (q->head + 1) & (q->cap - 1);
	q->len--;
}

bool rq_skip_next(rq_t *q, rq_event_t *ev)
{
	if (q->len == 0) {
		q->skipping = true;
		return false;
	}
	if (rq_at(q, 0)->kind == RQ_SYNC || rq_at(q, 0)->kind == RQ_SYNC_HIDDEN)
		return false;
	rq_pop(q, ev, false);
	return true;
}

void rq_copy_in_started(rq_t *q)
{
	uint32_t kept = q->len ? 1 : 0;
	for (uint32_t i = 1; i < q->len; i++) {
		rq_entry_t *e = rq_at(q, i);
		if (e->kind == RQ_SYNC)
			continue;
		*rq_at(q, kept++) = *e;
	}
	q->len = kept;
}

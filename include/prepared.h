/*
 * prepared.h - named prepared statements in transaction mode: what each
 * client has prepared, what each server connection has prepared, and the
 * queue of answers a server connection still owes.
 *
 * A client's statement is identified by the SHA-256 of its Parse body (query
 * text and parameter types), truncated to 128 bits. Server connections
 * prepare it under a name derived from that key ("pgtide_<32 hex>"), so two
 * clients that prepare the same SQL share one server-side statement and two
 * clients that give different SQL the same name never meet.
 *
 * The answer queue (rq_t) lets pgtide answer some messages itself
 * (ParseComplete for a statement the server already has, CloseComplete for a
 * Close), hide the answers to messages it added (a Parse sent before a Bind
 * on a server that lacks the statement, a Close that evicts one) and learn
 * whether a Parse succeeded, all in the order the client sent its messages.
 * Every forwarded message that gets an answer has a place in the queue: runs
 * of plain ones are one entry with a count. After an ErrorResponse the
 * server skips everything up to the next Sync, and so does the queue.
 *
 * No I/O here: the relay (client.c / server.c) acts on what these functions
 * return.
 */
#ifndef PGTIDE_PREPARED_H
#define PGTIDE_PREPARED_H

#include "common.h"
#include "list.h"

typedef struct ps_key {
	uint64_t a, b;
} ps_key_t;

/* "pgtide_" + 32 hex digits + NUL */
#define PS_SERVER_NAME_SIZE 40

ps_key_t ps_key_of(const void *parse_body, size_t len);
void ps_server_name(ps_key_t key, char out[PS_SERVER_NAME_SIZE]);

/* ---- one client's statements ---- */

typedef struct ps_stmt {
	struct ps_stmt *next;   /* hash chain */
	ps_key_t key;
	uint32_t body_len;      /* Parse body after the name: query\0 int16 n int32[n] */
	uint32_t name_len;
	uint16_t rq_refs;       /* answer-queue entries that point here */
	bool in_map;            /* still known to the client under its name */
	bool confirmed;         /* the server (or pgtide) answered ParseComplete */
	uint8_t route_class;    /* routing.h route_stmt_t of its text, classified once */
	uint8_t *body;          /* points into mem, after the name */
	char mem[];             /* name\0 body */
} ps_stmt_t;

typedef struct ps_map {
	ps_stmt_t **slots;
	uint32_t nslots, count;
} ps_map_t;

/* A new statement (not yet in a map). */
ps_stmt_t *ps_stmt_new(const char *name, size_t name_len, const void *body, size_t body_len);
/* Drops a reference held by an answer-queue entry. */
void ps_stmt_unref(ps_stmt_t *st);

ps_stmt_t *ps_map_find(const ps_map_t *m, const char *name, size_t name_len);
void ps_map_insert(ps_map_t *m, ps_stmt_t *st);
/* Forgets st's name (freeing st once no queue entry points to it). */
void ps_map_remove(ps_map_t *m, ps_stmt_t *st);
/* DEALLOCATE ALL / DISCARD ALL, and the client's exit. */
void ps_map_clear(ps_map_t *m);

/* ---- one server connection's statements ---- */

typedef struct ps_entry {
	struct ps_entry *next;  /* hash chain */
	list_node_t lru;        /* most recently used first */
	ps_key_t key;
} ps_entry_t;

typedef struct ps_set {
	ps_entry_t **slots;
	uint32_t nslots, count;
	list_node_t lru;
} ps_set_t;

void ps_set_init(ps_set_t *s);
/* Finds key and marks it most recently used. */
ps_entry_t *ps_set_use(ps_set_t *s, ps_key_t key);
bool ps_set_has(const ps_set_t *s, ps_key_t key);
void ps_set_add(ps_set_t *s, ps_key_t key);
void ps_set_remove(ps_set_t *s, ps_key_t key);
/* Removes the least recently used key into *victim; false when empty. */
bool ps_set_evict(ps_set_t *s, ps_key_t *victim);
void ps_set_clear(ps_set_t *s);

/* ---- the answers a server connection owes ---- */

typedef enum {
	RQ_PLAIN,        /* `count` forwarded messages, one final answer each */
	RQ_SYNC,         /* Sync, Query or FunctionCall: ends with ReadyForQuery */
	RQ_PARSE,        /* the client's Parse, renamed: learn whether it worked */
	RQ_HIDDEN_PARSE, /* pgtide's Parse before a Bind/Describe: answer hidden */
	RQ_HIDDEN_CLOSE, /* pgtide's Close evicting a statement: answer hidden */
	RQ_SYNTH_PARSE,  /* answer ParseComplete for the server (it has the statement) */
	RQ_SYNTH_CLOSE,  /* answer CloseComplete for the server */
	RQ_DUPLICATE,    /* a Parse that must fail: replace the server's error */
	RQ_BIND,         /* an autocommit Bind of a named statement, kept for one replay */
	RQ_SYNC_HIDDEN,  /* the Sync of a unit being replayed: its ReadyForQuery hidden */
} rq_kind_t;

typedef struct rq_entry {
	uint8_t kind;
	uint32_t count;   /* RQ_PLAIN */
	ps_key_t key;     /* RQ_PARSE, RQ_HIDDEN_PARSE */
	ps_stmt_t *stmt;  /* RQ_PARSE, RQ_SYNTH_PARSE, RQ_DUPLICATE, RQ_BIND (a reference) */
} rq_entry_t;

#define RQ_INLINE 8 /* a power of two, as every capacity */

typedef struct rq {
	rq_entry_t *ring;
	uint32_t cap, head, len;  /* entry i is ring[(head + i) & (cap - 1)] */
	bool skipping;    /* the server is skipping messages until Sync */
	rq_entry_t inline_ring[RQ_INLINE];
} rq_t;

/* What the relay does with a message from the server. */
typedef enum {
	RQ_RELAY,       /* pass it to the client */
	RQ_SWALLOW,     /* drop it (answer to a message pgtide added) */
	RQ_REPLACE,     /* drop it and send rq_result_t.stmt's "already exists" error */
} rq_action_t;

/* Outcome of a resolved entry, for the relay to act on. */
typedef struct rq_event {
	rq_kind_t kind;
	bool ok;          /* the server accepted it (or pgtide answered it) */
	ps_key_t key;
	ps_stmt_t *stmt;  /* still referenced until the event is done */
} rq_event_t;

void rq_init(rq_t *q);
void rq_free(rq_t *q);
bool rq_empty(const rq_t *q);
/* A message went to the server (or was answered by pgtide) in this
 * position. Entries are dropped at once while the server is skipping to
 * Sync; *e then tells the relay what was dropped (returns true). */
bool rq_push(rq_t *q, const rq_entry_t *e, rq_event_t *dropped);
/* The head entry, or NULL. */
const rq_entry_t *rq_head(const rq_t *q);
/* Pops the head after a final answer (ok = not an ErrorResponse). For an
 * error, the entries up to the next Sync are skipped: call rq_skip_next
 * until it returns false. */
void rq_pop(rq_t *q, rq_event_t *ev, bool ok);
/* After an error: pops the next entry the server skips; false once a Sync
 * is at the head (or the queue is empty, and then later pushes are skipped
 * until a Sync is pushed). */
bool rq_skip_next(rq_t *q, rq_event_t *ev);
/* The fast paths below run on every relayed message: plain answers are
 * counted, not queued, and nothing is called unless an entry needs acting
 * on. */

static inline rq_entry_t *rq_tail(const rq_t *q)
{
	return &q->ring[(q->head + q->len - 1) & (q->cap - 1)];
}

/* A forwarded message with one final answer and nothing to learn from it.
 * Returns false when the slow path (rq_push) must take it. */
static inline bool rq_push_plain_fast(rq_t *q)
{
	if (q->skipping)
		return true; /* the server skips it: no answer */
	if (q->len && rq_tail(q)->kind == RQ_PLAIN) {
		rq_tail(q)->count++;
		return true;
	}
	if (q->len == q->cap)
		return false;
	rq_entry_t *e = &q->ring[(q->head + q->len) & (q->cap - 1)];
	e->kind = RQ_PLAIN;
	e->count = 1;
	e->stmt = NULL;
	q->len++;
	return true;
}

/* A forwarded Sync, Query or FunctionCall. Returns false when the slow path
 * (rq_push) must take it (the ring is full). */
static inline bool rq_push_sync_fast(rq_t *q)
{
	if (q->len == q->cap)
		return false;
	rq_entry_t *e = &q->ring[(q->head + q->len) & (q->cap - 1)];
	e->kind = RQ_SYNC;
	e->count = 1;
	e->stmt = NULL;
	q->len++;
	q->skipping = false;
	return true;
}

/* Takes the final answer `type` off a plain or Sync head. Returns false
 * when the slow path (prepared_relay_server_message) must see the message:
 * an error, or a head that is not plain. */
static inline bool rq_answer_fast(rq_t *q, uint8_t type)
{
	rq_entry_t *h = &q->ring[q->head];
	if (h->kind == RQ_PLAIN && type != 'E' && type != 'Z') {
		if (--h->count > 0)
			return true;
	} else if (!(h->kind == RQ_SYNC && type == 'Z')) {
		return false;
	}
	q->head = (q->head + 1) & (q->cap - 1);
	q->len--;
	return true;
}

/* Whether the head is an answer pgtide owes (prepared_relay_emit). */
static inline bool rq_head_is_synthetic(const rq_t *q)
{
	return q->len && (q->ring[q->head].kind == RQ_SYNTH_PARSE || q->ring[q->head].kind == RQ_SYNTH_CLOSE);
}

/* Entry i from the head (i < len). */
static inline rq_entry_t *rq_nth(const rq_t *q, uint32_t i)
{
	return &q->ring[(q->head + i) & (q->cap - 1)];
}

/* Whether `type` from the server is the final answer to the head entry. */
static inline bool rq_is_final(const rq_t *q, uint8_t type)
{
	if (!q->len)
		return false;
	if (q->ring[q->head].kind == RQ_SYNC || q->ring[q->head].kind == RQ_SYNC_HIDDEN)
		return type == 'Z';
	switch (type) {
	case '1': case '2': case '3': case 'T': case 'n': case 'C': case 'I': case 's': case 'E': case 'Z':
		return true;
	default:
		return false;
	}
}

/* Whether prepared_relay must see this message from the server. */
static inline bool rq_wants(const rq_t *q, uint8_t type)
{
	return type == 'C' || type == 'G' || type == 'W' || rq_is_final(q, type);
}
/* COPY FROM STDIN started: the Syncs sent after the command are ignored by
 * the server; drops their entries. */
void rq_copy_in_started(rq_t *q);
/* Drops everything (the server is being closed or was reset). Events for
 * the dropped entries are not reported: statement references are released. */
void rq_clear(rq_t *q);

#endif

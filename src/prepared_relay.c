/*
 * prepared_relay.c - renaming, adding and answering prepared-statement
 * messages on their way through the relay. See prepared_relay.h.
 */
#include "prepared_relay.h"

#include <string.h>

#include "client.h"
#include "config.h"
#include "link.h"
#include "log.h"
#include "pktbuf.h"
#include "pool.h"
#include "proto.h"
#include "runtime.h"
#include "server.h"

static const config_t *cfg_of_client(const client_t *c)
{
	return runtime_cfg(c->link.worker->rt);
}

bool prepared_relay_wanted(const client_t *c)
{
	return !c->is_admin && c->pool && c->pool->pool_mode == POOL_MODE_TRANSACTION &&
	       cfg_of_client(c)->max_prepared_statements > 0;
}

static stats_slot_t *stats_of(server_t *s)
{
	return pool_stats(s->pool, s->link.worker->id);
}

/* ---- what a resolved entry means ---- */

static void forget_client_stmt(server_t *s, ps_stmt_t *st)
{
	if (st && s->client)
		ps_map_remove(&s->client->ps, st);
}

/* Acts on an entry that left the queue, then drops its reference. */
static void resolve(server_t *s, const rq_event_t *ev)
{
	if (ev->kind == RQ_PLAIN || ev->kind == RQ_SYNC)
		return;
	switch (ev->kind) {
	case RQ_PARSE:
		if (ev->ok) {
			ev->stmt->confirmed = true;
		} else {
			ps_set_remove(&s->ps, ev->key);
			forget_client_stmt(s, ev->stmt);
		}
		break;
	case RQ_HIDDEN_PARSE:
		if (!ev->ok)
			ps_set_remove(&s->ps, ev->key);
		break;
	case RQ_SYNTH_PARSE:
		if (ev->ok)
			ev->stmt->confirmed = true;
		else
			forget_client_stmt(s, ev->stmt);
		break;
	default:
		break;
	}
	ps_stmt_unref(ev->stmt);
}

static void push(server_t *s, rq_kind_t kind, ps_key_t key, ps_stmt_t *st)
{
	rq_entry_t e = { .kind = (uint8_t)kind, .count = 1, .key = key, .stmt = st };
	rq_event_t dropped;
	if (rq_push(&s->rq, &e, &dropped))
		resolve(s, &dropped);
}

void prepared_relay_forwarded(server_t *s, uint8_t type)
{
	static const ps_key_t none = { 0, 0 };
	switch (type) {
	case FE_SYNC:
		if (s->copy_ignores_sync)
			return;
		/* fall through */
	case FE_QUERY:
	case FE_FUNCTION_CALL:
		push(s, RQ_SYNC, none, NULL);
		return;
	case FE_BIND: case FE_EXECUTE: case FE_DESCRIBE: case FE_CLOSE: case FE_PARSE:
		if (!rq_push_plain_fast(&s->rq))
			push(s, RQ_PLAIN, none, NULL);
		return;
	default:
		return; /* Flush and copy messages get no answer of their own */
	}
}

/* ---- writing to the server ---- */

static void write_parse(server_t *s, ps_key_t key, const uint8_t *body, uint32_t blen)
{
	char name[PS_SERVER_NAME_SIZE];
	ps_server_name(key, name);
	size_t nlen = strlen(name) + 1;
	uint8_t hdr[PROTO_HEADER_LEN + PS_SERVER_NAME_SIZE];
	hdr[0] = FE_PARSE;
	proto_put_u32(hdr + 1, (uint32_t)(4 + nlen + blen));
	memcpy(hdr + PROTO_HEADER_LEN, name, nlen);
	link_write(&s->link, hdr, PROTO_HEADER_LEN + nlen);
	link_write(&s->link, body, blen);
	stats_of(s)->c.server_parse_count++;
}

static void write_close(server_t *s, ps_key_t key)
{
	char name[PS_SERVER_NAME_SIZE];
	ps_server_name(key, name);
	size_t nlen = strlen(name) + 1;
	uint8_t msg[PROTO_HEADER_LEN + 1 + PS_SERVER_NAME_SIZE];
	msg[0] = FE_CLOSE;
	proto_put_u32(msg + 1, (uint32_t)(4 + 1 + nlen));
	msg[PROTO_HEADER_LEN] = 'S';
	memcpy(msg + PROTO_HEADER_LEN + 1, name, nlen);
	link_write(&s->link, msg, PROTO_HEADER_LEN + 1 + nlen);
}

/* Makes room for one more statement on s: the least recently used ones are
 * closed. Anything sent earlier that uses them runs before the Close. */
static void make_room(server_t *s, const client_t *c)
{
	int max = cfg_of_client(c)->max_prepared_statements;
	ps_key_t victim;
	while (s->ps.count >= (uint32_t)max && ps_set_evict(&s->ps, &victim)) {
		write_close(s, victim);
		push(s, RQ_HIDDEN_CLOSE, victim, NULL);
		stats_of(s)->c.ps_eviction_count++;
	}
}

/* The statement st must exist on s before a message that uses it. Returns
 * whether it was there already. */
static bool ensure_prepared(server_t *s, const client_t *c, ps_stmt_t *st)
{
	if (ps_set_use(&s->ps, st->key)) {
		stats_of(s)->c.ps_hit_count++;
		return true;
	}
	stats_of(s)->c.ps_miss_count++;
	make_room(s, c);
	ps_set_add(&s->ps, st->key);
	write_parse(s, st->key, st->body, st->body_len);
	push(s, RQ_HIDDEN_PARSE, st->key, NULL);
	return false;
}

/* ---- keeping an autocommit unit for one replay ---- */

static void capture_append(server_t *s, const void *data, size_t len)
{
	if (s->retry_len + len > RETRY_BUF_SIZE) {
		s->retry_state = RETRY_NONE; /* too big to keep: the error passes through */
		return;
	}
	memcpy(s->retry_buf + s->retry_len, data, len);
	s->retry_len += (uint32_t)len;
}

/* A Bind of a statement the server already had starts an autocommit unit:
 * keep what goes to the server until the Sync. */
static void capture_start(server_t *s, const uint8_t *hdr, const uint8_t *body, size_t prefix, const char *sname,
			  size_t snlen, const uint8_t *rest, size_t rest_len)
{
	if (!s->retry_buf)
		s->retry_buf = xmalloc(RETRY_BUF_SIZE);
	s->retry_len = 0;
	s->retry_state = RETRY_CAPTURING;
	capture_append(s, hdr, PROTO_HEADER_LEN);
	capture_append(s, body, prefix);
	capture_append(s, sname, snlen);
	capture_append(s, rest, rest_len);
}

void prepared_relay_capture(server_t *s, uint8_t type, const uint8_t *msg, uint32_t total, bool whole)
{
	bool part_of_unit = type == FE_DESCRIBE || type == FE_EXECUTE || type == FE_FLUSH || type == FE_SYNC;
	if (!whole || !part_of_unit || s->retry_state != RETRY_CAPTURING) {
		s->retry_state = RETRY_NONE;
		return;
	}
	capture_append(s, msg, total);
	if (type == FE_SYNC && s->retry_state == RETRY_CAPTURING)
		s->retry_state = RETRY_READY;
}

/* ---- client messages ---- */

/* Length of the NUL-terminated string at p (within n bytes), or -1. */
static long cstr_len(const uint8_t *p, size_t n)
{
	const uint8_t *z = memchr(p, '\0', n);
	return z ? (long)(z - p) : -1;
}

static psr_result_t need_whole(const iobuf_t *in, uint32_t total)
{
	if (total <= iobuf_len(in))
		return PSR_DONE;
	return total > IOBUF_SIZE ? PSR_TOO_LARGE : PSR_NEED_MORE;
}

/* Marks the sequence open and counts the message as the relay would. */
static void note_extended(client_t *c)
{
	c->pending_since_sync = true;
}

static psr_result_t client_parse(client_t *c, iobuf_t *in, uint32_t total)
{
	const uint8_t *body = iobuf_head(in) + PROTO_HEADER_LEN;
	size_t blen = total - PROTO_HEADER_LEN;
	long nlen = cstr_len(body, MIN(blen, iobuf_len(in) - PROTO_HEADER_LEN));
	if (nlen == 0)
		return PSR_PASS; /* the unnamed statement lives one transaction: as is */
	psr_result_t w = need_whole(in, total);
	if (w != PSR_DONE)
		return w;
	if (nlen < 0)
		return PSR_PASS; /* malformed: let the server say so */
	prepared_relay_parse(c, iobuf_head(in), total);
	iobuf_consume(in, total);
	return PSR_DONE;
}

void prepared_relay_parse(client_t *c, const uint8_t *msg, uint32_t total)
{
	const uint8_t *body = msg + PROTO_HEADER_LEN;
	size_t blen = total - PROTO_HEADER_LEN;
	long nlen = cstr_len(body, blen);
	server_t *s = c->server;
	const char *name = (const char *)body;
	const uint8_t *rest = body + nlen + 1;
	uint32_t rest_len = (uint32_t)(blen - (size_t)nlen - 1);
	stats_of(s)->c.client_parse_count++;
	note_extended(c);

	ps_stmt_t *old = ps_map_find(&c->ps, name, (size_t)nlen);
	if (old) {
		/* PostgreSQL refuses to redefine a name. A Parse that cannot
		 * succeed puts the server in the same error state; its error is
		 * replaced by the one a direct connection would give. */
		static const uint8_t bad_body[] = "pgtide_duplicate_name\0pgtide: duplicate statement\0\0\0";
		uint8_t hdr[PROTO_HEADER_LEN];
		hdr[0] = FE_PARSE;
		proto_put_u32(hdr + 1, (uint32_t)(4 + sizeof(bad_body) - 1));
		link_write(&s->link, hdr, sizeof(hdr));
		link_write(&s->link, bad_body, sizeof(bad_body) - 1);
		push(s, RQ_DUPLICATE, old->key, old);
	} else {
		ps_stmt_t *st = ps_stmt_new(name, (size_t)nlen, rest, rest_len);
		ps_map_insert(&c->ps, st);
		if (ps_set_use(&s->ps, st->key)) {
			stats_of(s)->c.ps_hit_count++;
			push(s, RQ_SYNTH_PARSE, st->key, st);
		} else {
			stats_of(s)->c.ps_miss_count++;
			make_room(s, c);
			ps_set_add(&s->ps, st->key);
			write_parse(s, st->key, rest, rest_len);
			push(s, RQ_PARSE, st->key, st);
		}
	}
	server_forwarded_bytes(s, total);
	prepared_relay_emit(s);
}

/* Bind and Describe: the statement name is renamed; the rest of the message
 * (a Bind's parameters may be large) is relayed as it comes. */
static psr_result_t client_rename(client_t *c, iobuf_t *in, uint8_t type, uint32_t total)
{
	const uint8_t *body = iobuf_head(in) + PROTO_HEADER_LEN;
	size_t avail = MIN(iobuf_len(in), total) - PROTO_HEADER_LEN;
	size_t prefix; /* body bytes before the statement name */
	if (type == FE_DESCRIBE) {
		if (avail < 1)
			return need_whole(in, total) == PSR_TOO_LARGE ? PSR_TOO_LARGE : PSR_NEED_MORE;
		if (body[0] != 'S')
			return PSR_PASS;
		prefix = 1;
	} else {
		long plen = cstr_len(body, avail);
		if (plen < 0)
			return avail == total - PROTO_HEADER_LEN ? PSR_PASS
			       : iobuf_len(in) >= IOBUF_SIZE ? PSR_TOO_LARGE : PSR_NEED_MORE;
		prefix = (size_t)plen + 1;
	}
	long nlen = cstr_len(body + prefix, avail - prefix);
	if (nlen < 0)
		return avail == total - PROTO_HEADER_LEN ? PSR_PASS
		       : iobuf_len(in) >= IOBUF_SIZE ? PSR_TOO_LARGE : PSR_NEED_MORE;
	if (nlen == 0)
		return PSR_PASS;
	ps_stmt_t *st = ps_map_find(&c->ps, (const char *)body + prefix, (size_t)nlen);
	if (!st)
		return PSR_PASS; /* the server answers "does not exist" itself */

	server_t *s = c->server;
	/* Only a unit that starts here, outside a transaction, on a statement
	 * the server had (a fresh one cannot have a stale plan), may be replayed. */
	bool fresh_unit = type == FE_BIND && s->tx_status == 'I' && rq_empty(&s->rq) && !c->pending_since_sync;
	bool had = ensure_prepared(s, c, st);
	char sname[PS_SERVER_NAME_SIZE];
	ps_server_name(st->key, sname);
	size_t snlen = strlen(sname) + 1;
	size_t old_head = PROTO_HEADER_LEN + prefix + (size_t)nlen + 1;
	uint32_t new_total = (uint32_t)(total - old_head + PROTO_HEADER_LEN + prefix + snlen);
	uint8_t hdr[PROTO_HEADER_LEN + 1];
	hdr[0] = type;
	proto_put_u32(hdr + 1, new_total - 1);
	link_write(&s->link, hdr, PROTO_HEADER_LEN);
	link_write(&s->link, body, prefix);
	link_write(&s->link, sname, snlen);
	if (type == FE_BIND)
		stats_of(s)->c.bind_count++;
	note_extended(c);
	server_forwarded_bytes(s, total);
	bool keep = fresh_unit && had && iobuf_len(in) >= total;
	if (keep)
		capture_start(s, hdr, body, prefix, sname, snlen, iobuf_head(in) + old_head, total - old_head);
	else if (s->retry_state != RETRY_NONE)
		s->retry_state = RETRY_NONE;
	push(s, keep ? RQ_BIND : RQ_PLAIN, st->key, keep ? st : NULL);
	iobuf_consume(in, old_head);
	c->fwd_remaining = (uint32_t)(total - old_head);
	return PSR_DONE;
}

static psr_result_t client_close_stmt(client_t *c, iobuf_t *in, uint32_t total)
{
	psr_result_t w = need_whole(in, total);
	if (w != PSR_DONE)
		return w;
	const uint8_t *body = iobuf_head(in) + PROTO_HEADER_LEN;
	size_t blen = total - PROTO_HEADER_LEN;
	if (blen < 2 || body[0] != 'S')
		return PSR_PASS;
	long nlen = cstr_len(body + 1, blen - 1);
	if (nlen <= 0)
		return PSR_PASS;
	ps_stmt_t *st = ps_map_find(&c->ps, (const char *)body + 1, (size_t)nlen);
	if (st)
		ps_map_remove(&c->ps, st);
	/* Closing a name that does not exist is not an error either. */
	static const ps_key_t none = { 0, 0 };
	note_extended(c);
	push(c->server, RQ_SYNTH_CLOSE, none, NULL);
	iobuf_consume(in, total);
	prepared_relay_emit(c->server);
	return PSR_DONE;
}

psr_result_t prepared_relay_client_message(client_t *c, iobuf_t *in, uint8_t type, uint32_t total)
{
	switch (type) {
	case FE_PARSE:
		return client_parse(c, in, total);
	case FE_BIND:
	case FE_DESCRIBE:
		return client_rename(c, in, type, total);
	case FE_CLOSE:
		return client_close_stmt(c, in, total);
	default:
		return PSR_PASS;
	}
}

/* ---- server messages ---- */

bool prepared_relay_tag_drops_all(const uint8_t *body, size_t blen)
{
	return (blen == sizeof("DISCARD ALL") && memcmp(body, "DISCARD ALL", blen) == 0) ||
	       (blen == sizeof("DEALLOCATE ALL") && memcmp(body, "DEALLOCATE ALL", blen) == 0);
}

static void send_duplicate_error(server_t *s, const ps_stmt_t *st)
{
	if (!s->client || !st)
		return;
	uint8_t mem[512];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	pktbuf_error(&pb, "ERROR", "42P05", "prepared statement \"%.*s\" already exists", (int)MIN(st->name_len, 200u),
		     st->mem);
	link_write(&s->client->link, pb.data, pb.len);
}

static bool plan_changed(const uint8_t *body, size_t blen)
{
	error_fields_t ef;
	return body && proto_parse_error(body, blen, &ef) && ef.sqlstate && strcmp(ef.sqlstate, "0A000") == 0 &&
	       ef.message && strcmp(ef.message, "cached plan must not change result type") == 0;
}

/* The failed Bind at the head is followed by nothing but the rest of its
 * unit (so a replay cannot overtake anything the client sent later). */
static bool unit_is_last(const rq_t *q)
{
	for (uint32_t i = 1; i < q->len; i++) {
		uint8_t k = rq_nth(q, i)->kind;
		if (k == RQ_SYNC)
			return i == q->len - 1;
		if (k != RQ_PLAIN)
			return false;
	}
	return false;
}

/* "cached plan must not change result type" on an autocommit Bind: DDL
 * changed a table under a statement that clients share. The server skips
 * to the Sync; pgtide hides that, prepares the statement again and replays
 * the unit, so the client gets its rows and never the error. Once. */
static void replay_after_plan_change(server_t *s)
{
	rq_event_t ev;
	rq_pop(&s->rq, &ev, false);
	ps_stmt_t *st = ev.stmt;
	while (rq_skip_next(&s->rq, &ev))
		resolve(s, &ev);
	rq_nth(&s->rq, 0)->kind = RQ_SYNC_HIDDEN;
	write_close(s, st->key);
	push(s, RQ_HIDDEN_CLOSE, st->key, NULL);
	write_parse(s, st->key, st->body, st->body_len);
	push(s, RQ_HIDDEN_PARSE, st->key, NULL);
	link_write(&s->link, s->retry_buf, s->retry_len);
	static const ps_key_t none = { 0, 0 };
	for (uint32_t off = 0; off + PROTO_HEADER_LEN <= s->retry_len;) {
		uint8_t type = s->retry_buf[off];
		off += 1 + proto_get_u32(s->retry_buf + off + 1);
		if (type == FE_SYNC) {
			push(s, RQ_SYNC, none, NULL);
			s->expected_rfq++; /* the hidden ReadyForQuery took the first one */
		} else if (type != FE_FLUSH) {
			push(s, RQ_PLAIN, none, NULL);
		}
	}
	s->retry_state = RETRY_NONE;
	ps_stmt_unref(st);
	link_flush(&s->link);
	log_info("statement prepared again after a plan change (DDL): db=%s user=%s", s->pool->dbname,
		 s->pool->user);
}

/* ReadyForQuery: everything up to the Sync it answers is over. */
static void ready_received(server_t *s)
{
	rq_event_t ev;
	while (rq_head(&s->rq)) {
		bool is_sync = rq_head(&s->rq)->kind == RQ_SYNC;
		rq_pop(&s->rq, &ev, is_sync);
		resolve(s, &ev);
		if (is_sync)
			break;
	}
}

psr_action_t prepared_relay_server_message(server_t *s, uint8_t type, const uint8_t *body, size_t blen)
{
	if (type == BE_COMMAND_COMPLETE && body && prepared_relay_tag_drops_all(body, blen)) {
		ps_set_clear(&s->ps);
		if (s->client)
			ps_map_clear(&s->client->ps);
	} else if (type == BE_COPY_IN || type == BE_COPY_BOTH) {
		rq_copy_in_started(&s->rq);
	}
	if (!rq_is_final(&s->rq, type))
		return PSR_RELAY;
	if (type == BE_READY && rq_head(&s->rq)->kind == RQ_SYNC_HIDDEN) {
		rq_event_t hidden;
		rq_pop(&s->rq, &hidden, true);
		return PSR_SWALLOW;
	}
	if (type == BE_READY) {
		ready_received(s);
		s->rq_emit = rq_head_is_synthetic(&s->rq);
		return PSR_RELAY;
	}
	bool ok = type != BE_ERROR;
	if (rq_head(&s->rq)->kind == RQ_BIND) {
		if (!ok && s->retry_state == RETRY_READY && unit_is_last(&s->rq) && plan_changed(body, blen)) {
			replay_after_plan_change(s);
			return PSR_SWALLOW;
		}
		s->retry_state = RETRY_NONE;
	}
	rq_event_t ev;
	rq_pop(&s->rq, &ev, ok);
	psr_action_t act = PSR_RELAY;
	if (ev.kind == RQ_HIDDEN_PARSE || ev.kind == RQ_HIDDEN_CLOSE) {
		/* A failed hidden Parse is the client's Bind failing: it sees why. */
		act = ok ? PSR_SWALLOW : PSR_RELAY;
	} else if (ev.kind == RQ_DUPLICATE) {
		if (!ok)
			send_duplicate_error(s, ev.stmt);
		act = PSR_SWALLOW;
	}
	resolve(s, &ev);
	if (!ok)
		while (rq_skip_next(&s->rq, &ev))
			resolve(s, &ev);
	s->rq_emit = rq_head_is_synthetic(&s->rq);
	return act;
}

void prepared_relay_emit(server_t *s)
{
	static const uint8_t parse_complete[5] = { BE_PARSE_COMPLETE, 0, 0, 0, 4 };
	static const uint8_t close_complete[5] = { BE_CLOSE_COMPLETE, 0, 0, 0, 4 };
	s->rq_emit = false;
	const rq_entry_t *h;
	while ((h = rq_head(&s->rq)) && (h->kind == RQ_SYNTH_PARSE || h->kind == RQ_SYNTH_CLOSE)) {
		rq_event_t ev;
		rq_pop(&s->rq, &ev, true);
		if (s->client)
			link_write(&s->client->link, ev.kind == RQ_SYNTH_PARSE ? parse_complete : close_complete, 5);
		resolve(s, &ev);
	}
}

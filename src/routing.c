/*
 * routing.c - read routing decisions (routing.h, docs/routing.md).
 *
 * Classification is conservative: a transaction goes to a replica only when
 * its first messages prove it cannot write (sqlclass's read-only proof, or a
 * READ ONLY transaction, which PostgreSQL itself enforces).
 */
#include "routing.h"

#include <string.h>

#include "proto.h"
#include "sqlclass.h"

/* Feeds statements through a small state machine: a READ ONLY transaction
 * may hold anything (the server refuses writes in it on either role), and
 * outside one every statement must be provably read-only. */
typedef struct route_walk {
	bool in_ro_txn;
	bool saw_ro_txn;
	bool other;          /* something not provably read-only outside a READ ONLY txn */
} route_walk_t;

static void walk_text(route_walk_t *w, const char *sql, size_t len)
{
	sql_iter_t it;
	sql_stmt_t st;
	sql_iter_init(&it, sql, len, NULL);
	while (!w->other && sql_iter_next(&it, &st)) {
		if (st.cmd == SQL_CMD_BEGIN && (st.flags & SQLF_TXN_READ_ONLY) && !(st.flags & SQLF_LEX_AMBIGUOUS)) {
			if (w->in_ro_txn) /* BEGIN inside a transaction: a warning, still read-only */
				continue;
			w->in_ro_txn = w->saw_ro_txn = true;
		} else if (st.cmd == SQL_CMD_COMMIT || st.cmd == SQL_CMD_ROLLBACK) {
			w->in_ro_txn = false;
		} else if (!w->in_ro_txn && !(st.flags & SQLF_READ_ONLY)) {
			w->other = true;
		}
	}
}

static route_class_t walk_result(const route_walk_t *w, bool any)
{
	if (w->other || !any)
		return ROUTE_CLASS_WRITE;
	return w->saw_ro_txn ? ROUTE_CLASS_READ_TXN : ROUTE_CLASS_READ_STMT;
}

route_class_t routing_classify_query(const char *sql, size_t len)
{
	route_walk_t w = { 0 };
	walk_text(&w, sql, len);
	/* An empty query proves nothing but harms nothing: the primary. */
	sql_iter_t it;
	sql_stmt_t st;
	sql_iter_init(&it, sql, len, NULL);
	return walk_result(&w, sql_iter_next(&it, &st));
}


/* A NUL-terminated string at *pos within [body, body+len). */
static const char *take_str(const uint8_t *body, size_t len, size_t *pos, size_t *slen)
{
	if (*pos >= len)
		return NULL;
	const uint8_t *z = memchr(body + *pos, '\0', len - *pos);
	if (!z)
		return NULL;
	const char *s = (const char *)body + *pos;
	*slen = (size_t)(z - (body + *pos));
	*pos += *slen + 1;
	return s;
}

#define MAX_PARSED 8

/* One Parse's statement, as its execution moves the walk. */
typedef enum { KIND_READ, KIND_BEGIN_RO, KIND_END, KIND_OTHER } stmt_kind_t;

static stmt_kind_t kind_of(const char *sql, size_t len)
{
	sql_iter_t it;
	sql_stmt_t st, next;
	sql_iter_init(&it, sql, len, NULL);
	if (!sql_iter_next(&it, &st) || sql_iter_next(&it, &next))
		return KIND_OTHER; /* empty, or several (the server refuses those) */
	if (st.flags & SQLF_LEX_AMBIGUOUS)
		return KIND_OTHER;
	if (st.cmd == SQL_CMD_BEGIN && (st.flags & SQLF_TXN_READ_ONLY))
		return KIND_BEGIN_RO;
	if (st.cmd == SQL_CMD_COMMIT || st.cmd == SQL_CMD_ROLLBACK)
		return KIND_END;
	return (st.flags & SQLF_READ_ONLY) ? KIND_READ : KIND_OTHER;
}

route_stmt_t routing_classify_text(const char *sql, size_t len)
{
	return kind_of(sql, len) == KIND_READ ? ROUTE_STMT_READ : ROUTE_STMT_OTHER;
}

route_class_t routing_classify_messages(const uint8_t *buf, size_t len, route_named_fn named, void *arg,
					size_t *unit_len)
{
	uint8_t type;
	uint32_t total;
	*unit_len = 0;
	if (proto_frame(buf, len, UINT32_MAX, &type, &total) != FRAME_OK || total > len)
		return ROUTE_CLASS_WRITE;
	if (type == FE_QUERY) {
		*unit_len = total;
		const char *sql = (const char *)buf + PROTO_HEADER_LEN;
		size_t slen = total - PROTO_HEADER_LEN;
		const char *z = memchr(sql, '\0', slen);
		return routing_classify_query(sql, z ? (size_t)(z - sql) : slen);
	}
	/* Statements parsed in this sequence. */
	struct {
		const char *name;
		size_t len;
		stmt_kind_t kind;
	} parsed[MAX_PARSED];
	int nparsed = 0;
	/* The walk follows execution (Bind order), not Parse order. */
	route_walk_t w = { 0 };
	bool any = false;
	size_t off = 0;
	for (;;) {
		if (proto_frame(buf + off, len - off, UINT32_MAX, &type, &total) != FRAME_OK || total > len - off)
			return ROUTE_CLASS_WRITE; /* the Sync is not here (yet) */
		const uint8_t *body = buf + off + PROTO_HEADER_LEN;
		size_t blen = total - PROTO_HEADER_LEN, pos = 0, nlen = 0, qlen = 0;
		off += total;
		switch (type) {
		case FE_PARSE: {
			const char *name = take_str(body, blen, &pos, &nlen);
			const char *q = name ? take_str(body, blen, &pos, &qlen) : NULL;
			if (!q || nparsed == MAX_PARSED)
				return ROUTE_CLASS_WRITE;
			parsed[nparsed].name = name;
			parsed[nparsed].len = nlen;
			parsed[nparsed].kind = kind_of(q, qlen);
			nparsed++;
			any = true; /* preparing runs nothing: harmless on a replica */
			break;
		}
		case FE_BIND: {
			size_t plen;
			const char *portal = take_str(body, blen, &pos, &plen);
			const char *name = portal ? take_str(body, blen, &pos, &nlen) : NULL;
			if (!name)
				return ROUTE_CLASS_WRITE;
			int i;
			for (i = nparsed - 1; i >= 0; i--)
				if (parsed[i].len == nlen && memcmp(parsed[i].name, name, nlen) == 0)
					break;
			stmt_kind_t kind = KIND_OTHER; /* the unnamed statement of an earlier sequence */
			if (i >= 0)
				kind = parsed[i].kind;
			else if (nlen > 0 && named)
				kind = named(arg, name, nlen) == ROUTE_STMT_READ ? KIND_READ : KIND_OTHER;
			if (kind == KIND_BEGIN_RO) {
				if (!w.in_ro_txn)
					w.in_ro_txn = w.saw_ro_txn = true;
			} else if (kind == KIND_END) {
				w.in_ro_txn = false;
			} else if (kind == KIND_OTHER && !w.in_ro_txn) {
				return ROUTE_CLASS_WRITE;
			}
			any = true;
			break;
		}
		case FE_DESCRIBE: case FE_EXECUTE: case FE_CLOSE: case FE_FLUSH:
			break;
		case FE_SYNC:
			*unit_len = off;
			return walk_result(&w, any);
		default:
			return ROUTE_CLASS_WRITE;
		}
	}
}

route_target_t routing_decide(const route_input_t *in)
{
	if (in->mode == READ_ROUTING_OFF)
		return ROUTE_PRIMARY;
	if (in->ro_entry)
		return ROUTE_REPLICA;
	if (in->session_mode)
		return ROUTE_PRIMARY;
	if (in->cls == ROUTE_CLASS_READ_TXN)
		return ROUTE_REPLICA;
	if (in->cls == ROUTE_CLASS_READ_STMT && in->mode == READ_ROUTING_AUTO)
		return ROUTE_REPLICA;
	return ROUTE_PRIMARY;
}

int routing_pick_replica(const route_candidate_t *c, int n, uint64_t min_lsn, unsigned start)
{
	int best = ROUTE_PICK_NONE;
	bool any_usable = false;
	for (int k = 0; k < n; k++) {
		int i = (int)((start + (unsigned)k) % (unsigned)n);
		if (!c[i].usable)
			continue;
		any_usable = true;
		if (c[i].replay_lsn < min_lsn)
			continue;
		if (best < 0 || c[i].load < c[best].load)
			best = i;
	}
	if (best < 0 && any_usable)
		return ROUTE_PICK_BEHIND;
	return best;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

bool routing_parse_lsn(const char *text, size_t len, uint64_t *lsn)
{
	uint64_t hi = 0, lo = 0;
	size_t i = 0, nd = 0;
	for (; i < len && text[i] != '/'; i++, nd++) {
		int v = hexval(text[i]);
		if (v < 0 || nd >= 8)
			return false;
		hi = hi << 4 | (uint64_t)v;
	}
	if (nd == 0 || i >= len)
		return false;
	nd = 0;
	for (i++; i < len; i++, nd++) {
		int v = hexval(text[i]);
		if (v < 0 || nd >= 8)
			return false;
		lo = lo << 4 | (uint64_t)v;
	}
	if (nd == 0)
		return false;
	*lsn = hi << 32 | lo;
	return true;
}

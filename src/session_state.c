/*
 * session_state.c - finding, reading and re-applying a client's session
 * state in transaction mode. See session_state.h.
 */
#include "session_state.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto.h"
#include "sqlclass.h"

/* ---- scanning statement texts ---- */

/* Appends the text of a name token (quoted identifiers unquoted, unquoted
 * words lower-cased as PostgreSQL folds them). */
static size_t token_text(const sql_lexer_t *lx, const sql_token_t *t, char *out, size_t cap, size_t at)
{
	const char *p = lx->sql + t->off;
	size_t n = t->len;
	if (t->type == SQL_TOK_QIDENT && n >= 2) {
		for (size_t i = 1; i + 1 < n && at + 1 < cap; i++) {
			out[at++] = p[i];
			if (p[i] == '"' && i + 2 < n && p[i + 1] == '"')
				i++;
		}
	} else if (t->type == SQL_TOK_STRING && n >= 2 && p[0] == '\'') {
		for (size_t i = 1; i + 1 < n && at + 1 < cap; i++) {
			out[at++] = p[i];
			if (p[i] == '\'' && i + 2 < n && p[i + 1] == '\'')
				i++;
		}
	} else {
		for (size_t i = 0; i < n && at + 1 < cap; i++) {
			char ch = p[i];
			out[at++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
		}
	}
	out[at] = '\0';
	return at;
}

static void note_custom(param_extras_t *names, const char *name)
{
	/* Only placeholders (a.b) are invisible to the probe's pg_settings. */
	if (strchr(name, '.') && strlen(name) < 64)
		param_extras_add(names, name, "");
}

/* SET [SESSION] a.b ... / RESET a.b: the dotted name after the keyword. */
static void scan_set_name(sql_lexer_t *lx, param_extras_t *names)
{
	sql_token_t t;
	char name[128];
	size_t at = 0;
	if (sql_lex_next(lx, &t) == SQL_TOK_WORD && sql_tok_is(lx, &t, "session"))
		sql_lex_next(lx, &t);
	for (;;) {
		if (t.type != SQL_TOK_WORD && t.type != SQL_TOK_QIDENT)
			return;
		at = token_text(lx, &t, name, sizeof(name), at);
		if (sql_lex_next(lx, &t) != SQL_TOK_DOT) {
			if (at)
				note_custom(names, name);
			return;
		}
		if (at + 1 < sizeof(name)) {
			name[at++] = '.';
			name[at] = '\0';
		}
		sql_lex_next(lx, &t);
	}
}

/* Every set_config('a.b', ...) call with a literal name. */
static void scan_set_config_calls(const char *sql, size_t len, param_extras_t *names)
{
	sql_lexer_t lx;
	sql_token_t t, open, arg;
	sql_lexer_init(&lx, sql, len);
	while (sql_lex_next(&lx, &t) != SQL_TOK_END) {
		if (t.type == SQL_TOK_ERROR)
			return;
		if (t.type != SQL_TOK_WORD || !sql_tok_is(&lx, &t, "set_config"))
			continue;
		if (sql_lex_next(&lx, &open) != SQL_TOK_LPAREN || sql_lex_next(&lx, &arg) != SQL_TOK_STRING)
			continue;
		char name[128];
		token_text(&lx, &arg, name, sizeof(name), 0);
		note_custom(names, name);
	}
}

static bool starts_with_do(const char *sql, size_t len)
{
	sql_lexer_t lx;
	sql_token_t t;
	sql_lexer_init(&lx, sql, len);
	return sql_lex_next(&lx, &t) == SQL_TOK_WORD && sql_tok_is(&lx, &t, "do");
}

uint32_t session_scan_text(const char *sql, size_t len, param_extras_t *custom_names, const char **state_what)
{
	if (!sql_may_touch_session(sql, len))
		return 0;
	uint32_t out = 0;
	sql_iter_t it;
	sql_stmt_t st;
	sql_iter_init(&it, sql, len, NULL);
	while (sql_iter_next(&it, &st)) {
		/* An ambiguous string end may hide anything: ask the server. */
		if (st.flags & (SQLF_SESSION_GUC | SQLF_SESSION_STATE | SQLF_STATE_RELEASE | SQLF_DEALLOCATE_ALL |
				SQLF_LEX_AMBIGUOUS) ||
		    st.cmd == SQL_CMD_PREPARE || st.cmd == SQL_CMD_DEALLOCATE || st.cmd == SQL_CMD_SET ||
		    st.cmd == SQL_CMD_RESET)
			out |= SESSION_MAY_CHANGE;
		if (st.cmd == SQL_CMD_OTHER && starts_with_do(sql + st.off, st.len))
			out |= SESSION_MAY_CHANGE; /* a DO block may do anything; the probe sees it */
		if (st.flags & SQLF_SESSION_STATE) {
			out |= SESSION_CREATES_STATE;
			if (state_what && !*state_what)
				*state_what = st.state_what;
		}
		if (st.cmd == SQL_CMD_SET || st.cmd == SQL_CMD_RESET) {
			sql_lexer_t lx;
			sql_token_t kw;
			sql_lexer_init(&lx, sql + st.off, st.len);
			sql_lex_next(&lx, &kw); /* SET / RESET */
			scan_set_name(&lx, custom_names);
		}
	}
	/* set_config() anywhere, DO blocks and function bodies aside. */
	scan_set_config_calls(sql, len, custom_names);
	return out;
}

uint64_t session_text_hash(const char *sql, size_t len, uint64_t key)
{
	uint64_t h = key ^ ((uint64_t)len * 0x9e3779b97f4a7c15ull);
	const char *p = sql;
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 29;
	}
	uint64_t tail = 0;
	memcpy(&tail, p, len);
	h = (h ^ tail ^ key) * 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 32;
	return h ? h : 1;
}

static bool tag_is(const uint8_t *tag, size_t len, const char *want, size_t n)
{
	return len >= n + 1 && memcmp(tag, want, n) == 0 && (tag[n] == '\0' || tag[n] == ' ');
}

/* Runs on every CommandComplete in transaction mode: the first letter rules
 * out the common tags (SELECT n, INSERT 0 n, UPDATE n...) at once. */
bool session_tag_changes_state(const uint8_t *tag, size_t len)
{
	if (len < 4)
		return false;
	switch (tag[0]) {
	case 'S':
		return tag[1] == 'E' && tag[2] == 'T' && tag[3] == '\0';
	case 'R':
		return tag_is(tag, len, "RESET", 5);
	case 'D':
		return tag_is(tag, len, "DISCARD", 7) || tag_is(tag, len, "DEALLOCATE", 10) ||
		       tag_is(tag, len, "DECLARE", 7);
	case 'P':
		return tag_is(tag, len, "PREPARE", 7);
	case 'L':
		return tag_is(tag, len, "LISTEN", 6) || tag_is(tag, len, "LOAD", 4);
	case 'U':
		return tag_is(tag, len, "UNLISTEN", 8);
	case 'C':
		return tag_is(tag, len, "CLOSE", 5);
	default:
		return false;
	}
}

/* ---- the probe ---- */

static void put_str(pktbuf_t *pb, const char *s)
{
	pktbuf_put_bytes(pb, s, strlen(s));
}

/* E'...' with quotes and backslashes doubled: no value can escape it. */
static void put_literal(pktbuf_t *pb, const char *s)
{
	pktbuf_put_bytes(pb, "E'", 2);
	for (const char *p = s; *p; p++) {
		if (*p == '\'' || *p == '\\')
			pktbuf_put_u8(pb, (uint8_t)*p);
		pktbuf_put_u8(pb, (uint8_t)*p);
	}
	pktbuf_put_u8(pb, '\'');
}

static void put_ident(pktbuf_t *pb, const char *s)
{
	pktbuf_put_u8(pb, '"');
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			pktbuf_put_u8(pb, '"');
		pktbuf_put_u8(pb, (uint8_t)*p);
	}
	pktbuf_put_u8(pb, '"');
}

static void put_custom_names(pktbuf_t *pb, const param_extras_t *ex, bool *first)
{
	uint32_t pos = 0;
	const char *name, *value;
	while (param_extras_next(ex, &pos, &name, &value)) {
		if (!strchr(name, '.'))
			continue;
		if (!*first)
			pktbuf_put_u8(pb, ',');
		*first = false;
		put_literal(pb, name);
	}
}

void session_probe_message(pktbuf_t *pb, const param_extras_t *known_gucs, const param_extras_t *custom_names)
{
	pktbuf_begin(pb, FE_QUERY);
	/* transaction_* settings show source "session" after SET TRANSACTION
	 * but belong to the transaction that is over. */
	put_str(pb, "SELECT 'g', name, setting FROM pg_catalog.pg_settings"
		    " WHERE source = 'session' AND name NOT LIKE 'transaction\\_%'"
		    " UNION ALL SELECT 'c', n, pg_catalog.current_setting(n, true)"
		    " FROM pg_catalog.unnest(ARRAY[");
	bool first = true;
	put_custom_names(pb, known_gucs, &first);
	put_custom_names(pb, custom_names, &first);
	put_str(pb, "]::text[]) AS n"
		    " UNION ALL SELECT 'p', name, statement FROM pg_catalog.pg_prepared_statements WHERE from_sql"
		    " UNION ALL SELECT 's', '', ("
		    "(SELECT count(*) FROM pg_catalog.pg_listening_channels())"
		    " + (SELECT count(*) FROM pg_catalog.pg_locks"
		    " WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid())"
		    " + (SELECT count(*) FROM pg_catalog.pg_cursors WHERE is_holdable)"
		    " + (SELECT count(*) FROM pg_catalog.pg_class"
		    " WHERE relnamespace = pg_catalog.pg_my_temp_schema())"
		    " + (current_user <> session_user)::int)::text");
	pktbuf_put_u8(pb, '\0');
	pktbuf_end(pb);
}

void session_snapshot_init(session_snapshot_t *s)
{
	memset(s, 0, sizeof(*s));
	s->state_count = -1;
}

void session_snapshot_clear(session_snapshot_t *s)
{
	param_extras_clear(&s->gucs);
	param_extras_clear(&s->prepared);
	session_snapshot_init(s);
}

/* The PREPARE statement named `name` within a text that may hold several
 * statements (pg_prepared_statements shows the whole query string). */
static bool extract_prepare(const char *text, size_t len, const char *name, char **out)
{
	sql_iter_t it;
	sql_stmt_t st;
	sql_iter_init(&it, text, len, NULL);
	while (sql_iter_next(&it, &st)) {
		if (st.cmd == SQL_CMD_PREPARE && strcmp(st.name, name) == 0) {
			*out = xstrndup(text + st.off, st.len);
			return true;
		}
	}
	return false;
}

void session_snapshot_row(session_snapshot_t *s, const uint8_t *body, size_t len)
{
	msg_reader_t r;
	msg_reader_init(&r, body, len);
	if (msg_read_u16(&r) != 3)
		return;
	char kind = 0;
	char *cols[2] = { NULL, NULL };
	for (int i = 0; i < 3; i++) {
		uint32_t n = msg_read_u32(&r);
		if (n == UINT32_MAX) /* NULL: a custom setting this backend never saw */
			goto out;
		const uint8_t *v = msg_read_bytes(&r, n);
		if (!v)
			goto out;
		if (i == 0)
			kind = n ? (char)v[0] : 0;
		else
			cols[i - 1] = xstrndup((const char *)v, n);
	}
	switch (kind) {
	case 'g':
		if (param_lookup(cols[0]) < 0) /* reported parameters are params.c's */
			param_extras_add(&s->gucs, cols[0], cols[1]);
		break;
	case 'c':
		param_extras_add(&s->gucs, cols[0], cols[1]);
		break;
	case 'p': {
		char *stmt = NULL;
		if (extract_prepare(cols[1], strlen(cols[1]), cols[0], &stmt)) {
			param_extras_add(&s->prepared, cols[0], stmt);
			free(stmt);
		}
		break;
	}
	case 's':
		s->state_count = strtol(cols[1], NULL, 10);
		break;
	default:
		break;
	}
out:
	free(cols[0]);
	free(cols[1]);
}

/* ---- re-applying ---- */

static const char *find_value(const param_extras_t *ex, const char *name)
{
	uint32_t pos = 0;
	const char *n, *v;
	while (param_extras_next(ex, &pos, &n, &v))
		if (strcasecmp(n, name) == 0)
			return v;
	return NULL;
}

void session_apply_startup(param_extras_t *gucs, const param_extras_t *startup)
{
	uint32_t pos = 0;
	const char *name, *value;
	while (param_extras_next(startup, &pos, &name, &value))
		if (!find_value(gucs, name))
			param_extras_add(gucs, name, value);
}

bool session_sync_sql(pktbuf_t *sql, const param_extras_t *have_gucs, const param_extras_t *want_gucs,
		      const param_extras_t *have_prep, const param_extras_t *want_prep)
{
	size_t start = sql->len;
	uint32_t pos = 0;
	const char *name, *value, *other;
	while (param_extras_next(have_gucs, &pos, &name, &value)) {
		if (find_value(want_gucs, name))
			continue;
		put_str(sql, "RESET ");
		put_ident(sql, name);
		put_str(sql, ";");
	}
	pos = 0;
	while (param_extras_next(want_gucs, &pos, &name, &value)) {
		other = find_value(have_gucs, name);
		if (other && strcmp(other, value) == 0)
			continue;
		/* set_config, not SET: SET search_path TO 'a, b' would make one
		 * schema named "a, b" of the list. */
		put_str(sql, "SELECT pg_catalog.set_config(");
		put_literal(sql, name);
		pktbuf_put_u8(sql, ',');
		put_literal(sql, value);
		put_str(sql, ", false);");
	}
	pos = 0;
	while (param_extras_next(have_prep, &pos, &name, &value)) {
		other = find_value(want_prep, name);
		if (other && strcmp(other, value) == 0)
			continue;
		put_str(sql, "DEALLOCATE ");
		put_ident(sql, name);
		put_str(sql, ";");
	}
	pos = 0;
	while (param_extras_next(want_prep, &pos, &name, &value)) {
		other = find_value(have_prep, name);
		if (other && strcmp(other, value) == 0)
			continue;
		/* The client's own PREPARE text; a newline ends a trailing
		 * line comment before the separator. */
		put_str(sql, value);
		put_str(sql, "\n;");
	}
	return sql->len > start;
}

/*
 * fuzz_sqlclass.c - the SQL lexer, statement iterator, summary, pre-filter
 * and deny-list parser on arbitrary text.
 *
 * The input is the text of a Query message (no NUL needed; one inside is
 * just a byte). Besides memory safety (the text is passed in a buffer of
 * exactly its size) this checks what pgtide relies on:
 *  - every token and statement lies inside the text, in order, without
 *    overlap; the lexer always makes progress and ends at the end;
 *  - statement names are NUL-terminated, at most 63 bytes, and their token
 *    and PREPARE's body lie inside the statement; flags are consistent with
 *    the command (state_what iff SESSION_STATE, TXN_READ_ONLY only on BEGIN,
 *    READ_ONLY only on SELECT/SHOW/EXPLAIN and never when ambiguous);
 *  - sql_summarize agrees with iterating the statements;
 *  - the pre-filter: if the text has a statement with a session flag or a
 *    PREPARE / EXECUTE / DEALLOCATE, sql_may_touch_session says true;
 *  - the deny list only decides READ_ONLY, monotonically: read-only when
 *    every call is denied implies read-only with the default list, which
 *    implies read-only when nothing is denied; all other fields agree.
 * The input, NUL-terminated, is also parsed as a deny list.
 */
#include "fuzz_common.h"
#include "sqlclass.h"

#define KNOWN_FLAGS                                                                        \
	(SQLF_READ_ONLY | SQLF_TXN_READ_ONLY | SQLF_SESSION_GUC | SQLF_SESSION_STATE |     \
	 SQLF_STATE_RELEASE | SQLF_DEALLOCATE_ALL | SQLF_LEX_AMBIGUOUS)
#define SESSION_FLAGS                                                                      \
	(SQLF_SESSION_GUC | SQLF_SESSION_STATE | SQLF_STATE_RELEASE | SQLF_DEALLOCATE_ALL)

static void check_tokens(const char *sql, size_t size)
{
	sql_lexer_t lx;
	sql_token_t t;
	size_t last_end = 0, n = 0;

	sql_lexer_init(&lx, sql, size);
	while (sql_lex_next(&lx, &t) != SQL_TOK_END) {
		FUZZ_CHECK(t.type > SQL_TOK_END && t.type <= SQL_TOK_ERROR);
		FUZZ_CHECK(t.len > 0);
		FUZZ_CHECK(t.off >= last_end && (size_t)t.off + t.len <= size);
		/* an error token is unterminated: it runs to the end */
		FUZZ_CHECK(t.type != SQL_TOK_ERROR || (size_t)t.off + t.len == size);
		last_end = (size_t)t.off + t.len;
		FUZZ_CHECK(++n <= size);
	}
	FUZZ_CHECK(t.off == size && t.len == 0);
	FUZZ_CHECK(sql_lex_next(&lx, &t) == SQL_TOK_END && t.off == size);
}

static void check_statement(const sql_stmt_t *st, size_t prev_end, size_t size)
{
	size_t end = (size_t)st->off + st->len;

	FUZZ_CHECK(st->off >= prev_end && st->len > 0 && end <= size);
	FUZZ_CHECK(st->cmd > SQL_CMD_EMPTY && st->cmd <= SQL_CMD_DELETE);
	FUZZ_CHECK((st->flags & ~KNOWN_FLAGS) == 0);
	FUZZ_CHECK(memchr(st->name, 0, sizeof(st->name)) != NULL && strlen(st->name) <= 63);
	if (st->name_len) {
		FUZZ_CHECK(st->cmd == SQL_CMD_PREPARE || st->cmd == SQL_CMD_EXECUTE ||
			   st->cmd == SQL_CMD_DEALLOCATE);
		FUZZ_CHECK(st->name_off >= st->off && (size_t)st->name_off + st->name_len <= end);
	} else {
		FUZZ_CHECK(st->name_off == 0 && st->name[0] == '\0');
	}
	if (st->body_off) {
		FUZZ_CHECK(st->cmd == SQL_CMD_PREPARE);
		FUZZ_CHECK(st->body_off > st->off && st->body_off < end);
	}
	FUZZ_CHECK((st->state_what != NULL) == ((st->flags & SQLF_SESSION_STATE) != 0));
	if (st->flags & SQLF_TXN_READ_ONLY)
		FUZZ_CHECK(st->cmd == SQL_CMD_BEGIN);
	if (st->flags & SQLF_DEALLOCATE_ALL)
		FUZZ_CHECK(st->cmd == SQL_CMD_DISCARD || st->cmd == SQL_CMD_DEALLOCATE);
	if (st->flags & SQLF_READ_ONLY) {
		FUZZ_CHECK(st->cmd == SQL_CMD_SELECT || st->cmd == SQL_CMD_SHOW ||
			   st->cmd == SQL_CMD_EXPLAIN);
		FUZZ_CHECK(!(st->flags & SQLF_LEX_AMBIGUOUS));
	}
}

static bool same_but_read_only(const sql_stmt_t *a, const sql_stmt_t *b)
{
	return a->cmd == b->cmd && a->off == b->off && a->len == b->len &&
	       ((a->flags ^ b->flags) & ~SQLF_READ_ONLY) == 0 && strcmp(a->name, b->name) == 0 &&
	       a->name_off == b->name_off && a->name_len == b->name_len &&
	       a->body_off == b->body_off && a->state_what == b->state_what;
}

/* Iterates with three deny lists in step; returns what the summary must say. */
static void check_statements(const char *sql, size_t size, const sql_denylist_t *all,
			     const sql_denylist_t *none, sql_summary_t *expect, bool *session)
{
	sql_iter_t it, it_all, it_none;
	sql_stmt_t st, st_all, st_none;
	size_t prev_end = 0;
	bool all_ro = true;

	memset(expect, 0, sizeof(*expect));
	expect->first.cmd = SQL_CMD_EMPTY;
	*session = false;
	sql_iter_init(&it, sql, size, NULL);
	sql_iter_init(&it_all, sql, size, all);
	sql_iter_init(&it_none, sql, size, none);
	while (sql_iter_next(&it, &st)) {
		FUZZ_CHECK(sql_iter_next(&it_all, &st_all) && sql_iter_next(&it_none, &st_none));
		check_statement(&st, prev_end, size);
		FUZZ_CHECK(same_but_read_only(&st, &st_all) && same_but_read_only(&st, &st_none));
		if (st_all.flags & SQLF_READ_ONLY)
			FUZZ_CHECK(st.flags & SQLF_READ_ONLY);
		if (st.flags & SQLF_READ_ONLY)
			FUZZ_CHECK(st_none.flags & SQLF_READ_ONLY);
		prev_end = (size_t)st.off + st.len;
		if (expect->n_statements++ == 0)
			expect->first = st;
		expect->flags_any |= st.flags;
		all_ro &= (st.flags & SQLF_READ_ONLY) != 0;
		if (!expect->state_what)
			expect->state_what = st.state_what;
		*session |= (st.flags & SESSION_FLAGS) || st.cmd == SQL_CMD_PREPARE ||
			    st.cmd == SQL_CMD_EXECUTE || st.cmd == SQL_CMD_DEALLOCATE;
		FUZZ_CHECK(expect->n_statements <= size);
	}
	FUZZ_CHECK(!sql_iter_next(&it_all, &st_all) && !sql_iter_next(&it_none, &st_none));
	FUZZ_CHECK(!sql_iter_next(&it, &st)); /* stays at the end */
	expect->all_read_only = expect->n_statements > 0 && all_ro;
}

static void check_summary(const char *sql, size_t size, const sql_summary_t *expect)
{
	sql_summary_t sum;

	memset(&sum, 0x5a, sizeof(sum)); /* no field may be left unset */
	sql_summarize(sql, size, NULL, &sum);
	FUZZ_CHECK(sum.n_statements == expect->n_statements);
	FUZZ_CHECK(sum.flags_any == expect->flags_any);
	FUZZ_CHECK(sum.all_read_only == expect->all_read_only);
	FUZZ_CHECK(sum.state_what == expect->state_what);
	FUZZ_CHECK(sum.first.cmd == expect->first.cmd);
	if (expect->n_statements)
		FUZZ_CHECK(same_but_read_only(&sum.first, &expect->first) &&
			   sum.first.flags == expect->first.flags);
}

/* The input as a deny list: parsing never fails, and matching is safe. */
static void check_denylist_parse(const uint8_t *data, size_t size)
{
	char *text = fuzz_dup_str(data, size);
	sql_denylist_t *d = sql_denylist_new(text);

	(void)sql_denylist_match(d, "", 0);
	(void)sql_denylist_match(d, text, strlen(text));
	(void)sql_denylist_match(d, "nextval", 7);
	sql_denylist_free(d);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *sql = (const char *)data;
	sql_denylist_t *all = sql_denylist_new("*");
	sql_denylist_t *none = sql_denylist_new("");
	sql_summary_t expect;
	bool session;

	check_tokens(sql, size);
	check_statements(sql, size, all, none, &expect, &session);
	check_summary(sql, size, &expect);
	/* a false negative would let session state leak between clients */
	if (session)
		FUZZ_CHECK(sql_may_touch_session(sql, size));
	check_denylist_parse(data, size);
	sql_denylist_free(all);
	sql_denylist_free(none);
	return 0;
}

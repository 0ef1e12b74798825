/*
 * test_sqlclass.c - the SQL lexer, statement splitting, read-only and
 * session-state classification, statement names, the deny list, and the
 * pre-filter's promise never to miss what the classifier would flag.
 *
 * The tables are the specification: every classification case states the
 * exact command and the exact flag set, so a flag gained is as much a
 * failure as a flag lost.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sqlclass.h"

#define RO SQLF_READ_ONLY
#define TRO SQLF_TXN_READ_ONLY
#define GUC SQLF_SESSION_GUC
#define ST SQLF_SESSION_STATE
#define REL SQLF_STATE_RELEASE
#define DA SQLF_DEALLOCATE_ALL
#define AMB SQLF_LEX_AMBIGUOUS
#define SESSION_FLAGS (GUC | ST | REL | DA)

#define CHECK(cond, ...)                                                                    \
	do {                                                                                \
		if (!(cond))                                                                \
			fail_msg(__VA_ARGS__);                                              \
	} while (0)

/* A heap copy of exactly the text's bytes (no NUL after it), so the
 * sanitizer build reports any read past the length. */
static char *exact_copy(const char *s, size_t len)
{
	char *p = malloc(len ? len : 1);

	assert_non_null(p);
	memcpy(p, s, len);
	return p;
}

/* ---- lexer ---- */

static char type_letter(sql_tok_type_t t)
{
	static const char letters[] = "-WQSNP;(),.OE";

	return t <= SQL_TOK_ERROR ? letters[t] : '?';
}

typedef struct lex_case {
	const char *sql;
	const char *tokens[16]; /* "<type letter> <text>", NULL-terminated */
} lex_case_t;

static const lex_case_t lex_cases[] = {
	{ "SELECT 1", { "W SELECT", "N 1" } },
	{ "select a.b, \"C\"\"d\" from t;",
	  { "W select", "W a", ". .", "W b", ", ,", "Q \"C\"\"d\"", "W from", "W t", "; ;" } },
	{ "'it''s'", { "S 'it''s'" } },
	{ "E'\\''", { "S E'\\''" } },
	{ "e'\\\\' x", { "S e'\\\\'", "W x" } },
	{ "E'a\\'b' c", { "S E'a\\'b'", "W c" } },
	/* standard strings take no backslash escapes */
	{ "'\\' y'", { "S '\\'", "W y", "E '" } },
	{ "'\\' x'", { "S '\\'", "E x'" } }, /* x' opens a hex string */
	{ "B'1010' X'ff' N'nat' U&'d\\0061t'", { "S B'1010'", "S X'ff'", "S N'nat'", "S U&'d\\0061t'" } },
	{ "n'x' N'y' n", { "S n'x'", "S N'y'", "W n" } },
	{ "U&\"d\\0061t\" UESCAPE '!'", { "Q U&\"d\\0061t\"", "W UESCAPE", "S '!'" } },
	{ "u&x", { "W u", "O &", "W x" } },
	{ "eb'x'", { "W eb", "S 'x'" } },
	/* dollar quotes */
	{ "$$a;b$$", { "S $$a;b$$" } },
	{ "$tag$ $$ ; $tag$ x", { "S $tag$ $$ ; $tag$", "W x" } },
	{ "$a$ $b$ $a$", { "S $a$ $b$ $a$" } },
	{ "$a$ $ab$ $a$", { "S $a$ $ab$ $a$" } },
	{ "$_$x$_$", { "S $_$x$_$" } },
	{ "$a$unterminated", { "E $a$unterminated" } },
	{ "$$", { "E $$" } },
	{ "$$ $a$", { "E $$ $a$" } },
	{ "a$b$ $$x$$", { "W a$b$", "S $$x$$" } },
	/* parameters and lone dollars */
	{ "$1 $23::int", { "P $1", "P $23", "O ::", "W int" } },
	{ "$1a", { "P $1", "W a" } },
	{ "$", { "O $" } },
	{ "$ab c", { "O $", "W ab", "W c" } },
	{ "$1$", { "P $1", "O $" } },
	/* comments */
	{ "/* a /* nested */ still */ x", { "W x" } },
	{ "/*/ x */ y", { "W y" } },
	{ "/**/x/***/", { "W x" } },
	{ "/* unterminated /* */", { "E /* unterminated /* */" } },
	{ "x /* unterminated", { "W x", "E /* unterminated" } },
	{ "x -- comment", { "W x" } },
	{ "x --", { "W x" } },
	{ "x --c\ny", { "W x", "W y" } },
	{ "x --c\ry", { "W x", "W y" } },
	{ "-- only", { NULL } },
	{ "", { NULL } },
	{ " \t\r\n\f\v", { NULL } },
	/* operators stop where a comment starts */
	{ "1+-- c\n2", { "N 1", "O +", "N 2" } },
	{ "a+/*c*/b", { "W a", "O +", "W b" } },
	{ "x*/*c*/y", { "W x", "O *", "W y" } },
	{ "*/", { "O */" } },
	{ "a <> b != c >= d ~~* e", { "W a", "O <>", "W b", "O !=", "W c", "O >=", "W d", "O ~~*", "W e" } },
	{ "x::text[]", { "W x", "O ::", "W text", "O [", "O ]" } },
	{ "a := 1 => 2", { "W a", "O :=", "N 1", "O =>", "N 2" } },
	{ "(a,b);", { "( (", "W a", ", ,", "W b", ") )", "; ;" } },
	{ "\\x {}", { "O \\", "W x", "O {", "O }" } },
	/* numbers */
	{ "1.5e-3 .5 1. 0x1F 0o17 0b101 1_000",
	  { "N 1.5e-3", "N .5", "N 1.", "N 0x1F", "N 0o17", "N 0b101", "N 1_000" } },
	{ "1e 1..2 1e+", { "N 1", "W e", "N 1", "O ..", "N 2", "N 1", "W e", "O +" } },
	{ "1for", { "N 1", "W for" } },
	{ "0x 0xg", { "N 0", "W x", "N 0", "W xg" } },
	{ "t.1", { "W t", "N .1" } },
	/* string continuation: a newline between two quotes joins them */
	{ "'a'\n'b'", { "S 'a'\n'b'" } },
	{ "'a' 'b'", { "S 'a'", "S 'b'" } },
	{ "'a' -- c\n  'b'", { "S 'a' -- c\n  'b'" } },
	{ "'a' /* c */\n'b'", { "S 'a'", "S 'b'" } },
	{ "'a'\v\n'b'", { "S 'a'", "S 'b'" } },
	{ "'a'\n\v'b'", { "S 'a'\n\v'b'" } },
	{ "'a'\n-- c\n'b'", { "S 'a'\n-- c\n'b'" } },
	{ "'a'\n", { "S 'a'" } },
	{ "E'x'\n'\\'' y", { "S E'x'\n'\\''", "W y" } },
	{ "'x'\n'\\' y", { "S 'x'\n'\\'", "W y" } },
	/* unterminated */
	{ "\"unterminated", { "E \"unterminated" } },
	{ "\"a\"\"", { "E \"a\"\"" } },
	{ "'unterminated", { "E 'unterminated" } },
	{ "'a''", { "E 'a''" } },
	{ "E'\\", { "E E'\\" } },
	{ "E'\\'", { "E E'\\'" } },
	{ "U&'x", { "E U&'x" } },
	{ "U&\"x", { "E U&\"x" } },
	/* identifiers */
	{ "\xc3\xbc_tbl _x x1$", { "W \xc3\xbc_tbl", "W _x", "W x1$" } },
	{ "SELECT\t1\r\n;\f", { "W SELECT", "N 1", "; ;" } },
};

static void render_token(char *buf, size_t cap, const char *sql, const sql_token_t *t)
{
	snprintf(buf, cap, "%c %.*s", type_letter(t->type), (int)t->len, sql + t->off);
}

static void lex_check(const char *sql, size_t len, const char *const *expected, size_t ci)
{
	char *copy = exact_copy(sql, len);
	sql_lexer_t lx;
	sql_token_t t;
	size_t i = 0, last_end = 0;
	char got[256];

	sql_lexer_init(&lx, copy, len);
	while (sql_lex_next(&lx, &t) != SQL_TOK_END) {
		render_token(got, sizeof(got), copy, &t);
		CHECK(t.off >= last_end && t.off + t.len <= len && t.len > 0,
		      "case %zu [%s]: token %zu out of place", ci, sql, i);
		last_end = t.off + t.len;
		CHECK(i < 15 && expected[i] != NULL, "case %zu [%s]: extra token '%s'", ci, sql, got);
		CHECK(strcmp(got, expected[i]) == 0, "case %zu [%s]: token %zu is '%s', want '%s'", ci,
		      sql, i, got, expected[i]);
		i++;
	}
	CHECK(expected[i] == NULL, "case %zu [%s]: missing token '%s'", ci, sql, expected[i]);
	CHECK(t.off == len && t.len == 0, "case %zu: END token not at the end", ci);
	/* END stays END */
	assert_int_equal(sql_lex_next(&lx, &t), SQL_TOK_END);
	free(copy);
}

static void test_lex_table(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(lex_cases); i++)
		lex_check(lex_cases[i].sql, strlen(lex_cases[i].sql), lex_cases[i].tokens, i);
}

/* A NUL inside the length is just a byte, not an end of the text. */
static void test_lex_nul(void **state)
{
	const char sql[] = "a\0b '\0' \"\0\"";
	static const sql_tok_type_t want[] = { SQL_TOK_WORD, SQL_TOK_OP, SQL_TOK_WORD,
					       SQL_TOK_STRING, SQL_TOK_QIDENT, SQL_TOK_END };
	sql_lexer_t lx;
	sql_token_t t;

	sql_lexer_init(&lx, sql, sizeof(sql) - 1);
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		assert_int_equal(sql_lex_next(&lx, &t), want[i]);
	sql_lexer_init(&lx, sql, sizeof(sql) - 1);
	sql_lex_next(&lx, &t);
	sql_lex_next(&lx, &t);
	assert_int_equal(t.off, 1);
	assert_int_equal(t.len, 1);
}

/* Every prefix of every case lexes inside its bounds: cut strings, comments
 * and dollar quotes become errors, never reads past the end. */
static void test_lex_prefixes_stay_in_bounds(void **state)
{
	for (size_t c = 0; c < ARRAY_SIZE(lex_cases); c++) {
		const char *sql = lex_cases[c].sql;
		size_t full = strlen(sql);

		for (size_t len = 0; len <= full; len++) {
			char *copy = exact_copy(sql, len);
			sql_lexer_t lx;
			sql_token_t t;
			size_t last_end = 0, n = 0;

			sql_lexer_init(&lx, copy, len);
			while (sql_lex_next(&lx, &t) != SQL_TOK_END) {
				CHECK(t.off >= last_end && t.off + t.len <= len && t.len > 0,
				      "[%s] cut at %zu: token out of bounds", sql, len);
				last_end = t.off + t.len;
				CHECK(++n <= len, "[%s] cut at %zu: no progress", sql, len);
			}
			free(copy);
		}
	}
}

static void test_lex_cut_inside_tokens(void **state)
{
	/* "SELECT 'abc'" cut inside the string is unterminated */
	lex_check("SELECT 'abc'", 10, (const char *const[]){ "W SELECT", "E 'ab", NULL }, 0);
	lex_check("$$x$$", 4, (const char *const[]){ "E $$x$", NULL }, 0);
	lex_check("/* */", 4, (const char *const[]){ "E /* *", NULL }, 0);
	lex_check("\"ab\"", 3, (const char *const[]){ "E \"ab", NULL }, 0);
	lex_check("E'\\'", 3, (const char *const[]){ "E E'\\", NULL }, 0);
	lex_check("x--", 2, (const char *const[]){ "W x", "O -", NULL }, 0);
	lex_check("x/*", 2, (const char *const[]){ "W x", "O /", NULL }, 0);
	lex_check("'a'\n'b'", 4, (const char *const[]){ "S 'a'", NULL }, 0);
	lex_check("'a'\n'b'", 5, (const char *const[]){ "E 'a'\n'", NULL }, 0);
}

static void test_tok_is(void **state)
{
	const char *sql = "Select \"select\" selects 'select' SELECT";
	sql_lexer_t lx;
	sql_token_t t[5];

	sql_lexer_init(&lx, sql, strlen(sql));
	for (int i = 0; i < 5; i++)
		sql_lex_next(&lx, &t[i]);
	assert_true(sql_tok_is(&lx, &t[0], "select"));
	assert_false(sql_tok_is(&lx, &t[1], "select")); /* quoted */
	assert_false(sql_tok_is(&lx, &t[2], "select"));
	assert_false(sql_tok_is(&lx, &t[3], "select")); /* a string */
	assert_true(sql_tok_is(&lx, &t[4], "select"));
	assert_false(sql_tok_is(&lx, &t[4], "selec"));
	assert_false(sql_tok_is(&lx, &t[4], "selectx"));
}

/* ---- statement splitting ---- */

typedef struct split_case {
	const char *sql;
	const char *statements[6];
} split_case_t;

static const split_case_t split_cases[] = {
	{ "SELECT 1; SELECT 2", { "SELECT 1", "SELECT 2" } },
	{ ";;SELECT 1;;", { "SELECT 1" } },
	{ "SELECT 1", { "SELECT 1" } },
	{ "", { NULL } },
	{ ";", { NULL } },
	{ "/* only */ ; -- c", { NULL } },
	{ "  -- lead\n SELECT 1 /* trail */ ; ", { "SELECT 1" } },
	{ "SELECT ';'; SELECT 2", { "SELECT ';'", "SELECT 2" } },
	{ "SELECT $$;$$; SELECT $x$;$$;$x$", { "SELECT $$;$$", "SELECT $x$;$$;$x$" } },
	{ "SELECT /* ; */ 1; SELECT 2", { "SELECT /* ; */ 1", "SELECT 2" } },
	{ "SELECT 1 -- ;\n; SELECT 2", { "SELECT 1", "SELECT 2" } },
	{ "SELECT \"a;b\" FROM t; SELECT 2", { "SELECT \"a;b\" FROM t", "SELECT 2" } },
	{ "SELECT E'\\';'; SELECT 2", { "SELECT E'\\';'", "SELECT 2" } },
	{ "SELECT 'a'\n';'; SELECT 2", { "SELECT 'a'\n';'", "SELECT 2" } },
	{ "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); UPDATE b SET x = 1); SELECT 1",
	  { "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); UPDATE b SET x = 1)",
	    "SELECT 1" } },
	/* an unbalanced ')' cannot hide what follows */
	{ "SELECT 1); SELECT 2", { "SELECT 1)", "SELECT 2" } },
	{ "SELECT (1; SELECT 2", { "SELECT (1; SELECT 2" } },
	{ "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; "
	  "SELECT CASE WHEN true THEN 1 END; END; SELECT 2",
	  { "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; "
	    "SELECT CASE WHEN true THEN 1 END; END",
	    "SELECT 2" } },
	{ "create or replace procedure p() language sql begin atomic insert into t values (1); end; call p()",
	  { "create or replace procedure p() language sql begin atomic insert into t values (1); end",
	    "call p()" } },
	/* only BEGIN ATOMIC opens a body: a function called begin does not */
	{ "CREATE FUNCTION begin() RETURNS int LANGUAGE sql RETURN 1; SET ROLE admin",
	  { "CREATE FUNCTION begin() RETURNS int LANGUAGE sql RETURN 1", "SET ROLE admin" } },
	/* and BEGIN ATOMIC only counts in CREATE FUNCTION / PROCEDURE */
	{ "SELECT begin atomic; SELECT 2", { "SELECT begin atomic", "SELECT 2" } },
	{ "BEGIN; SELECT 1; END;", { "BEGIN", "SELECT 1", "END" } },
	{ "SELECT 'unterminated; SELECT 2", { "SELECT 'unterminated; SELECT 2" } },
	{ "SELECT 1; /* unterminated", { "SELECT 1", "/* unterminated" } },
	{ "DO $f$ BEGIN PERFORM 1; END $f$; SELECT 1", { "DO $f$ BEGIN PERFORM 1; END $f$", "SELECT 1" } },
};

static void test_split_table(void **state)
{
	for (size_t c = 0; c < ARRAY_SIZE(split_cases); c++) {
		const split_case_t *sc = &split_cases[c];
		size_t len = strlen(sc->sql), i = 0;
		char *copy = exact_copy(sc->sql, len);
		sql_iter_t it;
		sql_stmt_t st;

		sql_iter_init(&it, copy, len, NULL);
		while (sql_iter_next(&it, &st)) {
			CHECK(st.off + st.len <= len, "[%s]: statement out of bounds", sc->sql);
			CHECK(i < 5 && sc->statements[i], "[%s]: extra statement '%.*s'", sc->sql,
			      (int)st.len, copy + st.off);
			CHECK(st.len == strlen(sc->statements[i]) &&
				      memcmp(copy + st.off, sc->statements[i], st.len) == 0,
			      "[%s]: statement %zu is '%.*s', want '%s'", sc->sql, i, (int)st.len,
			      copy + st.off, sc->statements[i]);
			CHECK(st.cmd != SQL_CMD_EMPTY, "[%s]: empty statement returned", sc->sql);
			i++;
		}
		CHECK(sc->statements[i] == NULL, "[%s]: missing '%s'", sc->sql, sc->statements[i]);
		assert_false(sql_iter_next(&it, &st));
		free(copy);
	}
}

/* ---- classification ---- */

typedef struct class_case {
	const char *sql;
	sql_cmd_t cmd;
	uint32_t flags;         /* exactly */
	const char *state_what; /* when ST */
} class_case_t;

static const class_case_t class_cases[] = {
	/* read-only */
	{ "SELECT 1", SQL_CMD_SELECT, RO, NULL },
	{ "select 1", SQL_CMD_SELECT, RO, NULL },
	{ "SeLeCt 1", SQL_CMD_SELECT, RO, NULL },
	{ "SELECT abalance FROM pgbench_accounts WHERE aid = 42", SQL_CMD_SELECT, RO, NULL },
	{ "SELECT * FROM t WHERE a = $1 AND b = ANY($2)", SQL_CMD_SELECT, RO, NULL },
	{ "VALUES (1), (2)", SQL_CMD_SELECT, RO, NULL },
	{ "TABLE t", SQL_CMD_SELECT, RO, NULL },
	{ "(SELECT 1) UNION (SELECT 2)", SQL_CMD_SELECT, RO, NULL },
	{ "((VALUES (1)))", SQL_CMD_SELECT, RO, NULL },
	{ "SELECT /* FOR UPDATE */ 1", SQL_CMD_SELECT, RO, NULL },
	{ "SELECT 1 -- FOR UPDATE", SQL_CMD_SELECT, RO, NULL },
	{ "SELECT 'FOR UPDATE'", SQL_CMD_SELECT, RO, NULL },
	{ "SELECT $$ FOR UPDATE $$", SQL_CMD_SELECT, RO, NULL },
	{ "SELECT $x$ $$ FOR UPDATE $$ $x$", SQL_CMD_SELECT, RO, NULL },
	{ "SELECT \"for\", \"update\", \"into\" FROM t", SQL_CMD_SELECT, RO, NULL },
	{ "SELECT 1 /* a /* nested */ FOR UPDATE */", SQL_CMD_SELECT, RO, NULL },
	{ "SELECT E'\\' FOR UPDATE'", SQL_CMD_SELECT, RO, NULL },
	{ "SELECT 1 FOR READ ONLY", SQL_CMD_SELECT, RO, NULL },
	{ "SELECT count(*) FROM t GROUP BY a HAVING count(*) > 1 ORDER BY 1 LIMIT 5 OFFSET 10",
	  SQL_CMD_SELECT, RO, NULL },
	{ "SELECT * FROM generate_series(1, 10) g JOIN LATERAL (SELECT g) s ON true", SQL_CMD_SELECT,
	  RO, NULL },
	{ "SELECT pg_sleep(0.1), now(), current_setting('search_path')", SQL_CMD_SELECT, RO, NULL },
	{ "SELECT '\\d+' ~ 'x', '\\\\'", SQL_CMD_SELECT, RO, NULL },
	{ "SELECT E'\\x41', B'1010', X'ff', N'x', U&'d\\0061t'", SQL_CMD_SELECT, RO, NULL },
	{ "SELECT 'a'\n'b', 1.5e10, .5, 0x1F", SQL_CMD_SELECT, RO, NULL },
	{ "SELECT 'caf\xc3\xa9', \"t\xc3\xa4\"", SQL_CMD_SELECT, RO, NULL },
	{ "SELECT \"NEXTVAL\"('s')", SQL_CMD_SELECT, RO, NULL }, /* another function */
	{ "SELECT nextval_of(1), my.nextvalue(2)", SQL_CMD_SELECT, RO, NULL },
	{ "SELECT nextval FROM t", SQL_CMD_SELECT, RO, NULL },       /* a column */
	{ "SELECT 'set_config'", SQL_CMD_SELECT, RO | GUC, NULL },   /* mentioned in a string */
	{ "SELECT 1 AS set_config", SQL_CMD_SELECT, RO | GUC, NULL }, /* a name, last in the text */
	{ "SHOW search_path", SQL_CMD_SHOW, RO, NULL },
	{ "show all", SQL_CMD_SHOW, RO, NULL },
	{ "EXPLAIN SELECT 1", SQL_CMD_EXPLAIN, RO, NULL },
	{ "EXPLAIN ANALYZE SELECT 1", SQL_CMD_EXPLAIN, RO, NULL },
	{ "explain analyse verbose select * from t", SQL_CMD_EXPLAIN, RO, NULL },
	{ "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM t", SQL_CMD_EXPLAIN, RO, NULL },
	{ "EXPLAIN INSERT INTO t VALUES (1)", SQL_CMD_EXPLAIN, RO, NULL }, /* only planned */
	{ "EXPLAIN (FORMAT JSON) UPDATE t SET a = 1", SQL_CMD_EXPLAIN, RO, NULL },
	{ "EXPLAIN VERBOSE DELETE FROM t", SQL_CMD_EXPLAIN, RO, NULL },
	{ "EXPLAIN SELECT nextval('s')", SQL_CMD_EXPLAIN, RO, NULL },
	{ "EXPLAIN ANALYZE WITH x AS (SELECT 1) SELECT * FROM x", SQL_CMD_EXPLAIN, RO, NULL },
	{ "WITH x AS (SELECT 1) SELECT * FROM x", SQL_CMD_SELECT, RO, NULL },
	{ "with recursive r(n) as (select 1 union all select n + 1 from r where n < 10) select * from r",
	  SQL_CMD_SELECT, RO, NULL },
	{ "WITH a AS (SELECT 1), b AS MATERIALIZED (SELECT 2) SELECT * FROM a, b", SQL_CMD_SELECT, RO,
	  NULL },
	{ "WITH a AS NOT MATERIALIZED (SELECT 1) VALUES (1)", SQL_CMD_SELECT, RO, NULL },
	{ "WITH x AS (SELECT 1) TABLE x", SQL_CMD_SELECT, RO, NULL },
	{ "WITH x AS (SELECT 1) (SELECT * FROM x)", SQL_CMD_SELECT, RO, NULL },
	{ "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) "
	  "SEARCH DEPTH FIRST BY n SET ord SELECT * FROM t",
	  SQL_CMD_SELECT, RO, NULL },
	{ "(WITH x AS (SELECT 1) SELECT * FROM x)", SQL_CMD_SELECT, RO, NULL },

	/* locking clauses */
	{ "SELECT 1 FOR UPDATE", SQL_CMD_SELECT, 0, NULL },
	{ "select * from t for update skip locked", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT * FROM t FOR NO KEY UPDATE", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT * FROM t FOR SHARE", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT * FROM t FOR KEY SHARE NOWAIT", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT * FROM t FOR UPDATE OF t", SQL_CMD_SELECT, 0, NULL },
	{ "Select 1 For Update", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT 1 FOR\nUPDATE", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT 1 FOR/**/UPDATE", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT 1 FOR -- c\n SHARE", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT * FROM (SELECT * FROM t FOR UPDATE) s", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT * FROM t WHERE a IN (SELECT b FROM u FOR SHARE)", SQL_CMD_SELECT, 0, NULL },
	{ "TABLE t FOR KEY SHARE", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT 'x' FOR UPDATE", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT $$x$$ FOR UPDATE", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT 1for update", SQL_CMD_SELECT, 0, NULL },

	/* data-modifying CTEs and main statements */
	{ "WITH x AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM x", SQL_CMD_SELECT, 0, NULL },
	{ "WITH x AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM x", SQL_CMD_SELECT, 0, NULL },
	{ "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", SQL_CMD_SELECT, 0, NULL },
	{ "WITH x AS (MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE RETURNING *) SELECT 1",
	  SQL_CMD_SELECT, 0, NULL },
	{ "WITH x AS (SELECT 1), y AS (INSERT INTO t SELECT * FROM x RETURNING 1) SELECT * FROM y",
	  SQL_CMD_SELECT, 0, NULL },
	{ "with x as (select 1), y as (delete from t) select 1", SQL_CMD_SELECT, 0, NULL },
	{ "WITH update AS (SELECT 1) SELECT * FROM update", SQL_CMD_SELECT, 0, NULL },
	{ "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", SQL_CMD_INSERT, 0, NULL },
	{ "WITH x AS (SELECT 1) UPDATE t SET a = 1", SQL_CMD_UPDATE, 0, NULL },
	{ "WITH x AS (SELECT 1) DELETE FROM t", SQL_CMD_DELETE, 0, NULL },
	{ "WITH delete AS (SELECT 1), insert AS (SELECT 2) SELECT 3", SQL_CMD_SELECT, 0, NULL },
	{ "WITH x AS (SELECT 1) MERGE INTO t USING x ON true WHEN MATCHED THEN DO NOTHING",
	  SQL_CMD_OTHER, 0, NULL },
	{ "INSERT INTO t VALUES (1)", SQL_CMD_INSERT, 0, NULL },
	{ "insert into t select * from u", SQL_CMD_INSERT, 0, NULL },
	{ "UPDATE t SET a = 1", SQL_CMD_UPDATE, 0, NULL },
	{ "DELETE FROM t", SQL_CMD_DELETE, 0, NULL },
	{ "MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE", SQL_CMD_OTHER, 0, NULL },

	/* SELECT INTO */
	{ "SELECT * INTO t2 FROM t", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT * INTO TEMP t2 FROM t", SQL_CMD_SELECT, ST, "SELECT INTO TEMP" },
	{ "SELECT 1 AS a INTO TEMPORARY TABLE t2", SQL_CMD_SELECT, ST, "SELECT INTO TEMP" },
	{ "SELECT 1 INTO LOCAL TEMP t2", SQL_CMD_SELECT, ST, "SELECT INTO TEMP" },
	{ "SELECT 1 INTO pg_temp.t2", SQL_CMD_SELECT, ST, "SELECT INTO TEMP" },
	{ "SELECT 1 INTO UNLOGGED t2", SQL_CMD_SELECT, 0, NULL },
	{ "INSERT INTO temp VALUES (1)", SQL_CMD_INSERT, 0, NULL },

	/* deny-listed functions */
	{ "SELECT nextval('s')", SQL_CMD_SELECT, 0, NULL },
	{ "select NEXTVAL('s')", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT pg_catalog.nextval('s')", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT \"pg_catalog\".\"nextval\"('s')", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT nextval ('s')", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT nextval/* c */('s')", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT U&\"nextv\\0061l\"('s')", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT U&\"nextv!0061l\" UESCAPE '!' ('s')", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT setval('s', 1)", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT currval('s'), lastval()", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT a FROM t WHERE b = nextval('s')", SQL_CMD_SELECT, 0, NULL },
	{ "VALUES (nextval('s'))", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT pg_advisory_xact_lock(1)", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT pg_try_advisory_xact_lock(1)", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT lo_import('/tmp/x')", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT lo_unlink(42)", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT lowrite(0, 'x')", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT txid_current()", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT pg_current_xact_id()", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT pg_notify('c', 'p')", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT * FROM dblink('db', 'select 1') AS t(a int)", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT dblink_exec('db', 'delete from t')", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT pg_terminate_backend(1), pg_cancel_backend(2)", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT pg_reload_conf()", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT pg_switch_wal()", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT pg_create_restore_point('x')", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT pg_backup_start('x')", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT pg_create_logical_replication_slot('s', 'p')", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT pg_drop_replication_slot('s')", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT pg_replication_origin_create('o')", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT pg_stat_reset()", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT pg_stat_reset_shared('bgwriter')", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT pg_import_system_collations('pg_catalog')", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT pg_sequence_last_value('s')", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT pg_current_wal_lsn()", SQL_CMD_SELECT, 0, NULL },
	{ "EXPLAIN ANALYZE SELECT nextval('s')", SQL_CMD_EXPLAIN, 0, NULL },

	/* EXPLAIN ANALYZE runs the statement */
	{ "EXPLAIN ANALYZE INSERT INTO t VALUES (1)", SQL_CMD_EXPLAIN, 0, NULL },
	{ "EXPLAIN (ANALYZE) DELETE FROM t", SQL_CMD_EXPLAIN, 0, NULL },
	{ "EXPLAIN (ANALYZE true, FORMAT TEXT) UPDATE t SET a = 1", SQL_CMD_EXPLAIN, 0, NULL },
	{ "EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE", SQL_CMD_EXPLAIN, 0, NULL },
	{ "EXPLAIN ANALYZE SELECT * INTO t2 FROM t", SQL_CMD_EXPLAIN, 0, NULL },
	{ "EXPLAIN ANALYSE VERBOSE EXECUTE p", SQL_CMD_EXPLAIN, 0, NULL },
	{ "EXPLAIN ANALYZE WITH x AS (DELETE FROM t RETURNING 1) SELECT * FROM x", SQL_CMD_EXPLAIN, 0,
	  NULL },
	{ "explain analyze create table t as select 1", SQL_CMD_EXPLAIN, 0, NULL },

	/* lexer errors and ambiguous strings are never read-only */
	{ "SELECT 'unterminated", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT \"unterminated", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT $$unterminated", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT 1 /* unterminated", SQL_CMD_SELECT, 0, NULL },
	{ "SELECT E'unterminated\\'", SQL_CMD_SELECT, 0, NULL },
	{ "EXPLAIN SELECT 'unterminated", SQL_CMD_EXPLAIN, 0, NULL },
	{ "SELECT '\\'; DELETE FROM t; --'", SQL_CMD_SELECT, AMB, NULL },
	{ "SELECT '\\' , $$'; DELETE FROM t; --$$", SQL_CMD_SELECT, AMB, NULL },
	{ "SELECT 'a\\'", SQL_CMD_SELECT, AMB, NULL },
	{ "SELECT N'\\' , $$'; DELETE FROM t; --$$", SQL_CMD_SELECT, AMB, NULL },
	{ "SELECT E'\x82\\' ; DELETE FROM t; --'", SQL_CMD_SELECT, AMB, NULL },
	{ "SELECT '\x82\\'", SQL_CMD_SELECT, AMB, NULL },
	{ "EXPLAIN SELECT 'a\\'", SQL_CMD_EXPLAIN, AMB, NULL },

	/* transactions */
	{ "BEGIN", SQL_CMD_BEGIN, 0, NULL },
	{ "BEGIN READ ONLY", SQL_CMD_BEGIN, TRO, NULL },
	{ "begin transaction read only", SQL_CMD_BEGIN, TRO, NULL },
	{ "BEGIN WORK ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE", SQL_CMD_BEGIN, TRO, NULL },
	{ "START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", SQL_CMD_BEGIN, TRO, NULL },
	{ "START TRANSACTION READ ONLY, READ WRITE", SQL_CMD_BEGIN, 0, NULL },
	{ "BEGIN READ WRITE, READ ONLY", SQL_CMD_BEGIN, TRO, NULL },
	{ "BEGIN ISOLATION LEVEL READ COMMITTED", SQL_CMD_BEGIN, 0, NULL },
	{ "BEGIN ISOLATION LEVEL READ UNCOMMITTED, READ WRITE", SQL_CMD_BEGIN, 0, NULL },
	{ "BEGIN NOT DEFERRABLE READ/**/ONLY", SQL_CMD_BEGIN, TRO, NULL },
	{ "START TRANSACTION", SQL_CMD_BEGIN, 0, NULL },
	{ "START", SQL_CMD_OTHER, 0, NULL },
	{ "COMMIT", SQL_CMD_COMMIT, 0, NULL },
	{ "commit work", SQL_CMD_COMMIT, 0, NULL },
	{ "COMMIT AND CHAIN", SQL_CMD_COMMIT, 0, NULL },
	{ "END", SQL_CMD_COMMIT, 0, NULL },
	{ "END TRANSACTION", SQL_CMD_COMMIT, 0, NULL },
	{ "COMMIT PREPARED 'x'", SQL_CMD_OTHER, 0, NULL },
	{ "ROLLBACK", SQL_CMD_ROLLBACK, 0, NULL },
	{ "ABORT", SQL_CMD_ROLLBACK, 0, NULL },
	{ "ROLLBACK AND NO CHAIN", SQL_CMD_ROLLBACK, 0, NULL },
	{ "ROLLBACK TO SAVEPOINT a", SQL_CMD_OTHER, 0, NULL },
	{ "ROLLBACK WORK TO a", SQL_CMD_OTHER, 0, NULL },
	{ "ROLLBACK PREPARED 'x'", SQL_CMD_OTHER, 0, NULL },
	{ "SAVEPOINT a", SQL_CMD_OTHER, 0, NULL },
	{ "RELEASE SAVEPOINT a", SQL_CMD_OTHER, 0, NULL },
	{ "PREPARE TRANSACTION 'x'", SQL_CMD_OTHER, 0, NULL },

	/* settings */
	{ "SET search_path = x", SQL_CMD_SET, GUC, NULL },
	{ "set search_path to x, public", SQL_CMD_SET, GUC, NULL },
	{ "SET SESSION statement_timeout = 0", SQL_CMD_SET, GUC, NULL },
	{ "SET LOCAL statement_timeout = 0", SQL_CMD_SET, 0, NULL },
	{ "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", SQL_CMD_SET, 0, NULL },
	{ "SET TRANSACTION SNAPSHOT '00000003-0000001B-1'", SQL_CMD_SET, 0, NULL },
	{ "SET CONSTRAINTS ALL DEFERRED", SQL_CMD_SET, 0, NULL },
	{ "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", SQL_CMD_SET, GUC, NULL },
	{ "SET TIME ZONE 'UTC'", SQL_CMD_SET, GUC, NULL },
	{ "SET NAMES 'UTF8'", SQL_CMD_SET, GUC, NULL },
	{ "SET \"local\" = 1", SQL_CMD_SET, GUC, NULL },
	{ "RESET search_path", SQL_CMD_RESET, GUC, NULL },
	{ "RESET ALL", SQL_CMD_RESET, GUC | REL, NULL },
	{ "reset role", SQL_CMD_RESET, GUC | REL, NULL },
	{ "RESET SESSION AUTHORIZATION", SQL_CMD_RESET, GUC | REL, NULL },
	{ "DISCARD ALL", SQL_CMD_DISCARD, GUC | REL | DA, NULL },
	{ "DISCARD PLANS", SQL_CMD_DISCARD, GUC | REL, NULL },
	{ "discard temp", SQL_CMD_DISCARD, GUC | REL, NULL },
	{ "DISCARD SEQUENCES", SQL_CMD_DISCARD, GUC | REL, NULL },
	{ "SELECT set_config('search_path', 'x', false)", SQL_CMD_SELECT, GUC, NULL },
	{ "SELECT pg_catalog.set_config('a', 'b', true)", SQL_CMD_SELECT, GUC, NULL },
	{ "SELECT \"set_config\"('a', 'b', false)", SQL_CMD_SELECT, GUC, NULL },
	{ "SELECT U&\"\\0073et_config\"('a', 'b', false)", SQL_CMD_SELECT, GUC, NULL },
	{ "DO $$BEGIN PERFORM set_config('a', 'b', false); END$$", SQL_CMD_OTHER, GUC, NULL },
	{ "DO E'BEGIN PERFORM SET_CONFIG(''a'', ''b'', false); END'", SQL_CMD_OTHER, GUC, NULL },
	{ "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS "
	  "$$BEGIN PERFORM set_config('a', 'b', false); END$$",
	  SQL_CMD_OTHER, GUC, NULL },

	/* identities */
	{ "SET ROLE admin", SQL_CMD_SET, ST, "SET ROLE" },
	{ "SET role TO admin", SQL_CMD_SET, ST, "SET ROLE" },
	{ "SET role = 'admin'", SQL_CMD_SET, ST, "SET ROLE" },
	{ "SET SESSION ROLE admin", SQL_CMD_SET, ST, "SET ROLE" },
	{ "SET LOCAL ROLE admin", SQL_CMD_SET, 0, NULL },
	{ "SET ROLE NONE", SQL_CMD_SET, REL, NULL },
	{ "set role to default", SQL_CMD_SET, REL, NULL },
	{ "SET SESSION AUTHORIZATION bob", SQL_CMD_SET, ST, "SET SESSION AUTHORIZATION" },
	{ "SET SESSION AUTHORIZATION 'bob'", SQL_CMD_SET, ST, "SET SESSION AUTHORIZATION" },
	{ "SET SESSION AUTHORIZATION DEFAULT", SQL_CMD_SET, REL, NULL },

	/* session state */
	{ "LISTEN chan", SQL_CMD_LISTEN, ST, "LISTEN" },
	{ "listen \"Chan\"", SQL_CMD_LISTEN, ST, "LISTEN" },
	{ "UNLISTEN *", SQL_CMD_UNLISTEN, REL, NULL },
	{ "NOTIFY chan", SQL_CMD_OTHER, 0, NULL },
	{ "SELECT pg_advisory_lock(1)", SQL_CMD_SELECT, ST, "pg_advisory_lock()" },
	{ "SELECT pg_catalog.PG_ADVISORY_LOCK(1)", SQL_CMD_SELECT, ST, "pg_advisory_lock()" },
	{ "SELECT pg_advisory_lock_shared(1)", SQL_CMD_SELECT, ST, "pg_advisory_lock_shared()" },
	{ "SELECT pg_try_advisory_lock(1)", SQL_CMD_SELECT, ST, "pg_try_advisory_lock()" },
	{ "SELECT pg_try_advisory_lock_shared(1, 2)", SQL_CMD_SELECT, ST,
	  "pg_try_advisory_lock_shared()" },
	{ "SELECT \"pg_advisory_lock\"(1)", SQL_CMD_SELECT, ST, "pg_advisory_lock()" },
	{ "SELECT U&\"!0070g_advisory_lock\" UESCAPE '!' (1)", SQL_CMD_SELECT, ST,
	  "pg_advisory_lock()" },
	{ "SELECT pg_advisory_unlock(1)", SQL_CMD_SELECT, REL, NULL },
	{ "SELECT pg_advisory_unlock_all()", SQL_CMD_SELECT, REL, NULL },
	{ "SELECT pg_advisory_lock FROM t", SQL_CMD_SELECT, RO, NULL }, /* a column */
	{ "DO $$BEGIN PERFORM pg_advisory_lock(1); END$$", SQL_CMD_OTHER, ST, "pg_advisory_lock()" },
	{ "DO 'begin perform PG_TRY_ADVISORY_LOCK(1); end'", SQL_CMD_OTHER, ST,
	  "pg_try_advisory_lock()" },
	{ "DO $$BEGIN PERFORM pg_advisory_unlock(1); END$$", SQL_CMD_OTHER, REL, NULL },
	{ "LOAD 'auto_explain'", SQL_CMD_OTHER, ST, "LOAD" },
	{ "DROP TABLE t", SQL_CMD_OTHER, REL, NULL },
	{ "CLOSE c", SQL_CMD_OTHER, REL, NULL },
	{ "CLOSE ALL", SQL_CMD_OTHER, REL, NULL },
	{ "CREATE TEMP TABLE t (a int)", SQL_CMD_OTHER, ST, "CREATE TEMP" },
	{ "CREATE TEMPORARY TABLE t AS SELECT 1", SQL_CMD_OTHER, ST, "CREATE TEMP" },
	{ "CREATE GLOBAL TEMPORARY TABLE t (a int)", SQL_CMD_OTHER, ST, "CREATE TEMP" },
	{ "create local temp table t (a int)", SQL_CMD_OTHER, ST, "CREATE TEMP" },
	{ "CREATE OR REPLACE TEMP VIEW v AS SELECT 1", SQL_CMD_OTHER, ST, "CREATE TEMP" },
	{ "CREATE TEMP SEQUENCE s", SQL_CMD_OTHER, ST, "CREATE TEMP" },
	{ "CREATE TEMP TABLE t (a int) ON COMMIT DROP", SQL_CMD_OTHER, 0, NULL },
	{ "CREATE TEMP TABLE t (a int) ON COMMIT DELETE ROWS", SQL_CMD_OTHER, ST, "CREATE TEMP" },
	{ "CREATE TABLE pg_temp.t (a int)", SQL_CMD_OTHER, ST, "CREATE TEMP" },
	{ "CREATE TABLE pg_temp_3.t (a int)", SQL_CMD_OTHER, ST, "CREATE TEMP" },
	{ "CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql AS 'select 1'", SQL_CMD_OTHER, ST,
	  "CREATE TEMP" },
	{ "CREATE TABLE pg_temporal.t (a int)", SQL_CMD_OTHER, 0, NULL },
	{ "CREATE TABLE t (a int)", SQL_CMD_OTHER, 0, NULL },
	{ "CREATE TABLE temp (a int)", SQL_CMD_OTHER, 0, NULL },
	{ "CREATE UNLOGGED TABLE t (a int)", SQL_CMD_OTHER, 0, NULL },
	{ "DECLARE c CURSOR WITH HOLD FOR SELECT 1", SQL_CMD_OTHER, ST, "DECLARE ... WITH HOLD" },
	{ "declare c binary scroll cursor with hold for select 1", SQL_CMD_OTHER, ST,
	  "DECLARE ... WITH HOLD" },
	{ "DECLARE c SCROLL CURSOR WITHOUT HOLD FOR SELECT 1", SQL_CMD_OTHER, 0, NULL },
	{ "DECLARE c CURSOR FOR WITH hold AS (SELECT 1) SELECT * FROM hold", SQL_CMD_OTHER, 0, NULL },

	/* prepared statements */
	{ "PREPARE p AS SELECT 1", SQL_CMD_PREPARE, 0, NULL },
	{ "EXECUTE p", SQL_CMD_EXECUTE, 0, NULL },
	{ "DEALLOCATE p", SQL_CMD_DEALLOCATE, 0, NULL },
	{ "DEALLOCATE ALL", SQL_CMD_DEALLOCATE, DA, NULL },
	{ "deallocate prepare all", SQL_CMD_DEALLOCATE, DA, NULL },

	/* other commands */
	{ "COPY t TO STDOUT", SQL_CMD_OTHER, 0, NULL },
	{ "VACUUM t", SQL_CMD_OTHER, 0, NULL },
	{ "CALL p()", SQL_CMD_OTHER, 0, NULL },
	{ "LOCK TABLE t", SQL_CMD_OTHER, 0, NULL },
	{ "/* c */ 'just a string'", SQL_CMD_OTHER, 0, NULL },
	{ "(", SQL_CMD_OTHER, 0, NULL },
};

static void classify_first(const char *sql, size_t len, const sql_denylist_t *deny, sql_stmt_t *st)
{
	char *copy = exact_copy(sql, len);
	sql_iter_t it;

	sql_iter_init(&it, copy, len, deny);
	assert_true(sql_iter_next(&it, st));
	free(copy);
}

static void test_classify_table(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(class_cases); i++) {
		const class_case_t *c = &class_cases[i];
		sql_stmt_t st;

		classify_first(c->sql, strlen(c->sql), NULL, &st);
		CHECK(st.cmd == c->cmd, "[%s]: cmd %d, want %d", c->sql, st.cmd, c->cmd);
		CHECK(st.flags == c->flags, "[%s]: flags %#x, want %#x", c->sql, st.flags, c->flags);
		if (c->state_what) {
			CHECK(st.state_what && strcmp(st.state_what, c->state_what) == 0,
			      "[%s]: state_what '%s', want '%s'", c->sql,
			      st.state_what ? st.state_what : "(null)", c->state_what);
		} else {
			CHECK(st.state_what == NULL, "[%s]: state_what '%s', want none", c->sql,
			      st.state_what);
		}
	}
}

/* The table must hold what the task promises: enough read-only verdicts
 * both ways that a broken rule shows. */
static void test_classify_table_size(void **state)
{
	size_t ro = 0, not_ro = 0;

	for (size_t i = 0; i < ARRAY_SIZE(class_cases); i++) {
		if (class_cases[i].cmd == SQL_CMD_SELECT || class_cases[i].cmd == SQL_CMD_EXPLAIN ||
		    class_cases[i].cmd == SQL_CMD_SHOW)
			(class_cases[i].flags & RO) ? ro++ : not_ro++;
	}
	assert_true(ro + not_ro >= 80);
	assert_true(ro >= 30 && not_ro >= 50);
}

/* ---- summaries ---- */

typedef struct summary_case {
	const char *sql;
	unsigned n;
	bool all_read_only;
	uint32_t flags_any;
	sql_cmd_t first;
	const char *state_what;
} summary_case_t;

static const summary_case_t summary_cases[] = {
	{ "SELECT 1; SELECT 2", 2, true, RO, SQL_CMD_SELECT, NULL },
	{ "SELECT 1; DELETE FROM t", 2, false, RO, SQL_CMD_SELECT, NULL },
	{ "DELETE FROM t; SELECT 1", 2, false, RO, SQL_CMD_DELETE, NULL },
	{ "SELECT 1; SELECT nextval('s')", 2, false, RO, SQL_CMD_SELECT, NULL },
	{ "SELECT 1; SELECT 2 FOR UPDATE; SELECT 3", 3, false, RO, SQL_CMD_SELECT, NULL },
	{ "SELECT 1;;", 1, true, RO, SQL_CMD_SELECT, NULL },
	{ "", 0, false, 0, SQL_CMD_EMPTY, NULL },
	{ " -- c\n /* d */ ;", 0, false, 0, SQL_CMD_EMPTY, NULL },
	{ "BEGIN; SELECT 1; COMMIT", 3, false, RO, SQL_CMD_BEGIN, NULL },
	{ "BEGIN READ ONLY; SELECT 1", 2, false, TRO | RO, SQL_CMD_BEGIN, NULL },
	{ "SELECT ';DELETE FROM t'", 1, true, RO, SQL_CMD_SELECT, NULL },
	{ "SELECT $$;DELETE FROM t;$$", 1, true, RO, SQL_CMD_SELECT, NULL },
	{ "SELECT 1 /* ; DELETE FROM t; */", 1, true, RO, SQL_CMD_SELECT, NULL },
	{ "SELECT 1; SET search_path = x", 2, false, RO | GUC, SQL_CMD_SELECT, NULL },
	{ "SELECT 1; LISTEN a; SELECT pg_advisory_lock(1)", 3, false, RO | ST, SQL_CMD_SELECT, "LISTEN" },
	{ "SELECT '\\'; SELECT $$'; DELETE FROM t; --$$", 2, false, RO | AMB, SQL_CMD_SELECT, NULL },
	{ "SELECT 1; SELECT 'oops", 2, false, RO, SQL_CMD_SELECT, NULL },
	{ "SELECT 1; /* oops", 2, false, RO, SQL_CMD_SELECT, NULL },
	{ "DISCARD ALL; DEALLOCATE ALL", 2, false, GUC | REL | DA, SQL_CMD_DISCARD, NULL },
};

static void test_summary_table(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(summary_cases); i++) {
		const summary_case_t *c = &summary_cases[i];
		size_t len = strlen(c->sql);
		char *copy = exact_copy(c->sql, len);
		sql_summary_t sum;

		memset(&sum, 0xa5, sizeof(sum)); /* everything must be set */
		sql_summarize(copy, len, NULL, &sum);
		CHECK(sum.n_statements == c->n, "[%s]: %u statements, want %u", c->sql,
		      sum.n_statements, c->n);
		CHECK(sum.all_read_only == c->all_read_only, "[%s]: all_read_only %d", c->sql,
		      sum.all_read_only);
		CHECK(sum.flags_any == c->flags_any, "[%s]: flags_any %#x, want %#x", c->sql,
		      sum.flags_any, c->flags_any);
		CHECK(sum.first.cmd == c->first, "[%s]: first cmd %d, want %d", c->sql, sum.first.cmd,
		      c->first);
		CHECK((sum.state_what == NULL) == (c->state_what == NULL) &&
			      (!c->state_what || strcmp(sum.state_what, c->state_what) == 0),
		      "[%s]: state_what", c->sql);
		free(copy);
	}
}

/* ---- names ---- */

typedef struct name_case {
	const char *sql;
	sql_cmd_t cmd;
	const char *name;
	const char *token; /* the name token as written; NULL = absent */
	const char *body;  /* PREPARE: the text from body_off; NULL = 0 */
} name_case_t;

static const name_case_t name_cases[] = {
	{ "PREPARE p AS SELECT 1", SQL_CMD_PREPARE, "p", "p", "SELECT 1" },
	{ "PREPARE MyStmt (int, text) AS SELECT $1, $2", SQL_CMD_PREPARE, "mystmt", "MyStmt",
	  "SELECT $1, $2" },
	{ "prepare \"MyStmt\" as insert into t values (1)", SQL_CMD_PREPARE, "MyStmt", "\"MyStmt\"",
	  "insert into t values (1)" },
	{ "PREPARE \"a\"\"b\" AS SELECT 1", SQL_CMD_PREPARE, "a\"b", "\"a\"\"b\"", "SELECT 1" },
	{ "PREPARE p(numeric(10, 2), int[]) AS VALUES ($1)", SQL_CMD_PREPARE, "p", "p", "VALUES ($1)" },
	{ "PREPARE p /* AS */ AS -- x\n SELECT 'AS'", SQL_CMD_PREPARE, "p", "p", "SELECT 'AS'" },
	{ "PREPARE transaction AS SELECT 1", SQL_CMD_PREPARE, "transaction", "transaction", "SELECT 1" },
	{ "PREPARE c AS SELECT CAST($1 AS int) AS x", SQL_CMD_PREPARE, "c", "c",
	  "SELECT CAST($1 AS int) AS x" },
	{ "PREPARE p", SQL_CMD_PREPARE, "p", "p", NULL },
	{ "PREPARE p AS", SQL_CMD_PREPARE, "p", "p", NULL },
	{ "PREPARE U&\"\\0070\" AS SELECT 1", SQL_CMD_PREPARE, "p", "U&\"\\0070\"", "SELECT 1" },
	{ "PREPARE U&\"!0070q!!\" UESCAPE '!' AS SELECT 1", SQL_CMD_PREPARE, "pq!",
	  "U&\"!0070q!!\"", "SELECT 1" },
	{ "PREPARE U&\"\\00e4\\+01F600\" AS SELECT 1", SQL_CMD_PREPARE, "\xc3\xa4\xf0\x9f\x98\x80",
	  "U&\"\\00e4\\+01F600\"", "SELECT 1" },
	{ "PREPARE U&\"\\D83D\\DE00\" AS SELECT 1", SQL_CMD_PREPARE, "\xf0\x9f\x98\x80",
	  "U&\"\\D83D\\DE00\"", "SELECT 1" },
	{ "PREPARE \xc3\x84x AS SELECT 1", SQL_CMD_PREPARE, "\xc3\x84x", "\xc3\x84x", "SELECT 1" },
	{ "EXECUTE p", SQL_CMD_EXECUTE, "p", "p", NULL },
	{ "EXECUTE P(1, 'a')", SQL_CMD_EXECUTE, "p", "P", NULL },
	{ "execute \"P\"", SQL_CMD_EXECUTE, "P", "\"P\"", NULL },
	{ "EXECUTE", SQL_CMD_EXECUTE, "", NULL, NULL },
	{ "EXECUTE 1", SQL_CMD_EXECUTE, "", NULL, NULL },
	{ "DEALLOCATE p", SQL_CMD_DEALLOCATE, "p", "p", NULL },
	{ "DEALLOCATE PREPARE Q", SQL_CMD_DEALLOCATE, "q", "Q", NULL },
	{ "DEALLOCATE prepare", SQL_CMD_DEALLOCATE, "prepare", "prepare", NULL },
	{ "DEALLOCATE \"all\"", SQL_CMD_DEALLOCATE, "all", "\"all\"", NULL },
	{ "DEALLOCATE PREPARE \"x y\"", SQL_CMD_DEALLOCATE, "x y", "\"x y\"", NULL },
	{ "DEALLOCATE ALL", SQL_CMD_DEALLOCATE, "", NULL, NULL },
	{ "DEALLOCATE PREPARE ALL", SQL_CMD_DEALLOCATE, "", NULL, NULL },
};

static void test_names_table(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(name_cases); i++) {
		const name_case_t *c = &name_cases[i];
		size_t len = strlen(c->sql);
		sql_stmt_t st;

		classify_first(c->sql, len, NULL, &st);
		CHECK(st.cmd == c->cmd, "[%s]: cmd %d", c->sql, st.cmd);
		CHECK(strcmp(st.name, c->name) == 0, "[%s]: name '%s', want '%s'", c->sql, st.name,
		      c->name);
		if (c->token) {
			CHECK(st.name_len == strlen(c->token) &&
				      memcmp(c->sql + st.name_off, c->token, st.name_len) == 0,
			      "[%s]: name token '%.*s'", c->sql, (int)st.name_len,
			      c->sql + st.name_off);
		} else {
			CHECK(st.name_off == 0 && st.name_len == 0, "[%s]: name token set", c->sql);
		}
		if (c->body) {
			CHECK(st.body_off > 0 && strcmp(c->sql + st.body_off, c->body) == 0,
			      "[%s]: body '%s'", c->sql, st.body_off ? c->sql + st.body_off : "");
		} else {
			CHECK(st.body_off == 0, "[%s]: body_off %u, want 0", c->sql, st.body_off);
		}
	}
}

static void test_names_truncated(void **state)
{
	char sql[256], want[64];
	sql_stmt_t st;

	/* unquoted: folded, then cut at 63 bytes */
	snprintf(sql, sizeof(sql), "EXECUTE %s", "ABCDEFGHIJ" "ABCDEFGHIJ" "ABCDEFGHIJ" "ABCDEFGHIJ"
						 "ABCDEFGHIJ" "ABCDEFGHIJ" "ABCDEFGHIJ");
	classify_first(sql, strlen(sql), NULL, &st);
	assert_int_equal(strlen(st.name), 63);
	assert_memory_equal(st.name, "abcdefghij", 10);
	assert_int_equal(st.name[62], 'c');
	assert_int_equal(st.name_len, 70);

	/* quoted: as written, cut at 63 */
	memset(want, 'Q', 63);
	want[63] = '\0';
	snprintf(sql, sizeof(sql), "DEALLOCATE \"%s%s\"", want, "QQQQ\"\"");
	classify_first(sql, strlen(sql), NULL, &st);
	assert_string_equal(st.name, want);

	/* a two-byte character across byte 63 goes as a whole */
	memset(want, 'a', 62);
	want[62] = '\0';
	snprintf(sql, sizeof(sql), "EXECUTE %s\xc3\xa9z", want);
	classify_first(sql, strlen(sql), NULL, &st);
	assert_string_equal(st.name, want);

	/* exactly 63 with a character ending at byte 63 stays whole */
	memset(want, 'a', 61);
	memcpy(want + 61, "\xc3\xa9", 3);
	snprintf(sql, sizeof(sql), "EXECUTE %sz", want);
	classify_first(sql, strlen(sql), NULL, &st);
	assert_string_equal(st.name, want);
}

/* ---- deny list ---- */

static void test_denylist_default(void **state)
{
	const char *text = sql_default_denylist();
	sql_denylist_t *parsed = sql_denylist_new(NULL);
	static const char *const must[] = {
		"nextval", "setval", "currval", "lastval", "pg_advisory_lock", "pg_advisory_xact_lock",
		"pg_try_advisory_lock", "lo_import", "lo_unlink", "set_config", "txid_current",
		"txid_current_if_assigned", "pg_current_xact_id", "pg_current_xact_id_if_assigned",
		"pg_notify", "dblink_exec", "dblink", "pg_switch_wal", "pg_create_restore_point",
		"pg_start_backup", "pg_backup_start", "pg_stop_backup", "pg_backup_stop",
		"pg_cancel_backend", "pg_terminate_backend", "pg_reload_conf", "pg_rotate_logfile",
		"pg_create_physical_replication_slot", "pg_create_logical_replication_slot",
		"pg_drop_replication_slot", "pg_replication_origin_create", "pg_stat_reset",
		"pg_stat_reset_shared", "pg_import_system_collations", "pg_sequence_last_value",
	};
	static const char *const must_not[] = {
		"now", "count", "pg_sleep", "current_setting", "nextval_", "nextva", "pg_advisory",
		"lo", "dblin", "set_config_x", "pg_backend_pid", "txid_current_snapshot",
	};

	assert_non_null(strstr(text, "nextval"));
	assert_non_null(strstr(text, "pg_advisory_*"));
	assert_int_not_equal(text[0], ',');
	assert_int_not_equal(text[0], ' ');
	for (size_t i = 0; i < ARRAY_SIZE(must); i++) {
		CHECK(sql_denylist_match(NULL, must[i], strlen(must[i])), "default misses %s", must[i]);
		CHECK(sql_denylist_match(parsed, must[i], strlen(must[i])), "parsed misses %s", must[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(must_not); i++) {
		CHECK(!sql_denylist_match(NULL, must_not[i], strlen(must_not[i])), "default has %s",
		      must_not[i]);
		CHECK(!sql_denylist_match(parsed, must_not[i], strlen(must_not[i])), "parsed has %s",
		      must_not[i]);
	}
	/* every entry of the text matches itself (a prefix entry, with more) */
	char name[80];
	const char *p = text;

	while (*p) {
		size_t n = strcspn(p, ",");

		assert_true(n > 0 && n < sizeof(name) - 2);
		memcpy(name, p, n);
		if (name[n - 1] == '*')
			memcpy(name + n - 1, "xy", 2), n++;
		CHECK(sql_denylist_match(NULL, name, n), "default misses its own '%.*s'", (int)n, name);
		CHECK(sql_denylist_match(parsed, name, n), "parsed misses '%.*s'", (int)n, name);
		p += strcspn(p, ",");
		p += strspn(p, ", ");
	}
	sql_denylist_free(parsed);
}

static void test_denylist_parse(void **state)
{
	sql_denylist_t *d = sql_denylist_new("foo, bar*,  Baz ,,\tpg_catalog.qux , ,");

	assert_true(sql_denylist_match(d, "foo", 3));
	assert_false(sql_denylist_match(d, "fo", 2));
	assert_false(sql_denylist_match(d, "foox", 4));
	assert_true(sql_denylist_match(d, "bar", 3));
	assert_true(sql_denylist_match(d, "barx", 4));
	assert_false(sql_denylist_match(d, "ba", 2));
	assert_true(sql_denylist_match(d, "baz", 3));
	assert_false(sql_denylist_match(d, "Baz", 3));
	assert_true(sql_denylist_match(d, "qux", 3));
	assert_false(sql_denylist_match(d, "pg_catalog.qux", 14));
	assert_false(sql_denylist_match(d, "", 0));
	assert_false(sql_denylist_match(d, "nextval", 7)); /* replaces the default */
	sql_denylist_free(d);

	d = sql_denylist_new("");
	assert_false(sql_denylist_match(d, "nextval", 7));
	assert_false(sql_denylist_match(d, "", 0));
	sql_denylist_free(d);

	d = sql_denylist_new(" , ,, ");
	assert_false(sql_denylist_match(d, "x", 1));
	sql_denylist_free(d);

	d = sql_denylist_new("*");
	assert_true(sql_denylist_match(d, "anything", 8));
	assert_true(sql_denylist_match(d, "", 0));
	sql_denylist_free(d);

	d = sql_denylist_new("single");
	assert_true(sql_denylist_match(d, "single", 6));
	sql_denylist_free(d);

	sql_denylist_free(NULL);
}

static void test_denylist_in_classification(void **state)
{
	sql_denylist_t *mine = sql_denylist_new("my_writer, audit_*");
	sql_denylist_t *none = sql_denylist_new("");
	sql_denylist_t *all = sql_denylist_new("*");
	sql_stmt_t st;
	const char *q;

	q = "SELECT my_writer(1)";
	classify_first(q, strlen(q), mine, &st);
	assert_false(st.flags & RO);
	classify_first(q, strlen(q), NULL, &st);
	assert_true(st.flags & RO);
	q = "SELECT s.audit_log('x')";
	classify_first(q, strlen(q), mine, &st);
	assert_false(st.flags & RO);
	q = "SELECT \"my_writer\"(1)";
	classify_first(q, strlen(q), mine, &st);
	assert_false(st.flags & RO);
	q = "SELECT nextval('s')";
	classify_first(q, strlen(q), mine, &st);
	assert_true(st.flags & RO); /* the custom list replaces the default */
	classify_first(q, strlen(q), none, &st);
	assert_true(st.flags & RO);
	classify_first(q, strlen(q), all, &st);
	assert_false(st.flags & RO);
	q = "SELECT 1 FROM t";
	classify_first(q, strlen(q), all, &st);
	assert_true(st.flags & RO);
	/* session detection does not depend on the deny list */
	q = "SELECT pg_advisory_lock(1)";
	classify_first(q, strlen(q), none, &st);
	assert_int_equal(st.flags, RO | ST);

	sql_summary_t sum;

	q = "SELECT 1; SELECT my_writer(2)";
	sql_summarize(q, strlen(q), mine, &sum);
	assert_false(sum.all_read_only);
	sql_summarize(q, strlen(q), NULL, &sum);
	assert_true(sum.all_read_only);
	sql_denylist_free(mine);
	sql_denylist_free(none);
	sql_denylist_free(all);
}

/* ---- the pre-filter ---- */

static bool touches_session(const char *sql, size_t len)
{
	sql_iter_t it;
	sql_stmt_t st;

	sql_iter_init(&it, sql, len, NULL);
	while (sql_iter_next(&it, &st)) {
		if ((st.flags & SESSION_FLAGS) || st.cmd == SQL_CMD_PREPARE ||
		    st.cmd == SQL_CMD_EXECUTE || st.cmd == SQL_CMD_DEALLOCATE)
			return true;
	}
	return false;
}

static void check_prefilter_property(const char *sql)
{
	size_t len = strlen(sql);
	char *copy = exact_copy(sql, len);

	if (touches_session(copy, len))
		CHECK(sql_may_touch_session(copy, len), "pre-filter misses [%s]", sql);
	free(copy);
}

static void test_prefilter_property_on_tables(void **state)
{
	size_t flagged = 0;

	for (size_t i = 0; i < ARRAY_SIZE(class_cases); i++) {
		check_prefilter_property(class_cases[i].sql);
		flagged += touches_session(class_cases[i].sql, strlen(class_cases[i].sql));
	}
	for (size_t i = 0; i < ARRAY_SIZE(summary_cases); i++)
		check_prefilter_property(summary_cases[i].sql);
	for (size_t i = 0; i < ARRAY_SIZE(name_cases); i++)
		check_prefilter_property(name_cases[i].sql);
	for (size_t i = 0; i < ARRAY_SIZE(split_cases); i++)
		check_prefilter_property(split_cases[i].sql);
	for (size_t i = 0; i < ARRAY_SIZE(lex_cases); i++)
		check_prefilter_property(lex_cases[i].sql);
	assert_true(flagged >= 60); /* the property is tested on many positives */
}

/* The documented trigger list, searched the slow way. */
static const char *const triggers[] = {
	"set", "disc", "liste", "advis", "temp", "hold", "load",
	"prep", "exec", "deal", "drop", "clos", "u&",
};

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static bool reference_prefilter(const char *s, size_t len)
{
	for (size_t t = 0; t < ARRAY_SIZE(triggers); t++) {
		size_t n = strlen(triggers[t]);

		for (size_t i = 0; i + n <= len; i++) {
			size_t k = 0;

			while (k < n && lower(s[i + k]) == triggers[t][k])
				k++;
			if (k == n)
				return true;
		}
	}
	return false;
}

static void test_prefilter_triggers(void **state)
{
	char buf[64];

	for (size_t t = 0; t < ARRAY_SIZE(triggers); t++) {
		const char *w = triggers[t];
		size_t n = strlen(w);

		/* lower, upper, and alternating case, in neutral context */
		for (int variant = 0; variant < 3; variant++) {
			snprintf(buf, sizeof(buf), "zq %s zq", w);
			for (size_t i = 0; i < n; i++) {
				char *c = &buf[3 + i];

				if (*c >= 'a' && *c <= 'z' && (variant == 1 || (variant == 2 && i % 2)))
					*c = (char)(*c - 32);
			}
			CHECK(sql_may_touch_session(buf, strlen(buf)), "misses trigger in [%s]", buf);
			/* glued to other letters: substrings count */
			snprintf(buf, sizeof(buf), "zq%szq", w);
			CHECK(sql_may_touch_session(buf, strlen(buf)), "misses trigger in [%s]", buf);
		}
		/* one letter short is nothing, at either end */
		snprintf(buf, sizeof(buf), "zq %.*s zq", (int)(n - 1), w);
		CHECK(!sql_may_touch_session(buf, strlen(buf)), "false trigger in [%s]", buf);
		snprintf(buf, sizeof(buf), "zq %s zq", w + 1);
		CHECK(!sql_may_touch_session(buf, strlen(buf)), "false trigger in [%s]", buf);
		/* cut by the length, not by a NUL */
		snprintf(buf, sizeof(buf), "%s", w);
		CHECK(!sql_may_touch_session(buf, n - 1), "reads past len for %s", w);
	}
}

static void test_prefilter_negatives(void **state)
{
	static const char *const quiet[] = {
		"SELECT abalance FROM pgbench_accounts WHERE aid = 42;",
		"SELECT 1",
		"select * from t where a = $1 and b in (1, 2, 3) order by c limit 10",
		"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 2, 3, 4, now())",
		"BEGIN",
		"COMMIT",
		"ROLLBACK",
		"SELECT nextval('s')",
		"WITH x AS (SELECT 1) SELECT * FROM x FOR UPDATE",
		"",
	};

	for (size_t i = 0; i < ARRAY_SIZE(quiet); i++)
		CHECK(!sql_may_touch_session(quiet[i], strlen(quiet[i])), "[%s] flagged", quiet[i]);
	assert_true(sql_may_touch_session("UPDATE pgbench_accounts SET abalance = 1", 40));
	assert_true(sql_may_touch_session("SELECT 1 OFFSET 2", 17)); /* harmless */
}

/* The bit table against the documented trigger list, on many random texts
 * over an alphabet that makes triggers likely. */
static void test_prefilter_matches_reference(void **state)
{
	static const char alphabet[] = "setdiscalonvmphrxu&_ STEDLACOHPU;'";
	uint32_t seed = 12345;
	char buf[24];
	size_t hits = 0;

	for (int round = 0; round < 200000; round++) {
		seed = seed * 1103515245u + 12345u;
		size_t len = (seed >> 16) % sizeof(buf);

		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		bool want = reference_prefilter(buf, len);

		hits += want;
		CHECK(sql_may_touch_session(buf, len) == want, "[%.*s]: pre-filter %d, reference %d",
		      (int)len, buf, !want, want);
	}
	assert_true(hits > 1000);
	/* every byte value alone, and after each trigger's first letters */
	for (int c = 0; c < 256; c++) {
		buf[0] = (char)c;
		CHECK(sql_may_touch_session(buf, 1) == reference_prefilter(buf, 1), "byte %d", c);
	}
}

/* ---- cost ---- */

/* text of about len bytes: unit repeated */
static char *repeat(const char *unit, size_t len, size_t *out_len)
{
	size_t n = strlen(unit), count = len / n;
	char *p = malloc(count * n + 1);

	assert_non_null(p);
	for (size_t i = 0; i < count; i++)
		memcpy(p + i * n, unit, n);
	*out_len = count * n;
	return p;
}

/*
 * Every pass is linear: a client must not be able to pin a worker with a
 * crafted query. '\'\'\'... made the escape-mode re-read of each string run
 * to the end of the text (1 MB took about a minute). The bound is CPU time
 * and generous: linear takes milliseconds, quadratic takes minutes.
 */
static void test_linear_time(void **state)
{
	static const char *const units[] = {
		"'\\'\\",                       /* standard strings read again with escapes */
		"'a'\n-- c\n",                  /* one string continued across comments */
		"/*",                           /* an unterminated comment, nested ever deeper */
		"x(",                           /* calls checked against the deny list */
		"U&\"\\0061\"(",                /* escaped names decoded */
		"$a$$b$",                       /* dollar quotes with near-miss tags */
		"SELECT 1;",                    /* many statements */
		"E'\\'' ",                      /* escape strings */
		"set_config pg_advisory_lock ", /* trigger words for the pre-filter */
	};

	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		size_t len;
		char *text = repeat(units[i], 1u << 20, &len);
		sql_summary_t sum;
		clock_t start = clock();

		sql_summarize(text, len, NULL, &sum);
		(void)sql_may_touch_session(text, len);
		double seconds = (double)(clock() - start) / CLOCKS_PER_SEC;

		CHECK(seconds < 10.0, "[%s] x %zu took %.1f s of CPU", units[i], len / strlen(units[i]),
		      seconds);
		free(text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lex_table),
		cmocka_unit_test(test_lex_nul),
		cmocka_unit_test(test_lex_prefixes_stay_in_bounds),
		cmocka_unit_test(test_lex_cut_inside_tokens),
		cmocka_unit_test(test_tok_is),
		cmocka_unit_test(test_split_table),
		cmocka_unit_test(test_classify_table),
		cmocka_unit_test(test_classify_table_size),
		cmocka_unit_test(test_summary_table),
		cmocka_unit_test(test_names_table),
		cmocka_unit_test(test_names_truncated),
		cmocka_unit_test(test_denylist_default),
		cmocka_unit_test(test_denylist_parse),
		cmocka_unit_test(test_denylist_in_classification),
		cmocka_unit_test(test_prefilter_property_on_tables),
		cmocka_unit_test(test_prefilter_triggers),
		cmocka_unit_test(test_prefilter_negatives),
		cmocka_unit_test(test_prefilter_matches_reference),
		cmocka_unit_test(test_linear_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

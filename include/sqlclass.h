/*
 * sqlclass.h - a small SQL lexer and what pgtide needs to know about a
 * statement without parsing it: where statements end, which command each is,
 * whether it is provably read-only (read routing), and whether it touches
 * session state that outlives a transaction (transaction pooling).
 *
 * The lexer follows PostgreSQL's scan.l closely enough for classification:
 * -- and nested block comments, 'strings' with '' escapes, E'..' strings
 * with backslash escapes, U&'..', B'..' and X'..' strings, "quoted
 * identifiers" with "" escapes, $tag$ dollar quotes $tag$, $1 parameters,
 * numbers, operators and punctuation. Unquoted identifiers compare
 * case-insensitively. Everything is bounded by the given length (the text
 * need not be NUL-terminated) and never reads past it; malformed input
 * (unterminated strings or comments) yields SQL_TOK_ERROR, and a statement
 * containing one is never classified read-only. Strings are lexed as with
 * standard_conforming_strings on; where that or the client encoding could
 * move a string's end, the statement says so (SQLF_LEX_AMBIGUOUS).
 */
#ifndef PGTIDE_SQLCLASS_H
#define PGTIDE_SQLCLASS_H

#include "common.h"

/* ---- lexer ---- */

typedef enum {
	SQL_TOK_END = 0,   /* end of text */
	SQL_TOK_WORD,      /* unquoted identifier or keyword */
	SQL_TOK_QIDENT,    /* "quoted identifier" (also U&"...") */
	SQL_TOK_STRING,    /* any string constant, including $$dollar quotes$$ */
	SQL_TOK_NUMBER,
	SQL_TOK_PARAM,     /* $1 */
	SQL_TOK_SEMI,      /* ; */
	SQL_TOK_LPAREN,
	SQL_TOK_RPAREN,
	SQL_TOK_COMMA,
	SQL_TOK_DOT,
	SQL_TOK_OP,        /* operators and any other punctuation */
	SQL_TOK_ERROR,     /* unterminated string, identifier or comment */
} sql_tok_type_t;

typedef struct sql_token {
	sql_tok_type_t type;
	uint32_t off, len; /* bytes in the text, quotes included */
} sql_token_t;

typedef struct sql_lexer {
	const char *sql;
	size_t len;
	size_t pos;
} sql_lexer_t;

void sql_lexer_init(sql_lexer_t *lx, const char *sql, size_t len);
/* Next token, skipping white space and comments. */
sql_tok_type_t sql_lex_next(sql_lexer_t *lx, sql_token_t *tok);
/* Whether tok is the unquoted word kw (kw in lower case). */
bool sql_tok_is(const sql_lexer_t *lx, const sql_token_t *tok, const char *kw);

/* ---- statements ---- */

typedef enum {
	SQL_CMD_EMPTY = 0,  /* only comments / white space */
	SQL_CMD_OTHER,      /* anything not listed below */
	SQL_CMD_SELECT,     /* SELECT, VALUES, TABLE, and WITH ... SELECT; also (SELECT ...) */
	SQL_CMD_SHOW,
	SQL_CMD_EXPLAIN,
	SQL_CMD_BEGIN,      /* BEGIN, START TRANSACTION */
	SQL_CMD_COMMIT,     /* COMMIT, END (not COMMIT PREPARED) */
	SQL_CMD_ROLLBACK,   /* ROLLBACK, ABORT (not ROLLBACK TO / PREPARED) */
	SQL_CMD_SET,        /* SET [SESSION] ..., SET LOCAL ..., SET TRANSACTION ... */
	SQL_CMD_RESET,
	SQL_CMD_DISCARD,
	SQL_CMD_PREPARE,    /* PREPARE name [(types)] AS stmt (not PREPARE TRANSACTION) */
	SQL_CMD_EXECUTE,    /* EXECUTE name [(args)] */
	SQL_CMD_DEALLOCATE, /* DEALLOCATE [PREPARE] name | ALL */
	SQL_CMD_LISTEN,
	SQL_CMD_UNLISTEN,
	SQL_CMD_INSERT,     /* INSERT/UPDATE/DELETE, also after WITH ...; MERGE is OTHER */
	SQL_CMD_UPDATE,
	SQL_CMD_DELETE,
} sql_cmd_t;

/* Statement flags. */
enum {
	/* Provably read-only: SELECT/VALUES/TABLE/SHOW/EXPLAIN without ANALYZE
	 * (EXPLAIN ANALYZE of a read-only statement is still read-only); no
	 * FOR UPDATE/NO KEY UPDATE/SHARE/KEY SHARE, no SELECT INTO, no
	 * data-modifying CTE, no call of a deny-listed function, no lexer error,
	 * not SQLF_LEX_AMBIGUOUS. Conservative: the words INSERT, UPDATE, DELETE,
	 * MERGE or INTO anywhere in a SELECT (even as a column name) make it
	 * not read-only. */
	SQLF_READ_ONLY = 1u << 0,
	/* BEGIN / START TRANSACTION whose modes include READ ONLY (and not a
	 * later READ WRITE). */
	SQLF_TXN_READ_ONLY = 1u << 1,
	/* May change a session-level setting: SET or SET SESSION of a
	 * variable (not SET LOCAL, SET TRANSACTION, SET CONSTRAINTS; but SET
	 * SESSION CHARACTERISTICS AS TRANSACTION is flagged: it changes the
	 * session's default_transaction_* settings), RESET, DISCARD, or
	 * set_config anywhere: as a name, or inside any string constant (DO
	 * blocks and function bodies are strings; their text is searched as
	 * written, escapes not decoded). */
	SQLF_SESSION_GUC = 1u << 2,
	/* Creates session state a pooler cannot carry to another server
	 * connection (sql_stmt_t.state_what names it): LISTEN, a session-level
	 * advisory lock function (pg_advisory_lock, pg_advisory_lock_shared,
	 * pg_try_advisory_lock, pg_try_advisory_lock_shared; not the _xact_
	 * ones), CREATE [GLOBAL|LOCAL] TEMP|TEMPORARY TABLE/VIEW/SEQUENCE
	 * or CREATE of a pg_temp.name (not with ON COMMIT DROP, which ends
	 * with the transaction), SELECT ... INTO TEMP or INTO pg_temp.name,
	 * DECLARE ... WITH HOLD, SET [SESSION] ROLE, SET SESSION AUTHORIZATION
	 * (not to NONE / DEFAULT: those release), LOAD. The lock function names
	 * also count when they occur inside a string constant. */
	SQLF_SESSION_STATE = 1u << 3,
	/* May release such state: UNLISTEN, pg_advisory_unlock*, DROP, CLOSE,
	 * RESET (ROLE/SESSION AUTHORIZATION/ALL), DISCARD, SET ROLE NONE|DEFAULT,
	 * SET SESSION AUTHORIZATION DEFAULT. */
	SQLF_STATE_RELEASE = 1u << 4,
	/* DISCARD ALL or DEALLOCATE [PREPARE] ALL. */
	SQLF_DEALLOCATE_ALL = 1u << 5,
	/* A string constant whose end the server may see elsewhere: a '...'
	 * with a backslash that would end it differently were
	 * standard_conforming_strings off (a client can SET that), or a
	 * backslash right after a byte >= 0x80 in '...' or E'...' (in SJIS,
	 * BIG5, GBK and the like that byte pair is one character). Never
	 * read-only; statement boundaries and session flags may then differ
	 * from what the server sees. */
	SQLF_LEX_AMBIGUOUS = 1u << 6,
};

typedef struct sql_stmt {
	sql_cmd_t cmd;
	uint32_t flags;
	uint32_t off, len;    /* the statement in the text, without its ';' */
	/* PREPARE / EXECUTE / DEALLOCATE: the statement name as PostgreSQL folds
	 * it (unquoted: ASCII lower case; quoted: as written with "" undone;
	 * U&"..." with its escapes decoded; cut at 63 bytes like NAMEDATALEN,
	 * backing off to a UTF-8 character boundary as PostgreSQL does in a
	 * UTF-8 database), empty for DEALLOCATE ALL; name_off/name_len locate
	 * the name token in the text, quotes included (0/0 when absent). */
	char name[64];
	uint32_t name_off, name_len;
	/* PREPARE: offset of the statement after AS (0 when malformed). */
	uint32_t body_off;
	/* SQLF_SESSION_STATE: a static description for messages, such as
	 * "LISTEN" or "pg_advisory_lock()"; NULL otherwise. */
	const char *state_what;
} sql_stmt_t;

/* Functions whose call makes a SELECT not read-only. Patterns are lower-case
 * names, optionally ending in '*' (prefix match); a schema-qualified call
 * (pg_catalog.nextval) matches on the function name. Names compare as
 * PostgreSQL folds them: nextval(), NEXTVAL() and "nextval"() match
 * "nextval", "NEXTVAL"() does not. */
typedef struct sql_denylist sql_denylist_t;

/* The default list, comma separated: nextval, setval, currval, lastval,
 * pg_advisory_*, lo_*, set_config, ... (see sqlclass.c for the exact list and
 * why each is there). */
const char *sql_default_denylist(void);
/* Parses "a, b, c*" (NULL = the default list): white space around entries
 * and empty entries are dropped, entries are lower-cased, and a schema in an
 * entry ("pg_catalog.nextval") is dropped. Never returns NULL. */
sql_denylist_t *sql_denylist_new(const char *comma_list);
void sql_denylist_free(sql_denylist_t *d);
/* name: as folded (see above). d NULL = the default list. */
bool sql_denylist_match(const sql_denylist_t *d, const char *name, size_t len);

typedef struct sql_iter {
	sql_lexer_t lx;
	const sql_denylist_t *deny; /* NULL = the default list */
} sql_iter_t;

void sql_iter_init(sql_iter_t *it, const char *sql, size_t len, const sql_denylist_t *deny);
/* Classifies the next statement; empty statements (";;") are skipped.
 * Returns false at the end of the text. */
bool sql_iter_next(sql_iter_t *it, sql_stmt_t *st);

/* A whole Query message's text. */
typedef struct sql_summary {
	unsigned n_statements;   /* not counting empty ones */
	uint32_t flags_any;      /* OR of the statements' flags */
	bool all_read_only;      /* every statement SQLF_READ_ONLY (false if none) */
	sql_stmt_t first;        /* the first statement (cmd SQL_CMD_EMPTY if none) */
	const char *state_what;  /* first SQLF_SESSION_STATE description, or NULL */
} sql_summary_t;

void sql_summarize(const char *sql, size_t len, const sql_denylist_t *deny, sql_summary_t *out);

/* Cheap pre-check for the transaction-pooling path: false only when the text
 * cannot contain anything that sets SQLF_SESSION_GUC, SQLF_SESSION_STATE,
 * SQLF_STATE_RELEASE or SQLF_DEALLOCATE_ALL, nor a PREPARE, EXECUTE or
 * DEALLOCATE (a case-insensitive scan for the few trigger words, no
 * lexing). Must never return false for text that sql_summarize would flag.
 * The triggers are substrings: set, disc, liste, advis, temp, hold, load,
 * prep, exec, deal, drop, clos and u& (see sqlclass.c); OFFSET or a column
 * called "dataset" is a harmless false positive. About four instructions a
 * byte. */
bool sql_may_touch_session(const char *sql, size_t len);

#endif

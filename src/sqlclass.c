/*
 * sqlclass.c - a SQL lexer after PostgreSQL's scan.l, statement splitting,
 * and the classification pgtide routes and pools by (see sqlclass.h).
 *
 * Every doubt is resolved the same way: towards the answer that costs
 * performance, never correctness. A statement is read-only only when every
 * way the server might read it is; a session effect is flagged when it might
 * happen. Nothing here allocates except sql_denylist_new, and nothing reads
 * past the length it was given.
 */
#include "sqlclass.h"

#include <stdlib.h>
#include <string.h>

#define NOT_FOUND SIZE_MAX
/* NAMEDATALEN - 1: PostgreSQL cuts identifiers to this many bytes. */
#define NAME_MAX_BYTES 63

/* ---- characters ---- */

static inline unsigned char ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

static inline bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static inline bool is_newline(unsigned char c)
{
	return c == '\n' || c == '\r';
}

static inline bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline int hex_value(unsigned char c)
{
	if (is_digit(c))
		return c - '0';
	c = ascii_lower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* ASCII letters; OR-ing 0x20 folds case and maps no other byte into a-z.
 * (The identifier loop is the lexer's inner loop.) */
static inline bool is_letter(unsigned char c)
{
	return (unsigned char)((c | 0x20) - 'a') < 26;
}

/* scan.l's ident_start: ASCII letters, '_' and every byte >= 0x80. */
static inline bool is_ident_start(unsigned char c)
{
	return is_letter(c) || c == '_' || c >= 0x80;
}

static inline bool is_ident_cont(unsigned char c)
{
	return is_letter(c) || (unsigned char)(c - '0') < 10 || c == '_' || c == '$' || c >= 0x80;
}

/* Dollar-quote tags are identifiers without '$'. */
static inline bool is_tag_cont(unsigned char c)
{
	return is_ident_start(c) || is_digit(c);
}

static bool is_op_char(unsigned char c)
{
	switch (c) {
	case '~': case '!': case '@': case '#': case '^': case '&': case '|': case '`':
	case '?': case '+': case '-': case '*': case '/': case '%': case '<': case '>':
	case '=':
		return true;
	default:
		return false;
	}
}

/* Whether p[0..n) starts with the lower-case ASCII word w, ignoring case. */
static bool starts_with_ci(const unsigned char *p, size_t n, const char *w)
{
	size_t i = 0;

	for (; w[i]; i++) {
		if (i >= n || ascii_lower(p[i]) != (unsigned char)w[i])
			return false;
	}
	return true;
}

/* ---- lexer ---- */

/* How backslashes behave inside '...': scan.l's xq state (standard
 * conforming strings) or its xe state (E'...', or any string when
 * standard_conforming_strings is off). */
typedef enum { QUOTE_STANDARD, QUOTE_ESCAPE } quote_mode_t;

/* Offset of the newline (or the end) that ends a -- comment at pos. */
static size_t line_end(const unsigned char *s, size_t len, size_t pos)
{
	while (pos < len && !is_newline(s[pos]))
		pos++;
	return pos;
}

/* Offset just past a block comment that starts at pos ("/" "*"), or
 * NOT_FOUND. Block comments nest, as in PostgreSQL (not in the standard). */
static size_t block_comment_end(const unsigned char *s, size_t len, size_t pos)
{
	size_t depth = 0, i = pos;

	while (i + 1 < len) {
		if (s[i] == '/' && s[i + 1] == '*') {
			depth++;
			i += 2;
		} else if (s[i] == '*' && s[i + 1] == '/') {
			if (--depth == 0)
				return i + 2;
			i += 2;
		} else {
			i++;
		}
	}
	return NOT_FOUND;
}

/* Offset of the quote closing a string body that starts at pos, or
 * NOT_FOUND. '' is a quote either way; in QUOTE_ESCAPE a backslash takes
 * the next byte along, whatever it is. */
static size_t quote_close(const unsigned char *s, size_t len, size_t pos, quote_mode_t mode)
{
	for (size_t i = pos; i < len; i++) {
		if (s[i] == '\'') {
			if (i + 1 < len && s[i + 1] == '\'') {
				i++;
				continue;
			}
			return i;
		}
		if (s[i] == '\\' && mode == QUOTE_ESCAPE)
			i++;
	}
	return NOT_FOUND;
}

/*
 * After a closing quote: white space that contains a newline, with only --
 * comments in it, followed by another quote continues the same string
 * ('foo'<newline>'bar' is 'foobar'), and in the same mode, so E'a'<newline>
 * '\'' is one string. Returns the offset just past the continuing quote, or
 * 0. This is scan.l's {quotecontinue}: horizontal space and comments, a
 * newline, then any space or comment-plus-newline.
 */
static size_t quote_continuation(const unsigned char *s, size_t len, size_t pos)
{
	bool newline = false;
	size_t i = pos;

	while (i < len) {
		unsigned char c = s[i];

		if (c == ' ' || c == '\t' || c == '\f' || (c == '\v' && newline)) {
			i++;
		} else if (is_newline(c)) {
			newline = true;
			i++;
		} else if (c == '-' && i + 1 < len && s[i + 1] == '-') {
			i = line_end(s, len, i);
		} else {
			break;
		}
	}
	return newline && i < len && s[i] == '\'' ? i + 1 : 0;
}

/* Offset just past a whole string constant (continuations included) whose
 * body starts at pos, or NOT_FOUND when it is unterminated. */
static size_t quoted_end(const unsigned char *s, size_t len, size_t pos, quote_mode_t mode)
{
	for (;;) {
		size_t close = quote_close(s, len, pos, mode);

		if (close == NOT_FOUND)
			return NOT_FOUND;
		pos = quote_continuation(s, len, close + 1);
		if (pos == 0)
			return close + 1;
	}
}

static sql_tok_type_t lex_quoted(const unsigned char *s, size_t len, size_t body,
				 quote_mode_t mode, size_t *end)
{
	size_t e = quoted_end(s, len, body, mode);

	*end = e == NOT_FOUND ? len : e;
	return e == NOT_FOUND ? SQL_TOK_ERROR : SQL_TOK_STRING;
}

/* "quoted identifier", "" standing for one quote; body starts at pos. */
static sql_tok_type_t lex_qident(const unsigned char *s, size_t len, size_t pos, size_t *end)
{
	for (size_t i = pos; i < len; i++) {
		if (s[i] != '"')
			continue;
		if (i + 1 < len && s[i + 1] == '"') {
			i++;
			continue;
		}
		*end = i + 1;
		return SQL_TOK_QIDENT;
	}
	*end = len;
	return SQL_TOK_ERROR;
}

/*
 * '$' at pos: $1 is a parameter; $$ or $tag$ (tag: identifier characters
 * but no '$', not starting with a digit) opens a dollar quote that ends at
 * the next occurrence of the same delimiter (scan.l's rules for a tag seen
 * inside the body come to exactly that); anything else is a lone '$'. A '$'
 * inside a word (a$b$) never gets here: it is part of the identifier.
 */
static sql_tok_type_t lex_dollar(const unsigned char *s, size_t len, size_t pos, size_t *end)
{
	size_t i = pos + 1;

	if (i < len && is_digit(s[i])) {
		while (i < len && is_digit(s[i]))
			i++;
		*end = i;
		return SQL_TOK_PARAM;
	}
	if (i < len && is_ident_start(s[i])) {
		while (i < len && is_tag_cont(s[i]))
			i++;
	}
	if (i >= len || s[i] != '$') {
		*end = pos + 1;
		return SQL_TOK_OP;
	}
	size_t delim_len = i + 1 - pos, body = i + 1;
	const unsigned char *close = memmem(s + body, len - body, s + pos, delim_len);

	if (!close) {
		*end = len;
		return SQL_TOK_ERROR;
	}
	*end = (size_t)(close - s) + delim_len;
	return SQL_TOK_STRING;
}

/* Digits of one base, with single underscores between them (PostgreSQL
 * 16); an underscore not followed by a digit ends the number. */
static size_t digits_end(const unsigned char *s, size_t len, size_t i, int base)
{
	for (;;) {
		size_t d = i < len && s[i] == '_' ? i + 1 : i;
		int v = d < len ? hex_value(s[d]) : -1;

		if (v < 0 || v >= base)
			return i;
		i = d + 1;
	}
}

/*
 * Integers (also 0x, 0o, 0b), decimals and exponents. Letters after a
 * number are not taken along: PostgreSQL 16 rejects "1for", older servers
 * read it as 1 followed by FOR, so the word stays visible.
 */
static size_t number_end(const unsigned char *s, size_t len, size_t pos)
{
	size_t i = pos;

	if (s[i] == '0' && i + 1 < len) {
		unsigned char b = ascii_lower(s[i + 1]);
		int base = b == 'x' ? 16 : b == 'o' ? 8 : b == 'b' ? 2 : 0;

		if (base) {
			size_t e = digits_end(s, len, i + 2, base);

			if (e > i + 2)
				return e;
		}
	}
	i = digits_end(s, len, i, 10);
	if (i < len && s[i] == '.' && !(i + 1 < len && s[i + 1] == '.'))
		i = digits_end(s, len, i + 1, 10);
	if (i < len && ascii_lower(s[i]) == 'e') {
		size_t e = i + 1;

		if (e < len && (s[e] == '+' || s[e] == '-'))
			e++;
		if (e < len && is_digit(s[e]))
			i = digits_end(s, len, e, 10);
	}
	return i;
}

/* A run of operator characters, cut before any -- or slash-star in it (they
 * start a comment, as in scan.l). */
static size_t operator_end(const unsigned char *s, size_t len, size_t pos)
{
	size_t i = pos + 1;

	while (i < len && is_op_char(s[i])) {
		if (i + 1 < len && ((s[i] == '-' && s[i + 1] == '-') || (s[i] == '/' && s[i + 1] == '*')))
			break;
		i++;
	}
	return i;
}

/* A word, or one of the prefixed literals: E'..', B'..', X'..', N'..',
 * U&'..' and U&"..". The prefix only counts at the start of a token. */
static sql_tok_type_t lex_word(const unsigned char *s, size_t len, size_t pos, size_t *end)
{
	unsigned char c = ascii_lower(s[pos]);
	unsigned char c1 = pos + 1 < len ? s[pos + 1] : 0;

	if (c1 == '\'') {
		if (c == 'e')
			return lex_quoted(s, len, pos + 2, QUOTE_ESCAPE, end);
		if (c == 'b' || c == 'x' || c == 'n')
			return lex_quoted(s, len, pos + 2, QUOTE_STANDARD, end);
	}
	if (c == 'u' && c1 == '&' && pos + 2 < len) {
		if (s[pos + 2] == '\'')
			return lex_quoted(s, len, pos + 3, QUOTE_STANDARD, end);
		if (s[pos + 2] == '"')
			return lex_qident(s, len, pos + 3, end);
	}
	size_t i = pos + 1;

	while (i < len && is_ident_cont(s[i]))
		i++;
	*end = i;
	return SQL_TOK_WORD;
}

static sql_tok_type_t lex_punct(unsigned char c, unsigned char next, size_t pos, size_t *end)
{
	*end = pos + 1;
	switch (c) {
	case ';':
		return SQL_TOK_SEMI;
	case '(':
		return SQL_TOK_LPAREN;
	case ')':
		return SQL_TOK_RPAREN;
	case ',':
		return SQL_TOK_COMMA;
	case '.':
		if (next != '.')
			return SQL_TOK_DOT;
		*end = pos + 2; /* .. */
		return SQL_TOK_OP;
	case ':':
		if (next == ':' || next == '=')
			*end = pos + 2; /* :: and := */
		return SQL_TOK_OP;
	default:
		return SQL_TOK_OP; /* [ ] \ { } and bytes SQL has no use for */
	}
}

static sql_tok_type_t lex_token(const unsigned char *s, size_t len, size_t pos, size_t *end)
{
	unsigned char c = s[pos];
	unsigned char next = pos + 1 < len ? s[pos + 1] : 0;

	if (c == '\'')
		return lex_quoted(s, len, pos + 1, QUOTE_STANDARD, end);
	if (c == '"')
		return lex_qident(s, len, pos + 1, end);
	if (c == '$')
		return lex_dollar(s, len, pos, end);
	if (is_digit(c) || (c == '.' && is_digit(next))) {
		*end = number_end(s, len, pos);
		return SQL_TOK_NUMBER;
	}
	if (is_ident_start(c))
		return lex_word(s, len, pos, end);
	if (is_op_char(c)) {
		*end = operator_end(s, len, pos);
		return SQL_TOK_OP;
	}
	return lex_punct(c, next, pos, end);
}

void sql_lexer_init(sql_lexer_t *lx, const char *sql, size_t len)
{
	lx->sql = sql;
	/* Token offsets are 32-bit; PostgreSQL caps a message at 1 GB anyway. */
	lx->len = len > UINT32_MAX ? UINT32_MAX : len;
	lx->pos = 0;
}

static sql_tok_type_t emit(sql_lexer_t *lx, sql_token_t *tok, sql_tok_type_t type, size_t start,
			   size_t end)
{
	tok->type = type;
	tok->off = (uint32_t)start;
	tok->len = (uint32_t)(end - start);
	lx->pos = end;
	return type;
}

sql_tok_type_t sql_lex_next(sql_lexer_t *lx, sql_token_t *tok)
{
	const unsigned char *s = (const unsigned char *)lx->sql;
	size_t len = lx->len, pos = lx->pos, end;

	for (;;) {
		while (pos < len && is_space(s[pos]))
			pos++;
		if (pos + 1 >= len)
			break;
		if (s[pos] == '-' && s[pos + 1] == '-') {
			pos = line_end(s, len, pos);
		} else if (s[pos] == '/' && s[pos + 1] == '*') {
			end = block_comment_end(s, len, pos);
			if (end == NOT_FOUND)
				return emit(lx, tok, SQL_TOK_ERROR, pos, len);
			pos = end;
		} else {
			break;
		}
	}
	if (pos >= len)
		return emit(lx, tok, SQL_TOK_END, len, len);
	sql_tok_type_t type = lex_token(s, len, pos, &end);

	return emit(lx, tok, type, pos, end);
}

bool sql_tok_is(const sql_lexer_t *lx, const sql_token_t *tok, const char *kw)
{
	return tok->type == SQL_TOK_WORD && strlen(kw) == tok->len &&
	       starts_with_ci((const unsigned char *)lx->sql + tok->off, tok->len, kw);
}

/* ---- names ---- */

/* A name as PostgreSQL folds it, at most NAME_MAX_BYTES long. */
typedef struct name_buf {
	char *out;
	size_t n;
	bool cut;
	unsigned char dropped; /* the first byte that did not fit */
} name_buf_t;

static void name_put(name_buf_t *b, unsigned char c)
{
	if (b->cut)
		return;
	if (b->n < NAME_MAX_BYTES) {
		b->out[b->n++] = (char)c;
		return;
	}
	b->cut = true;
	b->dropped = c;
}

static void name_put_utf8(name_buf_t *b, uint32_t cp)
{
	if (cp < 0x80) {
		name_put(b, (unsigned char)cp);
	} else if (cp < 0x800) {
		name_put(b, (unsigned char)(0xc0 | (cp >> 6)));
		name_put(b, (unsigned char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		name_put(b, (unsigned char)(0xe0 | (cp >> 12)));
		name_put(b, (unsigned char)(0x80 | ((cp >> 6) & 0x3f)));
		name_put(b, (unsigned char)(0x80 | (cp & 0x3f)));
	} else {
		name_put(b, (unsigned char)(0xf0 | ((cp >> 18) & 0x07)));
		name_put(b, (unsigned char)(0x80 | ((cp >> 12) & 0x3f)));
		name_put(b, (unsigned char)(0x80 | ((cp >> 6) & 0x3f)));
		name_put(b, (unsigned char)(0x80 | (cp & 0x3f)));
	}
}

/* PostgreSQL cuts at a character boundary (pg_mbcliplen); in UTF-8 that
 * means dropping a character the cut went through. */
static size_t name_finish(name_buf_t *b)
{
	if (b->cut && (b->dropped & 0xc0) == 0x80) {
		while (b->n > 0 && ((unsigned char)b->out[b->n - 1] & 0xc0) == 0x80)
			b->n--;
		if (b->n > 0 && (unsigned char)b->out[b->n - 1] >= 0xc0)
			b->n--;
	}
	b->out[b->n] = '\0';
	return b->n;
}

static int hex_run(const unsigned char *p, size_t n, uint32_t *value)
{
	uint32_t v = 0;

	for (size_t i = 0; i < n; i++) {
		int h = hex_value(p[i]);

		if (h < 0)
			return -1;
		v = v << 4 | (uint32_t)h;
	}
	*value = v;
	return 0;
}

/* One escape of U&"..." at p (just after the escape character), or 0 when
 * it is malformed (the server rejects those, so their bytes stay). */
static size_t unicode_escape(const unsigned char *p, size_t n, uint32_t *cp)
{
	if (n >= 4 && hex_run(p, 4, cp) == 0)
		return 4;
	if (n >= 7 && p[0] == '+' && hex_run(p + 1, 6, cp) == 0)
		return 7;
	return 0;
}

/* U&"..." body p[0..n): esc + 4 hex digits, esc + '+' + 6 hex digits, esc
 * esc for the escape character itself; surrogate pairs are joined. */
static void decode_unicode_ident(name_buf_t *b, const unsigned char *p, size_t n, unsigned char esc)
{
	size_t i = 0;

	while (i < n && !b->cut) {
		uint32_t cp, low;
		size_t used;

		if (p[i] == '"') { /* "" */
			name_put(b, '"');
			i += 2;
			continue;
		}
		if (p[i] != esc || i + 1 >= n) {
			name_put(b, p[i++]);
			continue;
		}
		if (p[i + 1] == esc) {
			name_put(b, esc);
			i += 2;
			continue;
		}
		used = unicode_escape(p + i + 1, n - i - 1, &cp);
		if (!used) {
			name_put(b, p[i++]);
			continue;
		}
		i += 1 + used;
		if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < n && p[i] == esc &&
		    unicode_escape(p + i + 1, n - i - 1, &low) == 4 && low >= 0xdc00 && low <= 0xdfff) {
			cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
			i += 5;
		}
		name_put_utf8(b, cp);
	}
}

/*
 * The name a WORD or QIDENT token stands for, as PostgreSQL folds it:
 * unquoted words to ASCII lower case, quoted ones as written with ""
 * undone, U&"..." with its escapes decoded (esc is the UESCAPE character);
 * cut to NAME_MAX_BYTES. out holds NAME_MAX_BYTES + 1 bytes.
 */
static size_t fold_name(const unsigned char *sql, const sql_token_t *t, unsigned char esc, char *out)
{
	const unsigned char *p = sql + t->off;
	name_buf_t b = { .out = out };

	if (t->type == SQL_TOK_WORD) {
		for (size_t i = 0; i < t->len && !b.cut; i++)
			name_put(&b, ascii_lower(p[i]));
	} else if (p[0] == '"') {
		for (size_t i = 1; i + 1 < t->len && !b.cut; i++) {
			name_put(&b, p[i]);
			if (p[i] == '"')
				i++;
		}
	} else { /* U&"...": the body starts after the three-byte prefix */
		decode_unicode_ident(&b, p + 3, t->len - 4, esc);
	}
	return name_finish(&b);
}

static bool name_is(const char *name, size_t n, const char *what)
{
	return strlen(what) == n && memcmp(name, what, n) == 0;
}

static bool name_has_prefix(const char *name, size_t n, const char *prefix)
{
	size_t pn = strlen(prefix);

	return n >= pn && memcmp(name, prefix, pn) == 0;
}

/* ---- deny list ---- */

/*
 * Functions whose call keeps a statement off a read-only replica: they
 * write, have an effect outside the query's result, or answer about the
 * session on the server the client believes it talks to (the primary).
 * User-defined functions that write are the operator's to add.
 */
#define DEFAULT_DENYLIST(X)                                                                        \
	/* sequences: nextval/setval write; currval/lastval report this session's */             \
	/* last nextval, which only the primary's session has */                                 \
	X("nextval") X("setval") X("currval") X("lastval") X("pg_sequence_*")                      \
	/* locks held by the session or transaction on this server */                            \
	X("pg_advisory_*") X("pg_try_advisory_*")                                                  \
	/* large objects: lo_creat/lo_import/lo_unlink/lowrite... write */                       \
	X("lo_*") X("loread") X("lowrite")                                                         \
	/* changes a setting, for the session unless is_local */                                 \
	X("set_config")                                                                            \
	/* assign a transaction id (a write) or report the primary's */                          \
	X("txid_current") X("txid_current_if_assigned") X("pg_current_xact_id")                  \
	X("pg_current_xact_id_if_assigned")                                                        \
	/* side effects elsewhere */                                                               \
	X("pg_notify") X("dblink*") X("pg_export_snapshot")                                       \
	/* WAL, backups, recovery: write, or fail while in recovery */                           \
	X("pg_switch_wal") X("pg_switch_xlog") X("pg_create_restore_point")                        \
	X("pg_start_backup") X("pg_backup_start") X("pg_stop_backup") X("pg_backup_stop")         \
	X("pg_current_wal_*") X("pg_current_xlog_*") X("pg_wal_replay_*") X("pg_xlog_replay_*")   \
	X("pg_promote") X("pg_log_standby_snapshot")                                               \
	/* act on other backends or the server */                                                  \
	X("pg_cancel_backend") X("pg_terminate_backend") X("pg_reload_conf")                      \
	X("pg_rotate_logfile*") X("pg_log_backend_memory_contexts")                                \
	/* replication slots and origins */                                                        \
	X("pg_create_physical_replication_slot") X("pg_create_logical_replication_slot")          \
	X("pg_copy_physical_replication_slot") X("pg_copy_logical_replication_slot")              \
	X("pg_drop_replication_slot") X("pg_replication_slot_advance")                            \
	X("pg_logical_slot_get_*") X("pg_logical_emit_message") X("pg_replication_origin_*")      \
	/* statistics, catalogs, index and file maintenance */                                    \
	X("pg_stat_reset*") X("pg_stat_statements_reset") X("pg_import_system_collations")        \
	X("gin_clean_pending_list") X("brin_summarize_*") X("brin_desummarize_range")             \
	X("pg_file_*") X("pg_truncate_visibility_map")

typedef struct deny_pattern {
	const char *text; /* lower case; a trailing '*' makes it a prefix */
	size_t len;       /* with the '*' */
} deny_pattern_t;

struct sql_denylist {
	size_t n;
	const deny_pattern_t *patterns;
};

#define DENY_AS_TEXT(name) ", " name
#define DENY_AS_PATTERN(name) { name, sizeof(name) - 1 },

static const char default_denylist_text[] = DEFAULT_DENYLIST(DENY_AS_TEXT);
static const deny_pattern_t default_patterns[] = { DEFAULT_DENYLIST(DENY_AS_PATTERN) };
static const sql_denylist_t default_denylist = { ARRAY_SIZE(default_patterns), default_patterns };

const char *sql_default_denylist(void)
{
	return default_denylist_text + 2; /* past the first ", " */
}

/* Trims one list entry in place: white space around it, and a schema
 * (patterns match the function name, as calls do). */
static void deny_entry_trim(char **start, char **end)
{
	while (*start < *end && is_space((unsigned char)**start))
		(*start)++;
	while (*end > *start && is_space((unsigned char)(*end)[-1]))
		(*end)--;
	for (char *p = *end; p > *start; p--) {
		if (p[-1] == '.') {
			*start = p;
			break;
		}
	}
}

sql_denylist_t *sql_denylist_new(const char *comma_list)
{
	const char *src = comma_list ? comma_list : sql_default_denylist();
	size_t text_len = strlen(src), max_entries = 1;

	for (const char *p = src; *p; p++)
		max_entries += *p == ',';
	/* One block: the list, its patterns, then the lower-cased text. */
	size_t head = sizeof(sql_denylist_t) + max_entries * sizeof(deny_pattern_t);
	sql_denylist_t *d = xmalloc(head + text_len + 1);
	deny_pattern_t *patterns = (deny_pattern_t *)(d + 1);
	char *text = (char *)d + head;

	for (size_t i = 0; i <= text_len; i++)
		text[i] = (char)ascii_lower((unsigned char)src[i]);
	d->n = 0;
	d->patterns = patterns;
	for (char *p = text;;) {
		char *comma = strchr(p, ','), *end = comma ? comma : text + text_len, *start = p;

		deny_entry_trim(&start, &end);
		if (end > start) {
			patterns[d->n].text = start;
			patterns[d->n].len = (size_t)(end - start);
			d->n++;
		}
		if (!comma)
			return d;
		p = comma + 1;
	}
}

void sql_denylist_free(sql_denylist_t *d)
{
	free(d);
}

bool sql_denylist_match(const sql_denylist_t *d, const char *name, size_t len)
{
	if (!d)
		d = &default_denylist;
	for (size_t i = 0; i < d->n; i++) {
		const deny_pattern_t *p = &d->patterns[i];
		bool prefix = p->text[p->len - 1] == '*';
		size_t plen = prefix ? p->len - 1 : p->len;

		if ((prefix ? len >= plen : len == plen) && memcmp(name, p->text, plen) == 0)
			return true;
	}
	return false;
}

/* ---- keywords ---- */

/* The words the classifier looks at; everything else is KW_UNKNOWN. */
typedef enum {
	KW_UNKNOWN = 0,
	KW_ABORT, KW_ALL, KW_ANALYSE, KW_ANALYZE, KW_AS, KW_ATOMIC, KW_AUTHORIZATION,
	KW_BEGIN, KW_CASE, KW_CHARACTERISTICS, KW_CLOSE, KW_COMMIT, KW_CONSTRAINTS,
	KW_CREATE, KW_DEALLOCATE, KW_DECLARE, KW_DEFAULT, KW_DELETE, KW_DISCARD, KW_DROP,
	KW_END, KW_EXECUTE, KW_EXPLAIN, KW_FOR, KW_FUNCTION, KW_GLOBAL, KW_HOLD, KW_INSERT,
	KW_INTO, KW_KEY, KW_LISTEN, KW_LOAD, KW_LOCAL, KW_MERGE, KW_NO, KW_NONE, KW_ON,
	KW_ONLY, KW_OR, KW_PREPARE, KW_PREPARED, KW_PROCEDURE, KW_READ, KW_RECURSIVE,
	KW_REPLACE, KW_RESET, KW_ROLE, KW_ROLLBACK, KW_SELECT, KW_SESSION, KW_SET, KW_SHARE,
	KW_SHOW, KW_START, KW_TABLE, KW_TEMP, KW_TEMPORARY, KW_TO, KW_TRANSACTION,
	KW_UESCAPE, KW_UNLISTEN, KW_UPDATE, KW_VALUES, KW_VERBOSE, KW_WITH, KW_WORK,
	KW_WRITE,
} kw_t;

static kw_t keyword_of(const unsigned char *w, size_t n)
{
	char low[16];

	if (n < 2 || n > 15)
		return KW_UNKNOWN;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)ascii_lower(w[i]);
/* The length check keeps memcmp inside the literal. */
#define KW(len, text, id)                                                       \
	do {                                                                    \
		_Static_assert(sizeof(text) - 1 == (len), "keyword length");   \
		if (memcmp(low, text, len) == 0)                                \
			return id;                                              \
	} while (0)
	switch (n) {
	case 2:
		KW(2, "as", KW_AS); KW(2, "no", KW_NO); KW(2, "on", KW_ON);
		KW(2, "or", KW_OR); KW(2, "to", KW_TO);
		break;
	case 3:
		KW(3, "all", KW_ALL); KW(3, "end", KW_END); KW(3, "for", KW_FOR);
		KW(3, "key", KW_KEY); KW(3, "set", KW_SET);
		break;
	case 4:
		KW(4, "case", KW_CASE); KW(4, "drop", KW_DROP); KW(4, "hold", KW_HOLD);
		KW(4, "into", KW_INTO); KW(4, "load", KW_LOAD); KW(4, "none", KW_NONE);
		KW(4, "only", KW_ONLY); KW(4, "read", KW_READ); KW(4, "role", KW_ROLE);
		KW(4, "show", KW_SHOW); KW(4, "temp", KW_TEMP); KW(4, "with", KW_WITH);
		KW(4, "work", KW_WORK);
		break;
	case 5:
		KW(5, "abort", KW_ABORT); KW(5, "begin", KW_BEGIN); KW(5, "close", KW_CLOSE);
		KW(5, "local", KW_LOCAL); KW(5, "merge", KW_MERGE); KW(5, "reset", KW_RESET);
		KW(5, "share", KW_SHARE); KW(5, "start", KW_START); KW(5, "table", KW_TABLE);
		KW(5, "write", KW_WRITE);
		break;
	case 6:
		KW(6, "atomic", KW_ATOMIC); KW(6, "commit", KW_COMMIT); KW(6, "create", KW_CREATE);
		KW(6, "delete", KW_DELETE); KW(6, "global", KW_GLOBAL); KW(6, "insert", KW_INSERT);
		KW(6, "listen", KW_LISTEN); KW(6, "select", KW_SELECT); KW(6, "update", KW_UPDATE);
		KW(6, "values", KW_VALUES);
		break;
	case 7:
		KW(7, "analyse", KW_ANALYSE); KW(7, "analyze", KW_ANALYZE);
		KW(7, "declare", KW_DECLARE); KW(7, "default", KW_DEFAULT);
		KW(7, "discard", KW_DISCARD); KW(7, "execute", KW_EXECUTE);
		KW(7, "explain", KW_EXPLAIN); KW(7, "prepare", KW_PREPARE);
		KW(7, "replace", KW_REPLACE); KW(7, "session", KW_SESSION);
		KW(7, "uescape", KW_UESCAPE); KW(7, "verbose", KW_VERBOSE);
		break;
	case 8:
		KW(8, "function", KW_FUNCTION); KW(8, "prepared", KW_PREPARED);
		KW(8, "rollback", KW_ROLLBACK); KW(8, "unlisten", KW_UNLISTEN);
		break;
	case 9:
		KW(9, "procedure", KW_PROCEDURE); KW(9, "recursive", KW_RECURSIVE);
		KW(9, "temporary", KW_TEMPORARY);
		break;
	case 10:
		KW(10, "deallocate", KW_DEALLOCATE);
		break;
	case 11:
		KW(11, "constraints", KW_CONSTRAINTS); KW(11, "transaction", KW_TRANSACTION);
		break;
	case 13:
		KW(13, "authorization", KW_AUTHORIZATION);
		break;
	case 15:
		KW(15, "characteristics", KW_CHARACTERISTICS);
		break;
	default:
		break;
	}
#undef KW
	return KW_UNKNOWN;
}

/* ---- statement scan ---- */

#define HEAD_MAX 8 /* tokens kept from a statement's start */

/* What the statement's core is: the statement itself, or what EXPLAIN
 * explains. Only CORE_SELECT and CORE_SHOW can be read-only. */
typedef enum {
	CORE_PENDING = 0, /* nothing but '(' seen yet */
	CORE_SELECT,      /* SELECT, VALUES, TABLE, WITH ... SELECT */
	CORE_WITH,        /* WITH, main statement not seen yet */
	CORE_SHOW,
	CORE_INSERT,
	CORE_UPDATE,
	CORE_DELETE,
	CORE_OTHER,
} core_kind_t;

typedef enum { EXPLAIN_START = 0, EXPLAIN_WORDS, EXPLAIN_OPTIONS, EXPLAIN_CORE } explain_stage_t;

/* A WORD or QIDENT whose role the next token decides: a call when '('
 * follows, a schema when '.' follows. U&"..." may be followed by UESCAPE
 * 'c' before that. */
typedef struct pending_name {
	bool active;
	uint8_t uescape; /* 0: none, 1: UESCAPE seen, 2: its string seen */
	unsigned char esc;
	sql_token_t tok;
} pending_name_t;

typedef struct scan {
	const unsigned char *sql;
	size_t len;
	const sql_denylist_t *deny;
	sql_stmt_t *st;
	unsigned ntok, depth, atomic_depth;
	sql_token_t head[HEAD_MAX];
	kw_t head_kw[HEAD_MAX];
	kw_t lead;           /* the first word */
	sql_token_t prev;    /* the token before the current one */
	kw_t prev_kw, prev2_kw;
	pending_name_t name;
	/* the core and, for WITH, where its main statement is looked for */
	core_kind_t core;
	bool core_is_statement; /* the statement is its own core (not EXPLAIN) */
	unsigned core_depth;
	bool expect_cte_name;
	explain_stage_t explain_stage;
	bool explain_analyze;
	/* what was seen anywhere in the statement */
	bool lex_error, ambiguous, writes, locking, into, into_temp, denied, pg_temp_ref;
	/* per command */
	bool txn_read_only, rollback_other, prepare_body_next, declare_for_seen;
	bool on_commit_drop, routine;
} scan_t;

static void add_state(scan_t *s, const char *what)
{
	s->st->flags |= SQLF_SESSION_STATE;
	if (!s->st->state_what)
		s->st->state_what = what;
}

static unsigned token_depth(scan_t *s, const sql_token_t *t)
{
	if (t->type == SQL_TOK_LPAREN)
		return s->depth++;
	if (t->type == SQL_TOK_RPAREN && s->depth > 0)
		return --s->depth;
	return s->depth;
}

/* -- strings -- */

/*
 * Session effects inside string constants: DO blocks and function bodies
 * are strings. This looks at the text as written (escapes are not decoded):
 * code that builds the name at run time cannot be caught by any scanner.
 */
static void string_needles(scan_t *s, const sql_token_t *t)
{
	const unsigned char *p = s->sql + t->off;
	size_t n = t->len;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = ascii_lower(p[i]);

		if (c == 's' && starts_with_ci(p + i, n - i, "set_config")) {
			s->st->flags |= SQLF_SESSION_GUC;
		} else if (c == 'p' && starts_with_ci(p + i, n - i, "pg_")) {
			const unsigned char *rest = p + i + 3;
			size_t left = n - i - 3;

			if (starts_with_ci(rest, left, "advisory_lock"))
				add_state(s, "pg_advisory_lock()");
			else if (starts_with_ci(rest, left, "try_advisory_lock"))
				add_state(s, "pg_try_advisory_lock()");
			else if (starts_with_ci(rest, left, "advisory_unlock"))
				s->st->flags |= SQLF_STATE_RELEASE;
		}
	}
}

static bool backslash_after_high_byte(const unsigned char *p, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		if (p[i] == '\\' && p[i - 1] >= 0x80)
			return true;
	}
	return false;
}

/*
 * Whether the string's extent depends on settings this lexer cannot see:
 * with standard_conforming_strings off the server reads '...' like E'...'
 * (a client may turn it off with SET), and in client encodings such as
 * SJIS, BIG5 or GBK a backslash byte after a high byte is the second half of
 * a character, not an escape. Either can move the end of the string, and
 * with it what looks like SQL around it.
 */
static bool string_is_ambiguous(const scan_t *s, const sql_token_t *t)
{
	const unsigned char *p = s->sql + t->off;
	unsigned char c = ascii_lower(p[0]);

	if (!memchr(p, '\\', t->len))
		return false;
	if (c == 'e')
		return backslash_after_high_byte(p, t->len);
	if (c != '\'' && c != 'n') /* B'', X'', U&'' and $$ never take escapes */
		return false;
	if (backslash_after_high_byte(p, t->len))
		return true;
	/* Read it again with escapes, but only up to its end: whether that
	 * reading closes exactly there is all that counts, and running on to
	 * the end of the text each time would make '\'\'\'... quadratic. What
	 * follows the end (a continuation, a second quote) looks the same to
	 * both readings. */
	size_t body = t->off + (c == 'n' ? 2 : 1), end = (size_t)t->off + t->len;

	return quoted_end(s->sql, end, body, QUOTE_ESCAPE) != end;
}

/* -- names -- */

static bool is_temp_schema(const char *name, size_t n)
{
	if (!name_has_prefix(name, n, "pg_temp"))
		return false;
	if (n == 7)
		return true;
	if (n == 8 || name[7] != '_')
		return false;
	for (size_t i = 8; i < n; i++) {
		if (!is_digit((unsigned char)name[i]))
			return false;
	}
	return true;
}

static void call_checks(scan_t *s, const char *name, size_t n)
{
	if (sql_denylist_match(s->deny, name, n))
		s->denied = true;
	if (name_is(name, n, "pg_advisory_lock"))
		add_state(s, "pg_advisory_lock()");
	else if (name_is(name, n, "pg_advisory_lock_shared"))
		add_state(s, "pg_advisory_lock_shared()");
	else if (name_is(name, n, "pg_try_advisory_lock"))
		add_state(s, "pg_try_advisory_lock()");
	else if (name_is(name, n, "pg_try_advisory_lock_shared"))
		add_state(s, "pg_try_advisory_lock_shared()");
	else if (name_has_prefix(name, n, "pg_advisory_unlock"))
		s->st->flags |= SQLF_STATE_RELEASE;
}

/* The pending name meets the token after it (NULL at the end). */
static void name_complete(scan_t *s, const sql_token_t *next)
{
	const sql_token_t *t = &s->name.tok;
	bool call = next && next->type == SQL_TOK_LPAREN;
	bool qualifier = next && next->type == SQL_TOK_DOT;
	char name[NAME_MAX_BYTES + 1];

	/* Most words are neither calls nor schemas nor as long as set_config. */
	if (t->type == SQL_TOK_WORD && !call && !qualifier && t->len != 10)
		return;
	size_t n = fold_name(s->sql, t, s->name.esc, name);

	if (name_is(name, n, "set_config"))
		s->st->flags |= SQLF_SESSION_GUC;
	if (call)
		call_checks(s, name, n);
	if (qualifier && is_temp_schema(name, n))
		s->pg_temp_ref = true;
}

static bool is_unicode_ident(const scan_t *s, const sql_token_t *t)
{
	return t->type == SQL_TOK_QIDENT && s->sql[t->off] != '"';
}

/* The character of UESCAPE 'c' (anything else is an error on the server). */
static unsigned char uescape_char(const scan_t *s, const sql_token_t *t)
{
	const unsigned char *p = s->sql + t->off;

	return t->len == 3 && p[0] == '\'' ? p[1] : 0;
}

static void name_feed(scan_t *s, const sql_token_t *t, kw_t kw)
{
	pending_name_t *p = &s->name;

	if (p->active) {
		if (p->uescape == 0 && kw == KW_UESCAPE && is_unicode_ident(s, &p->tok)) {
			p->uescape = 1;
			return;
		}
		if (p->uescape == 1 && t->type == SQL_TOK_STRING) {
			p->esc = uescape_char(s, t);
			p->uescape = 2;
			return;
		}
		name_complete(s, t);
		p->active = false;
	}
	if (t->type == SQL_TOK_WORD || t->type == SQL_TOK_QIDENT) {
		p->active = true;
		p->uescape = 0;
		p->esc = '\\';
		p->tok = *t;
	}
}

/* -- evidence: what any statement may contain -- */

static void word_evidence(scan_t *s, kw_t kw)
{
	switch (kw) {
	case KW_INSERT: case KW_UPDATE: case KW_DELETE: case KW_MERGE:
		s->writes = true;
		break;
	case KW_INTO:
		s->into = true;
		break;
	case KW_TEMP: case KW_TEMPORARY:
		if (s->prev_kw == KW_INTO ||
		    ((s->prev_kw == KW_LOCAL || s->prev_kw == KW_GLOBAL) && s->prev2_kw == KW_INTO))
			s->into_temp = true;
		break;
	default:
		break;
	}
	/* FOR UPDATE, FOR NO KEY UPDATE, FOR SHARE, FOR KEY SHARE */
	if (s->prev_kw == KW_FOR &&
	    (kw == KW_UPDATE || kw == KW_SHARE || kw == KW_NO || kw == KW_KEY))
		s->locking = true;
}

static void evidence_feed(scan_t *s, const sql_token_t *t, kw_t kw)
{
	switch (t->type) {
	case SQL_TOK_ERROR:
		s->lex_error = true;
		break;
	case SQL_TOK_STRING:
		string_needles(s, t);
		if (string_is_ambiguous(s, t))
			s->ambiguous = true;
		break;
	case SQL_TOK_WORD:
		word_evidence(s, kw);
		break;
	default:
		break;
	}
}

/* -- the core: SELECT family, WITH, SHOW, and what EXPLAIN explains -- */

/* The core a main-statement keyword starts; CORE_PENDING for other words. */
static core_kind_t main_statement_core(kw_t kw)
{
	switch (kw) {
	case KW_SELECT: case KW_VALUES: case KW_TABLE:
		return CORE_SELECT;
	case KW_INSERT:
		return CORE_INSERT;
	case KW_UPDATE:
		return CORE_UPDATE;
	case KW_DELETE:
		return CORE_DELETE;
	case KW_MERGE:
		return CORE_OTHER;
	default:
		return CORE_PENDING;
	}
}

/*
 * Inside WITH, at the WITH's own depth: a word after WITH, RECURSIVE or a
 * comma names a CTE (insert, update, delete and merge are unreserved and
 * can be names); the first other main-statement keyword, or a '(' right
 * after a CTE's ')', starts the main statement.
 */
static void with_feed(scan_t *s, const sql_token_t *t, kw_t kw, unsigned depth)
{
	if (depth != s->core_depth)
		return;
	if (t->type == SQL_TOK_COMMA) {
		s->expect_cte_name = true;
		return;
	}
	if (t->type == SQL_TOK_LPAREN && s->prev.type == SQL_TOK_RPAREN) {
		s->core = CORE_SELECT;
		return;
	}
	bool is_name = s->expect_cte_name;

	s->expect_cte_name = kw == KW_RECURSIVE && s->prev_kw == KW_WITH;
	if (!is_name && !s->expect_cte_name && main_statement_core(kw) != CORE_PENDING)
		s->core = main_statement_core(kw);
}

static void core_feed(scan_t *s, const sql_token_t *t, kw_t kw, unsigned depth)
{
	if (s->core == CORE_WITH) {
		with_feed(s, t, kw, depth);
		return;
	}
	if (s->core != CORE_PENDING)
		return;
	if (t->type == SQL_TOK_LPAREN)
		return; /* (SELECT ...) */
	s->core_depth = depth;
	switch (kw) {
	case KW_WITH:
		s->core = CORE_WITH;
		s->expect_cte_name = true;
		break;
	case KW_SHOW:
		s->core = depth == 0 ? CORE_SHOW : CORE_OTHER;
		break;
	default:
		s->core = main_statement_core(kw);
		if (s->core == CORE_PENDING)
			s->core = CORE_OTHER;
		break;
	}
}

/* EXPLAIN [ANALYZE] [VERBOSE] stmt, or EXPLAIN (option, ...) stmt. Any
 * ANALYZE counts, even ANALYZE false: that only costs a replica. */
static void explain_feed(scan_t *s, const sql_token_t *t, kw_t kw, unsigned depth)
{
	switch (s->explain_stage) {
	case EXPLAIN_START:
		if (t->type == SQL_TOK_LPAREN) {
			s->explain_stage = EXPLAIN_OPTIONS;
			return;
		}
		s->explain_stage = EXPLAIN_WORDS;
		/* fall through */
	case EXPLAIN_WORDS:
		if (kw == KW_ANALYZE || kw == KW_ANALYSE || kw == KW_VERBOSE) {
			s->explain_analyze |= kw != KW_VERBOSE;
			return;
		}
		s->explain_stage = EXPLAIN_CORE;
		core_feed(s, t, kw, depth);
		return;
	case EXPLAIN_OPTIONS:
		if (kw == KW_ANALYZE || kw == KW_ANALYSE)
			s->explain_analyze = true;
		if (t->type == SQL_TOK_RPAREN && depth == 0)
			s->explain_stage = EXPLAIN_CORE;
		return;
	case EXPLAIN_CORE:
		core_feed(s, t, kw, depth);
		return;
	}
}

/* -- other commands that need more than their first few tokens -- */

/* BEGIN / START TRANSACTION modes: the last of READ ONLY / READ WRITE wins;
 * READ COMMITTED and REPEATABLE READ are isolation levels. */
static void txn_mode_feed(scan_t *s, kw_t kw, unsigned depth)
{
	if (depth != 0 || s->prev_kw != KW_READ)
		return;
	if (kw == KW_ONLY)
		s->txn_read_only = true;
	else if (kw == KW_WRITE)
		s->txn_read_only = false;
}

static void prepare_feed(scan_t *s, const sql_token_t *t, kw_t kw, unsigned depth)
{
	if (s->prepare_body_next) {
		s->st->body_off = t->off;
		s->prepare_body_next = false;
	} else if (s->ntok >= 2 && kw == KW_AS && depth == 0 && s->st->body_off == 0) {
		s->prepare_body_next = true;
	}
}

/* DECLARE name ... [WITH HOLD] FOR query: only before FOR (the query may
 * have a CTE called hold). */
static void declare_feed(scan_t *s, kw_t kw, unsigned depth)
{
	if (s->declare_for_seen)
		return;
	if (kw == KW_FOR && depth == 0)
		s->declare_for_seen = true;
	else if (kw == KW_HOLD && s->prev_kw == KW_WITH)
		add_state(s, "DECLARE ... WITH HOLD");
}

/*
 * CREATE: ON COMMIT DROP (a temporary table that ends with the transaction),
 * and CREATE [OR REPLACE] FUNCTION|PROCEDURE ... BEGIN ATOMIC ... END, whose
 * body holds semicolons that do not end the statement. CASE ... END inside
 * the body nests, as psql counts it.
 */
static void create_feed(scan_t *s, kw_t kw, unsigned depth)
{
	if (kw == KW_DROP && s->prev_kw == KW_COMMIT && s->prev2_kw == KW_ON)
		s->on_commit_drop = true;
	if ((s->ntok == 1 || (s->ntok == 3 && s->head_kw[1] == KW_OR && s->head_kw[2] == KW_REPLACE)) &&
	    (kw == KW_FUNCTION || kw == KW_PROCEDURE))
		s->routine = true;
	if (!s->routine || depth != 0)
		return;
	if (kw == KW_ATOMIC && s->prev_kw == KW_BEGIN)
		s->atomic_depth++;
	else if (kw == KW_CASE && s->atomic_depth > 0)
		s->atomic_depth++;
	else if (kw == KW_END && s->atomic_depth > 0)
		s->atomic_depth--;
}

static bool leads_core(const sql_token_t *t, kw_t kw)
{
	switch (kw) {
	case KW_SELECT: case KW_VALUES: case KW_TABLE: case KW_WITH: case KW_SHOW:
	case KW_INSERT: case KW_UPDATE: case KW_DELETE:
		return true;
	default:
		return t->type == SQL_TOK_LPAREN;
	}
}

static void command_feed(scan_t *s, const sql_token_t *t, kw_t kw, unsigned depth)
{
	if (s->ntok == 0) {
		s->lead = kw;
		s->core_is_statement = leads_core(t, kw);
	}
	if (s->core_is_statement) {
		core_feed(s, t, kw, depth);
		return;
	}
	if (s->ntok == 0)
		return;
	switch (s->lead) {
	case KW_EXPLAIN:
		explain_feed(s, t, kw, depth);
		break;
	case KW_BEGIN: case KW_START:
		txn_mode_feed(s, kw, depth);
		break;
	case KW_ROLLBACK: case KW_ABORT:
		s->rollback_other |= kw == KW_TO || kw == KW_PREPARED;
		break;
	case KW_PREPARE:
		prepare_feed(s, t, kw, depth);
		break;
	case KW_DECLARE:
		declare_feed(s, kw, depth);
		break;
	case KW_CREATE:
		create_feed(s, kw, depth);
		break;
	default:
		break;
	}
}

static void scan_token(scan_t *s, const sql_token_t *t)
{
	kw_t kw = t->type == SQL_TOK_WORD ? keyword_of(s->sql + t->off, t->len) : KW_UNKNOWN;
	unsigned depth = token_depth(s, t);

	if (s->ntok < HEAD_MAX) {
		s->head[s->ntok] = *t;
		s->head_kw[s->ntok] = kw;
	}
	if (s->ntok == 0)
		s->st->off = t->off;
	s->st->len = t->off + t->len - s->st->off;
	evidence_feed(s, t, kw);
	name_feed(s, t, kw);
	command_feed(s, t, kw, depth);
	s->prev = *t;
	s->prev2_kw = s->prev_kw;
	s->prev_kw = kw;
	s->ntok++;
}

/* ---- finishing a statement ---- */

static kw_t head_kw(const scan_t *s, unsigned i)
{
	return i < s->ntok && i < HEAD_MAX ? s->head_kw[i] : KW_UNKNOWN;
}

static const sql_token_t *head_tok(const scan_t *s, unsigned i)
{
	return i < s->ntok && i < HEAD_MAX ? &s->head[i] : NULL;
}

/* PREPARE / EXECUTE / DEALLOCATE: the name at head index i, if it is one. */
static void take_name(scan_t *s, unsigned i)
{
	const sql_token_t *t = head_tok(s, i), *esc = head_tok(s, i + 2);
	unsigned char escape = '\\';

	if (!t || (t->type != SQL_TOK_WORD && t->type != SQL_TOK_QIDENT))
		return;
	if (is_unicode_ident(s, t) && head_kw(s, i + 1) == KW_UESCAPE && esc &&
	    esc->type == SQL_TOK_STRING)
		escape = uescape_char(s, esc);
	fold_name(s->sql, t, escape, s->st->name);
	s->st->name_off = t->off;
	s->st->name_len = t->len;
}

/* SET ROLE value / SET SESSION AUTHORIZATION value at head index i: NONE
 * and DEFAULT give the session its own identity back. */
static void set_identity(scan_t *s, unsigned i, const char *what)
{
	const sql_token_t *t = head_tok(s, i);

	if (head_kw(s, i) == KW_TO || (t && t->type == SQL_TOK_OP && t->len == 1 && s->sql[t->off] == '='))
		i++;
	if (head_kw(s, i) == KW_NONE || head_kw(s, i) == KW_DEFAULT)
		s->st->flags |= SQLF_STATE_RELEASE;
	else
		add_state(s, what);
}

/* SET: LOCAL, TRANSACTION and CONSTRAINTS end with the transaction; ROLE
 * and SESSION AUTHORIZATION are identities; every other form (SET SESSION
 * CHARACTERISTICS too: it sets the session's transaction defaults) stays. */
static void finish_set(scan_t *s)
{
	switch (head_kw(s, 1)) {
	case KW_LOCAL: case KW_TRANSACTION: case KW_CONSTRAINTS:
		return;
	case KW_ROLE:
		set_identity(s, 2, "SET ROLE");
		return;
	case KW_SESSION:
		if (head_kw(s, 2) == KW_ROLE) {
			set_identity(s, 3, "SET ROLE");
			return;
		}
		if (head_kw(s, 2) == KW_AUTHORIZATION) {
			set_identity(s, 3, "SET SESSION AUTHORIZATION");
			return;
		}
		break;
	default:
		break;
	}
	s->st->flags |= SQLF_SESSION_GUC;
}

static void finish_deallocate(scan_t *s)
{
	unsigned i = 1;
	const sql_token_t *after = head_tok(s, 2);

	/* DEALLOCATE PREPARE x; but DEALLOCATE prepare deallocates "prepare". */
	if (head_kw(s, 1) == KW_PREPARE && after &&
	    (after->type == SQL_TOK_WORD || after->type == SQL_TOK_QIDENT))
		i = 2;
	if (head_kw(s, i) == KW_ALL)
		s->st->flags |= SQLF_DEALLOCATE_ALL;
	else
		take_name(s, i);
}

/* CREATE [OR REPLACE] [GLOBAL|LOCAL] TEMP|TEMPORARY ..., or an object put in
 * pg_temp by name; not when ON COMMIT DROP ends it with the transaction. */
static void finish_create(scan_t *s)
{
	unsigned i = 1;
	kw_t kw;

	while ((kw = head_kw(s, i)) == KW_OR || kw == KW_REPLACE || kw == KW_GLOBAL || kw == KW_LOCAL)
		i++;
	if ((kw == KW_TEMP || kw == KW_TEMPORARY || s->pg_temp_ref) && !s->on_commit_drop)
		add_state(s, "CREATE TEMP");
}

static sql_cmd_t core_cmd(const scan_t *s)
{
	switch (s->core) {
	case CORE_SELECT:
		return SQL_CMD_SELECT;
	case CORE_SHOW:
		return SQL_CMD_SHOW;
	case CORE_INSERT:
		return SQL_CMD_INSERT;
	case CORE_UPDATE:
		return SQL_CMD_UPDATE;
	case CORE_DELETE:
		return SQL_CMD_DELETE;
	default:
		return SQL_CMD_OTHER;
	}
}

/* The command, and the flags that follow from the command alone. */
static sql_cmd_t finish_command(scan_t *s)
{
	const sql_token_t *t2 = head_tok(s, 2);
	uint32_t *flags = &s->st->flags;

	if (s->core_is_statement)
		return core_cmd(s);
	switch (s->lead) {
	case KW_EXPLAIN:
		return SQL_CMD_EXPLAIN;
	case KW_BEGIN:
		return SQL_CMD_BEGIN;
	case KW_START:
		return head_kw(s, 1) == KW_TRANSACTION ? SQL_CMD_BEGIN : SQL_CMD_OTHER;
	case KW_COMMIT:
		return head_kw(s, 1) == KW_PREPARED ? SQL_CMD_OTHER : SQL_CMD_COMMIT;
	case KW_END:
		return SQL_CMD_COMMIT;
	case KW_ROLLBACK: case KW_ABORT:
		return s->rollback_other ? SQL_CMD_OTHER : SQL_CMD_ROLLBACK;
	case KW_SET:
		finish_set(s);
		return SQL_CMD_SET;
	case KW_RESET: {
		kw_t what = head_kw(s, 1);

		*flags |= SQLF_SESSION_GUC;
		if (what == KW_ROLE || what == KW_ALL || what == KW_SESSION)
			*flags |= SQLF_STATE_RELEASE;
		return SQL_CMD_RESET;
	}
	case KW_DISCARD:
		*flags |= SQLF_SESSION_GUC | SQLF_STATE_RELEASE;
		if (head_kw(s, 1) == KW_ALL)
			*flags |= SQLF_DEALLOCATE_ALL;
		return SQL_CMD_DISCARD;
	case KW_PREPARE:
		/* PREPARE TRANSACTION 'gid' is two-phase commit. */
		if (head_kw(s, 1) == KW_TRANSACTION && t2 && t2->type == SQL_TOK_STRING) {
			s->st->body_off = 0;
			return SQL_CMD_OTHER;
		}
		take_name(s, 1);
		return SQL_CMD_PREPARE;
	case KW_EXECUTE:
		take_name(s, 1);
		return SQL_CMD_EXECUTE;
	case KW_DEALLOCATE:
		finish_deallocate(s);
		return SQL_CMD_DEALLOCATE;
	case KW_LISTEN:
		add_state(s, "LISTEN");
		return SQL_CMD_LISTEN;
	case KW_UNLISTEN:
		*flags |= SQLF_STATE_RELEASE;
		return SQL_CMD_UNLISTEN;
	case KW_LOAD:
		add_state(s, "LOAD");
		return SQL_CMD_OTHER;
	case KW_DROP: case KW_CLOSE:
		*flags |= SQLF_STATE_RELEASE;
		return SQL_CMD_OTHER;
	case KW_CREATE:
		finish_create(s);
		return SQL_CMD_OTHER;
	default:
		return SQL_CMD_OTHER;
	}
}

static bool core_read_only(const scan_t *s)
{
	if (s->core == CORE_SHOW)
		return true;
	return s->core == CORE_SELECT && !s->writes && !s->into && !s->locking && !s->denied;
}

static void scan_finish(scan_t *s)
{
	sql_stmt_t *st = s->st;
	bool clean = !s->lex_error && !s->ambiguous;

	if (s->name.active)
		name_complete(s, NULL);
	st->cmd = finish_command(s);
	if (s->core == CORE_SELECT && s->into && (s->into_temp || s->pg_temp_ref))
		add_state(s, "SELECT INTO TEMP");
	if (s->core_is_statement)
		st->flags |= clean && core_read_only(s) ? SQLF_READ_ONLY : 0;
	else if (s->lead == KW_EXPLAIN)
		st->flags |= clean && (!s->explain_analyze || core_read_only(s)) ? SQLF_READ_ONLY : 0;
	if (st->cmd == SQL_CMD_BEGIN && s->txn_read_only)
		st->flags |= SQLF_TXN_READ_ONLY;
	if (s->ambiguous)
		st->flags |= SQLF_LEX_AMBIGUOUS;
}

/* ---- statements ---- */

void sql_iter_init(sql_iter_t *it, const char *sql, size_t len, const sql_denylist_t *deny)
{
	sql_lexer_init(&it->lx, sql, len);
	it->deny = deny;
}

bool sql_iter_next(sql_iter_t *it, sql_stmt_t *st)
{
	sql_token_t t;
	sql_tok_type_t type;

	do
		type = sql_lex_next(&it->lx, &t);
	while (type == SQL_TOK_SEMI);
	if (type == SQL_TOK_END)
		return false;

	scan_t s = {
		.sql = (const unsigned char *)it->lx.sql,
		.len = it->lx.len,
		.deny = it->deny ? it->deny : &default_denylist,
		.st = st,
	};

	memset(st, 0, sizeof(*st));
	/* A ';' ends the statement unless it is inside parentheses (CREATE RULE
	 * ... DO (a; b)) or a BEGIN ATOMIC body. */
	do {
		scan_token(&s, &t);
		type = sql_lex_next(&it->lx, &t);
	} while (type != SQL_TOK_END && !(type == SQL_TOK_SEMI && s.depth == 0 && s.atomic_depth == 0));
	scan_finish(&s);
	return true;
}

void sql_summarize(const char *sql, size_t len, const sql_denylist_t *deny, sql_summary_t *out)
{
	sql_iter_t it;
	sql_stmt_t st;
	bool all_read_only = true;

	memset(out, 0, sizeof(*out));
	out->first.cmd = SQL_CMD_EMPTY;
	sql_iter_init(&it, sql, len, deny);
	while (sql_iter_next(&it, &st)) {
		if (out->n_statements++ == 0)
			out->first = st;
		out->flags_any |= st.flags;
		all_read_only &= (st.flags & SQLF_READ_ONLY) != 0;
		if (!out->state_what)
			out->state_what = st.state_what;
	}
	out->all_read_only = out->n_statements > 0 && all_read_only;
}

/* ---- the session pre-filter ---- */

/*
 * Shift-And over all trigger substrings at once: bit i of the state is set
 * when the text just read ends with the first characters of the substring
 * laid out at bit i, up to bit i. Per byte: one load, one lea, one AND with
 * a table entry, one OR. A zero gap bit between substrings keeps the bit
 * shifted into each substring's first position at 0, so adding the start
 * bits is the same as OR-ing them (and fits in the lea).
 *
 * Every way sql_summarize reaches a session flag or PREPARE / EXECUTE /
 * DEALLOCATE goes through one of these, spelled out in the text (keywords
 * cannot be quoted or escaped; quoted names are written out):
 *   set    SET, RESET, set_config, SET ROLE / SESSION AUTHORIZATION
 *   disc   DISCARD              liste  LISTEN, UNLISTEN
 *   advis  pg_advisory_*, pg_try_advisory_*
 *   temp   TEMP, TEMPORARY, pg_temp
 *   hold   WITH HOLD            load   LOAD
 *   prep   PREPARE              exec   EXECUTE
 *   deal   DEALLOCATE           drop   DROP           clos   CLOSE
 *   u&     U&"..." names, whose escapes can spell any name above
 * Layout (first bit: substring): 0 set, 4 disc, 9 liste, 15 advis, 21 temp,
 * 26 hold, 31 load, 36 prep, 41 exec, 46 deal, 51 drop, 56 clos, 61 u&.
 * test_sqlclass.c checks the table against this list on random texts.
 */
#define TB(n) (UINT64_C(1) << (n))
#define TRIGGER_STARTS                                                                  \
	(TB(0) | TB(4) | TB(9) | TB(15) | TB(21) | TB(26) | TB(31) | TB(36) | TB(41) |   \
	 TB(46) | TB(51) | TB(56) | TB(61))
#define TRIGGER_ENDS                                                                    \
	(TB(2) | TB(7) | TB(13) | TB(19) | TB(24) | TB(29) | TB(34) | TB(39) | TB(44) |  \
	 TB(49) | TB(54) | TB(59) | TB(62))
#define LETTER(c, bits) [c] = (bits), [(c) - 'a' + 'A'] = (bits)

static const uint64_t trigger_mask[256] = {
	LETTER('a', TB(15) | TB(33) | TB(48)),
	LETTER('c', TB(7) | TB(44) | TB(56)),
	LETTER('d', TB(4) | TB(16) | TB(29) | TB(34) | TB(46) | TB(51)),
	LETTER('e', TB(1) | TB(13) | TB(22) | TB(38) | TB(41) | TB(43) | TB(47)),
	LETTER('h', TB(26)),
	LETTER('i', TB(5) | TB(10) | TB(18)),
	LETTER('l', TB(9) | TB(28) | TB(31) | TB(49) | TB(57)),
	LETTER('m', TB(23)),
	LETTER('o', TB(27) | TB(32) | TB(53) | TB(58)),
	LETTER('p', TB(24) | TB(36) | TB(39) | TB(54)),
	LETTER('r', TB(37) | TB(52)),
	LETTER('s', TB(0) | TB(6) | TB(11) | TB(19) | TB(59)),
	LETTER('t', TB(2) | TB(12) | TB(21)),
	LETTER('u', TB(61)),
	LETTER('v', TB(17)),
	LETTER('x', TB(42)),
	['&'] = TB(62),
};

static inline uint64_t trigger_step(uint64_t state, unsigned char c)
{
	return ((state << 1) + TRIGGER_STARTS) & trigger_mask[c];
}

bool sql_may_touch_session(const char *sql, size_t len)
{
	const unsigned char *p = (const unsigned char *)sql;
	uint64_t state = 0, seen = 0;
	size_t i = 0;

	/* Four bytes a round: the loop's own bookkeeping is a quarter. */
	for (; i + 4 <= len; i += 4) {
		state = trigger_step(state, p[i]);
		seen |= state;
		state = trigger_step(state, p[i + 1]);
		seen |= state;
		state = trigger_step(state, p[i + 2]);
		seen |= state;
		state = trigger_step(state, p[i + 3]);
		seen |= state;
	}
	for (; i < len; i++) {
		state = trigger_step(state, p[i]);
		seen |= state;
	}
	return (seen & TRIGGER_ENDS) != 0;
}

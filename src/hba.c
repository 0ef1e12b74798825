/*
 * hba.c - auth_hba_file parsing and matching (see hba.h).
 *
 * A line is split into fields at unquoted blanks; a field is a comma list of
 * items; an item in double quotes is a plain name even when it spells a
 * keyword ("all" in quotes is a database called all), and "" inside quotes
 * is one quote. '#' outside quotes starts a comment. Keywords are stored
 * with a leading \001 byte, which names cannot contain (control characters
 * are refused).
 */
#include "hba.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define HBA_MAX_FILE ((size_t)16 << 20)
#define HBA_MAX_FIELDS 16
#define KW "\001"

typedef struct item {
	char *text;
	bool quoted;
} item_t;

typedef struct field {
	item_t *items;
	size_t n;
} field_t;

typedef struct line_ctx {
	field_t fields[HBA_MAX_FIELDS];
	size_t nfields;
	char *err;
	size_t errlen;
	const char *name;
	int lineno;
} line_ctx_t;

static bool PRINTF_LIKE(2, 3) line_fail(line_ctx_t *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->err && c->errlen)
		snprintf(c->err, c->errlen, "%s:%d: %s", c->name, c->lineno, msg);
	return false;
}

static void fields_clear(line_ctx_t *c)
{
	for (size_t i = 0; i < c->nfields; i++) {
		for (size_t k = 0; k < c->fields[i].n; k++)
			free(c->fields[i].items[k].text);
		free(c->fields[i].items);
	}
	memset(c->fields, 0, sizeof(c->fields));
	c->nfields = 0;
}

static void field_add(field_t *f, char *text, bool quoted)
{
	f->items = xrealloc(f->items, (f->n + 1) * sizeof(*f->items));
	f->items[f->n].text = text;
	f->items[f->n].quoted = quoted;
	f->n++;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* Splits [p, end) into fields. */
static bool tokenize(line_ctx_t *c, const char *p, const char *end)
{
	while (p < end) {
		field_t *f;

		while (p < end && is_blank(*p))
			p++;
		if (p == end || *p == '#')
			return true;
		if (c->nfields == HBA_MAX_FIELDS)
			return line_fail(c, "too many fields");
		f = &c->fields[c->nfields++];
		for (;;) {
			/* one item */
			size_t cap = (size_t)(end - p) + 1, n = 0;
			char *buf = xmalloc(cap);
			bool quoted = false, in_quotes = false;

			while (p < end) {
				unsigned char ch = (unsigned char)*p;

				if (in_quotes) {
					if (ch == '"' && p + 1 < end && p[1] == '"') {
						buf[n++] = '"';
						p += 2;
						continue;
					}
					if (ch == '"') {
						in_quotes = false;
						p++;
						continue;
					}
				} else {
					if (is_blank((char)ch) || ch == ',' || ch == '#')
						break;
					if (ch == '"') {
						in_quotes = quoted = true;
						p++;
						continue;
					}
				}
				if (ch < 0x20 || ch == 0x7f) {
					free(buf);
					return line_fail(c, "control character in a field");
				}
				buf[n++] = (char)ch;
				p++;
			}
			buf[n] = '\0';
			if (in_quotes) {
				free(buf);
				return line_fail(c, "unterminated quoted string");
			}
			if (n == 0 && !quoted) {
				free(buf);
				return line_fail(c, "empty item in a comma-separated list");
			}
			field_add(f, buf, quoted);
			if (p < end && *p == ',') {
				p++;
				continue;
			}
			break;
		}
	}
	return true;
}

static bool item_is(const item_t *it, const char *kw)
{
	return !it->quoted && strcmp(it->text, kw) == 0;
}

static char *kw(const char *name)
{
	size_t n = strlen(name);
	char *s = xmalloc(n + 2);

	s[0] = KW[0];
	memcpy(s + 1, name, n + 1);
	return s;
}

static bool parse_conn(line_ctx_t *c, const field_t *f, hba_conn_t *out)
{
	static const char *const names[] = { "local", "host", "hostssl", "hostnossl" };

	if (f->n != 1 || f->items[0].quoted)
		return line_fail(c, "invalid connection type");
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (strcmp(f->items[0].text, names[i]) == 0) {
			*out = (hba_conn_t)i;
			return true;
		}
	}
	if (strncmp(f->items[0].text, "hostgss", 7) == 0)
		return line_fail(c, "connection type \"%s\" is not supported (no GSSAPI)", f->items[0].text);
	return line_fail(c, "invalid connection type \"%s\"", f->items[0].text);
}

static bool parse_dbs(line_ctx_t *c, const field_t *f, hba_rule_t *r)
{
	r->dbs = xcalloc(f->n, sizeof(char *));
	for (size_t i = 0; i < f->n; i++) {
		const item_t *it = &f->items[i];

		if (!it->quoted && it->text[0] == '@')
			return line_fail(c, "database lists in files (@file) are not supported");
		if (item_is(it, "samerole") || item_is(it, "samegroup"))
			return line_fail(c, "database keyword \"%s\" is not supported", it->text);
		if (item_is(it, "all") || item_is(it, "sameuser") || item_is(it, "replication"))
			r->dbs[r->ndbs++] = kw(it->text);
		else
			r->dbs[r->ndbs++] = xstrdup(it->text);
	}
	return true;
}

static bool parse_users(line_ctx_t *c, const field_t *f, hba_rule_t *r)
{
	r->users = xcalloc(f->n, sizeof(char *));
	for (size_t i = 0; i < f->n; i++) {
		const item_t *it = &f->items[i];

		if (!it->quoted && it->text[0] == '@')
			return line_fail(c, "user lists in files (@file) are not supported");
		if (!it->quoted && it->text[0] == '+')
			return line_fail(c, "group membership (+%s) is not supported", it->text + 1);
		if (item_is(it, "all"))
			r->users[r->nusers++] = kw("all");
		else
			r->users[r->nusers++] = xstrdup(it->text);
	}
	return true;
}

/* Numeric address only; v4 gets 4 bytes. */
static bool parse_ip(const char *s, bool *v4, uint8_t addr[16])
{
	struct in_addr a4;
	struct in6_addr a6;

	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, &a4) == 1) {
		*v4 = true;
		memcpy(addr, &a4, 4);
		return true;
	}
	if (inet_pton(AF_INET6, s, &a6) == 1) {
		*v4 = false;
		memcpy(addr, &a6, 16);
		return true;
	}
	return false;
}

static void mask_from_prefix(int bits, uint8_t mask[16])
{
	memset(mask, 0, 16);
	for (int i = 0; i < 16 && bits > 0; i++, bits -= 8)
		mask[i] = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
}

/* Consumes the address field (and the mask field after a bare address);
 * *next is the index of the field after them. */
static bool parse_addr(line_ctx_t *c, size_t at, hba_rule_t *r, size_t *next)
{
	const field_t *f = &c->fields[at];
	const char *s;
	char buf[INET6_ADDRSTRLEN + 8];
	char *slash;

	if (f->n != 1)
		return line_fail(c, "multiple addresses in one line are not supported");
	s = f->items[0].text;
	*next = at + 1;
	if (item_is(&f->items[0], "all")) {
		r->any_addr = true;
		return true;
	}
	if (item_is(&f->items[0], "samehost") || item_is(&f->items[0], "samenet"))
		return line_fail(c, "address keyword \"%s\" is not supported", s);
	if (!strlcpy_ok(buf, s, sizeof(buf)))
		return line_fail(c, "invalid IP address \"%s\" (host names are not supported)", s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (!parse_ip(buf, &r->v4, r->addr))
		return line_fail(c, "invalid IP address \"%s\" (host names are not supported)", s);
	if (slash) {
		char *endp;
		long bits;

		errno = 0;
		bits = strtol(slash + 1, &endp, 10);
		if (slash[1] == '\0' || *endp || errno || bits < 0 || bits > (r->v4 ? 32 : 128))
			return line_fail(c, "invalid CIDR mask in address \"%s\"", s);
		mask_from_prefix((int)bits, r->mask);
	} else {
		bool mv4;

		if (at + 1 >= c->nfields || c->fields[at + 1].n != 1)
			return line_fail(c, "address \"%s\" needs a CIDR mask or a mask field", s);
		if (!parse_ip(c->fields[at + 1].items[0].text, &mv4, r->mask) || mv4 != r->v4)
			return line_fail(c, "invalid IP mask \"%s\"", c->fields[at + 1].items[0].text);
		*next = at + 2;
	}
	for (int i = 0; i < 16; i++)
		r->addr[i] &= r->mask[i];
	return true;
}

static const struct {
	const char *name;
	hba_method_t m;
} methods[] = {
	{ "trust", HBA_TRUST },   { "reject", HBA_REJECT },        { "md5", HBA_MD5 },
	{ "scram-sha-256", HBA_SCRAM }, { "password", HBA_PASSWORD }, { "cert", HBA_CERT },
};

const char *hba_method_name(hba_method_t m)
{
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
		if (methods[i].m == m)
			return methods[i].name;
	return "?";
}

static bool parse_method(line_ctx_t *c, const field_t *f, hba_rule_t *r)
{
	const char *s = f->items[0].text;

	if (f->n != 1 || f->items[0].quoted)
		return line_fail(c, "invalid authentication method");
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
		if (strcmp(s, methods[i].name) == 0) {
			r->method = methods[i].m;
			if (r->method == HBA_CERT && r->conn != HBA_HOSTSSL)
				return line_fail(c, "cert authentication is only supported on hostssl lines");
			if (r->method == HBA_CERT)
				r->clientcert = HBA_CLIENTCERT_VERIFY_FULL;
			return true;
		}
	}
	if (strcmp(s, "peer") == 0)
		return line_fail(c, "authentication method \"peer\" is not supported by pgtide "
			       "(use trust or a password method on local lines)");
	return line_fail(c, "authentication method \"%s\" is not supported by pgtide", s);
}

static bool parse_option(line_ctx_t *c, const field_t *f, hba_rule_t *r)
{
	const char *s = f->items[0].text;

	if (f->n != 1)
		return line_fail(c, "invalid authentication option");
	if (strcmp(s, "clientcert=verify-ca") == 0 || strcmp(s, "clientcert=verify-full") == 0) {
		if (r->conn != HBA_HOSTSSL)
			return line_fail(c, "clientcert is only supported on hostssl lines");
		if (r->method == HBA_CERT && strcmp(s, "clientcert=verify-ca") == 0)
			return line_fail(c, "clientcert only accepts verify-full with cert authentication");
		if (r->clientcert != HBA_CLIENTCERT_VERIFY_FULL)
			r->clientcert = strcmp(s, "clientcert=verify-ca") == 0 ? HBA_CLIENTCERT_VERIFY_CA
										 : HBA_CLIENTCERT_VERIFY_FULL;
		return true;
	}
	return line_fail(c, "authentication option \"%s\" is not supported", s);
}

static void rule_clear(hba_rule_t *r)
{
	for (size_t i = 0; i < r->ndbs; i++)
		free(r->dbs[i]);
	free(r->dbs);
	for (size_t i = 0; i < r->nusers; i++)
		free(r->users[i]);
	free(r->users);
	memset(r, 0, sizeof(*r));
}

static bool parse_rule(line_ctx_t *c, hba_rule_t *r)
{
	size_t at;

	r->line = c->lineno;
	if (!parse_conn(c, &c->fields[0], &r->conn))
		return false;
	if (c->nfields < (r->conn == HBA_LOCAL ? 4u : 5u))
		return line_fail(c, "end-of-line before authentication method");
	if (!parse_dbs(c, &c->fields[1], r) || !parse_users(c, &c->fields[2], r))
		return false;
	at = 3;
	if (r->conn == HBA_LOCAL)
		r->any_addr = true;
	else if (!parse_addr(c, 3, r, &at))
		return false;
	if (at >= c->nfields)
		return line_fail(c, "end-of-line before authentication method");
	if (!parse_method(c, &c->fields[at], r))
		return false;
	for (at++; at < c->nfields; at++)
		if (!parse_option(c, &c->fields[at], r))
			return false;
	return true;
}

hba_t *hba_parse(const char *text, const char *name, char *err, size_t errlen)
{
	hba_t *h = xcalloc(1, sizeof(*h));
	line_ctx_t c;
	const char *p = text;

	memset(&c, 0, sizeof(c));
	c.err = err;
	c.errlen = errlen;
	c.name = name ? name : "(hba)";
	h->refcount = 1;
	while (*p) {
		const char *eol = strchr(p, '\n');
		hba_rule_t r;
		bool ok;

		if (!eol)
			eol = p + strlen(p);
		c.lineno++;
		memset(&r, 0, sizeof(r));
		ok = tokenize(&c, p, eol);
		if (ok && c.nfields > 0) {
			ok = parse_rule(&c, &r);
			if (ok) {
				h->rules = xrealloc(h->rules, (h->nrules + 1) * sizeof(*h->rules));
				h->rules[h->nrules++] = r;
			} else {
				rule_clear(&r);
			}
		}
		fields_clear(&c);
		if (!ok) {
			hba_unref(h);
			return NULL;
		}
		p = *eol ? eol + 1 : eol;
	}
	return h;
}

hba_t *hba_load_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	struct stat st;
	char *text;
	size_t n;
	hba_t *h;

	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > HBA_MAX_FILE) {
		snprintf(err, errlen, "%s: not a regular file of a sensible size", path);
		fclose(f);
		return NULL;
	}
	text = xmalloc((size_t)st.st_size + 1);
	n = fread(text, 1, (size_t)st.st_size, f);
	fclose(f);
	text[n] = '\0';
	if (memchr(text, '\0', n)) {
		snprintf(err, errlen, "%s: contains a NUL byte", path);
		free(text);
		return NULL;
	}
	h = hba_parse(text, path, err, errlen);
	free(text);
	return h;
}

hba_t *hba_ref(hba_t *h)
{
	if (h)
		__atomic_add_fetch(&h->refcount, 1, __ATOMIC_RELAXED);
	return h;
}

void hba_unref(hba_t *h)
{
	if (!h || __atomic_sub_fetch(&h->refcount, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; i < h->nrules; i++)
		rule_clear(&h->rules[i]);
	free(h->rules);
	free(h);
}

void hba_request_set_addr(hba_request_t *r, const struct sockaddr_in6 *sa)
{
	memset(r->addr, 0, sizeof(r->addr));
	if (IN6_IS_ADDR_V4MAPPED(&sa->sin6_addr)) {
		r->v4 = true;
		memcpy(r->addr, &sa->sin6_addr.s6_addr[12], 4);
	} else {
		r->v4 = false;
		memcpy(r->addr, &sa->sin6_addr, 16);
	}
}

static bool conn_matches(const hba_rule_t *rule, const hba_request_t *r)
{
	switch (rule->conn) {
	case HBA_LOCAL:
		return r->is_unix;
	case HBA_HOST:
		return !r->is_unix;
	case HBA_HOSTSSL:
		return !r->is_unix && r->tls;
	case HBA_HOSTNOSSL:
		return !r->is_unix && !r->tls;
	}
	return false;
}

static bool addr_matches(const hba_rule_t *rule, const hba_request_t *r)
{
	if (rule->any_addr)
		return true;
	if (rule->v4 != r->v4)
		return false;
	for (int i = 0; i < (r->v4 ? 4 : 16); i++)
		if ((r->addr[i] & rule->mask[i]) != rule->addr[i])
			return false;
	return true;
}

static bool db_matches(const hba_rule_t *rule, const hba_request_t *r)
{
	for (size_t i = 0; i < rule->ndbs; i++) {
		const char *d = rule->dbs[i];

		if (strcmp(d, KW "all") == 0)
			return true;
		if (strcmp(d, KW "sameuser") == 0) {
			if (strcmp(r->db, r->user) == 0)
				return true;
			continue;
		}
		if (strcmp(d, KW "replication") == 0)
			continue; /* pgtide has no replication connections */
		if (strcmp(d, r->db) == 0)
			return true;
	}
	return false;
}

static bool user_matches(const hba_rule_t *rule, const hba_request_t *r)
{
	for (size_t i = 0; i < rule->nusers; i++) {
		if (strcmp(rule->users[i], KW "all") == 0 || strcmp(rule->users[i], r->user) == 0)
			return true;
	}
	return false;
}

const hba_rule_t *hba_match(const hba_t *h, const hba_request_t *r)
{
	if (!h)
		return NULL;
	for (size_t i = 0; i < h->nrules; i++) {
		const hba_rule_t *rule = &h->rules[i];

		if (conn_matches(rule, r) && addr_matches(rule, r) && db_matches(rule, r) &&
		    user_matches(rule, r))
			return rule;
	}
	return NULL;
}

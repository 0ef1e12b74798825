/*
 * params.c - tracked and extra session parameters.
 */
#include "params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Spelled as PostgreSQL spells them in ParameterStatus. */
static const char *const tracked_names[PARAM_TRACKED_COUNT] = {
	"client_encoding", "DateStyle", "TimeZone", "IntervalStyle",
	"standard_conforming_strings", "application_name",
};

const char *param_name(param_id_t id)
{
	return tracked_names[id];
}

int param_lookup(const char *name)
{
	for (int i = 0; i < PARAM_TRACKED_COUNT; i++) {
		if (strcasecmp(name, tracked_names[i]) == 0)
			return i;
	}
	return -1;
}

bool param_set_assign(param_set_t *ps, param_id_t id, const char *value)
{
	char *old = ps->v[id];
	if (old == value || (old && value && strcmp(old, value) == 0))
		return false;
	ps->v[id] = value ? xstrdup(value) : NULL;
	free(old);
	ps->sig = 0;
	return true;
}

uint64_t param_set_sig(param_set_t *ps, const param_set_t *defaults)
{
	if (ps->sig)
		return ps->sig;
	uint64_t h = 1469598103934665603ull;
	for (int i = 0; i < PARAM_TRACKED_COUNT; i++) {
		const char *v = ps->v[i] ? ps->v[i] : defaults ? defaults->v[i] : NULL;
		/* NULL and "" differ: 1 before a value, 2 for none. */
		h = (h ^ (v ? 1u : 2u)) * 1099511628211ull;
		for (const char *p = v; p && *p; p++)
			h = (h ^ (uint8_t)*p) * 1099511628211ull;
	}
	ps->sig = h ? h : 1;
	return ps->sig;
}

void param_set_clear(param_set_t *ps)
{
	for (int i = 0; i < PARAM_TRACKED_COUNT; i++) {
		free(ps->v[i]);
		ps->v[i] = NULL;
	}
	ps->sig = 0;
}

void param_set_copy(param_set_t *dst, const param_set_t *src)
{
	for (int i = 0; i < PARAM_TRACKED_COUNT; i++)
		param_set_assign(dst, (param_id_t)i, src->v[i]);
}

bool param_extras_next(const param_extras_t *ex, uint32_t *pos, const char **name, const char **value)
{
	if (!ex->data || *pos >= ex->len)
		return false;
	*name = ex->data + *pos;
	*pos += (uint32_t)strlen(*name) + 1;
	*value = ex->data + *pos;
	*pos += (uint32_t)strlen(*value) + 1;
	return true;
}

void param_extras_add(param_extras_t *ex, const char *name, const char *value)
{
	size_t nl = strlen(name) + 1, vl = strlen(value) + 1;
	/* Find the sorted insertion point; replace an entry of the same name. */
	uint32_t pos = 0, at = 0;
	const char *n, *v;
	while (param_extras_next(ex, &pos, &n, &v)) {
		int cmp = strcasecmp(n, name);
		if (cmp == 0) {
			uint32_t entry = (uint32_t)(n - ex->data);
			memmove(ex->data + entry, ex->data + pos, ex->len - pos);
			ex->len -= pos - entry;
			param_extras_add(ex, name, value);
			return;
		}
		if (cmp > 0)
			break;
		at = pos;
	}
	ex->data = xrealloc(ex->data, ex->len + nl + vl);
	memmove(ex->data + at + nl + vl, ex->data + at, ex->len - at);
	memcpy(ex->data + at, name, nl);
	memcpy(ex->data + at + nl, value, vl);
	ex->len += (uint32_t)(nl + vl);
}

bool param_extras_equal(const param_extras_t *a, const param_extras_t *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

void param_extras_copy(param_extras_t *dst, const param_extras_t *src)
{
	param_extras_clear(dst);
	if (src->len) {
		dst->data = xmalloc(src->len);
		memcpy(dst->data, src->data, src->len);
		dst->len = src->len;
	}
}

uint64_t param_extras_hash(const param_extras_t *ex)
{
	if (!ex->len)
		return 0;
	uint64_t h = 1469598103934665603ull;
	for (uint32_t i = 0; i < ex->len; i++) {
		h ^= (uint8_t)ex->data[i];
		h *= 1099511628211ull;
	}
	return h;
}

void param_extras_clear(param_extras_t *ex)
{
	free(ex->data);
	ex->data = NULL;
	ex->len = 0;
}

static bool is_identifier(const char *name)
{
	if (!*name)
		return false;
	for (const char *p = name; *p; p++) {
		char ch = *p;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == '.' ||
			  (p != name && ch >= '0' && ch <= '9');
		if (!ok)
			return false;
	}
	return true;
}

static bool append(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
	if (*len + n + 1 > cap)
		return false;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
	return true;
}

bool param_append_set(char *buf, size_t cap, size_t *len, const char *name, const char *value)
{
	if (!is_identifier(name))
		return false;
	size_t start = *len;
	bool ok = append(buf, cap, len, "SET ", 4) && append(buf, cap, len, name, strlen(name)) &&
		  append(buf, cap, len, " TO E'", 6);
	/* E'' literal: quotes and backslashes doubled, so no value can escape it. */
	for (const char *p = value; ok && *p; p++) {
		if (*p == '\'' || *p == '\\')
			ok = append(buf, cap, len, p, 1);
		ok = ok && append(buf, cap, len, p, 1);
	}
	ok = ok && append(buf, cap, len, "';", 2);
	if (!ok) {
		*len = start;
		buf[start] = '\0';
	}
	return ok;
}

bool param_append_reset(char *buf, size_t cap, size_t *len, const char *name)
{
	if (!is_identifier(name))
		return false;
	size_t start = *len;
	bool ok = append(buf, cap, len, "RESET ", 6) && append(buf, cap, len, name, strlen(name)) &&
		  append(buf, cap, len, ";", 1);
	if (!ok) {
		*len = start;
		buf[start] = '\0';
	}
	return ok;
}

/*
 * params.h - the session parameters pgtide carries for each client onto
 * whichever server connection serves it.
 *
 * Tracked parameters are the ones PostgreSQL reports with ParameterStatus
 * (GUC_REPORT), so pgtide learns every change, including the client's own
 * SETs and their rollback. Other startup parameters ("extras", such as
 * extra_float_digits or search_path) are applied with SET whenever a server's
 * applied set differs from the client's.
 */
#ifndef PGTIDE_PARAMS_H
#define PGTIDE_PARAMS_H

#include "common.h"

typedef enum {
	PARAM_CLIENT_ENCODING = 0,
	PARAM_DATESTYLE,
	PARAM_TIMEZONE,
	PARAM_INTERVALSTYLE,
	PARAM_STANDARD_CONFORMING_STRINGS,
	PARAM_APPLICATION_NAME,
	PARAM_TRACKED_COUNT
} param_id_t;

/* Values of the tracked parameters; NULL = not known / the pool default. */
typedef struct param_set {
	char *v[PARAM_TRACKED_COUNT];
	uint64_t sig; /* param_set_sig's cache; 0 = not computed (any change clears it) */
} param_set_t;

const char *param_name(param_id_t id);
/* Case-insensitive; -1 when the name is not tracked. */
int param_lookup(const char *name);

/* Sets one value (copies; NULL clears). Returns true when it changed. */
bool param_set_assign(param_set_t *ps, param_id_t id, const char *value);
void param_set_clear(param_set_t *ps);
void param_set_copy(param_set_t *dst, const param_set_t *src);
/* A signature of the values (NULL ones taken from defaults when given), so
 * that two sets compare equal in one step on the hot path. Cached. */
uint64_t param_set_sig(param_set_t *ps, const param_set_t *defaults);

/* Extras: a packed "name\0value\0name\0value\0" blob, sorted by name so two
 * equal sets compare equal with memcmp. */
typedef struct param_extras {
	char *data;
	uint32_t len;
} param_extras_t;

void param_extras_add(param_extras_t *ex, const char *name, const char *value);
bool param_extras_equal(const param_extras_t *a, const param_extras_t *b);
void param_extras_copy(param_extras_t *dst, const param_extras_t *src);
void param_extras_clear(param_extras_t *ex);
/* FNV-1a hash of the packed set (0 for an empty set). */
uint64_t param_extras_hash(const param_extras_t *ex);
/* Iterates: *pos starts at 0; returns false at the end. */
bool param_extras_next(const param_extras_t *ex, uint32_t *pos, const char **name, const char **value);

/* Appends "SET name TO 'value';" (value quoted as a literal) to buf. Returns
 * false if it did not fit or the name is not a plain identifier. */
bool param_append_set(char *buf, size_t cap, size_t *len, const char *name, const char *value);
bool param_append_reset(char *buf, size_t cap, size_t *len, const char *name);

#endif

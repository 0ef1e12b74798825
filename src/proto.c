/*
 * proto.c - v3 framing and startup packet parsing.
 *
 * Published pooler CVEs came from trusting lengths: every length here is
 * checked against what is actually in the buffer before anything is read.
 */
#include "proto.h"

#include <string.h>

frame_result_t proto_frame(const uint8_t *data, size_t avail, uint32_t max_len, uint8_t *type,
			   uint32_t *total)
{
	if (avail < PROTO_HEADER_LEN)
		return FRAME_NEED_MORE;
	uint32_t len = proto_get_u32(data + 1);
	if (len < 4 || len > max_len || len > INT32_MAX - 1)
		return FRAME_BAD_LENGTH;
	*type = data[0];
	*total = len + 1;
	return FRAME_OK;
}

/* Returns the length of a NUL-terminated string starting at p and ending
 * before end, or -1 if there is no NUL. */
static ssize_t bounded_strlen(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
	return nul ? (ssize_t)(nul - p) : -1;
}

static startup_kind_t startup_bad(startup_t *out, const char *why)
{
	out->kind = STARTUP_BAD;
	out->errmsg = why;
	return STARTUP_BAD;
}

static startup_kind_t parse_cancel(const uint8_t *data, uint32_t len, startup_t *out)
{
	/* 4 length + 4 code + 4 pid + key (4 bytes in 3.0, up to 256 in 3.2) */
	if (len < 16 || len > 12 + sizeof(out->cancel_key))
		return startup_bad(out, "invalid length of cancel request packet");
	out->cancel_pid = proto_get_u32(data + 8);
	out->cancel_key_len = len - 12;
	memcpy(out->cancel_key, data + 12, out->cancel_key_len);
	out->kind = STARTUP_CANCEL;
	return STARTUP_CANCEL;
}

static bool is_protocol_option(const char *name)
{
	return strncmp(name, "_pq_.", 5) == 0;
}

static startup_kind_t parse_params(const uint8_t *data, uint32_t len, startup_t *out)
{
	const uint8_t *p = data + 8, *end = data + len;
	if (end[-1] != 0)
		return startup_bad(out, "invalid startup packet layout: expected terminator as last byte");
	while (p < end - 1) {
		ssize_t nl = bounded_strlen(p, end);
		if (nl <= 0)
			return startup_bad(out, "invalid startup packet layout: empty parameter name");
		const char *name = (const char *)p;
		p += nl + 1;
		ssize_t vl = bounded_strlen(p, end);
		if (vl < 0)
			return startup_bad(out, "invalid startup packet layout: missing parameter value");
		const char *value = (const char *)p;
		p += vl + 1;
		if (strcmp(name, "user") == 0) {
			out->user = value;
		} else if (strcmp(name, "database") == 0) {
			out->database = value;
		} else if (is_protocol_option(name)) {
			if (out->nunsupported < (int)ARRAY_SIZE(out->unsupported_options))
				out->unsupported_options[out->nunsupported++] = name;
		} else {
			if (out->nparams >= PROTO_MAX_STARTUP_PARAMS)
				return startup_bad(out, "too many startup parameters");
			out->params[out->nparams].name = name;
			out->params[out->nparams].value = value;
			out->nparams++;
		}
	}
	if (p != end - 1)
		return startup_bad(out, "invalid startup packet layout: expected terminator as last byte");
	if (!out->user || !*out->user)
		return startup_bad(out, "no PostgreSQL user name specified in startup packet");
	if (strlen(out->user) > PROTO_MAX_NAME_LEN)
		return startup_bad(out, "user name too long");
	if (!out->database || !*out->database)
		out->database = out->user;
	if (strlen(out->database) > PROTO_MAX_NAME_LEN)
		return startup_bad(out, "database name too long");
	out->kind = STARTUP_OK;
	return STARTUP_OK;
}

startup_kind_t proto_parse_startup(const uint8_t *data, size_t avail, startup_t *out)
{
	memset(out, 0, offsetof(startup_t, params));
	out->nparams = 0;
	out->nunsupported = 0;
	out->errmsg = NULL;
	if (avail < 8)
		return STARTUP_NEED_MORE;
	uint32_t len = proto_get_u32(data);
	if (len < 8 || len > PROTO_MAX_STARTUP_LEN)
		return startup_bad(out, "invalid length of startup packet");
	out->version = proto_get_u32(data + 4);
	/* The fixed-size requests are decided on their first 8 bytes alone. */
	if (out->version == PROTO_SSL_CODE || out->version == PROTO_GSSENC_CODE) {
		if (len != 8)
			return startup_bad(out, "invalid length of encryption request packet");
		out->length = 8;
		out->kind = out->version == PROTO_SSL_CODE ? STARTUP_SSL : STARTUP_GSSENC;
		return out->kind;
	}
	if (avail < len)
		return STARTUP_NEED_MORE;
	out->length = len;
	if (out->version == PROTO_CANCEL_CODE)
		return parse_cancel(data, len, out);
	if ((out->version >> 16) != 3) {
		out->kind = STARTUP_UNSUPPORTED;
		out->errmsg = "unsupported frontend protocol: server supports 3.0 to 3.0";
		return STARTUP_UNSUPPORTED;
	}
	if (len < 9)
		return startup_bad(out, "invalid startup packet layout: expected terminator as last byte");
	return parse_params(data, len, out);
}

uint8_t msg_read_u8(msg_reader_t *r)
{
	if (r->bad || r->end - r->p < 1) {
		r->bad = true;
		return 0;
	}
	return *r->p++;
}

uint16_t msg_read_u16(msg_reader_t *r)
{
	if (r->bad || r->end - r->p < 2) {
		r->bad = true;
		return 0;
	}
	uint16_t v = proto_get_u16(r->p);
	r->p += 2;
	return v;
}

uint32_t msg_read_u32(msg_reader_t *r)
{
	if (r->bad || r->end - r->p < 4) {
		r->bad = true;
		return 0;
	}
	uint32_t v = proto_get_u32(r->p);
	r->p += 4;
	return v;
}

const char *msg_read_cstr(msg_reader_t *r)
{
	if (r->bad)
		return NULL;
	ssize_t n = bounded_strlen(r->p, r->end);
	if (n < 0) {
		r->bad = true;
		return NULL;
	}
	const char *s = (const char *)r->p;
	r->p += n + 1;
	return s;
}

const uint8_t *msg_read_bytes(msg_reader_t *r, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *s = r->p;
	r->p += n;
	return s;
}

bool proto_parse_error(const uint8_t *body, size_t len, error_fields_t *out)
{
	msg_reader_t r;
	msg_reader_init(&r, body, len);
	memset(out, 0, sizeof(*out));
	for (;;) {
		uint8_t code = msg_read_u8(&r);
		if (r.bad)
			return false;
		if (code == 0)
			return true;
		const char *v = msg_read_cstr(&r);
		if (!v)
			return false;
		if (code == 'S' && !out->severity)
			out->severity = v;
		else if (code == 'V')
			out->severity = v; /* non-localized severity wins */
		else if (code == 'C')
			out->sqlstate = v;
		else if (code == 'M')
			out->message = v;
	}
}

bool proto_parse_param_status(const uint8_t *body, size_t len, const char **name, const char **value)
{
	msg_reader_t r;
	msg_reader_init(&r, body, len);
	*name = msg_read_cstr(&r);
	*value = msg_read_cstr(&r);
	return *name && *value;
}

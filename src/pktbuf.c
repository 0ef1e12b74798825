/*
 * pktbuf.c - protocol message builders.
 */
#include "pktbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

void pktbuf_init_fixed(pktbuf_t *pb, uint8_t *mem, size_t cap)
{
	memset(pb, 0, sizeof(*pb));
	pb->data = mem;
	pb->cap = cap;
}

void pktbuf_init_growable(pktbuf_t *pb, size_t initial)
{
	memset(pb, 0, sizeof(*pb));
	pb->data = xmalloc(initial);
	pb->cap = initial;
	pb->growable = true;
}

void pktbuf_free(pktbuf_t *pb)
{
	if (pb->growable)
		free(pb->data);
	pb->data = NULL;
	pb->cap = pb->len = 0;
}

void pktbuf_reset(pktbuf_t *pb)
{
	pb->len = 0;
	pb->failed = false;
}

static bool reserve(pktbuf_t *pb, size_t n)
{
	if (pb->failed)
		return false;
	if (pb->len + n <= pb->cap)
		return true;
	if (!pb->growable) {
		pb->failed = true;
		return false;
	}
	size_t cap = pb->cap ? pb->cap : 256;
	while (cap < pb->len + n)
		cap *= 2;
	pb->data = xrealloc(pb->data, cap);
	pb->cap = cap;
	return true;
}

void pktbuf_put_bytes(pktbuf_t *pb, const void *p, size_t n)
{
	if (!reserve(pb, n))
		return;
	if (n)
		memcpy(pb->data + pb->len, p, n);
	pb->len += n;
}

void pktbuf_put_u8(pktbuf_t *pb, uint8_t v)
{
	pktbuf_put_bytes(pb, &v, 1);
}

void pktbuf_put_u16(pktbuf_t *pb, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	pktbuf_put_bytes(pb, b, 2);
}

void pktbuf_put_u32(pktbuf_t *pb, uint32_t v)
{
	uint8_t b[4];
	proto_put_u32(b, v);
	pktbuf_put_bytes(pb, b, 4);
}

void pktbuf_put_cstr(pktbuf_t *pb, const char *s)
{
	pktbuf_put_bytes(pb, s, strlen(s) + 1);
}

void pktbuf_begin(pktbuf_t *pb, uint8_t type)
{
	pb->msg_start = pb->len;
	pb->msg_typed = type != 0;
	if (type)
		pktbuf_put_u8(pb, type);
	pktbuf_put_u32(pb, 0);
}

void pktbuf_end(pktbuf_t *pb)
{
	if (pb->failed)
		return;
	/* The length counts itself and the body, not the type byte. */
	size_t at = pb->msg_start + (pb->msg_typed ? 1 : 0);
	proto_put_u32(pb->data + at, (uint32_t)(pb->len - at));
}

static void put_error_fields(pktbuf_t *pb, const char *severity, const char *sqlstate,
			     const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

static void put_error_fields(pktbuf_t *pb, const char *severity, const char *sqlstate,
			     const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	pktbuf_put_u8(pb, 'S');
	pktbuf_put_cstr(pb, severity);
	pktbuf_put_u8(pb, 'V');
	pktbuf_put_cstr(pb, severity);
	pktbuf_put_u8(pb, 'C');
	pktbuf_put_cstr(pb, sqlstate);
	pktbuf_put_u8(pb, 'M');
	pktbuf_put_cstr(pb, msg);
	pktbuf_put_u8(pb, 0);
}

void pktbuf_error(pktbuf_t *pb, const char *severity, const char *sqlstate, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pktbuf_begin(pb, BE_ERROR);
	put_error_fields(pb, severity, sqlstate, fmt, ap);
	pktbuf_end(pb);
	va_end(ap);
}

void pktbuf_notice(pktbuf_t *pb, const char *sqlstate, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pktbuf_begin(pb, BE_NOTICE);
	put_error_fields(pb, "NOTICE", sqlstate, fmt, ap);
	pktbuf_end(pb);
	va_end(ap);
}

void pktbuf_ready(pktbuf_t *pb, char status)
{
	pktbuf_begin(pb, BE_READY);
	pktbuf_put_u8(pb, (uint8_t)status);
	pktbuf_end(pb);
}

void pktbuf_param_status(pktbuf_t *pb, const char *name, const char *value)
{
	pktbuf_begin(pb, BE_PARAM_STATUS);
	pktbuf_put_cstr(pb, name);
	pktbuf_put_cstr(pb, value);
	pktbuf_end(pb);
}

void pktbuf_backend_key(pktbuf_t *pb, uint32_t pid, uint32_t key)
{
	pktbuf_begin(pb, BE_KEY_DATA);
	pktbuf_put_u32(pb, pid);
	pktbuf_put_u32(pb, key);
	pktbuf_end(pb);
}

void pktbuf_auth(pktbuf_t *pb, uint32_t code, const void *data, size_t len)
{
	pktbuf_begin(pb, BE_AUTH);
	pktbuf_put_u32(pb, code);
	pktbuf_put_bytes(pb, data, len);
	pktbuf_end(pb);
}

void pktbuf_query(pktbuf_t *pb, const char *sql)
{
	pktbuf_begin(pb, FE_QUERY);
	pktbuf_put_cstr(pb, sql);
	pktbuf_end(pb);
}

void pktbuf_command_complete(pktbuf_t *pb, const char *tag)
{
	pktbuf_begin(pb, BE_COMMAND_COMPLETE);
	pktbuf_put_cstr(pb, tag);
	pktbuf_end(pb);
}

void pktbuf_negotiate_version(pktbuf_t *pb, uint32_t minor, const char *const *options, int n)
{
	pktbuf_begin(pb, BE_NEGOTIATE_VERSION);
	pktbuf_put_u32(pb, minor);
	pktbuf_put_u32(pb, (uint32_t)n);
	for (int i = 0; i < n; i++)
		pktbuf_put_cstr(pb, options[i]);
	pktbuf_end(pb);
}

/* Type OIDs and sizes as PostgreSQL reports them in RowDescription. */
static void column_type(char code, uint32_t *oid, int16_t *size)
{
	switch (code) {
	case 'i': *oid = 23; *size = 4; break;
	case 'l': *oid = 20; *size = 8; break;
	case 'n': *oid = 1700; *size = -1; break;
	case 'b': *oid = 16; *size = 1; break;
	default: *oid = 25; *size = -1; break;
	}
}

void pktbuf_row_description(pktbuf_t *pb, const char *const *cols, int ncols)
{
	pktbuf_begin(pb, BE_ROW_DESC);
	pktbuf_put_u16(pb, (uint16_t)ncols);
	for (int i = 0; i < ncols; i++) {
		const char *colon = strchr(cols[i], ':');
		size_t nlen = colon ? (size_t)(colon - cols[i]) : strlen(cols[i]);
		uint32_t oid;
		int16_t size;
		column_type(colon ? colon[1] : 't', &oid, &size);
		pktbuf_put_bytes(pb, cols[i], nlen);
		pktbuf_put_u8(pb, 0);
		pktbuf_put_u32(pb, 0);      /* table oid */
		pktbuf_put_u16(pb, 0);      /* column number */
		pktbuf_put_u32(pb, oid);
		pktbuf_put_u16(pb, (uint16_t)size);
		pktbuf_put_u32(pb, (uint32_t)-1); /* typmod */
		pktbuf_put_u16(pb, 0);      /* text format */
	}
	pktbuf_end(pb);
}

void pktbuf_data_row(pktbuf_t *pb, const char *const *values, int nvalues)
{
	pktbuf_begin(pb, BE_DATA_ROW);
	pktbuf_put_u16(pb, (uint16_t)nvalues);
	for (int i = 0; i < nvalues; i++) {
		if (!values[i]) {
			pktbuf_put_u32(pb, (uint32_t)-1);
			continue;
		}
		size_t n = strlen(values[i]);
		pktbuf_put_u32(pb, (uint32_t)n);
		pktbuf_put_bytes(pb, values[i], n);
	}
	pktbuf_end(pb);
}

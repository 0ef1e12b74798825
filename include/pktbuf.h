/*
 * pktbuf.h - building protocol messages. A pktbuf writes into memory it is
 * given (fixed: stops and sets failed when full) or memory it owns (growable,
 * for admin console results that can be large). Messages are started with
 * pktbuf_begin and their length is patched by pktbuf_end.
 */
#ifndef PGTIDE_PKTBUF_H
#define PGTIDE_PKTBUF_H

#include "common.h"

typedef struct pktbuf {
	uint8_t *data;
	size_t len, cap;
	size_t msg_start;  /* offset of the message being built */
	bool msg_typed;    /* it has a type byte before its length */
	bool growable;
	bool failed;       /* a write did not fit (fixed) */
} pktbuf_t;

void pktbuf_init_fixed(pktbuf_t *pb, uint8_t *mem, size_t cap);
void pktbuf_init_growable(pktbuf_t *pb, size_t initial);
void pktbuf_free(pktbuf_t *pb);
void pktbuf_reset(pktbuf_t *pb);

void pktbuf_put_u8(pktbuf_t *pb, uint8_t v);
void pktbuf_put_u16(pktbuf_t *pb, uint16_t v);
void pktbuf_put_u32(pktbuf_t *pb, uint32_t v);
void pktbuf_put_bytes(pktbuf_t *pb, const void *p, size_t n);
void pktbuf_put_cstr(pktbuf_t *pb, const char *s); /* with its NUL */

/* type 0 = untyped (startup packets). */
void pktbuf_begin(pktbuf_t *pb, uint8_t type);
void pktbuf_end(pktbuf_t *pb);

/* ---- whole messages ---- */
/* ErrorResponse/NoticeResponse with severity, SQLSTATE and message. */
void pktbuf_error(pktbuf_t *pb, const char *severity, const char *sqlstate, const char *fmt, ...)
	PRINTF_LIKE(4, 5);
void pktbuf_notice(pktbuf_t *pb, const char *sqlstate, const char *fmt, ...) PRINTF_LIKE(3, 4);
void pktbuf_ready(pktbuf_t *pb, char status);
void pktbuf_param_status(pktbuf_t *pb, const char *name, const char *value);
void pktbuf_backend_key(pktbuf_t *pb, uint32_t pid, uint32_t key);
void pktbuf_auth(pktbuf_t *pb, uint32_t code, const void *data, size_t len);
void pktbuf_query(pktbuf_t *pb, const char *sql);
void pktbuf_command_complete(pktbuf_t *pb, const char *tag);
void pktbuf_negotiate_version(pktbuf_t *pb, uint32_t minor, const char *const *options, int n);

/* RowDescription: columns given as "name:type" where type is one of
 * t (text), i (int4), l (int8), n (numeric), b (bool). */
void pktbuf_row_description(pktbuf_t *pb, const char *const *cols, int ncols);
/* DataRow from text values (NULL = SQL NULL). */
void pktbuf_data_row(pktbuf_t *pb, const char *const *values, int nvalues);

#endif

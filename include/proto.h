/*
 * proto.h - the PostgreSQL v3 wire protocol as pure functions: message
 * framing, startup packet parsing, and small readers for the message bodies
 * pgtide has to look inside. No I/O; every length is checked before use.
 */
#ifndef PGTIDE_PROTO_H
#define PGTIDE_PROTO_H

#include "common.h"

#define PROTO_VERSION(major, minor) (((uint32_t)(major) << 16) | (uint32_t)(minor))
#define PROTO_V3_0 PROTO_VERSION(3, 0)
#define PROTO_V3_2 PROTO_VERSION(3, 2)
#define PROTO_CANCEL_CODE PROTO_VERSION(1234, 5678)
#define PROTO_SSL_CODE PROTO_VERSION(1234, 5679)
#define PROTO_GSSENC_CODE PROTO_VERSION(1234, 5680)

/* A startup packet is length + code + params; PostgreSQL caps it at 10000. */
#define PROTO_MAX_STARTUP_LEN 10000
#define PROTO_HEADER_LEN 5
#define PROTO_MAX_STARTUP_PARAMS 64
#define PROTO_MAX_NAME_LEN 63 /* NAMEDATALEN - 1: user and database names */

/* Frontend (client -> server) message types. */
enum {
	FE_BIND = 'B', FE_CLOSE = 'C', FE_COPY_DATA = 'd', FE_COPY_DONE = 'c', FE_COPY_FAIL = 'f',
	FE_DESCRIBE = 'D', FE_EXECUTE = 'E', FE_FLUSH = 'H', FE_FUNCTION_CALL = 'F', FE_PARSE = 'P',
	FE_PASSWORD = 'p', FE_QUERY = 'Q', FE_SYNC = 'S', FE_TERMINATE = 'X',
};

/* Backend (server -> client) message types. */
enum {
	BE_AUTH = 'R', BE_KEY_DATA = 'K', BE_BIND_COMPLETE = '2', BE_CLOSE_COMPLETE = '3',
	BE_COMMAND_COMPLETE = 'C', BE_COPY_DATA = 'd', BE_COPY_DONE = 'c', BE_COPY_IN = 'G',
	BE_COPY_OUT = 'H', BE_COPY_BOTH = 'W', BE_DATA_ROW = 'D', BE_EMPTY_QUERY = 'I',
	BE_ERROR = 'E', BE_FUNCTION_RESULT = 'V', BE_NEGOTIATE_VERSION = 'v', BE_NO_DATA = 'n',
	BE_NOTICE = 'N', BE_NOTIFICATION = 'A', BE_PARAM_DESC = 't', BE_PARAM_STATUS = 'S',
	BE_PARSE_COMPLETE = '1', BE_PORTAL_SUSPENDED = 's', BE_READY = 'Z', BE_ROW_DESC = 'T',
};

/* AuthenticationXXX codes. */
enum {
	AUTH_REQ_OK = 0, AUTH_REQ_PASSWORD = 3, AUTH_REQ_MD5 = 5, AUTH_REQ_SASL = 10,
	AUTH_REQ_SASL_CONTINUE = 11, AUTH_REQ_SASL_FINAL = 12,
};

static inline uint32_t proto_get_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint16_t proto_get_u16(const uint8_t *p)
{
	return (uint16_t)(((uint16_t)p[0] << 8) | p[1]);
}

static inline void proto_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- framing of typed messages ---- */
typedef enum {
	FRAME_OK = 0,      /* a header is available: type and total length known */
	FRAME_NEED_MORE,   /* fewer than 5 bytes */
	FRAME_BAD_LENGTH,  /* length < 4 or beyond the limit */
} frame_result_t;

/* Reads the 5-byte header at data. On FRAME_OK, *type is the message type and
 * *total the whole message size including the type byte (1 + length). */
frame_result_t proto_frame(const uint8_t *data, size_t avail, uint32_t max_len, uint8_t *type,
			   uint32_t *total);

/* ---- startup packets ---- */
typedef enum {
	STARTUP_NEED_MORE = 0,
	STARTUP_OK,          /* a StartupMessage, parsed into startup_t */
	STARTUP_SSL,         /* SSLRequest */
	STARTUP_GSSENC,      /* GSSENCRequest */
	STARTUP_CANCEL,      /* CancelRequest: pid and key filled in */
	STARTUP_BAD,         /* malformed: errmsg says why */
	STARTUP_UNSUPPORTED, /* a protocol version we cannot speak */
} startup_kind_t;

typedef struct startup_param {
	const char *name;  /* points into the packet */
	const char *value;
} startup_param_t;

typedef struct startup {
	startup_kind_t kind;
	uint32_t length;    /* bytes the packet takes in the stream */
	uint32_t version;   /* requested protocol version */
	const char *user;
	const char *database;
	startup_param_t params[PROTO_MAX_STARTUP_PARAMS]; /* all but user/database */
	int nparams;
	/* Cancel: the key the client got in BackendKeyData (3.2 allows up to 256 bytes). */
	uint32_t cancel_pid;
	uint8_t cancel_key[256];
	uint32_t cancel_key_len;
	const char *errmsg;
	/* "_pq_." protocol options the client asked for (reported as unsupported). */
	const char *unsupported_options[8];
	int nunsupported;
} startup_t;

/* Parses a startup packet at the start of data. The packet's strings are
 * referenced in place, so data must stay valid (and writable: not modified)
 * while out is used. */
startup_kind_t proto_parse_startup(const uint8_t *data, size_t avail, startup_t *out);

/* ---- reading message bodies ---- */
typedef struct msg_reader {
	const uint8_t *p, *end;
	bool bad;
} msg_reader_t;

static inline void msg_reader_init(msg_reader_t *r, const uint8_t *body, size_t len)
{
	r->p = body;
	r->end = body + len;
	r->bad = false;
}

uint8_t msg_read_u8(msg_reader_t *r);
uint16_t msg_read_u16(msg_reader_t *r);
uint32_t msg_read_u32(msg_reader_t *r);
/* A NUL-terminated string inside the body, or NULL (and bad set) if none. */
const char *msg_read_cstr(msg_reader_t *r);
const uint8_t *msg_read_bytes(msg_reader_t *r, size_t n);
static inline size_t msg_remaining(const msg_reader_t *r)
{
	return (size_t)(r->end - r->p);
}

/* Name and value of a ParameterStatus body (pointing into it). */
bool proto_parse_param_status(const uint8_t *body, size_t len, const char **name, const char **value);

/* Fields of an ErrorResponse/NoticeResponse body. Missing fields are NULL. */
typedef struct error_fields {
	const char *severity;
	const char *sqlstate;
	const char *message;
} error_fields_t;
bool proto_parse_error(const uint8_t *body, size_t len, error_fields_t *out);

#endif

/*
 * fuzz_startup.c - proto_parse_startup and proto_frame on arbitrary bytes.
 *
 * The input is what a client sent first: a startup packet (or SSLRequest,
 * GSSENCRequest, CancelRequest) possibly followed by typed messages. Beyond
 * memory safety this checks what the callers rely on:
 *  - every pointer in startup_t lies inside the packet and its string ends
 *    inside it; counts stay within their arrays;
 *  - the verdict depends only on the packet's own bytes: parsing exactly
 *    `length` bytes gives the same result, and one byte less asks for more;
 *  - proto_frame reports exactly the header's length, or rejects it.
 */
#include "fuzz_common.h"
#include "proto.h"

static void check_str_in(const char *s, const uint8_t *pkt, uint32_t len)
{
	FUZZ_CHECK(s != NULL);
	FUZZ_CHECK((const uint8_t *)s >= pkt + 8 && (const uint8_t *)s < pkt + len);
	FUZZ_CHECK(memchr(s, 0, (size_t)(pkt + len - (const uint8_t *)s)) != NULL);
}

static void check_result(const uint8_t *pkt, size_t avail, startup_kind_t k, const startup_t *st)
{
	uint32_t hdr_len = avail >= 4 ? proto_get_u32(pkt) : 0;

	FUZZ_CHECK(st->kind == k);
	switch (k) {
	case STARTUP_NEED_MORE:
		FUZZ_CHECK(avail < 8 || avail < hdr_len);
		break;
	case STARTUP_SSL:
	case STARTUP_GSSENC:
		FUZZ_CHECK(st->length == 8 && hdr_len == 8);
		FUZZ_CHECK(st->version == (k == STARTUP_SSL ? PROTO_SSL_CODE : PROTO_GSSENC_CODE));
		break;
	case STARTUP_CANCEL:
		FUZZ_CHECK(st->length == hdr_len && st->length <= avail);
		FUZZ_CHECK(st->length >= 16 && st->cancel_key_len == st->length - 12);
		FUZZ_CHECK(st->cancel_key_len <= sizeof(st->cancel_key));
		FUZZ_CHECK(st->cancel_pid == proto_get_u32(pkt + 8));
		FUZZ_CHECK(memcmp(st->cancel_key, pkt + 12, st->cancel_key_len) == 0);
		break;
	case STARTUP_OK:
		FUZZ_CHECK(st->length == hdr_len && st->length <= avail && st->length >= 9);
		FUZZ_CHECK(st->length <= PROTO_MAX_STARTUP_LEN);
		FUZZ_CHECK((st->version >> 16) == 3);
		check_str_in(st->user, pkt, st->length);
		check_str_in(st->database, pkt, st->length);
		FUZZ_CHECK(*st->user && strlen(st->user) <= PROTO_MAX_NAME_LEN);
		FUZZ_CHECK(*st->database && strlen(st->database) <= PROTO_MAX_NAME_LEN);
		FUZZ_CHECK(st->nparams >= 0 && st->nparams <= PROTO_MAX_STARTUP_PARAMS);
		for (int i = 0; i < st->nparams; i++) {
			check_str_in(st->params[i].name, pkt, st->length);
			check_str_in(st->params[i].value, pkt, st->length);
			FUZZ_CHECK(*st->params[i].name);
			FUZZ_CHECK(strcmp(st->params[i].name, "user") != 0);
			FUZZ_CHECK(strcmp(st->params[i].name, "database") != 0);
			FUZZ_CHECK(strncmp(st->params[i].name, "_pq_.", 5) != 0);
		}
		FUZZ_CHECK(st->nunsupported >= 0 &&
			   st->nunsupported <= (int)(sizeof(st->unsupported_options) /
						     sizeof(st->unsupported_options[0])));
		for (int i = 0; i < st->nunsupported; i++) {
			check_str_in(st->unsupported_options[i], pkt, st->length);
			FUZZ_CHECK(strncmp(st->unsupported_options[i], "_pq_.", 5) == 0);
		}
		break;
	case STARTUP_UNSUPPORTED:
		FUZZ_CHECK(st->length == hdr_len && st->length <= avail);
		FUZZ_CHECK(st->errmsg != NULL && (st->version >> 16) != 3);
		break;
	case STARTUP_BAD:
		FUZZ_CHECK(st->errmsg != NULL);
		break;
	default:
		FUZZ_CHECK(!"unknown startup kind");
	}
}

/* Two parses of the same packet agree (strings compared by content: the
 * two buffers differ). */
static void check_same(const startup_t *a, const startup_t *b)
{
	FUZZ_CHECK(a->kind == b->kind);
	FUZZ_CHECK(a->length == b->length && a->version == b->version);
	FUZZ_CHECK((a->errmsg == NULL) == (b->errmsg == NULL));
	if (a->errmsg)
		FUZZ_CHECK(strcmp(a->errmsg, b->errmsg) == 0);
	if (a->kind == STARTUP_CANCEL) {
		FUZZ_CHECK(a->cancel_pid == b->cancel_pid && a->cancel_key_len == b->cancel_key_len);
		FUZZ_CHECK(memcmp(a->cancel_key, b->cancel_key, a->cancel_key_len) == 0);
	}
	if (a->kind != STARTUP_OK)
		return;
	FUZZ_CHECK(strcmp(a->user, b->user) == 0 && strcmp(a->database, b->database) == 0);
	FUZZ_CHECK(a->nparams == b->nparams && a->nunsupported == b->nunsupported);
	for (int i = 0; i < a->nparams; i++) {
		FUZZ_CHECK(strcmp(a->params[i].name, b->params[i].name) == 0);
		FUZZ_CHECK(strcmp(a->params[i].value, b->params[i].value) == 0);
	}
	for (int i = 0; i < a->nunsupported; i++)
		FUZZ_CHECK(strcmp(a->unsupported_options[i], b->unsupported_options[i]) == 0);
}

static startup_kind_t parse_copy(const uint8_t *data, size_t len, startup_t *out, uint8_t **keep)
{
	*keep = fuzz_dup_exact(data, len);
	return proto_parse_startup(*keep, len, out);
}

static void check_frame(const uint8_t *data, size_t size, uint32_t max_len)
{
	uint8_t type = 0;
	uint32_t total = 0;
	frame_result_t fr = proto_frame(data, size, max_len, &type, &total);

	if (size < PROTO_HEADER_LEN) {
		FUZZ_CHECK(fr == FRAME_NEED_MORE);
		return;
	}
	uint32_t len = proto_get_u32(data + 1);
	if (len < 4 || len > max_len || len > INT32_MAX - 1) {
		FUZZ_CHECK(fr == FRAME_BAD_LENGTH);
		return;
	}
	FUZZ_CHECK(fr == FRAME_OK && type == data[0] && total == len + 1);
}

/* What follows the startup packet, framed the way the login phase does. */
static void walk_messages(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		uint8_t type;
		uint32_t total;
		frame_result_t fr =
			proto_frame(data + off, size - off, PROTO_MAX_STARTUP_LEN, &type, &total);

		if (fr != FRAME_OK || total > size - off)
			break;
		FUZZ_CHECK(total >= PROTO_HEADER_LEN && total <= PROTO_MAX_STARTUP_LEN + 1);
		off += total;
	}
	FUZZ_CHECK(off <= size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static startup_t st, st2; /* large: keep them off the stack */
	startup_kind_t k;
	uint8_t *copy;

	/* No state from an earlier input: the parser resets only what it sets. */
	memset(&st, 0x5a, sizeof(st));
	memset(&st2, 0xa5, sizeof(st2));
	k = proto_parse_startup(data, size, &st);
	check_result(data, size, k, &st);

	if (size >= 8) {
		uint32_t len = proto_get_u32(data);

		/* Trailing bytes must not change the verdict. */
		if (k != STARTUP_NEED_MORE && len >= 8 && len <= size) {
			startup_kind_t k2 = parse_copy(data, len, &st2, &copy);

			check_result(copy, len, k2, &st2);
			check_same(&st, &st2);
			free(copy);
		}
		/* One byte short of a complete packet is not enough yet. */
		if (k != STARTUP_NEED_MORE && k != STARTUP_BAD && len >= 8 && len <= size) {
			startup_kind_t k2 = parse_copy(data, len - 1, &st2, &copy);

			FUZZ_CHECK(k2 == STARTUP_NEED_MORE);
			free(copy);
		}
		if (k != STARTUP_NEED_MORE && k != STARTUP_BAD)
			walk_messages(data + st.length, size - st.length);
	}
	/* A short prefix never yields anything but a request for more. */
	if (size > 0) {
		startup_kind_t k2 = parse_copy(data, size < 8 ? size - 1 : 7, &st2, &copy);

		FUZZ_CHECK(k2 == STARTUP_NEED_MORE);
		free(copy);
	}

	check_frame(data, size, PROTO_MAX_STARTUP_LEN);
	check_frame(data, size, 1024);
	check_frame(data, size, UINT32_MAX);
	if (size >= PROTO_HEADER_LEN)
		check_frame(data, size, proto_get_u32(data + 1)); /* the exact boundary */
	walk_messages(data, size);
	return 0;
}

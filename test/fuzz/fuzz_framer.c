/*
 * fuzz_framer.c - a byte stream walked the way pgtide's relay loops walk it
 * (client.c relay_step, server.c server_step): optional startup packet(s),
 * then typed messages framed by proto_frame, whole messages read with the
 * msg_read_* readers and proto_parse_error, big messages streamed through
 * without being buffered.
 *
 * Input layout:
 *   byte 0    bits 0-2: number of split points k (0..7)
 *             bit 3:    the stream starts with a startup packet
 *             bits 4-5: max message length (max_packet_size)
 *             bits 6-7: buffer capacity (messages above it are streamed)
 *   k x 2     split points (big-endian, taken modulo the stream length + 1)
 *   rest      the stream
 *
 * The stream arrives in the chunks the split points cut, each time in a heap
 * buffer of exactly the bytes pending, so ASan catches a read past what has
 * arrived. Checks: no out-of-bounds read, every loop iteration consumes input
 * or stops (no endless loop), reader cursors stay inside the body, and the
 * sequence of messages seen is the same however the stream was cut: as one
 * chunk, as the split points cut it, and (for short streams) byte by byte.
 */
#include "fuzz_common.h"
#include "proto.h"

#define IOBUF_CAP (16 * 1024 - 64) /* IOBUF_SIZE, without pulling in iobuf.h */

static const uint32_t max_lens[4] = { INT32_MAX, 1024, PROTO_MAX_STARTUP_LEN, 8192 };
static const uint32_t caps[4] = { IOBUF_CAP, 64, 256, 4096 };

typedef struct rec {
	char kind; /* 'P' startup, 'M' whole message, 'S' streamed, 'B' bad length, 'E' end */
	uint8_t type;
	uint32_t total;
	uint64_t hash;
} rec_t;

typedef enum { PH_STARTUP, PH_TYPED, PH_STOPPED } phase_t;

typedef struct walk {
	rec_t *recs;
	size_t n, cap_recs;
	uint8_t *buf; /* pending bytes are buf[off, len); buf is exactly len bytes */
	size_t len, off;
	uint32_t skip; /* bytes of a streamed message still to pass through */
	phase_t phase;
	uint32_t max_len, cap;
} walk_t;

static void add_rec(walk_t *w, char kind, uint8_t type, uint32_t total, uint64_t hash)
{
	if (w->n == w->cap_recs) {
		w->cap_recs = w->cap_recs ? 2 * w->cap_recs : 16;
		w->recs = realloc(w->recs, w->cap_recs * sizeof(*w->recs));
		if (!w->recs)
			abort();
	}
	w->recs[w->n++] = (rec_t){ kind, type, total, hash };
}

/* ---- message bodies ---- */

typedef struct reader_check {
	msg_reader_t r;
	const uint8_t *body, *end;
	uint64_t h;
} rc_t;

static void rc_sane(rc_t *c)
{
	FUZZ_CHECK(c->r.p >= c->body && c->r.p <= c->end && c->r.end == c->end);
	FUZZ_CHECK(msg_remaining(&c->r) == (size_t)(c->end - c->r.p));
}

static uint32_t rd_u32(rc_t *c)
{
	uint32_t v = msg_read_u32(&c->r);

	rc_sane(c);
	c->h = fuzz_hash(c->h, &v, sizeof(v));
	return v;
}

static uint16_t rd_u16(rc_t *c)
{
	uint16_t v = msg_read_u16(&c->r);

	rc_sane(c);
	c->h = fuzz_hash(c->h, &v, sizeof(v));
	return v;
}

static uint8_t rd_u8(rc_t *c)
{
	uint8_t v = msg_read_u8(&c->r);

	rc_sane(c);
	c->h = fuzz_hash(c->h, &v, sizeof(v));
	return v;
}

static void check_cstr(rc_t *c, const char *s)
{
	FUZZ_CHECK((const uint8_t *)s >= c->body && (const uint8_t *)s < c->end);
	FUZZ_CHECK(memchr(s, 0, (size_t)(c->end - (const uint8_t *)s)) != NULL);
}

static const char *rd_cstr(rc_t *c)
{
	const uint8_t *before = c->r.p;
	const char *s = msg_read_cstr(&c->r);

	rc_sane(c);
	if (s) {
		check_cstr(c, s);
		FUZZ_CHECK((const uint8_t *)s == before && c->r.p == before + strlen(s) + 1);
		c->h = fuzz_hash(c->h, s, strlen(s) + 1);
	} else {
		FUZZ_CHECK(c->r.bad);
		c->h = fuzz_hash(c->h, "!", 1);
	}
	return s;
}

static void rd_bytes(rc_t *c, size_t n)
{
	const uint8_t *before = c->r.p;
	const uint8_t *b = msg_read_bytes(&c->r, n);

	rc_sane(c);
	if (b) {
		FUZZ_CHECK(b == before && c->r.p == before + n);
		c->h = fuzz_hash(c->h, b, n);
	} else {
		FUZZ_CHECK(c->r.bad);
	}
}

static void rd_error(rc_t *c)
{
	error_fields_t ef;
	bool ok = proto_parse_error(c->body, (size_t)(c->end - c->body), &ef);
	const char *f[3] = { ef.severity, ef.sqlstate, ef.message };

	c->h = fuzz_hash(c->h, &ok, sizeof(ok));
	for (int i = 0; i < 3; i++) {
		if (!f[i])
			continue;
		check_cstr(c, f[i]);
		c->h = fuzz_hash(c->h, f[i], strlen(f[i]) + 1);
	}
}

/* Reads a body the way pgtide (or a client of it) would read that type.
 * Types that mean different things in each direction are read as backend
 * messages; the frontend-only ones as frontend messages. */
static uint64_t inspect(uint8_t type, const uint8_t *data, size_t blen)
{
	uint8_t *body = fuzz_dup_exact(data, blen);
	rc_t c = { .body = body, .end = body + blen, .h = FUZZ_HASH_INIT };
	uint32_t n, code;

	msg_reader_init(&c.r, body, blen);
	rc_sane(&c);
	switch (type) {
	case BE_ERROR:
	case BE_NOTICE:
		rd_error(&c);
		break;
	case BE_AUTH:
		code = rd_u32(&c);
		if (code == AUTH_REQ_MD5) {
			rd_bytes(&c, 4);
		} else if (code == AUTH_REQ_SASL) {
			for (;;) { /* mechanism names, up to an empty one */
				const char *mech = rd_cstr(&c);

				if (!mech || !*mech)
					break;
			}
		} else {
			rd_bytes(&c, msg_remaining(&c.r));
		}
		break;
	case BE_PARAM_STATUS: { /* as server.c reads it, and field by field */
		const char *pn = NULL, *pv = NULL, *name, *value;
		bool ok = proto_parse_param_status(body, blen, &pn, &pv);

		name = rd_cstr(&c);
		value = rd_cstr(&c);
		FUZZ_CHECK(ok == (name && value));
		if (ok)
			FUZZ_CHECK(pn == name && pv == value);
		break;
	}
	case BE_KEY_DATA:
		rd_u32(&c);
		rd_bytes(&c, msg_remaining(&c.r));
		break;
	case BE_READY:
		rd_u8(&c);
		break;
	case BE_COMMAND_COMPLETE:
	case FE_QUERY:
		rd_cstr(&c);
		break;
	case BE_DATA_ROW:
		n = rd_u16(&c);
		for (uint32_t i = 0; i < n && !c.r.bad; i++) {
			uint32_t len = rd_u32(&c);

			if (len != UINT32_MAX) /* -1 = NULL */
				rd_bytes(&c, len);
		}
		break;
	case BE_ROW_DESC:
		n = rd_u16(&c);
		for (uint32_t i = 0; i < n && !c.r.bad; i++) {
			rd_cstr(&c);
			rd_u32(&c);
			rd_u16(&c);
			rd_u32(&c);
			rd_u16(&c);
			rd_u32(&c);
			rd_u16(&c);
		}
		break;
	case BE_PARAM_DESC:
		n = rd_u16(&c);
		for (uint32_t i = 0; i < n && !c.r.bad; i++)
			rd_u32(&c);
		break;
	case BE_NOTIFICATION:
		rd_u32(&c);
		rd_cstr(&c);
		rd_cstr(&c);
		break;
	case BE_NEGOTIATE_VERSION:
		rd_u32(&c);
		n = rd_u32(&c);
		for (uint32_t i = 0; i < n && !c.r.bad; i++)
			rd_cstr(&c);
		break;
	case BE_COPY_IN:
	case BE_COPY_OUT:
	case BE_COPY_BOTH:
		rd_u8(&c);
		n = rd_u16(&c);
		for (uint32_t i = 0; i < n && !c.r.bad; i++)
			rd_u16(&c);
		break;
	case BE_FUNCTION_RESULT:
		n = rd_u32(&c);
		if (n != UINT32_MAX)
			rd_bytes(&c, n);
		break;
	case FE_PARSE:
		rd_cstr(&c);
		rd_cstr(&c);
		n = rd_u16(&c);
		for (uint32_t i = 0; i < n && !c.r.bad; i++)
			rd_u32(&c);
		break;
	case FE_BIND:
		rd_cstr(&c);
		rd_cstr(&c);
		for (int part = 0; part < 3 && !c.r.bad; part++) {
			n = rd_u16(&c);
			for (uint32_t i = 0; i < n && !c.r.bad; i++) {
				if (part != 1) {
					rd_u16(&c);
					continue;
				}
				uint32_t len = rd_u32(&c);

				if (len != UINT32_MAX)
					rd_bytes(&c, len);
			}
		}
		break;
	case FE_PASSWORD: /* SASLInitialResponse, as client.c handle_sasl reads it */
		if (rd_cstr(&c)) {
			n = rd_u32(&c);
			if (!c.r.bad && n != UINT32_MAX && n == msg_remaining(&c.r))
				rd_bytes(&c, n);
		}
		break;
	default:
		rd_bytes(&c, msg_remaining(&c.r));
		break;
	}
	/* a reader that went bad stays bad and reads nothing more */
	if (c.r.bad) {
		const uint8_t *p = c.r.p;

		FUZZ_CHECK(msg_read_u8(&c.r) == 0 && msg_read_u16(&c.r) == 0 &&
			   msg_read_u32(&c.r) == 0 && msg_read_cstr(&c.r) == NULL &&
			   msg_read_bytes(&c.r, 0) == NULL && c.r.p == p);
	}
	c.h = fuzz_hash(c.h, &c.r.bad, sizeof(c.r.bad));
	free(body);
	return c.h;
}

/* ---- the walk ---- */

static uint64_t startup_hash(const startup_t *st, startup_kind_t k)
{
	uint64_t h = FUZZ_HASH_INIT;

	h = fuzz_hash(h, &k, sizeof(k));
	h = fuzz_hash(h, &st->length, sizeof(st->length));
	h = fuzz_hash(h, &st->version, sizeof(st->version));
	if (k == STARTUP_OK) {
		h = fuzz_hash(h, st->user, strlen(st->user));
		h = fuzz_hash(h, st->database, strlen(st->database));
		h = fuzz_hash(h, &st->nparams, sizeof(st->nparams));
		for (int i = 0; i < st->nparams; i++) {
			h = fuzz_hash(h, st->params[i].name, strlen(st->params[i].name) + 1);
			h = fuzz_hash(h, st->params[i].value, strlen(st->params[i].value) + 1);
		}
	} else if (k == STARTUP_CANCEL) {
		h = fuzz_hash(h, &st->cancel_pid, sizeof(st->cancel_pid));
		h = fuzz_hash(h, st->cancel_key, st->cancel_key_len);
	}
	return h;
}

static void consume(walk_t *w, size_t n)
{
	FUZZ_CHECK(n >= 1 && n <= w->len - w->off);
	w->off += n;
}

/* Handles what is pending; returns when more input is needed. */
static void process(walk_t *w)
{
	static startup_t st;
	size_t limit = 2 * (w->len - w->off) + 2;

	for (size_t iter = 0; w->phase != PH_STOPPED; iter++) {
		const uint8_t *head = w->buf + w->off;
		size_t avail = w->len - w->off;
		uint8_t type = 0;
		uint32_t total = 0;

		/* each pass consumes input or stops: no endless loop */
		FUZZ_CHECK(iter <= limit);
		if (w->skip) {
			size_t k = MIN(avail, (size_t)w->skip);

			if (k == 0)
				return;
			consume(w, k);
			w->skip -= (uint32_t)k;
			continue;
		}
		if (w->phase == PH_STARTUP) {
			startup_kind_t k = proto_parse_startup(head, avail, &st);

			if (k == STARTUP_NEED_MORE)
				return;
			add_rec(w, 'P', (uint8_t)k, st.length, startup_hash(&st, k));
			if (k == STARTUP_SSL || k == STARTUP_GSSENC) {
				consume(w, 8); /* answered 'N'; the real startup follows */
			} else if (k == STARTUP_OK) {
				consume(w, st.length);
				w->phase = PH_TYPED;
			} else {
				w->phase = PH_STOPPED; /* cancel handled, or an error sent */
			}
			continue;
		}
		frame_result_t fr = proto_frame(head, avail, w->max_len, &type, &total);

		if (fr == FRAME_NEED_MORE) {
			FUZZ_CHECK(avail < PROTO_HEADER_LEN);
			return;
		}
		if (fr == FRAME_BAD_LENGTH) {
			add_rec(w, 'B', head[0], 0, 0);
			w->phase = PH_STOPPED;
			return;
		}
		FUZZ_CHECK(fr == FRAME_OK && type == head[0]);
		FUZZ_CHECK(total >= PROTO_HEADER_LEN && total - 1 <= w->max_len);
		if (total > w->cap) {
			/* too big to buffer: passed through as it arrives */
			add_rec(w, 'S', type, total, 0);
			w->skip = total;
			continue;
		}
		if (total > avail)
			return; /* the rest is on its way */
		add_rec(w, 'M', type, total, inspect(type, head + PROTO_HEADER_LEN, total - PROTO_HEADER_LEN));
		consume(w, total);
	}
}

static void feed(walk_t *w, const uint8_t *chunk, size_t n)
{
	size_t pending = w->len - w->off;
	uint8_t *nb;

	if (w->phase == PH_STOPPED)
		return;
	nb = malloc(pending + n ? pending + n : 1);
	if (!nb)
		abort();
	if (pending)
		memcpy(nb, w->buf + w->off, pending);
	if (n)
		memcpy(nb + pending, chunk, n);
	free(w->buf);
	w->buf = nb;
	w->len = pending + n;
	w->off = 0;
	process(w);
}

static void walk_init(walk_t *w, bool startup, uint32_t max_len, uint32_t cap)
{
	memset(w, 0, sizeof(*w));
	w->phase = startup ? PH_STARTUP : PH_TYPED;
	w->max_len = max_len;
	w->cap = cap;
}

static void walk_end(walk_t *w)
{
	uint64_t h = FUZZ_HASH_INIT;
	size_t pending = w->phase == PH_STOPPED ? 0 : w->len - w->off;

	h = fuzz_hash(h, &pending, sizeof(pending));
	h = fuzz_hash(h, &w->skip, sizeof(w->skip));
	add_rec(w, 'E', (uint8_t)w->phase, 0, h);
	free(w->buf);
	w->buf = NULL;
}

static void same_walk(const walk_t *a, const walk_t *b)
{
	FUZZ_CHECK(a->n == b->n);
	for (size_t i = 0; i < a->n; i++) {
		FUZZ_CHECK(a->recs[i].kind == b->recs[i].kind && a->recs[i].type == b->recs[i].type);
		FUZZ_CHECK(a->recs[i].total == b->recs[i].total && a->recs[i].hash == b->recs[i].hash);
	}
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cuts[9], ncuts, hdr;
	walk_t whole, split, bytes;
	bool startup;
	uint32_t max_len, cap;
	const uint8_t *stream;
	size_t slen;

	if (size < 1)
		return 0;
	ncuts = data[0] & 7;
	startup = (data[0] & 8) != 0;
	max_len = max_lens[(data[0] >> 4) & 3];
	cap = caps[(data[0] >> 6) & 3];
	hdr = 1 + 2 * ncuts;
	if (size < hdr)
		return 0;
	stream = data + hdr;
	slen = size - hdr;
	for (size_t i = 0; i < ncuts; i++)
		cuts[i] = proto_get_u16(data + 1 + 2 * i) % (slen + 1);
	cuts[ncuts++] = slen;
	qsort(cuts, ncuts, sizeof(cuts[0]), cmp_size);

	walk_init(&whole, startup, max_len, cap);
	feed(&whole, stream, slen);
	walk_end(&whole);

	walk_init(&split, startup, max_len, cap);
	for (size_t i = 0, at = 0; i < ncuts; i++) {
		feed(&split, stream + at, cuts[i] - at);
		at = cuts[i];
	}
	walk_end(&split);
	same_walk(&whole, &split);

	if (slen <= 512) {
		walk_init(&bytes, startup, max_len, cap);
		for (size_t i = 0; i < slen; i++)
			feed(&bytes, stream + i, 1);
		walk_end(&bytes);
		same_walk(&whole, &bytes);
		free(bytes.recs);
	}
	free(whole.recs);
	free(split.recs);
	return 0;
}

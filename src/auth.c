/*
 * auth.c - MD5 and SCRAM-SHA-256 password authentication, server and client
 * side, as PostgreSQL speaks them. Pure functions over caller-owned state:
 * no I/O, no globals, no logging.
 *
 * Every incoming SCRAM message is untrusted: it is not NUL-terminated, may
 * have any length and may lack any attribute. All parsing goes through a
 * bounded cursor, and every attribute is checked before it is used.
 *
 * Passwords are used as raw bytes. PostgreSQL runs SASLprep (RFC 4013) on a
 * password first; for ASCII passwords (and for any password SASLprep rejects,
 * where PostgreSQL also falls back to the raw bytes) that changes nothing, so
 * those work exactly. A non-ASCII password that NFKC normalisation would
 * change does not match what PostgreSQL derived.
 */
#include "auth.h"
#include "digest.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define SCRAM_PREFIX "SCRAM-SHA-256$"
#define SCRAM_MOCK_SALT_LEN 16 /* what PostgreSQL generates, so mocks look real */
/* client-first-bare + "," + server-first + "," + client-final-without-proof */
#define AUTH_MESSAGE_MAX (3 * SCRAM_MAX_MESSAGE)
#define MD5_DIGEST_HEX 32

static const char err_state[] = "SCRAM exchange step called out of order";
static const char err_bad_proof[] = "password authentication failed";
static const char err_crypto[] = "SCRAM: cryptographic library failure";
static const char err_out_cap[] = "SCRAM: output buffer too small";

static bool fail(const char **errmsg, const char *why)
{
	if (errmsg)
		*errmsg = why;
	return false;
}

/* errmsg is NULL unless the call failed: no stale reason from an earlier call. */
static void clear_err(const char **errmsg)
{
	if (errmsg)
		*errmsg = NULL;
}

static int fail_rc(const char **errmsg, const char *why, int rc)
{
	fail(errmsg, why);
	return rc;
}

/* ---- base64 (RFC 4648, with padding) ---- */

static const char b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_enc_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

/* Writes the top n sextets of the 24-bit group v. */
static void b64_put(uint32_t v, int n, char *dst)
{
	for (int k = 0; k < n; k++)
		dst[k] = b64_chars[(v >> (18 - 6 * k)) & 0x3f];
}

/* Writes exactly b64_enc_len(len) characters, no NUL. */
static void b64_encode(const uint8_t *src, size_t len, char *dst)
{
	size_t i;

	for (i = 0; i + 2 < len; i += 3, dst += 4)
		b64_put((uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2], 4, dst);
	if (len - i == 2) {
		b64_put((uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8, 3, dst);
		dst[3] = '=';
	} else if (len - i == 1) {
		b64_put((uint32_t)src[i] << 16, 2, dst);
		dst[2] = dst[3] = '=';
	}
}

static int b64_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* One group of four characters to 1..3 bytes (in *v); -1 if invalid.
 * Padding is legal only in the last group, as "xx==" or "xxx=". */
static int b64_group(const char *g, bool last, uint32_t *v)
{
	int pad = 0;

	if (last && g[3] == '=')
		pad = g[2] == '=' ? 2 : 1;
	*v = 0;
	for (int k = 0; k < 4 - pad; k++) {
		int d = b64_value(g[k]);

		if (d < 0)
			return -1;
		*v |= (uint32_t)d << (18 - 6 * k);
	}
	return 3 - pad;
}

/* Strict decode of len characters (no NUL needed); fails rather than write
 * more than cap bytes. */
static bool b64_decode(const char *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len)
{
	size_t n = 0;

	if (len % 4 != 0)
		return false;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t v;
		int got = b64_group(src + i, i + 4 == len, &v);

		if (got < 0 || (size_t)got > cap - n)
			return false;
		for (int k = 0; k < got; k++)
			dst[n++] = (uint8_t)(v >> (16 - 8 * k));
	}
	*out_len = n;
	return true;
}

/* ---- bounded output buffer ---- */

/* An append that does not fit marks overflow instead of writing past cap,
 * so builders check once at the end; the text stays NUL-terminated. */
struct sbuf {
	char *buf;
	size_t cap;
	size_t len;
	bool overflow;
};

static void sb_init(struct sbuf *b, char *buf, size_t cap)
{
	b->buf = buf;
	b->cap = cap;
	b->len = 0;
	b->overflow = cap == 0;
	if (cap)
		buf[0] = '\0';
}

static bool sb_room(struct sbuf *b, size_t n)
{
	if (b->overflow || n >= b->cap - b->len)
		b->overflow = true;
	return !b->overflow;
}

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (!sb_room(b, n))
		return;
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_b64(struct sbuf *b, const uint8_t *data, size_t n)
{
	size_t need = b64_enc_len(n);

	if (!sb_room(b, need))
		return;
	b64_encode(data, n, b->buf + b->len);
	b->len += need;
	b->buf[b->len] = '\0';
}

static void sb_int(struct sbuf *b, int v)
{
	char tmp[16];
	int n = snprintf(tmp, sizeof(tmp), "%d", v);

	sb_add(b, tmp, (size_t)n);
}

/* RFC 5802 saslname: ',' and '=' travel as "=2C" and "=3D". */
static void sb_saslname(struct sbuf *b, const char *name)
{
	for (; *name; name++) {
		if (*name == ',')
			sb_str(b, "=2C");
		else if (*name == '=')
			sb_str(b, "=3D");
		else
			sb_add(b, name, 1);
	}
}

/* Copies text to the caller's buffer, which must hold it plus a NUL. */
static bool emit(const char *text, size_t len, char *out, size_t cap, size_t *out_len,
		 const char **errmsg)
{
	struct sbuf b;

	sb_init(&b, out, cap);
	sb_add(&b, text, len);
	if (b.overflow)
		return fail(errmsg, err_out_cap);
	if (out_len)
		*out_len = b.len;
	return true;
}

/* ---- bounded message parsing ---- */

struct span {
	const char *ptr;
	size_t len;
};

struct cursor {
	const char *p;
	const char *end;
};

static void cursor_init(struct cursor *c, const uint8_t *msg, size_t len)
{
	c->p = (const char *)msg;
	c->end = c->p + len;
}

static bool at_end(const struct cursor *c)
{
	return c->p == c->end;
}

static bool peek_is(const struct cursor *c, char ch)
{
	return c->p < c->end && *c->p == ch;
}

static bool take_comma(struct cursor *c)
{
	if (!peek_is(c, ','))
		return false;
	c->p++;
	return true;
}

static bool is_attr_name(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* Reads one "x=value"; the value runs to the next ',' or the end. */
static bool take_attr(struct cursor *c, char *name, struct span *val)
{
	const char *comma;

	if (c->end - c->p < 2 || !is_attr_name(c->p[0]) || c->p[1] != '=')
		return false;
	*name = c->p[0];
	val->ptr = c->p + 2;
	comma = memchr(val->ptr, ',', (size_t)(c->end - val->ptr));
	c->p = comma ? comma : c->end;
	val->len = (size_t)(c->p - val->ptr);
	return true;
}

/* Attributes come in a fixed order: anything but `want` here is an error. */
static bool expect_attr(struct cursor *c, char want, struct span *val, const char **errmsg,
			const char *why)
{
	char name;

	if (!take_attr(c, &name, val) || name != want)
		return fail(errmsg, why);
	return true;
}

/* ",x=value": the attribute after a comma. */
static bool expect_next_attr(struct cursor *c, char want, struct span *val, const char **errmsg,
			     const char *why)
{
	if (!take_comma(c))
		return fail(errmsg, why);
	return expect_attr(c, want, val, errmsg, why);
}

static bool span_eq(struct span s, const char *str)
{
	size_t n = strlen(str);

	return s.len == n && memcmp(s.ptr, str, n) == 0;
}

/* Checks common to every incoming message, before any parsing. */
static bool message_ok(const uint8_t *msg, size_t len, const char **errmsg)
{
	if (msg == NULL || len == 0)
		return fail(errmsg, "malformed SCRAM message: empty");
	/* messages are kept NUL-terminated for the AuthMessage: len + 1 must fit */
	if (len >= SCRAM_MAX_MESSAGE)
		return fail(errmsg, "malformed SCRAM message: too long");
	if (memchr(msg, '\0', len))
		return fail(errmsg, "malformed SCRAM message: embedded NUL byte");
	return true;
}

/* RFC 5802 printable: %x21-2B / %x2D-7E, visible ASCII except ','. */
static bool printable(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch < 0x21 || ch > 0x7e || ch == ',')
			return false;
	}
	return true;
}

/* Decimal digits only, 1..max: no sign, no spaces, no overflow. */
static bool parse_count(const char *p, size_t len, int64_t max, int *out)
{
	int64_t v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
		if (v > max)
			return false;
	}
	if (v < 1)
		return false;
	*out = (int)v;
	return true;
}

/* ---- hashing ---- */

/* ClientKey = HMAC(SaltedPassword, "Client Key"), ServerKey likewise. */
static bool keys_from_salted(const uint8_t salted[SCRAM_KEY_LEN], uint8_t client_key[SCRAM_KEY_LEN],
			     uint8_t server_key[SCRAM_KEY_LEN])
{
	return digest_hmac_sha256(salted, SCRAM_KEY_LEN, "Client Key", 10, client_key) &&
	       digest_hmac_sha256(salted, SCRAM_KEY_LEN, "Server Key", 10, server_key);
}

static void xor_keys(const uint8_t *a, const uint8_t *b, uint8_t *out)
{
	for (size_t i = 0; i < SCRAM_KEY_LEN; i++)
		out[i] = a[i] ^ b[i];
}

bool auth_random_bytes(uint8_t *buf, size_t len)
{
	if (len == 0)
		return true;
	if (buf == NULL || len > INT_MAX)
		return false;
	return RAND_bytes(buf, (int)len) == 1;
}

/* ---- MD5 ---- */

static void hex_encode(const uint8_t *src, size_t len, char *dst)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		dst[2 * i] = digits[src[i] >> 4];
		dst[2 * i + 1] = digits[src[i] & 0xf];
	}
	dst[2 * len] = '\0';
}

/* out (33 bytes) = hex(md5(a || b)). */
static bool md5_hex(const void *a, size_t a_len, const void *b, size_t b_len, char *out)
{
	uint8_t digest[DIGEST_MD5_LEN];

	if (!digest_md5_2(a, a_len, b, b_len, digest))
		return false;
	hex_encode(digest, sizeof(digest), out);
	return true;
}

/* PostgreSQL's test: "md5", 35 characters, lowercase hex after the prefix. */
static bool is_md5_secret(const char *s)
{
	if (strnlen(s, AUTH_MD5_LEN + 1) != AUTH_MD5_LEN || strncmp(s, "md5", 3) != 0)
		return false;
	return strspn(s + 3, "0123456789abcdef") == MD5_DIGEST_HEX;
}

/* On a crypto failure out is "", which no verification accepts. */
void auth_md5_secret(const char *user, const char *password, char *out)
{
	memcpy(out, "md5", 3);
	if (!md5_hex(password, strlen(password), user, strlen(user), out + 3))
		out[0] = '\0';
}

void auth_md5_response(const char *md5_secret, const uint8_t salt[4], char *out)
{
	out[0] = '\0';
	if (!is_md5_secret(md5_secret))
		return;
	memcpy(out, "md5", 3);
	if (!md5_hex(md5_secret + 3, MD5_DIGEST_HEX, salt, 4, out + 3))
		out[0] = '\0';
}

bool auth_md5_verify(const char *user, const char *stored_secret, const uint8_t salt[4],
		     const char *response)
{
	char secret[AUTH_MD5_LEN + 1], expected[AUTH_MD5_LEN + 1];
	bool ok;

	if (!user || !stored_secret || !response)
		return false;
	switch (auth_secret_kind(stored_secret)) {
	case SECRET_MD5:
		memcpy(secret, stored_secret, sizeof(secret));
		break;
	case SECRET_PLAIN:
		auth_md5_secret(user, stored_secret, secret);
		break;
	default: /* a SCRAM secret cannot answer an MD5 challenge */
		return false;
	}
	auth_md5_response(secret, salt, expected);
	/* lengths are public; only the digits need a constant-time compare */
	ok = expected[0] != '\0' && strnlen(response, AUTH_MD5_LEN + 1) == AUTH_MD5_LEN &&
	     CRYPTO_memcmp(expected, response, AUTH_MD5_LEN) == 0;
	OPENSSL_cleanse(secret, sizeof(secret));
	return ok;
}

/* ---- SCRAM secrets ---- */

secret_kind_t auth_secret_kind(const char *secret)
{
	scram_secret_t tmp;

	if (secret == NULL || secret[0] == '\0')
		return SECRET_NONE;
	if (is_md5_secret(secret))
		return SECRET_MD5;
	/* like PostgreSQL: only a secret that parses counts as SCRAM */
	if (scram_parse_secret(secret, &tmp))
		return SECRET_SCRAM;
	return SECRET_PLAIN;
}

static bool decode_key(const char *p, size_t len, uint8_t key[SCRAM_KEY_LEN])
{
	size_t n;

	return b64_decode(p, len, key, SCRAM_KEY_LEN, &n) && n == SCRAM_KEY_LEN;
}

/* "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>", as in pg_authid.
 * Base64 never contains ':' or '$', so the separators split it unambiguously. */
bool scram_parse_secret(const char *text, scram_secret_t *out)
{
	const char *iter, *salt, *stored, *server;
	scram_secret_t tmp;

	if (text == NULL || strncmp(text, SCRAM_PREFIX, strlen(SCRAM_PREFIX)) != 0)
		return false;
	iter = text + strlen(SCRAM_PREFIX);
	if (!(salt = strchr(iter, ':')) || !(stored = strchr(++salt, '$')) ||
	    !(server = strchr(++stored, ':')))
		return false;
	server++;
	memset(&tmp, 0, sizeof(tmp));
	if (!parse_count(iter, (size_t)(salt - 1 - iter), INT_MAX, &tmp.iterations) ||
	    !b64_decode(salt, (size_t)(stored - 1 - salt), tmp.salt, sizeof(tmp.salt), &tmp.salt_len) ||
	    tmp.salt_len == 0 || !decode_key(stored, (size_t)(server - 1 - stored), tmp.stored_key) ||
	    !decode_key(server, strlen(server), tmp.server_key))
		return false;
	*out = tmp;
	return true;
}

bool scram_secret_from_password(const char *password, const uint8_t *salt, size_t salt_len,
				int iterations, scram_secret_t *out)
{
	uint8_t salted[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN];
	bool ok;

	if (!password || !salt || salt_len == 0 || salt_len > SCRAM_MAX_SALT_LEN || iterations < 1)
		return false;
	memset(out, 0, sizeof(*out));
	ok = digest_pbkdf2_sha256(password, strlen(password), salt, salt_len, iterations, salted) &&
	     keys_from_salted(salted, client_key, out->server_key) &&
	     digest_sha256(client_key, SCRAM_KEY_LEN, out->stored_key);
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	if (!ok)
		return false;
	out->iterations = iterations;
	memcpy(out->salt, salt, salt_len);
	out->salt_len = salt_len;
	return true;
}

/* The salt must be stable per user (a changing salt would reveal that the
 * user is unknown) and unpredictable without mock_key. The keys are never
 * sent nor matched, so any value derived from the same digest will do. */
void scram_mock_secret(const char *user, const uint8_t mock_key[32], scram_secret_t *out)
{
	static const uint8_t zero_key[32];
	uint8_t digest[SCRAM_KEY_LEN];

	if (user == NULL)
		user = "";
	if (mock_key == NULL)
		mock_key = zero_key; /* callers should pass a per-process random key */
	memset(out, 0, sizeof(*out));
	if (!digest_hmac_sha256(mock_key, 32, user, strlen(user), digest))
		memset(digest, 0, sizeof(digest));
	out->iterations = SCRAM_DEFAULT_ITERATIONS;
	out->salt_len = SCRAM_MOCK_SALT_LEN;
	memcpy(out->salt, digest, SCRAM_MOCK_SALT_LEN);
	if (!digest_sha256(digest, sizeof(digest), out->stored_key) ||
	    !digest_sha256(out->stored_key, SCRAM_KEY_LEN, out->server_key))
		memset(out->stored_key, 0, SCRAM_KEY_LEN);
}

/* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
static bool auth_message(struct sbuf *b, const char *first_bare, const char *server_first,
			 const char *final_wo_proof, size_t final_len)
{
	sb_str(b, first_bare);
	sb_str(b, ",");
	sb_str(b, server_first);
	sb_str(b, ",");
	sb_add(b, final_wo_proof, final_len);
	return !b->overflow;
}

/* ---- SCRAM, pgtide as the server ---- */

void scram_server_init(scram_server_t *s, const scram_secret_t *secret, const char *user,
		       const uint8_t mock_key[32])
{
	memset(s, 0, sizeof(*s));
	s->state = SCRAM_SERVER_INIT;
	if (secret) {
		s->secret = *secret;
		return;
	}
	s->mock = true;
	scram_mock_secret(user, mock_key, &s->secret);
}

void scram_server_set_nonce_suffix(scram_server_t *s, const char *suffix)
{
	if (!strlcpy_ok(s->nonce_suffix, suffix, sizeof(s->nonce_suffix)) ||
	    !printable(suffix, strlen(suffix)))
		s->state = SCRAM_SERVER_FAILED;
}

void scram_server_set_channel_binding(scram_server_t *s, const uint8_t *data, size_t len, bool plus)
{
	if (len == 0 || len > sizeof(s->cbind_data)) {
		s->state = SCRAM_SERVER_FAILED;
		return;
	}
	memcpy(s->cbind_data, data, len);
	s->cbind_len = len;
	s->plus = plus;
}

/* gs2-header: "n,,", "y,," or "p=tls-server-end-point,,". "y" means the
 * client could bind but thinks we cannot: true without TLS, a downgrade
 * when we offered SCRAM-SHA-256-PLUS (RFC 5802 section 6). */
static bool parse_gs2_header(scram_server_t *s, struct cursor *c, const char **errmsg)
{
	static const char tse[] = "p=tls-server-end-point";
	if (peek_is(c, 'p')) {
		if (!s->plus)
			return fail(errmsg, s->cbind_len ? "SCRAM channel binding (p=) requires SCRAM-SHA-256-PLUS"
							 : "SCRAM channel binding is only supported over TLS");
		if ((size_t)(c->end - c->p) < sizeof(tse) - 1 || memcmp(c->p, tse, sizeof(tse) - 1) != 0 ||
		    (c->p + sizeof(tse) - 1 < c->end && c->p[sizeof(tse) - 1] != ','))
			return fail(errmsg, "unsupported SCRAM channel binding type (only tls-server-end-point)");
		s->gs2_flag = 'p';
		c->p += sizeof(tse) - 1;
	} else {
		if (s->plus)
			return fail(errmsg, "SCRAM-SHA-256-PLUS selected without channel binding");
		if (!peek_is(c, 'n') && !peek_is(c, 'y'))
			return fail(errmsg, "malformed SCRAM message: unexpected channel-binding flag");
		if (peek_is(c, 'y') && s->cbind_len)
			return fail(errmsg, "SCRAM channel binding negotiation error: the server supports channel binding");
		s->gs2_flag = *c->p++;
	}
	if (!take_comma(c))
		return fail(errmsg, "malformed SCRAM message: comma expected after channel-binding flag");
	if (peek_is(c, 'a'))
		return fail(errmsg, "SCRAM authorization identity (a=) is not supported");
	if (!take_comma(c))
		return fail(errmsg, "malformed SCRAM message: comma expected after gs2 header");
	return true;
}

/* Optional trailing "x=value" extensions: skipped, but must be well formed. */
static bool skip_extensions(struct cursor *c, const char **errmsg)
{
	char name;
	struct span v;

	while (!at_end(c)) {
		if (!take_comma(c) || !take_attr(c, &name, &v))
			return fail(errmsg, "malformed SCRAM message: bad attribute");
	}
	return true;
}

/* client-first-bare: "n=<user>,r=<nonce>[,ext...]". The user name is
 * ignored, as PostgreSQL does: the startup packet's user is the one that
 * counts. */
static bool parse_client_first_bare(struct cursor *c, struct span *nonce, const char **errmsg)
{
	struct span user;

	if (peek_is(c, 'm'))
		return fail(errmsg, "SCRAM mandatory extensions (m=) are not supported");
	if (!expect_attr(c, 'n', &user, errmsg, "malformed SCRAM message: user name (n=) expected"))
		return false;
	if (!expect_next_attr(c, 'r', nonce, errmsg, "malformed SCRAM message: nonce (r=) expected"))
		return false;
	if (nonce->len == 0 || nonce->len > SCRAM_MAX_NONCE_LEN)
		return fail(errmsg, "malformed SCRAM message: bad nonce length");
	if (!printable(nonce->ptr, nonce->len))
		return fail(errmsg, "malformed SCRAM message: non-printable nonce");
	return skip_extensions(c, errmsg);
}

/* Combined nonce = client nonce + our part: base64 of fresh random bytes. */
static bool build_server_nonce(scram_server_t *s, struct span client_nonce, const char **errmsg)
{
	uint8_t raw[SCRAM_NONCE_RAW_LEN];
	struct sbuf b;

	sb_init(&b, s->nonce, sizeof(s->nonce));
	sb_add(&b, client_nonce.ptr, client_nonce.len);
	if (s->nonce_suffix[0]) {
		sb_str(&b, s->nonce_suffix);
	} else {
		if (!auth_random_bytes(raw, sizeof(raw)))
			return fail(errmsg, "SCRAM: could not generate a random nonce");
		sb_b64(&b, raw, sizeof(raw));
	}
	return !b.overflow || fail(errmsg, "malformed SCRAM message: nonce too long");
}

static bool build_server_first(scram_server_t *s, const char **errmsg)
{
	struct sbuf b;

	/* the secret is the caller's: never encode past the salt array */
	if (s->secret.salt_len == 0 || s->secret.salt_len > SCRAM_MAX_SALT_LEN ||
	    s->secret.iterations < 1)
		return fail(errmsg, "SCRAM: invalid stored secret");
	sb_init(&b, s->server_first, sizeof(s->server_first));
	sb_str(&b, "r=");
	sb_str(&b, s->nonce);
	sb_str(&b, ",s=");
	sb_b64(&b, s->secret.salt, s->secret.salt_len);
	sb_str(&b, ",i=");
	sb_int(&b, s->secret.iterations);
	return !b.overflow || fail(errmsg, "SCRAM: server-first-message too long");
}

static bool server_first_step(scram_server_t *s, const uint8_t *msg, size_t len,
			      const char **errmsg)
{
	struct cursor c;
	struct span nonce;
	const char *bare;

	if (!message_ok(msg, len, errmsg))
		return false;
	cursor_init(&c, msg, len);
	if (!parse_gs2_header(s, &c, errmsg))
		return false;
	bare = c.p;
	/* What c= must be: the gs2 header, then the binding data for "p". */
	{
		uint8_t raw[96];
		size_t hl = (size_t)(bare - (const char *)msg), n = hl;
		struct sbuf b;
		if (hl > 40)
			return fail(errmsg, "malformed SCRAM message: gs2 header too long");
		memcpy(raw, msg, hl);
		if (s->gs2_flag == 'p') {
			memcpy(raw + hl, s->cbind_data, s->cbind_len);
			n += s->cbind_len;
		}
		sb_init(&b, s->cbind_expected, sizeof(s->cbind_expected));
		sb_b64(&b, raw, n);
		if (b.overflow)
			return fail(errmsg, "SCRAM: channel binding data too long");
	}
	if (!parse_client_first_bare(&c, &nonce, errmsg))
		return false;
	/* fits: the bare part is shorter than len < SCRAM_MAX_MESSAGE */
	memcpy(s->client_first_bare, bare, (size_t)(c.end - bare));
	s->client_first_bare[c.end - bare] = '\0';
	return build_server_nonce(s, nonce, errmsg) && build_server_first(s, errmsg);
}

int scram_server_handle_first(scram_server_t *s, const uint8_t *msg, size_t len, char *out,
			      size_t cap, size_t *out_len, const char **errmsg)
{
	clear_err(errmsg);
	if (s->state != SCRAM_SERVER_INIT)
		return fail_rc(errmsg, err_state, -1);
	if (!server_first_step(s, msg, len, errmsg) ||
	    !emit(s->server_first, strlen(s->server_first), out, cap, out_len, errmsg)) {
		s->state = SCRAM_SERVER_FAILED;
		return -1;
	}
	s->state = SCRAM_SERVER_SENT_FIRST;
	return 0;
}

/* The parts of a client-final-message the proof check needs. */
struct client_final {
	uint8_t proof[SCRAM_KEY_LEN];
	size_t without_proof_len; /* bytes before ",p=" */
};

/* "c=<b64 gs2 header>,r=<nonce>[,ext...],p=<proof>", p= last. */
static bool parse_client_final(scram_server_t *s, struct cursor *c, struct client_final *f,
			       const char **errmsg)
{
	const char *start = c->p, *proof_at;
	struct span v;
	size_t n;
	char name;

	if (!expect_attr(c, 'c', &v, errmsg, "malformed SCRAM message: channel binding (c=) expected"))
		return false;
	if (!span_eq(v, s->cbind_expected))
		return fail(errmsg, s->gs2_flag == 'p' ? "SCRAM channel binding check failed"
						       : "SCRAM channel binding does not match the client-first-message");
	if (!expect_next_attr(c, 'r', &v, errmsg, "malformed SCRAM message: nonce (r=) expected"))
		return false;
	if (!span_eq(v, s->nonce))
		return fail(errmsg, "SCRAM nonce does not match");
	do {
		proof_at = c->p;
		if (at_end(c))
			return fail(errmsg, "malformed SCRAM message: proof (p=) missing");
		if (!take_comma(c) || !take_attr(c, &name, &v))
			return fail(errmsg, "malformed SCRAM message: bad attribute");
	} while (name != 'p');
	if (!at_end(c))
		return fail(errmsg, "malformed SCRAM message: garbage after proof");
	if (!b64_decode(v.ptr, v.len, f->proof, sizeof(f->proof), &n) || n != SCRAM_KEY_LEN)
		return fail(errmsg, "malformed SCRAM message: bad proof encoding");
	f->without_proof_len = (size_t)(proof_at - start);
	return true;
}

/* ClientKey = proof XOR HMAC(StoredKey, AuthMessage); valid when
 * H(ClientKey) == StoredKey. A crypto failure counts as a mismatch. */
static bool proof_ok(scram_server_t *s, const char *am, size_t am_len, const uint8_t *proof)
{
	uint8_t sig[SCRAM_KEY_LEN], key[SCRAM_KEY_LEN], hashed[SCRAM_KEY_LEN];
	bool ok;

	if (!digest_hmac_sha256(s->secret.stored_key, SCRAM_KEY_LEN, am, am_len, sig))
		return false;
	xor_keys(proof, sig, key);
	ok = digest_sha256(key, SCRAM_KEY_LEN, hashed) &&
	     CRYPTO_memcmp(hashed, s->secret.stored_key, SCRAM_KEY_LEN) == 0;
	if (ok)
		memcpy(s->client_key, key, SCRAM_KEY_LEN);
	OPENSSL_cleanse(key, sizeof(key));
	return ok;
}

/* server-final-message: "v=" + base64(HMAC(ServerKey, AuthMessage)). */
static bool write_server_final(scram_server_t *s, const char *am, size_t am_len, char *out,
			       size_t cap, size_t *out_len, const char **errmsg)
{
	uint8_t sig[SCRAM_KEY_LEN];
	struct sbuf b;

	if (!digest_hmac_sha256(s->secret.server_key, SCRAM_KEY_LEN, am, am_len, sig))
		return fail(errmsg, err_crypto);
	sb_init(&b, out, cap);
	sb_str(&b, "v=");
	sb_b64(&b, sig, sizeof(sig));
	if (b.overflow)
		return fail(errmsg, err_out_cap);
	if (out_len)
		*out_len = b.len;
	return true;
}

/* Parses the message and builds the AuthMessage; false = malformed. */
static bool server_final_parse(scram_server_t *s, const uint8_t *msg, size_t len,
			       struct client_final *f, struct sbuf *am, const char **errmsg)
{
	struct cursor c;

	if (!message_ok(msg, len, errmsg))
		return false;
	cursor_init(&c, msg, len);
	if (!parse_client_final(s, &c, f, errmsg))
		return false;
	if (!auth_message(am, s->client_first_bare, s->server_first, (const char *)msg,
			  f->without_proof_len))
		return fail(errmsg, "malformed SCRAM message: too long");
	return true;
}

int scram_server_handle_final(scram_server_t *s, const uint8_t *msg, size_t len, char *out,
			      size_t cap, size_t *out_len, const char **errmsg)
{
	char am_buf[AUTH_MESSAGE_MAX];
	struct client_final f;
	struct sbuf am;
	bool match;

	clear_err(errmsg);
	if (s->state != SCRAM_SERVER_SENT_FIRST)
		return fail_rc(errmsg, err_state, -1);
	s->state = SCRAM_SERVER_FAILED; /* until proven otherwise */
	sb_init(&am, am_buf, sizeof(am_buf));
	if (!server_final_parse(s, msg, len, &f, &am, errmsg))
		return -1;
	/* a mock user runs the same computation, then fails like a wrong password */
	match = proof_ok(s, am.buf, am.len, f.proof);
	if (!match || s->mock)
		return fail_rc(errmsg, err_bad_proof, -2);
	if (!write_server_final(s, am.buf, am.len, out, cap, out_len, errmsg))
		return -1;
	s->have_client_key = true;
	s->state = SCRAM_SERVER_DONE;
	return 0;
}

/* ---- SCRAM, pgtide as the client ---- */

void scram_client_init_password(scram_client_t *c, const char *password)
{
	memset(c, 0, sizeof(*c));
	/* a cut password would only fail later, and confusingly */
	if (password == NULL || !strlcpy_ok(c->password, password, sizeof(c->password)))
		c->state = SCRAM_CLIENT_FAILED;
}

void scram_client_init_keys(scram_client_t *c, const uint8_t client_key[SCRAM_KEY_LEN],
			    const uint8_t server_key[SCRAM_KEY_LEN])
{
	memset(c, 0, sizeof(*c));
	c->use_keys = true;
	memcpy(c->client_key, client_key, SCRAM_KEY_LEN);
	memcpy(c->server_key, server_key, SCRAM_KEY_LEN);
}

void scram_client_set_nonce(scram_client_t *c, const char *nonce)
{
	if (!strlcpy_ok(c->client_nonce, nonce, sizeof(c->client_nonce)) || nonce[0] == '\0' ||
	    !printable(nonce, strlen(nonce)))
		c->state = SCRAM_CLIENT_FAILED;
}

void scram_client_set_user(scram_client_t *c, const char *user)
{
	if (!strlcpy_ok(c->user, user, sizeof(c->user)))
		c->state = SCRAM_CLIENT_FAILED;
}

static bool make_client_nonce(scram_client_t *c)
{
	uint8_t raw[SCRAM_NONCE_RAW_LEN];
	struct sbuf b;

	if (!auth_random_bytes(raw, sizeof(raw)))
		return false;
	sb_init(&b, c->client_nonce, sizeof(c->client_nonce));
	sb_b64(&b, raw, sizeof(raw));
	return !b.overflow;
}

static bool client_first_step(scram_client_t *c, char *out, size_t cap, size_t *out_len)
{
	struct sbuf b;

	if (c->client_nonce[0] == '\0' && !make_client_nonce(c))
		return false;
	sb_init(&b, c->client_first_bare, sizeof(c->client_first_bare));
	sb_str(&b, "n=");
	sb_saslname(&b, c->user);
	sb_str(&b, ",r=");
	sb_str(&b, c->client_nonce);
	if (b.overflow)
		return false;
	sb_init(&b, out, cap);
	sb_str(&b, "n,,"); /* no channel binding, no authzid */
	sb_str(&b, c->client_first_bare);
	if (b.overflow)
		return false;
	if (out_len)
		*out_len = b.len;
	return true;
}

int scram_client_first(scram_client_t *c, char *out, size_t cap, size_t *out_len)
{
	if (c->state != SCRAM_CLIENT_INIT)
		return -1;
	if (!client_first_step(c, out, cap, out_len)) {
		c->state = SCRAM_CLIENT_FAILED;
		return -1;
	}
	c->state = SCRAM_CLIENT_SENT_FIRST;
	return 0;
}

/* What a server-first-message tells us. */
struct server_first {
	struct span nonce;
	uint8_t salt[SCRAM_MAX_SALT_LEN];
	size_t salt_len;
	int iterations;
};

/* The combined nonce must extend ours: otherwise the server (or someone in
 * between) is replaying another exchange. */
static bool check_combined_nonce(const scram_client_t *c, struct span n, const char **errmsg)
{
	size_t ours = strlen(c->client_nonce);

	if (n.len <= ours || n.len > SCRAM_MAX_NONCE_LEN)
		return fail(errmsg, "malformed SCRAM message: bad nonce length");
	if (memcmp(n.ptr, c->client_nonce, ours) != 0)
		return fail(errmsg, "SCRAM server nonce does not start with the client nonce");
	if (!printable(n.ptr, n.len))
		return fail(errmsg, "malformed SCRAM message: non-printable nonce");
	return true;
}

/* "r=<nonce>,s=<salt>,i=<iterations>"; like libpq, nothing may follow. */
static bool parse_server_first(const scram_client_t *c, struct cursor *cur, struct server_first *sf,
			       const char **errmsg)
{
	struct span v;

	if (peek_is(cur, 'm'))
		return fail(errmsg, "SCRAM mandatory extensions (m=) are not supported");
	if (!expect_attr(cur, 'r', &sf->nonce, errmsg, "malformed SCRAM message: nonce (r=) expected") ||
	    !check_combined_nonce(c, sf->nonce, errmsg))
		return false;
	if (!expect_next_attr(cur, 's', &v, errmsg, "malformed SCRAM message: salt (s=) expected"))
		return false;
	if (!b64_decode(v.ptr, v.len, sf->salt, sizeof(sf->salt), &sf->salt_len) || sf->salt_len == 0)
		return fail(errmsg, "malformed SCRAM message: bad salt");
	if (!expect_next_attr(cur, 'i', &v, errmsg,
			      "malformed SCRAM message: iteration count (i=) expected"))
		return false;
	if (!parse_count(v.ptr, v.len, SCRAM_MAX_ITERATIONS, &sf->iterations))
		return fail(errmsg, "malformed SCRAM message: iteration count out of range");
	if (!at_end(cur))
		return fail(errmsg, "malformed SCRAM message: garbage after iteration count");
	return true;
}

/* Password mode derives ClientKey and ServerKey; the password is not needed
 * afterwards, so it is wiped. Key mode (pass-through) has them already. */
static bool derive_client_keys(scram_client_t *c, const struct server_first *sf,
			       const char **errmsg)
{
	uint8_t salted[SCRAM_KEY_LEN];
	bool ok;

	if (c->use_keys)
		return true;
	ok = digest_pbkdf2_sha256(c->password, strlen(c->password), sf->salt, sf->salt_len, sf->iterations, salted) &&
	     keys_from_salted(salted, c->client_key, c->server_key);
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(c->password, sizeof(c->password));
	return ok || fail(errmsg, err_crypto);
}

/* proof = ClientKey XOR HMAC(H(ClientKey), AuthMessage); also remembers the
 * ServerSignature the server must answer with. */
static bool compute_proof(scram_client_t *c, const char *am, size_t am_len, uint8_t *proof)
{
	uint8_t stored[SCRAM_KEY_LEN], sig[SCRAM_KEY_LEN];

	if (!digest_sha256(c->client_key, SCRAM_KEY_LEN, stored) ||
	    !digest_hmac_sha256(stored, SCRAM_KEY_LEN, am, am_len, sig) ||
	    !digest_hmac_sha256(c->server_key, SCRAM_KEY_LEN, am, am_len, c->expected_server_signature))
		return false;
	xor_keys(c->client_key, sig, proof);
	return true;
}

static bool write_client_final(scram_client_t *c, struct span nonce, char *out, size_t cap,
			       size_t *out_len, const char **errmsg)
{
	char final_buf[SCRAM_MAX_MESSAGE], am_buf[AUTH_MESSAGE_MAX];
	uint8_t proof[SCRAM_KEY_LEN];
	struct sbuf f, am, b;

	sb_init(&f, final_buf, sizeof(final_buf));
	sb_str(&f, "c=biws,r="); /* base64("n,,"): we never bind */
	sb_add(&f, nonce.ptr, nonce.len);
	sb_init(&am, am_buf, sizeof(am_buf));
	if (f.overflow || !auth_message(&am, c->client_first_bare, c->server_first, f.buf, f.len))
		return fail(errmsg, "malformed SCRAM message: too long");
	if (!compute_proof(c, am.buf, am.len, proof))
		return fail(errmsg, err_crypto);
	sb_init(&b, out, cap);
	sb_add(&b, f.buf, f.len);
	sb_str(&b, ",p=");
	sb_b64(&b, proof, sizeof(proof));
	if (b.overflow)
		return fail(errmsg, err_out_cap);
	if (out_len)
		*out_len = b.len;
	return true;
}

static bool client_final_step(scram_client_t *c, const uint8_t *msg, size_t len, char *out,
			      size_t cap, size_t *out_len, const char **errmsg)
{
	struct server_first sf;
	struct cursor cur;

	if (!message_ok(msg, len, errmsg))
		return false;
	cursor_init(&cur, msg, len);
	if (!parse_server_first(c, &cur, &sf, errmsg))
		return false;
	memcpy(c->server_first, msg, len); /* len < SCRAM_MAX_MESSAGE: NUL fits */
	c->server_first[len] = '\0';
	return derive_client_keys(c, &sf, errmsg) &&
	       write_client_final(c, sf.nonce, out, cap, out_len, errmsg);
}

int scram_client_handle_server_first(scram_client_t *c, const uint8_t *msg, size_t len,
				     char *out, size_t cap, size_t *out_len, const char **errmsg)
{
	clear_err(errmsg);
	if (c->state != SCRAM_CLIENT_SENT_FIRST)
		return fail_rc(errmsg, err_state, -1);
	if (!client_final_step(c, msg, len, out, cap, out_len, errmsg)) {
		c->state = SCRAM_CLIENT_FAILED;
		return -1;
	}
	c->state = SCRAM_CLIENT_SENT_FINAL;
	return 0;
}

/* RFC 5802 server-error-value, as static text for errmsg. */
static const struct {
	const char *code;
	const char *text;
} scram_server_errors[] = {
	{ "invalid-encoding", "SCRAM server error: invalid encoding" },
	{ "extensions-not-supported", "SCRAM server error: extensions not supported" },
	{ "invalid-proof", "SCRAM server error: invalid proof (wrong password?)" },
	{ "channel-bindings-dont-match", "SCRAM server error: channel bindings do not match" },
	{ "server-does-support-channel-binding",
	  "SCRAM server error: server does support channel binding" },
	{ "channel-binding-not-supported", "SCRAM server error: channel binding not supported" },
	{ "unsupported-channel-binding-type",
	  "SCRAM server error: unsupported channel binding type" },
	{ "unknown-user", "SCRAM server error: unknown user" },
	{ "invalid-username-encoding", "SCRAM server error: invalid user name encoding" },
	{ "no-resources", "SCRAM server error: no resources" },
	{ "other-error", "SCRAM server error: other error" },
};

static const char *server_error_text(struct span code)
{
	for (size_t i = 0; i < ARRAY_SIZE(scram_server_errors); i++) {
		if (span_eq(code, scram_server_errors[i].code))
			return scram_server_errors[i].text;
	}
	return "SCRAM server error";
}

/* "v=<ServerSignature>" (or "e=<error>"); like libpq, nothing may follow. */
static bool check_server_final(scram_client_t *c, const uint8_t *msg, size_t len,
			       const char **errmsg)
{
	uint8_t sig[SCRAM_KEY_LEN];
	struct cursor cur;
	struct span v;
	size_t n;
	char name;

	if (!message_ok(msg, len, errmsg))
		return false;
	cursor_init(&cur, msg, len);
	if (!take_attr(&cur, &name, &v))
		return fail(errmsg, "malformed SCRAM message: server signature (v=) expected");
	if (name == 'e')
		return fail(errmsg, server_error_text(v));
	if (name != 'v')
		return fail(errmsg, "malformed SCRAM message: server signature (v=) expected");
	if (!at_end(&cur))
		return fail(errmsg, "malformed SCRAM message: garbage after server signature");
	if (!b64_decode(v.ptr, v.len, sig, sizeof(sig), &n) || n != SCRAM_KEY_LEN)
		return fail(errmsg, "malformed SCRAM message: bad server signature encoding");
	if (CRYPTO_memcmp(sig, c->expected_server_signature, SCRAM_KEY_LEN) != 0)
		return fail(errmsg, "SCRAM server signature does not match: server is not genuine");
	return true;
}

int scram_client_handle_server_final(scram_client_t *c, const uint8_t *msg, size_t len,
				     const char **errmsg)
{
	clear_err(errmsg);
	if (c->state != SCRAM_CLIENT_SENT_FINAL)
		return fail_rc(errmsg, err_state, -1);
	if (!check_server_final(c, msg, len, errmsg)) {
		c->state = SCRAM_CLIENT_FAILED;
		return -1;
	}
	c->state = SCRAM_CLIENT_DONE;
	return 0;
}

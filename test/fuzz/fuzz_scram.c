/*
 * fuzz_scram.c - the SCRAM-SHA-256 parsers, both sides, and the secret
 * parsers.
 *
 * The first input byte chooses what is fuzzed (its low 3 bits) and whether
 * output goes to a deliberately small buffer (bit 7). The rest is split at
 * its first NUL (no valid SCRAM message contains one) into part A and part
 * B; modes 5-7 split B once more at its first NUL into B and C. Mode 0 takes
 * the rest whole, and B of modes 1-4 may contain NULs too, so the parsers'
 * own NUL check is fuzzed as well.
 *
 *   0  server: client-first-message = the whole rest
 *   1  server: client-first A, then client-final B (RFC 7677 secret)
 *   2  the same for an unknown user (mock secret): must never succeed
 *   3  client in key mode (pass-through): server-first A, server-final B
 *   4  client in password mode: the same (iterations capped, see below)
 *   5  scram_parse_secret(A); a secret that parses serves client-first B
 *   6  MD5 with stored secret A, response B and user name C:
 *      auth_secret_kind / auth_md5_secret / auth_md5_response /
 *      auth_md5_verify (the right response passes, any other fails)
 *   7  a full exchange between our client and our server with client
 *      nonce A, server nonce suffix B and user name C: must succeed
 *      whenever both sides accept their nonce and the combined nonce fits
 *
 * Nonces are fixed through the test hooks, so nothing is random. Every
 * message is handed over in a heap buffer of exactly its length and every
 * output buffer is exactly `cap` bytes, so ASan sees any overrun.
 */
#include "auth.h"
#include "fuzz_common.h"

/* RFC 7677 section 3, and the same credentials as pg_authid stores them. */
#define RFC_CLIENT_NONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_SUFFIX "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_SECRET                                                                \
	"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"                             \
	"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"                            \
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
static const uint8_t rfc_client_key[SCRAM_KEY_LEN] = {
	0xa6, 0x0f, 0xc9, 0x23, 0xd6, 0x7e, 0x86, 0x44, 0xa9, 0x2d, 0x16,
	0xb9, 0x6e, 0xda, 0x5e, 0xf4, 0x65, 0x6b, 0x0c, 0x72, 0x5c, 0x48,
	0x43, 0x74, 0xbe, 0x25, 0x53, 0x55, 0x76, 0x99, 0x6e, 0x8b,
};
static const uint8_t mock_key[32] = { 1, 2, 3, 4, 5, 6, 7, 8 };

/* Password mode runs PBKDF2 with the server's iteration count (up to
 * SCRAM_MAX_ITERATIONS); more than this makes one input take seconds. */
#define FUZZ_MAX_ITERATIONS 4096

#define SMALL_CAP 48

static scram_secret_t rfc_secret;

static void load_rfc_secret(void)
{
	static int loaded;

	if (!loaded) {
		FUZZ_CHECK(scram_parse_secret(RFC_SECRET, &rfc_secret));
		loaded = 1;
	}
}

struct parts {
	const uint8_t *p[3];
	size_t len[3];
	size_t cap; /* output buffer size */
};

/* nparts 1: A = everything; 2: A up to the first NUL, B = all after it;
 * 3: B is split once more. Missing parts are empty. */
static void split_parts(const uint8_t *data, size_t size, int nparts, struct parts *pt)
{
	const uint8_t *rest = data;
	size_t rest_len = size;

	for (int i = 0; i < 3; i++) {
		const uint8_t *next = NULL;
		size_t next_len = 0;

		if (!rest) {
			pt->p[i] = (const uint8_t *)"";
			pt->len[i] = 0;
			continue;
		}
		pt->p[i] = rest;
		if (i + 1 < nparts)
			fuzz_split_nul(rest, rest_len, &pt->len[i], &next, &next_len);
		else
			pt->len[i] = rest_len;
		rest = i + 1 < nparts ? next : NULL;
		rest_len = next_len;
	}
}

/* The errmsg contract: set exactly when the call failed. */
static void check_rc(int rc, const char *err, size_t out_len, const char *out)
{
	if (rc == 0) {
		FUZZ_CHECK(err == NULL);
		if (out) {
			FUZZ_CHECK(out_len == strlen(out));
		}
	} else {
		FUZZ_CHECK(rc == -1 || rc == -2);
		FUZZ_CHECK(err != NULL && err[0] != '\0');
	}
}

static int server_first(scram_server_t *s, const uint8_t *msg, size_t len, char *out, size_t cap)
{
	uint8_t *m = fuzz_dup_exact(msg, len);
	const char *err = "stale";
	size_t out_len = 0;
	scram_server_state_t before = s->state;
	int rc = scram_server_handle_first(s, m, len, out, cap, &out_len, &err);

	check_rc(rc, err, out_len, out);
	FUZZ_CHECK(rc != -2);
	if (rc == 0) {
		FUZZ_CHECK(before == SCRAM_SERVER_INIT && s->state == SCRAM_SERVER_SENT_FIRST);
		FUZZ_CHECK(strncmp(out, "r=", 2) == 0 && out_len < cap);
	} else {
		/* a step out of order changes nothing; a failed step is final */
		FUZZ_CHECK(s->state == (before == SCRAM_SERVER_INIT ? SCRAM_SERVER_FAILED : before));
	}
	free(m);
	return rc;
}

static int server_final(scram_server_t *s, const uint8_t *msg, size_t len, char *out, size_t cap)
{
	uint8_t *m = fuzz_dup_exact(msg, len);
	const char *err = "stale";
	size_t out_len = 0;
	scram_server_state_t before = s->state;
	int rc = scram_server_handle_final(s, m, len, out, cap, &out_len, &err);

	check_rc(rc, err, out_len, out);
	if (rc == 0) {
		FUZZ_CHECK(before == SCRAM_SERVER_SENT_FIRST && s->state == SCRAM_SERVER_DONE);
		FUZZ_CHECK(s->have_client_key && !s->mock);
		FUZZ_CHECK(strncmp(out, "v=", 2) == 0 && out_len == 2 + 44);
	} else {
		FUZZ_CHECK(s->state ==
			   (before == SCRAM_SERVER_SENT_FIRST ? SCRAM_SERVER_FAILED : before));
	}
	free(m);
	return rc;
}

static int client_server_first(scram_client_t *c, const uint8_t *msg, size_t len, char *out,
			       size_t cap)
{
	uint8_t *m = fuzz_dup_exact(msg, len);
	const char *err = "stale";
	size_t out_len = 0;
	scram_client_state_t before = c->state;
	int rc = scram_client_handle_server_first(c, m, len, out, cap, &out_len, &err);

	check_rc(rc, err, out_len, out);
	FUZZ_CHECK(rc != -2);
	if (rc == 0) {
		FUZZ_CHECK(before == SCRAM_CLIENT_SENT_FIRST && c->state == SCRAM_CLIENT_SENT_FINAL);
		FUZZ_CHECK(strncmp(out, "c=biws,r=", 9) == 0 && out_len < cap);
		/* the combined nonce is echoed, and it extends ours */
		FUZZ_CHECK(strncmp(out + 9, c->client_nonce, strlen(c->client_nonce)) == 0);
	} else {
		FUZZ_CHECK(c->state ==
			   (before == SCRAM_CLIENT_SENT_FIRST ? SCRAM_CLIENT_FAILED : before));
	}
	free(m);
	return rc;
}

static int client_server_final(scram_client_t *c, const uint8_t *msg, size_t len)
{
	uint8_t *m = fuzz_dup_exact(msg, len);
	const char *err = "stale";
	scram_client_state_t before = c->state;
	int rc = scram_client_handle_server_final(c, m, len, &err);

	check_rc(rc, err, 0, NULL);
	FUZZ_CHECK(rc != -2);
	if (rc == 0)
		FUZZ_CHECK(before == SCRAM_CLIENT_SENT_FINAL && c->state == SCRAM_CLIENT_DONE);
	else
		FUZZ_CHECK(c->state ==
			   (before == SCRAM_CLIENT_SENT_FINAL ? SCRAM_CLIENT_FAILED : before));
	free(m);
	return rc;
}

/* Modes 0-2. */
static void fuzz_server(const struct parts *pt, int mode, char *out)
{
	scram_server_t s;
	int rc1, rc2;

	load_rfc_secret();
	if (mode == 2)
		scram_server_init(&s, NULL, "fuzz", mock_key);
	else
		scram_server_init(&s, &rfc_secret, "user", NULL);
	scram_server_set_nonce_suffix(&s, RFC_SUFFIX);
	FUZZ_CHECK(s.state == SCRAM_SERVER_INIT);
	rc1 = server_first(&s, pt->p[0], pt->len[0], out, pt->cap);
	if (mode == 0)
		return;
	rc2 = server_final(&s, pt->p[1], pt->len[1], out, pt->cap);
	if (rc1 != 0)
		FUZZ_CHECK(rc2 == -1); /* out of order */
	if (mode == 2)
		FUZZ_CHECK(rc2 != 0);
	if (rc2 == 0) /* a valid proof can only come from the RFC's password */
		FUZZ_CHECK(memcmp(s.client_key, rfc_client_key, SCRAM_KEY_LEN) == 0);
	/* every later step is refused */
	FUZZ_CHECK(server_first(&s, pt->p[0], pt->len[0], out, pt->cap) == -1);
	FUZZ_CHECK(server_final(&s, pt->p[1], pt->len[1], out, pt->cap) == -1);
}

/* Whether the password-mode client would run PBKDF2 with more than
 * FUZZ_MAX_ITERATIONS: the count is the last attribute, ",i=<digits>". */
static int too_many_iterations(const uint8_t *msg, size_t len)
{
	size_t i = len;
	uint64_t v = 0;

	while (i > 0 && msg[i - 1] >= '0' && msg[i - 1] <= '9')
		i--;
	for (; i < len; i++) {
		v = v * 10 + (uint64_t)(msg[i] - '0');
		if (v > FUZZ_MAX_ITERATIONS)
			return 1;
	}
	return 0;
}

/* Modes 3-4. */
static void fuzz_client(const struct parts *pt, int mode, char *out)
{
	scram_client_t c;
	size_t out_len = 0;
	int rc1, rc2;

	load_rfc_secret();
	if (mode == 4) {
		if (too_many_iterations(pt->p[0], pt->len[0]))
			return;
		scram_client_init_password(&c, "pencil");
	} else {
		scram_client_init_keys(&c, rfc_client_key, rfc_secret.server_key);
	}
	scram_client_set_user(&c, "user");
	scram_client_set_nonce(&c, RFC_CLIENT_NONCE);
	FUZZ_CHECK(scram_client_first(&c, out, pt->cap, &out_len) == 0 || pt->cap == SMALL_CAP);
	if (c.state == SCRAM_CLIENT_SENT_FIRST)
		FUZZ_CHECK(strcmp(out, "n,,n=user,r=" RFC_CLIENT_NONCE) == 0);
	rc1 = client_server_first(&c, pt->p[0], pt->len[0], out, pt->cap);
	rc2 = client_server_final(&c, pt->p[1], pt->len[1]);
	if (rc1 != 0)
		FUZZ_CHECK(rc2 == -1);
	/* every later step is refused */
	FUZZ_CHECK(client_server_first(&c, pt->p[0], pt->len[0], out, pt->cap) == -1);
	FUZZ_CHECK(client_server_final(&c, pt->p[1], pt->len[1]) == -1);
}

/* Mode 5. */
static void fuzz_secret(const struct parts *pt, char *out)
{
	char *text = fuzz_dup_str(pt->p[0], pt->len[0]);
	scram_secret_t sec;
	scram_server_t s;
	secret_kind_t kind = auth_secret_kind(text);

	memset(&sec, 0, sizeof(sec));
	if (scram_parse_secret(text, &sec)) {
		FUZZ_CHECK(kind == SECRET_SCRAM);
		FUZZ_CHECK(sec.iterations >= 1 && sec.salt_len >= 1 &&
			   sec.salt_len <= SCRAM_MAX_SALT_LEN);
		scram_server_init(&s, &sec, "user", NULL);
		scram_server_set_nonce_suffix(&s, RFC_SUFFIX);
		server_first(&s, pt->p[1], pt->len[1], out, pt->cap);
	} else {
		FUZZ_CHECK(kind != SECRET_SCRAM);
	}
	FUZZ_CHECK((kind == SECRET_NONE) == (text[0] == '\0'));
	free(text);
}

/* Mode 6. */
static void fuzz_md5(const struct parts *pt)
{
	char *stored = fuzz_dup_str(pt->p[0], pt->len[0]);
	char *resp = fuzz_dup_str(pt->p[1], pt->len[1]);
	char *user = fuzz_dup_str(pt->p[2], pt->len[2]);
	uint8_t salt[4] = { 0x01, 0x02, 0x03, 0x04 };
	char expected[AUTH_MD5_LEN + 1], secret[AUTH_MD5_LEN + 1];
	secret_kind_t kind = auth_secret_kind(stored);
	bool ok = auth_md5_verify(user, stored, salt, resp);

	auth_md5_response(stored, salt, expected);
	FUZZ_CHECK(strlen(expected) == 0 || strlen(expected) == AUTH_MD5_LEN);
	FUZZ_CHECK((kind == SECRET_MD5) == (strlen(expected) == AUTH_MD5_LEN));
	if (kind == SECRET_PLAIN) {
		auth_md5_secret(user, stored, secret);
		FUZZ_CHECK(strlen(secret) == AUTH_MD5_LEN);
		auth_md5_response(secret, salt, expected);
		FUZZ_CHECK(strlen(expected) == AUTH_MD5_LEN);
		/* the right answer is accepted, and any other is not */
		FUZZ_CHECK(auth_md5_verify(user, stored, salt, expected));
		FUZZ_CHECK(ok == (strcmp(resp, expected) == 0));
	} else if (kind == SECRET_MD5) {
		FUZZ_CHECK(auth_md5_verify(user, stored, salt, expected));
		FUZZ_CHECK(ok == (strcmp(resp, expected) == 0));
	} else {
		FUZZ_CHECK(!ok);
	}
	free(stored);
	free(resp);
	free(user);
}

/* Mode 7: our client against our server. When both accept their nonce and
 * the combined nonce fits the client's limit, the exchange must succeed. */
static void fuzz_round_trip(const struct parts *pt, char *out)
{
	char *cnonce = fuzz_dup_str(pt->p[0], pt->len[0]);
	char *suffix = fuzz_dup_str(pt->p[1], pt->len[1]);
	char *user = fuzz_dup_str(pt->p[2], pt->len[2]);
	char buf[SCRAM_MAX_MESSAGE];
	scram_client_t c;
	scram_server_t s;
	size_t len = 0;
	bool expect_ok;
	int rc;

	load_rfc_secret();
	if (suffix[0] == '\0') { /* an empty suffix means "random" */
		free(suffix);
		suffix = fuzz_dup_str((const uint8_t *)RFC_SUFFIX, strlen(RFC_SUFFIX));
	}
	scram_client_init_keys(&c, rfc_client_key, rfc_secret.server_key);
	scram_client_set_user(&c, user);
	scram_client_set_nonce(&c, cnonce);
	scram_server_init(&s, &rfc_secret, "user", NULL);
	scram_server_set_nonce_suffix(&s, suffix);
	expect_ok = c.state == SCRAM_CLIENT_INIT && s.state == SCRAM_SERVER_INIT &&
		    strlen(cnonce) + strlen(suffix) <= SCRAM_MAX_NONCE_LEN;

	rc = scram_client_first(&c, buf, sizeof(buf), &len);
	FUZZ_CHECK(rc == 0 || !expect_ok);
	if (rc != 0)
		goto out;
	FUZZ_CHECK(len == strlen(buf));
	rc = server_first(&s, (const uint8_t *)buf, len, out, pt->cap);
	FUZZ_CHECK(rc == 0 || !expect_ok || pt->cap == SMALL_CAP);
	if (rc != 0)
		goto out;
	rc = client_server_first(&c, (const uint8_t *)out, strlen(out), buf, sizeof(buf));
	FUZZ_CHECK(rc == 0 || !expect_ok);
	if (rc != 0)
		goto out;
	rc = server_final(&s, (const uint8_t *)buf, strlen(buf), out, pt->cap);
	FUZZ_CHECK(rc == 0 || !expect_ok || pt->cap == SMALL_CAP);
	if (rc != 0)
		goto out;
	FUZZ_CHECK(memcmp(s.client_key, rfc_client_key, SCRAM_KEY_LEN) == 0);
	rc = client_server_final(&c, (const uint8_t *)out, strlen(out));
	FUZZ_CHECK(rc == 0 || !expect_ok);
out:
	free(cnonce);
	free(suffix);
	free(user);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct parts pt;
	char *out;
	int mode;

	if (size < 1)
		return 0;
	mode = data[0] & 7;
	split_parts(data + 1, size - 1, mode == 0 ? 1 : mode <= 4 ? 2 : 3, &pt);
	pt.cap = (data[0] & 0x80) ? SMALL_CAP : SCRAM_MAX_MESSAGE;
	out = malloc(pt.cap);
	if (!out)
		abort();
	out[0] = '\0';
	switch (mode) {
	case 0:
	case 1:
	case 2:
		fuzz_server(&pt, mode, out);
		break;
	case 3:
	case 4:
		fuzz_client(&pt, mode, out);
		break;
	case 5:
		fuzz_secret(&pt, out);
		break;
	case 6:
		fuzz_md5(&pt);
		break;
	default:
		fuzz_round_trip(&pt, out);
		break;
	}
	free(out);
	return 0;
}

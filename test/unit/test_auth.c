/*
 * test_auth.c - MD5 and SCRAM-SHA-256: RFC 7677 vectors, round trips,
 * pass-through, failures, and malformed input for every parser.
 *
 * Every message is handed over in a heap buffer of exactly its length (no
 * NUL after it), so ASan catches any read past len.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"

/* RFC 7677 section 3 */
#define RFC_CLIENT_FIRST "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define RFC_SUFFIX "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_NONCE "rOprNGfwEbeRWgbNEkqO" RFC_SUFFIX
#define RFC_SERVER_FIRST "r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_CLIENT_FINAL "c=biws,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
/* The same credentials as pg_authid would store them (computed with Python
 * hashlib.pbkdf2_hmac / hmac / sha256). */
#define RFC_SECRET                                                                \
	"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"                             \
	"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"                            \
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
static const uint8_t rfc_client_key[SCRAM_KEY_LEN] = {
	0xa6, 0x0f, 0xc9, 0x23, 0xd6, 0x7e, 0x86, 0x44, 0xa9, 0x2d, 0x16,
	0xb9, 0x6e, 0xda, 0x5e, 0xf4, 0x65, 0x6b, 0x0c, 0x72, 0x5c, 0x48,
	0x43, 0x74, 0xbe, 0x25, 0x53, 0x55, 0x76, 0x99, 0x6e, 0x8b,
};

#define OUT_CAP SCRAM_MAX_MESSAGE
/* A string literal and its length, embedded NULs included. */
#define S(lit) lit, sizeof(lit) - 1

static const uint8_t mock_key[32] = { 1, 2, 3, 4, 5, 6, 7, 8 };

/* ---- helpers: every call gets an exact-size heap copy ---- */

static uint8_t *dup_exact(const char *msg, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	assert_non_null(p);
	memcpy(p, msg, len);
	return p;
}

static int srv_first(scram_server_t *s, const char *msg, size_t len, char *out,
		     const char **err)
{
	uint8_t *m = dup_exact(msg, len);
	size_t out_len = 0;
	int rc = scram_server_handle_first(s, m, len, out, OUT_CAP, &out_len, err);

	if (rc == 0)
		assert_int_equal(out_len, strlen(out));
	free(m);
	return rc;
}

static int srv_final(scram_server_t *s, const char *msg, size_t len, char *out,
		     const char **err)
{
	uint8_t *m = dup_exact(msg, len);
	size_t out_len = 0;
	int rc = scram_server_handle_final(s, m, len, out, OUT_CAP, &out_len, err);

	if (rc == 0)
		assert_int_equal(out_len, strlen(out));
	free(m);
	return rc;
}

static int cli_server_first(scram_client_t *c, const char *msg, size_t len, char *out,
			    const char **err)
{
	uint8_t *m = dup_exact(msg, len);
	size_t out_len = 0;
	int rc = scram_client_handle_server_first(c, m, len, out, OUT_CAP, &out_len, err);

	if (rc == 0)
		assert_int_equal(out_len, strlen(out));
	free(m);
	return rc;
}

static int cli_server_final(scram_client_t *c, const char *msg, size_t len, const char **err)
{
	uint8_t *m = dup_exact(msg, len);
	int rc = scram_client_handle_server_final(c, m, len, err);

	free(m);
	return rc;
}

/* A -1 must always come with a readable reason. */
static void assert_malformed(int rc, const char *const *err, const char *label)
{
	if (rc != -1)
		fail_msg("case \"%s\": expected -1, got %d", label, rc);
	if (*err == NULL || (*err)[0] == '\0')
		fail_msg("case \"%s\": no errmsg", label);
}

static void rfc_secret(scram_secret_t *secret)
{
	assert_true(scram_parse_secret(RFC_SECRET, secret));
}

/* A server that has answered the RFC client-first-message. */
static void rfc_server(scram_server_t *s, scram_secret_t *secret)
{
	char out[OUT_CAP];
	const char *err = NULL;

	rfc_secret(secret);
	scram_server_init(s, secret, "user", NULL);
	scram_server_set_nonce_suffix(s, RFC_SUFFIX);
	assert_int_equal(srv_first(s, S(RFC_CLIENT_FIRST), out, &err), 0);
	assert_string_equal(out, RFC_SERVER_FIRST);
}

/* A client that has sent the RFC client-first-message. */
static void rfc_client(scram_client_t *c)
{
	char out[OUT_CAP];
	size_t out_len = 0;

	scram_client_init_password(c, "pencil");
	scram_client_set_user(c, "user");
	scram_client_set_nonce(c, "rOprNGfwEbeRWgbNEkqO");
	assert_int_equal(scram_client_first(c, out, sizeof(out), &out_len), 0);
	assert_string_equal(out, RFC_CLIENT_FIRST);
	assert_int_equal(out_len, strlen(RFC_CLIENT_FIRST));
}

/* A client that has also answered the RFC server-first-message. */
static void rfc_client_final(scram_client_t *c)
{
	char out[OUT_CAP];
	const char *err = NULL;

	rfc_client(c);
	assert_int_equal(cli_server_first(c, S(RFC_SERVER_FIRST), out, &err), 0);
	assert_string_equal(out, RFC_CLIENT_FINAL);
}

struct exchange {
	int server_final_rc;
	int client_final_rc;
	const char *err;
};

/* Runs a whole exchange between our own client and server. */
static struct exchange run_exchange(scram_client_t *c, scram_server_t *s)
{
	char a[OUT_CAP], b[OUT_CAP];
	size_t a_len = 0;
	struct exchange x = { -9, -9, NULL };

	assert_int_equal(scram_client_first(c, a, sizeof(a), &a_len), 0);
	assert_int_equal(srv_first(s, a, a_len, b, &x.err), 0);
	assert_int_equal(cli_server_first(c, b, strlen(b), a, &x.err), 0);
	x.server_final_rc = srv_final(s, a, strlen(a), b, &x.err);
	if (x.server_final_rc == 0)
		x.client_final_rc = cli_server_final(c, b, strlen(b), &x.err);
	return x;
}

static void password_secret(const char *password, scram_secret_t *secret)
{
	uint8_t salt[16];

	assert_true(auth_random_bytes(salt, sizeof(salt)));
	assert_true(scram_secret_from_password(password, salt, sizeof(salt),
					       SCRAM_DEFAULT_ITERATIONS, secret));
}

/* ---- RFC 7677 ---- */

static void test_rfc7677_client(void **state)
{
	scram_client_t c;
	const char *err = NULL;

	rfc_client_final(&c);
	assert_int_equal(c.state, SCRAM_CLIENT_SENT_FINAL);
	assert_int_equal(cli_server_final(&c, S(RFC_SERVER_FINAL), &err), 0);
	assert_int_equal(c.state, SCRAM_CLIENT_DONE);
	assert_memory_equal(c.client_key, rfc_client_key, SCRAM_KEY_LEN);
}

static void test_rfc7677_server(void **state)
{
	scram_server_t s;
	scram_secret_t secret;
	char out[OUT_CAP];
	const char *err = NULL;

	rfc_server(&s, &secret);
	assert_int_equal(srv_final(&s, S(RFC_CLIENT_FINAL), out, &err), 0);
	assert_string_equal(out, RFC_SERVER_FINAL);
	assert_int_equal(s.state, SCRAM_SERVER_DONE);
	assert_true(s.have_client_key);
	assert_memory_equal(s.client_key, rfc_client_key, SCRAM_KEY_LEN);
}

static void test_rfc7677_secret(void **state)
{
	static const uint8_t salt[] = { 0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
					0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81 };
	scram_secret_t parsed, derived;

	rfc_secret(&parsed);
	assert_int_equal(parsed.iterations, 4096);
	assert_int_equal(parsed.salt_len, sizeof(salt));
	assert_memory_equal(parsed.salt, salt, sizeof(salt));
	assert_true(scram_secret_from_password("pencil", salt, sizeof(salt), 4096, &derived));
	assert_memory_equal(&parsed, &derived, sizeof(parsed));
	assert_int_equal(auth_secret_kind(RFC_SECRET), SECRET_SCRAM);
}

/* ---- whole exchanges ---- */

static void test_client_first_default(void **state)
{
	scram_client_t c1, c2;
	char a[OUT_CAP], b[OUT_CAP];
	size_t a_len = 0, b_len = 0;

	scram_client_init_password(&c1, "x");
	scram_client_init_password(&c2, "x");
	assert_int_equal(scram_client_first(&c1, a, sizeof(a), &a_len), 0);
	assert_int_equal(scram_client_first(&c2, b, sizeof(b), &b_len), 0);
	/* libpq's form: empty user name, 18 random bytes as 24 base64 chars */
	assert_int_equal(strncmp(a, "n,,n=,r=", 8), 0);
	assert_int_equal(a_len, 8 + 24);
	assert_string_not_equal(a, b);
}

static void test_round_trip_password(void **state)
{
	scram_secret_t secret;
	scram_server_t s;
	scram_client_t c;
	struct exchange x;

	password_secret("correct horse", &secret);
	scram_server_init(&s, &secret, "alice", NULL);
	scram_client_init_password(&c, "correct horse");
	x = run_exchange(&c, &s);
	assert_int_equal(x.server_final_rc, 0);
	assert_int_equal(x.client_final_rc, 0);
	assert_int_equal(s.state, SCRAM_SERVER_DONE);
	assert_int_equal(c.state, SCRAM_CLIENT_DONE);
	assert_true(s.have_client_key);
	assert_memory_equal(s.client_key, c.client_key, SCRAM_KEY_LEN);
	/* the password is wiped once the keys are derived */
	assert_int_equal(c.password[0], '\0');
}

static void test_round_trip_user_name_escaped(void **state)
{
	scram_secret_t secret;
	scram_server_t s;
	scram_client_t c;
	struct exchange x;

	password_secret("pw", &secret);
	scram_server_init(&s, &secret, "a,b=c", NULL);
	scram_client_init_password(&c, "pw");
	scram_client_set_user(&c, "a,b=c");
	x = run_exchange(&c, &s);
	assert_int_equal(x.server_final_rc, 0);
	assert_int_equal(x.client_final_rc, 0);
	assert_string_equal(c.client_first_bare, s.client_first_bare);
	assert_int_equal(strncmp(c.client_first_bare, "n=a=2Cb=3Dc,r=", 14), 0);
}

static void test_pass_through(void **state)
{
	scram_secret_t secret;
	scram_server_t s1, s2;
	scram_client_t c1, c2;
	struct exchange x;

	password_secret("s3cret", &secret);
	scram_server_init(&s1, &secret, "bob", NULL);
	scram_client_init_password(&c1, "s3cret");
	x = run_exchange(&c1, &s1);
	assert_int_equal(x.server_final_rc, 0);
	assert_true(s1.have_client_key);

	/* pgtide logs into PostgreSQL with what it learned, no password */
	scram_server_init(&s2, &secret, "bob", NULL);
	scram_client_init_keys(&c2, s1.client_key, secret.server_key);
	x = run_exchange(&c2, &s2);
	assert_int_equal(x.server_final_rc, 0);
	assert_int_equal(x.client_final_rc, 0);
	assert_memory_equal(s2.client_key, s1.client_key, SCRAM_KEY_LEN);
}

static void test_pass_through_wrong_server_key(void **state)
{
	scram_secret_t secret;
	scram_server_t s;
	scram_client_t c;
	uint8_t bad_server_key[SCRAM_KEY_LEN];
	struct exchange x;

	rfc_secret(&secret);
	memcpy(bad_server_key, secret.server_key, SCRAM_KEY_LEN);
	bad_server_key[0] ^= 1;
	scram_server_init(&s, &secret, "user", NULL);
	scram_client_init_keys(&c, rfc_client_key, bad_server_key);
	x = run_exchange(&c, &s);
	assert_int_equal(x.server_final_rc, 0); /* the proof is right... */
	assert_int_equal(x.client_final_rc, -1); /* ...but the server is not trusted */
	assert_non_null(x.err);
	assert_int_equal(c.state, SCRAM_CLIENT_FAILED);
}

static void test_wrong_password(void **state)
{
	scram_secret_t secret;
	scram_server_t s;
	scram_client_t c;
	struct exchange x;
	char out[OUT_CAP];
	const char *err = NULL;

	password_secret("right", &secret);
	scram_server_init(&s, &secret, "carol", NULL);
	scram_client_init_password(&c, "wrong");
	x = run_exchange(&c, &s);
	assert_int_equal(x.server_final_rc, -2);
	assert_non_null(x.err);
	assert_int_equal(s.state, SCRAM_SERVER_FAILED);
	assert_false(s.have_client_key);
	/* no second try on the same exchange */
	assert_int_equal(srv_final(&s, S(RFC_CLIENT_FINAL), out, &err), -1);
}

static void test_mock_user(void **state)
{
	scram_server_t s;
	scram_client_t c;
	struct exchange x;

	scram_server_init(&s, NULL, "ghost", mock_key);
	assert_true(s.mock);
	scram_client_init_password(&c, "anything");
	x = run_exchange(&c, &s);
	assert_int_equal(x.server_final_rc, -2);
	assert_string_equal(x.err, "password authentication failed");
	assert_false(s.have_client_key);
	/* it looks like a real user: PostgreSQL's salt size and iterations */
	assert_non_null(strstr(s.server_first, ",i=4096"));
	assert_int_equal(s.secret.salt_len, 16);
}

static void test_mock_secret_deterministic(void **state)
{
	scram_secret_t a, b, other_user, other_key;
	uint8_t key2[32] = { 9 };

	scram_mock_secret("ghost", mock_key, &a);
	scram_mock_secret("ghost", mock_key, &b);
	scram_mock_secret("ghost2", mock_key, &other_user);
	scram_mock_secret("ghost", key2, &other_key);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_memory_not_equal(a.salt, other_user.salt, a.salt_len);
	assert_memory_not_equal(a.salt, other_key.salt, a.salt_len);
	assert_int_equal(a.iterations, SCRAM_DEFAULT_ITERATIONS);
}

/* "y,," must be echoed as c=eSws, and "n,," as c=biws, not the other way. */
static void test_gs2_flag_y(void **state)
{
	static const char proof[] = ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
	scram_secret_t secret;
	scram_server_t s;
	char out[OUT_CAP], final[OUT_CAP];
	const char *err = NULL;

	rfc_secret(&secret);
	scram_server_init(&s, &secret, "user", NULL);
	scram_server_set_nonce_suffix(&s, "XYZ");
	assert_int_equal(srv_first(&s, S("y,,n=user,r=abc"), out, &err), 0);
	snprintf(final, sizeof(final), "c=biws,r=abcXYZ%s", proof);
	assert_malformed(srv_final(&s, final, strlen(final), out, &err), &err, "biws after y");

	scram_server_init(&s, &secret, "user", NULL);
	scram_server_set_nonce_suffix(&s, "XYZ");
	assert_int_equal(srv_first(&s, S("y,,n=user,r=abc"), out, &err), 0);
	snprintf(final, sizeof(final), "c=eSws,r=abcXYZ%s", proof);
	/* well formed: it gets as far as the proof, which is wrong */
	assert_int_equal(srv_final(&s, final, strlen(final), out, &err), -2);
}

static void test_channel_binding_refused(void **state)
{
	scram_server_t s;
	scram_secret_t secret;
	char out[OUT_CAP];
	const char *err = NULL;

	rfc_secret(&secret);
	scram_server_init(&s, &secret, "user", NULL);
	assert_int_equal(srv_first(&s, S("p=tls-server-end-point,,n=,r=abc"), out, &err), -1);
	assert_non_null(strstr(err, "channel binding"));
	assert_int_equal(s.state, SCRAM_SERVER_FAILED);
}

/* ---- MD5 ---- */

/* Expected values from Python: "md5" + md5(b"secretpostgres").hexdigest(),
 * then "md5" + md5(hex + salt).hexdigest(). */
#define MD5_POSTGRES "md553f48b7c4b76a86ce72276c5755f217d"
#define MD5_RESP_01020304 "md5bb41a296aab6baccb36ff243a562abff"
#define MD5_RESP_DEADBEEF "md5c546d0bbed2af888b328536b45c76348"

static void test_md5_known_values(void **state)
{
	static const uint8_t salt1[4] = { 1, 2, 3, 4 };
	static const uint8_t salt2[4] = { 0xde, 0xad, 0xbe, 0xef };
	char secret[AUTH_MD5_LEN + 1], resp[AUTH_MD5_LEN + 1];

	auth_md5_secret("postgres", "secret", secret);
	assert_string_equal(secret, MD5_POSTGRES);
	auth_md5_response(secret, salt1, resp);
	assert_string_equal(resp, MD5_RESP_01020304);
	auth_md5_response(secret, salt2, resp);
	assert_string_equal(resp, MD5_RESP_DEADBEEF);
	auth_md5_response("md5short", salt1, resp);
	assert_string_equal(resp, "");
}

static void test_md5_verify(void **state)
{
	static const uint8_t salt[4] = { 1, 2, 3, 4 };

	assert_true(auth_md5_verify("postgres", "secret", salt, MD5_RESP_01020304));
	assert_true(auth_md5_verify("postgres", MD5_POSTGRES, salt, MD5_RESP_01020304));
	assert_false(auth_md5_verify("postgres", "Secret", salt, MD5_RESP_01020304));
	assert_false(auth_md5_verify("other", "secret", salt, MD5_RESP_01020304));
	assert_false(auth_md5_verify("postgres", MD5_POSTGRES, salt, MD5_RESP_DEADBEEF));
	assert_false(auth_md5_verify("postgres", MD5_POSTGRES, salt,
				     "md5bb41a296aab6baccb36ff243a562abf"));
	assert_false(auth_md5_verify("postgres", MD5_POSTGRES, salt, MD5_RESP_01020304 "0"));
	assert_false(auth_md5_verify("postgres", MD5_POSTGRES, salt, ""));
	assert_false(auth_md5_verify("postgres", MD5_POSTGRES, salt,
				     "MD5BB41A296AAB6BACCB36FF243A562ABFF"));
	assert_false(auth_md5_verify("postgres", RFC_SECRET, salt, MD5_RESP_01020304));
	assert_false(auth_md5_verify("postgres", "", salt, MD5_RESP_01020304));
	assert_false(auth_md5_verify("postgres", NULL, salt, MD5_RESP_01020304));
}

static void test_md5_round_trip(void **state)
{
	uint8_t salt[4];
	char secret[AUTH_MD5_LEN + 1], resp[AUTH_MD5_LEN + 1];

	for (int i = 0; i < 16; i++) {
		assert_true(auth_random_bytes(salt, sizeof(salt)));
		auth_md5_secret("app_user", "pa$$ word", secret);
		auth_md5_response(secret, salt, resp);
		assert_true(auth_md5_verify("app_user", "pa$$ word", salt, resp));
		assert_true(auth_md5_verify("app_user", secret, salt, resp));
		resp[AUTH_MD5_LEN - 1] ^= 1;
		assert_false(auth_md5_verify("app_user", secret, salt, resp));
	}
}

/* ---- secrets ---- */

static void test_secret_kind(void **state)
{
	assert_int_equal(auth_secret_kind(NULL), SECRET_NONE);
	assert_int_equal(auth_secret_kind(""), SECRET_NONE);
	assert_int_equal(auth_secret_kind("hunter2"), SECRET_PLAIN);
	assert_int_equal(auth_secret_kind(MD5_POSTGRES), SECRET_MD5);
	/* md5-looking but not: uppercase hex, wrong length */
	assert_int_equal(auth_secret_kind("md553F48B7C4B76A86CE72276C5755F217D"), SECRET_PLAIN);
	assert_int_equal(auth_secret_kind("md553f48b7c4b76a86ce72276c5755f217"), SECRET_PLAIN);
	assert_int_equal(auth_secret_kind(RFC_SECRET), SECRET_SCRAM);
	assert_int_equal(auth_secret_kind("SCRAM-SHA-256$broken"), SECRET_PLAIN);
}

static void test_parse_secret_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"SCRAM-SHA-256$",
		"SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$-1:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$99999999999:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7s=EsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4q=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=AAAA",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=:x",
		/* 66-byte salt: one over SCRAM_MAX_SALT_LEN */
		"SCRAM-SHA-256$4096:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
	};
	scram_secret_t secret;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (scram_parse_secret(bad[i], &secret))
			fail_msg("secret %zu parsed: %s", i, bad[i]);
	}
	assert_false(scram_parse_secret(NULL, &secret));
}

static void test_secret_from_password_bounds(void **state)
{
	uint8_t salt[SCRAM_MAX_SALT_LEN + 1] = { 0 };
	scram_secret_t secret;

	assert_false(scram_secret_from_password("pw", salt, 0, 1, &secret));
	assert_false(scram_secret_from_password("pw", salt, sizeof(salt), 1, &secret));
	assert_false(scram_secret_from_password("pw", salt, 16, 0, &secret));
	assert_false(scram_secret_from_password(NULL, salt, 16, 1, &secret));
	assert_true(scram_secret_from_password("pw", salt, SCRAM_MAX_SALT_LEN, 1, &secret));
	assert_int_equal(secret.salt_len, SCRAM_MAX_SALT_LEN);
}

/* ---- malformed input tables ---- */

struct bad_msg {
	const char *label;
	const char *msg;
	size_t len;
};

static void test_server_first_malformed(void **state)
{
	static const struct bad_msg cases[] = {
		{ "empty", S("") },
		{ "only flag", S("n") },
		{ "flag comma", S("n,") },
		{ "gs2 header only", S("n,,") },
		{ "unknown flag", S("x,,n=,r=abc") },
		{ "flag without comma", S("nn,n=,r=abc") },
		{ "authzid", S("n,a=bob,n=,r=abc") },
		{ "channel binding", S("p=tls-unique,,n=,r=abc") },
		{ "missing user", S("n,,r=abc") },
		{ "missing nonce", S("n,,n=user") },
		{ "missing nonce, trailing comma", S("n,,n=user,") },
		{ "empty nonce", S("n,,n=user,r=") },
		{ "order swapped", S("n,,r=abc,n=user") },
		{ "mandatory extension", S("n,,m=ext,n=user,r=abc") },
		{ "nonce with space", S("n,,n=user,r=ab c") },
		{ "nonce with DEL", S("n,,n=user,r=ab\x7f") },
		{ "nonce with high byte", S("n,,n=user,r=ab\xc3\xa9") },
		{ "embedded NUL in nonce", S("n,,n=user,r=ab\0cd") },
		{ "embedded NUL in user", S("n,,n=us\0er,r=abc") },
		{ "bad extension", S("n,,n=user,r=abc,junk") },
		{ "trailing comma", S("n,,n=user,r=abc,") },
		{ "attribute without =", S("n,,n=user,rabc") },
		{ "digit attribute name", S("n,,n=user,r=abc,1=x") },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		scram_server_t s;
		scram_secret_t secret;
		char out[OUT_CAP];
		const char *err = NULL;

		rfc_secret(&secret);
		scram_server_init(&s, &secret, "user", NULL);
		assert_malformed(srv_first(&s, cases[i].msg, cases[i].len, out, &err), &err,
				 cases[i].label);
		assert_int_equal(s.state, SCRAM_SERVER_FAILED);
	}
}

static void test_server_first_extension_accepted(void **state)
{
	scram_server_t s;
	scram_secret_t secret;
	char out[OUT_CAP];
	const char *err = NULL;

	rfc_secret(&secret);
	scram_server_init(&s, &secret, "user", NULL);
	assert_int_equal(srv_first(&s, S("n,,n=user,r=abc,x=ext"), out, &err), 0);
	assert_string_equal(s.client_first_bare, "n=user,r=abc,x=ext");
}

#define RFC_PROOF ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="

static void test_server_final_malformed(void **state)
{
	static const struct bad_msg cases[] = {
		{ "empty", S("") },
		{ "missing p", S("c=biws,r=" RFC_NONCE) },
		{ "missing p, trailing comma", S("c=biws,r=" RFC_NONCE ",") },
		{ "missing p, extension", S("c=biws,r=" RFC_NONCE ",x=y") },
		{ "missing r", S("c=biws" RFC_PROOF) },
		{ "missing c", S("r=" RFC_NONCE RFC_PROOF) },
		{ "only proof", S("p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=") },
		{ "order r,c", S("r=" RFC_NONCE ",c=biws" RFC_PROOF) },
		{ "wrong nonce", S("c=biws,r=rOprNGfwEbeRWgbNEkqO" RFC_PROOF) },
		{ "nonce too long", S("c=biws,r=" RFC_NONCE "x" RFC_PROOF) },
		{ "nonce empty", S("c=biws,r=" RFC_PROOF) },
		{ "binding y for n", S("c=eSws,r=" RFC_NONCE RFC_PROOF) },
		{ "binding bad base64", S("c=bi!s,r=" RFC_NONCE RFC_PROOF) },
		{ "binding empty", S("c=,r=" RFC_NONCE RFC_PROOF) },
		{ "proof empty", S("c=biws,r=" RFC_NONCE ",p=") },
		{ "proof bad char", S("c=biws,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7And!Q=") },
		{ "proof no padding", S("c=biws,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ") },
		{ "proof padding inside", S("c=biws,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjf=Hgsqmmiz7AndVQ=") },
		{ "proof 30 bytes", S("c=biws,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7An") },
		{ "proof 33 bytes", S("c=biws,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQA") },
		{ "proof 48 bytes", S("c=biws,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQAdHzbZapWIk4jUhN+Ute9ytag") },
		{ "garbage after proof", S("c=biws,r=" RFC_NONCE RFC_PROOF ",x=y") },
		{ "comma after proof", S("c=biws,r=" RFC_NONCE RFC_PROOF ",") },
		{ "embedded NUL", S("c=biws,r=" RFC_NONCE "\0" RFC_PROOF) },
		{ "embedded NUL at end", S("c=biws,r=" RFC_NONCE RFC_PROOF "\0") },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		scram_server_t s;
		scram_secret_t secret;
		char out[OUT_CAP];
		const char *err = NULL;

		rfc_server(&s, &secret);
		assert_malformed(srv_final(&s, cases[i].msg, cases[i].len, out, &err), &err,
				 cases[i].label);
		assert_false(s.have_client_key);
	}
}

static void test_server_final_extension_accepted(void **state)
{
	scram_server_t s;
	scram_secret_t secret;
	char out[OUT_CAP];
	const char *err = NULL;

	rfc_server(&s, &secret);
	/* a valid extension is part of the AuthMessage, so the RFC proof is wrong */
	assert_int_equal(srv_final(&s, S("c=biws,r=" RFC_NONCE ",x=y" RFC_PROOF), out, &err), -2);
}

static void test_client_server_first_malformed(void **state)
{
	static const struct bad_msg cases[] = {
		{ "empty", S("") },
		{ "not our nonce", S("r=XOprNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096") },
		{ "nonce equal to ours", S("r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096") },
		{ "nonce shorter", S("r=rOpr,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096") },
		{ "nonce with space", S("r=rOprNGfwEbeRWgbNEkqO ab,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096") },
		{ "nonce with NUL", S("r=rOprNGfwEbeRWgbNEkqO\0ab,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096") },
		{ "missing nonce", S("s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096") },
		{ "missing salt", S("r=" RFC_NONCE ",i=4096") },
		{ "missing iterations", S("r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==") },
		{ "missing iterations, comma", S("r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,") },
		{ "order i,s", S("r=" RFC_NONCE ",i=4096,s=W22ZaJ0SNY7soEsUEjb6gQ==") },
		{ "mandatory extension", S("m=x,r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096") },
		{ "salt empty", S("r=" RFC_NONCE ",s=,i=4096") },
		{ "salt bad base64", S("r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6g*==,i=4096") },
		{ "salt bad length", S("r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096") },
		{ "salt 66 bytes", S("r=" RFC_NONCE ",s=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,i=4096") },
		{ "iterations 0", S("r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0") },
		{ "iterations over max", S("r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000001") },
		{ "iterations overflow", S("r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999999999999") },
		{ "iterations negative", S("r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-4096") },
		{ "iterations plus", S("r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=+4096") },
		{ "iterations empty", S("r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=") },
		{ "iterations hex", S("r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0x10") },
		{ "iterations space", S("r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=40 96") },
		{ "garbage after", S("r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,x=y") },
		{ "trailing comma", S("r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,") },
		{ "server error", S("e=other-error") },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		scram_client_t c;
		char out[OUT_CAP];
		const char *err = NULL;

		rfc_client(&c);
		assert_malformed(cli_server_first(&c, cases[i].msg, cases[i].len, out, &err), &err,
				 cases[i].label);
		assert_int_equal(c.state, SCRAM_CLIENT_FAILED);
	}
}

static void test_client_server_final_malformed(void **state)
{
	static const struct bad_msg cases[] = {
		{ "empty", S("") },
		{ "wrong signature", S("v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") },
		{ "signature short", S("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl9") },
		{ "signature long", S("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4A") },
		{ "signature bad base64", S("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G.=") },
		{ "signature no padding", S("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4") },
		{ "signature empty", S("v=") },
		{ "garbage after", S(RFC_SERVER_FINAL ",x=y") },
		{ "trailing comma", S(RFC_SERVER_FINAL ",") },
		{ "embedded NUL", S(RFC_SERVER_FINAL "\0") },
		{ "wrong attribute", S("x=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") },
		{ "no attribute", S("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") },
		{ "server error", S("e=invalid-proof") },
		{ "unknown server error", S("e=made-up") },
		{ "empty server error", S("e=") },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		scram_client_t c;
		const char *err = NULL;

		rfc_client_final(&c);
		assert_malformed(cli_server_final(&c, cases[i].msg, cases[i].len, &err), &err,
				 cases[i].label);
		assert_int_equal(c.state, SCRAM_CLIENT_FAILED);
	}
}

static void test_client_server_error_text(void **state)
{
	scram_client_t c;
	const char *err = NULL;

	rfc_client_final(&c);
	assert_int_equal(cli_server_final(&c, S("e=invalid-proof"), &err), -1);
	assert_non_null(strstr(err, "invalid proof"));
	rfc_client_final(&c);
	assert_int_equal(cli_server_final(&c, S("e=no-such,code"), &err), -1);
	assert_string_equal(err, "SCRAM server error");
}

/* ---- sizes ---- */

/* A message of n bytes: prefix, then filler up to n. */
static char *filled(const char *prefix, char fill, size_t n)
{
	char *m = malloc(n + 1);

	assert_non_null(m);
	memset(m, fill, n);
	memcpy(m, prefix, strlen(prefix));
	m[n] = '\0';
	return m;
}

static void test_oversize_messages(void **state)
{
	scram_server_t s;
	scram_client_t c;
	scram_secret_t secret;
	char out[OUT_CAP];
	const char *err = NULL;
	char *big = filled("n,,n=user,r=", 'a', SCRAM_MAX_MESSAGE + 1);

	rfc_secret(&secret);
	scram_server_init(&s, &secret, "user", NULL);
	assert_malformed(srv_first(&s, big, strlen(big), out, &err), &err, "oversize first");
	scram_server_init(&s, &secret, "user", NULL);
	assert_malformed(srv_first(&s, big, SCRAM_MAX_MESSAGE, out, &err), &err, "max-size first");
	free(big);

	big = filled("c=biws,r=" RFC_NONCE ",x=", 'a', SCRAM_MAX_MESSAGE + 100);
	rfc_server(&s, &secret);
	assert_malformed(srv_final(&s, big, strlen(big), out, &err), &err, "oversize final");
	free(big);

	big = filled("r=" RFC_NONCE, 'a', SCRAM_MAX_MESSAGE * 4);
	rfc_client(&c);
	assert_malformed(cli_server_first(&c, big, strlen(big), out, &err), &err, "oversize server-first");
	free(big);

	big = filled("v=", 'A', SCRAM_MAX_MESSAGE * 2);
	rfc_client_final(&c);
	assert_malformed(cli_server_final(&c, big, strlen(big), &err), &err, "oversize server-final");
	free(big);
}

static void test_nonce_length_limits(void **state)
{
	scram_server_t s;
	scram_client_t c;
	scram_secret_t secret;
	char out[OUT_CAP];
	const char *err = NULL;
	char *msg = filled("n,,n=,r=", 'a', 8 + SCRAM_MAX_NONCE_LEN);

	rfc_secret(&secret);
	scram_server_init(&s, &secret, "user", NULL);
	assert_int_equal(srv_first(&s, msg, strlen(msg), out, &err), 0);
	free(msg);
	msg = filled("n,,n=,r=", 'a', 8 + SCRAM_MAX_NONCE_LEN + 1);
	scram_server_init(&s, &secret, "user", NULL);
	assert_malformed(srv_first(&s, msg, strlen(msg), out, &err), &err, "nonce 257");
	free(msg);

	/* the client bounds the combined nonce the server sends */
	msg = filled("r=" RFC_NONCE, 'a', 2 + SCRAM_MAX_NONCE_LEN + 1);
	rfc_client(&c);
	assert_malformed(cli_server_first(&c, msg, strlen(msg), out, &err), &err, "server nonce 257");
	free(msg);
}

static void test_small_output_buffers(void **state)
{
	scram_server_t s;
	scram_client_t c;
	scram_secret_t secret;
	char out[OUT_CAP];
	size_t out_len = 0;
	const char *err = NULL;

	rfc_secret(&secret);
	scram_server_init(&s, &secret, "user", NULL);
	assert_int_equal(scram_server_handle_first(&s, (const uint8_t *)RFC_CLIENT_FIRST,
						   strlen(RFC_CLIENT_FIRST), out, 10, &out_len, &err),
			 -1);
	assert_non_null(err);

	rfc_server(&s, &secret);
	/* "v=" + 44 characters + NUL needs 47 */
	assert_int_equal(scram_server_handle_final(&s, (const uint8_t *)RFC_CLIENT_FINAL,
						   strlen(RFC_CLIENT_FINAL), out, 46, &out_len, &err),
			 -1);

	scram_client_init_password(&c, "pencil");
	assert_int_equal(scram_client_first(&c, out, 8, &out_len), -1);
	assert_int_equal(c.state, SCRAM_CLIENT_FAILED);

	rfc_client(&c);
	assert_int_equal(scram_client_handle_server_first(&c, (const uint8_t *)RFC_SERVER_FIRST,
							  strlen(RFC_SERVER_FIRST), out,
							  strlen(RFC_CLIENT_FINAL), &out_len, &err),
			 -1);
}

/* ---- every prefix of a valid message ---- */

static void test_prefixes_server_first(void **state)
{
	static const char msg[] = RFC_CLIENT_FIRST;
	const size_t nonce_at = strlen("n,,n=user,r=");

	for (size_t n = 0; n < sizeof(msg) - 1; n++) {
		scram_server_t s;
		scram_secret_t secret;
		char out[OUT_CAP];
		const char *err = NULL;
		int rc;

		rfc_secret(&secret);
		scram_server_init(&s, &secret, "user", NULL);
		rc = srv_first(&s, msg, n, out, &err);
		/* a cut nonce is still a nonce; anything shorter is malformed */
		if (n > nonce_at)
			assert_int_equal(rc, 0);
		else
			assert_malformed(rc, &err, "client-first prefix");
	}
}

static void test_prefixes_server_final(void **state)
{
	static const char msg[] = RFC_CLIENT_FINAL;

	for (size_t n = 0; n < sizeof(msg) - 1; n++) {
		scram_server_t s;
		scram_secret_t secret;
		char out[OUT_CAP];
		const char *err = NULL;

		rfc_server(&s, &secret);
		assert_malformed(srv_final(&s, msg, n, out, &err), &err, "client-final prefix");
	}
}

static void test_prefixes_client_server_first(void **state)
{
	static const char msg[] = RFC_SERVER_FIRST;
	const size_t count_at = strlen(RFC_SERVER_FIRST) - strlen("4096");

	for (size_t n = 0; n < sizeof(msg) - 1; n++) {
		scram_client_t c;
		char out[OUT_CAP];
		const char *err = NULL;
		int rc;

		rfc_client(&c);
		rc = cli_server_first(&c, msg, n, out, &err);
		/* "i=4", "i=40", "i=409" are valid (smaller) iteration counts */
		if (n > count_at)
			assert_int_equal(rc, 0);
		else
			assert_malformed(rc, &err, "server-first prefix");
	}
}

static void test_prefixes_client_server_final(void **state)
{
	static const char msg[] = RFC_SERVER_FINAL;

	for (size_t n = 0; n < sizeof(msg) - 1; n++) {
		scram_client_t c;
		const char *err = NULL;

		rfc_client_final(&c);
		assert_malformed(cli_server_final(&c, msg, n, &err), &err, "server-final prefix");
	}
}

static void test_prefixes_secret(void **state)
{
	static const char text[] = RFC_SECRET;
	char buf[sizeof(text)];
	scram_secret_t secret;

	for (size_t n = 0; n < sizeof(text) - 1; n++) {
		memcpy(buf, text, n);
		buf[n] = '\0';
		if (scram_parse_secret(buf, &secret))
			fail_msg("prefix of %zu characters parsed", n);
	}
}

/* ---- state machine ---- */

static void test_server_state_machine(void **state)
{
	scram_server_t s;
	scram_secret_t secret;
	char out[OUT_CAP];
	const char *err = NULL;

	rfc_secret(&secret);
	scram_server_init(&s, &secret, "user", NULL);
	assert_int_equal(srv_final(&s, S(RFC_CLIENT_FINAL), out, &err), -1);
	assert_string_equal(err, "SCRAM exchange step called out of order");
	assert_int_equal(s.state, SCRAM_SERVER_INIT); /* a misuse does not consume it */

	rfc_server(&s, &secret);
	assert_int_equal(srv_first(&s, S(RFC_CLIENT_FIRST), out, &err), -1);
	assert_int_equal(srv_final(&s, S(RFC_CLIENT_FINAL), out, &err), 0);
	assert_int_equal(srv_final(&s, S(RFC_CLIENT_FINAL), out, &err), -1);
	assert_int_equal(srv_first(&s, S(RFC_CLIENT_FIRST), out, &err), -1);
	assert_int_equal(s.state, SCRAM_SERVER_DONE);

	/* after a malformed message, nothing else is accepted */
	scram_server_init(&s, &secret, "user", NULL);
	assert_int_equal(srv_first(&s, S("garbage"), out, &err), -1);
	assert_int_equal(srv_first(&s, S(RFC_CLIENT_FIRST), out, &err), -1);
}

static void test_client_state_machine(void **state)
{
	scram_client_t c;
	char out[OUT_CAP];
	size_t out_len = 0;
	const char *err = NULL;

	scram_client_init_password(&c, "pencil");
	assert_int_equal(cli_server_first(&c, S(RFC_SERVER_FIRST), out, &err), -1);
	assert_int_equal(cli_server_final(&c, S(RFC_SERVER_FINAL), &err), -1);

	rfc_client(&c);
	assert_int_equal(scram_client_first(&c, out, sizeof(out), &out_len), -1);
	assert_int_equal(cli_server_final(&c, S(RFC_SERVER_FINAL), &err), -1);
	assert_int_equal(cli_server_first(&c, S(RFC_SERVER_FIRST), out, &err), 0);
	assert_int_equal(cli_server_first(&c, S(RFC_SERVER_FIRST), out, &err), -1);
	assert_int_equal(cli_server_final(&c, S(RFC_SERVER_FINAL), &err), 0);
	assert_int_equal(cli_server_final(&c, S(RFC_SERVER_FINAL), &err), -1);
	assert_int_equal(c.state, SCRAM_CLIENT_DONE);
}

static void test_client_init_limits(void **state)
{
	scram_client_t c;
	char out[OUT_CAP];
	size_t out_len = 0;
	char *long_pw = filled("", 'p', sizeof(c.password));
	char *long_nonce = filled("", 'n', SCRAM_MAX_NONCE_LEN + 1);

	scram_client_init_password(&c, long_pw); /* would be cut: refused */
	assert_int_equal(scram_client_first(&c, out, sizeof(out), &out_len), -1);
	scram_client_init_password(&c, NULL);
	assert_int_equal(scram_client_first(&c, out, sizeof(out), &out_len), -1);
	scram_client_init_password(&c, "x");
	scram_client_set_nonce(&c, long_nonce);
	assert_int_equal(scram_client_first(&c, out, sizeof(out), &out_len), -1);
	scram_client_init_password(&c, "x");
	scram_client_set_nonce(&c, "a,b");
	assert_int_equal(scram_client_first(&c, out, sizeof(out), &out_len), -1);
	free(long_pw);
	free(long_nonce);
}

static void test_random_bytes(void **state)
{
	uint8_t a[32], b[32];

	assert_true(auth_random_bytes(a, sizeof(a)));
	assert_true(auth_random_bytes(b, sizeof(b)));
	assert_memory_not_equal(a, b, sizeof(a));
	assert_true(auth_random_bytes(NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7677_client),
		cmocka_unit_test(test_rfc7677_server),
		cmocka_unit_test(test_rfc7677_secret),
		cmocka_unit_test(test_client_first_default),
		cmocka_unit_test(test_round_trip_password),
		cmocka_unit_test(test_round_trip_user_name_escaped),
		cmocka_unit_test(test_pass_through),
		cmocka_unit_test(test_pass_through_wrong_server_key),
		cmocka_unit_test(test_wrong_password),
		cmocka_unit_test(test_mock_user),
		cmocka_unit_test(test_mock_secret_deterministic),
		cmocka_unit_test(test_gs2_flag_y),
		cmocka_unit_test(test_channel_binding_refused),
		cmocka_unit_test(test_md5_known_values),
		cmocka_unit_test(test_md5_verify),
		cmocka_unit_test(test_md5_round_trip),
		cmocka_unit_test(test_secret_kind),
		cmocka_unit_test(test_parse_secret_malformed),
		cmocka_unit_test(test_secret_from_password_bounds),
		cmocka_unit_test(test_server_first_malformed),
		cmocka_unit_test(test_server_first_extension_accepted),
		cmocka_unit_test(test_server_final_malformed),
		cmocka_unit_test(test_server_final_extension_accepted),
		cmocka_unit_test(test_client_server_first_malformed),
		cmocka_unit_test(test_client_server_final_malformed),
		cmocka_unit_test(test_client_server_error_text),
		cmocka_unit_test(test_oversize_messages),
		cmocka_unit_test(test_nonce_length_limits),
		cmocka_unit_test(test_small_output_buffers),
		cmocka_unit_test(test_prefixes_server_first),
		cmocka_unit_test(test_prefixes_server_final),
		cmocka_unit_test(test_prefixes_client_server_first),
		cmocka_unit_test(test_prefixes_client_server_final),
		cmocka_unit_test(test_prefixes_secret),
		cmocka_unit_test(test_server_state_machine),
		cmocka_unit_test(test_client_state_machine),
		cmocka_unit_test(test_client_init_limits),
		cmocka_unit_test(test_random_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

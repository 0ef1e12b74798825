/*
 * auth.h - password authentication as pure functions: MD5 and SCRAM-SHA-256
 * (RFC 5802 / RFC 7677), both as the server (pgtide authenticating a client)
 * and as the client (pgtide logging into PostgreSQL). No I/O, no globals:
 * callers feed message bodies in and send what comes out.
 */
#ifndef PGTIDE_AUTH_H
#define PGTIDE_AUTH_H

#include "common.h"

#define AUTH_MD5_LEN 35 /* "md5" + 32 hex digits, without the NUL */
#define SCRAM_KEY_LEN 32
#define SCRAM_MAX_SALT_LEN 64
#define SCRAM_NONCE_RAW_LEN 18       /* random bytes before base64 */
#define SCRAM_MAX_NONCE_LEN 256      /* longest nonce accepted from a peer */
#define SCRAM_MAX_ITERATIONS 1000000 /* a hostile server cannot make us spin longer */
#define SCRAM_DEFAULT_ITERATIONS 4096
#define SCRAM_MAX_MESSAGE 1024       /* longest SCRAM message we build or accept, NUL included */

/* What kind of secret a password string from auth_file / a conn string is. */
typedef enum {
	SECRET_NONE = 0,
	SECRET_PLAIN,
	SECRET_MD5,   /* "md5" + hex(md5(password || user)) */
	SECRET_SCRAM, /* "SCRAM-SHA-256$<iter>:<salt b64>$<StoredKey b64>:<ServerKey b64>" */
} secret_kind_t;

secret_kind_t auth_secret_kind(const char *secret);

/* ---- MD5 ---- */
/* out (AUTH_MD5_LEN + 1 bytes) = "md5" + hex(md5(password || user)). */
void auth_md5_secret(const char *user, const char *password, char *out);
/* The PasswordMessage body for AuthenticationMD5Password: out = "md5" +
 * hex(md5(hex_part_of(md5_secret) || salt)); md5_secret as from auth_md5_secret. */
void auth_md5_response(const char *md5_secret, const uint8_t salt[4], char *out);
/* Checks a client's md5 response against a stored PLAIN or MD5 secret.
 * Constant-time comparison. */
bool auth_md5_verify(const char *user, const char *stored_secret, const uint8_t salt[4],
		     const char *response);

/* ---- SCRAM secrets ---- */
typedef struct scram_secret {
	int iterations;
	uint8_t salt[SCRAM_MAX_SALT_LEN];
	size_t salt_len;
	uint8_t stored_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
} scram_secret_t;

bool scram_parse_secret(const char *text, scram_secret_t *out);
/* PBKDF2 derivation; expensive (iterations HMACs). */
bool scram_secret_from_password(const char *password, const uint8_t *salt, size_t salt_len,
				int iterations, scram_secret_t *out);
/* A believable secret for a user that does not exist, so an unknown user goes
 * through the same exchange as a wrong password: salt = HMAC(mock_key, user). */
void scram_mock_secret(const char *user, const uint8_t mock_key[32], scram_secret_t *out);

/* ---- SCRAM, pgtide as the server ---- */
typedef enum {
	SCRAM_SERVER_INIT = 0,
	SCRAM_SERVER_SENT_FIRST,
	SCRAM_SERVER_DONE,
	SCRAM_SERVER_FAILED,
} scram_server_state_t;

typedef struct scram_server {
	scram_server_state_t state;
	scram_secret_t secret;
	bool mock;                      /* unknown user: always fails at the end */
	char client_first_bare[SCRAM_MAX_MESSAGE];
	char server_first[SCRAM_MAX_MESSAGE];
	char nonce[SCRAM_MAX_NONCE_LEN * 2 + 1]; /* client nonce + server nonce */
	/* Learned on success; lets pgtide log into the server as this user
	 * without a plaintext password (SCRAM pass-through). */
	uint8_t client_key[SCRAM_KEY_LEN];
	bool have_client_key;
	char gs2_flag;                  /* 'n', 'y' or 'p' as sent; c= must echo it */
	/* Channel binding (SCRAM-SHA-256-PLUS, tls-server-end-point): the
	 * hash of pgtide's certificate when the client speaks TLS (then PLUS
	 * is offered), and whether the client chose PLUS. */
	uint8_t cbind_data[64];
	size_t cbind_len;
	bool plus;
	char cbind_expected[160];       /* base64(gs2 header + binding data): c= */
	char nonce_suffix[64];          /* test-only fixed server nonce part; "" = random */
} scram_server_t;

/* secret may be NULL for an unknown user: then mock_key builds a mock secret
 * and the exchange fails at the final step like a wrong password. */
void scram_server_init(scram_server_t *s, const scram_secret_t *secret, const char *user,
		       const uint8_t mock_key[32]);
/* Offers channel binding: data is tls-server-end-point (the hash of the
 * server certificate); plus says whether the client chose
 * SCRAM-SHA-256-PLUS. Call before scram_server_handle_first. */
void scram_server_set_channel_binding(scram_server_t *s, const uint8_t *data, size_t len, bool plus);
/* Parses client-first-message (the SASLInitialResponse data), writes
 * server-first-message to out. Returns 0, or -1 on a malformed message
 * (errmsg set to a human-readable reason). With SCRAM-SHA-256 the gs2 flag
 * is "n" or "y" ("y" is refused when channel binding was offered: a
 * downgrade); with SCRAM-SHA-256-PLUS it must be "p=tls-server-end-point". */
int scram_server_handle_first(scram_server_t *s, const uint8_t *msg, size_t len, char *out,
			      size_t cap, size_t *out_len, const char **errmsg);
/* Parses client-final-message, checks nonce and proof; on success writes
 * server-final-message ("v=...") to out and returns 0. Returns -1 on a
 * malformed message, -2 on a wrong password (or mock user). */
int scram_server_handle_final(scram_server_t *s, const uint8_t *msg, size_t len, char *out,
			      size_t cap, size_t *out_len, const char **errmsg);

/* ---- SCRAM, pgtide as the client ---- */
typedef enum {
	SCRAM_CLIENT_INIT = 0,
	SCRAM_CLIENT_SENT_FIRST,
	SCRAM_CLIENT_SENT_FINAL,
	SCRAM_CLIENT_DONE,
	SCRAM_CLIENT_FAILED,           /* any error: every later step returns -1 */
} scram_client_state_t;

typedef struct scram_client {
	scram_client_state_t state;
	char password[256];            /* empty when keys are used */
	bool use_keys;                 /* pass-through: client_key + server_key known */
	uint8_t client_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
	char client_nonce[SCRAM_MAX_NONCE_LEN + 1];
	char client_first_bare[SCRAM_MAX_MESSAGE];
	char server_first[SCRAM_MAX_MESSAGE];
	uint8_t expected_server_signature[SCRAM_KEY_LEN];
	char user[64];                 /* n= value; "" as libpq sends (see set_user) */
} scram_client_t;

void scram_client_init_password(scram_client_t *c, const char *password);
void scram_client_init_keys(scram_client_t *c, const uint8_t client_key[SCRAM_KEY_LEN],
			    const uint8_t server_key[SCRAM_KEY_LEN]);
/* Writes client-first-message ("n,,n=,r=<nonce>"). */
int scram_client_first(scram_client_t *c, char *out, size_t cap, size_t *out_len);
/* Takes server-first-message (AuthenticationSASLContinue data), checks it
 * (nonce prefix, nonce length, iteration bound, salt size), writes
 * client-final-message. Returns 0 or -1 with errmsg. */
int scram_client_handle_server_first(scram_client_t *c, const uint8_t *msg, size_t len,
				     char *out, size_t cap, size_t *out_len, const char **errmsg);
/* Checks server-final-message (AuthenticationSASLFinal data). 0 or -1. */
int scram_client_handle_server_final(scram_client_t *c, const uint8_t *msg, size_t len,
				     const char **errmsg);

/* Test-only hooks for deterministic exchanges (RFC 7677 vectors); call them
 * after the init function and before the first message. */
/* Uses nonce (printable, at most SCRAM_MAX_NONCE_LEN) instead of a random one. */
void scram_client_set_nonce(scram_client_t *c, const char *nonce);
/* Sends n=<user> instead of the empty n= libpq sends; PostgreSQL ignores it
 * (the startup packet names the user) but the RFC vectors include it. */
void scram_client_set_user(scram_client_t *c, const char *user);
/* Appends suffix (at most 63 printable chars) to the client nonce instead of
 * base64 of SCRAM_NONCE_RAW_LEN random bytes. */
void scram_server_set_nonce_suffix(scram_server_t *s, const char *suffix);

/* Fills buf with cryptographically random bytes; false if the RNG failed. */
bool auth_random_bytes(uint8_t *buf, size_t len);

#endif

/*
 * tls.h - TLS for client and server connections (OpenSSL).
 *
 * A tls_t holds the two SSL_CTX built from one config: the client-facing
 * context (pgtide is the TLS server; NULL when client_tls_sslmode = disable)
 * and the server-facing one (pgtide is the TLS client; always built, since a
 * database's own sslmode may ask for TLS). A tls_t is immutable once built:
 * RELOAD builds a new one and swaps it in (runtime_set_tls); connections keep
 * the SSL objects they made from the old one (OpenSSL counts the context's
 * references), so certificates change without dropping anyone.
 *
 * transport_tls plugs an SSL object into a link (link_set_transport): reads
 * and writes go through SSL_read/SSL_write, never block, and report
 * "try again" as EAGAIN; when a read needs the socket writable (or a write
 * needs it readable) the link's event follows that (see link.c). The
 * handshake is a step function the owner calls from its read handler until
 * it is done.
 */
#ifndef PGTIDE_TLS_H
#define PGTIDE_TLS_H

#include <openssl/ssl.h>

#include "common.h"
#include "config.h"
#include "link.h"

typedef struct tls {
	SSL_CTX *client_ctx;  /* facing clients; NULL = client TLS off */
	SSL_CTX *server_ctx;  /* facing servers */
	int client_mode;      /* client_tls_sslmode this was built for */
} tls_t;

/* Builds both contexts; NULL with a message naming the setting on error. */
tls_t *tls_new(const config_t *cfg, char *err, size_t errlen);
void tls_free(tls_t *t);

extern const transport_ops_t transport_tls;

/* A new server-side SSL for an accepted client socket (NULL on failure). */
SSL *tls_accept_new(const tls_t *t, int fd);
/* A new client-side SSL towards a PostgreSQL server at host (name, IP, used
 * for SNI and, with verify-full, checked against the certificate). */
SSL *tls_connect_new(const tls_t *t, int fd, const char *host, int mode);

typedef enum {
	TLS_HS_DONE = 0,
	TLS_HS_AGAIN,   /* waiting for the socket; the link's events are set */
	TLS_HS_FAILED,  /* err says why */
} tls_hs_t;

/* One non-blocking handshake step on a link whose transport is TLS. */
tls_hs_t tls_handshake(link_t *l, char *err, size_t errlen);
/* Whether the peer chose ALPN "postgresql" (required for direct TLS). */
bool tls_alpn_is_postgresql(const link_t *l);
/* "TLSv1.3/TLS_AES_256_GCM_SHA384" for SHOW CLIENTS/SERVERS. */
void tls_describe(const link_t *l, char *buf, size_t cap);
/* tls-server-end-point channel binding data (RFC 5929): the hash of the
 * certificate this side presented; false when none applies. */
bool tls_server_end_point(const link_t *l, uint8_t *out, size_t cap, size_t *len);
/* The peer presented a certificate that verified. */
bool tls_peer_verified(const link_t *l);
/* The certificate the peer presented verified and its common name is
 * cn (auth_type = cert). */
bool tls_peer_cn_is(const link_t *l, const char *cn);

#endif

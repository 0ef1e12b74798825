/*
 * tls.c - SSL_CTX construction from the config, the TLS transport for links,
 * and the non-blocking handshake step.
 *
 * Threading: a tls_t is immutable after tls_new and shared by every worker.
 * An SSL object belongs to one connection and is touched only by the thread
 * that owns the connection (a server's SSL travels with it between workers,
 * through the mailbox, and only when nothing is buffered: link_has_buffered).
 * OpenSSL's error queue is per thread; every call below starts with an empty
 * one so that SSL_get_error is never misled by an older error.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

static const unsigned char alpn_postgresql[] = "\x0apostgresql";
#define ALPN_LEN (sizeof(alpn_postgresql) - 1)

/* ---- building contexts ---- */

/* Appends OpenSSL's last error (or a fallback) to a message. */
static void ssl_error_text(char *buf, size_t cap)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;
	snprintf(buf, cap, "%s", reason ? reason : "unknown OpenSSL error");
	ERR_clear_error();
}

static int proto_version(const char *word)
{
	static const struct {
		const char *name;
		int version;
	} names[] = {
		{ "tlsv1.0", TLS1_VERSION }, { "tlsv1", TLS1_VERSION },      { "tlsv1.1", TLS1_1_VERSION },
		{ "tlsv1.2", TLS1_2_VERSION }, { "tlsv1.3", TLS1_3_VERSION },
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcasecmp(names[i].name, word) == 0)
			return names[i].version;
	return 0;
}

/* "secure" (TLS 1.2 and 1.3), "normal" (the same), "all"/"legacy" (1.0 to
 * 1.3), or a list of versions: the lowest and highest listed bound the
 * range (OpenSSL cannot leave holes in it). */
static bool apply_protocols(SSL_CTX *ctx, const char *setting, const char *value, char *err, size_t errlen)
{
	int lo = 0, hi = 0;
	const char *v = value && *value ? value : "secure";
	if (strcasecmp(v, "secure") == 0 || strcasecmp(v, "normal") == 0 || strcasecmp(v, "default") == 0) {
		lo = TLS1_2_VERSION;
		hi = TLS1_3_VERSION;
	} else if (strcasecmp(v, "all") == 0 || strcasecmp(v, "legacy") == 0) {
		lo = TLS1_VERSION;
		hi = TLS1_3_VERSION;
	} else {
		char buf[128];
		if (!strlcpy_ok(buf, v, sizeof(buf))) {
			snprintf(err, errlen, "%s: value too long", setting);
			return false;
		}
		char *save = NULL;
		for (char *tok = strtok_r(buf, ", \t:", &save); tok; tok = strtok_r(NULL, ", \t:", &save)) {
			int ver = proto_version(tok);
			if (!ver) {
				snprintf(err, errlen,
					 "%s: unknown protocol '%.32s' (use tlsv1.0, tlsv1.1, tlsv1.2, tlsv1.3, secure, all)",
					 setting, tok);
				return false;
			}
			lo = lo && lo < ver ? lo : ver;
			hi = hi > ver ? hi : ver;
		}
		if (!lo) {
			snprintf(err, errlen, "%s: no protocol given", setting);
			return false;
		}
	}
	if (!SSL_CTX_set_min_proto_version(ctx, lo) || !SSL_CTX_set_max_proto_version(ctx, hi)) {
		snprintf(err, errlen, "%s: cannot set the protocol range", setting);
		return false;
	}
	return true;
}

/* PgBouncer's keywords: default, secure, normal, fast = OpenSSL's default
 * list; all, legacy, compat, insecure = everything with authentication and
 * encryption. Anything else is an OpenSSL cipher string. */
static bool apply_ciphers(SSL_CTX *ctx, const char *setting, const char *value, char *err, size_t errlen)
{
	static const char *const defaults[] = { "default", "secure", "normal", "fast" };
	static const char *const everything[] = { "all", "legacy", "compat", "insecure" };
	if (!value || !*value)
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(defaults); i++)
		if (strcasecmp(value, defaults[i]) == 0)
			return true;
	for (size_t i = 0; i < ARRAY_SIZE(everything); i++)
		if (strcasecmp(value, everything[i]) == 0)
			value = "ALL:!aNULL:!eNULL";
	if (SSL_CTX_set_cipher_list(ctx, value) != 1) {
		char why[160];
		ssl_error_text(why, sizeof(why));
		snprintf(err, errlen, "%s: '%.64s': %s", setting, value, why);
		return false;
	}
	return true;
}

static bool load_cert_key(SSL_CTX *ctx, const char *prefix, const char *cert, const char *key, char *err,
			  size_t errlen)
{
	char why[160];
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		ssl_error_text(why, sizeof(why));
		snprintf(err, errlen, "%s_cert_file: cannot load %s: %s", prefix, cert, why);
		return false;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ssl_error_text(why, sizeof(why));
		snprintf(err, errlen, "%s_key_file: cannot load %s: %s", prefix, key, why);
		return false;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "%s_key_file: %s does not match the certificate %s", prefix, key, cert);
		ERR_clear_error();
		return false;
	}
	return true;
}

static bool load_ca(SSL_CTX *ctx, const char *setting, const char *ca, char *err, size_t errlen)
{
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		char why[160];
		ssl_error_text(why, sizeof(why));
		snprintf(err, errlen, "%s: cannot load %s: %s", setting, ca, why);
		return false;
	}
	return true;
}

/* Options both contexts share: no renegotiation, no compression, a peer
 * that closes without close_notify is an EOF like any other; writes may
 * complete record by record and be retried from a buffer that moved
 * (iobuf_compact, a growing spill buffer); idle connections give their
 * TLS buffers back. */
static SSL_CTX *ctx_new(const SSL_METHOD *method)
{
	SSL_CTX *ctx = SSL_CTX_new(method);
	if (!ctx)
		return NULL;
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF |
					 SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

/* ALPN: a client that names protocols must name "postgresql" (what
 * PostgreSQL 17 requires); direct TLS additionally requires that it did. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
		       unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	unsigned char *sel = NULL;
	if (SSL_select_next_proto(&sel, outlen, alpn_postgresql, ALPN_LEN, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
		*out = sel;
		return SSL_TLSEXT_ERR_OK;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static SSL_CTX *client_ctx_new(const config_t *cfg, char *err, size_t errlen)
{
	int mode = cfg->client_tls_sslmode;
	if (!cfg->client_tls_cert_file || !cfg->client_tls_key_file) {
		snprintf(err, errlen,
			 "client_tls_sslmode = %s needs client_tls_cert_file and client_tls_key_file",
			 config_tls_mode_names[mode]);
		return NULL;
	}
	if (mode >= TLS_MODE_VERIFY_CA && !cfg->client_tls_ca_file) {
		snprintf(err, errlen, "client_tls_sslmode = %s needs client_tls_ca_file", config_tls_mode_names[mode]);
		return NULL;
	}
	if (cfg->auth_type == AUTH_TYPE_CERT && !cfg->client_tls_ca_file) {
		snprintf(err, errlen, "auth_type = cert needs client_tls_ca_file");
		return NULL;
	}
	SSL_CTX *ctx = ctx_new(TLS_server_method());
	if (!ctx) {
		snprintf(err, errlen, "cannot create a TLS context for clients");
		return NULL;
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	if (!apply_protocols(ctx, "client_tls_protocols", cfg->client_tls_protocols, err, errlen) ||
	    !apply_ciphers(ctx, "client_tls_ciphers", cfg->client_tls_ciphers, err, errlen) ||
	    !load_cert_key(ctx, "client_tls", cfg->client_tls_cert_file, cfg->client_tls_key_file, err, errlen))
		goto fail;
	if (cfg->client_tls_ca_file) {
		if (!load_ca(ctx, "client_tls_ca_file", cfg->client_tls_ca_file, err, errlen))
			goto fail;
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->client_tls_ca_file);
		if (names)
			SSL_CTX_set_client_CA_list(ctx, names);
		ERR_clear_error();
		/* verify-ca/verify-full demand a certificate; otherwise one
		 * is asked for and, when given, must verify. */
		int v = SSL_VERIFY_PEER;
		if (mode >= TLS_MODE_VERIFY_CA)
			v |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		SSL_CTX_set_verify(ctx, v, NULL);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static SSL_CTX *server_ctx_new(const config_t *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx = ctx_new(TLS_client_method());
	if (!ctx) {
		snprintf(err, errlen, "cannot create a TLS context for servers");
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* per connection: tls_connect_new */
	if (SSL_CTX_set_alpn_protos(ctx, alpn_postgresql, ALPN_LEN) != 0) {
		snprintf(err, errlen, "cannot set ALPN for servers");
		goto fail;
	}
	if (!apply_protocols(ctx, "server_tls_protocols", cfg->server_tls_protocols, err, errlen) ||
	    !apply_ciphers(ctx, "server_tls_ciphers", cfg->server_tls_ciphers, err, errlen))
		goto fail;
	if (cfg->server_tls_ca_file) {
		if (!load_ca(ctx, "server_tls_ca_file", cfg->server_tls_ca_file, err, errlen))
			goto fail;
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		ERR_clear_error(); /* no system store: verify-* will fail with a clear reason */
	}
	if (!cfg->server_tls_cert_file != !cfg->server_tls_key_file) {
		snprintf(err, errlen, "server_tls_cert_file and server_tls_key_file go together");
		goto fail;
	}
	if (cfg->server_tls_cert_file &&
	    !load_cert_key(ctx, "server_tls", cfg->server_tls_cert_file, cfg->server_tls_key_file, err, errlen))
		goto fail;
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

tls_t *tls_new(const config_t *cfg, char *err, size_t errlen)
{
	ERR_clear_error();
	if (cfg->auth_type == AUTH_TYPE_CERT && cfg->client_tls_sslmode == TLS_MODE_DISABLE) {
		snprintf(err, errlen, "auth_type = cert needs client TLS (client_tls_sslmode and its files)");
		return NULL;
	}
	tls_t *t = xcalloc(1, sizeof(*t));
	t->client_mode = cfg->client_tls_sslmode;
	if (cfg->client_tls_sslmode != TLS_MODE_DISABLE) {
		t->client_ctx = client_ctx_new(cfg, err, errlen);
		if (!t->client_ctx)
			goto fail;
	}
	t->server_ctx = server_ctx_new(cfg, err, errlen);
	if (!t->server_ctx)
		goto fail;
	return t;
fail:
	tls_free(t);
	return NULL;
}

void tls_free(tls_t *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->client_ctx);
	SSL_CTX_free(t->server_ctx);
	free(t);
}

/* ---- connections ---- */

SSL *tls_accept_new(const tls_t *t, int fd)
{
	ERR_clear_error();
	SSL *ssl = t->client_ctx ? SSL_new(t->client_ctx) : NULL;
	if (!ssl)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

static bool is_ip_address(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

SSL *tls_connect_new(const tls_t *t, int fd, const char *host, int mode)
{
	ERR_clear_error();
	SSL *ssl = SSL_new(t->server_ctx);
	if (!ssl)
		return NULL;
	bool ip = is_ip_address(host);
	bool ok = SSL_set_fd(ssl, fd) == 1;
	/* SNI is for names only (RFC 6066), as libpq does. */
	if (ok && !ip)
		ok = SSL_set_tlsext_host_name(ssl, host) == 1;
	if (ok && mode >= TLS_MODE_VERIFY_CA)
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	if (ok && mode == TLS_MODE_VERIFY_FULL) {
		if (ip)
			ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
		else
			ok = SSL_set1_host(ssl, host) == 1;
	}
	if (!ok) {
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

tls_hs_t tls_handshake(link_t *l, char *err, size_t errlen)
{
	SSL *ssl = l->tp_ctx;
	ERR_clear_error();
	int r = SSL_do_handshake(ssl);
	if (r == 1) {
		if (l->tp_read_wants_write) {
			l->tp_read_wants_write = false;
			link_update_events(l);
		}
		return TLS_HS_DONE;
	}
	int e = SSL_get_error(ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		bool ww = e == SSL_ERROR_WANT_WRITE;
		if (l->tp_read_wants_write != ww) {
			l->tp_read_wants_write = ww;
			link_update_events(l);
		}
		return TLS_HS_AGAIN;
	}
	long vr = SSL_get_verify_result(ssl);
	if (vr != X509_V_OK) {
		snprintf(err, errlen, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
	} else if (e == SSL_ERROR_SSL) {
		unsigned long ec = ERR_peek_last_error();
		const char *reason = ec ? ERR_reason_error_string(ec) : NULL;
		snprintf(err, errlen, "%s", reason ? reason : "TLS protocol error");
	} else if (e == SSL_ERROR_SYSCALL && errno) {
		snprintf(err, errlen, "%s", strerror(errno));
	} else {
		snprintf(err, errlen, "connection closed during the TLS handshake");
	}
	ERR_clear_error();
	SSL_set_quiet_shutdown(ssl, 1);
	return TLS_HS_FAILED;
}

bool tls_alpn_is_postgresql(const link_t *l)
{
	const unsigned char *p = NULL;
	unsigned int n = 0;
	SSL_get0_alpn_selected(l->tp_ctx, &p, &n);
	return n == ALPN_LEN - 1 && memcmp(p, alpn_postgresql + 1, n) == 0;
}

void tls_describe(const link_t *l, char *buf, size_t cap)
{
	if (l->tp != &transport_tls || !l->tp_ctx) {
		if (cap)
			buf[0] = '\0';
		return;
	}
	SSL *ssl = l->tp_ctx;
	snprintf(buf, cap, "%s/%s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
}

bool tls_server_end_point(const link_t *l, uint8_t *out, size_t cap, size_t *len)
{
	if (l->tp != &transport_tls || !l->tp_ctx || cap < EVP_MAX_MD_SIZE)
		return false;
	X509 *cert = SSL_get_certificate(l->tp_ctx);
	int md_nid = NID_undef;
	if (!cert || !OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, NULL))
		return false;
	/* MD5 and SHA-1 signatures bind with SHA-256 (RFC 5929 4.1). */
	if (md_nid == NID_md5 || md_nid == NID_sha1)
		md_nid = NID_sha256;
	const EVP_MD *md = EVP_get_digestbynid(md_nid);
	unsigned int n = 0;
	if (!md || X509_digest(cert, md, out, &n) != 1) {
		ERR_clear_error();
		return false;
	}
	*len = n;
	return true;
}

bool tls_peer_verified(const link_t *l)
{
	return l->tp == &transport_tls && l->tp_ctx && SSL_get0_peer_certificate(l->tp_ctx) &&
	       SSL_get_verify_result(l->tp_ctx) == X509_V_OK;
}

bool tls_peer_cn_is(const link_t *l, const char *cn)
{
	if (l->tp != &transport_tls || !l->tp_ctx)
		return false;
	SSL *ssl = l->tp_ctx;
	X509 *cert = SSL_get0_peer_certificate(ssl);
	if (!cert || SSL_get_verify_result(ssl) != X509_V_OK)
		return false;
	X509_NAME *name = X509_get_subject_name(cert);
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (i < 0)
		return false;
	const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	size_t n = strlen(cn);
	/* The whole value must match: an embedded NUL cannot shorten it. */
	return s && (size_t)ASN1_STRING_length(s) == n && memcmp(ASN1_STRING_get0_data(s), cn, n) == 0;
}

/* ---- the transport ---- */

/* Maps an SSL_read/SSL_write failure to errno; -1, or 0 for a clean EOF. */
static ssize_t io_failed(link_t *l, int r, bool reading)
{
	SSL *ssl = l->tp_ctx;
	int e = SSL_get_error(ssl, r);
	switch (e) {
	case SSL_ERROR_WANT_READ:
		if (!reading && !l->tp_write_wants_read) {
			l->tp_write_wants_read = true;
			link_update_events(l);
		}
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		if (reading && !l->tp_read_wants_write) {
			l->tp_read_wants_write = true;
			link_update_events(l);
		}
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		if (reading)
			return 0;
		errno = EPIPE;
		return -1;
	default:
		/* After a fatal error no close_notify may be sent. */
		SSL_set_quiet_shutdown(ssl, 1);
		ERR_clear_error();
		if (e == SSL_ERROR_SYSCALL && errno && errno != EAGAIN)
			return -1;
		if (reading && e == SSL_ERROR_SYSCALL)
			return 0;
		errno = EPROTO;
		return -1;
	}
}

static ssize_t tls_read(link_t *l, void *buf, size_t n)
{
	ERR_clear_error();
	int r = SSL_read(l->tp_ctx, buf, (int)MIN(n, (size_t)INT_MAX));
	if (r > 0)
		return r;
	return io_failed(l, r, true);
}

static ssize_t tls_write(link_t *l, const void *buf, size_t n)
{
	ERR_clear_error();
	int r = SSL_write(l->tp_ctx, buf, (int)MIN(n, (size_t)INT_MAX));
	if (r > 0)
		return r;
	return io_failed(l, r, false);
}

static void tls_close(link_t *l)
{
	SSL *ssl = l->tp_ctx;
	if (!ssl)
		return;
	/* One non-blocking close_notify, best effort. */
	if (SSL_is_init_finished(ssl)) {
		ERR_clear_error();
		(void)SSL_shutdown(ssl);
	}
	ERR_clear_error();
	SSL_free(ssl);
	l->tp_ctx = NULL;
}

static bool tls_pending(const link_t *l)
{
	return l->tp_ctx && SSL_pending(l->tp_ctx) > 0;
}

const transport_ops_t transport_tls = { "tls", tls_read, tls_write, tls_close, tls_pending };

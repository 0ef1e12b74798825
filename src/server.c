/*
 * server.c - server connections: connect, login, parameter sync, relaying
 * answers to the linked client, and cleaning up after a client that left.
 *
 * Threading: a server is touched only by the worker that owns it
 * (s->link.worker). Its place in the pool lists (s->state) changes under the
 * pool lock. It moves to another worker only while it has no buffered bytes.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "clock.h"
#include "log.h"
#include "pktbuf.h"
#include "pool.h"
#include "prepared_relay.h"
#include "session_state.h"
#include "proto.h"
#include "replica.h"
#include "routing.h"
#include "runtime.h"
#include "tls.h"

#define SERVER_SYNC_SQL_MAX 4096

static void server_on_read(link_t *l);
static void server_on_drain(link_t *l);
static bool server_process(server_t *s);
static void login_failed(server_t *s, const char *sqlstate, const char *msg, bool fatal);
static void send_internal(server_t *s, uint8_t type, const char *sql);
static void send_internal_msg(server_t *s, const uint8_t *msg, size_t len);
static bool release_to_pool(server_t *s);
static bool release_from_client(server_t *s);

static const config_t *cfg_of(const server_t *s)
{
	return runtime_cfg(s->pool->rt);
}

/* ---- lifetime ---- */

void server_target_clear(server_target_t *t)
{
	free(t->host);
	free(t->dbname);
	free(t->user);
	if (t->password) {
		explicit_bzero(t->password, strlen(t->password));
		free(t->password);
	}
	memset(t, 0, sizeof(*t));
}

static void server_free_memory(server_t *s)
{
	server_target_clear(&s->target);
	free(s->scram);
	rq_free(&s->rq);
	free(s->retry_buf);
	free(s->tls_desc);
	ps_set_clear(&s->ps);
	param_set_clear(&s->params);
	param_extras_clear(&s->extras);
	param_extras_clear(&s->sqlprep);
	if (s->probe)
		session_snapshot_clear(s->probe);
	free(s->probe);
	free(s);
}

static void server_free(reapable_t *r)
{
	server_t *s = container_of(r, server_t, reap);
	link_close(&s->link);
	/* A cancel connection still points at s: the last one frees it. */
	pool_lock(s->pool);
	bool defer = s->cancel_pending > 0;
	s->free_deferred = defer;
	pool_unlock(s->pool);
	if (!defer)
		server_free_memory(s);
}

void server_release_after_cancel(server_t *s)
{
	pool_lock(s->pool);
	bool free_now = s->free_deferred && s->cancel_pending == 0;
	bool release = !s->free_deferred && s->state == SV_CANCEL_WAIT && s->cancel_pending == 0;
	pool_unlock(s->pool);
	if (free_now)
		server_free_memory(s);
	else if (release)
		release_to_pool(s);
}

void server_close(server_t *s, const char *reason)
{
	worker_t *w = s->link.worker;
	pool_t *p = s->pool;
	if (s->state == SV_CLOSED && !list_linked(&s->worker_node))
		return;
	worker_t *connect_on = NULL;
	bool need_connect = pool_server_gone(p, s, clock_mono_usec(), &connect_on);
	if (reason)
		log_debug("server closed: db=%s user=%s id=%llu reason=\"%s\"", p->dbname, p->user,
			  (unsigned long long)s->id, reason);
	link_detach(&s->link);
	if (list_linked(&s->worker_node))
		list_del(&s->worker_node);
	worker_reap(w, &s->reap);
	if (need_connect)
		worker_post(connect_on, server_connect_fn, p, NULL);
}

/* ---- connecting ---- */

static int open_socket(const server_target_t *t, char *err, size_t errlen)
{
	int fd = -1;
	if (t->host[0] == '/') {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/.s.PGSQL.%d", t->host, t->port);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 || (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 && errno != EINPROGRESS &&
			       errno != EAGAIN)) {
			snprintf(err, errlen, "could not connect to server socket %s: %s", sun.sun_path,
				 strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		return fd;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
	char port[16];
	snprintf(port, sizeof(port), "%d", t->port);
	/* Numeric hosts resolve without a lookup; names go through the resolver
	 * (a blocking call: configure IPs for latency-critical setups). */
	int rc = getaddrinfo(t->host, port, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(err, errlen, "could not resolve host \"%s\": %s", t->host, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		if (connect(fd, res->ai_addr, res->ai_addrlen) < 0 && errno != EINPROGRESS) {
			snprintf(err, errlen, "could not connect to server %s:%d: %s", t->host, t->port,
				 strerror(errno));
			close(fd);
			fd = -1;
		}
	} else {
		snprintf(err, errlen, "could not create socket: %s", strerror(errno));
	}
	freeaddrinfo(res);
	return fd;
}

static void arm_connect_wait(server_t *s)
{
	/* Connect completion shows as writability; link's write event calls
	 * server_on_drain, which checks SO_ERROR. */
	link_arm_write(&s->link);
}

void server_connect_on(pool_t *p, worker_t *w)
{
	server_t *s = xcalloc(1, sizeof(*s));
	rq_init(&s->rq);
	ps_set_init(&s->ps);
	s->reap.free_fn = server_free;
	s->pool = p;
	s->id = runtime_next_id(p->rt);
	s->created = s->state_since = s->last_used = clock_mono_usec();
	s->connect_wall = clock_wall_usec();
	s->tx_status = 'I';
	list_init(&s->pool_node);
	list_init(&s->worker_node);
	link_init(&s->link, -1, s, server_on_read, server_on_drain);
	s->link.keeps_buffers = true; /* 32 KiB per server connection, none per transaction */
	s->link.worker = w;
	pool_server_added(p, s);
	list_push_back(&w->servers, &s->worker_node);

	char err[256];
	int fd = open_socket(&s->target, err, sizeof(err));
	if (fd < 0) {
		login_failed(s, "08006", err, false);
		return;
	}
	s->link.fd = fd;
	link_attach(&s->link, w);
	arm_connect_wait(s);
}

static void send_startup(server_t *s)
{
	uint8_t mem[1024];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	pktbuf_begin(&pb, 0);
	pktbuf_put_u32(&pb, PROTO_V3_0);
	pktbuf_put_cstr(&pb, "user");
	pktbuf_put_cstr(&pb, s->target.user);
	pktbuf_put_cstr(&pb, "database");
	pktbuf_put_cstr(&pb, s->target.dbname);
	pktbuf_put_u8(&pb, 0);
	pktbuf_end(&pb);
	link_write(&s->link, pb.data, pb.len);
	link_flush(&s->link);
}

/* ---- TLS ---- */

static void server_tls_on_read(link_t *l);

/* The sslmode for s: the database's own, else server_tls_sslmode. TLS is
 * never used over a unix socket (as in PgBouncer and libpq). */
static int server_sslmode(const server_t *s)
{
	if (s->target.host[0] == '/')
		return TLS_MODE_DISABLE;
	const config_t *cfg = cfg_of(s);
	return config_db_sslmode(cfg, config_find_db(cfg, s->pool->dbname));
}

static void send_ssl_request(server_t *s)
{
	static const uint8_t req[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
	s->tls_phase = SERVER_TLS_REQUEST;
	s->link.on_read = server_tls_on_read;
	link_write(&s->link, req, sizeof(req));
	link_flush(&s->link);
}

static void server_tls_done(server_t *s)
{
	char desc[128];
	tls_describe(&s->link, desc, sizeof(desc));
	char *d = xstrdup(desc);
	pool_lock(s->pool); /* SHOW SERVERS reads it from other threads */
	s->tls_desc = d;
	pool_unlock(s->pool);
	s->tls_phase = SERVER_TLS_NONE;
	s->link.on_read = server_on_read;
	send_startup(s);
}

static void server_tls_step(server_t *s)
{
	char err[200], msg[300];
	switch (tls_handshake(&s->link, err, sizeof(err))) {
	case TLS_HS_AGAIN:
		return;
	case TLS_HS_FAILED:
		snprintf(msg, sizeof(msg), "TLS handshake with server %s:%d failed: %s", s->target.host, s->target.port,
			 err);
		/* A certificate that does not verify will not verify for the
		 * waiters either: they all get the reason now. */
		login_failed(s, "08006", msg, true);
		return;
	case TLS_HS_DONE:
		server_tls_done(s);
		return;
	}
}

/* The one-byte answer to SSLRequest, then the handshake. Exactly one byte
 * is read in clear: anything the server (or a man in the middle) sent
 * after it goes into the TLS handshake, never into the protocol
 * (CVE-2021-23222 class). */
static void server_tls_on_read(link_t *l)
{
	server_t *s = l->owner;
	if (s->tls_phase == SERVER_TLS_HANDSHAKE) {
		server_tls_step(s);
		return;
	}
	uint8_t b;
	ssize_t n = recv(l->fd, &b, 1, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	char msg[300];
	if (n <= 0) {
		snprintf(msg, sizeof(msg), "server %s:%d closed the connection after SSLRequest", s->target.host,
			 s->target.port);
		login_failed(s, "08006", msg, false);
		return;
	}
	if (b == 'S') {
		SSL *ssl = tls_connect_new(runtime_tls(s->pool->rt), l->fd, s->target.host, s->tls_mode);
		if (!ssl) {
			login_failed(s, "08006", "could not create a TLS session for the server", false);
			return;
		}
		link_set_transport(l, &transport_tls, ssl);
		s->tls_phase = SERVER_TLS_HANDSHAKE;
		server_tls_step(s);
		return;
	}
	if (b == 'N' && s->tls_mode < TLS_MODE_REQUIRE) {
		server_tls_done(s);
		return;
	}
	if (b == 'N')
		snprintf(msg, sizeof(msg), "server %s:%d does not support TLS (sslmode %s)", s->target.host,
			 s->target.port, config_tls_mode_names[s->tls_mode]);
	else
		snprintf(msg, sizeof(msg), "server %s:%d answered SSLRequest with neither S nor N", s->target.host,
			 s->target.port);
	login_failed(s, "08006", msg, b == 'N');
}

static void server_on_drain(link_t *l)
{
	server_t *s = l->owner;
	if (s->state != SV_CONNECTING) {
		/* The client's bytes got through: let it send more. */
		if (s->client)
			client_resume(s->client);
		return;
	}
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		char msg[256];
		snprintf(msg, sizeof(msg), "could not connect to server %s:%d: %s", s->target.host,
			 s->target.port, strerror(err));
		login_failed(s, "08006", msg, false);
		return;
	}
	pool_lock(s->pool);
	s->state = SV_LOGIN;
	pool_unlock(s->pool);
	s->state_since = clock_mono_usec();
	s->tls_mode = server_sslmode(s);
	if (s->tls_mode != TLS_MODE_DISABLE && runtime_tls(s->pool->rt))
		send_ssl_request(s);
	else
		send_startup(s);
}

/* ---- login ---- */

/* Every waiter of the pool gets the server's refusal: waiting would not help.
 * The message is read from the pool (last_login_error) by each client. */
static void fail_waiters(pool_t *p)
{
	client_t *c;
	while ((c = pool_pop_waiter(p)) != NULL)
		worker_post(c->link.worker, client_login_refused_fn, c, NULL);
}

static void login_failed(server_t *s, const char *sqlstate, const char *msg, bool fatal)
{
	pool_t *p = s->pool;
	log_warning("server login failed: db=%s user=%s host=%s port=%d sqlstate=%s msg=\"%s\"", p->dbname,
		    p->user, s->target.host, s->target.port, sqlstate, msg);
	pool_lock(p);
	p->last_login_failure = clock_mono_usec();
	p->last_login_fatal = fatal;
	strlcpy_ok(p->last_login_error, msg, sizeof(p->last_login_error));
	strlcpy_ok(p->last_login_sqlstate, sqlstate, sizeof(p->last_login_sqlstate));
	pool_unlock(p);
	pool_stats(p, s->link.worker->id)->c.login_failures++;
	if (p->role == POOL_ROLE_REPLICA) {
		/* Out of routing at once; its waiters start over elsewhere (no
		 * client sees an error a fallback can hide). */
		replica_note_failure(p->replica, msg);
		server_close(s, "login failed");
		client_t *c;
		while ((c = pool_pop_waiter(p)) != NULL)
			worker_post(c->link.worker, client_retry_fn, c, NULL);
		return;
	}
	server_close(s, "login failed");
	if (fatal)
		fail_waiters(p);
}

static const char *server_password(const server_t *s)
{
	return s->target.password;
}

static bool send_password_message(server_t *s, const void *data, size_t len)
{
	uint8_t mem[SCRAM_MAX_MESSAGE + 64];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	pktbuf_begin(&pb, FE_PASSWORD);
	pktbuf_put_bytes(&pb, data, len);
	pktbuf_end(&pb);
	if (pb.failed)
		return false;
	link_write(&s->link, pb.data, pb.len);
	return true;
}

static bool auth_sasl_start(server_t *s, msg_reader_t *r)
{
	bool has_scram = false;
	const char *mech;
	while ((mech = msg_read_cstr(r)) != NULL && *mech)
		has_scram |= strcmp(mech, "SCRAM-SHA-256") == 0;
	const char *pw = server_password(s);
	if (!has_scram || !pw)
		return false;
	uint8_t client_key[SCRAM_KEY_LEN], server_key[SCRAM_KEY_LEN];
	if (auth_secret_kind(pw) == SECRET_PLAIN) {
		s->scram = xcalloc(1, sizeof(*s->scram));
		scram_client_init_password(s->scram, pw);
	} else if (auth_secret_kind(pw) == SECRET_SCRAM && pool_get_scram_keys(s->pool, client_key, server_key)) {
		/* Pass-through: the keys a client proved with this secret. */
		s->scram = xcalloc(1, sizeof(*s->scram));
		scram_client_init_keys(s->scram, client_key, server_key);
		OPENSSL_cleanse(client_key, sizeof(client_key));
	} else {
		return false;
	}
	char first[SCRAM_MAX_MESSAGE];
	size_t flen;
	if (scram_client_first(s->scram, first, sizeof(first), &flen) != 0)
		return false;
	uint8_t mem[SCRAM_MAX_MESSAGE + 64];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	pktbuf_begin(&pb, FE_PASSWORD);
	pktbuf_put_cstr(&pb, "SCRAM-SHA-256");
	pktbuf_put_u32(&pb, (uint32_t)flen);
	pktbuf_put_bytes(&pb, first, flen);
	pktbuf_end(&pb);
	if (pb.failed)
		return false;
	link_write(&s->link, pb.data, pb.len);
	return true;
}

/* Returns NULL when the step worked, else why it failed. */
static const char *handle_auth_request(server_t *s, const uint8_t *body, size_t len)
{
	msg_reader_t r;
	msg_reader_init(&r, body, len);
	uint32_t code = msg_read_u32(&r);
	const char *pw = server_password(s);
	const char *err = NULL;
	switch (code) {
	case AUTH_REQ_OK:
		return NULL;
	case AUTH_REQ_PASSWORD:
		if (!pw || auth_secret_kind(pw) != SECRET_PLAIN)
			return "server asked for a cleartext password and none is configured";
		send_password_message(s, pw, strlen(pw) + 1);
		return NULL;
	case AUTH_REQ_MD5: {
		const uint8_t *salt = msg_read_bytes(&r, 4);
		if (!salt)
			return "malformed md5 request from server";
		char secret[AUTH_MD5_LEN + 1], resp[AUTH_MD5_LEN + 1];
		if (!pw)
			return "server asked for an md5 password and none is configured";
		if (auth_secret_kind(pw) == SECRET_PLAIN)
			auth_md5_secret(s->target.user, pw, secret);
		else if (auth_secret_kind(pw) == SECRET_MD5)
			strlcpy_ok(secret, pw, sizeof(secret));
		else
			return "server asked for md5 and only a SCRAM secret is configured";
		auth_md5_response(secret, salt, resp);
		send_password_message(s, resp, strlen(resp) + 1);
		return NULL;
	}
	case AUTH_REQ_SASL:
		return auth_sasl_start(s, &r) ? NULL
					      : "server asked for SCRAM-SHA-256: no plaintext password is configured and no client has logged in with this user's SCRAM secret yet";
	case AUTH_REQ_SASL_CONTINUE: {
		if (!s->scram)
			return "unexpected SASL continue from server";
		char out[SCRAM_MAX_MESSAGE];
		size_t olen;
		if (scram_client_handle_server_first(s->scram, r.p, msg_remaining(&r), out, sizeof(out), &olen,
						     &err) != 0)
			return err;
		send_password_message(s, out, olen);
		return NULL;
	}
	case AUTH_REQ_SASL_FINAL:
		if (!s->scram || scram_client_handle_server_final(s->scram, r.p, msg_remaining(&r), &err) != 0)
			return err ? err : "unexpected SASL final from server";
		return NULL;
	default:
		return "server asked for an unsupported authentication method";
	}
}

/* Appends name\0value\0 to the welcome being collected in s->extras (reused
 * as scratch during login: a fresh server has no extras applied). */
static void login_param(server_t *s, const uint8_t *body, size_t len)
{
	const char *name, *value;
	if (!proto_parse_param_status(body, len, &name, &value))
		return;
	int id = param_lookup(name);
	if (id >= 0)
		param_set_assign(&s->params, (param_id_t)id, value);
	param_extras_add(&s->extras, name, value);
}

static bool login_done(server_t *s)
{
	pool_t *p = s->pool;
	pool_set_welcome(p, s->extras.data, s->extras.len);
	param_extras_clear(&s->extras);
	free(s->scram);
	s->scram = NULL;
	s->state_since = s->last_used = clock_mono_usec();
	log_debug("server login ok: db=%s user=%s id=%llu pid=%u", p->dbname, p->user,
		  (unsigned long long)s->id, s->backend_pid);
	client_t *c;
	release_t r = pool_server_ready(p, s, &c, s->state_since);
	return server_after_release(s, r, c);
}

typedef enum { LOGIN_CONTINUE, LOGIN_STOP, LOGIN_READY } login_step_t;

/* Handles one whole login-phase message. */
static login_step_t login_message(server_t *s, uint8_t type, const uint8_t *body, size_t len)
{
	switch (type) {
	case BE_AUTH: {
		const char *why = handle_auth_request(s, body, len);
		if (why) {
			login_failed(s, "28000", why, true);
			return LOGIN_STOP;
		}
		link_flush(&s->link);
		return LOGIN_CONTINUE;
	}
	case BE_PARAM_STATUS:
		login_param(s, body, len);
		return LOGIN_CONTINUE;
	case BE_KEY_DATA:
		if (len < 8 || len > 4 + sizeof(s->backend_key)) {
			login_failed(s, "08P01", "invalid BackendKeyData from server", false);
			return LOGIN_STOP;
		}
		s->backend_pid = proto_get_u32(body);
		s->backend_key_len = (uint32_t)len - 4;
		memcpy(s->backend_key, body + 4, s->backend_key_len);
		return LOGIN_CONTINUE;
	case BE_ERROR: {
		error_fields_t ef;
		proto_parse_error(body, len, &ef);
		/* 57P03 cannot_connect_now (starting up, shutting down, in
		 * recovery) passes: the waiters keep waiting for a retry. */
		bool transient = ef.sqlstate && strcmp(ef.sqlstate, "57P03") == 0;
		login_failed(s, ef.sqlstate ? ef.sqlstate : "08P01",
			     ef.message ? ef.message : "server refused the login", !transient);
		return LOGIN_STOP;
	}
	case BE_NOTICE:
	case BE_NEGOTIATE_VERSION:
		return LOGIN_CONTINUE;
	case BE_READY:
		return LOGIN_READY;
	default:
		login_failed(s, "08P01", "unexpected message from server during login", false);
		return LOGIN_STOP;
	}
}

/* ---- linking to clients ---- */

/* The reported parameters that differ: SET / RESET statements in sql. */
static void build_param_sql(server_t *s, const param_set_t *want, char *sql, size_t *len)
{
	pool_t *p = s->pool;
	for (int i = 0; i < PARAM_TRACKED_COUNT; i++) {
		const char *w = want->v[i] ? want->v[i] : p->defaults.v[i];
		const char *have = s->params.v[i];
		if (!w || (have && strcmp(w, have) == 0))
			continue;
		if (!want->v[i] && p->defaults.v[i])
			param_append_reset(sql, SERVER_SYNC_SQL_MAX, len, param_name((param_id_t)i));
		else
			param_append_set(sql, SERVER_SYNC_SQL_MAX, len, param_name((param_id_t)i), w);
	}
}

/* Sends what makes s carry c's session: reported parameters, then settings
 * and SQL-level prepared statements (session_state.h). Returns whether
 * anything was sent. */
static bool send_session_sync(server_t *s, client_t *c, const param_set_t *want)
{
	char sql[SERVER_SYNC_SQL_MAX];
	size_t len = 0;
	sql[0] = '\0';
	/* The common case, on every transaction: nothing differs. */
	if (want != &c->params || param_set_sig(&c->params, &s->pool->defaults) != param_set_sig(&s->params, NULL))
		build_param_sql(s, want, sql, &len);
	if (param_extras_equal(&c->extras, &s->extras) && param_extras_equal(&c->sqlprep, &s->sqlprep)) {
		if (len > 0)
			send_internal(s, FE_QUERY, sql);
		return len > 0;
	}
	/* Rare (a client with settings of its own meets a server that lacks
	 * them): the statement list may be long, so it is built on the heap. */
	pktbuf_t pb;
	pktbuf_init_growable(&pb, len + 256);
	pktbuf_begin(&pb, FE_QUERY);
	pktbuf_put_bytes(&pb, sql, len);
	session_sync_sql(&pb, &s->extras, &c->extras, &s->sqlprep, &c->sqlprep);
	pktbuf_put_u8(&pb, '\0');
	pktbuf_end(&pb);
	send_internal_msg(s, pb.data, pb.len);
	pktbuf_free(&pb);
	param_extras_copy(&s->extras, &c->extras);
	param_extras_copy(&s->sqlprep, &c->sqlprep);
	return true;
}

void server_link_client(server_t *s, client_t *c)
{
	s->login_sync = c->state == CL_LOGIN_SYNC;
	s->rq_on = prepared_relay_wanted(c);
	s->linked_at = s->query_start = s->link.worker->now;
	s->login_error[0] = s->login_sqlstate[0] = '\0';
	bool sent = send_session_sync(s, c, s->login_sync && c->raw_startup ? c->raw_startup : &c->params);
	if (!sent && s->login_sync)
		worker_post_async(s->link.worker, server_login_sync_fn, s, c);
}

/* ---- relaying answers ---- */

static void note_param(server_t *s, const uint8_t *body, size_t len)
{
	const char *name, *value;
	if (!proto_parse_param_status(body, len, &name, &value))
		return;
	int id = param_lookup(name);
	if (id < 0)
		return;
	param_set_assign(&s->params, (param_id_t)id, value);
	/* The client's own SET (or its rollback) changed it: the client now
	 * wants this value on every server that serves it. */
	if (s->client && s->internal_rfq == 0)
		param_set_assign(&s->client->params, (param_id_t)id, value);
}

static bool can_release(const server_t *s)
{
	const client_t *c = s->client;
	return c && s->pool->pool_mode == POOL_MODE_TRANSACTION && s->expected_rfq == 0 &&
	       s->internal_rfq == 0 && s->tx_status == 'I' && !s->in_copy_in && !c->pending_since_sync &&
	       c->fwd_remaining == 0 && s->state == SV_ACTIVE;
}

static void count_ready(server_t *s, char status)
{
	stats_slot_t *st = pool_stats(s->pool, s->link.worker->id);
	usec_t now = s->link.worker->now;
	st->c.query_count++;
	st->c.query_time += (uint64_t)(now - s->query_start);
	s->query_start = now;
	if (status == 'I') {
		uint64_t xt = (uint64_t)(now - s->linked_at);
		st->c.xact_count++;
		st->c.xact_time += xt;
		hist_add(&st->xact_hist, xt);
	}
}

static void send_internal_msg(server_t *s, const uint8_t *msg, size_t len)
{
	link_write(&s->link, msg, len);
	s->internal_rfq++;
	link_flush(&s->link);
}

static void send_internal(server_t *s, uint8_t type, const char *sql)
{
	uint8_t mem[SERVER_SYNC_SQL_MAX + 16];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	pktbuf_begin(&pb, type);
	if (sql)
		pktbuf_put_cstr(&pb, sql);
	pktbuf_end(&pb);
	send_internal_msg(s, pb.data, pb.len);
}

/* Gives s back to the pool and acts on what the pool decided. Returns
 * whether s still belongs to this thread: after a hand-off to another
 * worker (or a close) the caller must not touch it again. */
static bool release_to_pool(server_t *s)
{
	client_t *next;
	if (!rq_empty(&s->rq)) {
		/* Answers still owed at release mean pgtide lost track of this
		 * server's statements: it must not serve anyone else. */
		log_warning("server released with answers outstanding: db=%s user=%s", s->pool->dbname,
			    s->pool->user);
		rq_clear(&s->rq);
		s->close_needed = true;
	}
	s->rq_on = false;
	s->retry_state = RETRY_NONE;
	release_t r = pool_release(s->pool, s, &next, s->link.worker->now);
	return server_after_release(s, r, next);
}

/* A client left s (or s is being recycled): finish what is open, roll back,
 * reset if the mode asks for it, then give it back to the pool. */
bool server_reset_step(server_t *s)
{
	const config_t *cfg = cfg_of(s);
	if (s->tx_status != 'I') {
		send_internal(s, FE_QUERY, "ROLLBACK");
		return true;
	}
	bool want_reset = s->pool->pool_mode == POOL_MODE_SESSION || cfg->server_reset_query_always;
	if (want_reset && cfg->server_reset_query && *cfg->server_reset_query && !s->reset_sent) {
		s->reset_sent = true;
		send_internal(s, FE_QUERY, cfg->server_reset_query);
		return true;
	}
	s->reset_sent = false;
	return release_to_pool(s);
}

/* DISCARD ALL / DEALLOCATE ALL ran: the server holds no statements and
 * (DISCARD) no settings of anyone's. */
static void session_wiped(server_t *s)
{
	ps_set_clear(&s->ps);
	param_extras_clear(&s->extras);
	param_extras_clear(&s->sqlprep);
}

/* pg_current_wal_insert_lsn() is at or past the end of every WAL record the
 * client's transaction wrote, its commit record included, whether or not
 * that was flushed yet (synchronous_commit = off). */
static void start_lsn_probe(server_t *s)
{
	s->lsn_probe = true;
	send_internal(s, FE_QUERY, "SELECT pg_catalog.pg_current_wal_insert_lsn()");
}

static void lsn_probe_row(server_t *s, const uint8_t *body, size_t len)
{
	client_t *c = s->client;
	uint64_t lsn;
	if (len < 6 || proto_get_u16(body) != 1)
		return;
	uint32_t vlen = proto_get_u32(body + 2);
	if (vlen == UINT32_MAX || vlen > len - 6 || !c)
		return;
	if (routing_parse_lsn((const char *)body + 6, vlen, &lsn) && lsn > c->ryw_lsn)
		c->ryw_lsn = lsn;
}

/* The client's transaction may have changed its session: ask the server
 * before anyone else gets it (session_state.h). */
static void start_probe(server_t *s, client_t *c)
{
	c->session_dirty = false;
	s->probe = xcalloc(1, sizeof(*s->probe));
	session_snapshot_init(s->probe);
	pktbuf_t pb;
	pktbuf_init_growable(&pb, 1024);
	session_probe_message(&pb, &c->extras, &c->txn_custom);
	send_internal_msg(s, pb.data, pb.len);
	pktbuf_free(&pb);
}

static void adopt_probe(server_t *s, client_t *c, session_snapshot_t *snap)
{
	param_extras_copy(&s->extras, &snap->gucs);
	param_extras_copy(&s->sqlprep, &snap->prepared);
	session_apply_startup(&snap->gucs, &c->startup_extras);
	param_extras_copy(&c->extras, &snap->gucs);
	param_extras_copy(&c->sqlprep, &snap->prepared);
	param_extras_clear(&c->txn_custom);
	bool holds_state = snap->state_count > 0;
	if (!holds_state) {
		c->pinned = false;
		return;
	}
	switch (cfg_of(s)->transaction_mode_session_state) {
	case SESSION_STATE_WARN:
		if (!c->state_warned)
			log_warning("client session holds state transaction pooling cannot carry "
				    "(LISTEN, advisory lock, temporary table, WITH HOLD cursor or SET ROLE): "
				    "db=%s user=%s client_id=%llu",
				    s->pool->dbname, s->pool->user, (unsigned long long)c->id);
		c->state_warned = true;
		break;
	default:
		/* pin (and error, for what its check could not see): the client
		 * keeps this server until the state is gone. */
		c->pinned = true;
		break;
	}
}

/* The probe answered. Returns whether s is still ours. */
static bool probe_done(server_t *s)
{
	session_snapshot_t *snap = s->probe;
	s->probe = NULL;
	client_t *c = s->client;
	if (c && s->state == SV_ACTIVE && snap->state_count >= 0)
		adopt_probe(s, c, snap);
	session_snapshot_clear(snap);
	free(snap);
	if (c && can_release(s) && !c->pinned && !c->session_dirty)
		return release_from_client(s);
	return true;
}

/* A client's transaction ended on s (can_release held): learn what it did
 * to its session, keep s for a pinned client, or give s back. Returns
 * whether s is still ours. */
static bool transaction_over(server_t *s)
{
	client_t *c = s->client;
	/* Read-your-writes: where the primary's WAL is after this client's
	 * transaction, before anyone (this client included) goes on. */
	if (c->ryw_pending)
		start_lsn_probe(s);
	if (c->session_dirty) {
		start_probe(s, c);
		return true;
	}
	if (s->lsn_probe || c->pinned)
		return true;
	return release_from_client(s);
}

/* The internal queries finished. Returns whether s is still ours (the login
 * path hands s on through the client, so it answers no to be safe). */
static bool internal_done(server_t *s)
{
	bool lsn_done = s->lsn_done;
	s->lsn_done = false;
	if (s->state == SV_RESETTING)
		return server_reset_step(s);
	if (s->probe)
		return probe_done(s);
	if (lsn_done) {
		client_t *c = s->client;
		if (c && can_release(s) && !c->pinned && !c->session_dirty)
			return release_from_client(s);
		return true;
	}
	if (s->login_sync && s->client) {
		s->login_sync = false;
		client_login_sync_done(s->client, s->login_sqlstate[0] ? s->login_sqlstate : NULL,
				       s->login_error);
		return false;
	}
	return true;
}

static bool internal_message(server_t *s, uint8_t type, const uint8_t *body, size_t len)
{
	if (type == BE_PARAM_STATUS) {
		note_param(s, body, len);
	} else if (type == BE_COMMAND_COMPLETE) {
		if (prepared_relay_tag_drops_all(body, len))
			session_wiped(s);
	} else if (type == BE_DATA_ROW && s->lsn_probe) {
		lsn_probe_row(s, body, len);
	} else if (type == BE_DATA_ROW && s->probe) {
		session_snapshot_row(s->probe, body, len);
	} else if (type == BE_ERROR) {
		error_fields_t ef;
		proto_parse_error(body, len, &ef);
		strlcpy_ok(s->login_sqlstate, ef.sqlstate ? ef.sqlstate : "XX000", sizeof(s->login_sqlstate));
		strlcpy_ok(s->login_error, ef.message ? ef.message : "error", sizeof(s->login_error));
		log_warning("internal query failed on server: db=%s user=%s sqlstate=%s msg=\"%s\"",
			    s->pool->dbname, s->pool->user, s->login_sqlstate, s->login_error);
		/* What this server has applied is no longer known: retire it. */
		s->close_needed = true;
		if (s->probe && s->client && !s->lsn_probe) /* the client's state is unknown too: keep them together */
			s->client->pinned = true;
		if (s->lsn_probe && s->client) /* its writes' position is unknown: reads stay on the primary */
			s->client->ryw_lsn = UINT64_MAX;
	} else if (type == BE_READY && len >= 1) {
		s->tx_status = (char)body[0];
		if (s->lsn_probe) { /* sent before any session probe: its answer comes first */
			s->lsn_probe = false;
			s->lsn_done = true;
		}
		if (--s->internal_rfq == 0)
			return internal_done(s);
	}
	return true;
}

static bool error_is_fatal(const uint8_t *body, size_t blen)
{
	error_fields_t ef;
	return proto_parse_error(body, blen, &ef) && ef.severity &&
	       (strcmp(ef.severity, "FATAL") == 0 || strcmp(ef.severity, "PANIC") == 0);
}

/* A message the answer queue wants to see (prepared_relay.h): plain answers
 * are counted off inline, the rest goes to prepared_relay. */
static inline psr_action_t answer_tracked(server_t *s, uint8_t type, const uint8_t *body, size_t blen)
{
	bool plain = type != BE_COMMAND_COMPLETE || !blen || body[0] != 'D'; /* DISCARD/DEALLOCATE ALL */
	if (plain && type != BE_COPY_IN && type != BE_COPY_BOTH) {
		/* A CommandComplete inside a Query's answer: nothing owed ends. */
		if (!rq_is_final(&s->rq, type))
			return PSR_RELAY;
		if (rq_answer_fast(&s->rq, type)) {
			s->rq_emit = rq_head_is_synthetic(&s->rq);
			return PSR_RELAY;
		}
	}
	return prepared_relay_server_message(s, type, body, blen);
}

/* What pgtide learns from a message on its way to the client (body is set
 * for the inspected types only). */
static void note_client_bound(server_t *s, uint8_t type, const uint8_t *body, size_t blen, uint32_t total)
{
	if (type == BE_READY && blen >= 1) {
		s->tx_status = (char)body[0];
		s->in_copy_in = false;
		if (s->expected_rfq > 0)
			s->expected_rfq--;
		count_ready(s, s->tx_status);
		s->check_release = true;
	} else if (type == BE_PARAM_STATUS) {
		note_param(s, body, blen);
	} else if (type == BE_COMMAND_COMPLETE) {
		if (s->pool->pool_mode == POOL_MODE_TRANSACTION && session_tag_changes_state(body, blen))
			s->client->session_dirty = true;
	} else if (type == BE_COPY_IN || type == BE_COPY_BOTH) {
		s->in_copy_in = true;
		s->copy_ignores_sync = true;
		s->expected_rfq -= MIN(s->expected_rfq, s->syncs_since_command);
		s->syncs_since_command = 0;
	}
	/* Counted before the message can reach the client: SHOW STATS from the
	 * client's next query must see it. */
	pool_stats(s->pool, s->link.worker->id)->c.bytes_sent += total;
}

static void client_bound_message(server_t *s, uint8_t type, const uint8_t *body, size_t blen,
				 uint32_t total)
{
	note_client_bound(s, type, body, blen, total);
	client_t *rc = s->client;
	if (unlikely(rc->replay) && !rc->replay_answered) {
		/* A replica shutting down says so (FATAL) before it closes, at
		 * times after the first rows of the answer, sent together with
		 * it: the unit will be replayed elsewhere, so the client must see
		 * none of this answer (client_replay_withdraw). */
		if (type == BE_ERROR && body && error_is_fatal(body, blen) && client_replay_withdraw(rc)) {
			s->close_needed = true;
			s->skip_remaining = total;
			return;
		}
		if (type != BE_PARAM_STATUS && type != BE_NOTICE && !rc->replay_queued)
			client_replay_answer_begins(rc);
	}
	if (s->rq_on && rq_wants(&s->rq, type) && answer_tracked(s, type, body, blen) == PSR_SWALLOW)
		s->skip_remaining = total;
	else
		s->fwd_remaining = total;
}

static void unlinked_message(server_t *s, uint8_t type, const uint8_t *body, size_t len)
{
	if (type == BE_PARAM_STATUS)
		note_param(s, body, len);
	/* An ErrorResponse here is a FATAL (admin shutdown, terminate): the
	 * server will close; notices and notifications are dropped. */
	if (type == BE_ERROR)
		s->close_needed = true;
}

static void protocol_error(server_t *s, const char *why)
{
	log_warning("server protocol violation: db=%s user=%s reason=\"%s\"", s->pool->dbname, s->pool->user,
		    why);
	if (s->client)
		client_server_lost(s->client, "08P01", "server sent a malformed message");
	server_close(s, why);
}

/* The transaction is over: hand the server back, let the client go on.
 * Returns whether s is still ours. */
static bool release_from_client(server_t *s)
{
	client_t *c = s->client;
	/* Give the server back before the client sees its answer, so anything
	 * the client does next (SHOW POOLS included) finds the pool settled. */
	bool mine = release_to_pool(s);
	client_flush(c);
	client_continue(c);
	return mine && s->state != SV_CLOSED;
}

void server_release_idle(server_t *s)
{
	(void)release_to_pool(s);
}

/* Relays the rest of a message to the client; false when the client's
 * output is full (the server stops reading until it drains). */
static bool relay_chunk(server_t *s, iobuf_t *in)
{
	size_t want = MIN(iobuf_len(in), s->fwd_remaining);
	uint8_t *at;
	size_t room = link_out_room(&s->client->link, &at);
	size_t k = MIN(room, want);
	if (k) {
		memcpy(at, iobuf_head(in), k);
		link_out_commit(&s->client->link, k);
		iobuf_consume(in, k);
		s->fwd_remaining -= (uint32_t)k;
	}
	if (k < want) {
		link_pause_read(&s->link);
		return false;
	}
	return true;
}

typedef enum { MODE_LOGIN, MODE_RELAY, MODE_INTERNAL, MODE_UNLINKED } server_mode_t;

static server_mode_t server_mode(const server_t *s)
{
	if (s->state == SV_LOGIN)
		return MODE_LOGIN;
	if (s->internal_rfq > 0)
		return MODE_INTERNAL;
	if (s->state == SV_ACTIVE && s->client)
		return MODE_RELAY;
	return MODE_UNLINKED;
}

/* What the relay must know of a message type from the server, in one
 * lookup per message: whether a server may send it after login (anything
 * else means the server, or something pretending to be one, is broken) and
 * whether it is acted on, so must be whole in the buffer. */
enum { BT_VALID = 1, BT_INSPECTED = 2 };
static const uint8_t backend_type_class[256] = {
	[BE_BIND_COMPLETE] = BT_VALID, [BE_CLOSE_COMPLETE] = BT_VALID,
	[BE_COMMAND_COMPLETE] = BT_VALID | BT_INSPECTED, [BE_COPY_DATA] = BT_VALID,
	[BE_COPY_DONE] = BT_VALID, [BE_COPY_IN] = BT_VALID | BT_INSPECTED, [BE_COPY_OUT] = BT_VALID,
	[BE_COPY_BOTH] = BT_VALID | BT_INSPECTED, [BE_DATA_ROW] = BT_VALID, [BE_EMPTY_QUERY] = BT_VALID,
	[BE_ERROR] = BT_VALID | BT_INSPECTED, [BE_FUNCTION_RESULT] = BT_VALID, [BE_NO_DATA] = BT_VALID,
	[BE_NOTICE] = BT_VALID, [BE_NOTIFICATION] = BT_VALID, [BE_PARAM_DESC] = BT_VALID,
	[BE_PARAM_STATUS] = BT_VALID | BT_INSPECTED, [BE_PARSE_COMPLETE] = BT_VALID,
	[BE_PORTAL_SUSPENDED] = BT_VALID, [BE_READY] = BT_VALID | BT_INSPECTED, [BE_ROW_DESC] = BT_VALID,
};

typedef enum {
	STEP_MORE,  /* go on with the next message */
	STEP_WAIT,  /* stop: need more bytes or room; s is still ours */
	STEP_GONE,  /* stop: s was closed or handed to another worker */
} step_t;

static step_t handle_unlinked(server_t *s, iobuf_t *in, server_mode_t mode, uint8_t type, uint32_t total)
{
	const uint8_t *body = iobuf_head(in) + PROTO_HEADER_LEN;
	size_t blen = total - PROTO_HEADER_LEN;
	/* Consume first, from a copy: the handlers may release or close s. */
	uint8_t small[256];
	const uint8_t *b = body;
	if (blen <= sizeof(small)) {
		memcpy(small, body, blen);
		b = small;
	}
	iobuf_consume(in, total);
	bool mine = true;
	if (mode == MODE_INTERNAL)
		mine = internal_message(s, type, b, blen);
	else
		unlinked_message(s, type, b, blen);
	return mine && s->state != SV_CLOSED ? STEP_MORE : STEP_GONE;
}

/* Whether answer_tracked would just count `type` off inline and relay it:
 * what lets it share a run with the messages before it. */
static bool answer_is_plain(const server_t *s, uint8_t type, const uint8_t *body, size_t blen)
{
	if (type == BE_COPY_IN || type == BE_COPY_BOTH || (type == BE_COMMAND_COMPLETE && blen && body[0] == 'D'))
		return false;
	if (!rq_is_final(&s->rq, type))
		return true;
	rq_kind_t head = rq_head(&s->rq)->kind;
	return (head == RQ_PLAIN && type != BE_ERROR && type != BE_READY) || (head == RQ_SYNC && type == BE_READY);
}

/* Relays the answer that starts with the message framed at the head of
 * `in` (the server is linked and no replica replay is pending): notes each
 * message of the run that follows and relays the run as one copy. The run
 * ends after ReadyForQuery, the start of COPY or an answer pgtide must act
 * on next (rq_emit); before a message not all here that must be inspected,
 * one the answer queue may swallow, or a header not all here (server_step
 * takes those on their own). */
static void relay_run(server_t *s, iobuf_t *in, uint32_t max_len, uint8_t type, uint32_t total)
{
	const uint8_t *head = iobuf_head(in);
	size_t avail = iobuf_len(in), run = 0;
	for (;;) {
		bool inspected = backend_type_class[type] & BT_INSPECTED;
		const uint8_t *body = inspected ? head + run + PROTO_HEADER_LEN : NULL;
		size_t blen = inspected ? total - PROTO_HEADER_LEN : 0;
		bool tracked = s->rq_on && rq_wants(&s->rq, type);
		if (run > 0 && tracked && !answer_is_plain(s, type, body, blen))
			break;
		note_client_bound(s, type, body, blen, total);
		if (tracked && answer_tracked(s, type, body, blen) == PSR_SWALLOW) {
			s->skip_remaining = total; /* only ever the run's first message */
			return;
		}
		bool whole = total <= avail - run;
		run += total;
		if (!whole || s->rq_emit || type == BE_READY || type == BE_COPY_IN || type == BE_COPY_BOTH)
			break;
		if (proto_frame(head + run, avail - run, max_len, &type, &total) != FRAME_OK)
			break;
		uint8_t cls = backend_type_class[type];
		if (!(cls & BT_VALID) || ((cls & BT_INSPECTED) && total > avail - run))
			break;
	}
	s->fwd_remaining = (uint32_t)MIN(run, UINT32_MAX);
}

/* Handles the message at the head of `in`. */
static step_t server_step(server_t *s, iobuf_t *in, uint32_t max_len)
{
	uint8_t type;
	uint32_t total;
	frame_result_t fr = proto_frame(iobuf_head(in), iobuf_len(in), max_len, &type, &total);
	if (fr == FRAME_NEED_MORE)
		return STEP_WAIT;
	if (fr == FRAME_BAD_LENGTH) {
		protocol_error(s, "invalid message length");
		return STEP_GONE;
	}
	server_mode_t mode = server_mode(s);
	uint8_t cls = backend_type_class[type];
	bool whole = total <= iobuf_len(in);
	bool need_whole = mode == MODE_LOGIN || (cls & BT_INSPECTED);
	if (!whole && need_whole) {
		if (total > IOBUF_SIZE) {
			protocol_error(s, "message from server too large");
			return STEP_GONE;
		}
		return STEP_WAIT; /* the rest is still on its way */
	}
	const uint8_t *body = iobuf_head(in) + PROTO_HEADER_LEN;
	size_t blen = total - PROTO_HEADER_LEN;
	switch (mode) {
	case MODE_LOGIN: {
		login_step_t r = login_message(s, type, body, blen);
		if (r == LOGIN_STOP)
			return STEP_GONE;
		iobuf_consume(in, total);
		if (r == LOGIN_READY)
			return login_done(s) ? STEP_WAIT : STEP_GONE;
		return STEP_MORE;
	}
	case MODE_RELAY:
		if (!(cls & BT_VALID)) {
			protocol_error(s, "unknown message type from server");
			return STEP_GONE;
		}
		if (likely(!s->client->replay))
			relay_run(s, in, max_len, type, total);
		else
			client_bound_message(s, type, need_whole ? body : NULL, need_whole ? blen : 0, total);
		return STEP_MORE;
	case MODE_INTERNAL:
	case MODE_UNLINKED:
		if (!whole) {
			s->skip_remaining = total;
			return STEP_MORE;
		}
		return handle_unlinked(s, in, mode, type, total);
	}
	return STEP_GONE;
}

/* Relays / consumes what s has buffered. Returns whether s is still ours
 * afterwards (false: closed or handed to another worker: hands off). */
static bool server_process(server_t *s)
{
	const uint32_t max_len = (uint32_t)cfg_of(s)->max_packet_size;
	client_t *flush_c = s->client;
	step_t st = STEP_WAIT;
	for (;;) {
		iobuf_t *in = s->link.in;
		if (!in || iobuf_len(in) == 0) {
			st = STEP_WAIT;
			break;
		}
		if (s->fwd_remaining) {
			if (!s->client) {
				s->skip_remaining = s->fwd_remaining;
				s->fwd_remaining = 0;
				continue;
			}
			if (!relay_chunk(s, in)) {
				st = STEP_WAIT;
				break;
			}
			if (s->fwd_remaining == 0 && s->rq_emit)
				prepared_relay_emit(s);
			if (s->fwd_remaining == 0 && s->check_release) {
				s->check_release = false;
				if (can_release(s) && !transaction_over(s)) {
					st = STEP_GONE;
					break;
				}
				/* A replica-routed client waits for each answer; inside
				 * its READ ONLY transaction it may go on. */
				if (s->client && s->client->route_hold && s->expected_rfq == 0 && s->state == SV_ACTIVE &&
				    (s->tx_status != 'I' || s->client->pinned))
					client_route_resume(s->client);
			}
			continue;
		}
		if (s->skip_remaining) {
			size_t k = MIN(iobuf_len(in), s->skip_remaining);
			iobuf_consume(in, k);
			s->skip_remaining -= (uint32_t)k;
			if (s->skip_remaining == 0 && s->rq_emit && s->client)
				prepared_relay_emit(s);
			continue;
		}
		st = server_step(s, in, max_len);
		if (st != STEP_MORE)
			break;
	}
	if (flush_c && flush_c->state != CL_CLOSING)
		client_flush(flush_c);
	if (st == STEP_GONE)
		return false;
	if (s->link.in && iobuf_len(s->link.in) == 0)
		link_trim_input(&s->link);
	if (s->close_needed && s->state == SV_IDLE && pool_take_idle(s->pool, s)) {
		server_close(s, "server sent an error while idle");
		return false;
	}
	return true;
}

/* The server's socket closed or failed. */
static void server_lost(server_t *s, const char *why)
{
	switch (s->state) {
	case SV_CONNECTING:
	case SV_LOGIN:
		login_failed(s, "08006", why, false);
		return;
	case SV_MOVING:
		/* Another worker owns the hand-off; it sees close_needed. */
		s->close_needed = true;
		link_pause_read(&s->link);
		return;
	case SV_IDLE:
		if (!pool_take_idle(s->pool, s)) {
			s->close_needed = true;
			link_pause_read(&s->link);
			return;
		}
		server_close(s, why);
		return;
	case SV_ACTIVE: {
		client_t *c = s->client;
		pool_stats(s->pool, s->link.worker->id)->c.server_errors++;
		bool replay = c && c->replay && !c->replay_answered && s->pool->role == POOL_ROLE_REPLICA;
		if (replay)
			replica_note_failure(s->pool->replica, why);
		server_close(s, why);
		if (replay)
			client_replay_unit(c);
		else if (c)
			client_server_lost(c, "08006", "server connection lost while running your transaction");
		return;
	}
	default:
		server_close(s, why);
		return;
	}
}

static void server_on_read(link_t *l)
{
	server_t *s = l->owner;
	link_read_t r = link_read(l);
	if (r == LINK_READ_EOF || r == LINK_READ_ERROR) {
		/* Relay what arrived before the close (a FATAL explains it). */
		if (s->link.in && iobuf_len(s->link.in) && !server_process(s))
			return;
		server_lost(s, r == LINK_READ_EOF ? "server closed the connection" : "server socket error");
		return;
	}
	if (!server_process(s))
		return;
	/* A full input buffer that could not be consumed means one message is
	 * larger than we can hold: only possible from a broken server. */
	if (s->link.in && iobuf_tail_room(s->link.in) == 0 && s->link.in->start == 0 && !s->link.read_paused)
		protocol_error(s, "message from server too large");
}

/* ---- hand-offs and unlinking ---- */

bool server_after_release(server_t *s, int decision, client_t *next)
{
	switch ((release_t)decision) {
	case REL_IDLE:
		s->last_used = s->link.worker->now;
		return true;
	case REL_GIVE_LOCAL:
		client_server_assigned(next, s);
		return true;
	case REL_GIVE_REMOTE:
		server_move_to(s, next);
		return false;
	case REL_CLOSE:
		server_close(s, "server_lifetime or close_needed");
		return false;
	}
	return false;
}

static void server_attach_fn(worker_t *w, void *a, void *b)
{
	server_t *s = a;
	client_t *c = b;
	s->link.worker = w;
	list_push_back(&w->servers, &s->worker_node);
	link_attach(&s->link, w);
	bool free_client;
	if (pool_move_done(s->pool, s, c, &free_client)) {
		client_server_assigned(c, s);
		return;
	}
	if (free_client)
		client_free_deferred(c);
	(void)server_reset_step(s);
}

void server_move_to(server_t *s, client_t *c)
{
	worker_t *to = c->link.worker;
	/* link_has_buffered also covers what TLS decrypted and holds. */
	if (s->close_needed || link_has_buffered(&s->link)) {
		/* Not clean enough to travel: drop it; the client asks again. */
		server_close(s, "server not clean for hand-off");
		worker_post(to, client_retry_fn, c, NULL);
		return;
	}
	link_detach(&s->link);
	link_release_buffers(&s->link);
	list_del(&s->worker_node);
	s->link.worker = NULL;
	worker_post_async(to, server_attach_fn, s, c);
}

void server_move_fn(worker_t *w, void *a, void *b)
{
	server_move_to(a, b);
}

void server_connect_fn(worker_t *w, void *a, void *b)
{
	server_connect_on(a, w);
}

void server_unlink(server_t *s, bool client_gone)
{
	client_t *c = s->client;
	bool clean = s->expected_rfq == 0 && s->internal_rfq == 0 && !s->in_copy_in && s->fwd_remaining == 0 &&
		     (!c || c->fwd_remaining == 0);
	/* A pinned client's server holds its LISTEN, locks or temp tables. */
	bool open_extended = c && (c->pending_since_sync || c->pinned);
	pool_server_orphaned(s->pool, s);
	(void)client_gone;
	/* Busy, or inside an extended-protocol sequence with no Sync yet: a
	 * Sync would commit what the client never confirmed, and a ROLLBACK
	 * query is ignored if the server is skipping to Sync after an error.
	 * Closing is the only answer that is right in every state. */
	if (!clean || open_extended) {
		server_close(s, "client disconnected while server was busy");
		return;
	}
	(void)server_reset_step(s);
}

void server_login_sync_fn(worker_t *w, void *a, void *b)
{
	server_t *s = a;
	client_t *c = b;
	if (s->client == c && s->state == SV_ACTIVE && c->state == CL_LOGIN_SYNC) {
		s->login_sync = false;
		client_login_sync_done(c, NULL, NULL);
	}
}

/* Counts the requests a ReadyForQuery will answer. PostgreSQL ignores Sync
 * while it is in COPY FROM STDIN mode, so Syncs sent between the command
 * that started a COPY and the client's CopyDone/CopyFail do not count
 * (those sent before the CopyInResponse arrived are taken back when it
 * does: see client_bound_message). */
/* The answer queue's place for a forwarded message; the common kinds are
 * added inline (prepared.h), the rest by prepared_relay. */
static inline void note_answer_owed(server_t *s, uint8_t type)
{
	switch (type) {
	case FE_BIND: case FE_EXECUTE: case FE_DESCRIBE: case FE_CLOSE: case FE_PARSE:
		if (rq_push_plain_fast(&s->rq))
			return;
		break;
	case FE_QUERY: case FE_FUNCTION_CALL:
		if (rq_push_sync_fast(&s->rq))
			return;
		break;
	case FE_SYNC:
		if (s->copy_ignores_sync || rq_push_sync_fast(&s->rq))
			return;
		break;
	default:
		return;
	}
	prepared_relay_forwarded(s, type);
}

void server_forwarded_bytes(server_t *s, uint32_t bytes)
{
	pool_stats(s->pool, s->link.worker->id)->c.bytes_received += bytes;
}

void server_forwarded(server_t *s, uint8_t type, uint32_t bytes)
{
	server_forwarded_bytes(s, bytes);
	if (s->rq_on)
		note_answer_owed(s, type);
	switch (type) {
	case FE_SYNC:
		if (s->copy_ignores_sync)
			return;
		s->syncs_since_command++;
		break;
	case FE_QUERY:
	case FE_EXECUTE:
		s->syncs_since_command = 0;
		if (type == FE_EXECUTE)
			return;
		break;
	case FE_FUNCTION_CALL:
		break;
	case FE_COPY_DONE:
	case FE_COPY_FAIL:
		s->copy_ignores_sync = false;
		return;
	default:
		return;
	}
	if (s->expected_rfq == 0)
		s->query_start = s->link.worker->now;
	s->expected_rfq++;
}

bool server_flush(server_t *s)
{
	return link_flush(&s->link);
}

void server_resume(server_t *s)
{
	if (s->state == SV_CLOSED)
		return;
	link_resume_read(&s->link);
	(void)server_process(s);
}

/* ---- janitor ---- */

static void server_tick_one(server_t *s, const config_t *cfg, usec_t now)
{
	switch (s->state) {
	case SV_CONNECTING:
	case SV_LOGIN:
		if (cfg->server_connect_timeout > 0 && now - s->state_since > cfg->server_connect_timeout)
			login_failed(s, "08006", "server connect timeout", false);
		return;
	case SV_IDLE: {
		pool_t *p = s->pool;
		bool idle_out = cfg->server_idle_timeout > 0 && now - s->last_used > cfg->server_idle_timeout;
		bool too_old = cfg->server_lifetime > 0 && now - s->created > cfg->server_lifetime;
		/* PAUSE empties the pool of server connections (for a restart). */
		bool paused = p->paused || atomic_load(&p->rt->paused);
		if ((idle_out || too_old || paused || s->close_needed || s->generation != p->generation) &&
		    pool_take_idle(p, s)) {
			server_close(s, paused ? "pool paused" : idle_out ? "server_idle_timeout" : "server_lifetime");
			return;
		}
		/* Clients queued while the pool was paused: serve them now. */
		if (p->n_waiting > 0 && !paused && pool_take_idle(p, s)) {
			(void)server_reset_step(s);
			return;
		}
		/* Prove a long-idle server still works (SHOW POOLS: sv_tested). */
		const char *check = cfg->server_check_query;
		if (check && *check && now - s->last_used > cfg->server_check_delay && pool_take_idle(p, s)) {
			s->last_used = now;
			send_internal(s, FE_QUERY, check);
		}
		return;
	}
	default:
		return;
	}
}

void server_tick(worker_t *w, usec_t now)
{
	const config_t *cfg = runtime_cfg(w->rt);
	list_node_t *n, *tmp;
	list_for_each_safe(n, tmp, &w->servers) {
		server_t *s = list_entry(n, server_t, worker_node);
		server_tick_one(s, cfg, now);
	}
}

/*
 * client.c - client connections: startup, authentication, login, and the
 * relay of client messages to the server the pool lends.
 *
 * Threading: a client is touched only by the worker that accepted it. Its
 * queue membership (waiting) and in-flight references change under its
 * pool's lock.
 */
#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include "admin.h"
#include "auth.h"
#include "authq.h"
#include "cancel.h"
#include "clock.h"
#include "hba.h"
#include "log.h"
#include "pktbuf.h"
#include "pool.h"
#include "replica.h"
#include "routing.h"
#include "prepared_relay.h"
#include "session_state.h"
#include "sqlclass.h"
#include "runtime.h"
#include "server.h"
#include "tls.h"

/* Login-time state, freed once the client is logged in. */
typedef enum { AUTH_WAIT_NONE, AUTH_WAIT_PLAIN, AUTH_WAIT_MD5, AUTH_WAIT_SASL_INIT, AUTH_WAIT_SASL_FINAL,
	       AUTH_WAIT_LOOKUP } auth_wait_t;

typedef struct client_auth {
	auth_wait_t wait;
	int type;                 /* auth_type for this connection (hba picks per connection) */
	uint8_t md5_salt[4];
	char secret[512];         /* the stored secret ("" for an unknown user) */
	bool user_known;
	bool from_query;          /* the secret came from auth_query */
	authq_t *lookup;          /* auth_query in flight (AUTH_WAIT_LOOKUP) */
	/* SCRAM exchanges only: 3 KiB that an md5 or trust login would
	 * otherwise clear twice (docs/performance.md, S2). */
	scram_server_t *scram;
} client_auth_t;

static void client_on_read(link_t *l);
static void client_on_drain(link_t *l);
static void client_first_read(link_t *l);
static void client_process(client_t *c);
static void client_relay(client_t *c);

static runtime_t *rt_of(const client_t *c)
{
	return c->link.worker->rt;
}

static const config_t *cfg_of(const client_t *c)
{
	return runtime_cfg(rt_of(c));
}

/* ---- output helpers ---- */

static void send_error(client_t *c, const char *severity, const char *sqlstate, const char *msg)
{
	if (cfg_of(c)->log_pooler_errors) {
		char addr[64];
		int port;
		client_addr_str(c, addr, sizeof(addr), &port);
		log_warning("pooler error: db=%s user=%s addr=%s port=%d sqlstate=%s msg=\"%s\"", c->dbname, c->user,
			    addr, port, sqlstate, msg);
	}
	uint8_t mem[1400];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	pktbuf_error(&pb, severity, sqlstate, "%s", msg);
	link_write(&c->link, pb.data, pb.len);
}

static void send_ready(client_t *c, char status)
{
	static const uint8_t ready[3][6] = { { 'Z', 0, 0, 0, 5, 'I' }, { 'Z', 0, 0, 0, 5, 'T' },
					     { 'Z', 0, 0, 0, 5, 'E' } };
	link_write(&c->link, ready[status == 'T' ? 1 : status == 'E' ? 2 : 0], 6);
}

bool client_flush(client_t *c)
{
	if (c->state == CL_CLOSING)
		return false;
	if (unlikely(c->replay_queued)) {
		c->replay_queued = false;
		c->replay_answered = true;
	}
	return link_flush(&c->link);
}

/* Sends a FATAL error and closes once it is written (best effort). */
static void fatal(client_t *c, const char *sqlstate, const char *msg)
{
	send_error(c, "FATAL", sqlstate, msg);
	link_flush(&c->link);
	client_close(c, msg);
}

/* Formats a socket address as SHOW CLIENTS prints it (IPv4-mapped IPv6
 * addresses as plain IPv4). */
static const char *format_addr(const struct sockaddr_storage *ss, char *buf, size_t cap, int *port)
{
	*port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &sin->sin_addr, buf, (socklen_t)cap);
		*port = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], buf, (socklen_t)cap);
		else
			inet_ntop(AF_INET6, &sin6->sin6_addr, buf, (socklen_t)cap);
		*port = ntohs(sin6->sin6_port);
	} else {
		strlcpy_ok(buf, "unix", cap);
	}
	return buf;
}

/* Asked only by SHOW CLIENTS, so no syscall is spent on it at accept. The
 * caller holds the pool lock, which keeps c (and its socket) open. */
const char *client_local_addr_str(const client_t *c, char *buf, size_t cap, int *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(c->link.fd, (struct sockaddr *)&ss, &len) != 0)
		ss.ss_family = AF_UNSPEC;
	return format_addr(&ss, buf, cap, port);
}

const char *client_addr_str(const client_t *c, char *buf, size_t cap, int *port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, &c->addr, sizeof(c->addr));
	return format_addr(&ss, buf, cap, port);
}

/* Login state holds secrets: wipe it before giving the memory back. */
static void free_auth(client_t *c, client_auth_t *a)
{
	if (!a)
		return;
	authq_cancel(a->lookup);
	/* Secrets and SCRAM keys go with it. explicit_bzero: glibc's memset
	 * that the compiler may not drop; OPENSSL_cleanse clears byte by byte
	 * and showed up in the per-login profile. */
	if (a->scram) {
		explicit_bzero(a->scram, sizeof(*a->scram));
		free(a->scram);
	}
	explicit_bzero(a, sizeof(*a));
	free(a);
	if (c->auth == a)
		c->auth = NULL;
}

/* Tracked startup values as the client spelled them, kept only until the
 * login is over (and only for clients that sent any). */
static param_set_t *raw_startup(client_t *c)
{
	if (!c->raw_startup)
		c->raw_startup = xcalloc(1, sizeof(param_set_t));
	return c->raw_startup;
}

static void free_raw_startup(client_t *c)
{
	if (c->raw_startup) {
		param_set_clear(c->raw_startup);
		free(c->raw_startup);
		c->raw_startup = NULL;
	}
}

/* ---- lifetime ---- */

/* What user and dbname read before the startup packet names them. */
static const char no_name[] = "";

/* Both names in one allocation: they are read for the client's whole life
 * (logs, SHOW CLIENTS, pools) and an idle client must stay small. The
 * parser bounds each by PROTO_MAX_NAME_LEN. */
static void set_names(client_t *c, const char *user, const char *dbname)
{
	size_t ul = strlen(user), dl = strlen(dbname);
	char *names = xmalloc(ul + dl + 2);
	memcpy(names, user, ul + 1);
	memcpy(names + ul + 1, dbname, dl + 1);
	if (c->user != no_name)
		free((char *)c->user);
	c->user = names;
	c->dbname = names + ul + 1;
}

static void drop_replay(client_t *c)
{
	if (c->replay) {
		iobuf_put(&c->link.worker->bufs, c->replay);
		c->replay = NULL;
	}
	c->replay_queued = false;
}

static void client_free(reapable_t *r)
{
	client_t *c = container_of(r, client_t, reap);
	drop_replay(c);
	link_close(&c->link);
	free_auth(c, c->auth);
	admin_session_free(c->admin);
	param_set_clear(&c->params);
	free_raw_startup(c);
	param_extras_clear(&c->extras);
	ps_map_clear(&c->ps);
	free(c->big_msg);
	free(c->tls_desc);
	if (c->user != no_name)
		free((char *)c->user);
	param_extras_clear(&c->startup_extras);
	param_extras_clear(&c->sqlprep);
	param_extras_clear(&c->txn_custom);
	free(c);
}

void client_free_deferred(client_t *c)
{
	worker_reap(c->link.worker, &c->reap);
}

void client_close(client_t *c, const char *reason)
{
	if (c->state == CL_CLOSING)
		return;
	runtime_t *rt = rt_of(c);
	const config_t *cfg = runtime_cfg(rt);
	if (cfg->log_disconnections && c->state == CL_READY && !c->is_admin) {
		char addr[64];
		int port;
		client_addr_str(c, addr, sizeof(addr), &port);
		log_info("closing client: db=%s user=%s addr=%s port=%d reason=\"%s\"", c->dbname, c->user, addr,
			 port, reason);
	}
	if (c->cancel_pid)
		cancel_unregister(rt->cancels, c);
	if (c->server)
		server_unlink(c->server, true);
	bool free_now = true, was_waiting = false;
	if (c->pool) {
		free_now = pool_client_left(c->pool, c, &was_waiting);
		/* A wait that ended without a server is counted by its cause;
		 * the other causes dequeue before closing. */
		if (was_waiting)
			pool_stats(c->pool, c->link.worker->id)->c.wait_abandoned_count++;
	}
	c->state = CL_CLOSING;
	link_flush(&c->link);
	link_close(&c->link);
	list_del(&c->worker_node);
	atomic_fetch_sub(&rt->nclients, 1);
	if (free_now)
		worker_reap(c->link.worker, &c->reap);
}

/* ---- accepting ---- */

void client_accept(worker_t *w, int fd, const struct sockaddr_storage *peer)
{
	bool is_unix = peer->ss_family == AF_UNIX;
	runtime_t *rt = w->rt;
	client_t *c = xcalloc(1, sizeof(*c));
	c->reap.free_fn = client_free;
	c->user = c->dbname = no_name;
	c->id = runtime_next_id(rt);
	c->created = c->last_active = clock_mono_usec();
	c->connect_wall = clock_wall_usec();
	list_init(&c->pool_node);
	list_init(&c->wait_node);
	link_init(&c->link, fd, c, client_on_read, client_on_drain);
	if (is_unix) {
		c->addr.sin6_family = AF_UNIX;
	} else {
		if (peer->ss_family == AF_INET6) {
			memcpy(&c->addr, peer, sizeof(c->addr));
		} else if (peer->ss_family == AF_INET) {
			const struct sockaddr_in *sin = (const struct sockaddr_in *)peer;
			c->addr.sin6_family = AF_INET6;
			c->addr.sin6_port = sin->sin_port;
			c->addr.sin6_addr.s6_addr[10] = 0xff;
			c->addr.sin6_addr.s6_addr[11] = 0xff;
			memcpy(&c->addr.sin6_addr.s6_addr[12], &sin->sin_addr, 4);
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (runtime_cfg(rt)->tcp_keepalive)
			setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	}
	list_push_back(&w->clients, &c->worker_node);
	atomic_fetch_add(&rt->nclients, 1);
	/* With client TLS on, the first byte tells a direct TLS ClientHello
	 * from a startup packet (a peek, before anything is read). */
	const tls_t *tls = runtime_tls(rt);
	if (!is_unix && tls && tls->client_ctx)
		c->link.on_read = client_first_read;
	link_attach(&c->link, w);
	/* TCP_DEFER_ACCEPT handed the connection over with its first bytes:
	 * read them now rather than wake up again for them. */
	if (!is_unix && runtime_cfg(rt)->tcp_defer_accept)
		c->link.on_read(&c->link);
}

/* ---- startup ---- */

static bool is_admin_db(const char *db)
{
	return strcmp(db, "pgtide") == 0 || strcmp(db, "pgbouncer") == 0;
}

/* "-c name=value" / "--name=value" pairs in the options startup parameter
 * become extras like any other startup parameter. */
static bool parse_options(client_t *c, const char *options)
{
	char buf[1024];
	if (!strlcpy_ok(buf, options, sizeof(buf)))
		return false;
	char *save = NULL;
	bool expect_c = false;
	for (char *tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (strcmp(tok, "-c") == 0) {
			expect_c = true;
			continue;
		}
		char *kv = tok;
		if (!expect_c && strncmp(tok, "--", 2) == 0)
			kv = tok + 2;
		else if (!expect_c && strncmp(tok, "-c", 2) == 0)
			kv = tok + 2;
		else if (!expect_c)
			return false;
		expect_c = false;
		char *eq = strchr(kv, '=');
		if (!eq || eq == kv)
			return false;
		*eq = '\0';
		for (char *p = kv; *p; p++) {
			if (*p == '-')
				*p = '_';
		}
		int id = param_lookup(kv);
		if (id >= 0)
			param_set_assign(raw_startup(c), (param_id_t)id, eq + 1);
		else
			param_extras_add(&c->extras, kv, eq + 1);
	}
	return !expect_c;
}

static bool take_startup_params(client_t *c, const startup_t *st)
{
	const char *ignored = cfg_of(c)->ignore_startup_parameters;
	for (int i = 0; i < st->nparams; i++) {
		const char *name = st->params[i].name, *value = st->params[i].value;
		if (ignored && config_list_contains(ignored, name))
			continue;
		if (strcmp(name, "replication") == 0) {
			fatal(c, "0A000", "replication connections are not supported by pgtide");
			return false;
		}
		if (strcmp(name, "options") == 0) {
			if (!parse_options(c, value)) {
				fatal(c, "22023", "invalid command-line argument in the options startup parameter");
				return false;
			}
			continue;
		}
		int id = param_lookup(name);
		if (id >= 0)
			param_set_assign(raw_startup(c), (param_id_t)id, value);
		else
			param_extras_add(&c->extras, name, value);
	}
	return true;
}

static void start_auth(client_t *c);

static void handle_startup_message(client_t *c, const startup_t *st)
{
	const config_t *cfg = cfg_of(c);
	if ((st->version & 0xffff) > 0 || st->nunsupported > 0) {
		/* We speak 3.0: tell a 3.2 client (libpq 18) so, and list the
		 * protocol options we do not know. */
		uint8_t mem[512];
		pktbuf_t pb;
		pktbuf_init_fixed(&pb, mem, sizeof(mem));
		pktbuf_negotiate_version(&pb, 0, st->unsupported_options, st->nunsupported);
		link_write(&c->link, pb.data, pb.len);
	}
	set_names(c, st->user, st->database);
	if (atomic_load(&rt_of(c)->nclients) > cfg->max_client_conn) {
		fatal(c, "53300", "no more connections allowed (max_client_conn)");
		return;
	}
	int state = atomic_load(&rt_of(c)->state);
	if (state != RT_RUNNING && state != RT_DRAINING_CLIENTS) {
		fatal(c, "57P03", "pgtide is shutting down");
		return;
	}
	c->is_admin = is_admin_db(c->dbname);
	if (!take_startup_params(c, st))
		return;
	start_auth(c);
}

/* ---- TLS ---- */

static bool is_unix_client(const client_t *c)
{
	return c->addr.sin6_family == AF_UNIX;
}

/* Whether an SSLRequest gets 'S': TLS over TCP with client TLS on. */
static bool tls_offered(const client_t *c)
{
	const tls_t *tls = runtime_tls(rt_of(c));
	return tls && tls->client_ctx && !is_unix_client(c);
}

/* client_tls_sslmode >= require refuses plaintext TCP (the unix socket is
 * local and exempt, as in PgBouncer). */
static bool tls_required(const client_t *c)
{
	const tls_t *tls = runtime_tls(rt_of(c));
	return tls && tls->client_mode >= TLS_MODE_REQUIRE && !is_unix_client(c);
}

static void client_tls_step(client_t *c)
{
	char err[200];
	switch (tls_handshake(&c->link, err, sizeof(err))) {
	case TLS_HS_AGAIN:
		return;
	case TLS_HS_FAILED: {
		char addr[64], reason[260];
		int port;
		client_addr_str(c, addr, sizeof(addr), &port);
		log_info("client TLS handshake failed: addr=%s port=%d reason=\"%s\"", addr, port, err);
		snprintf(reason, sizeof(reason), "TLS handshake failed: %s", err);
		client_close(c, reason);
		return;
	}
	case TLS_HS_DONE:
		break;
	}
	if (c->tls_direct && !tls_alpn_is_postgresql(&c->link)) {
		/* As PostgreSQL 17: direct TLS only with ALPN "postgresql". */
		fatal(c, "08P01", "direct TLS connection without ALPN \"postgresql\"");
		return;
	}
	c->tls = true;
	char desc[128];
	tls_describe(&c->link, desc, sizeof(desc));
	c->tls_desc = xstrdup(desc); /* before the client is listed anywhere */
	c->state = CL_STARTUP;
	c->link.on_read = client_on_read;
	/* The startup packet may be in the transport already. */
	client_on_read(&c->link);
}

static void client_tls_on_read(link_t *l)
{
	client_tls_step(l->owner);
}

/* Switches to TLS: after 'S' (SSLRequest), or at once for a direct TLS
 * ClientHello. Nothing is buffered in either direction at this point. */
static void client_start_tls(client_t *c, bool direct)
{
	if (!direct) {
		link_write(&c->link, "S", 1);
		if (!link_flush(&c->link) || link_out_pending(&c->link)) {
			client_close(c, "could not answer SSLRequest");
			return;
		}
	}
	link_trim_input(&c->link);
	SSL *ssl = tls_accept_new(runtime_tls(rt_of(c)), c->link.fd);
	if (!ssl) {
		client_close(c, "could not create a TLS session");
		return;
	}
	link_set_transport(&c->link, &transport_tls, ssl);
	c->tls_direct = direct;
	c->state = CL_TLS_HANDSHAKE;
	c->link.on_read = client_tls_on_read;
	client_tls_step(c);
}

/* First read of a TCP client when client TLS is on: 0x16 (a TLS handshake
 * record) starts direct TLS, anything else is the PostgreSQL protocol. */
static void client_first_read(link_t *l)
{
	client_t *c = l->owner;
	uint8_t b;
	ssize_t n = recv(l->fd, &b, 1, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c, n == 0 ? "client closed the connection" : "client socket error");
		return;
	}
	if (b == 0x16) {
		client_start_tls(c, true);
		return;
	}
	l->on_read = client_on_read;
	client_on_read(l);
}

static void handle_startup(client_t *c)
{
	iobuf_t *in = c->link.in;
	startup_t st;
	startup_kind_t k = proto_parse_startup(iobuf_head(in), iobuf_len(in), &st);
	switch (k) {
	case STARTUP_NEED_MORE:
		return;
	case STARTUP_SSL:
	case STARTUP_GSSENC:
		iobuf_consume(in, 8);
		if (iobuf_len(in) > 0) {
			/* Bytes sent before our answer: an injection attempt
			 * (CVE-2021-23214 class). Never let them through. */
			fatal(c, "08P01", k == STARTUP_SSL ? "received unencrypted data after SSL request"
							   : "received unencrypted data after GSSAPI encryption request");
			return;
		}
		if (k == STARTUP_SSL && c->tls) {
			fatal(c, "08P01", "SSLRequest on a connection that is already encrypted");
			return;
		}
		if (k == STARTUP_SSL && tls_offered(c)) {
			client_start_tls(c, false);
			return;
		}
		link_write(&c->link, "N", 1);
		link_flush(&c->link);
		return;
	case STARTUP_CANCEL:
		cancel_request(rt_of(c), c->link.worker, st.cancel_pid, st.cancel_key, st.cancel_key_len);
		client_close(c, "cancel request handled");
		return;
	case STARTUP_BAD:
		fatal(c, "08P01", st.errmsg);
		return;
	case STARTUP_UNSUPPORTED:
		fatal(c, "0A000", st.errmsg);
		return;
	case STARTUP_OK:
		if (!c->tls && tls_required(c)) {
			fatal(c, "28000", "SSL required");
			return;
		}
		handle_startup_message(c, &st);
		if (c->state != CL_CLOSING && c->link.in)
			iobuf_consume(c->link.in, st.length);
		return;
	}
}

/* ---- authentication ---- */

static void send_auth_request(client_t *c, uint32_t code, const void *data, size_t len)
{
	uint8_t mem[SCRAM_MAX_MESSAGE + 64];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	pktbuf_auth(&pb, code, data, len);
	link_write(&c->link, pb.data, pb.len);
	/* AuthenticationOk (and SASLFinal before it) travel with the welcome
	 * that follows in one send; a challenge must go out now. */
	if (code != AUTH_REQ_OK && code != AUTH_REQ_SASL_FINAL)
		link_flush(&c->link);
}

static void auth_failed(client_t *c)
{
	char addr[64], msg[160];
	int port;
	client_addr_str(c, addr, sizeof(addr), &port);
	log_warning("password authentication failed: user=%s db=%s addr=%s port=%d", c->user, c->dbname, addr,
		    port);
	snprintf(msg, sizeof(msg), "password authentication failed for user \"%s\"", c->user);
	fatal(c, "28P01", msg);
}

static void login_complete(client_t *c);

/* Sets up a SCRAM exchange against the user's secret (or a mock one). */
static void start_scram(client_t *c, client_auth_t *a)
{
	scram_secret_t secret;
	const scram_secret_t *use = NULL;
	secret_kind_t kind = a->user_known ? auth_secret_kind(a->secret) : SECRET_NONE;
	if (kind == SECRET_SCRAM && scram_parse_secret(a->secret, &secret)) {
		use = &secret;
	} else if (kind == SECRET_PLAIN) {
		/* Deterministic salt per user, so a plaintext auth_file entry
		 * always presents the same salt to a client. */
		scram_mock_secret(c->user, rt_of(c)->mock_key, &secret);
		if (scram_secret_from_password(a->secret, secret.salt, secret.salt_len,
					       SCRAM_DEFAULT_ITERATIONS, &secret))
			use = &secret;
	}
	a->scram = xcalloc(1, sizeof(*a->scram));
	scram_server_init(a->scram, use, c->user, rt_of(c)->mock_key);
	/* Over TLS, channel binding is offered too (PostgreSQL's order). */
	static const char mech[] = "SCRAM-SHA-256\0";
	static const char mech_plus[] = "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0";
	a->wait = AUTH_WAIT_SASL_INIT;
	if (c->tls)
		send_auth_request(c, AUTH_REQ_SASL, mech_plus, sizeof(mech_plus));
	else
		send_auth_request(c, AUTH_REQ_SASL, mech, sizeof(mech));
}

/* auth_type = hba: the method of the first matching rule as an auth_type,
 * or -1 after refusing the connection (no rule, reject, clientcert). */
static int hba_auth_type(client_t *c, const config_t *cfg)
{
	hba_request_t req;
	char addr[64], msg[400];
	int port;
	memset(&req, 0, sizeof(req));
	req.is_unix = is_unix_client(c);
	req.tls = c->tls;
	if (!req.is_unix)
		hba_request_set_addr(&req, &c->addr);
	req.db = c->dbname;
	req.user = c->user;
	const hba_rule_t *rule = hba_match(cfg->hba, &req);
	client_addr_str(c, addr, sizeof(addr), &port);
	if (!rule || rule->method == HBA_REJECT) {
		if (rule)
			log_warning("auth_hba_file line %d rejects: user=%s db=%s addr=%s port=%d tls=%d", rule->line,
				    c->user, c->dbname, addr, port, c->tls);
		else
			log_warning("no auth_hba_file line matches%s: user=%s db=%s addr=%s port=%d tls=%d",
				    cfg->hba ? "" : " (no rules loaded)", c->user, c->dbname, addr, port, c->tls);
		/* PostgreSQL's wording, so clients and people recognise it. */
		snprintf(msg, sizeof(msg), "%s for host \"%s\", user \"%s\", database \"%s\", %s",
			 rule ? "pg_hba.conf rejects connection" : "no pg_hba.conf entry",
			 req.is_unix ? "[local]" : addr, c->user, c->dbname, c->tls ? "SSL on" : "SSL off");
		fatal(c, "28000", msg);
		return -1;
	}
	if (rule->clientcert != HBA_CLIENTCERT_NONE && rule->method != HBA_CERT) {
		/* clientcert=verify-ca|verify-full (hostssl lines only) */
		if (!tls_peer_verified(&c->link)) {
			fatal(c, "28000", "connection requires a valid client certificate");
			return -1;
		}
		if (rule->clientcert == HBA_CLIENTCERT_VERIFY_FULL && !tls_peer_cn_is(&c->link, c->user)) {
			snprintf(msg, sizeof(msg),
				 "certificate validation (clientcert=verify-full) failed for user \"%s\": CN mismatch",
				 c->user);
			fatal(c, "28000", msg);
			return -1;
		}
	}
	switch (rule->method) {
	case HBA_TRUST:
		return AUTH_TYPE_TRUST;
	case HBA_MD5:
		return AUTH_TYPE_MD5;
	case HBA_SCRAM:
		return AUTH_TYPE_SCRAM;
	case HBA_PASSWORD:
		return AUTH_TYPE_PLAIN;
	case HBA_CERT:
		return AUTH_TYPE_CERT;
	case HBA_REJECT:
		break;
	}
	return -1;
}

/* Sends the first request of the exchange a->type and the secret call for. */
static void start_exchange(client_t *c, client_auth_t *a)
{
	secret_kind_t kind = a->user_known ? auth_secret_kind(a->secret) : SECRET_NONE;
	if (a->type == AUTH_TYPE_PLAIN) {
		a->wait = AUTH_WAIT_PLAIN;
		send_auth_request(c, AUTH_REQ_PASSWORD, NULL, 0);
	} else if (a->type == AUTH_TYPE_SCRAM || kind == SECRET_SCRAM || (a->from_query && !a->user_known)) {
		/* A user auth_query did not find gets a mock SCRAM exchange, as
		 * PostgreSQL gives one (password_encryption = scram-sha-256). */
		start_scram(c, a);
	} else {
		a->wait = AUTH_WAIT_MD5;
		worker_random_bytes(c->link.worker, a->md5_salt, sizeof(a->md5_salt));
		send_auth_request(c, AUTH_REQ_MD5, a->md5_salt, sizeof(a->md5_salt));
	}
}

/* The answer of auth_query: found or not, the exchange is the same one. */
static void take_lookup(client_t *c, client_auth_t *a, authq_result_t r, const char *secret)
{
	a->lookup = NULL;
	a->from_query = true;
	a->user_known = r == AUTHQ_FOUND && strlcpy_ok(a->secret, secret, sizeof(a->secret));
	a->wait = AUTH_WAIT_NONE;
	start_exchange(c, a);
}

static void lookup_failed(client_t *c, const char *err)
{
	char addr[64];
	int port;
	client_addr_str(c, addr, sizeof(addr), &port);
	log_error("auth_query for user=%s db=%s addr=%s port=%d failed: %s", c->user, c->dbname, addr, port, err);
	fatal(c, "08006", "authentication failed: the password lookup (auth_query) did not work; see the pgtide log");
}

static void lookup_done(void *arg, authq_result_t r, const char *secret, const char *err)
{
	client_t *c = arg;
	client_auth_t *a = c->auth;
	a->lookup = NULL; /* authq freed it */
	if (c->state != CL_AUTH)
		return; /* closing: the reaper frees the rest */
	if (r == AUTHQ_ERROR) {
		lookup_failed(c, err);
		return;
	}
	take_lookup(c, a, r, secret);
	/* A client that sent its answer early: it waited in the buffer. */
	if (c->state == CL_AUTH && c->link.in && iobuf_len(c->link.in) > 0)
		client_process(c);
	else if (c->state != CL_CLOSING)
		link_flush(&c->link);
}

/* The user has no auth_file entry: ask the database (cache first). */
static void start_lookup(client_t *c, client_auth_t *a, const config_t *cfg)
{
	runtime_t *rt = rt_of(c);
	char secret[AUTHQ_SECRET_MAX], err[300];
	authq_result_t r;
	if (authq_cache_get(rt->authq_cache, cfg, c->dbname, c->user, &r, secret)) {
		take_lookup(c, a, r, secret);
		OPENSSL_cleanse(secret, sizeof(secret));
		return;
	}
	a->wait = AUTH_WAIT_LOOKUP;
	a->lookup = authq_start(c->link.worker->base, rt->authq_cache, cfg, c->dbname, c->user, lookup_done, c,
				err, sizeof(err));
	if (!a->lookup)
		lookup_failed(c, err);
}

static void start_auth(client_t *c)
{
	const config_t *cfg = cfg_of(c);
	c->state = CL_AUTH;
	int type = cfg->auth_type;
	if (type == AUTH_TYPE_HBA && (type = hba_auth_type(c, cfg)) < 0)
		return;
	if (type == AUTH_TYPE_TRUST || type == AUTH_TYPE_ANY) {
		login_complete(c);
		return;
	}
	if (type == AUTH_TYPE_CERT) {
		/* As PostgreSQL's cert method: a verified certificate whose
		 * common name is the user. The unix socket has none. */
		char msg[200];
		if (!c->tls || !tls_peer_verified(&c->link)) {
			fatal(c, "28000", "connection requires a valid client certificate");
			return;
		}
		if (!tls_peer_cn_is(&c->link, c->user)) {
			snprintf(msg, sizeof(msg), "certificate authentication failed for user \"%s\"", c->user);
			fatal(c, "28000", msg);
			return;
		}
		login_complete(c);
		return;
	}
	client_auth_t *a = xcalloc(1, sizeof(*a));
	c->auth = a;
	a->type = type;
	const char *secret = config_find_user_secret(cfg, c->user);
	if (!secret && cfg->auth_user && !c->is_admin) {
		start_lookup(c, a, cfg);
		return;
	}
	a->user_known = secret != NULL;
	if (secret)
		strlcpy_ok(a->secret, secret, sizeof(a->secret));
	start_exchange(c, a);
}

static bool check_plain_password(client_t *c, const char *password)
{
	client_auth_t *a = c->auth;
	if (!a->user_known)
		return false;
	switch (auth_secret_kind(a->secret)) {
	case SECRET_PLAIN:
		return strlen(password) == strlen(a->secret) &&
		       CRYPTO_memcmp(password, a->secret, strlen(password)) == 0;
	case SECRET_MD5: {
		char md5[AUTH_MD5_LEN + 1];
		auth_md5_secret(c->user, password, md5);
		return strlen(md5) == strlen(a->secret) && CRYPTO_memcmp(md5, a->secret, strlen(md5)) == 0;
	}
	case SECRET_SCRAM: {
		scram_secret_t stored, derived;
		if (!scram_parse_secret(a->secret, &stored) ||
		    !scram_secret_from_password(password, stored.salt, stored.salt_len, stored.iterations, &derived))
			return false;
		return memcmp(stored.stored_key, derived.stored_key, SCRAM_KEY_LEN) == 0;
	}
	default:
		return false;
	}
}

static void handle_sasl(client_t *c, const uint8_t *body, size_t len)
{
	client_auth_t *a = c->auth;
	msg_reader_t r;
	msg_reader_init(&r, body, len);
	const uint8_t *data = body;
	size_t dlen = len;
	if (a->wait == AUTH_WAIT_SASL_INIT) {
		const char *mech = msg_read_cstr(&r);
		uint32_t n = msg_read_u32(&r);
		if (!mech || r.bad) {
			fatal(c, "08P01", "malformed SASLInitialResponse message");
			return;
		}
		bool plus = strcmp(mech, "SCRAM-SHA-256-PLUS") == 0;
		if ((!plus || !c->tls) && strcmp(mech, "SCRAM-SHA-256") != 0) {
			fatal(c, "28000", "client selected an invalid SASL authentication mechanism");
			return;
		}
		uint8_t cb[EVP_MAX_MD_SIZE];
		size_t cbl = 0;
		if (c->tls && tls_server_end_point(&c->link, cb, sizeof(cb), &cbl))
			scram_server_set_channel_binding(a->scram, cb, cbl, plus);
		else if (plus) {
			fatal(c, "28000", "channel binding is not available for this connection's certificate");
			return;
		}
		if (n == UINT32_MAX || n != msg_remaining(&r)) {
			fatal(c, "08P01", "malformed SASLInitialResponse message: wrong data length");
			return;
		}
		data = r.p;
		dlen = n;
	}
	char out[SCRAM_MAX_MESSAGE];
	size_t olen = 0;
	const char *err = NULL;
	int rc;
	if (a->wait == AUTH_WAIT_SASL_INIT) {
		rc = scram_server_handle_first(a->scram, data, dlen, out, sizeof(out), &olen, &err);
		if (rc == 0) {
			a->wait = AUTH_WAIT_SASL_FINAL;
			send_auth_request(c, AUTH_REQ_SASL_CONTINUE, out, olen);
			return;
		}
	} else {
		rc = scram_server_handle_final(a->scram, data, dlen, out, sizeof(out), &olen, &err);
		if (rc == 0) {
			send_auth_request(c, AUTH_REQ_SASL_FINAL, out, olen);
			login_complete(c);
			return;
		}
	}
	if (rc == -2) {
		auth_failed(c);
		return;
	}
	fatal(c, "08P01", err ? err : "malformed SCRAM message");
}

static void handle_password_message(client_t *c, const uint8_t *body, size_t len)
{
	client_auth_t *a = c->auth;
	if (!a || a->wait == AUTH_WAIT_NONE) {
		fatal(c, "08P01", "unexpected password message");
		return;
	}
	if (a->wait == AUTH_WAIT_SASL_INIT || a->wait == AUTH_WAIT_SASL_FINAL) {
		handle_sasl(c, body, len);
		return;
	}
	if (len == 0 || body[len - 1] != 0 || memchr(body, 0, len) != body + len - 1) {
		fatal(c, "08P01", "invalid password packet");
		return;
	}
	const char *pw = (const char *)body;
	bool ok;
	if (a->wait == AUTH_WAIT_PLAIN)
		ok = check_plain_password(c, pw);
	else
		ok = a->user_known && auth_md5_verify(c->user, a->secret, a->md5_salt, pw);
	if (!ok) {
		auth_failed(c);
		return;
	}
	login_complete(c);
}

static void handle_auth_input(client_t *c)
{
	iobuf_t *in = c->link.in;
	uint8_t type;
	uint32_t total;
	frame_result_t fr = proto_frame(iobuf_head(in), iobuf_len(in), PROTO_MAX_STARTUP_LEN, &type, &total);
	if (fr == FRAME_BAD_LENGTH) {
		fatal(c, "08P01", "invalid message length during authentication");
		return;
	}
	if (fr == FRAME_NEED_MORE || total > iobuf_len(in))
		return;
	if (c->auth && c->auth->wait == AUTH_WAIT_LOOKUP)
		return; /* nothing was asked yet: keep it until the lookup answers */
	if (type != FE_PASSWORD) {
		fatal(c, "08P01", type == FE_TERMINATE ? "client closed during authentication"
						       : "expected password response during authentication");
		return;
	}
	handle_password_message(c, iobuf_head(in) + PROTO_HEADER_LEN, total - PROTO_HEADER_LEN);
	if (c->state != CL_CLOSING && c->link.in)
		iobuf_consume(c->link.in, total);
}

/* ---- login ---- */

/* ParameterStatus for everything the server reported at login, with the
 * client's own values for the tracked parameters, then the key and Ready:
 * the pool's cached part and one rendered block. */
static void send_welcome(client_t *c)
{
	pool_t *p = c->pool;
	uint8_t mem[PROTO_MAX_STARTUP_LEN + 1024]; /* the values came in a startup packet */
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	for (int id = 0; id < PARAM_TRACKED_COUNT; id++) {
		if (p->defaults.v[id])
			pktbuf_param_status(&pb, param_name((param_id_t)id),
					    c->params.v[id] ? c->params.v[id] : p->defaults.v[id]);
	}
	pktbuf_backend_key(&pb, c->cancel_pid, c->cancel_key);
	pktbuf_ready(&pb, 'I');
	if (pb.failed) { /* values beyond what a startup packet can carry */
		fatal(c, "08P01", "parameter values too long");
		return;
	}
	link_write(&c->link, p->welcome_msgs, p->welcome_msgs_len);
	link_write(&c->link, pb.data, pb.len);
}

static void finish_login(client_t *c)
{
	c->state = CL_READY;
	param_extras_copy(&c->startup_extras, &c->extras);
	free_raw_startup(c);
	send_welcome(c);
	pool_stats(c->pool, c->link.worker->id)->c.client_login_count++;
	if (cfg_of(c)->log_connections) {
		char addr[64];
		int port;
		client_addr_str(c, addr, sizeof(addr), &port);
		log_info("login: db=%s user=%s addr=%s port=%d", c->dbname, c->user, addr, port);
	}
	link_flush(&c->link);
}

/* Whether the pool already knows how the server spells every tracked value
 * the client sent; fills c->params from the cache as it goes. */
static bool params_known(client_t *c)
{
	pool_t *p = c->pool;
	if (!p->welcome_ready)
		return false;
	/* Unknown startup settings must be tried on a server once, so that a
	 * bad one fails the login as PostgreSQL would, not a later query. */
	if (c->extras.len && !pool_extras_known(p, param_extras_hash(&c->extras)))
		return false;
	for (int i = 0; i < PARAM_TRACKED_COUNT; i++) {
		const char *raw = c->raw_startup ? c->raw_startup->v[i] : NULL;
		if (!raw)
			continue;
		char *norm = pool_norm_lookup(p, i, raw);
		if (!norm)
			return false;
		free(c->params.v[i]);
		c->params.v[i] = norm;
		c->params.sig = 0;
	}
	return true;
}

static bool client_acquire(client_t *c);

/* options=-c default_transaction_read_only=on (or the parameter itself). */
static bool startup_read_only(const client_t *c)
{
	uint32_t pos = 0;
	const char *name, *value;
	while (param_extras_next(&c->extras, &pos, &name, &value)) {
		if (strcasecmp(name, "default_transaction_read_only") == 0)
			return strcasecmp(value, "on") == 0 || strcasecmp(value, "true") == 0 ||
			       strcasecmp(value, "1") == 0 || strcasecmp(value, "yes") == 0;
	}
	return false;
}

static void login_complete(client_t *c)
{
	const config_t *cfg = cfg_of(c);
	runtime_t *rt = rt_of(c);
	client_auth_t *auth = c->auth;
	c->auth = NULL;
	send_auth_request(c, AUTH_REQ_OK, NULL, 0);
	if (c->is_admin) {
		free_auth(c, auth);
		admin_login(c);
		return;
	}
	const char *sqlstate = "08P01";
	char msg[160];
	if (rt->disabled_dbs.n && runtime_name_in(rt, &rt->disabled_dbs, c->dbname)) {
		free_auth(c, auth);
		snprintf(msg, sizeof(msg), "database \"%s\" is disabled (admin console DISABLE)", c->dbname);
		fatal(c, "57P03", msg);
		return;
	}
	/* app_ro: database app, every transaction to its replicas; the session
	 * is read-only too, so a fallback to the primary cannot write. */
	const char *dbname = c->dbname;
	const db_config_t *alias = config_find_ro_alias(cfg, c->dbname);
	if (alias) {
		dbname = alias->name;
		c->ro_entry = true;
		param_extras_add(&c->extras, "default_transaction_read_only", "on");
	} else {
		c->ro_entry = startup_read_only(c);
	}
	c->pool = pool_get(rt, cfg, dbname, c->user, &sqlstate, msg, sizeof(msg));
	if (!c->pool || c->pool->disabled) {
		free_auth(c, auth);
		fatal(c, c->pool ? "3D000" : sqlstate,
		      c->pool ? "database was removed from the configuration" : msg);
		return;
	}
	if (auth && auth->from_query && auth->user_known) {
		/* No file has a password for this user: the server login
		 * uses the looked-up secret (SCRAM: with the keys below). */
		const db_config_t *db = config_find_db(cfg, c->dbname);
		if (db && !db->user && !db->password)
			pool_set_query_secret(c->pool, auth->secret);
	}
	if (auth && auth->scram && auth->scram->have_client_key && !auth->scram->mock)
		pool_set_scram_keys(c->pool, auth->scram->client_key, auth->scram->secret.server_key);
	free_auth(c, auth);
	cancel_register(rt->cancels, c);
	pool_client_joined(c->pool, c);
	if (params_known(c)) {
		finish_login(c);
		return;
	}
	/* Ask a server how it spells the client's values (utf-8 -> UTF8),
	 * and learn the pool's welcome parameters from its first login. */
	c->state = CL_LOGIN_SYNC;
	if (client_acquire(c))
		server_flush(c->server);
}

void client_login_sync_done(client_t *c, const char *err_sqlstate, const char *err_msg)
{
	server_t *s = c->server;
	if (err_sqlstate) {
		fatal(c, err_sqlstate, err_msg);
		return;
	}
	for (int i = 0; i < PARAM_TRACKED_COUNT; i++) {
		const char *raw = c->raw_startup ? c->raw_startup->v[i] : NULL;
		if (!raw || !s->params.v[i])
			continue;
		param_set_assign(&c->params, (param_id_t)i, s->params.v[i]);
		pool_norm_store(c->pool, i, raw, s->params.v[i]);
	}
	if (c->extras.len)
		pool_extras_store(c->pool, param_extras_hash(&c->extras));
	finish_login(c);
	server_release_idle(s);
	client_continue(c);
}

/* ---- getting a server ---- */

/* Wait time and assignment are counted at every hand-off, zero waits too. */
static void count_assignment(client_t *c)
{
	/* The worker's time of this wake-up: a hand-off happens in one. */
	usec_t now = c->link.worker->now;
	uint64_t waited = c->wait_start && now > c->wait_start ? (uint64_t)(now - c->wait_start) : 0;
	c->wait_start = 0;
	stats_slot_t *st = pool_stats(c->pool, c->link.worker->id);
	st->c.server_assignment_count++;
	st->c.wait_time += waited;
	hist_add(&st->wait_hist, waited);
}

void client_server_assigned(client_t *c, server_t *s)
{
	count_assignment(c);
	server_link_client(s, c);
	/* Reading may have stopped on a full buffer while c waited. */
	if (c->state == CL_READY) {
		link_resume_read(&c->link);
		client_relay(c);
	}
	server_flush(s);
}

/* A named statement's class for routing, from the client's own map,
 * classified once per statement. */
static route_stmt_t named_class(void *arg, const char *name, size_t len)
{
	client_t *c = arg;
	ps_stmt_t *st = ps_map_find(&c->ps, name, len);
	if (!st)
		return ROUTE_STMT_UNKNOWN;
	if (st->route_class == ROUTE_STMT_UNKNOWN) {
		const char *q = (const char *)st->body;
		const char *z = memchr(q, '\0', st->body_len);
		st->route_class = (uint8_t)(z ? routing_classify_text(q, (size_t)(z - q)) : ROUTE_STMT_OTHER);
	}
	return (route_stmt_t)st->route_class;
}

/* The pool this transaction runs in (docs/routing.md): classifies the
 * messages that start it, asks the pool, and notes what the relay must do
 * (hold pipelined messages on a replica; learn the WAL position after a
 * write). NULL when it must fail (replica_fallback = error). */
/* A read-only unit bound for a replica is kept (in a buffer from the
 * worker's cache) so that a replica dying before it answers costs the
 * client nothing: client_replay_unit. Not for units that define named
 * statements, which the client's map already records. */
static void keep_unit_for_replay(client_t *c, const uint8_t *unit, size_t len)
{
	drop_replay(c);
	for (size_t off = 0; off + PROTO_HEADER_LEN <= len;) {
		if (unit[off] == FE_PARSE && unit[off + PROTO_HEADER_LEN] != '\0')
			return;
		off += 1 + proto_get_u32(unit + off + 1);
	}
	if (len == 0 || len > IOBUF_SIZE)
		return;
	c->replay = iobuf_get(&c->link.worker->bufs);
	memcpy(c->replay->data, unit, len);
	c->replay->start = 0;
	c->replay->end = (uint32_t)len;
	c->replay_answered = false;
	c->replay_queued = false;
}

void client_replay_answer_begins(client_t *c)
{
	/* Only an answer that starts on an empty queue can be taken back whole. */
	if (link_out_pending(&c->link) == 0 && !c->link.write_armed)
		c->replay_queued = true;
	else
		c->replay_answered = true;
}

bool client_replay_withdraw(client_t *c)
{
	if (c->replay_answered)
		return false;
	if (c->replay_queued) {
		link_out_discard(&c->link);
		c->replay_queued = false;
	}
	return true;
}

void client_replay_unit(client_t *c)
{
	iobuf_t *unit = c->replay, *in = c->link.in;
	c->replay = NULL;
	c->server = NULL;
	size_t rest = in ? iobuf_len(in) : 0;
	if (c->fwd_remaining || iobuf_tail_room(unit) < rest) {
		iobuf_put(&c->link.worker->bufs, unit);
		client_server_lost(c, "08006", "replica connection lost while running your query");
		return;
	}
	/* The unit goes back in front of what the client sent since. */
	if (rest)
		memcpy(unit->data + unit->end, iobuf_head(in), rest);
	unit->end += (uint32_t)rest;
	if (in)
		iobuf_put(&c->link.worker->bufs, in);
	c->link.in = unit;
	c->pending_since_sync = false;
	c->route_hold = false;
	pool_stats(c->pool, c->link.worker->id)->c.replica_replay_count++;
	client_continue(c);
}

static pool_t *route_transaction(client_t *c, bool *failed_replica)
{
	pool_t *p = c->pool;
	route_class_t cls = ROUTE_CLASS_WRITE;
	iobuf_t *in = c->link.in;
	c->route_hold = false;
	c->ryw_pending = false;
	if (c->state != CL_READY)
		return p; /* the login-time parameter sync: the primary */
	size_t unit = 0;
	if (!c->ro_entry && in && p->read_routing != READ_ROUTING_OFF)
		cls = routing_classify_messages(iobuf_head(in), iobuf_len(in), named_class, c, &unit);
	routed_t how;
	pool_t *target = pool_route(p, cls, c->ro_entry, c->ryw_lsn, &how);
	if (how == ROUTED_REPLICA) {
		/* What follows the unit may write: it waits for the answer. The
		 * _ro entry point sends everything to replicas anyway. */
		c->route_hold = !c->ro_entry;
		if (unit && in)
			keep_unit_for_replay(c, iobuf_head(in), unit);
		(void)failed_replica;
	} else if (how == ROUTED_PRIMARY) {
		c->ryw_pending = cls == ROUTE_CLASS_WRITE && !c->ro_entry && p->read_your_writes &&
				 p->read_routing != READ_ROUTING_OFF && p->pool_mode == POOL_MODE_TRANSACTION;
	}
	return target;
}

/* Asks the pool for a server; true when one is linked right now. */
static bool client_acquire(client_t *c)
{
	server_t *s = NULL;
	worker_t *home = NULL;
	usec_t now = c->link.worker->now;
	int state = atomic_load(&rt_of(c)->state);
	if (state != RT_RUNNING && state != RT_DRAINING_CLIENTS) {
		/* Draining: running transactions finish, new ones do not start. */
		fatal(c, "57P01", "pgtide is shutting down; reconnect to another instance");
		return false;
	}
	c->wait_start = now;
	pool_t *p = c->pool;
	acquire_t r;
	for (int tries = 0;; tries++) {
		if (c->pool->n_replicas > 0) {
			p = route_transaction(c, NULL);
			if (!p) {
				client_fail_request(c, "08006", "no replica is available (replica_fallback = error)",
						    c->state != CL_READY);
				return false;
			}
		}
		r = pool_acquire(p, c, c->link.worker, &s, &home, now);
		/* A replica whose logins fail is out until a check says
		 * otherwise: the transaction goes elsewhere. */
		if (r != ACQ_FAIL_RETRY || p->role != POOL_ROLE_REPLICA || tries > CONFIG_MAX_REPLICAS)
			break;
		replica_note_failure(p->replica, p->last_login_error[0] ? p->last_login_error : "login failed");
	}
	switch (r) {
	case ACQ_GOT_LOCAL:
		count_assignment(c);
		server_link_client(s, c);
		return true;
	case ACQ_GOT_REMOTE:
	case ACQ_GOT_REMOTE_WARM:
		worker_post(home, server_move_fn, s, c);
		if (r == ACQ_GOT_REMOTE_WARM)
			server_connect_on(p, c->link.worker);
		return false;
	case ACQ_WAIT_CONNECT:
		server_connect_on(p, c->link.worker);
		return false;
	case ACQ_WAIT:
	case ACQ_PAUSED:
		return false;
	case ACQ_FAIL_RETRY:
		client_fail_request(c, p->last_login_sqlstate[0] ? p->last_login_sqlstate : "08006",
				    p->last_login_error, c->state != CL_READY);
		return false;
	}
	return false;
}

/* ---- relaying ---- */

static bool is_frontend_type(uint8_t t)
{
	switch (t) {
	case FE_BIND: case FE_CLOSE: case FE_COPY_DATA: case FE_COPY_DONE: case FE_COPY_FAIL:
	case FE_DESCRIBE: case FE_EXECUTE: case FE_FLUSH: case FE_FUNCTION_CALL: case FE_PARSE:
	case FE_QUERY: case FE_SYNC: case FE_TERMINATE:
		return true;
	default:
		return false;
	}
}

/* Copies what fits of the current message to the server. */
static bool relay_chunk(client_t *c, iobuf_t *in)
{
	link_t *sl = &c->server->link;
	size_t want = MIN(iobuf_len(in), c->fwd_remaining);
	uint8_t *at;
	size_t room = link_out_room(sl, &at);
	size_t k = MIN(room, want);
	if (k) {
		memcpy(at, iobuf_head(in), k);
		link_out_commit(sl, k);
		iobuf_consume(in, k);
		c->fwd_remaining -= (uint32_t)k;
	}
	if (k < want) {
		/* The server's queue is full: stop reading this client until
		 * it drains (server_on_drain -> client_resume). */
		link_pause_read(&c->link);
		return false;
	}
	return true;
}

/* Messages a client may send with no server: answered here. Returns true
 * when the message was consumed. */
static bool answer_locally(client_t *c, uint8_t type, uint32_t total)
{
	iobuf_t *in = c->link.in;
	if (c->pending_since_sync)
		return false;
	switch (type) {
	case FE_SYNC:
		iobuf_consume(in, total);
		send_ready(c, 'I');
		return true;
	case FE_FLUSH:
	case FE_COPY_DATA:
	case FE_COPY_DONE:
	case FE_COPY_FAIL:
		/* PostgreSQL ignores copy messages outside COPY; nothing pending
		 * means Flush has nothing to flush. */
		iobuf_consume(in, total);
		return true;
	default:
		return false;
	}
}

/* Skips the rest of a failed extended-protocol sequence, as PostgreSQL does
 * after an error: everything up to and including Sync. */
static void skip_message(client_t *c, iobuf_t *in, uint8_t type, uint32_t total)
{
	if (total > iobuf_len(in)) {
		c->fwd_remaining = 0;
		c->skip_bytes = total - (uint32_t)iobuf_len(in);
		iobuf_consume(in, iobuf_len(in));
		return;
	}
	iobuf_consume(in, total);
	if (type == FE_SYNC) {
		c->skip_until_sync = false;
		send_ready(c, 'I');
	}
}

static void note_forwarded(client_t *c, uint8_t type, uint32_t total)
{
	stats_slot_t *st = pool_stats(c->pool, c->link.worker->id);
	switch (type) {
	case FE_SYNC:
		c->pending_since_sync = false;
		break;
	case FE_PARSE:
		st->c.client_parse_count++;
		st->c.server_parse_count++;
		c->pending_since_sync = true;
		break;
	case FE_BIND:
		st->c.bind_count++;
		c->pending_since_sync = true;
		break;
	case FE_DESCRIBE: case FE_EXECUTE: case FE_CLOSE: case FE_FLUSH:
		c->pending_since_sync = true;
		break;
	default:
		break;
	}
	server_t *s = c->server;
	if (unlikely(s->retry_state != RETRY_NONE)) {
		iobuf_t *in = c->link.in;
		bool whole = in && iobuf_len(in) >= total;
		prepared_relay_capture(s, type, whole ? iobuf_head(in) : NULL, total, whole);
	}
	server_forwarded(s, type, total);
	c->fwd_remaining = total;
}

/* Whether a Parse, Bind, Describe or Close may name a prepared statement
 * (prepared_relay's business). Unnamed statements and portals, what drivers
 * send on the hot path, are told apart by their first bytes. */
static bool may_name_statement(iobuf_t *in, uint8_t type, uint32_t total)
{
	if (type != FE_PARSE && type != FE_BIND && type != FE_DESCRIBE && type != FE_CLOSE)
		return false;
	const uint8_t *body = iobuf_head(in) + PROTO_HEADER_LEN;
	size_t avail = MIN(iobuf_len(in), total) - PROTO_HEADER_LEN;
	if (avail < 2)
		return true; /* let prepared_relay wait for more */
	switch (type) {
	case FE_PARSE:
		return body[0] != '\0';
	case FE_BIND:
		return !(body[0] == '\0' && body[1] == '\0'); /* unnamed portal, unnamed statement */
	default:
		return body[0] == 'S' && body[1] != '\0';
	}
}

/* Replaces the Query at the head of `in` by one that fails with SQLSTATE
 * 0A000 on the server, so that the error, the transaction state and the
 * ReadyForQuery are exactly what PostgreSQL gives for a refused statement. */
static void refuse_query(client_t *c, iobuf_t *in, uint32_t total, const char *what)
{
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "DO $pgtide$BEGIN RAISE EXCEPTION USING ERRCODE = '0A000', MESSAGE = "
		 "'%s cannot be used in transaction pooling mode (transaction_mode_session_state = error)'; "
		 "END$pgtide$",
		 what);
	uint8_t mem[600];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	pktbuf_query(&pb, sql);
	iobuf_consume(in, total);
	link_write(&c->server->link, pb.data, pb.len);
	note_forwarded(c, FE_QUERY, (uint32_t)pb.len);
	c->fwd_remaining = 0;
}

/* A Query or Parse in transaction mode: notes whether it may change the
 * session (the server is asked after the transaction: session_state.h).
 * Returns false when the message was replaced (refused). */
static bool scan_session_effects(client_t *c, iobuf_t *in, uint8_t type, uint32_t total)
{
	if (total > iobuf_len(in)) {
		/* Streams through without being seen whole: assume the worst. */
		c->session_dirty = true;
		return true;
	}
	const char *text = (const char *)iobuf_head(in) + PROTO_HEADER_LEN;
	size_t len = total - PROTO_HEADER_LEN;
	if (type == FE_PARSE) {
		const char *z = memchr(text, '\0', len);
		if (!z)
			return true;
		len -= (size_t)(z + 1 - text);
		text = z + 1;
		const char *end = memchr(text, '\0', len);
		len = end ? (size_t)(end - text) : len;
	} else if (len > 0 && text[len - 1] == '\0') {
		len--; /* a Query is one string */
	}
	/* Drivers send the same unnamed Parse every transaction: one scan. */
	uint64_t hash = 0;
	bool unnamed_parse = type == FE_PARSE && iobuf_head(in)[PROTO_HEADER_LEN] == '\0';
	if (unnamed_parse) {
		hash = session_text_hash(text, len, rt_of(c)->text_hash_key);
		if (hash == c->clean_parse_hash)
			return true;
	}
	const char *what = NULL;
	uint32_t fx = session_scan_text(text, len, &c->txn_custom, &what);
	if (unnamed_parse && fx == 0)
		c->clean_parse_hash = hash;
	if (fx & SESSION_MAY_CHANGE)
		c->session_dirty = true;
	if ((fx & SESSION_CREATES_STATE) && type == FE_QUERY &&
	    cfg_of(c)->transaction_mode_session_state == SESSION_STATE_ERROR) {
		refuse_query(c, in, total, what ? what : "this statement");
		return false;
	}
	return true;
}

/* SQL "DEALLOCATE [PREPARE] name" of one of c's protocol-level statements,
 * which exist on servers only under pgtide's names: answered here, in
 * order, as PostgreSQL would. Returns true when the Query was consumed. */
static bool deallocate_own_statement(client_t *c, iobuf_t *in, uint32_t total)
{
	const char *text = (const char *)iobuf_head(in) + PROTO_HEADER_LEN;
	size_t len = total - PROTO_HEADER_LEN - 1;
	while (len && (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')) {
		text++;
		len--;
	}
	if (len < 10 || strncasecmp(text, "deallocate", 10) != 0)
		return false;
	sql_summary_t sum;
	sql_summarize(text, len, NULL, &sum);
	if (sum.n_statements != 1 || sum.first.cmd != SQL_CMD_DEALLOCATE || !sum.first.name[0])
		return false;
	ps_stmt_t *st = ps_map_find(&c->ps, sum.first.name, strlen(sum.first.name));
	if (!st)
		return false; /* an SQL-level statement: the server's business */
	char status = 'I';
	if (c->server) {
		server_t *s = c->server;
		if (!rq_empty(&s->rq) || s->tx_status == 'E' || s->internal_rfq)
			return false; /* answers in flight, or PostgreSQL would refuse */
		status = s->tx_status;
	}
	ps_map_remove(&c->ps, st);
	iobuf_consume(in, total);
	uint8_t mem[64];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	pktbuf_command_complete(&pb, "DEALLOCATE");
	link_write(&c->link, pb.data, pb.len);
	send_ready(c, status);
	return true;
}

/* One message at the head of the buffer; false to stop. */
static bool relay_step(client_t *c, iobuf_t *in)
{
	uint8_t type;
	uint32_t total;
	frame_result_t fr = proto_frame(iobuf_head(in), iobuf_len(in), (uint32_t)cfg_of(c)->max_packet_size,
					&type, &total);
	if (fr == FRAME_NEED_MORE)
		return false;
	if (fr == FRAME_BAD_LENGTH) {
		fatal(c, "08P01", "invalid message length (beyond max_packet_size?)");
		return false;
	}
	if (!is_frontend_type(type)) {
		char msg[80];
		snprintf(msg, sizeof(msg), "invalid frontend message type %d", type);
		fatal(c, "08P01", msg);
		return false;
	}
	if (type == FE_TERMINATE) {
		c->terminated = true;
		client_close(c, "client close request");
		return false;
	}
	if (c->skip_until_sync) {
		skip_message(c, in, type, total);
		return true;
	}
	if (c->is_admin) {
		if (total > iobuf_len(in)) {
			if (total > IOBUF_SIZE)
				fatal(c, "54000", "admin command too long");
			return false;
		}
		admin_message(c, type, iobuf_head(in) + PROTO_HEADER_LEN, total - PROTO_HEADER_LEN);
		if (c->state != CL_CLOSING && c->link.in)
			iobuf_consume(c->link.in, total);
		return c->state != CL_CLOSING;
	}
	if (type == FE_QUERY && c->ps.count && total <= iobuf_len(in) && !c->pending_since_sync &&
	    deallocate_own_statement(c, in, total))
		return true;
	if (!c->server) {
		if (total <= iobuf_len(in) && answer_locally(c, type, total))
			return true;
		if (c->waiting || c->server_incoming || !client_acquire(c))
			return false;
	} else if (c->route_hold && c->server->expected_rfq > 0 && !c->pending_since_sync) {
		/* On a replica for one read-only unit: what follows waits until
		 * the server answered, then goes wherever it belongs. */
		return false;
	}
	if ((type == FE_QUERY || type == FE_PARSE) && c->pool->pool_mode == POOL_MODE_TRANSACTION &&
	    !scan_session_effects(c, in, type, total))
		return true;
	if (c->server->rq_on && may_name_statement(in, type, total)) {
		switch (prepared_relay_client_message(c, in, type, total)) {
		case PSR_PASS:
			break;
		case PSR_DONE:
			return true;
		case PSR_NEED_MORE:
			return false;
		case PSR_TOO_LARGE:
			if (type != FE_PARSE) {
				fatal(c, "54000", "prepared statement or portal name too long");
				return false;
			}
			/* A named Parse longer than the buffer: gathered on the heap
			 * (rare; bounded by max_packet_size) and handled whole. */
			c->big_msg = xmalloc(total);
			c->big_total = total;
			c->big_have = 0;
			c->pending_since_sync = true; /* the server stays until its Sync */
			return true;
		}
	}
	note_forwarded(c, type, total);
	return true;
}

/* Adds what arrived of a large named Parse; hands it on once whole. */
static void gather_big_message(client_t *c, iobuf_t *in)
{
	size_t k = MIN(iobuf_len(in), c->big_total - c->big_have);
	memcpy(c->big_msg + c->big_have, iobuf_head(in), k);
	iobuf_consume(in, k);
	c->big_have += (uint32_t)k;
	if (c->big_have < c->big_total)
		return;
	uint8_t *msg = c->big_msg;
	c->big_msg = NULL;
	if (c->server)
		prepared_relay_parse(c, msg, c->big_total);
	free(msg);
}

/* Relays what c has buffered. Returns true when it stopped because the
 * server's output queue was full (c's reading is paused). */
static bool relay_buffered(client_t *c)
{
	for (;;) {
		iobuf_t *in = c->link.in;
		if (c->state != CL_READY || !in || iobuf_len(in) == 0)
			return false;
		if (c->skip_bytes) {
			size_t k = MIN(iobuf_len(in), c->skip_bytes);
			iobuf_consume(in, k);
			c->skip_bytes -= (uint32_t)k;
			continue;
		}
		if (c->big_msg) {
			gather_big_message(c, in);
			continue;
		}
		if (c->fwd_remaining) {
			if (!relay_chunk(c, in))
				return true;
			continue;
		}
		if (!relay_step(c, in))
			return false;
	}
}

static void client_relay(client_t *c)
{
	for (;;) {
		bool stalled = relay_buffered(c);
		if (c->state == CL_CLOSING)
			return;
		if (c->server)
			server_flush(c->server);
		/* The queue that stalled us (output pgtide generated, such as a
		 * large Parse, sits ahead of relayed bytes) may have gone out at
		 * once: then no write event will come to resume us. */
		if (!stalled || !c->server || link_out_pending(&c->server->link) > 0)
			break;
		link_resume_read(&c->link);
	}
	client_flush(c);
	if (c->link.in && iobuf_len(c->link.in) == 0)
		link_trim_input(&c->link);
	/* A full buffer while waiting: stop reading until a server comes. */
	if (c->link.in && iobuf_tail_room(c->link.in) == 0 && c->link.in->start == 0 && !c->server)
		link_pause_read(&c->link);
}

static void client_process_once(client_t *c);

/* Runs the state machine until it stops changing state: bytes that arrived
 * together with a login message belong to the next state. */
static void client_process(client_t *c)
{
	client_state_t before;
	do {
		before = c->state;
		client_process_once(c);
	} while (c->state != before && c->state != CL_CLOSING && c->state != CL_READY && c->link.in &&
		 iobuf_len(c->link.in) > 0);
}

static void client_process_once(client_t *c)
{
	switch (c->state) {
	case CL_TLS_HANDSHAKE:
		return;
	case CL_STARTUP:
		handle_startup(c);
		/* trust: logged in straight from the startup packet. */
		if (c->state == CL_READY)
			client_relay(c);
		break;
	case CL_AUTH:
		handle_auth_input(c);
		/* Anything the client pipelined after its password. */
		if (c->state == CL_READY)
			client_relay(c);
		break;
	case CL_LOGIN_SYNC:
		return; /* keep what the client sent until the login is done */
	case CL_READY:
		c->last_active = c->link.worker->now;
		client_relay(c);
		return;
	case CL_CLOSING:
		return;
	}
	if (c->state != CL_CLOSING)
		link_flush(&c->link);
}

static void client_on_read(link_t *l)
{
	client_t *c = l->owner;
	link_read_t r = link_read(l);
	if (r == LINK_READ_EOF || r == LINK_READ_ERROR) {
		client_close(c, r == LINK_READ_EOF ? "client closed the connection" : "client socket error");
		return;
	}
	if (r == LINK_READ_AGAIN && l->in && iobuf_tail_room(l->in) == 0 && l->in->start == 0) {
		/* Buffer full and nothing consumable: stop until progress. */
		link_pause_read(l);
	}
	/* Login packets longer than the buffer are malformed by definition. */
	if ((c->state == CL_STARTUP || c->state == CL_AUTH) && l->in && iobuf_len(l->in) > PROTO_MAX_STARTUP_LEN) {
		fatal(c, "08P01", "startup packet too long");
		return;
	}
	client_process(c);
}

static void client_on_drain(link_t *l)
{
	client_t *c = l->owner;
	if (c->wants_close) {
		client_close(c, "closing after error");
		return;
	}
	/* The client read its answers: the server may send more. */
	if (c->server)
		server_resume(c->server);
}

void client_resume(client_t *c)
{
	if (c->state != CL_READY)
		return;
	link_resume_read(&c->link);
	client_relay(c);
}

void client_continue(client_t *c)
{
	if (c->state != CL_READY)
		return;
	if (!c->server)
		drop_replay(c); /* the unit was answered: its server let go */
	link_resume_read(&c->link);
	client_relay(c);
}

/* ---- failures ---- */

void client_server_lost(client_t *c, const char *sqlstate, const char *msg)
{
	if (c->state == CL_CLOSING)
		return;
	c->server = NULL;
	fatal(c, sqlstate, msg);
}

void client_fail_request(client_t *c, const char *sqlstate, const char *msg, bool is_fatal)
{
	if (c->state == CL_CLOSING)
		return;
	if (is_fatal || c->state != CL_READY) {
		fatal(c, sqlstate, msg);
		return;
	}
	send_error(c, "ERROR", sqlstate, msg);
	iobuf_t *in = c->link.in;
	uint8_t type;
	uint32_t total;
	if (in && proto_frame(iobuf_head(in), iobuf_len(in), UINT32_MAX, &type, &total) == FRAME_OK &&
	    type == FE_QUERY) {
		/* A simple query is one request: drop it and say Ready. */
		if (total <= iobuf_len(in))
			iobuf_consume(in, total);
		else {
			c->skip_bytes = total - (uint32_t)iobuf_len(in);
			iobuf_consume(in, iobuf_len(in));
		}
		send_ready(c, 'I');
	} else {
		c->skip_until_sync = true;
		c->pending_since_sync = false;
	}
	client_relay(c);
	link_flush(&c->link);
}

void client_route_resume(client_t *c)
{
	if (c->state == CL_READY && c->server && c->link.in && iobuf_len(c->link.in))
		client_relay(c);
}

void client_retry_fn(worker_t *w, void *a, void *b)
{
	client_t *c = a;
	if (pool_client_unref(c->pool, c)) {
		client_free_deferred(c);
		return;
	}
	if (c->state == CL_READY)
		client_relay(c);
	else if (c->state == CL_LOGIN_SYNC && client_acquire(c))
		server_flush(c->server);
}

void client_login_refused_fn(worker_t *w, void *a, void *b)
{
	client_t *c = a;
	if (pool_client_unref(c->pool, c)) {
		client_free_deferred(c);
		return;
	}
	pool_t *p = c->pool;
	char msg[300];
	pool_stats(p, w->id)->c.wait_failed_count++;
	pool_lock(p);
	snprintf(msg, sizeof(msg), "server login failed: %s", p->last_login_error);
	char sqlstate[6];
	strlcpy_ok(sqlstate, p->last_login_sqlstate[0] ? p->last_login_sqlstate : "08006", sizeof(sqlstate));
	pool_unlock(p);
	client_fail_request(c, sqlstate, c->state == CL_LOGIN_SYNC ? p->last_login_error : msg,
			    c->state != CL_READY);
}

void client_cancel_wait_fn(worker_t *w, void *a, void *b)
{
	client_t *c = a;
	if (pool_client_unref(c->pool, c)) {
		client_free_deferred(c);
		return;
	}
	pool_stats(c->pool, w->id)->c.wait_canceled_count++;
	client_fail_request(c, "57014", "canceling statement due to user request", false);
}

/* ---- janitor ---- */

static void client_tick_one(client_t *c, const config_t *cfg, usec_t now)
{
	switch (c->state) {
	case CL_TLS_HANDSHAKE:
		/* No error message: the handshake never finished. */
		if (cfg->client_login_timeout > 0 && now - c->created > cfg->client_login_timeout)
			client_close(c, "client_login_timeout: TLS handshake not finished in time");
		return;
	case CL_STARTUP:
	case CL_AUTH:
		if (cfg->client_login_timeout > 0 && now - c->created > cfg->client_login_timeout)
			fatal(c, "08P01", "client_login_timeout: login not finished in time");
		return;
	case CL_LOGIN_SYNC:
	case CL_READY:
		if (c->is_admin) {
			admin_tick(c);
			return;
		}
		if (c->waiting && cfg->query_wait_timeout > 0 && now - c->wait_start > cfg->query_wait_timeout &&
		    pool_cancel_wait(c->pool, c)) {
			pool_stats(c->pool, c->link.worker->id)->c.wait_timeout_count++;
			client_fail_request(c, "57014",
					    "query_wait_timeout: no server connection became available in time",
					    c->state != CL_READY);
			return;
		}
		if (c->state == CL_READY && !c->server && !c->waiting && cfg->client_idle_timeout > 0 &&
		    now - c->last_active > cfg->client_idle_timeout) {
			fatal(c, "57P05", "client_idle_timeout: connection closed after being idle");
			return;
		}
		if (c->server && cfg->query_timeout > 0 && c->server->expected_rfq > 0 &&
		    now - c->server->query_start > cfg->query_timeout) {
			fatal(c, "57014", "query_timeout: query ran for too long");
			return;
		}
		if (c->server && c->server->tx_status != 'I' && cfg->idle_transaction_timeout > 0 &&
		    c->server->expected_rfq == 0 && now - c->last_active > cfg->idle_transaction_timeout) {
			fatal(c, "25P03", "idle_transaction_timeout: idle in transaction for too long");
			return;
		}
		return;
	case CL_CLOSING:
		return;
	}
}

/* ---- moving between workers (balance.c decides when) ---- */

/* Between transactions, with nothing buffered, a client is a socket and the
 * bookkeeping of its session, none of which belongs to a thread: it can
 * change workers. Admin sessions and clients that hold a server stay. */
static bool client_is_movable(const client_t *c)
{
	return c->state == CL_READY && !c->is_admin && c->pool && !c->server && !c->waiting && !c->wants_close &&
	       !c->terminated && !c->pending_since_sync && !c->route_hold && !c->replay && !c->ryw_pending &&
	       !c->big_msg && c->fwd_remaining == 0 && c->skip_bytes == 0 && !link_has_buffered(&c->link);
}

static void client_arrive_fn(worker_t *w, void *a, void *b)
{
	client_t *c = a;
	list_push_back(&w->clients, &c->worker_node);
	link_attach(&c->link, w);
	/* Drops the reference client_move took. Nothing closed it on the way
	 * (only its own worker closes a client, and it had none), so the
	 * answer "free it now" cannot come back. */
	(void)pool_client_unref(c->pool, c);
}

bool client_move(client_t *c, worker_t *to)
{
	if (to == c->link.worker || !client_is_movable(c))
		return false;
	link_release_buffers(&c->link);
	pool_t *p = c->pool;
	pool_lock(p);
	/* inflight == 0: no mailbox message points to it, so nothing can run
	 * for it on the old worker. Its new worker is published under the pool
	 * lock and the arrival posted before the lock is released: whoever
	 * finds it next (cancel, KILL_CLIENT, SHOW CLIENTS) posts behind the
	 * arrival on the new worker. */
	bool ok = c->inflight == 0 && !c->waiting && !c->server && !c->server_incoming;
	if (ok) {
		link_detach(&c->link);
		list_del(&c->worker_node);
		c->link.worker = to;
		c->inflight++;
		worker_post_async(to, client_arrive_fn, c, NULL);
	}
	pool_unlock(p);
	return ok;
}

void client_tick(worker_t *w, usec_t now)
{
	const config_t *cfg = runtime_cfg(w->rt);
	list_node_t *n, *tmp;
	list_for_each_safe(n, tmp, &w->clients) {
		client_t *c = list_entry(n, client_t, worker_node);
		client_tick_one(c, cfg, now);
	}
}

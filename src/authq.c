/*
 * authq.c - auth_query lookups over libpq's asynchronous API, driven by the
 * worker's event loop, and the cache of their answers (see authq.h).
 *
 * Nothing the client sends steers the lookup beyond the user name, which
 * travels only as the query's bind parameter $1. The connection is made
 * with a fixed search_path (pg_catalog), expand_dbname off (a database
 * name is never parsed as a connection string) and no GSSAPI.
 *
 * Threading: a lookup belongs to the worker whose loop runs it; the cache
 * is shared and has its own mutex, held only for the copy in or out.
 */
#include "authq.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "clock.h"

#define AUTHQ_CACHE_MAX 4096          /* entries; the oldest go first when full */
#define AUTHQ_DEFAULT_TIMEOUT (15 * USEC_PER_SEC)
#define AUTHQ_KEY_MAX 512
#define AUTHQ_MAX_INFLIGHT 32         /* lookups (server connections) at once, all workers */

typedef struct cache_entry {
	char *key;            /* server, database and user name (make_key) */
	char *secret;         /* NULL = no such user */
	usec_t expires;       /* monotonic */
} cache_entry_t;

typedef struct lookup lookup_t;

struct authq_cache {
	pthread_mutex_t lock;
	cache_entry_t *entries;
	size_t n;
	lookup_t *inflight;   /* lookups running, on any worker */
	int ninflight;        /* including ones being started */
};

typedef enum { PH_CONNECTING, PH_FLUSHING, PH_READING } phase_t;

/* One client waiting for a lookup: what authq_start hands out. */
struct authq {
	authq_t *next;
	lookup_t *l;
	authq_done_fn done;
	void *arg;
};

/* One lookup (one server connection), shared by the clients of its worker
 * asking for the same user at the same time. */
struct lookup {
	lookup_t *next_inflight; /* cache->inflight (cache lock) */
	authq_t *waiters;        /* touched by the owning worker only */
	struct event_base *base;
	struct event *ev;
	PGconn *conn;
	phase_t phase;
	usec_t deadline;
	authq_cache_t *cache;
	usec_t ttl;
	char *key;
	char *user;
	char *query;
	/* the answer, once a result came */
	bool have_answer;
	authq_result_t result;
	char secret[AUTHQ_SECRET_MAX];
	char err[256];
};

/* ---- cache ---- */

authq_cache_t *authq_cache_new(void)
{
	authq_cache_t *c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

static void entry_clear(cache_entry_t *e)
{
	free(e->key);
	if (e->secret) {
		OPENSSL_cleanse(e->secret, strlen(e->secret));
		free(e->secret);
	}
}

void authq_cache_free(authq_cache_t *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		entry_clear(&c->entries[i]);
	free(c->entries);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Where a lookup for db_name goes: the [databases] entry's server. */
typedef struct target {
	const db_config_t *db;
	const char *host;
	int port;
	const char *dbname;
} target_t;

static bool resolve_target(const config_t *cfg, const char *db_name, target_t *t)
{
	t->db = config_find_db(cfg, db_name);
	if (!t->db)
		return false;
	t->host = t->db->host ? t->db->host : "127.0.0.1";
	t->port = t->db->port > 0 ? t->db->port : 5432;
	t->dbname = t->db->dbname ? t->db->dbname : db_name;
	return true;
}

static bool make_key(const target_t *t, const char *user, char *key, size_t cap)
{
	/* length-prefixed: names may contain any separator */
	int n = snprintf(key, cap, "%zu:%s:%d:%zu:%s:%s", strlen(t->host), t->host, t->port, strlen(t->dbname),
			 t->dbname, user);
	return n > 0 && (size_t)n < cap;
}

bool authq_cache_get(authq_cache_t *c, const config_t *cfg, const char *db_name, const char *user,
		     authq_result_t *r, char *secret)
{
	char key[AUTHQ_KEY_MAX];
	target_t t;
	bool hit = false;

	if (cfg->auth_dbname)
		db_name = cfg->auth_dbname;
	if (cfg->auth_query_cache_ttl <= 0 || !resolve_target(cfg, db_name, &t) ||
	    !make_key(&t, user, key, sizeof(key)))
		return false;
	usec_t now = clock_mono_usec();
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n; i++) {
		cache_entry_t *e = &c->entries[i];
		if (strcmp(e->key, key) != 0)
			continue;
		if (e->expires > now) {
			hit = true;
			*r = e->secret ? AUTHQ_FOUND : AUTHQ_NOT_FOUND;
			if (e->secret)
				strlcpy_ok(secret, e->secret, AUTHQ_SECRET_MAX);
		}
		break;
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

static void cache_remove_at(authq_cache_t *c, size_t i)
{
	entry_clear(&c->entries[i]);
	memmove(&c->entries[i], &c->entries[i + 1], (c->n - i - 1) * sizeof(*c->entries));
	c->n--;
}

static void cache_put(authq_cache_t *c, const char *key, const char *secret, usec_t ttl)
{
	usec_t now = clock_mono_usec();

	if (ttl <= 0)
		return;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n;) {
		/* the old answer for this key, and anything expired, go */
		if (strcmp(c->entries[i].key, key) == 0 || c->entries[i].expires <= now)
			cache_remove_at(c, i);
		else
			i++;
	}
	if (c->n == AUTHQ_CACHE_MAX)
		cache_remove_at(c, 0); /* entries are in insertion order: the oldest */
	c->entries = xrealloc(c->entries, (c->n + 1) * sizeof(*c->entries));
	c->entries[c->n].key = xstrdup(key);
	c->entries[c->n].secret = secret ? xstrdup(secret) : NULL;
	c->entries[c->n].expires = now + ttl;
	c->n++;
	pthread_mutex_unlock(&c->lock);
}

/* ---- one lookup ---- */

static void q_free(lookup_t *q)
{
	if (q->ev)
		event_free(q->ev);
	if (q->conn)
		PQfinish(q->conn);
	free(q->key);
	free(q->user);
	free(q->query);
	OPENSSL_cleanse(q->secret, sizeof(q->secret));
	free(q);
}

/* Takes q off the in-flight list and frees its slot. */
static void inflight_remove(lookup_t *q)
{
	authq_cache_t *c = q->cache;
	pthread_mutex_lock(&c->lock);
	for (lookup_t **pp = &c->inflight; *pp; pp = &(*pp)->next_inflight) {
		if (*pp == q) {
			*pp = q->next_inflight;
			break;
		}
	}
	c->ninflight--;
	pthread_mutex_unlock(&c->lock);
}

void authq_cancel(authq_t *w)
{
	if (!w)
		return;
	lookup_t *q = w->l;
	for (authq_t **pp = &q->waiters; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	free(w);
	if (!q->waiters) {
		/* nobody wants the answer any more */
		inflight_remove(q);
		q_free(q);
	}
}

/* Reports the answer to every waiter and frees the lookup (before calling
 * them, so a callback may do anything, including closing its client). */
static void finish(lookup_t *q, authq_result_t r, const char *err)
{
	char secret[AUTHQ_SECRET_MAX];
	char errbuf[300];
	authq_t *w = q->waiters;

	secret[0] = errbuf[0] = '\0';
	if (r == AUTHQ_FOUND)
		strlcpy_ok(secret, q->secret, sizeof(secret));
	if (err) {
		/* libpq messages end with a newline */
		strlcpy_ok(errbuf, err, sizeof(errbuf));
		errbuf[strcspn(errbuf, "\n")] = '\0';
	}
	if (r != AUTHQ_ERROR)
		cache_put(q->cache, q->key, r == AUTHQ_FOUND ? secret : NULL, q->ttl);
	inflight_remove(q);
	q_free(q);
	while (w) {
		authq_t *next = w->next;
		authq_done_fn done = w->done;
		void *arg = w->arg;
		free(w);
		done(arg, r, r == AUTHQ_FOUND ? secret : NULL, r == AUTHQ_ERROR ? errbuf : NULL);
		w = next;
	}
	OPENSSL_cleanse(secret, sizeof(secret));
}

static void on_event(evutil_socket_t fd, short what, void *arg);

/* Waits for the socket libpq uses now (it may change while connecting). */
static bool wait_for(lookup_t *q, short what)
{
	int fd = PQsocket(q->conn);
	usec_t left = q->deadline - clock_mono_usec();

	if (q->ev) {
		event_free(q->ev);
		q->ev = NULL;
	}
	if (fd < 0 || left <= 0)
		return false;
	q->ev = event_new(q->base, fd, what, on_event, q);
	struct timeval tv = { (time_t)(left / USEC_PER_SEC), (suseconds_t)(left % USEC_PER_SEC) };
	return q->ev && event_add(q->ev, &tv) == 0;
}

/* Reads one result into the answer. */
static void take_result(lookup_t *q, PGresult *res)
{
	if (q->have_answer)
		return; /* only the first result counts; later ones are drained */
	q->have_answer = true;
	q->result = AUTHQ_ERROR;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(q->err, sizeof(q->err), "auth_query failed: %s", PQresultErrorMessage(res));
		return;
	}
	if (PQnfields(res) != 2) {
		snprintf(q->err, sizeof(q->err), "auth_query must return two columns (user name, password)");
		return;
	}
	if (PQntuples(res) > 1) {
		snprintf(q->err, sizeof(q->err), "auth_query returned more than one row");
		return;
	}
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 1) || PQgetvalue(res, 0, 1)[0] == '\0') {
		q->result = AUTHQ_NOT_FOUND;
		return;
	}
	if (!strlcpy_ok(q->secret, PQgetvalue(res, 0, 1), sizeof(q->secret))) {
		snprintf(q->err, sizeof(q->err), "auth_query returned a password longer than %d bytes",
			 AUTHQ_SECRET_MAX - 1);
		return;
	}
	q->result = AUTHQ_FOUND;
}

static void send_query(lookup_t *q)
{
	const char *values[1] = { q->user };

	if (PQsetnonblocking(q->conn, 1) != 0 ||
	    !PQsendQueryParams(q->conn, q->query, 1, NULL, values, NULL, NULL, 0)) {
		finish(q, AUTHQ_ERROR, PQerrorMessage(q->conn));
		return;
	}
	q->phase = PH_FLUSHING;
}

static void step(lookup_t *q, short what)
{
	if (what & EV_TIMEOUT) {
		finish(q, AUTHQ_ERROR, "auth_query timed out (server_connect_timeout)");
		return;
	}
	if (q->phase == PH_CONNECTING) {
		PostgresPollingStatusType st = PQconnectPoll(q->conn);
		if (st == PGRES_POLLING_FAILED) {
			finish(q, AUTHQ_ERROR, PQerrorMessage(q->conn));
			return;
		}
		if (st != PGRES_POLLING_OK) {
			if (!wait_for(q, st == PGRES_POLLING_READING ? EV_READ : EV_WRITE))
				finish(q, AUTHQ_ERROR, "auth_query: cannot wait for the connection");
			return;
		}
		send_query(q);
		if (q->phase != PH_FLUSHING)
			return;
		what = EV_WRITE;
	}
	if (q->phase == PH_FLUSHING) {
		if ((what & EV_READ) && !PQconsumeInput(q->conn)) {
			finish(q, AUTHQ_ERROR, PQerrorMessage(q->conn));
			return;
		}
		int f = PQflush(q->conn);
		if (f < 0) {
			finish(q, AUTHQ_ERROR, PQerrorMessage(q->conn));
			return;
		}
		if (f == 1) {
			if (!wait_for(q, EV_READ | EV_WRITE))
				finish(q, AUTHQ_ERROR, "auth_query: cannot wait for the connection");
			return;
		}
		q->phase = PH_READING;
		what = EV_READ;
	}
	if (!PQconsumeInput(q->conn)) {
		finish(q, AUTHQ_ERROR, PQerrorMessage(q->conn));
		return;
	}
	while (!PQisBusy(q->conn)) {
		PGresult *res = PQgetResult(q->conn);
		if (!res) {
			if (!q->have_answer)
				finish(q, AUTHQ_ERROR, "auth_query returned no result");
			else
				finish(q, q->result, q->result == AUTHQ_ERROR ? q->err : NULL);
			return;
		}
		take_result(q, res);
		PQclear(res);
	}
	if (!wait_for(q, EV_READ))
		finish(q, AUTHQ_ERROR, "auth_query: cannot wait for the connection");
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
	step(arg, what);
}

/* Server notices (and warnings) on the lookup connection are not ours to print. */
static void ignore_notice(void *arg, const char *message)
{
}

/* Opens the lookup's connection (not yet on the in-flight list). */
static lookup_t *start_lookup(struct event_base *base, authq_cache_t *cache, const config_t *cfg,
			      const target_t *tp, const char *key, const char *user, char *err, size_t errlen)
{
	const target_t t = *tp;
	char port[16];
	lookup_t *q;
	const char *pw = config_find_user_secret(cfg, cfg->auth_user);
	if (pw && auth_secret_kind(pw) != SECRET_PLAIN) {
		snprintf(err, errlen,
			 "auth_query: auth_user \"%s\" needs a plain password in auth_file (libpq cannot log in with a hash)",
			 cfg->auth_user);
		return NULL;
	}
	int mode = t.host[0] == '/' ? TLS_MODE_DISABLE : config_db_sslmode(cfg, t.db);
	snprintf(port, sizeof(port), "%d", t.port);
	const char *keys[16], *vals[16];
	int n = 0;
#define KV(k, v)                 \
	do {                     \
		keys[n] = (k);   \
		vals[n] = (v);   \
		n++;             \
	} while (0)
	KV("host", t.host);
	KV("port", port);
	KV("dbname", t.dbname);
	KV("user", cfg->auth_user);
	if (pw)
		KV("password", pw);
	KV("options", "-c search_path=pg_catalog");
	KV("application_name", "pgtide auth_query");
	KV("gssencmode", "disable");
	KV("sslmode", config_tls_mode_names[mode]);
	if (cfg->server_tls_ca_file)
		KV("sslrootcert", cfg->server_tls_ca_file);
	if (cfg->server_tls_cert_file)
		KV("sslcert", cfg->server_tls_cert_file);
	if (cfg->server_tls_key_file)
		KV("sslkey", cfg->server_tls_key_file);
	KV(NULL, NULL);
#undef KV

	q = xcalloc(1, sizeof(*q));
	q->base = base;
	q->cache = cache;
	q->ttl = cfg->auth_query_cache_ttl;
	q->key = xstrdup(key);
	q->user = xstrdup(user);
	q->query = xstrdup(cfg->auth_query);
	q->phase = PH_CONNECTING;
	q->deadline = clock_mono_usec() +
		      (cfg->server_connect_timeout > 0 ? cfg->server_connect_timeout : AUTHQ_DEFAULT_TIMEOUT);
	q->conn = PQconnectStartParams(keys, vals, 0);
	if (!q->conn || PQstatus(q->conn) == CONNECTION_BAD) {
		snprintf(err, errlen, "auth_query: %s", q->conn ? PQerrorMessage(q->conn) : "out of memory");
		err[strcspn(err, "\n")] = '\0';
		q_free(q);
		return NULL;
	}
	PQsetNoticeProcessor(q->conn, ignore_notice, NULL);
	/* libpq: start as if PQconnectPoll had asked for writability. */
	if (!wait_for(q, EV_WRITE)) {
		snprintf(err, errlen, "auth_query: cannot wait for the connection");
		q_free(q);
		return NULL;
	}
	return q;
}

authq_t *authq_start(struct event_base *base, authq_cache_t *cache, const config_t *cfg,
		     const char *db_name, const char *user, authq_done_fn done, void *arg, char *err,
		     size_t errlen)
{
	char key[AUTHQ_KEY_MAX];
	target_t t;

	if (!cfg->auth_user || !cfg->auth_query) {
		snprintf(err, errlen, "auth_user or auth_query is not set");
		return NULL;
	}
	const char *lookup_db = cfg->auth_dbname ? cfg->auth_dbname : db_name;
	if (!resolve_target(cfg, lookup_db, &t)) {
		snprintf(err, errlen, "auth_query: no [databases] entry for database \"%s\"", lookup_db);
		return NULL;
	}
	if (!make_key(&t, user, key, sizeof(key))) {
		snprintf(err, errlen, "auth_query: names too long");
		return NULL;
	}
	authq_t *w = xcalloc(1, sizeof(*w));
	w->done = done;
	w->arg = arg;
	/* The same user asked for on this worker already: wait for that. */
	pthread_mutex_lock(&cache->lock);
	for (lookup_t *l = cache->inflight; l; l = l->next_inflight) {
		if (l->base == base && strcmp(l->key, key) == 0) {
			w->l = l;
			w->next = l->waiters;
			l->waiters = w;
			break;
		}
	}
	bool full = !w->l && cache->ninflight >= AUTHQ_MAX_INFLIGHT;
	if (!w->l && !full)
		cache->ninflight++; /* a slot for the lookup started below */
	pthread_mutex_unlock(&cache->lock);
	if (w->l)
		return w;
	if (full) {
		free(w);
		snprintf(err, errlen, "auth_query: %d lookups already running", AUTHQ_MAX_INFLIGHT);
		return NULL;
	}
	lookup_t *q = start_lookup(base, cache, cfg, &t, key, user, err, errlen);
	if (!q) {
		free(w);
		pthread_mutex_lock(&cache->lock);
		cache->ninflight--;
		pthread_mutex_unlock(&cache->lock);
		return NULL;
	}
	w->l = q;
	q->waiters = w;
	pthread_mutex_lock(&cache->lock);
	q->next_inflight = cache->inflight;
	cache->inflight = q;
	pthread_mutex_unlock(&cache->lock);
	return w;
}

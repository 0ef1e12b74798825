/*
 * pool.c - pools, their server lists and their wait queues.
 *
 * Invariant: a server is in exactly one of a pool's lists and its state says
 * which; a client is in the wait queue exactly when c->waiting. Both change
 * only under the pool lock, so SHOW POOLS is a set of counters.
 */
#include "pool.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "clock.h"
#include "log.h"
#include "pktbuf.h"
#include "replica.h"
#include "server.h"
#include "worker.h"

static pool_t *pool_new(runtime_t *rt, const config_t *cfg, const db_config_t *db, const char *dbname,
			const char *user)
{
	pool_t *p = xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->own_lock, NULL);
	p->lockp = &p->own_lock;
	p->rt = rt;
	p->dbname = xstrdup(dbname);
	p->user = xstrdup(user);
	p->host = xstrdup(db->host ? db->host : "127.0.0.1");
	p->port = db->port > 0 ? db->port : 5432;
	p->server_dbname = xstrdup(db->dbname ? db->dbname : dbname);
	p->server_user = xstrdup(db->user ? db->user : user);
	const char *pw = db->password ? db->password : config_find_user_secret(cfg, p->server_user);
	p->server_password = pw ? xstrdup(pw) : NULL;
	p->pool_mode = config_db_pool_mode(cfg, db);
	p->pool_size = config_db_pool_size(cfg, db);
	p->min_pool_size = db->min_pool_size >= 0 ? db->min_pool_size : cfg->min_pool_size;
	p->reserve_pool_size = db->reserve_pool >= 0 ? db->reserve_pool : cfg->reserve_pool_size;
	p->max_db_connections = config_db_max_connections(cfg, db);
	p->read_routing = db->read_routing;
	p->replica_fallback = db->replica_fallback;
	p->read_your_writes = db->read_your_writes;
	p->db_count = runtime_conn_count(&rt->db_counts, dbname);
	p->user_count = runtime_conn_count(&rt->user_counts, p->server_user);
	for (int i = 0; i < MAX_WORKERS; i++)
		list_init(&p->idle[i]);
	list_init(&p->active);
	list_init(&p->login);
	list_init(&p->busy);
	list_init(&p->waiters);
	list_init(&p->clients);
	p->period_start = p->busy_sampled_at = clock_mono_usec();
	p->stats = aligned_alloc(64, sizeof(stats_slot_t) * (size_t)rt->nworkers);
	memset(p->stats, 0, sizeof(stats_slot_t) * (size_t)rt->nworkers);
	return p;
}

static void pool_free(pool_t *p)
{
	free(p->dbname);
	free(p->user);
	free(p->host);
	free(p->server_dbname);
	free(p->server_user);
	free(p->server_password);
	if (p->query_secret) {
		OPENSSL_cleanse(p->query_secret, strlen(p->query_secret));
		free(p->query_secret);
	}
	free(p->welcome);
	free(p->welcome_msgs);
	OPENSSL_cleanse(p->scram_client_key, sizeof(p->scram_client_key));
	param_set_clear(&p->defaults);
	for (int i = 0; i < p->n_norm; i++) {
		free(p->norm_cache[i].raw);
		free(p->norm_cache[i].norm);
	}
	free(p->stats);
	pthread_mutex_destroy(&p->own_lock);
	free(p);
}

/* One pool per replica of p's database, in the registry after p (pools_lock
 * held). */
static void add_replica_pools(runtime_t *rt, const config_t *cfg, const db_config_t *db, pool_t *p)
{
	replica_set_t *set = replica_set_get(rt, cfg, db, p->dbname);
	p->rset = set;
	for (int i = 0; i < set->n; i++) {
		pool_t *rp = pool_new(rt, cfg, db, p->dbname, p->user);
		char key[sizeof(rp->db_count->name)];
		free(rp->host);
		rp->host = xstrdup(set->r[i].host);
		rp->port = set->r[i].port;
		rp->role = POOL_ROLE_REPLICA;
		rp->primary = p;
		rp->replica = &set->r[i];
		rp->rset = set;
		rp->lockp = p->lockp;
		rp->paused = p->paused;
		/* max_db_connections counts each server of the database apart. */
		snprintf(key, sizeof(key), "%s@%s:%d", p->dbname, rp->host, rp->port);
		rp->db_count = runtime_conn_count(&rt->db_counts, key);
		p->replicas[p->n_replicas++] = rp;
		list_push_back(&rt->pools, &rp->rt_node);
		rt->npools++;
	}
}

pool_t *pool_get(runtime_t *rt, const config_t *cfg, const char *dbname, const char *user,
		 const char **sqlstate, char *errmsg, size_t errlen)
{
	const db_config_t *db = config_find_db(cfg, dbname);
	if (!db) {
		*sqlstate = "3D000";
		snprintf(errmsg, errlen, "database \"%s\" does not exist", dbname);
		return NULL;
	}
	/* A database with user= forces one server user: one pool for all its
	 * clients, as PgBouncer does. */
	if (db->user)
		user = db->user;
	pthread_mutex_lock(&rt->pools_lock);
	list_node_t *n;
	list_for_each(n, &rt->pools) {
		pool_t *p = list_entry(n, pool_t, rt_node);
		if (p->role == POOL_ROLE_PRIMARY && strcmp(p->dbname, dbname) == 0 && strcmp(p->user, user) == 0) {
			pthread_mutex_unlock(&rt->pools_lock);
			return p;
		}
	}
	pool_t *p = pool_new(rt, cfg, db, dbname, user);
	p->paused = name_set_contains(&rt->paused_dbs, dbname);
	list_push_back(&rt->pools, &p->rt_node);
	rt->npools++;
	if (config_db_replica_count(db) > 0)
		add_replica_pools(rt, cfg, db, p);
	pthread_mutex_unlock(&rt->pools_lock);
	return p;
}

void pool_free_all(runtime_t *rt)
{
	list_node_t *n;
	while ((n = list_pop_front(&rt->pools)) != NULL)
		pool_free(list_entry(n, pool_t, rt_node));
	rt->npools = 0;
}

/* Removes s from whichever state list it is in. */
static void unlist(pool_t *p, server_t *s)
{
	switch (s->state) {
	case SV_CONNECTING:
	case SV_LOGIN:
		p->n_login--;
		break;
	case SV_IDLE:
		p->n_idle--;
		break;
	case SV_ACTIVE:
		p->n_active--;
		break;
	case SV_RESETTING:
	case SV_CANCEL_WAIT:
	case SV_MOVING:
		p->n_busy--;
		break;
	case SV_CLOSED:
		return;
	}
	list_del(&s->pool_node);
}

static void enlist(pool_t *p, server_t *s, server_state_t state)
{
	s->state = state;
	switch (state) {
	case SV_CONNECTING:
	case SV_LOGIN:
		p->n_login++;
		list_push_back(&p->login, &s->pool_node);
		break;
	case SV_IDLE:
		p->n_idle++;
		list_push_front(&p->idle[s->link.worker->id], &s->pool_node);
		break;
	case SV_ACTIVE:
		p->n_active++;
		list_push_back(&p->active, &s->pool_node);
		break;
	case SV_RESETTING:
	case SV_CANCEL_WAIT:
	case SV_MOVING:
		p->n_busy++;
		list_push_back(&p->busy, &s->pool_node);
		break;
	case SV_CLOSED:
		break;
	}
}

static void enqueue(pool_t *p, client_t *c, usec_t now)
{
	if (!c->waiting) {
		c->waiting = true;
		c->wait_start = now;
		c->wait_pool = p;
		list_push_back(&p->waiters, &c->wait_node);
		p->n_waiting++;
	}
}

/* From the queue it is in: c->pool's or one of its replica pools' (all under
 * the one lock the caller holds). */
static void dequeue(pool_t *p, client_t *c)
{
	(void)p;
	if (c->waiting) {
		c->waiting = false;
		list_del(&c->wait_node);
		c->wait_pool->n_waiting--;
	}
}

/* Counts one more server against the database and user limits, or refuses. */
static bool take_login_slot(pool_t *p, const config_t *cfg)
{
	int user_max = cfg->max_user_connections;
	if (p->max_db_connections > 0 && atomic_load(&p->db_count->count) >= p->max_db_connections)
		return false;
	if (user_max > 0 && atomic_load(&p->user_count->count) >= user_max)
		return false;
	atomic_fetch_add(&p->db_count->count, 1);
	atomic_fetch_add(&p->user_count->count, 1);
	p->n_login++;
	p->pool_reserved_logins++;
	return true;
}

/* A server stopped counting (closed). */
static void drop_login_slot(pool_t *p)
{
	atomic_fetch_sub(&p->db_count->count, 1);
	atomic_fetch_sub(&p->user_count->count, 1);
}

/* Whether one more server connection may be opened for the waiters.
 * The slot is taken by counting a login that server_connect then fills. */
static bool reserve_connect(pool_t *p, usec_t now)
{
	const config_t *cfg = runtime_cfg(p->rt);
	/* A paused pool is being emptied: no new connections until RESUME. */
	if (p->paused || atomic_load(&p->rt->paused))
		return false;
	int limit = p->pool_size;
	if (p->reserve_pool_size > 0 && !list_empty(&p->waiters)) {
		client_t *oldest = list_entry(list_first(&p->waiters), client_t, wait_node);
		if (now - oldest->wait_start >= cfg->reserve_pool_timeout)
			limit += p->reserve_pool_size;
	}
	if (limit > 0 && pool_server_count(p) >= limit)
		return false;
	if (p->n_login >= p->n_waiting)
		return false;
	if (p->last_login_failure && now - p->last_login_failure < cfg->server_login_retry)
		return false;
	return take_login_slot(p, cfg);
}

void pool_server_added(pool_t *p, server_t *s)
{
	pool_lock(p);
	s->generation = p->generation;
	s->target.host = xstrdup(p->host);
	s->target.port = p->port;
	s->target.dbname = xstrdup(p->server_dbname);
	s->target.user = xstrdup(p->server_user);
	s->target.password = p->server_password ? xstrdup(p->server_password) : NULL;
	if (p->pool_reserved_logins > 0) {
		p->pool_reserved_logins--;
		p->n_login--;
	}
	enlist(p, s, SV_CONNECTING);
	pool_unlock(p);
}

static server_t *take_idle(pool_t *p, int worker_id, int nworkers, bool *local)
{
	list_node_t *n = list_first(&p->idle[worker_id]);
	*local = n != NULL;
	for (int i = 0; !n && i < nworkers; i++)
		n = list_first(&p->idle[i]);
	return n ? list_entry(n, server_t, pool_node) : NULL;
}

/* Links s to c under the lock: local hand-off, or a move to c's worker. */
static bool assign(pool_t *p, server_t *s, client_t *c)
{
	unlist(p, s);
	s->times_linked++;
	s->client = c;
	if (s->link.worker == c->link.worker) {
		c->server = s;
		enlist(p, s, SV_ACTIVE);
		return true;
	}
	/* c->server is set by c's own worker when the server arrives
	 * (pool_move_done): until then c's thread must not see it. */
	enlist(p, s, SV_MOVING);
	c->server_incoming = true;
	c->inflight++;
	return false;
}

acquire_t pool_acquire(pool_t *p, client_t *c, worker_t *w, server_t **server, worker_t **home,
		       usec_t now)
{
	acquire_t r;
	*server = NULL;
	pool_lock(p);
	if (p->paused || atomic_load(&p->rt->paused)) {
		enqueue(p, c, now);
		pool_unlock(p);
		return ACQ_PAUSED;
	}
	bool local;
	server_t *s = list_empty(&p->waiters) ? take_idle(p, w->id, p->rt->nworkers, &local) : NULL;
	if (s) {
		*server = s;
		*home = s->link.worker;
		r = assign(p, s, c) ? ACQ_GOT_LOCAL : ACQ_GOT_REMOTE;
		/* Borrowing from another worker costs two mailbox hops each time:
		 * while the pool is below its size, also open a server that will
		 * stay on this worker for the next client (only one at a time). */
		if (r == ACQ_GOT_REMOTE && p->n_login == 0 && pool_server_count(p) < p->pool_size &&
		    !(p->last_login_failure && now - p->last_login_failure < runtime_cfg(p->rt)->server_login_retry) &&
		    take_login_slot(p, runtime_cfg(p->rt)))
			r = ACQ_GOT_REMOTE_WARM;
	} else if (p->last_login_fatal && pool_server_count(p) == 0 &&
		   now - p->last_login_failure < runtime_cfg(p->rt)->server_login_retry) {
		r = ACQ_FAIL_RETRY;
	} else {
		enqueue(p, c, now);
		r = reserve_connect(p, now) ? ACQ_WAIT_CONNECT : ACQ_WAIT;
	}
	pool_unlock(p);
	return r;
}

static release_t hand_to_waiter(pool_t *p, server_t *s, client_t **client)
{
	client_t *c = list_entry(list_first(&p->waiters), client_t, wait_node);
	dequeue(p, c);
	*client = c;
	return assign(p, s, c) ? REL_GIVE_LOCAL : REL_GIVE_REMOTE;
}

static bool server_expired(const pool_t *p, const server_t *s, usec_t now)
{
	const config_t *cfg = runtime_cfg(p->rt);
	if (s->close_needed || s->generation != p->generation)
		return true;
	/* server_lifetime = 0: each connection serves one client, then goes. */
	if (cfg->server_lifetime == 0)
		return s->times_linked > 0;
	return now - s->created >= cfg->server_lifetime;
}

release_t pool_release(pool_t *p, server_t *s, client_t **client, usec_t now)
{
	release_t r;
	*client = NULL;
	pool_lock(p);
	unlist(p, s);
	if (s->client && s->client->server == s)
		s->client->server = NULL;
	s->client = NULL;
	s->state = SV_CLOSED;
	if (s->cancel_pending > 0) {
		enlist(p, s, SV_CANCEL_WAIT);
		r = REL_IDLE;
	} else if (server_expired(p, s, now)) {
		drop_login_slot(p);
		r = REL_CLOSE;
	} else if (!list_empty(&p->waiters) && !p->paused && !atomic_load(&p->rt->paused)) {
		r = hand_to_waiter(p, s, client);
	} else {
		enlist(p, s, SV_IDLE);
		r = REL_IDLE;
	}
	pool_unlock(p);
	return r;
}

release_t pool_server_ready(pool_t *p, server_t *s, client_t **client, usec_t now)
{
	pool_lock(p);
	p->last_login_failure = 0;
	p->last_login_fatal = false;
	pool_unlock(p);
	return pool_release(p, s, client, now);
}

bool pool_server_gone(pool_t *p, server_t *s, usec_t now, worker_t **w_out)
{
	bool connect = false;
	pool_lock(p);
	if (s->state != SV_CLOSED)
		drop_login_slot(p);
	unlist(p, s);
	s->state = SV_CLOSED;
	if (s->client && s->client->server == s)
		s->client->server = NULL;
	s->client = NULL;
	if (!list_empty(&p->waiters) && reserve_connect(p, now)) {
		client_t *c = list_entry(list_first(&p->waiters), client_t, wait_node);
		*w_out = c->link.worker;
		connect = true;
	}
	pool_unlock(p);
	return connect;
}

void pool_server_orphaned(pool_t *p, server_t *s)
{
	pool_lock(p);
	unlist(p, s);
	if (s->client && s->client->server == s)
		s->client->server = NULL;
	s->client = NULL;
	enlist(p, s, SV_RESETTING);
	pool_unlock(p);
}

bool pool_take_idle(pool_t *p, server_t *s)
{
	pool_lock(p);
	bool idle = s->state == SV_IDLE;
	if (idle) {
		unlist(p, s);
		enlist(p, s, SV_RESETTING);
	}
	pool_unlock(p);
	return idle;
}

bool pool_move_done(pool_t *p, server_t *s, client_t *c, bool *free_client)
{
	pool_lock(p);
	c->inflight--;
	c->server_incoming = false;
	bool alive = c->state != CL_CLOSING;
	unlist(p, s);
	if (alive) {
		enlist(p, s, SV_ACTIVE);
		c->server = s;
	} else {
		s->client = NULL;
		enlist(p, s, SV_RESETTING);
	}
	*free_client = !alive && c->inflight == 0;
	pool_unlock(p);
	return alive;
}

bool pool_client_unref(pool_t *p, client_t *c)
{
	pool_lock(p);
	c->inflight--;
	c->server_incoming = false;
	bool free_it = c->state == CL_CLOSING && c->inflight == 0;
	pool_unlock(p);
	return free_it;
}

worker_t *pool_wants_connect(pool_t *p, usec_t now)
{
	worker_t *w = NULL;
	pool_lock(p);
	if (!list_empty(&p->waiters) && reserve_connect(p, now)) {
		w = list_entry(list_first(&p->waiters), client_t, wait_node)->link.worker;
	} else if (p->min_pool_size > 0 && p->n_clients > 0 && pool_server_count(p) < p->min_pool_size &&
		   !(p->last_login_failure && now - p->last_login_failure < runtime_cfg(p->rt)->server_login_retry) &&
		   take_login_slot(p, runtime_cfg(p->rt))) {
		w = &p->rt->workers[0];
	}
	pool_unlock(p);
	return w;
}

bool pool_cancel_wait(pool_t *p, client_t *c)
{
	pool_lock(p);
	bool was = c->waiting;
	dequeue(p, c);
	pool_unlock(p);
	return was;
}

client_t *pool_pop_waiter(pool_t *p)
{
	pool_lock(p);
	client_t *c = NULL;
	if (!list_empty(&p->waiters)) {
		c = list_entry(list_first(&p->waiters), client_t, wait_node);
		dequeue(p, c);
		c->inflight++;
	}
	pool_unlock(p);
	return c;
}

void pool_client_joined(pool_t *p, client_t *c)
{
	pool_lock(p);
	list_push_back(&p->clients, &c->pool_node);
	p->n_clients++;
	pool_unlock(p);
}

bool pool_client_left(pool_t *p, client_t *c, bool *was_waiting)
{
	pool_lock(p);
	*was_waiting = c->waiting;
	dequeue(p, c);
	if (list_linked(&c->pool_node)) {
		list_del(&c->pool_node);
		p->n_clients--;
	}
	c->state = CL_CLOSING;
	bool free_now = c->inflight == 0;
	pool_unlock(p);
	return free_now;
}

void pool_set_welcome(pool_t *p, const char *blob, uint32_t len)
{
	pool_lock(p);
	if (!p->welcome_ready) {
		p->welcome = xmalloc(len ? len : 1);
		memcpy(p->welcome, blob, len);
		p->welcome_len = len;
		pktbuf_t pb;
		pktbuf_init_growable(&pb, len + 64);
		uint32_t pos = 0;
		while (pos < len) {
			const char *name = blob + pos;
			pos += (uint32_t)strlen(name) + 1;
			const char *value = blob + pos;
			pos += (uint32_t)strlen(value) + 1;
			int id = param_lookup(name);
			if (id >= 0)
				param_set_assign(&p->defaults, (param_id_t)id, value);
			else
				pktbuf_param_status(&pb, name, value);
		}
		p->welcome_msgs = pb.data; /* owned by the pool now */
		p->welcome_msgs_len = (uint32_t)pb.len;
		p->welcome_ready = true;
	}
	pool_unlock(p);
}

char *pool_norm_lookup(pool_t *p, int id, const char *raw)
{
	char *res = NULL;
	pool_lock(p);
	for (int i = 0; i < p->n_norm; i++) {
		if (p->norm_cache[i].id == id && strcmp(p->norm_cache[i].raw, raw) == 0) {
			res = xstrdup(p->norm_cache[i].norm);
			break;
		}
	}
	pool_unlock(p);
	return res;
}

void pool_norm_store(pool_t *p, int id, const char *raw, const char *norm)
{
	pool_lock(p);
	/* Bounded: a client sending ever-new values cannot grow it; past the
	 * limit such clients just pay a server round trip at login. */
	bool known = false;
	for (int i = 0; i < p->n_norm; i++)
		known |= p->norm_cache[i].id == id && strcmp(p->norm_cache[i].raw, raw) == 0;
	if (!known && p->n_norm < POOL_NORM_CACHE) {
		p->norm_cache[p->n_norm].id = id;
		p->norm_cache[p->n_norm].raw = xstrdup(raw);
		p->norm_cache[p->n_norm].norm = xstrdup(norm);
		p->n_norm++;
	}
	pool_unlock(p);
}

pool_t *pool_route(pool_t *p, route_class_t cls, bool ro_entry, uint64_t min_lsn, routed_t *out)
{
	pool_t *target = p;
	*out = ROUTED_PRIMARY;
	pool_lock(p);
	route_input_t in = {
		.mode = p->read_routing,
		.ro_entry = ro_entry,
		.session_mode = p->pool_mode == POOL_MODE_SESSION,
		.cls = cls,
	};
	if (routing_decide(&in) == ROUTE_REPLICA) {
		route_candidate_t cand[CONFIG_MAX_REPLICAS];
		for (int i = 0; i < p->n_replicas; i++) {
			pool_t *rp = p->replicas[i];
			bool up = !rp->disabled && replica_usable(rp->replica);
			/* Up again after pgtide's own login failed: a check got
			 * through since, so logins may be tried at once. */
			if (up && rp->last_login_failure) {
				rp->last_login_failure = 0;
				rp->last_login_fatal = false;
			}
			cand[i].usable = up;
			cand[i].replay_lsn = atomic_load(&rp->replica->replay_lsn);
			cand[i].load = rp->n_active + rp->n_busy + rp->n_waiting + rp->n_login;
		}
		unsigned start = atomic_fetch_add(&p->rset->rr, 1);
		int k = routing_pick_replica(cand, p->n_replicas, p->read_your_writes ? min_lsn : 0, start);
		if (k >= 0) {
			target = p->replicas[k];
			*out = ROUTED_REPLICA;
			atomic_fetch_add(&target->replica->transactions, 1);
		} else if (k == ROUTE_PICK_BEHIND) {
			*out = ROUTED_BEHIND;
			atomic_fetch_add(&p->rset->fallbacks, 1);
		} else if (p->replica_fallback == REPLICA_FALLBACK_ERROR) {
			*out = ROUTED_ERROR;
			target = NULL;
		} else {
			*out = ROUTED_FALLBACK;
			atomic_fetch_add(&p->rset->fallbacks, 1);
		}
	}
	pool_unlock(p);
	return target;
}

void pool_set_scram_keys(pool_t *p, const uint8_t client_key[32], const uint8_t server_key[32])
{
	pool_lock(p);
	memcpy(p->scram_client_key, client_key, 32);
	memcpy(p->scram_server_key, server_key, 32);
	p->have_scram_keys = true;
	pool_unlock(p);
}

void pool_set_query_secret(pool_t *p, const char *secret)
{
	pool_lock(p);
	if (!p->query_secret || strcmp(p->query_secret, secret) != 0) {
		if (p->query_secret) {
			OPENSSL_cleanse(p->query_secret, strlen(p->query_secret));
			free(p->query_secret);
		}
		p->query_secret = xstrdup(secret);
	}
	/* The caller made sure no file gives this pool a password. A server
	 * may be reading the old string during a login on another worker only
	 * when the password changed in the database: the same window RELOAD
	 * has. */
	if (!p->server_password || strcmp(p->server_password, secret) != 0) {
		free(p->server_password);
		p->server_password = xstrdup(secret);
	}
	pool_unlock(p);
}

bool pool_get_scram_keys(pool_t *p, uint8_t client_key[32], uint8_t server_key[32])
{
	if (p->primary)
		p = p->primary; /* the keys clients proved, in the pool they logged into */
	pool_lock(p);
	bool have = p->have_scram_keys;
	if (have) {
		memcpy(client_key, p->scram_client_key, 32);
		memcpy(server_key, p->scram_server_key, 32);
	}
	pool_unlock(p);
	return have;
}

bool pool_extras_known(pool_t *p, uint64_t hash)
{
	bool known = false;
	pool_lock(p);
	for (int i = 0; i < p->n_extras_ok && !known; i++)
		known = p->extras_ok[i] == hash;
	pool_unlock(p);
	return known;
}

void pool_extras_store(pool_t *p, uint64_t hash)
{
	pool_lock(p);
	bool known = false;
	for (int i = 0; i < p->n_extras_ok && !known; i++)
		known = p->extras_ok[i] == hash;
	if (!known) {
		/* A small ring: the newest sets win. */
		int slot = p->n_extras_ok < (int)ARRAY_SIZE(p->extras_ok) ? p->n_extras_ok++
									   : (int)(hash % ARRAY_SIZE(p->extras_ok));
		p->extras_ok[slot] = hash;
	}
	pool_unlock(p);
}

void pool_stats_total(pool_t *p, stats_counters_t *out, hist_t *wait, hist_t *xact)
{
	memset(out, 0, sizeof(*out));
	if (wait)
		memset(wait, 0, sizeof(*wait));
	if (xact)
		memset(xact, 0, sizeof(*xact));
	for (int i = 0; i < p->rt->nworkers; i++) {
		stats_counters_add(out, &p->stats[i].c);
		if (wait)
			hist_merge(wait, &p->stats[i].wait_hist);
		if (xact)
			hist_merge(xact, &p->stats[i].xact_hist);
	}
}

void pool_stats_period(pool_t *p, usec_t now)
{
	stats_counters_t total, d;
	hist_t wait, xact;
	pool_stats_total(p, &total, &wait, &xact);
	pool_lock(p);
	usec_t span = p->period_start ? now - p->period_start : 0;
	stats_counters_sub(&d, &total, &p->period_prev);
	double secs = span > 0 ? (double)span / (double)USEC_PER_SEC : 1.0;
	stats_counters_t *a = &p->period_avg;
	memset(a, 0, sizeof(*a));
	/* PgBouncer's units: counts and bytes per second, times per item. */
	a->server_assignment_count = (uint64_t)((double)d.server_assignment_count / secs);
	a->xact_count = (uint64_t)((double)d.xact_count / secs);
	a->query_count = (uint64_t)((double)d.query_count / secs);
	a->bytes_received = (uint64_t)((double)d.bytes_received / secs);
	a->bytes_sent = (uint64_t)((double)d.bytes_sent / secs);
	a->xact_time = d.xact_count ? d.xact_time / d.xact_count : 0;
	a->query_time = d.query_count ? d.query_time / d.query_count : 0;
	a->wait_time = d.server_assignment_count ? d.wait_time / d.server_assignment_count : 0;
	a->client_parse_count = (uint64_t)((double)d.client_parse_count / secs);
	a->server_parse_count = (uint64_t)((double)d.server_parse_count / secs);
	a->bind_count = (uint64_t)((double)d.bind_count / secs);
	a->client_login_count = (uint64_t)((double)d.client_login_count / secs);
	hist_diff(&p->period_wait, &wait, &p->period_wait_prev);
	hist_diff(&p->period_xact, &xact, &p->period_xact_prev);
	p->period_wait_prev = wait;
	p->period_xact_prev = xact;
	uint64_t busy = p->busy_usec - p->period_busy_prev;
	p->period_busy_prev = p->busy_usec;
	p->utilization = span > 0 && p->pool_size > 0 ? (double)busy / ((double)span * p->pool_size) : 0.0;
	p->period_prev = total;
	p->period_start = now;
	pool_unlock(p);
}

void pool_sample_busy(pool_t *p, usec_t now)
{
	pool_lock(p);
	if (p->busy_sampled_at)
		p->busy_usec += (uint64_t)(p->n_active + p->n_busy) * (uint64_t)(now - p->busy_sampled_at);
	p->busy_sampled_at = now;
	pool_unlock(p);
}

void pool_log_stats(pool_t *p)
{
	pool_lock(p);
	stats_counters_t a = p->period_avg;
	uint64_t p99 = hist_quantile(&p->period_wait, 0.99);
	double util = p->utilization;
	pool_unlock(p);
	log_info("stats: db=%s user=%s xacts/s=%llu queries/s=%llu in=%llu B/s out=%llu B/s xact_us=%llu "
		 "query_us=%llu wait_us=%llu wait_p99_us=%llu utilization=%.2f",
		 p->dbname, p->user, (unsigned long long)a.xact_count, (unsigned long long)a.query_count,
		 (unsigned long long)a.bytes_received, (unsigned long long)a.bytes_sent,
		 (unsigned long long)a.xact_time, (unsigned long long)a.query_time, (unsigned long long)a.wait_time,
		 (unsigned long long)p99, util);
}

static bool str_changed(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

void pool_apply_config(pool_t *p, const config_t *cfg)
{
	const db_config_t *db = config_find_db(cfg, p->dbname);
	pool_lock(p);
	if (!db) {
		p->disabled = true;
		pool_unlock(p);
		return;
	}
	/* A replica keeps its address (replica addresses are read when the
	 * pools are created); the rest follows the database. */
	bool replica = p->role == POOL_ROLE_REPLICA;
	p->disabled = replica && config_db_replica_count(db) == 0;
	const char *host = replica ? p->host : db->host ? db->host : "127.0.0.1";
	int port = replica ? p->port : db->port > 0 ? db->port : 5432;
	const char *sdb = db->dbname ? db->dbname : p->dbname;
	const char *suser = db->user ? db->user : p->user;
	const char *pw = db->password ? db->password : config_find_user_secret(cfg, suser);
	if (!pw && !db->user && p->query_secret)
		pw = p->query_secret; /* learned from auth_query: not in any file */
	p->read_routing = db->read_routing;
	p->replica_fallback = db->replica_fallback;
	p->read_your_writes = db->read_your_writes;
	if (p->rset && !replica)
		replica_set_apply(p->rset, db);
	if (str_changed(host, p->host) || port != p->port ||
	    str_changed(sdb, p->server_dbname) || str_changed(suser, p->server_user) ||
	    str_changed(pw, p->server_password)) {
		free(p->server_dbname);
		free(p->server_user);
		free(p->server_password);
		char *h = xstrdup(host);
		free(p->host);
		p->host = h;
		p->port = port;
		p->server_dbname = xstrdup(sdb);
		p->server_user = xstrdup(suser);
		p->server_password = pw ? xstrdup(pw) : NULL;
		p->generation++;
	}
	p->pool_mode = config_db_pool_mode(cfg, db);
	p->pool_size = config_db_pool_size(cfg, db);
	p->min_pool_size = db->min_pool_size >= 0 ? db->min_pool_size : cfg->min_pool_size;
	p->reserve_pool_size = db->reserve_pool >= 0 ? db->reserve_pool : cfg->reserve_pool_size;
	p->max_db_connections = config_db_max_connections(cfg, db);
	pool_unlock(p);
}

void pool_for_each(runtime_t *rt, const char *db, void (*fn)(pool_t *p, void *arg), void *arg)
{
	pthread_mutex_lock(&rt->pools_lock);
	list_node_t *n;
	list_for_each(n, &rt->pools) {
		pool_t *p = list_entry(n, pool_t, rt_node);
		if (!db || strcmp(p->dbname, db) == 0)
			fn(p, arg);
	}
	pthread_mutex_unlock(&rt->pools_lock);
}

static void add_busy(pool_t *p, void *arg)
{
	pool_lock(p);
	*(int *)arg += p->n_active + p->n_busy;
	pool_unlock(p);
}

int pool_busy_servers(runtime_t *rt, const char *db)
{
	int busy = 0;
	pool_for_each(rt, db, add_busy, &busy);
	return busy;
}

static int count_old(const list_node_t *head, uint64_t generation)
{
	int n = 0;
	const list_node_t *node;
	list_for_each(node, head) {
		if (list_entry(node, server_t, pool_node)->generation != generation)
			n++;
	}
	return n;
}

int pool_old_servers(pool_t *p)
{
	pool_lock(p);
	int n = count_old(&p->active, p->generation) + count_old(&p->login, p->generation) +
		count_old(&p->busy, p->generation);
	for (int i = 0; i < p->rt->nworkers; i++)
		n += count_old(&p->idle[i], p->generation);
	pool_unlock(p);
	return n;
}

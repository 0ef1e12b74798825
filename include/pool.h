/*
 * pool.h - one pool per (database, user): its server connections, its queue
 * of waiting clients, its limits. Shared by all workers; one mutex, held only
 * for O(1) list operations. pool.c does no I/O and calls no other module
 * while holding the lock: it returns a decision and the caller acts on it.
 */
#ifndef PGTIDE_POOL_H
#define PGTIDE_POOL_H

#include <pthread.h>

#include "common.h"
#include "config.h"
#include "list.h"
#include "params.h"
#include "routing.h"
#include "runtime.h"
#include "stats.h"

struct client;
struct server;
struct worker;
struct replica;
struct replica_set;

#define POOL_NORM_CACHE 32

typedef enum { POOL_ROLE_PRIMARY = 0, POOL_ROLE_REPLICA } pool_role_t;

typedef struct pool {
	/* A database with replicas has one pool per (database, user) that
	 * clients log into (the primary's) and one per replica; they share
	 * the primary pool's mutex, so a client waiting in any of them is
	 * under one lock. */
	pthread_mutex_t own_lock;
	pthread_mutex_t *lockp;   /* &own_lock, or the primary pool's */
	list_node_t rt_node;
	runtime_t *rt;

	char *dbname;             /* as clients ask for it */
	char *user;               /* client user */
	/* Where and how to connect (fixed at creation; RELOAD marks servers
	 * close_needed when these change). */
	char *host;
	int port;
	char *server_dbname;
	char *server_user;
	char *server_password;    /* plain or md5 secret, or NULL */
	int pool_mode;
	int pool_size;
	int min_pool_size;
	int reserve_pool_size;
	int max_db_connections;   /* 0 = unlimited */
	uint64_t generation;      /* bumped by RELOAD when the target changed */
	conn_count_t *db_count;   /* servers of every pool of this database */
	conn_count_t *user_count; /* servers of every pool of this user */

	/* Servers by state; a server is in exactly one of these lists. */
	list_node_t idle[MAX_WORKERS];  /* per home worker, LIFO */
	list_node_t active;       /* linked to a client */
	list_node_t login;        /* connecting / logging in */
	list_node_t busy;         /* unlinked but not reusable yet: reset, cancel, moving */
	int n_idle, n_active, n_login, n_busy;

	list_node_t waiters;      /* clients waiting for a server, FIFO */
	int n_waiting;
	list_node_t clients;      /* every logged-in client of this pool */
	int n_clients;
	int n_cancel_pending;

	bool paused;
	bool disabled;

	/* What the server said at login (ParameterStatus), sent to every new
	 * client; empty until the first server logged in. */
	char *welcome;            /* packed name\0value\0... */
	uint32_t welcome_len;
	/* The welcome's ParameterStatus messages for untracked parameters,
	 * rendered once: every login sends them as they are. The tracked ones
	 * (params.h) the welcome had are in `defaults`; each client gets its
	 * own values for those. */
	uint8_t *welcome_msgs;
	uint32_t welcome_msgs_len;
	bool welcome_ready;
	param_set_t defaults;     /* tracked values from the welcome */
	/* raw startup value -> value the server reported for it */
	struct {
		int id;
		char *raw, *norm;
	} norm_cache[POOL_NORM_CACHE];
	int n_norm;
	/* Hashes of startup "extras" sets a server has accepted (SET worked),
	 * so later clients sending the same set skip the login round trip. */
	uint64_t extras_ok[8];
	int n_extras_ok;

	int pool_reserved_logins; /* login slots taken by pool_acquire, not yet filled */
	/* SCRAM pass-through: keys learned from a client that proved it knows
	 * the password of a SCRAM secret, used to log into the server as that
	 * user without a plaintext password anywhere (pool lock). */
	uint8_t scram_client_key[32];
	uint8_t scram_server_key[32];
	bool have_scram_keys;
	/* auth_query: the secret last looked up for this pool's user, who has
	 * no auth_file entry; it is the server password then (pool lock). */
	char *query_secret;
	usec_t last_login_failure;   /* monotonic; for server_login_retry */
	bool last_login_fatal;    /* the server refused the login (not just unreachable) */
	char last_login_error[256];
	char last_login_sqlstate[6];

	/* Read replicas (docs/routing.md). Fixed at creation except the
	 * settings, which change under the lock. */
	int role;                 /* pool_role_t */
	struct pool *primary;     /* replica pools: the pool clients log into */
	struct replica *replica;  /* replica pools: its health */
	int n_replicas;           /* primary pools: replica pools (0 = no routing) */
	struct pool *replicas[CONFIG_MAX_REPLICAS];
	struct replica_set *rset;
	int read_routing;         /* read_routing_t */
	int replica_fallback;     /* replica_fallback_t */
	bool read_your_writes;

	stats_slot_t *stats;      /* [rt->nworkers], each written by its worker */
	stats_counters_t period_prev, period_avg;  /* for SHOW STATS averages */
	hist_t period_wait_prev, period_xact_prev, period_wait, period_xact;
	/* Utilization: server-busy time integrated by the janitor's sampling
	 * (n_active + n_busy each tick), so a long transaction counts in every
	 * period it spans, not at its end. */
	uint64_t busy_usec;
	usec_t busy_sampled_at;
	uint64_t period_busy_prev;
	double utilization;
	usec_t period_start;
} pool_t;

/* Finds or creates the pool; NULL with *errcode/errmsg when the database is
 * not configured. */
pool_t *pool_get(runtime_t *rt, const config_t *cfg, const char *dbname, const char *user,
		 const char **sqlstate, char *errmsg, size_t errlen);
void pool_free_all(runtime_t *rt);

/* Every server connection the pool counts against its size (lock held). */
static inline int pool_server_count(const pool_t *p)
{
	return p->n_idle + p->n_active + p->n_login + p->n_busy;
}

static inline void pool_lock(pool_t *p)
{
	pthread_mutex_lock(p->lockp);
}
static inline void pool_unlock(pool_t *p)
{
	pthread_mutex_unlock(p->lockp);
}

/* ---- read routing ---- */
typedef enum {
	ROUTED_PRIMARY = 0,  /* not replica-bound */
	ROUTED_REPLICA,
	ROUTED_BEHIND,       /* replica-bound; no replica has replayed the client's writes: primary */
	ROUTED_FALLBACK,     /* replica-bound; no usable replica: primary (replica_fallback = primary) */
	ROUTED_ERROR,        /* replica-bound; no usable replica (replica_fallback = error) */
} routed_t;

/* Where a transaction of class cls goes: p itself, one of its replica
 * pools, or NULL (ROUTED_ERROR). min_lsn: the client's last write. */
pool_t *pool_route(pool_t *p, route_class_t cls, bool ro_entry, uint64_t min_lsn, routed_t *out);

/* ---- decisions (caller holds no lock; these take it) ---- */
typedef enum {
	ACQ_GOT_LOCAL,    /* *server is idle on the caller's worker: use it now */
	ACQ_GOT_REMOTE,   /* *server lives on another worker: ask it to move */
	ACQ_GOT_REMOTE_WARM, /* the same, and open one server on the caller's
	                   * worker for later clients (slot reserved) */
	ACQ_WAIT,         /* client queued */
	ACQ_WAIT_CONNECT, /* client queued; caller opens one new server connection */
	ACQ_FAIL_RETRY,   /* logins have been failing: refuse for server_login_retry */
	ACQ_PAUSED,       /* client queued until RESUME */
} acquire_t;

/* On ACQ_GOT_REMOTE, *home is the worker that owns the server now. */
acquire_t pool_acquire(pool_t *p, struct client *c, struct worker *w, struct server **server,
		       struct worker **home, usec_t now);

typedef enum {
	REL_IDLE,          /* parked idle on its worker */
	REL_GIVE_LOCAL,    /* handed to *client on the same worker */
	REL_GIVE_REMOTE,   /* handed to *client on another worker: move it */
	REL_CLOSE,         /* close it (lifetime, close_needed); server_close replaces it */
} release_t;

release_t pool_release(pool_t *p, struct server *s, struct client **client, usec_t now);

/* A server finished logging in: same outcomes as a release. */
release_t pool_server_ready(pool_t *p, struct server *s, struct client **client, usec_t now);
/* A server went away (any state); returns true when a waiter needs a new
 * connection opened on worker *w_out for it (the slot is reserved). */
bool pool_server_gone(pool_t *p, struct server *s, usec_t now, struct worker **w_out);
/* A linked server's client left: ACTIVE -> RESETTING, links cleared. */
void pool_server_orphaned(pool_t *p, struct server *s);
/* An idle server (on its owner's thread) is to be closed by the janitor or
 * because it failed; false if another worker took it meanwhile. */
bool pool_take_idle(pool_t *p, struct server *s);
/* A moved server arrived on its client's worker. Returns false when the
 * client closed meanwhile (the server is then the caller's to release);
 * *free_client tells whether the client can now be freed. */
bool pool_move_done(pool_t *p, struct server *s, struct client *c, bool *free_client);
/* Drops one in-flight reference to c; true when c is closing and unreferenced. */
bool pool_client_unref(pool_t *p, struct client *c);
/* The janitor: open connections for waiters (after server_login_retry) and
 * for min_pool_size. Returns the worker to connect on, or NULL. */
struct worker *pool_wants_connect(pool_t *p, usec_t now);
/* A new server object is accounted in the login list and gets its copy of
 * the pool's target and generation (server_target_t). */
void pool_server_added(pool_t *p, struct server *s);
/* Removes a waiting client from the queue; false if it was not waiting
 * (a server may be on its way to it). */
bool pool_cancel_wait(pool_t *p, struct client *c);
/* Takes the oldest waiter (used when logins fail, to fail them fast); the
 * caller gets an in-flight reference (pool_client_unref). */
struct client *pool_pop_waiter(pool_t *p);

void pool_client_joined(pool_t *p, struct client *c);
/* Returns true when the client can be freed now (no in-flight references). */
bool pool_client_left(pool_t *p, struct client *c, bool *was_waiting);

/* Welcome parameters after the first server login. */
void pool_set_welcome(pool_t *p, const char *blob, uint32_t len);
/* Normalised value cache (under lock). Returns a copy or NULL. */
char *pool_norm_lookup(pool_t *p, int id, const char *raw);
void pool_norm_store(pool_t *p, int id, const char *raw, const char *norm);
bool pool_extras_known(pool_t *p, uint64_t hash);
/* SCRAM pass-through keys: set once, copied out by server logins. */
void pool_set_scram_keys(pool_t *p, const uint8_t client_key[32], const uint8_t server_key[32]);
bool pool_get_scram_keys(pool_t *p, uint8_t client_key[32], uint8_t server_key[32]);
/* A client of p logged in with a secret from auth_query: the server login
 * uses it too (the user has no auth_file entry and the database entry no
 * user/password). */
void pool_set_query_secret(pool_t *p, const char *secret);
void pool_extras_store(pool_t *p, uint64_t hash);

static inline stats_slot_t *pool_stats(pool_t *p, int worker_id)
{
	return &p->stats[worker_id];
}
/* Janitor: integrates busy server time for utilization. */
void pool_sample_busy(pool_t *p, usec_t now);
/* Ends a stats period: averages and period histograms for SHOW STATS. */
void pool_stats_period(pool_t *p, usec_t now);
void pool_log_stats(pool_t *p);
/* RELOAD: takes new sizes and modes; a changed target bumps the generation
 * so servers are closed as they are released. */
void pool_apply_config(pool_t *p, const config_t *cfg);

/* ---- admin control ---- */
/* Calls fn for every pool of database db (NULL = all pools) under the
 * registry lock; fn must not take that lock again. */
void pool_for_each(runtime_t *rt, const char *db, void (*fn)(pool_t *p, void *arg), void *arg);
/* Server connections still linked or being reset, over the pools of db
 * (NULL = all): PAUSE and the SIGTERM drain wait for 0. */
int pool_busy_servers(runtime_t *rt, const char *db);
/* Servers opened before the last RECONNECT (WAIT_CLOSE waits for 0). */
int pool_old_servers(pool_t *p);

/* Sums every worker's slot. */
void pool_stats_total(pool_t *p, stats_counters_t *out, hist_t *wait, hist_t *xact);

#endif

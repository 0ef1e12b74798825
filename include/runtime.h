/*
 * runtime.h - the one runtime context: everything process-wide that pgtide
 * mutates lives here and is reached through a pointer, never a global.
 */
#ifndef PGTIDE_RUNTIME_H
#define PGTIDE_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>

#include "common.h"
#include "config.h"
#include "list.h"

#define MAX_WORKERS 64

struct worker;
struct cancel_map;
struct tls;
struct authq_cache;

typedef enum {
	RT_RUNNING = 0,
	RT_DRAINING,   /* SIGTERM / SHUTDOWN WAIT_FOR_SERVERS: no new clients or
	                * transactions; exit when running ones finished */
	RT_DRAINING_CLIENTS, /* SHUTDOWN WAIT_FOR_CLIENTS: no new clients; the
	                * connected ones carry on; exit when the last one leaves */
	RT_STOPPING,   /* exit now */
} rt_state_t;

/* A small set of database names (DISABLE, PAUSE db), under pools_lock. */
typedef struct name_set {
	char **names;
	int n;
} name_set_t;

/* Server connections counted across pools: per database name and per user,
 * for max_db_connections / max_user_connections. Created on first use and
 * kept until exit; counts change under the owning pool's lock with atomics. */
typedef struct conn_count {
	struct conn_count *next;
	atomic_int count;
	char name[64];
} conn_count_t;

typedef struct runtime {
	pthread_mutex_t cfg_lock;
	config_t *cfg;            /* current config; read with runtime_cfg() */
	config_t **retired;       /* configs replaced by RELOAD, freed at exit */
	int nretired;
	struct tls *tls;          /* current TLS contexts; read with runtime_tls() */
	struct tls **tls_retired; /* replaced by RELOAD, freed at exit */
	int ntls_retired;

	struct worker *workers;
	int nworkers;

	pthread_mutex_t pools_lock;
	list_node_t pools;        /* pool_t.rt_node */
	int npools;
	conn_count_t *db_counts;  /* under pools_lock */
	name_set_t disabled_dbs;  /* DISABLE db: new logins refused (pools_lock) */
	name_set_t paused_dbs;    /* PAUSE db: also holds pools created later */
	conn_count_t *user_counts;

	struct cancel_map *cancels;
	struct authq_cache *authq_cache; /* auth_query answers, shared by the workers */
	struct replica_registry *replicas; /* read replicas' health (replica.h) */

	atomic_int nclients;      /* clients connected (for max_client_conn) */
	atomic_uint_fast64_t next_id;
	_Atomic int state;        /* rt_state_t */
	atomic_bool drain_for_clients; /* the next SIGTERM waits for clients to leave */
	atomic_bool paused;       /* PAUSE: no new transactions start */

	uint8_t mock_key[32];     /* fake SCRAM salts for unknown users */
	uint64_t text_hash_key;   /* session_text_hash: clients cannot aim for collisions */
	usec_t start_mono;
	usec_t start_wall;
	char *config_path;        /* for RELOAD; NULL in zero-config mode */
	char *database_url;       /* for RELOAD in zero-config mode */
} runtime_t;

bool runtime_init(runtime_t *rt, config_t *cfg);
void runtime_destroy(runtime_t *rt);
/* A reference to the current config; config_unref it when done. */
config_t *runtime_config(runtime_t *rt);
/* Swaps in a new config (takes the caller's reference). */
void runtime_set_config(runtime_t *rt, config_t *cfg);
/* Swaps in new TLS contexts (takes ownership); the old ones are retired. */
void runtime_set_tls(runtime_t *rt, struct tls *tls);
uint64_t runtime_next_id(runtime_t *rt);
/* Adds or removes name; takes pools_lock. */
void runtime_name_set(runtime_t *rt, name_set_t *set, const char *name, bool present);
/* Whether name is in set; takes pools_lock unless the caller holds it. */
bool runtime_name_in(runtime_t *rt, name_set_t *set, const char *name);
bool name_set_contains(const name_set_t *set, const char *name);
/* Finds or creates the counter for name in *list; caller holds pools_lock. */
conn_count_t *runtime_conn_count(conn_count_t **list, const char *name);

/* The current config without taking a reference. Safe because replaced
 * configs are retired, not freed, until the runtime is destroyed: reloads
 * are rare and a config is a few KB. */
static inline const config_t *runtime_cfg(runtime_t *rt)
{
	return __atomic_load_n(&rt->cfg, __ATOMIC_ACQUIRE);
}

/* The current TLS contexts (never NULL once running), retired like configs:
 * a worker may use the pointer it read for as long as it likes. */
static inline const struct tls *runtime_tls(runtime_t *rt)
{
	return __atomic_load_n(&rt->tls, __ATOMIC_ACQUIRE);
}

#endif

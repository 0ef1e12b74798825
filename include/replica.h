/*
 * replica.h - read replicas' health: a checker thread with its own event
 * base polls every replica (and the primary, for lag) with libpq's
 * asynchronous API, and publishes each replica's state with atomics that
 * workers read when a transaction starts (docs/routing.md).
 */
#ifndef PGTIDE_REPLICA_H
#define PGTIDE_REPLICA_H

#include <pthread.h>
#include <stdatomic.h>

#include "common.h"
#include "config.h"
#include "list.h"
#include "runtime.h"

typedef enum {
	REPLICA_UNKNOWN = 0, /* not checked yet: not used */
	REPLICA_UP,
	REPLICA_DOWN,        /* unreachable, check failed or timed out, or pgtide's login failed */
	REPLICA_LAGGING,     /* behind beyond replica_max_lag / replica_max_lag_time */
	REPLICA_NOT_STANDBY, /* pg_is_in_recovery() is false: promoted, or not a replica */
} replica_state_t;

extern const char *const replica_state_names[];

struct check_conn;
struct replica_set;

typedef struct replica {
	struct replica_set *set;
	int index;
	char host[256];
	int port;
	_Atomic int state;               /* replica_state_t */
	_Atomic uint64_t replay_lsn;     /* pg_last_wal_replay_lsn() at the last check */
	_Atomic int64_t lag_bytes;       /* primary's pg_current_wal_lsn() - replay_lsn */
	_Atomic int64_t lag_usec;        /* how long ago the primary was first seen past replay_lsn */
	atomic_uint_fast64_t checks, check_failures, transactions, login_failures;
	_Atomic int64_t state_since_wall; /* µs since the epoch */
	char last_error[160];            /* under set->lock */
	struct check_conn *conn;         /* checker thread only */
} replica_t;

typedef struct replica_set {
	list_node_t node;
	char *dbname;                    /* the [databases] entry */
	pthread_mutex_t lock;            /* last_error texts */
	int n;
	replica_t r[CONFIG_MAX_REPLICAS];
	_Atomic uint64_t primary_lsn;
	_Atomic int64_t max_lag, max_lag_usec, period_usec;
	atomic_uint_fast64_t fallbacks;  /* replica-bound transactions that ran on the primary */
	atomic_uint rr;                  /* round-robin start for ties */
	struct check_conn *primary;      /* checker thread only */
	/* Checker: when the primary was first seen at each LSN (ring). */
	struct {
		uint64_t lsn;
		usec_t at;
	} hist[128];
	int hist_n, hist_head;
	/* libpq connection parameters (checker thread only after creation) */
	char *ci_dbname, *ci_user, *ci_password, *ci_primary_host;
	int ci_primary_port;
} replica_set_t;

typedef struct replica_registry replica_registry_t;

replica_registry_t *replica_registry_new(void);
void replica_registry_free(replica_registry_t *reg);
/* The set of database db (created on first use with db's replicas). */
replica_set_t *replica_set_get(runtime_t *rt, const config_t *cfg, const db_config_t *db, const char *dbname);
/* RELOAD: lag limits and check period (addresses are fixed at creation). */
void replica_set_apply(replica_set_t *set, const db_config_t *db);
/* Calls fn on every set (registry lock held). */
void replica_for_each(runtime_t *rt, void (*fn)(replica_set_t *set, void *arg), void *arg);

/* Whether r may take a new transaction now. */
static inline bool replica_usable(const replica_t *r)
{
	return atomic_load_explicit(&r->state, memory_order_relaxed) == REPLICA_UP;
}
/* pgtide's own connection to r failed (connect or login): out at once, until
 * a check succeeds again. */
void replica_note_failure(replica_t *r, const char *why);

/* The checker thread. */
bool replica_checker_start(runtime_t *rt);
void replica_checker_stop(runtime_t *rt);

#endif

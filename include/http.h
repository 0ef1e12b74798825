/*
 * http.h - the HTTP listener for monitoring: /metrics (Prometheus text
 * format 0.0.4), /healthz and /readyz.
 *
 * It runs on a thread of its own with its own event_base, never on a
 * worker: a scrape or a readiness probe (which may block for a second on a
 * TCP connect) must not cost the hot path anything but the short pool locks
 * SHOW POOLS takes as well.
 *
 * The exposition is built in two steps so it can be unit tested without a
 * server: http_snapshot_take copies what is needed out of the runtime under
 * its locks, http_metrics_write formats a snapshot.
 */
#ifndef PGTIDE_HTTP_H
#define PGTIDE_HTTP_H

#include "common.h"
#include "runtime.h"
#include "stats.h"

struct evbuffer;

/* One pool as /metrics shows it. Counters and histograms are since start
 * (pool_stats_total, the source of SHOW STATS_TOTALS); gauges are now. */
typedef struct http_pool_snap {
	char *database;
	char *user;
	int64_t clients_active;
	int64_t clients_waiting;
	int64_t servers_active;
	int64_t servers_idle;
	int64_t servers_login;
	int64_t servers_tested;          /* SV_RESETTING */
	int64_t servers_being_canceled;  /* SV_CANCEL_WAIT */
	int64_t pool_size;
	uint64_t maxwait_us;             /* oldest waiter's wait so far */
	double utilization;              /* last stats period, 0..1 */
	stats_counters_t total;
	hist_t wait;                     /* client wait per server assignment, µs */
	hist_t xact;                     /* transaction duration, µs */
} http_pool_snap_t;

/* One read replica as /metrics shows it (SHOW REPLICAS' numbers). */
typedef struct http_replica_snap {
	char *database;
	char *replica;                   /* host:port */
	int state;                       /* replica_state_t */
	int64_t lag_bytes;
	int64_t lag_usec;
	uint64_t transactions;
	uint64_t check_failures;
} http_replica_snap_t;

typedef struct http_snapshot {
	const char *version;
	int64_t clients_connected;
	usec_t start_wall;               /* µs since the epoch */
	http_pool_snap_t *pools;
	int npools;
	http_replica_snap_t *replicas;
	int nreplicas, replicas_cap;
} http_snapshot_t;

/* Copies every pool's numbers (pools_lock, then each pool's lock). */
void http_snapshot_take(runtime_t *rt, http_snapshot_t *s);
void http_snapshot_free(http_snapshot_t *s);
/* Appends the whole exposition: one HELP and one TYPE line per family,
 * each family's samples together. */
void http_metrics_write(const http_snapshot_t *s, struct evbuffer *out);

/* The histogram's finite "le" bounds are 2^k - 1 µs for k in this range:
 * each is the inclusive upper bound of a hist_t bucket (the last sub-bucket
 * of the 2^(k-1) group), so the cumulative counts are exact. */
#define HTTP_LE_MIN_POW 7
#define HTTP_LE_MAX_POW 35

typedef struct http_server http_server_t;

/* Binds metrics_addr:metrics_port ("*" = every IPv4 address) on the calling
 * thread, so a taken port is reported at start, then starts the thread.
 * NULL with err filled on failure. */
http_server_t *http_start(runtime_t *rt, const char *addr, int port, char *err, size_t errlen);
/* Stops the thread, closes the listener and open requests, frees h. */
void http_stop(http_server_t *h);

#endif

/*
 * admin.c - the admin console. Each SHOW builds its whole answer in a
 * growable pktbuf (admin answers are not on the hot path) and queues it on
 * the client's link. Column names and order follow PgBouncer's wire output
 * (see docs/admin-console.md); pgtide's own columns come after PgBouncer's.
 */
#include "admin.h"

#include <ctype.h>
#include <signal.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client.h"
#include "control.h"
#include "clock.h"
#include "log.h"
#include "pktbuf.h"
#include "pool.h"
#include "replica.h"
#include "proto.h"
#include "runtime.h"
#include "server.h"
#include "worker.h"

typedef struct admin_out {
	pktbuf_t pb;
	int rows;
} admin_out_t;

static runtime_t *rt_of(const client_t *c)
{
	return c->link.worker->rt;
}

static void out_header(admin_out_t *o, const char *const *cols, int n)
{
	pktbuf_row_description(&o->pb, cols, n);
}

static void out_row(admin_out_t *o, const char *const *vals, int n)
{
	pktbuf_data_row(&o->pb, vals, n);
	o->rows++;
}

static void out_complete(admin_out_t *o, const char *tag_prefix)
{
	char tag[64];
	snprintf(tag, sizeof(tag), "%s %d", tag_prefix, o->rows);
	pktbuf_command_complete(&o->pb, tag);
}

/* Formats integers into a ring of small buffers for one row. */
typedef struct fmt_ring {
	char buf[48][32];
	int next;
} fmt_ring_t;

static const char *fmt_u64(fmt_ring_t *r, uint64_t v)
{
	char *b = r->buf[r->next++ % 48];
	snprintf(b, 32, "%" PRIu64, v);
	return b;
}

static const char *fmt_i64(fmt_ring_t *r, int64_t v)
{
	char *b = r->buf[r->next++ % 48];
	snprintf(b, 32, "%" PRId64, v);
	return b;
}

static const char *mode_name(int mode)
{
	return mode == POOL_MODE_SESSION ? "session" : "transaction";
}

/* ---- SHOW POOLS ---- */

/* pgtide's columns after PgBouncer's: wait and transaction time percentiles
 * over the last stats period and since start (µs), utilization over the
 * last period (0..1), and waits that ended without a server, by cause. */
static const char *const pool_cols[] = {
	"database", "user", "cl_active:i", "cl_waiting:i", "cl_active_cancel_req:i",
	"cl_waiting_cancel_req:i", "sv_active:i", "sv_active_cancel:i", "sv_being_canceled:i",
	"sv_idle:i", "sv_used:i", "sv_tested:i", "sv_login:i", "maxwait:i", "maxwait_us:i",
	"pool_mode", "load_balance_hosts",
	"wait_p50_us:l", "wait_p95_us:l", "wait_p99_us:l", "wait_max_us:l",
	"xact_p50_us:l", "xact_p95_us:l", "xact_p99_us:l", "xact_max_us:l",
	"total_wait_p50_us:l", "total_wait_p95_us:l", "total_wait_p99_us:l", "total_wait_max_us:l",
	"total_xact_p50_us:l", "total_xact_p95_us:l", "total_xact_p99_us:l", "total_xact_max_us:l",
	"utilization:n", "wait_timeouts:l", "wait_abandoned:l", "wait_canceled:l", "wait_killed:l",
	"wait_failed:l", "role", "address",
};

static int put_quantiles(fmt_ring_t *f, const char **vals, int nv, const hist_t *h)
{
	vals[nv++] = fmt_u64(f, hist_quantile(h, 0.50));
	vals[nv++] = fmt_u64(f, hist_quantile(h, 0.95));
	vals[nv++] = fmt_u64(f, hist_quantile(h, 0.99));
	vals[nv++] = fmt_u64(f, h->max);
	return nv;
}

static void pool_row(admin_out_t *o, pool_t *p, usec_t now)
{
	/* Histograms are a few KB: off the stack, console answers are rare. */
	hist_t *h = xmalloc(2 * sizeof(hist_t));
	hist_t *wait = &h[0], *xact = &h[1];
	fmt_ring_t f = { .next = 0 };
	stats_counters_t t;
	pool_stats_total(p, &t, wait, xact);
	pool_lock(p);
	usec_t maxwait = 0;
	if (!list_empty(&p->waiters))
		maxwait = now - list_entry(list_first(&p->waiters), client_t, wait_node)->wait_start;
	int tested = 0, being_canceled = 0, moving = 0;
	list_node_t *n;
	list_for_each(n, &p->busy) {
		server_state_t st = list_entry(n, server_t, pool_node)->state;
		tested += st == SV_RESETTING;
		being_canceled += st == SV_CANCEL_WAIT;
		moving += st == SV_MOVING; /* already given to a client on another worker */
	}
	const char *vals[ARRAY_SIZE(pool_cols)];
	int nv = 0;
	/* Clients log into the primary's pool; a replica pool's row counts the
	 * clients its servers serve. */
	int group_waiting = p->n_waiting;
	for (int i = 0; i < p->n_replicas; i++)
		group_waiting += p->replicas[i]->n_waiting;
	vals[nv++] = p->dbname;
	vals[nv++] = p->user;
	vals[nv++] = fmt_i64(&f, p->role == POOL_ROLE_REPLICA ? p->n_active + moving : p->n_clients - group_waiting);
	vals[nv++] = fmt_i64(&f, p->n_waiting);
	vals[nv++] = "0";
	vals[nv++] = "0";
	vals[nv++] = fmt_i64(&f, p->n_active + moving);
	vals[nv++] = "0";
	vals[nv++] = fmt_i64(&f, being_canceled);
	vals[nv++] = fmt_i64(&f, p->n_idle);
	vals[nv++] = "0";
	vals[nv++] = fmt_i64(&f, tested);
	vals[nv++] = fmt_i64(&f, p->n_login);
	vals[nv++] = fmt_i64(&f, maxwait / USEC_PER_SEC);
	vals[nv++] = fmt_i64(&f, maxwait % USEC_PER_SEC);
	vals[nv++] = mode_name(p->pool_mode);
	vals[nv++] = NULL;
	nv = put_quantiles(&f, vals, nv, &p->period_wait);
	nv = put_quantiles(&f, vals, nv, &p->period_xact);
	char util[32];
	snprintf(util, sizeof(util), "%.3f", p->utilization);
	char address[300]; /* RELOAD replaces host under the lock */
	snprintf(address, sizeof(address), p->host[0] == '/' ? "%s/.s.PGSQL.%d" : "%s:%d", p->host, p->port);
	pool_unlock(p);
	nv = put_quantiles(&f, vals, nv, wait);
	nv = put_quantiles(&f, vals, nv, xact);
	free(h);
	vals[nv++] = util;
	vals[nv++] = fmt_u64(&f, t.wait_timeout_count);
	vals[nv++] = fmt_u64(&f, t.wait_abandoned_count);
	vals[nv++] = fmt_u64(&f, t.wait_canceled_count);
	vals[nv++] = fmt_u64(&f, t.wait_killed_count);
	vals[nv++] = fmt_u64(&f, t.wait_failed_count);
	vals[nv++] = p->role == POOL_ROLE_REPLICA ? "replica" : "primary";
	vals[nv++] = address;
	out_row(o, vals, nv);
}

static void show_pools(client_t *c, admin_out_t *o)
{
	runtime_t *rt = rt_of(c);
	usec_t now = clock_mono_usec();
	out_header(o, pool_cols, ARRAY_SIZE(pool_cols));
	pthread_mutex_lock(&rt->pools_lock);
	list_node_t *n;
	list_for_each(n, &rt->pools)
		pool_row(o, list_entry(n, pool_t, rt_node), now);
	pthread_mutex_unlock(&rt->pools_lock);
	out_complete(o, "SHOW");
}

/* ---- SHOW STATS family: per database, summed over its pools ---- */

typedef struct db_stats {
	char name[PROTO_MAX_NAME_LEN + 1];
	stats_counters_t total;
	stats_counters_t avg;
} db_stats_t;

static int collect_db_stats(runtime_t *rt, db_stats_t **out)
{
	int n = 0, cap = 8;
	db_stats_t *arr = xcalloc((size_t)cap, sizeof(*arr));
	pthread_mutex_lock(&rt->pools_lock);
	list_node_t *node;
	list_for_each(node, &rt->pools) {
		pool_t *p = list_entry(node, pool_t, rt_node);
		int i;
		for (i = 0; i < n && strcmp(arr[i].name, p->dbname) != 0; i++)
			;
		if (i == n) {
			if (n == cap) {
				cap *= 2;
				arr = xrealloc(arr, (size_t)cap * sizeof(*arr));
			}
			memset(&arr[n], 0, sizeof(arr[n]));
			strlcpy_ok(arr[n].name, p->dbname, sizeof(arr[n].name));
			n++;
		}
		stats_counters_t t;
		pool_stats_total(p, &t, NULL, NULL);
		stats_counters_add(&arr[i].total, &t);
		pool_lock(p);
		stats_counters_add(&arr[i].avg, &p->period_avg);
		pool_unlock(p);
	}
	pthread_mutex_unlock(&rt->pools_lock);
	*out = arr;
	return n;
}

/* Column lists exactly as PgBouncer sends them (docs/pgbouncer-compat.md),
 * then pgtide's: waits that ended without a server, by cause. */
static const char *const stats_cols[] = {
	"database", "total_server_assignment_count:l", "total_xact_count:l", "total_query_count:l",
	"total_received:l", "total_sent:l", "total_xact_time:l", "total_query_time:l", "total_wait_time:l",
	"total_client_parse_count:l", "total_server_parse_count:l", "total_bind_count:l",
	"total_client_login_count:l", "avg_server_assignment_count:l", "avg_xact_count:l", "avg_query_count:l",
	"avg_recv:l", "avg_sent:l", "avg_xact_time:l", "avg_query_time:l", "avg_wait_time:l",
	"avg_client_parse_count:l", "avg_server_parse_count:l", "avg_bind_count:l", "avg_client_login_count:l",
	"total_wait_timeout_count:l", "total_wait_abandoned_count:l", "total_wait_canceled_count:l",
	"total_wait_killed_count:l", "total_wait_failed_count:l", "total_ps_hits:l",
	"total_ps_misses:l", "total_ps_evictions:l",
};
static const char *const stats_totals_cols[] = {
	"database", "server_assignment_count:l", "xact_count:l", "query_count:l", "bytes_received:l",
	"bytes_sent:l", "xact_time:l", "query_time:l", "wait_time:l", "client_parse_count:l",
	"server_parse_count:l", "bind_count:l", "client_login_count:l",
	"wait_timeout_count:l", "wait_abandoned_count:l", "wait_canceled_count:l", "wait_killed_count:l",
	"wait_failed_count:l", "ps_hits:l", "ps_misses:l", "ps_evictions:l",
};
static const char *const stats_averages_cols[] = {
	"database", "server_assignment_count:l", "xact_count:l", "query_count:l", "bytes_received:l",
	"bytes_sent:l", "xact_time:l", "query_time:l", "wait_time:l", "avg_client_parse_count:l",
	"avg_server_parse_count:l", "avg_bind_count:l", "avg_client_login_count:l",
};

/* The 12 PgBouncer counters in wire order. */
static int put_counters(fmt_ring_t *f, const char **vals, int nv, const stats_counters_t *s)
{
	uint64_t v[] = { s->server_assignment_count, s->xact_count, s->query_count, s->bytes_received,
			 s->bytes_sent, s->xact_time, s->query_time, s->wait_time, s->client_parse_count,
			 s->server_parse_count, s->bind_count, s->client_login_count };
	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		vals[nv++] = fmt_u64(f, v[i]);
	return nv;
}

static int put_pgtide_counters(fmt_ring_t *f, const char **vals, int nv, const stats_counters_t *s)
{
	vals[nv++] = fmt_u64(f, s->wait_timeout_count);
	vals[nv++] = fmt_u64(f, s->wait_abandoned_count);
	vals[nv++] = fmt_u64(f, s->wait_canceled_count);
	vals[nv++] = fmt_u64(f, s->wait_killed_count);
	vals[nv++] = fmt_u64(f, s->wait_failed_count);
	vals[nv++] = fmt_u64(f, s->ps_hit_count);
	vals[nv++] = fmt_u64(f, s->ps_miss_count);
	vals[nv++] = fmt_u64(f, s->ps_eviction_count);
	return nv;
}

typedef enum { STATS_BOTH, STATS_TOTALS, STATS_AVERAGES } stats_view_t;

static void show_stats(client_t *c, admin_out_t *o, stats_view_t view)
{
	const char *const *cols = view == STATS_BOTH ? stats_cols : view == STATS_TOTALS ? stats_totals_cols
											 : stats_averages_cols;
	int ncols = view == STATS_BOTH ? (int)ARRAY_SIZE(stats_cols)
		    : view == STATS_TOTALS ? (int)ARRAY_SIZE(stats_totals_cols)
					   : (int)ARRAY_SIZE(stats_averages_cols);
	out_header(o, cols, ncols);
	db_stats_t *dbs;
	int n = collect_db_stats(rt_of(c), &dbs);
	for (int d = 0; d < n; d++) {
		fmt_ring_t f = { .next = 0 };
		const char *vals[ARRAY_SIZE(stats_cols)];
		int nv = 0;
		vals[nv++] = dbs[d].name;
		if (view != STATS_AVERAGES)
			nv = put_counters(&f, vals, nv, &dbs[d].total);
		if (view != STATS_TOTALS)
			nv = put_counters(&f, vals, nv, &dbs[d].avg);
		if (view != STATS_AVERAGES)
			nv = put_pgtide_counters(&f, vals, nv, &dbs[d].total);
		out_row(o, vals, nv);
	}
	free(dbs);
	out_complete(o, "SHOW");
}

/* SHOW TOTALS: name/value rows over every database. */
static void show_totals(client_t *c, admin_out_t *o)
{
	static const char *const names[] = {
		"server_assignment_count", "xact_count", "query_count", "client_bytes", "server_bytes",
		"xact_time", "query_time", "wait_time", "ps_client_parse_count", "ps_server_parse_count",
		"ps_bind_count", "client_login_count",
	};
	static const char *const cols[] = { "name", "value:l" };
	db_stats_t *dbs;
	int n = collect_db_stats(rt_of(c), &dbs);
	stats_counters_t total = { 0 }, avg = { 0 };
	for (int d = 0; d < n; d++) {
		stats_counters_add(&total, &dbs[d].total);
		stats_counters_add(&avg, &dbs[d].avg);
	}
	free(dbs);
	out_header(o, cols, 2);
	for (int pass = 0; pass < 2; pass++) {
		fmt_ring_t f = { .next = 0 };
		const char *v[ARRAY_SIZE(names)];
		put_counters(&f, v, 0, pass == 0 ? &total : &avg);
		for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
			char name[64];
			snprintf(name, sizeof(name), "%s_%s", pass == 0 ? "total" : "avg", names[i]);
			const char *row[] = { name, v[i] };
			out_row(o, row, 2);
		}
	}
	out_complete(o, "SHOW");
}

/* ---- SHOW CLIENTS / SERVERS ---- */

static const char *const conn_cols[] = {
	"type", "user", "database", "replication", "state", "addr", "port:i", "local_addr", "local_port:i",
	"connect_time", "request_time", "wait:i", "wait_us:i", "close_needed:i", "ptr", "link",
	"remote_pid:i", "tls", "application_name", "prepared_statements:i", "id:l", "role", "worker:i",
};

/* The worker serving a connection, read from another thread: a server in
 * transit between workers has none for a moment (-1). One read, so the
 * test and the use see the same pointer. */
static int worker_id_of(const link_t *l)
{
	const worker_t *w = __atomic_load_n(&l->worker, __ATOMIC_RELAXED);
	return w ? w->id : -1;
}

static const char *client_state_name(const client_t *c)
{
	if (c->waiting)
		return "waiting";
	return c->server ? "active" : "idle";
}

static void client_row(admin_out_t *o, const client_t *c, usec_t now)
{
	fmt_ring_t f = { .next = 0 };
	char addr[64], laddr[64], ct[40], ptr[24], link[24];
	int port, lport;
	client_addr_str(c, addr, sizeof(addr), &port);
	client_local_addr_str(c, laddr, sizeof(laddr), &lport);
	clock_format_wall(c->connect_wall, ct, sizeof(ct));
	snprintf(ptr, sizeof(ptr), "%p", (const void *)c);
	snprintf(link, sizeof(link), "%p", (const void *)c->server);
	usec_t wait = c->waiting ? now - c->wait_start : 0;
	const char *app = c->params.v[PARAM_APPLICATION_NAME] ? c->params.v[PARAM_APPLICATION_NAME] : "";
	const char *vals[] = {
		"C", c->user, c->dbname, "no", client_state_name(c), addr, fmt_i64(&f, port), laddr,
		fmt_i64(&f, lport), ct, ct, fmt_i64(&f, wait / USEC_PER_SEC),
		fmt_i64(&f, wait % USEC_PER_SEC), "0", ptr, c->server ? link : "", "0", c->tls_desc ? c->tls_desc : "",
		app, "0",
		fmt_u64(&f, c->id), c->ro_entry ? "replica" : "",
		fmt_i64(&f, worker_id_of(&c->link)),
	};
	out_row(o, vals, ARRAY_SIZE(vals));
}

static void show_clients(client_t *c, admin_out_t *o)
{
	runtime_t *rt = rt_of(c);
	usec_t now = clock_mono_usec();
	out_header(o, conn_cols, ARRAY_SIZE(conn_cols));
	pthread_mutex_lock(&rt->pools_lock);
	list_node_t *n, *m;
	list_for_each(n, &rt->pools) {
		pool_t *p = list_entry(n, pool_t, rt_node);
		pool_lock(p);
		list_for_each(m, &p->clients)
			client_row(o, list_entry(m, client_t, pool_node), now);
		pool_unlock(p);
	}
	pthread_mutex_unlock(&rt->pools_lock);
	out_complete(o, "SHOW");
}

static const char *server_state_name(server_state_t st)
{
	switch (st) {
	case SV_CONNECTING:
	case SV_LOGIN:
		return "login";
	case SV_IDLE:
		return "idle";
	case SV_ACTIVE:
		return "active";
	case SV_CANCEL_WAIT:
		return "being_canceled";
	case SV_RESETTING:
		return "tested";
	case SV_MOVING:
		return "active";
	default:
		return "closed";
	}
}

static void server_row(admin_out_t *o, const pool_t *p, const server_t *s)
{
	fmt_ring_t f = { .next = 0 };
	char ct[40], ptr[24], link[24];
	clock_format_wall(s->connect_wall, ct, sizeof(ct));
	snprintf(ptr, sizeof(ptr), "%p", (const void *)s);
	snprintf(link, sizeof(link), "%p", (const void *)s->client);
	const char *vals[] = {
		"S", s->target.user, s->target.dbname, "no", server_state_name(s->state), s->target.host,
		fmt_i64(&f, s->target.port), "", "0", ct, ct, "0", "0", fmt_i64(&f, s->close_needed), ptr,
		s->client ? link : "", fmt_u64(&f, s->backend_pid), s->tls_desc ? s->tls_desc : "", "", "0",
		fmt_u64(&f, s->id),
		p->role == POOL_ROLE_REPLICA ? "replica" : "primary",
		fmt_i64(&f, worker_id_of(&s->link)),
	};
	out_row(o, vals, ARRAY_SIZE(vals));
}

static void show_servers(client_t *c, admin_out_t *o)
{
	runtime_t *rt = rt_of(c);
	out_header(o, conn_cols, ARRAY_SIZE(conn_cols));
	pthread_mutex_lock(&rt->pools_lock);
	list_node_t *n, *m;
	list_for_each(n, &rt->pools) {
		pool_t *p = list_entry(n, pool_t, rt_node);
		pool_lock(p);
		list_node_t *lists[] = { &p->active, &p->login, &p->busy };
		for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
			list_for_each(m, lists[i])
				server_row(o, p, list_entry(m, server_t, pool_node));
		}
		for (int w = 0; w < rt->nworkers; w++) {
			list_for_each(m, &p->idle[w])
				server_row(o, p, list_entry(m, server_t, pool_node));
		}
		pool_unlock(p);
	}
	pthread_mutex_unlock(&rt->pools_lock);
	out_complete(o, "SHOW");
}

/* ---- SHOW REPLICAS ---- */

static const char *const replica_cols[] = {
	"database", "host", "port:i", "state", "replay_lsn", "lag_bytes:l", "lag_ms:l", "transactions:l",
	"checks:l", "check_failures:l", "login_failures:l", "fallbacks:l", "state_since", "last_error",
};

static void replica_rows(replica_set_t *set, void *arg)
{
	admin_out_t *o = arg;
	for (int i = 0; i < set->n; i++) {
		replica_t *r = &set->r[i];
		fmt_ring_t f = { .next = 0 };
		char lsn[32], since[40], err[sizeof(r->last_error)];
		uint64_t l = atomic_load(&r->replay_lsn);
		snprintf(lsn, sizeof(lsn), "%X/%X", (unsigned)(l >> 32), (unsigned)l);
		clock_format_wall((usec_t)atomic_load(&r->state_since_wall), since, sizeof(since));
		pthread_mutex_lock(&set->lock);
		strlcpy_ok(err, r->last_error, sizeof(err));
		pthread_mutex_unlock(&set->lock);
		const char *vals[] = {
			set->dbname, r->host, fmt_i64(&f, r->port), replica_state_names[atomic_load(&r->state)], lsn,
			fmt_i64(&f, atomic_load(&r->lag_bytes)), fmt_i64(&f, atomic_load(&r->lag_usec) / USEC_PER_MSEC),
			fmt_u64(&f, atomic_load(&r->transactions)), fmt_u64(&f, atomic_load(&r->checks)),
			fmt_u64(&f, atomic_load(&r->check_failures)), fmt_u64(&f, atomic_load(&r->login_failures)),
			fmt_u64(&f, atomic_load(&set->fallbacks)), since, err,
		};
		out_row(o, vals, ARRAY_SIZE(vals));
	}
}

static void show_replicas(client_t *c, admin_out_t *o)
{
	out_header(o, replica_cols, ARRAY_SIZE(replica_cols));
	replica_for_each(rt_of(c), replica_rows, o);
	out_complete(o, "SHOW");
}

/* ---- SHOW DATABASES / USERS / CONFIG / LISTS / STATE / VERSION ---- */

static void show_databases(client_t *c, admin_out_t *o)
{
	static const char *const cols[] = {
		"name", "host", "port:i", "database", "force_user", "pool_size:i", "min_pool_size:i",
		"reserve_pool_size:i", "server_lifetime:i", "pool_mode", "load_balance_hosts", "max_connections:i",
		"current_connections:i", "max_client_connections:i", "current_client_connections:i", "paused:i",
		"disabled:i",
	};
	runtime_t *rt = rt_of(c);
	config_t *cfg = runtime_config(rt);
	out_header(o, cols, ARRAY_SIZE(cols));
	for (size_t i = 0; i < cfg->ndbs; i++) {
		const db_config_t *db = &cfg->dbs[i];
		fmt_ring_t f = { .next = 0 };
		int current = 0, clients = 0;
		bool paused = atomic_load(&rt->paused);
		pthread_mutex_lock(&rt->pools_lock);
		bool disabled = name_set_contains(&rt->disabled_dbs, db->name);
		paused |= name_set_contains(&rt->paused_dbs, db->name);
		list_node_t *n;
		list_for_each(n, &rt->pools) {
			pool_t *p = list_entry(n, pool_t, rt_node);
			if (strcmp(p->dbname, db->name) == 0) {
				pool_lock(p);
				current += pool_server_count(p);
				clients += p->n_clients;
				pool_unlock(p);
			}
		}
		pthread_mutex_unlock(&rt->pools_lock);
		const char *vals[] = {
			db->name, db->host ? db->host : "", fmt_i64(&f, db->port > 0 ? db->port : 5432),
			db->dbname ? db->dbname : db->name, db->user, fmt_i64(&f, config_db_pool_size(cfg, db)),
			fmt_i64(&f, db->min_pool_size >= 0 ? db->min_pool_size : cfg->min_pool_size),
			fmt_i64(&f, db->reserve_pool >= 0 ? db->reserve_pool : cfg->reserve_pool_size),
			fmt_i64(&f, cfg->server_lifetime / USEC_PER_SEC), mode_name(config_db_pool_mode(cfg, db)),
			NULL, fmt_i64(&f, db->max_db_connections > 0 ? db->max_db_connections : 0),
			fmt_i64(&f, current), "0", fmt_i64(&f, clients), paused ? "1" : "0", disabled ? "1" : "0",
		};
		out_row(o, vals, ARRAY_SIZE(vals));
	}
	config_unref(cfg);
	out_complete(o, "SHOW");
}

static void show_config(client_t *c, admin_out_t *o)
{
	static const char *const cols[] = { "key", "value", "default", "changeable" };
	config_t *cfg = runtime_config(rt_of(c));
	config_t *defaults = config_new_defaults();
	out_header(o, cols, ARRAY_SIZE(cols));
	for (size_t i = 0; i < config_setting_count(); i++) {
		const config_setting_t *s = config_setting_at(i);
		char val[512], def[512];
		config_format_value(cfg, s, val, sizeof(val));
		config_format_value(defaults, s, def, sizeof(def));
		const char *vals[] = { s->name, val, def, s->reloadable ? "yes" : "no" };
		out_row(o, vals, ARRAY_SIZE(vals));
	}
	config_unref(defaults);
	config_unref(cfg);
	out_complete(o, "SHOW");
}

static void show_lists(client_t *c, admin_out_t *o)
{
	static const char *const cols[] = { "list", "items:i" };
	runtime_t *rt = rt_of(c);
	config_t *cfg = runtime_config(rt);
	int used_clients = 0, used_servers = 0, login_clients = 0, npools;
	pthread_mutex_lock(&rt->pools_lock);
	npools = rt->npools;
	list_node_t *n;
	list_for_each(n, &rt->pools) {
		pool_t *p = list_entry(n, pool_t, rt_node);
		pool_lock(p);
		used_clients += p->n_clients;
		used_servers += pool_server_count(p);
		pool_unlock(p);
	}
	pthread_mutex_unlock(&rt->pools_lock);
	login_clients = atomic_load(&rt->nclients) - used_clients;
	fmt_ring_t f = { .next = 0 };
	struct {
		const char *name;
		int64_t v;
	} rows[] = {
		{ "databases", (int64_t)cfg->ndbs }, { "users", (int64_t)cfg->nusers }, { "peers", 0 },
		{ "pools", npools }, { "peer_pools", 0 }, { "free_clients", 0 }, { "used_clients", used_clients },
		{ "login_clients", login_clients > 0 ? login_clients : 0 }, { "free_servers", 0 },
		{ "used_servers", used_servers }, { "dns_names", 0 }, { "dns_zones", 0 }, { "dns_queries", 0 },
		{ "dns_pending", 0 },
	};
	out_header(o, cols, ARRAY_SIZE(cols));
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		const char *vals[] = { rows[i].name, fmt_i64(&f, rows[i].v) };
		out_row(o, vals, 2);
	}
	config_unref(cfg);
	out_complete(o, "SHOW");
}

static void show_kv(admin_out_t *o, const char *const *kv, int n)
{
	static const char *const cols[] = { "key", "value" };
	out_header(o, cols, 2);
	for (int i = 0; i < n; i += 2) {
		const char *vals[] = { kv[i], kv[i + 1] };
		out_row(o, vals, 2);
	}
	out_complete(o, "SHOW");
}

static void show_state(client_t *c, admin_out_t *o)
{
	runtime_t *rt = rt_of(c);
	const char *kv[] = { "active", atomic_load(&rt->paused) ? "no" : "yes", "paused",
			     atomic_load(&rt->paused) ? "yes" : "no", "suspended", "no" };
	show_kv(o, kv, ARRAY_SIZE(kv));
}

/* SHOW USERS: every user of the auth_file and of a pool. */
typedef struct user_row {
	char name[PROTO_MAX_NAME_LEN + 1];
	int clients;
} user_row_t;

static int user_index(user_row_t *rows, int n, const char *name)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(rows[i].name, name) == 0)
			return i;
	}
	return -1;
}

static void show_users(client_t *c, admin_out_t *o)
{
	static const char *const cols[] = { "name", "pool_size:i", "reserve_pool_size:i", "pool_mode",
					    "max_user_connections:i", "current_connections:i",
					    "max_user_client_connections:i", "current_client_connections:i" };
	runtime_t *rt = rt_of(c);
	config_t *cfg = runtime_config(rt);
	pthread_mutex_lock(&rt->pools_lock);
	int cap = (int)cfg->nusers + rt->npools + 1, n = 0;
	user_row_t *rows = xcalloc((size_t)cap, sizeof(*rows));
	for (size_t i = 0; i < cfg->nusers; i++)
		strlcpy_ok(rows[n++].name, cfg->users[i].name, sizeof(rows[0].name));
	list_node_t *node;
	list_for_each(node, &rt->pools) {
		pool_t *p = list_entry(node, pool_t, rt_node);
		int k = user_index(rows, n, p->user);
		if (k < 0) {
			k = n++;
			strlcpy_ok(rows[k].name, p->user, sizeof(rows[0].name));
		}
		pool_lock(p);
		rows[k].clients += p->n_clients;
		pool_unlock(p);
	}
	out_header(o, cols, ARRAY_SIZE(cols));
	for (int i = 0; i < n; i++) {
		fmt_ring_t f = { .next = 0 };
		int servers = 0;
		for (conn_count_t *cc = rt->user_counts; cc; cc = cc->next) {
			if (strcmp(cc->name, rows[i].name) == 0)
				servers = atomic_load(&cc->count);
		}
		const char *vals[] = { rows[i].name, fmt_i64(&f, cfg->default_pool_size),
				       fmt_i64(&f, cfg->reserve_pool_size), mode_name(cfg->pool_mode),
				       fmt_i64(&f, cfg->max_user_connections), fmt_i64(&f, servers), "0",
				       fmt_i64(&f, rows[i].clients) };
		out_row(o, vals, ARRAY_SIZE(vals));
	}
	pthread_mutex_unlock(&rt->pools_lock);
	free(rows);
	config_unref(cfg);
	out_complete(o, "SHOW");
}

/* SHOW MEM: pgtide's object sizes and the I/O buffer caches (read without
 * the workers' cooperation: a count may be a moment old). */
static void show_mem(client_t *c, admin_out_t *o)
{
	static const char *const cols[] = { "name", "size:i", "used:i", "free:i", "memtotal:l" };
	runtime_t *rt = rt_of(c);
	int64_t used = 0, nfree = 0;
	for (int i = 0; i < rt->nworkers; i++) {
		used += __atomic_load_n(&rt->workers[i].bufs.nused, __ATOMIC_RELAXED);
		nfree += __atomic_load_n(&rt->workers[i].bufs.nfree, __ATOMIC_RELAXED);
	}
	int64_t clients = atomic_load(&rt->nclients);
	int64_t servers = 0;
	pthread_mutex_lock(&rt->pools_lock);
	list_node_t *n;
	list_for_each(n, &rt->pools) {
		pool_t *p = list_entry(n, pool_t, rt_node);
		pool_lock(p);
		servers += pool_server_count(p);
		pool_unlock(p);
	}
	int64_t npools = rt->npools;
	pthread_mutex_unlock(&rt->pools_lock);
	struct {
		const char *name;
		int64_t size, used, nfree;
	} rows[] = {
		{ "iobuf", (int64_t)sizeof(iobuf_t), used, nfree },
		{ "client", (int64_t)sizeof(client_t), clients, 0 },
		{ "server", (int64_t)sizeof(server_t), servers, 0 },
		{ "pool", (int64_t)sizeof(pool_t) + (int64_t)sizeof(stats_slot_t) * rt->nworkers, npools, 0 },
	};
	out_header(o, cols, ARRAY_SIZE(cols));
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		fmt_ring_t f = { .next = 0 };
		const char *vals[] = { rows[i].name, fmt_i64(&f, rows[i].size), fmt_i64(&f, rows[i].used),
				       fmt_i64(&f, rows[i].nfree),
				       fmt_i64(&f, rows[i].size * (rows[i].used + rows[i].nfree)) };
		out_row(o, vals, ARRAY_SIZE(vals));
	}
	out_complete(o, "SHOW");
}

static void show_version(admin_out_t *o)
{
	static const char *const cols[] = { "version" };
	const char *vals[] = { "pgtide " PGTIDE_VERSION };
	out_header(o, cols, 1);
	out_row(o, vals, 1);
	out_complete(o, "SHOW");
}

static void show_empty(admin_out_t *o, const char *const *cols, int n)
{
	out_header(o, cols, n);
	out_complete(o, "SHOW");
}

static void show_help(admin_out_t *o)
{
	pktbuf_notice(&o->pb, "00000",
		      "Console usage\n\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION\n"
		      "\tSHOW LISTS|MEM|STATE|REPLICAS|DNS_HOSTS|DNS_ZONES\n"
		      "\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS\n"
		      "\tSET key = arg\n\tRELOAD\n\tPAUSE [<db>]\n\tRESUME [<db>]\n"
		      "\tDISABLE <db>\n\tENABLE <db>\n\tRECONNECT [<db>]\n\tKILL [<db>]\n"
		      "\tKILL_CLIENT <client_id>\n\tSHUTDOWN\n\tSHUTDOWN WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS\n"
		      "\tWAIT_CLOSE [<db>]");
	pktbuf_command_complete(&o->pb, "SHOW");
}

/* ---- commands ---- */

/* Splits a command into up to 4 words: upper[] for matching keywords,
 * orig[] as typed (database names are case-sensitive). A trailing ';' and
 * surrounding quotes are dropped. */
#define ADMIN_WORDS 4
static int split_words(const char *sql, char upper[ADMIN_WORDS][128], char orig[ADMIN_WORDS][128])
{
	int n = 0;
	const char *p = sql;
	while (n < ADMIN_WORDS) {
		while (*p && (isspace((unsigned char)*p) || *p == ';' || *p == '='))
			p++;
		if (!*p)
			break;
		char quote = (*p == '\'' || *p == '"') ? *p++ : 0;
		size_t len = 0;
		while (*p && len < 127) {
			if (quote ? *p == quote : (isspace((unsigned char)*p) || *p == ';' || *p == '='))
				break;
			orig[n][len] = *p;
			upper[n][len] = (char)toupper((unsigned char)*p);
			len++;
			p++;
		}
		if (quote && *p == quote)
			p++;
		orig[n][len] = upper[n][len] = '\0';
		n++;
	}
	return n;
}

static void admin_error(admin_out_t *o, const char *sqlstate, const char *msg)
{
	pktbuf_error(&o->pb, "ERROR", sqlstate, "%s", msg);
}

static bool run_show(client_t *c, admin_out_t *o, const char *what)
{
	static const char *const dns_hosts_cols[] = { "hostname", "ttl:l", "addrs" };
	static const char *const dns_zones_cols[] = { "zonename", "serial:l", "count:i" };
	if (strcmp(what, "POOLS") == 0)
		show_pools(c, o);
	else if (strcmp(what, "STATS") == 0)
		show_stats(c, o, STATS_BOTH);
	else if (strcmp(what, "STATS_TOTALS") == 0)
		show_stats(c, o, STATS_TOTALS);
	else if (strcmp(what, "STATS_AVERAGES") == 0)
		show_stats(c, o, STATS_AVERAGES);
	else if (strcmp(what, "TOTALS") == 0)
		show_totals(c, o);
	else if (strcmp(what, "CLIENTS") == 0)
		show_clients(c, o);
	else if (strcmp(what, "SERVERS") == 0)
		show_servers(c, o);
	else if (strcmp(what, "DATABASES") == 0)
		show_databases(c, o);
	else if (strcmp(what, "CONFIG") == 0)
		show_config(c, o);
	else if (strcmp(what, "LISTS") == 0)
		show_lists(c, o);
	else if (strcmp(what, "STATE") == 0)
		show_state(c, o);
	else if (strcmp(what, "VERSION") == 0)
		show_version(o);
	else if (strcmp(what, "HELP") == 0)
		show_help(o);
	else if (strcmp(what, "MEM") == 0)
		show_mem(c, o);
	else if (strcmp(what, "DNS_HOSTS") == 0)
		show_empty(o, dns_hosts_cols, ARRAY_SIZE(dns_hosts_cols));
	else if (strcmp(what, "DNS_ZONES") == 0)
		show_empty(o, dns_zones_cols, ARRAY_SIZE(dns_zones_cols));
	else if (strcmp(what, "USERS") == 0)
		show_users(c, o);
	else if (strcmp(what, "REPLICAS") == 0)
		show_replicas(c, o);
	else
		return false;
	return true;
}

/* What a command still waits for before it completes. */
typedef enum { WAIT_NONE = 0, WAIT_PAUSE, WAIT_CLOSE } admin_wait_t;

static void complete(admin_out_t *o, const char *tag)
{
	pktbuf_command_complete(&o->pb, tag);
}

static void unknown_db(admin_out_t *o, const char *db)
{
	char msg[200];
	snprintf(msg, sizeof(msg), "no such database: %s", db);
	admin_error(o, "3D000", msg);
}

/* Runs a control command. Returns the wait it leaves pending (the command
 * completes later, from admin_tick). */
static admin_wait_t run_control(client_t *c, admin_out_t *o, int n, char up[ADMIN_WORDS][128],
				char orig[ADMIN_WORDS][128], char *wait_db, size_t wait_db_len)
{
	runtime_t *rt = rt_of(c);
	const char *db = n >= 2 ? orig[1] : NULL;
	const char *cmd = up[0];
	if (strcmp(cmd, "PAUSE") == 0 || strcmp(cmd, "RESUME") == 0) {
		bool pause = cmd[0] == 'P';
		if (!control_pause(rt, db, pause)) {
			unknown_db(o, db);
			return WAIT_NONE;
		}
		if (!pause) {
			complete(o, "RESUME");
			return WAIT_NONE;
		}
		snprintf(wait_db, wait_db_len, "%s", db ? db : "");
		return WAIT_PAUSE;
	}
	if (strcmp(cmd, "RECONNECT") == 0) {
		if (!control_reconnect(rt, db))
			unknown_db(o, db);
		else
			complete(o, "RECONNECT");
		return WAIT_NONE;
	}
	if (strcmp(cmd, "WAIT_CLOSE") == 0) {
		if (!control_db_known(rt, db)) {
			unknown_db(o, db);
			return WAIT_NONE;
		}
		snprintf(wait_db, wait_db_len, "%s", db ? db : "");
		return WAIT_CLOSE;
	}
	if (strcmp(cmd, "KILL") == 0) {
		if (!control_kill(rt, db))
			unknown_db(o, db);
		else
			complete(o, "KILL");
	} else if (strcmp(cmd, "KILL_CLIENT") == 0) {
		if (!db || !control_kill_client(rt, strtoull(db, NULL, 10)))
			admin_error(o, "42704", "no such client; the id is the one SHOW CLIENTS shows");
		else
			complete(o, "KILL_CLIENT");
	} else if (strcmp(cmd, "DISABLE") == 0 || strcmp(cmd, "ENABLE") == 0) {
		if (!db)
			admin_error(o, "42601", "DISABLE and ENABLE need a database name");
		else if (!control_disable(rt, db, cmd[0] == 'D'))
			unknown_db(o, db);
		else
			complete(o, cmd[0] == 'D' ? "DISABLE" : "ENABLE");
	} else if (strcmp(cmd, "SET") == 0) {
		char err[256];
		if (n < 3)
			admin_error(o, "42601", "usage: SET key = value");
		else if (!control_set(rt, orig[1], orig[2], err, sizeof(err)))
			admin_error(o, "22023", err);
		else
			complete(o, "SET");
	} else if (strcmp(cmd, "RELOAD") == 0) {
		kill(getpid(), SIGHUP);
		complete(o, "RELOAD");
	} else if (strcmp(cmd, "SHUTDOWN") == 0) {
		/* WAIT_FOR_SERVERS drains like SIGTERM (running transactions
		 * finish); WAIT_FOR_CLIENTS lets connected clients carry on until
		 * they leave; plain SHUTDOWN stops at once. */
		if (n >= 2 && strcmp(up[1], "WAIT_FOR_CLIENTS") == 0)
			atomic_store(&rt->drain_for_clients, true);
		kill(getpid(), n >= 2 ? SIGTERM : SIGINT);
		complete(o, "SHUTDOWN");
	} else {
		admin_error(o, "42601", "unknown admin command; try SHOW HELP");
	}
	return WAIT_NONE;
}

static admin_wait_t run_command(client_t *c, admin_out_t *o, const char *sql, char *wait_db, size_t wait_db_len)
{
	char up[ADMIN_WORDS][128], orig[ADMIN_WORDS][128];
	int n = split_words(sql, up, orig);
	if (n == 0) {
		pktbuf_begin(&o->pb, BE_EMPTY_QUERY);
		pktbuf_end(&o->pb);
		return WAIT_NONE;
	}
	if ((strcmp(up[0], "SHOW") == 0 || strcmp(up[0], "SELECT") == 0) && n >= 2) {
		if (!run_show(c, o, up[1]))
			admin_error(o, "42601", "unknown SHOW command; try SHOW HELP");
		return WAIT_NONE;
	}
	if (!c->admin_can_control) {
		admin_error(o, "42501", "admin console command not allowed for a stats user");
		return WAIT_NONE;
	}
	return run_control(c, o, n, up, orig, wait_db, wait_db_len);
}

/* Extended protocol state: the console has one unnamed statement and one
 * unnamed portal, as exporters and drivers use it. */
typedef struct admin_session {
	char *sql;             /* from Parse */
	pktbuf_t result;       /* the answer, built at Describe or Execute */
	size_t result_pos;     /* bytes of result already sent */
	bool have_result;
	bool failed;           /* error in this extended sequence: skip to Sync */
	admin_wait_t wait;     /* a PAUSE / WAIT_CLOSE still in progress */
	char wait_db[128];     /* its database ("" = all) */
} admin_session_t;

void admin_session_free(admin_session_t *a)
{
	if (!a)
		return;
	free(a->sql);
	if (a->have_result)
		pktbuf_free(&a->result);
	free(a);
}

static admin_session_t *session_of(client_t *c)
{
	if (!c->admin)
		c->admin = xcalloc(1, sizeof(admin_session_t));
	return c->admin;
}

static void drop_result(admin_session_t *a)
{
	if (a->have_result)
		pktbuf_free(&a->result);
	a->have_result = false;
	a->result_pos = 0;
}

static void send_bytes(client_t *c, const void *data, size_t len)
{
	link_write(&c->link, data, len);
}

static void send_simple(client_t *c, uint8_t type)
{
	uint8_t msg[5] = { type, 0, 0, 0, 4 };
	send_bytes(c, msg, sizeof(msg));
}

/* Runs the parsed statement once; the answer is kept for Describe/Execute. */
static void build_result(client_t *c, admin_session_t *a)
{
	if (a->have_result)
		return;
	admin_out_t o = { .rows = 0 };
	pktbuf_init_growable(&o.pb, 4096);
	/* Over the extended protocol a PAUSE answers at once (it still holds
	 * new transactions); the wait for running ones is simple-protocol only. */
	admin_wait_t w = run_command(c, &o, a->sql ? a->sql : "", a->wait_db, sizeof(a->wait_db));
	if (w != WAIT_NONE)
		complete(&o, w == WAIT_PAUSE ? "PAUSE" : "WAIT_CLOSE");
	a->result = o.pb;
	a->have_result = true;
	a->result_pos = 0;
}

/* Length of the message at p (type + length field). */
static size_t msg_size(const uint8_t *p)
{
	return 1 + (size_t)proto_get_u32(p + 1);
}

/* Only SHOW (and its SELECT alias) returns rows; describing anything else
 * must not run it (a Describe of KILL_CLIENT would kill). */
static bool returns_rows(const char *sql)
{
	while (sql && isspace((unsigned char)*sql))
		sql++;
	return sql && (strncasecmp(sql, "SHOW", 4) == 0 || strncasecmp(sql, "SELECT", 6) == 0);
}

static void extended_describe(client_t *c, admin_session_t *a, const uint8_t *body, size_t len)
{
	if (len >= 1 && body[0] == 'S') {
		static const uint8_t no_params[] = { BE_PARAM_DESC, 0, 0, 0, 6, 0, 0 };
		send_bytes(c, no_params, sizeof(no_params));
	}
	if (!returns_rows(a->sql)) {
		send_simple(c, BE_NO_DATA);
		return;
	}
	build_result(c, a);
	const uint8_t *r = a->result.data;
	if (a->result.len >= 5 && r[0] == BE_ROW_DESC) {
		size_t n = msg_size(r);
		send_bytes(c, r, n);
		a->result_pos = n;
	} else if (a->result.len >= 5 && r[0] == BE_ERROR) {
		send_bytes(c, r, a->result.len);
		a->failed = true;
		drop_result(a);
	} else {
		send_simple(c, BE_NO_DATA);
	}
}

static void extended_execute(client_t *c, admin_session_t *a)
{
	build_result(c, a);
	const uint8_t *r = a->result.data;
	size_t pos = a->result_pos;
	/* Without a Describe the rows go out without their RowDescription. */
	if (pos == 0 && a->result.len >= 5 && r[0] == BE_ROW_DESC)
		pos = msg_size(r);
	send_bytes(c, r + pos, a->result.len - pos);
	if (a->result.len > pos && r[pos] == BE_ERROR)
		a->failed = true;
	drop_result(a);
}

static void admin_extended(client_t *c, uint8_t type, const uint8_t *body, size_t len)
{
	admin_session_t *a = session_of(c);
	if (type == FE_SYNC) {
		a->failed = false;
		drop_result(a);
		uint8_t ready[6] = { BE_READY, 0, 0, 0, 5, 'I' };
		send_bytes(c, ready, sizeof(ready));
		link_flush(&c->link);
		return;
	}
	if (a->failed)
		return;
	msg_reader_t r;
	msg_reader_init(&r, body, len);
	switch (type) {
	case FE_PARSE: {
		const char *name = msg_read_cstr(&r), *sql = msg_read_cstr(&r);
		if (!name || !sql) {
			client_fail_request(c, "08P01", "invalid Parse message", true);
			return;
		}
		free(a->sql);
		a->sql = xstrdup(sql);
		drop_result(a);
		send_simple(c, BE_PARSE_COMPLETE);
		return;
	}
	case FE_BIND:
		drop_result(a);
		send_simple(c, BE_BIND_COMPLETE);
		return;
	case FE_DESCRIBE:
		extended_describe(c, a, body, len);
		return;
	case FE_EXECUTE:
		extended_execute(c, a);
		return;
	case FE_CLOSE:
		send_simple(c, BE_CLOSE_COMPLETE);
		return;
	case FE_FLUSH:
		link_flush(&c->link);
		return;
	default:
		client_fail_request(c, "0A000", "unsupported message for the admin console", true);
		return;
	}
}

static void admin_send(client_t *c, admin_out_t *o)
{
	pktbuf_ready(&o->pb, 'I');
	link_write(&c->link, o->pb.data, o->pb.len);
	pktbuf_free(&o->pb);
	link_flush(&c->link);
}

void admin_message(client_t *c, uint8_t type, const uint8_t *body, size_t len)
{
	if (type != FE_QUERY) {
		admin_extended(c, type, body, len);
		return;
	}
	if (len == 0 || body[len - 1] != 0) {
		client_fail_request(c, "08P01", "invalid query message", true);
		return;
	}
	admin_session_t *a = session_of(c);
	admin_out_t o = { .rows = 0 };
	pktbuf_init_growable(&o.pb, 4096);
	a->wait = run_command(c, &o, (const char *)body, a->wait_db, sizeof(a->wait_db));
	if (a->wait != WAIT_NONE) {
		/* The answer comes from admin_tick once the wait is over. */
		pktbuf_free(&o.pb);
		admin_tick(c);
		return;
	}
	admin_send(c, &o);
}

void admin_tick(client_t *c)
{
	admin_session_t *a = c->admin;
	if (!a || a->wait == WAIT_NONE)
		return;
	runtime_t *rt = rt_of(c);
	const char *db = a->wait_db[0] ? a->wait_db : NULL;
	bool done = a->wait == WAIT_PAUSE ? control_pause_done(rt, db) : control_reconnect_done(rt, db);
	if (!done)
		return;
	admin_out_t o = { .rows = 0 };
	pktbuf_init_growable(&o.pb, 64);
	complete(&o, a->wait == WAIT_PAUSE ? "PAUSE" : "WAIT_CLOSE");
	a->wait = WAIT_NONE;
	admin_send(c, &o);
}

void admin_login(client_t *c)
{
	const config_t *cfg = runtime_cfg(rt_of(c));
	bool admin = config_list_contains(cfg->admin_users, c->user);
	bool stats = admin || config_list_contains(cfg->stats_users, c->user) || cfg->auth_type == AUTH_TYPE_ANY;
	if (!stats) {
		char msg[160];
		snprintf(msg, sizeof(msg), "user \"%s\" is not allowed to use the admin console", c->user);
		client_fail_request(c, "28000", msg, true);
		return;
	}
	c->admin_can_control = admin;
	c->state = CL_READY;
	uint8_t mem[512];
	pktbuf_t pb;
	pktbuf_init_fixed(&pb, mem, sizeof(mem));
	pktbuf_param_status(&pb, "server_version", "15.0 (pgtide " PGTIDE_VERSION ")");
	pktbuf_param_status(&pb, "client_encoding", "UTF8");
	pktbuf_param_status(&pb, "server_encoding", "UTF8");
	pktbuf_param_status(&pb, "DateStyle", "ISO, MDY");
	pktbuf_param_status(&pb, "standard_conforming_strings", "on");
	pktbuf_param_status(&pb, "integer_datetimes", "on");
	pktbuf_backend_key(&pb, 0, 0);
	pktbuf_ready(&pb, 'I');
	link_write(&c->link, pb.data, pb.len);
	link_flush(&c->link);
}

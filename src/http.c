/*
 * http.c - /metrics, /healthz and /readyz on a thread of their own.
 *
 * Metric names follow Prometheus conventions (base units, counters end in
 * _total); the counters are the ones SHOW STATS_TOTALS shows, read from the
 * same place (pool_stats_total), so both views always agree.
 */
#include "http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "clock.h"
#include "pool.h"
#include "replica.h"
#include "server.h"

_Static_assert(HTTP_LE_MIN_POW > HIST_SUB_BITS && HTTP_LE_MAX_POW <= HIST_MAX_POW,
	       "le bounds must be bucket bounds below the overflow bucket");

#define READY_CACHE_USEC USEC_PER_SEC
#define PROBE_TIMEOUT_MS 1000
#define HTTP_TIMEOUT_SEC 10

/* ---- snapshot ---- */

/* Gauges under the pool lock, as SHOW POOLS counts them. */
static void snap_gauges(pool_t *p, http_pool_snap_t *ps, usec_t now)
{
	pool_lock(p);
	ps->clients_active = p->n_clients - p->n_waiting;
	ps->clients_waiting = p->n_waiting;
	ps->servers_active = p->n_active;
	ps->servers_idle = p->n_idle;
	ps->servers_login = p->n_login;
	ps->pool_size = p->pool_size;
	ps->utilization = p->utilization;
	if (!list_empty(&p->waiters)) {
		usec_t since = list_entry(list_first(&p->waiters), client_t, wait_node)->wait_start;
		ps->maxwait_us = (uint64_t)MAX(now - since, 0);
	}
	list_node_t *n;
	list_for_each(n, &p->busy) {
		server_state_t st = list_entry(n, server_t, pool_node)->state;
		ps->servers_tested += st == SV_RESETTING;
		ps->servers_being_canceled += st == SV_CANCEL_WAIT;
	}
	pool_unlock(p);
}

static void snap_replicas(replica_set_t *set, void *arg)
{
	http_snapshot_t *s = arg;
	for (int i = 0; i < set->n; i++) {
		replica_t *r = &set->r[i];
		if (s->nreplicas == s->replicas_cap) {
			s->replicas_cap = s->replicas_cap ? 2 * s->replicas_cap : 8;
			s->replicas = xrealloc(s->replicas, (size_t)s->replicas_cap * sizeof(*s->replicas));
		}
		http_replica_snap_t *rs = &s->replicas[s->nreplicas++];
		char name[300];
		snprintf(name, sizeof(name), "%s:%d", r->host, r->port);
		rs->database = xstrdup(set->dbname);
		rs->replica = xstrdup(name);
		rs->state = atomic_load(&r->state);
		rs->lag_bytes = atomic_load(&r->lag_bytes);
		rs->lag_usec = atomic_load(&r->lag_usec);
		rs->transactions = atomic_load(&r->transactions);
		rs->check_failures = atomic_load(&r->check_failures);
	}
}

/* Pools live until runtime_destroy, which runs after this thread stopped,
 * so pools_lock is held only to list them; merging every worker's
 * histograms runs without it and never delays a login's pool_get. */
void http_snapshot_take(runtime_t *rt, http_snapshot_t *s)
{
	memset(s, 0, sizeof(*s));
	s->version = PGTIDE_VERSION;
	s->clients_connected = atomic_load(&rt->nclients);
	s->start_wall = rt->start_wall;
	pthread_mutex_lock(&rt->pools_lock);
	pool_t **pools = xcalloc((size_t)MAX(rt->npools, 1), sizeof(*pools));
	list_node_t *n;
	list_for_each(n, &rt->pools) {
		if (s->npools < rt->npools)
			pools[s->npools++] = list_entry(n, pool_t, rt_node);
	}
	pthread_mutex_unlock(&rt->pools_lock);
	s->pools = xcalloc((size_t)MAX(s->npools, 1), sizeof(*s->pools));
	usec_t now = clock_mono_usec();
	/* A replica pool adds to its primary's series (one per database and
	 * user); it follows its primary in the registry. */
	int nkept = 0;
	for (int i = 0; i < s->npools; i++) {
		pool_t *p = pools[i];
		if (p->role == POOL_ROLE_REPLICA) {
			int k;
			for (k = nkept - 1; k >= 0 && pools[k] != p->primary; k--)
				;
			if (k < 0)
				continue;
			http_pool_snap_t *ps = &s->pools[k], rs = { 0 };
			stats_counters_t t;
			hist_t *h = xmalloc(2 * sizeof(hist_t));
			pool_stats_total(p, &t, &h[0], &h[1]);
			stats_counters_add(&ps->total, &t);
			hist_merge(&ps->wait, &h[0]);
			hist_merge(&ps->xact, &h[1]);
			free(h);
			snap_gauges(p, &rs, now);
			ps->servers_active += rs.servers_active;
			ps->servers_idle += rs.servers_idle;
			ps->servers_login += rs.servers_login;
			ps->servers_tested += rs.servers_tested;
			ps->servers_being_canceled += rs.servers_being_canceled;
			ps->clients_waiting += rs.clients_waiting;
			ps->clients_active -= rs.clients_waiting;
			continue;
		}
		pools[nkept] = p;
		http_pool_snap_t *ps = &s->pools[nkept++];
		ps->database = xstrdup(p->dbname);
		ps->user = xstrdup(p->user);
		pool_stats_total(p, &ps->total, &ps->wait, &ps->xact);
		snap_gauges(p, ps, now);
	}
	s->npools = nkept;
	free(pools);
	replica_for_each(rt, snap_replicas, s);
}

void http_snapshot_free(http_snapshot_t *s)
{
	for (int i = 0; i < s->npools; i++) {
		free(s->pools[i].database);
		free(s->pools[i].user);
	}
	free(s->pools);
	s->pools = NULL;
	for (int i = 0; i < s->nreplicas; i++) {
		free(s->replicas[i].database);
		free(s->replicas[i].replica);
	}
	free(s->replicas);
	s->replicas = NULL;
	s->nreplicas = s->replicas_cap = 0;
	s->npools = 0;
}

/* ---- exposition ---- */

/* µs as exact decimal seconds ("1.5", "0.000127"): no float rounding, so
 * a sum in seconds converts back to the µs SHOW STATS_TOTALS shows. */
static void put_usec(struct evbuffer *out, uint64_t us)
{
	char frac[8];
	snprintf(frac, sizeof(frac), "%06" PRIu64, us % (uint64_t)USEC_PER_SEC);
	int len = 6;
	while (len > 0 && frac[len - 1] == '0')
		len--;
	frac[len] = '\0';
	evbuffer_add_printf(out, "%" PRIu64 "%s%s", us / (uint64_t)USEC_PER_SEC, len ? "." : "", frac);
}

/* Label values escape backslash, double quote and newline (format 0.0.4);
 * plain runs are copied whole. */
static void put_escaped(struct evbuffer *out, const char *v)
{
	for (;;) {
		size_t run = strcspn(v, "\\\"\n");
		evbuffer_add(out, v, run);
		v += run;
		if (!*v)
			return;
		evbuffer_add(out, *v == '\n' ? "\\n" : *v == '"' ? "\\\"" : "\\\\", 2);
		v++;
	}
}

static void put_header(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{database="..",user=".."[,extra="value"]} ; value follows. */
static void put_series(struct evbuffer *out, const char *name, const http_pool_snap_t *p,
		       const char *extra, const char *extra_value)
{
	evbuffer_add_printf(out, "%s{database=\"", name);
	put_escaped(out, p->database);
	evbuffer_add(out, "\",user=\"", 8);
	put_escaped(out, p->user);
	if (extra) {
		evbuffer_add_printf(out, "\",%s=\"", extra);
		put_escaped(out, extra_value);
	}
	evbuffer_add(out, "\"} ", 3);
}

typedef enum { V_I64, V_U64, V_USEC, V_DOUBLE } value_kind_t;

typedef struct family {
	const char *name, *type, *help;
	size_t off;          /* into http_pool_snap_t */
	value_kind_t kind;
} family_t;

#define SNAP(field) offsetof(http_pool_snap_t, field)

static const family_t pool_families[] = {
	{ "pgtide_clients_active", "gauge", "Logged-in clients not waiting for a server.",
	  SNAP(clients_active), V_I64 },
	{ "pgtide_clients_waiting", "gauge", "Clients waiting for a server.", SNAP(clients_waiting), V_I64 },
	{ "pgtide_servers_active", "gauge", "Server connections linked to a client.", SNAP(servers_active), V_I64 },
	{ "pgtide_servers_idle", "gauge", "Server connections idle in the pool.", SNAP(servers_idle), V_I64 },
	{ "pgtide_servers_login", "gauge", "Server connections connecting or logging in.", SNAP(servers_login),
	  V_I64 },
	{ "pgtide_servers_tested", "gauge", "Server connections being reset after their client left.",
	  SNAP(servers_tested), V_I64 },
	{ "pgtide_servers_being_canceled", "gauge", "Server connections waiting for a cancel to finish.",
	  SNAP(servers_being_canceled), V_I64 },
	{ "pgtide_pool_size", "gauge", "Configured pool size.", SNAP(pool_size), V_I64 },
	{ "pgtide_pool_maxwait_seconds", "gauge", "How long the oldest waiting client has waited.",
	  SNAP(maxwait_us), V_USEC },
	{ "pgtide_pool_utilization", "gauge", "Share of the pool's servers busy over the last stats period.",
	  SNAP(utilization), V_DOUBLE },
	{ "pgtide_transactions_total", "counter", "Transactions run.", SNAP(total.xact_count), V_U64 },
	{ "pgtide_queries_total", "counter", "Queries run.", SNAP(total.query_count), V_U64 },
	{ "pgtide_received_bytes_total", "counter", "Bytes received from clients.", SNAP(total.bytes_received),
	  V_U64 },
	{ "pgtide_sent_bytes_total", "counter", "Bytes sent to clients.", SNAP(total.bytes_sent), V_U64 },
	{ "pgtide_transaction_time_seconds_total", "counter", "Time spent in transactions.",
	  SNAP(total.xact_time), V_USEC },
	{ "pgtide_query_time_seconds_total", "counter", "Time spent in queries.", SNAP(total.query_time),
	  V_USEC },
	{ "pgtide_client_wait_time_seconds_total", "counter", "Time clients spent waiting for a server.",
	  SNAP(total.wait_time), V_USEC },
	{ "pgtide_server_assignments_total", "counter", "Times a server was handed to a client.",
	  SNAP(total.server_assignment_count), V_U64 },
	{ "pgtide_client_logins_total", "counter", "Client logins.", SNAP(total.client_login_count), V_U64 },
	{ "pgtide_server_login_failures_total", "counter", "Failed server logins.", SNAP(total.login_failures),
	  V_U64 },
	{ "pgtide_server_errors_total", "counter", "Server connections lost to errors.", SNAP(total.server_errors),
	  V_U64 },
	{ "pgtide_client_parses_total", "counter", "Parse messages clients sent.", SNAP(total.client_parse_count),
	  V_U64 },
	{ "pgtide_server_parses_total", "counter",
	  "Parse messages that reached a server (re-prepares of named statements included).",
	  SNAP(total.server_parse_count), V_U64 },
	{ "pgtide_binds_total", "counter", "Bind messages.", SNAP(total.bind_count), V_U64 },
	{ "pgtide_prepared_statement_hits_total", "counter",
	  "Uses of a named statement the serving connection already had.", SNAP(total.ps_hit_count), V_U64 },
	{ "pgtide_prepared_statement_misses_total", "counter",
	  "Named statements pgtide had to prepare on the serving connection.", SNAP(total.ps_miss_count), V_U64 },
	{ "pgtide_prepared_statement_evictions_total", "counter",
	  "Named statements closed on a server beyond max_prepared_statements.", SNAP(total.ps_eviction_count),
	  V_U64 },
};

static void put_value(struct evbuffer *out, const http_pool_snap_t *p, const family_t *f)
{
	const char *field = (const char *)p + f->off;
	switch (f->kind) {
	case V_I64: evbuffer_add_printf(out, "%" PRId64 "\n", *(const int64_t *)field); return;
	case V_U64: evbuffer_add_printf(out, "%" PRIu64 "\n", *(const uint64_t *)field); return;
	case V_USEC: put_usec(out, *(const uint64_t *)field); break;
	case V_DOUBLE: evbuffer_add_printf(out, "%.6f", *(const double *)field); break;
	}
	evbuffer_add(out, "\n", 1);
}

static void put_pool_family(struct evbuffer *out, const http_snapshot_t *s, const family_t *f)
{
	put_header(out, f->name, f->type, f->help);
	for (int i = 0; i < s->npools; i++) {
		put_series(out, f->name, &s->pools[i], NULL, NULL);
		put_value(out, &s->pools[i], f);
	}
}

static void put_wait_causes(struct evbuffer *out, const http_snapshot_t *s)
{
	static const struct {
		const char *cause;
		size_t off;
	} causes[] = {
		{ "timeout", SNAP(total.wait_timeout_count) },  { "client_gone", SNAP(total.wait_abandoned_count) },
		{ "canceled", SNAP(total.wait_canceled_count) }, { "killed", SNAP(total.wait_killed_count) },
		{ "login_failed", SNAP(total.wait_failed_count) },
	};
	const char *name = "pgtide_waits_ended_without_server_total";
	put_header(out, name, "counter", "Waits for a server that ended without one, by cause.");
	for (int i = 0; i < s->npools; i++) {
		for (size_t c = 0; c < ARRAY_SIZE(causes); c++) {
			put_series(out, name, &s->pools[i], "cause", causes[c].cause);
			evbuffer_add_printf(out, "%" PRIu64 "\n",
					    *(const uint64_t *)((const char *)&s->pools[i] + causes[c].off));
		}
	}
}

/* One pool's histogram: the log-linear buckets merged into the fixed le set.
 * Samples past the last finite bound (and the hist_t overflow bucket) only
 * show in +Inf. Counts are clamped to count: a worker may have bumped a
 * bucket but not yet count (or the reverse) while we read. */
static void put_histogram(struct evbuffer *out, const char *name, const http_pool_snap_t *p,
			  const hist_t *h)
{
	char bucket[96], sum[96], count[96], le[32];
	snprintf(bucket, sizeof(bucket), "%s_bucket", name);
	snprintf(sum, sizeof(sum), "%s_sum", name);
	snprintf(count, sizeof(count), "%s_count", name);
	uint64_t cum = 0;
	int i = 0;
	for (int k = HTTP_LE_MIN_POW; k <= HTTP_LE_MAX_POW; k++) {
		uint64_t bound = ((uint64_t)1 << k) - 1;
		for (; i < HIST_BUCKETS - 1 && hist_bucket_upper(i) <= bound; i++)
			cum += h->buckets[i];
		snprintf(le, sizeof(le), "%" PRIu64 ".%06" PRIu64, bound / (uint64_t)USEC_PER_SEC,
			 bound % (uint64_t)USEC_PER_SEC);
		put_series(out, bucket, p, "le", le);
		evbuffer_add_printf(out, "%" PRIu64 "\n", MIN(cum, h->count));
	}
	put_series(out, bucket, p, "le", "+Inf");
	evbuffer_add_printf(out, "%" PRIu64 "\n", h->count);
	put_series(out, sum, p, NULL, NULL);
	put_usec(out, h->sum);
	evbuffer_add(out, "\n", 1);
	put_series(out, count, p, NULL, NULL);
	evbuffer_add_printf(out, "%" PRIu64 "\n", h->count);
}

static void put_hist_family(struct evbuffer *out, const http_snapshot_t *s, const char *name,
			    const char *help, size_t off)
{
	put_header(out, name, "histogram", help);
	for (int i = 0; i < s->npools; i++)
		put_histogram(out, name, &s->pools[i], (const hist_t *)((const char *)&s->pools[i] + off));
}

static void put_process(struct evbuffer *out, const http_snapshot_t *s)
{
	put_header(out, "pgtide_up", "gauge", "1 while pgtide runs.");
	evbuffer_add_printf(out, "pgtide_up 1\n");
	put_header(out, "pgtide_info", "gauge", "pgtide's version, as a label.");
	evbuffer_add(out, "pgtide_info{version=\"", 21);
	put_escaped(out, s->version);
	evbuffer_add(out, "\"} 1\n", 5);
	put_header(out, "pgtide_clients_connected", "gauge", "Client connections, logged in or not.");
	evbuffer_add_printf(out, "pgtide_clients_connected %" PRId64 "\n", s->clients_connected);
	put_header(out, "pgtide_start_time_seconds", "gauge", "Start time since the Unix epoch.");
	evbuffer_add(out, "pgtide_start_time_seconds ", 26);
	put_usec(out, (uint64_t)MAX(s->start_wall, 0));
	evbuffer_add(out, "\n", 1);
}

/* The replica families (none when no database has replicas). */
static void put_replica_series(struct evbuffer *out, const char *name, const http_replica_snap_t *r)
{
	evbuffer_add_printf(out, "%s{database=\"", name);
	put_escaped(out, r->database);
	evbuffer_add_printf(out, "\",replica=\"");
	put_escaped(out, r->replica);
	evbuffer_add_printf(out, "\"} ");
}

static void put_replicas(struct evbuffer *out, const http_snapshot_t *s)
{
	if (!s->nreplicas)
		return;
	put_header(out, "pgtide_replica_up", "gauge",
		   "1 when the replica takes transactions: reachable, in recovery, within replica_max_lag.");
	for (int i = 0; i < s->nreplicas; i++) {
		put_replica_series(out, "pgtide_replica_up", &s->replicas[i]);
		evbuffer_add_printf(out, "%d\n", s->replicas[i].state == REPLICA_UP);
	}
	put_header(out, "pgtide_replica_lag_bytes", "gauge", "WAL the replica has still to replay, at the last check.");
	for (int i = 0; i < s->nreplicas; i++) {
		put_replica_series(out, "pgtide_replica_lag_bytes", &s->replicas[i]);
		evbuffer_add_printf(out, "%" PRId64 "\n", s->replicas[i].lag_bytes);
	}
	put_header(out, "pgtide_replica_lag_seconds", "gauge",
		   "How long ago the primary was first seen past the replica's replay position.");
	for (int i = 0; i < s->nreplicas; i++) {
		put_replica_series(out, "pgtide_replica_lag_seconds", &s->replicas[i]);
		put_usec(out, (uint64_t)MAX(s->replicas[i].lag_usec, 0));
		evbuffer_add(out, "\n", 1);
	}
	put_header(out, "pgtide_replica_transactions_total", "counter", "Transactions the replica served.");
	for (int i = 0; i < s->nreplicas; i++) {
		put_replica_series(out, "pgtide_replica_transactions_total", &s->replicas[i]);
		evbuffer_add_printf(out, "%" PRIu64 "\n", s->replicas[i].transactions);
	}
	put_header(out, "pgtide_replica_check_failures_total", "counter", "Health checks of the replica that failed.");
	for (int i = 0; i < s->nreplicas; i++) {
		put_replica_series(out, "pgtide_replica_check_failures_total", &s->replicas[i]);
		evbuffer_add_printf(out, "%" PRIu64 "\n", s->replicas[i].check_failures);
	}
}

void http_metrics_write(const http_snapshot_t *s, struct evbuffer *out)
{
	put_process(out, s);
	for (size_t f = 0; f < ARRAY_SIZE(pool_families); f++)
		put_pool_family(out, s, &pool_families[f]);
	put_wait_causes(out, s);
	put_hist_family(out, s, "pgtide_client_wait_seconds", "Client wait for a server, per assignment.",
			SNAP(wait));
	put_hist_family(out, s, "pgtide_transaction_seconds", "Transaction duration.", SNAP(xact));
	put_replicas(out, s);
}

/* ---- readiness ---- */

struct http_server {
	runtime_t *rt;
	pthread_t thread;
	struct event_base *base;
	struct evhttp *http;
	int stop_fd;                 /* eventfd: http_stop wakes the loop */
	struct event *stop_ev;
	/* Database probe results, reused for READY_CACHE_USEC so a busy probe
	 * schedule does not turn into a connect storm. This thread only. */
	usec_t probed_at;
	char problems[1024];         /* empty = every database reachable */
};

/* 0 when a TCP or unix connection to sa opens within PROBE_TIMEOUT_MS,
 * else an errno. Blocking is fine: this thread serves nothing else. */
static int connect_within(const struct sockaddr *sa, socklen_t len)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	int err = connect(fd, sa, len) == 0 ? 0 : errno;
	if (err == EINPROGRESS) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int n = poll(&pfd, 1, PROBE_TIMEOUT_MS);
		socklen_t elen = sizeof(err);
		if (n == 0)
			err = ETIMEDOUT;
		else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
	}
	close(fd);
	return err;
}

/* Whether host:port accepts connections; why gets the reason if not.
 * A host starting with '/' is a unix socket directory, as in pool.c. */
static bool probe(const char *host, int port, char *why, size_t cap)
{
	char tmp[128];
	if (host[0] == '/') {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/.s.PGSQL.%d", host, port);
		int err = connect_within((struct sockaddr *)&sun, sizeof(sun));
		snprintf(why, cap, "%s", err ? strerror_r(err, tmp, sizeof(tmp)) : "");
		return err == 0;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *res, *ai;
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", port);
	int rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		snprintf(why, cap, "%s", gai_strerror(rc));
		return false;
	}
	int err = EHOSTUNREACH;
	for (ai = res; ai && err; ai = ai->ai_next)
		err = connect_within(ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(res);
	snprintf(why, cap, "%s", err ? strerror_r(err, tmp, sizeof(tmp)) : "");
	return err == 0;
}

typedef struct probe_result {
	const char *host;
	int port;
	bool ok;
	char why[160];
} probe_result_t;

/* Probes every [databases] entry's server ("*" included), each distinct
 * host:port once (many entries usually share one server, and an unreachable
 * one costs up to PROBE_TIMEOUT_MS), and lists the failures in h->problems. */
static void probe_databases(http_server_t *h)
{
	const config_t *cfg = runtime_cfg(h->rt);
	probe_result_t *r = xcalloc(MAX(cfg->ndbs, 1), sizeof(*r));
	size_t used = 0;
	h->problems[0] = '\0';
	for (size_t i = 0; i < cfg->ndbs; i++) {
		r[i].host = cfg->dbs[i].host ? cfg->dbs[i].host : "127.0.0.1";
		r[i].port = cfg->dbs[i].port > 0 ? cfg->dbs[i].port : 5432;
		size_t j = 0;
		while (j < i && (r[j].port != r[i].port || strcmp(r[j].host, r[i].host) != 0))
			j++;
		if (j < i)
			r[i] = r[j];
		else
			r[i].ok = probe(r[i].host, r[i].port, r[i].why, sizeof(r[i].why));
		if (!r[i].ok && used < sizeof(h->problems)) {
			int n = snprintf(h->problems + used, sizeof(h->problems) - used,
					 "database \"%s\": server %s:%d unreachable: %s\n", cfg->dbs[i].name,
					 r[i].host, r[i].port, r[i].why);
			used += (size_t)MAX(n, 0);
		}
	}
	free(r);
	h->probed_at = clock_mono_usec();
}

/* ---- requests ---- */

static void reply(struct evhttp_request *req, int code, const char *reason, const char *type,
		  struct evbuffer *body)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	evhttp_send_reply(req, code, reason, body);
}

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evbuffer *body = evbuffer_new();
	evbuffer_add(body, text, strlen(text));
	reply(req, code, reason, "text/plain; charset=utf-8", body);
	evbuffer_free(body);
}

static void serve_metrics(http_server_t *h, struct evhttp_request *req)
{
	http_snapshot_t s;
	http_snapshot_take(h->rt, &s);
	struct evbuffer *body = evbuffer_new();
	http_metrics_write(&s, body);
	http_snapshot_free(&s);
	reply(req, HTTP_OK, "OK", "text/plain; version=0.0.4; charset=utf-8", body);
	evbuffer_free(body);
}

/* Ready: listening and accepting (RT_RUNNING: the listeners open before
 * this thread starts and close when draining starts) and every database's
 * server reachable. */
static void serve_readyz(http_server_t *h, struct evhttp_request *req)
{
	int state = atomic_load(&h->rt->state);
	if (state != RT_RUNNING) {
		reply_text(req, 503, "Service Unavailable",
			   state == RT_DRAINING || state == RT_DRAINING_CLIENTS ? "not ready: draining\n" : "not ready: stopping\n");
		return;
	}
	if (!h->probed_at || clock_mono_usec() - h->probed_at >= READY_CACHE_USEC)
		probe_databases(h);
	if (h->problems[0])
		reply_text(req, 503, "Service Unavailable", h->problems);
	else
		reply_text(req, HTTP_OK, "OK", "ok\n");
}

static void on_request(struct evhttp_request *req, void *arg)
{
	http_server_t *h = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (!path)
		path = "";
	if (strcmp(path, "/metrics") == 0)
		serve_metrics(h, req);
	else if (strcmp(path, "/healthz") == 0)
		reply_text(req, HTTP_OK, "OK", "ok\n");
	else if (strcmp(path, "/readyz") == 0)
		serve_readyz(h, req);
	else
		reply_text(req, HTTP_NOTFOUND, "Not Found", "not found\n");
}

/* ---- thread ---- */

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	http_server_t *h = arg;
	event_base_loopbreak(h->base);
}

static void *http_main(void *arg)
{
	http_server_t *h = arg;
	event_base_dispatch(h->base);
	return NULL;
}

/* Frees whatever http_start managed to set up (the thread is not running). */
static void http_free(http_server_t *h)
{
	if (h->http)
		evhttp_free(h->http);
	if (h->stop_ev)
		event_free(h->stop_ev);
	if (h->base)
		event_base_free(h->base);
	if (h->stop_fd >= 0)
		close(h->stop_fd);
	free(h);
}

/* With so_reuseport the pgtide being replaced may still hold the metrics
 * port: share it the way the client port is shared. */
static bool bind_shared(struct evhttp *http, const char *addr, int port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE },
			*res = NULL;
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", port);
	if (getaddrinfo(addr, portstr, &hints, &res) != 0 || !res) {
		errno = EADDRNOTAVAIL;
		return false;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	bool ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == 0 &&
		  bind(fd, res->ai_addr, res->ai_addrlen) == 0 && listen(fd, 128) == 0 &&
		  evhttp_accept_socket_with_handle(http, fd) != NULL;
	int e = errno;
	freeaddrinfo(res);
	if (!ok && fd >= 0)
		close(fd);
	errno = e;
	return ok;
}

/* The thread starts with every signal blocked: the main thread's loop
 * handles them, and a probe's poll() is never cut short by EINTR. */
static bool start_thread(http_server_t *h)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	bool ok = pthread_create(&h->thread, NULL, http_main, h) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ok;
}

http_server_t *http_start(runtime_t *rt, const char *addr, int port, char *err, size_t errlen)
{
	http_server_t *h = xcalloc(1, sizeof(*h));
	h->rt = rt;
	h->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	/* One thread uses this base: no libevent locking needed. */
	struct event_config *ec = event_config_new();
	event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
	h->base = event_base_new_with_config(ec);
	event_config_free(ec);
	h->http = h->base ? evhttp_new(h->base) : NULL;
	if (h->stop_fd < 0 || !h->http) {
		snprintf(err, errlen, "metrics listener: cannot set up the HTTP server");
		http_free(h);
		return NULL;
	}
	if (!addr || strcmp(addr, "*") == 0)
		addr = addr ? "0.0.0.0" : "127.0.0.1";
	bool bound = runtime_cfg(rt)->so_reuseport ? bind_shared(h->http, addr, port)
						   : evhttp_bind_socket_with_handle(h->http, addr, (ev_uint16_t)port) != NULL;
	if (!bound) {
		snprintf(err, errlen, "metrics listener: cannot listen on %s:%d: %s", addr, port, strerror(errno));
		http_free(h);
		return NULL;
	}
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(h->http, HTTP_TIMEOUT_SEC);
	evhttp_set_max_headers_size(h->http, 8192);
	evhttp_set_max_body_size(h->http, 4096);
	evhttp_set_gencb(h->http, on_request, h);
	h->stop_ev = event_new(h->base, h->stop_fd, EV_READ, on_stop, h);
	event_add(h->stop_ev, NULL);
	if (!start_thread(h)) {
		snprintf(err, errlen, "metrics listener: cannot start its thread");
		http_free(h);
		return NULL;
	}
	return h;
}

void http_stop(http_server_t *h)
{
	if (!h)
		return;
	uint64_t one = 1;
	ssize_t UNUSED n = write(h->stop_fd, &one, sizeof(one));
	pthread_join(h->thread, NULL);
	http_free(h);
}

/*
 * replica.c - the replica health checker (replica.h, docs/routing.md).
 *
 * One thread, one event base, one libpq connection per replica and one to
 * each database's primary, all non-blocking (PQconnectStartParams,
 * PQconnectPoll, PQsendQuery, PQconsumeInput). Every replica_check_period a
 * check asks each replica for pg_is_in_recovery() and
 * pg_last_wal_replay_lsn(), and the primary for pg_current_wal_lsn(). A
 * check that fails or does not answer within one period marks the replica
 * down; the first good check brings it back. Results are published with
 * atomics: a worker reads a replica's state and replay LSN without a lock.
 */
#include "replica.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "clock.h"
#include "log.h"
#include "routing.h"

#define TICK_USEC (20 * USEC_PER_MSEC)
#define MIN_TIMEOUT_USEC (100 * USEC_PER_MSEC)

const char *const replica_state_names[] = { "unknown", "up", "down", "lagging", "not_standby", NULL };

typedef enum { CK_IDLE = 0, CK_CONNECTING, CK_QUERY } ck_phase_t;

typedef struct check_conn {
	struct replica_registry *reg;
	replica_set_t *set;
	replica_t *r;           /* NULL: the primary */
	PGconn *pg;
	struct event *ev;
	ck_phase_t phase;
	usec_t started, next_at;
	bool got_row, in_recovery, lsn_ok;
	uint64_t lsn;
	char error[160];
} check_conn_t;

struct replica_registry {
	pthread_mutex_t lock;
	list_node_t sets;
	pthread_t thread;
	bool running;
	atomic_bool stop;
	struct event_base *base;
};

replica_registry_t *replica_registry_new(void)
{
	replica_registry_t *reg = xcalloc(1, sizeof(*reg));
	pthread_mutex_init(&reg->lock, NULL);
	list_init(&reg->sets);
	return reg;
}

static void conn_close(check_conn_t *cc)
{
	if (cc->ev)
		event_free(cc->ev);
	cc->ev = NULL;
	if (cc->pg)
		PQfinish(cc->pg);
	cc->pg = NULL;
	cc->phase = CK_IDLE;
}

void replica_registry_free(replica_registry_t *reg)
{
	if (!reg)
		return;
	list_node_t *n;
	while ((n = list_pop_front(&reg->sets)) != NULL) {
		replica_set_t *set = list_entry(n, replica_set_t, node);
		for (int i = 0; i < set->n; i++) {
			if (set->r[i].conn)
				conn_close(set->r[i].conn);
			free(set->r[i].conn);
		}
		if (set->primary)
			conn_close(set->primary);
		free(set->primary);
		free(set->dbname);
		free(set->ci_dbname);
		free(set->ci_user);
		free(set->ci_password);
		free(set->ci_primary_host);
		pthread_mutex_destroy(&set->lock);
		free(set);
	}
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

void replica_set_apply(replica_set_t *set, const db_config_t *db)
{
	atomic_store(&set->max_lag, db->replica_max_lag);
	atomic_store(&set->max_lag_usec, db->replica_max_lag_time);
	atomic_store(&set->period_usec, db->replica_check_period > 0 ? db->replica_check_period : USEC_PER_SEC);
}

static check_conn_t *conn_new(replica_registry_t *reg, replica_set_t *set, replica_t *r)
{
	check_conn_t *cc = xcalloc(1, sizeof(*cc));
	cc->reg = reg;
	cc->set = set;
	cc->r = r;
	return cc;
}

replica_set_t *replica_set_get(runtime_t *rt, const config_t *cfg, const db_config_t *db, const char *dbname)
{
	replica_registry_t *reg = rt->replicas;
	pthread_mutex_lock(&reg->lock);
	list_node_t *n;
	list_for_each(n, &reg->sets) {
		replica_set_t *set = list_entry(n, replica_set_t, node);
		if (strcmp(set->dbname, dbname) == 0) {
			pthread_mutex_unlock(&reg->lock);
			return set;
		}
	}
	replica_set_t *set = xcalloc(1, sizeof(*set));
	pthread_mutex_init(&set->lock, NULL);
	set->dbname = xstrdup(dbname);
	int count = config_db_replica_count(db);
	for (int i = 0; i < count; i++) {
		replica_t *r = &set->r[set->n];
		if (!config_db_replica(db, i, r->host, sizeof(r->host), &r->port))
			continue;
		r->set = set;
		r->index = set->n;
		r->state_since_wall = clock_wall_usec();
		r->conn = conn_new(reg, set, r);
		set->n++;
	}
	set->primary = conn_new(reg, set, NULL);
	replica_set_apply(set, db);
	set->ci_dbname = xstrdup(db->dbname ? db->dbname : dbname);
	const char *user = cfg->replica_check_user ? cfg->replica_check_user : db->user;
	set->ci_user = user ? xstrdup(user) : NULL;
	const char *pw = NULL;
	if (db->password && db->user && user && strcmp(user, db->user) == 0)
		pw = db->password;
	else if (user)
		pw = config_find_user_secret(cfg, user);
	/* libpq needs the password itself: md5 and SCRAM secrets cannot log in. */
	if (pw && auth_secret_kind(pw) == SECRET_PLAIN)
		set->ci_password = xstrdup(pw);
	set->ci_primary_host = xstrdup(db->host ? db->host : "127.0.0.1");
	set->ci_primary_port = db->port > 0 ? db->port : 5432;
	list_push_back(&reg->sets, &set->node);
	pthread_mutex_unlock(&reg->lock);
	return set;
}

void replica_for_each(runtime_t *rt, void (*fn)(replica_set_t *set, void *arg), void *arg)
{
	replica_registry_t *reg = rt->replicas;
	pthread_mutex_lock(&reg->lock);
	list_node_t *n;
	list_for_each(n, &reg->sets)
		fn(list_entry(n, replica_set_t, node), arg);
	pthread_mutex_unlock(&reg->lock);
}

static void set_state(replica_t *r, replica_state_t st, const char *why)
{
	int old = atomic_exchange(&r->state, (int)st);
	if (why) {
		pthread_mutex_lock(&r->set->lock);
		strlcpy_ok(r->last_error, why, sizeof(r->last_error));
		pthread_mutex_unlock(&r->set->lock);
	}
	if (old == (int)st)
		return;
	atomic_store(&r->state_since_wall, (int64_t)clock_wall_usec());
	if (st == REPLICA_UP)
		log_info("replica up: db=%s host=%s port=%d", r->set->dbname, r->host, r->port);
	else
		log_warning("replica %s: db=%s host=%s port=%d reason=\"%s\"", replica_state_names[st],
			    r->set->dbname, r->host, r->port, why ? why : "");
}

void replica_note_failure(replica_t *r, const char *why)
{
	atomic_fetch_add(&r->login_failures, 1);
	set_state(r, REPLICA_DOWN, why);
}

/* ---- the checker ---- */

static void conn_failed(check_conn_t *cc, const char *why)
{
	char msg[160];
	snprintf(msg, sizeof(msg), "%s", why && *why ? why : "check failed");
	size_t len = strlen(msg);
	while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		msg[--len] = '\0';
	conn_close(cc);
	if (cc->r) {
		atomic_fetch_add(&cc->r->check_failures, 1);
		set_state(cc->r, REPLICA_DOWN, msg);
	} else if (strcmp(cc->error, msg) != 0) {
		log_warning("replica check of the primary failed: db=%s reason=\"%s\"", cc->set->dbname, msg);
	}
	strlcpy_ok(cc->error, msg, sizeof(cc->error));
}

static void on_event(evutil_socket_t fd, short what, void *arg);

static void arm(check_conn_t *cc, short what)
{
	if (cc->ev)
		event_free(cc->ev);
	cc->ev = event_new(cc->reg->base, PQsocket(cc->pg), what, on_event, cc);
	if (!cc->ev || event_add(cc->ev, NULL) != 0)
		conn_failed(cc, "cannot watch the check connection");
}

static void send_check(check_conn_t *cc)
{
	const char *sql = cc->r ? "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()" : "SELECT pg_current_wal_lsn()";
	cc->phase = CK_QUERY;
	cc->got_row = cc->lsn_ok = cc->in_recovery = false;
	if (!PQsendQuery(cc->pg, sql)) {
		conn_failed(cc, PQerrorMessage(cc->pg));
		return;
	}
	int f = PQflush(cc->pg);
	if (f < 0)
		conn_failed(cc, PQerrorMessage(cc->pg));
	else
		arm(cc, f ? EV_READ | EV_WRITE : EV_READ);
}

static void start_connect(check_conn_t *cc)
{
	replica_set_t *set = cc->set;
	char port[8];
	snprintf(port, sizeof(port), "%d", cc->r ? cc->r->port : set->ci_primary_port);
	const char *keys[8], *vals[8];
	int n = 0;
	keys[n] = "host", vals[n++] = cc->r ? cc->r->host : set->ci_primary_host;
	keys[n] = "port", vals[n++] = port;
	keys[n] = "dbname", vals[n++] = set->ci_dbname;
	keys[n] = "application_name", vals[n++] = "pgtide_replica_check";
	if (set->ci_user)
		keys[n] = "user", vals[n++] = set->ci_user;
	if (set->ci_password)
		keys[n] = "password", vals[n++] = set->ci_password;
	keys[n] = NULL, vals[n] = NULL;
	cc->pg = PQconnectStartParams(keys, vals, 0);
	if (!cc->pg || PQstatus(cc->pg) == CONNECTION_BAD) {
		conn_failed(cc, cc->pg ? PQerrorMessage(cc->pg) : "out of memory");
		return;
	}
	PQsetnonblocking(cc->pg, 1);
	cc->phase = CK_CONNECTING;
	arm(cc, EV_WRITE);
}

/* When the primary was first seen past lsn, from the ring of samples. */
static usec_t first_seen_past(const replica_set_t *set, uint64_t lsn, usec_t now)
{
	usec_t at = 0;
	for (int k = 0; k < set->hist_n; k++) {
		int i = (set->hist_head - 1 - k + (int)ARRAY_SIZE(set->hist)) % (int)ARRAY_SIZE(set->hist);
		if (set->hist[i].lsn <= lsn)
			break;
		at = set->hist[i].at;
	}
	return at ? at : now;
}

static void check_done(check_conn_t *cc)
{
	replica_set_t *set = cc->set;
	usec_t now = clock_mono_usec();
	cc->phase = CK_IDLE;
	if (!cc->got_row) {
		conn_failed(cc, "the check returned no row");
		return;
	}
	if (!cc->r) {
		if (!cc->lsn_ok) {
			conn_failed(cc, "pg_current_wal_lsn() failed (is the primary in recovery?)");
			return;
		}
		uint64_t last = set->hist_n ? set->hist[(set->hist_head - 1 + (int)ARRAY_SIZE(set->hist)) %
							  (int)ARRAY_SIZE(set->hist)].lsn : 0;
		if (!set->hist_n || cc->lsn > last) {
			set->hist[set->hist_head].lsn = cc->lsn;
			set->hist[set->hist_head].at = now;
			set->hist_head = (set->hist_head + 1) % (int)ARRAY_SIZE(set->hist);
			if (set->hist_n < (int)ARRAY_SIZE(set->hist))
				set->hist_n++;
		}
		atomic_store(&set->primary_lsn, cc->lsn);
		cc->error[0] = '\0';
		return;
	}
	replica_t *r = cc->r;
	atomic_fetch_add(&r->checks, 1);
	if (!cc->in_recovery || !cc->lsn_ok) {
		set_state(r, REPLICA_NOT_STANDBY, "pg_is_in_recovery() is false");
		return;
	}
	atomic_store(&r->replay_lsn, cc->lsn);
	uint64_t plsn = atomic_load(&set->primary_lsn);
	int64_t lag = plsn > cc->lsn ? (int64_t)(plsn - cc->lsn) : 0;
	int64_t lag_usec = lag > 0 ? (int64_t)(now - first_seen_past(set, cc->lsn, now)) : 0;
	atomic_store(&r->lag_bytes, lag);
	atomic_store(&r->lag_usec, lag_usec);
	int64_t max_lag = atomic_load(&set->max_lag), max_usec = atomic_load(&set->max_lag_usec);
	char why[96];
	if (max_lag > 0 && lag > max_lag) {
		snprintf(why, sizeof(why), "%lld bytes behind the primary (replica_max_lag %lld)", (long long)lag,
			 (long long)max_lag);
		set_state(r, REPLICA_LAGGING, why);
	} else if (max_usec > 0 && lag_usec > max_usec) {
		snprintf(why, sizeof(why), "%lld ms behind the primary (replica_max_lag_time %lld ms)",
			 (long long)(lag_usec / USEC_PER_MSEC), (long long)(max_usec / USEC_PER_MSEC));
		set_state(r, REPLICA_LAGGING, why);
	} else {
		set_state(r, REPLICA_UP, "");
	}
}

static void take_result(check_conn_t *cc, PGresult *res)
{
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		strlcpy_ok(cc->error, PQresultErrorMessage(res), sizeof(cc->error));
		cc->got_row = false;
		cc->lsn_ok = false;
		return;
	}
	if (PQntuples(res) < 1)
		return;
	cc->got_row = true;
	int lsn_col = cc->r ? 1 : 0;
	if (cc->r)
		cc->in_recovery = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	const char *v = PQgetvalue(res, 0, lsn_col);
	cc->lsn_ok = !PQgetisnull(res, 0, lsn_col) && routing_parse_lsn(v, strlen(v), &cc->lsn);
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
	check_conn_t *cc = arg;
	if (cc->phase == CK_CONNECTING) {
		switch (PQconnectPoll(cc->pg)) {
		case PGRES_POLLING_FAILED:
			conn_failed(cc, PQerrorMessage(cc->pg));
			return;
		case PGRES_POLLING_READING:
			arm(cc, EV_READ);
			return;
		case PGRES_POLLING_WRITING:
			arm(cc, EV_WRITE);
			return;
		case PGRES_POLLING_OK:
			send_check(cc);
			return;
		default:
			arm(cc, EV_READ);
			return;
		}
	}
	if (cc->phase != CK_QUERY)
		return;
	int f = PQflush(cc->pg);
	if (f < 0 || !PQconsumeInput(cc->pg)) {
		conn_failed(cc, PQerrorMessage(cc->pg));
		return;
	}
	bool failed = false;
	while (!PQisBusy(cc->pg)) {
		PGresult *res = PQgetResult(cc->pg);
		if (!res) {
			if (failed)
				conn_failed(cc, cc->error);
			else
				check_done(cc);
			return;
		}
		take_result(cc, res);
		failed |= PQresultStatus(res) != PGRES_TUPLES_OK;
		PQclear(res);
	}
	arm(cc, f ? EV_READ | EV_WRITE : EV_READ);
}

static void tick_conn(check_conn_t *cc, usec_t now)
{
	usec_t period = (usec_t)atomic_load(&cc->set->period_usec);
	if (cc->phase != CK_IDLE) {
		if (now - cc->started > MAX(period, MIN_TIMEOUT_USEC))
			conn_failed(cc, "check timed out");
		return;
	}
	if (now < cc->next_at)
		return;
	cc->next_at = now + period;
	cc->started = now;
	if (cc->pg && PQstatus(cc->pg) == CONNECTION_OK)
		send_check(cc);
	else {
		conn_close(cc);
		start_connect(cc);
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	replica_registry_t *reg = arg;
	if (atomic_load(&reg->stop)) {
		event_base_loopbreak(reg->base);
		return;
	}
	usec_t now = clock_mono_usec();
	/* Sets are only ever added (and freed at exit): a snapshot of the list
	 * is safe to walk without the lock. */
	replica_set_t *sets[64];
	int n = 0;
	pthread_mutex_lock(&reg->lock);
	list_node_t *node;
	list_for_each(node, &reg->sets) {
		if (n < (int)ARRAY_SIZE(sets))
			sets[n++] = list_entry(node, replica_set_t, node);
	}
	pthread_mutex_unlock(&reg->lock);
	for (int i = 0; i < n; i++) {
		/* The primary first: a replica's lag compares with its LSN. */
		tick_conn(sets[i]->primary, now);
		for (int k = 0; k < sets[i]->n; k++)
			tick_conn(sets[i]->r[k].conn, now);
	}
}

static void *checker_main(void *arg)
{
	replica_registry_t *reg = arg;
	struct timeval tv = { 0, TICK_USEC };
	struct event *tick = event_new(reg->base, -1, EV_PERSIST, on_tick, reg);
	event_add(tick, &tv);
	event_base_dispatch(reg->base);
	event_free(tick);
	/* Connections close here, on the thread that owns them. */
	pthread_mutex_lock(&reg->lock);
	list_node_t *n;
	list_for_each(n, &reg->sets) {
		replica_set_t *set = list_entry(n, replica_set_t, node);
		conn_close(set->primary);
		for (int i = 0; i < set->n; i++)
			conn_close(set->r[i].conn);
	}
	pthread_mutex_unlock(&reg->lock);
	return NULL;
}

bool replica_checker_start(runtime_t *rt)
{
	replica_registry_t *reg = rt->replicas;
	reg->base = event_base_new();
	if (!reg->base)
		return false;
	atomic_store(&reg->stop, false);
	if (pthread_create(&reg->thread, NULL, checker_main, reg) != 0) {
		event_base_free(reg->base);
		reg->base = NULL;
		return false;
	}
	reg->running = true;
	return true;
}

void replica_checker_stop(runtime_t *rt)
{
	replica_registry_t *reg = rt->replicas;
	if (!reg || !reg->running)
		return;
	atomic_store(&reg->stop, true);
	pthread_join(reg->thread, NULL);
	event_base_free(reg->base);
	reg->base = NULL;
	reg->running = false;
}

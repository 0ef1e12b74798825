/*
 * test_pool.c - the wait queue and server hand-off decisions of pool.c,
 * driven with fake objects: a hand-built runtime with two workers (no event
 * bases: pool.c does no I/O), clients and servers from calloc with their list
 * nodes initialised. The fake plays the part of client.c/server.c: it acts
 * on each decision the way they do (a move changes the server's worker, a
 * close calls pool_server_gone) and checks the pool's bookkeeping after
 * every step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client.h"
#include "config.h"
#include "pool.h"
#include "runtime.h"
#include "server.h"
#include "worker.h"

#define MAX_OBJS 32
#define T0 (1000 * USEC_PER_SEC)

typedef struct fx {
	runtime_t rt;
	worker_t workers[2];
	pool_t *p;
	client_t *clients[MAX_OBJS];
	int nclients;
	server_t *servers[MAX_OBJS];
	int nservers;
	usec_t now;
} fx_t;

static int fx_setup(void **state)
{
	fx_t *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	pthread_mutex_init(&f->rt.cfg_lock, NULL);
	pthread_mutex_init(&f->rt.pools_lock, NULL);
	list_init(&f->rt.pools);
	char err[256] = "";
	f->rt.cfg = config_load_string("[databases]\n* = host=127.0.0.1 port=1\n", "test", err, sizeof(err));
	if (!f->rt.cfg)
		fail_msg("config: %s", err);
	f->rt.cfg->default_pool_size = 2;
	f->rt.cfg->server_lifetime = 3600 * USEC_PER_SEC;
	f->rt.cfg->server_login_retry = 15 * USEC_PER_SEC;
	f->rt.cfg->reserve_pool_size = 0;
	f->rt.nworkers = 2;
	f->rt.workers = f->workers;
	for (int i = 0; i < 2; i++) {
		f->workers[i].id = i;
		f->workers[i].rt = &f->rt;
	}
	const char *sqlstate = NULL;
	f->p = pool_get(&f->rt, f->rt.cfg, "appdb", "alice", &sqlstate, err, sizeof(err));
	if (!f->p)
		fail_msg("pool_get: %s %s", sqlstate ? sqlstate : "", err);
	assert_int_equal(f->p->pool_size, 2);
	assert_int_equal(f->rt.npools, 1);
	/* The same (db, user) gives the same pool. */
	assert_ptr_equal(pool_get(&f->rt, f->rt.cfg, "appdb", "alice", &sqlstate, err, sizeof(err)), f->p);
	f->now = T0;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	fx_t *f = *state;
	pool_free_all(&f->rt);
	assert_int_equal(f->rt.npools, 0);
	/* The per-database/user server counters belong to the runtime
	 * (runtime_destroy frees them; this runtime is hand-built). */
	conn_count_t *lists[2] = { f->rt.db_counts, f->rt.user_counts };
	for (int i = 0; i < 2; i++) {
		while (lists[i]) {
			conn_count_t *next = lists[i]->next;
			free(lists[i]);
			lists[i] = next;
		}
	}
	for (int i = 0; i < f->nclients; i++) {
		param_set_clear(&f->clients[i]->params);
		param_extras_clear(&f->clients[i]->extras);
		free(f->clients[i]);
	}
	for (int i = 0; i < f->nservers; i++) {
		server_target_clear(&f->servers[i]->target); /* filled by pool_server_added */
		free(f->servers[i]);
	}
	config_unref(f->rt.cfg);
	pthread_mutex_destroy(&f->rt.cfg_lock);
	pthread_mutex_destroy(&f->rt.pools_lock);
	free(f);
	return 0;
}

static client_t *new_client(fx_t *f, int wid)
{
	assert_true(f->nclients < MAX_OBJS);
	client_t *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	list_init(&c->pool_node);
	list_init(&c->wait_node);
	list_init(&c->worker_node);
	c->link.worker = &f->workers[wid];
	c->state = CL_READY;
	c->pool = f->p;
	c->id = (uint64_t)f->nclients + 1;
	f->clients[f->nclients++] = c;
	pool_client_joined(f->p, c);
	return c;
}

static server_t *new_server(fx_t *f, int wid)
{
	assert_true(f->nservers < MAX_OBJS);
	server_t *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	list_init(&s->pool_node);
	list_init(&s->worker_node);
	s->link.worker = &f->workers[wid];
	s->pool = f->p;
	s->state = SV_CLOSED;
	s->generation = f->p->generation;
	s->created = f->now;
	s->id = (uint64_t)f->nservers + 100;
	f->servers[f->nservers++] = s;
	return s;
}

static int list_len(const list_node_t *head)
{
	int n = 0;
	const list_node_t *it;
	list_for_each(it, head)
		n++;
	return n;
}

/* The pool's counters agree with its lists, every server's state with the
 * list it is in, and c->waiting with the queue. */
static void check_consistent(fx_t *f)
{
	pool_t *p = f->p;
	list_node_t *it;
	int idle = 0;
	for (int w = 0; w < MAX_WORKERS; w++) {
		list_for_each(it, &p->idle[w]) {
			server_t *s = list_entry(it, server_t, pool_node);
			assert_int_equal(s->state, SV_IDLE);
			assert_non_null(s->link.worker);
			assert_int_equal(s->link.worker->id, w);
			assert_null(s->client);
			idle++;
		}
	}
	assert_int_equal(idle, p->n_idle);
	list_for_each(it, &p->active) {
		server_t *s = list_entry(it, server_t, pool_node);
		assert_int_equal(s->state, SV_ACTIVE);
		assert_non_null(s->client);
	}
	assert_int_equal(list_len(&p->active), p->n_active);
	list_for_each(it, &p->login) {
		server_t *s = list_entry(it, server_t, pool_node);
		assert_true(s->state == SV_CONNECTING || s->state == SV_LOGIN);
	}
	/* Reserved login slots are counted before their server exists. */
	assert_true(p->pool_reserved_logins >= 0);
	assert_int_equal(list_len(&p->login) + p->pool_reserved_logins, p->n_login);
	list_for_each(it, &p->busy) {
		server_t *s = list_entry(it, server_t, pool_node);
		assert_true(s->state == SV_RESETTING || s->state == SV_CANCEL_WAIT || s->state == SV_MOVING);
	}
	assert_int_equal(list_len(&p->busy), p->n_busy);
	int waiting = 0;
	list_for_each(it, &p->waiters) {
		client_t *c = list_entry(it, client_t, wait_node);
		assert_true(c->waiting);
		assert_null(c->server);
		waiting++;
	}
	assert_int_equal(waiting, p->n_waiting);
	int flagged = 0;
	for (int i = 0; i < f->nclients; i++)
		flagged += f->clients[i]->waiting;
	assert_int_equal(flagged, p->n_waiting);
	/* Servers that the pool forgot are not in any list. */
	for (int i = 0; i < f->nservers; i++) {
		server_t *s = f->servers[i];
		if (s->state == SV_CLOSED)
			assert_false(list_linked(&s->pool_node));
		else
			assert_true(list_linked(&s->pool_node));
	}
	/* Linked pairs point at each other. */
	list_for_each(it, &p->active) {
		server_t *s = list_entry(it, server_t, pool_node);
		assert_ptr_equal(s->client->server, s);
	}
	assert_true(p->n_idle >= 0 && p->n_active >= 0 && p->n_login >= 0 && p->n_busy >= 0 &&
		    p->n_waiting >= 0);
	/* This is the only pool of its database and user: the shared
	 * max_db_connections / max_user_connections counters count exactly
	 * its servers (reserved logins included). */
	int servers = p->n_idle + p->n_active + p->n_login + p->n_busy;
	assert_non_null(p->db_count);
	assert_non_null(p->user_count);
	assert_int_equal(atomic_load(&p->db_count->count), servers);
	assert_int_equal(atomic_load(&p->user_count->count), servers);
}

static void check_counts(fx_t *f, int idle, int active, int login, int busy, int waiting)
{
	check_consistent(f);
	assert_int_equal(f->p->n_idle, idle);
	assert_int_equal(f->p->n_active, active);
	assert_int_equal(f->p->n_login, login);
	assert_int_equal(f->p->n_busy, busy);
	assert_int_equal(f->p->n_waiting, waiting);
}

static acquire_t acquire(fx_t *f, client_t *c, server_t **s, worker_t **home)
{
	server_t *dummy_s;
	worker_t *dummy_h = NULL;
	acquire_t r = pool_acquire(f->p, c, c->link.worker, s ? s : &dummy_s, home ? home : &dummy_h, f->now);
	check_consistent(f);
	return r;
}

/* What server_connect_on and the login do: the server is accounted in the
 * login list (taking the reserved slot), goes CONNECTING -> LOGIN, and
 * pool_server_ready decides where it goes. */
static release_t connect_and_login(fx_t *f, server_t *s, client_t **to)
{
	int reserved = f->p->pool_reserved_logins, login = f->p->n_login;
	pool_server_added(f->p, s);
	assert_int_equal(s->state, SV_CONNECTING);
	if (reserved > 0) {
		/* The reserved slot becomes this server: n_login unchanged. */
		assert_int_equal(f->p->pool_reserved_logins, reserved - 1);
		assert_int_equal(f->p->n_login, login);
	} else {
		assert_int_equal(f->p->n_login, login + 1);
	}
	check_consistent(f);
	pool_lock(f->p);
	s->state = SV_LOGIN;
	pool_unlock(f->p);
	check_consistent(f);
	*to = (client_t *)0x1; /* must be overwritten */
	release_t r = pool_server_ready(f->p, s, to, f->now);
	check_consistent(f);
	return r;
}

/* What server_attach_fn does once a moved server reached its client's
 * worker. */
static void finish_move(fx_t *f, server_t *s, client_t *c)
{
	assert_int_equal(s->state, SV_MOVING);
	assert_true(c->server_incoming);
	assert_int_equal(c->inflight, 1);
	s->link.worker = c->link.worker;
	bool free_client = true;
	assert_true(pool_move_done(f->p, s, c, &free_client));
	assert_false(free_client);
	assert_int_equal(s->state, SV_ACTIVE);
	assert_ptr_equal(c->server, s);
	assert_ptr_equal(s->client, c);
	assert_false(c->server_incoming);
	assert_int_equal(c->inflight, 0);
	check_consistent(f);
}

/* A local hand-off links both ways at once; a server on its way from
 * another worker is the client's only once it arrives (pool_move_done),
 * until then the client just knows one is coming. */
static void assert_linked(server_t *s, client_t *c)
{
	assert_ptr_equal(s->client, c);
	if (s->state == SV_MOVING) {
		assert_null(c->server);
		assert_true(c->server_incoming);
	} else {
		assert_ptr_equal(c->server, s);
	}
	assert_false(c->waiting);
}

/* ---- tests ---- */

static void test_fifo_across_workers(void **state)
{
	fx_t *f = *state;
	client_t *c1 = new_client(f, 0), *c2 = new_client(f, 1), *c3 = new_client(f, 0), *c4 = new_client(f, 1);
	server_t *got = (server_t *)0x1;
	assert_int_equal(acquire(f, c1, &got, NULL), ACQ_WAIT_CONNECT);
	assert_null(got);
	assert_true(c1->waiting);
	assert_int_equal(c1->wait_start, f->now);
	f->now += 10;
	assert_int_equal(acquire(f, c2, NULL, NULL), ACQ_WAIT_CONNECT);
	f->now += 10;
	/* Two connections on their way = pool_size: the rest just wait. */
	assert_int_equal(acquire(f, c3, NULL, NULL), ACQ_WAIT);
	f->now += 10;
	assert_int_equal(acquire(f, c4, NULL, NULL), ACQ_WAIT);
	check_counts(f, 0, 0, 2, 0, 4);
	assert_int_equal(f->p->pool_reserved_logins, 2);

	/* The first server (on worker 1) goes to the oldest waiter, c1 on
	 * worker 0: a remote hand-off. */
	client_t *to = NULL;
	server_t *s1 = new_server(f, 1);
	assert_int_equal(connect_and_login(f, s1, &to), REL_GIVE_REMOTE);
	assert_ptr_equal(to, c1);
	assert_linked(s1, c1);
	assert_true(c1->server_incoming);
	assert_int_equal(c1->inflight, 1);
	check_counts(f, 0, 0, 1, 1, 3);
	finish_move(f, s1, c1);
	check_counts(f, 0, 1, 1, 0, 3);

	/* The second (on worker 1) goes to c2, also on worker 1: local. */
	server_t *s2 = new_server(f, 1);
	assert_int_equal(connect_and_login(f, s2, &to), REL_GIVE_LOCAL);
	assert_ptr_equal(to, c2);
	assert_linked(s2, c2);
	assert_false(c2->server_incoming);
	assert_int_equal(c2->inflight, 0);
	assert_int_equal(s2->state, SV_ACTIVE);
	check_counts(f, 0, 2, 0, 0, 2);
	assert_int_equal(f->p->pool_reserved_logins, 0);

	/* Released servers keep serving the queue in order: c3 then c4. */
	f->now += 100;
	assert_int_equal(pool_release(f->p, s2, &to, f->now), REL_GIVE_REMOTE); /* s2 on w1, c3 on w0 */
	assert_ptr_equal(to, c3);
	assert_null(c2->server);
	assert_linked(s2, c3);
	check_counts(f, 0, 1, 0, 1, 1);
	finish_move(f, s2, c3);
	assert_int_equal(pool_release(f->p, s1, &to, f->now), REL_GIVE_REMOTE); /* s1 now on w0, c4 on w1 */
	assert_ptr_equal(to, c4);
	assert_null(c1->server);
	finish_move(f, s1, c4);
	check_counts(f, 0, 2, 0, 0, 0);

	/* No one waits any more: both are parked idle on their workers. */
	assert_int_equal(pool_release(f->p, s1, &to, f->now), REL_IDLE);
	assert_null(to);
	assert_int_equal(s1->state, SV_IDLE);
	check_counts(f, 1, 1, 0, 0, 0);
	assert_int_equal(pool_release(f->p, s2, &to, f->now), REL_IDLE);
	check_counts(f, 2, 0, 0, 0, 0);
}

static void test_fifo_is_by_arrival_not_worker(void **state)
{
	fx_t *f = *state;
	f->p->pool_size = 1;
	static const int on[6] = { 0, 1, 1, 0, 0, 1 };
	client_t *w[6];
	for (int i = 0; i < 6; i++) {
		w[i] = new_client(f, on[i]);
		assert_int_equal(acquire(f, w[i], NULL, NULL), i == 0 ? ACQ_WAIT_CONNECT : ACQ_WAIT);
		f->now += 5;
	}
	client_t *to = NULL;
	server_t *s = new_server(f, 0);
	release_t r = connect_and_login(f, s, &to);
	for (int i = 0; i < 6; i++) {
		assert_ptr_equal(to, w[i]);
		assert_int_equal(r, s->link.worker == w[i]->link.worker ? REL_GIVE_LOCAL : REL_GIVE_REMOTE);
		if (r == REL_GIVE_REMOTE)
			finish_move(f, s, w[i]);
		check_counts(f, 0, 1, 0, 0, 5 - i);
		r = pool_release(f->p, s, &to, f->now);
	}
	assert_int_equal(r, REL_IDLE);
	assert_null(to);
	check_counts(f, 1, 0, 0, 0, 0);
}

static void test_wait_connect_limits(void **state)
{
	fx_t *f = *state;
	client_t *c1 = new_client(f, 0), *c2 = new_client(f, 1), *c3 = new_client(f, 0);
	assert_int_equal(acquire(f, c1, NULL, NULL), ACQ_WAIT_CONNECT);
	/* Asking again while queued: one login per waiter is enough. */
	assert_int_equal(acquire(f, c1, NULL, NULL), ACQ_WAIT);
	check_counts(f, 0, 0, 1, 0, 1);
	assert_int_equal(acquire(f, c2, NULL, NULL), ACQ_WAIT_CONNECT);
	assert_int_equal(acquire(f, c3, NULL, NULL), ACQ_WAIT);
	check_counts(f, 0, 0, 2, 0, 3);

	/* A login fails: its slot goes back, and since clients are waiting a
	 * new connection is wanted at once, for the oldest waiter's worker. */
	server_t *s1 = new_server(f, 0);
	pool_server_added(f->p, s1);
	check_counts(f, 0, 0, 2, 0, 3);
	worker_t *on = NULL;
	assert_true(pool_server_gone(f->p, s1, f->now, &on));
	assert_ptr_equal(on, c1->link.worker);
	assert_int_equal(s1->state, SV_CLOSED);
	check_counts(f, 0, 0, 2, 0, 3);
	assert_int_equal(f->p->pool_reserved_logins, 2);

	/* Both slots become servers; then the pool is full. */
	client_t *to;
	server_t *s2 = new_server(f, 0), *s3 = new_server(f, 1);
	assert_int_equal(connect_and_login(f, s2, &to), REL_GIVE_LOCAL);
	assert_ptr_equal(to, c1);
	assert_int_equal(connect_and_login(f, s3, &to), REL_GIVE_LOCAL);
	assert_ptr_equal(to, c2);
	check_counts(f, 0, 2, 0, 0, 1);
	client_t *c4 = new_client(f, 1);
	assert_int_equal(acquire(f, c4, NULL, NULL), ACQ_WAIT);
	check_counts(f, 0, 2, 0, 0, 2);
	/* The janitor has nothing to open either. */
	assert_null(pool_wants_connect(f->p, f->now));

	/* A bigger pool: now a third connection is allowed (logins < waiters). */
	f->p->pool_size = 3;
	assert_ptr_equal(pool_wants_connect(f->p, f->now), c3->link.worker);
	check_counts(f, 0, 2, 1, 0, 2);
	/* ...but only one for two waiters while the pool allows one more. */
	assert_null(pool_wants_connect(f->p, f->now));
	f->p->pool_size = 4;
	assert_ptr_equal(pool_wants_connect(f->p, f->now), c3->link.worker);
	check_counts(f, 0, 2, 2, 0, 2);
	/* Two logins for two waiters: no more, whatever the size. */
	f->p->pool_size = 10;
	assert_null(pool_wants_connect(f->p, f->now));
	client_t *c5 = new_client(f, 0);
	assert_int_equal(acquire(f, c5, NULL, NULL), ACQ_WAIT_CONNECT);
	check_counts(f, 0, 2, 3, 0, 3);

	/* Fill the reservations so teardown leaves nothing dangling. */
	server_t *s4 = new_server(f, 0), *s5 = new_server(f, 1), *s6 = new_server(f, 1);
	assert_int_equal(connect_and_login(f, s4, &to), REL_GIVE_LOCAL); /* c3 on w0 */
	assert_ptr_equal(to, c3);
	assert_int_equal(connect_and_login(f, s5, &to), REL_GIVE_LOCAL); /* c4 on w1 */
	assert_ptr_equal(to, c4);
	assert_int_equal(connect_and_login(f, s6, &to), REL_GIVE_REMOTE); /* c5 on w0 */
	assert_ptr_equal(to, c5);
	finish_move(f, s6, c5);
	check_counts(f, 0, 5, 0, 0, 0);
	assert_int_equal(f->p->pool_reserved_logins, 0);
}

static void test_login_retry(void **state)
{
	fx_t *f = *state;
	/* A refused login (fatal) with no server at all: clients are failed
	 * fast during server_login_retry instead of queued. */
	f->p->last_login_failure = f->now;
	f->p->last_login_fatal = true;
	f->now += 1;
	client_t *c1 = new_client(f, 0);
	assert_int_equal(acquire(f, c1, NULL, NULL), ACQ_FAIL_RETRY);
	assert_false(c1->waiting);
	check_counts(f, 0, 0, 0, 0, 0);
	/* Not fatal (unreachable): queued, but no new connection yet. */
	f->p->last_login_fatal = false;
	assert_int_equal(acquire(f, c1, NULL, NULL), ACQ_WAIT);
	assert_true(c1->waiting);
	check_counts(f, 0, 0, 0, 0, 1);
	assert_null(pool_wants_connect(f->p, f->now));
	/* After server_login_retry the janitor connects for the waiter. */
	f->now += runtime_cfg(&f->rt)->server_login_retry;
	assert_ptr_equal(pool_wants_connect(f->p, f->now), c1->link.worker);
	check_counts(f, 0, 0, 1, 0, 1);
	/* A successful login clears the failure. */
	client_t *to;
	server_t *s = new_server(f, 0);
	assert_int_equal(connect_and_login(f, s, &to), REL_GIVE_LOCAL);
	assert_ptr_equal(to, c1);
	assert_int_equal(f->p->last_login_failure, 0);
	assert_false(f->p->last_login_fatal);
	check_counts(f, 0, 1, 0, 0, 0);
}

static void test_db_and_user_connection_limits(void **state)
{
	fx_t *f = *state;
	f->p->pool_size = 10;
	/* max_db_connections counts every pool of the database. */
	f->p->max_db_connections = 1;
	client_t *c1 = new_client(f, 0), *c2 = new_client(f, 1);
	assert_int_equal(acquire(f, c1, NULL, NULL), ACQ_WAIT_CONNECT);
	assert_int_equal(acquire(f, c2, NULL, NULL), ACQ_WAIT);
	check_counts(f, 0, 0, 1, 0, 2);
	assert_null(pool_wants_connect(f->p, f->now));
	/* Raising it lets the janitor connect for the second waiter. */
	f->p->max_db_connections = 0;
	f->rt.cfg->max_user_connections = 2;
	assert_ptr_equal(pool_wants_connect(f->p, f->now), c1->link.worker);
	check_counts(f, 0, 0, 2, 0, 2);
	client_t *c3 = new_client(f, 0);
	assert_int_equal(acquire(f, c3, NULL, NULL), ACQ_WAIT); /* user limit */
	check_counts(f, 0, 0, 2, 0, 3);

	client_t *to;
	server_t *s1 = new_server(f, 0), *s2 = new_server(f, 1);
	assert_int_equal(connect_and_login(f, s1, &to), REL_GIVE_LOCAL);
	assert_ptr_equal(to, c1);
	assert_int_equal(connect_and_login(f, s2, &to), REL_GIVE_LOCAL);
	assert_ptr_equal(to, c2);
	check_counts(f, 0, 2, 0, 0, 1);
	/* A closed server frees its slot: the waiter gets a new connection. */
	f->rt.cfg->server_lifetime = 1;
	f->now += 10;
	assert_int_equal(pool_release(f->p, s1, &to, f->now), REL_CLOSE);
	check_counts(f, 0, 1, 0, 0, 1);
	worker_t *on = NULL;
	assert_true(pool_server_gone(f->p, s1, f->now, &on));
	assert_ptr_equal(on, c3->link.worker);
	check_counts(f, 0, 1, 1, 0, 1);
	server_t *s3 = new_server(f, 0);
	f->rt.cfg->server_lifetime = 3600 * USEC_PER_SEC;
	assert_int_equal(connect_and_login(f, s3, &to), REL_GIVE_LOCAL);
	assert_ptr_equal(to, c3);
	check_counts(f, 0, 2, 0, 0, 0);
	f->rt.cfg->max_user_connections = 0;
}

/* Borrowing a server from another worker while the pool is below its size
 * also reserves one login for the borrower's worker, so later clients there
 * find a local server instead of paying for another move. */
static void test_remote_borrow_warms_local_server(void **state)
{
	fx_t *f = *state;
	client_t *c1 = new_client(f, 0), *to;
	assert_int_equal(acquire(f, c1, NULL, NULL), ACQ_WAIT_CONNECT);
	server_t *s = new_server(f, 0);
	assert_int_equal(connect_and_login(f, s, &to), REL_GIVE_LOCAL);
	assert_int_equal(pool_release(f->p, s, &to, f->now), REL_IDLE);
	client_t *c2 = new_client(f, 1);
	server_t *got = NULL;
	worker_t *home = NULL;
	assert_int_equal(acquire(f, c2, &got, &home), ACQ_GOT_REMOTE_WARM);
	assert_ptr_equal(got, s);
	assert_int_equal(f->p->n_login, 1); /* the reserved warm-up login */
	server_t *s1 = new_server(f, 1);
	pool_server_added(f->p, s1);
	assert_int_equal(pool_server_ready(f->p, s1, &to, f->now), REL_IDLE);
	assert_null(to);
	assert_ptr_equal(list_first(&f->p->idle[1]), &s1->pool_node);
	finish_move(f, s, c2);
	check_consistent(f);
}

static void test_release_idle_then_acquire(void **state)
{
	fx_t *f = *state;
	client_t *c1 = new_client(f, 0);
	assert_int_equal(acquire(f, c1, NULL, NULL), ACQ_WAIT_CONNECT);
	client_t *to;
	server_t *s = new_server(f, 0);
	assert_int_equal(connect_and_login(f, s, &to), REL_GIVE_LOCAL);
	assert_linked(s, c1);

	/* No waiters: parked idle on its worker. */
	to = (client_t *)0x1;
	assert_int_equal(pool_release(f->p, s, &to, f->now), REL_IDLE);
	assert_null(to);
	assert_null(s->client);
	assert_null(c1->server);
	assert_int_equal(s->state, SV_IDLE);
	check_counts(f, 1, 0, 0, 0, 0);

	/* Same worker: used at once. */
	client_t *c2 = new_client(f, 0);
	server_t *got = NULL;
	worker_t *home = NULL;
	assert_int_equal(acquire(f, c2, &got, &home), ACQ_GOT_LOCAL);
	assert_ptr_equal(got, s);
	assert_ptr_equal(home, &f->workers[0]);
	assert_linked(s, c2);
	assert_int_equal(s->state, SV_ACTIVE);
	assert_false(c2->server_incoming);
	assert_int_equal(c2->inflight, 0);
	check_counts(f, 0, 1, 0, 0, 0);
	assert_int_equal(pool_release(f->p, s, &to, f->now), REL_IDLE);

	/* Other worker: it must be moved from its home. (A full pool: no
	 * warm-up connection is opened beside the move; see the next test.) */
	int size = f->p->pool_size;
	f->p->pool_size = 1;
	client_t *c3 = new_client(f, 1);
	got = NULL;
	home = NULL;
	assert_int_equal(acquire(f, c3, &got, &home), ACQ_GOT_REMOTE);
	f->p->pool_size = size;
	assert_ptr_equal(got, s);
	assert_ptr_equal(home, &f->workers[0]);
	assert_linked(s, c3);
	assert_int_equal(s->state, SV_MOVING);
	assert_true(c3->server_incoming);
	assert_int_equal(c3->inflight, 1);
	check_counts(f, 0, 0, 0, 1, 0);
	finish_move(f, s, c3);
	check_counts(f, 0, 1, 0, 0, 0);
	assert_int_equal(pool_release(f->p, s, &to, f->now), REL_IDLE);
	check_counts(f, 1, 0, 0, 0, 0);
	assert_true(list_linked(&s->pool_node));
	assert_ptr_equal(list_first(&f->p->idle[1]), &s->pool_node);

	/* A second server, on worker 0, while s (worker 1) is in use. */
	client_t *c5 = new_client(f, 1);
	assert_int_equal(acquire(f, c5, &got, &home), ACQ_GOT_LOCAL);
	assert_ptr_equal(got, s);
	client_t *c4 = new_client(f, 0);
	assert_int_equal(acquire(f, c4, NULL, NULL), ACQ_WAIT_CONNECT);
	server_t *s0 = new_server(f, 0);
	assert_int_equal(connect_and_login(f, s0, &to), REL_GIVE_LOCAL);
	assert_ptr_equal(to, c4);
	assert_int_equal(pool_release(f->p, s0, &to, f->now), REL_IDLE);
	assert_int_equal(pool_release(f->p, s, &to, f->now), REL_IDLE);
	check_counts(f, 2, 0, 0, 0, 0);

	/* Each worker gets its own idle server first, whatever the order of
	 * the idle lists... */
	client_t *c6 = new_client(f, 1);
	assert_int_equal(acquire(f, c6, &got, &home), ACQ_GOT_LOCAL);
	assert_ptr_equal(got, s);
	assert_ptr_equal(home, &f->workers[1]);
	client_t *c7 = new_client(f, 0);
	assert_int_equal(acquire(f, c7, &got, &home), ACQ_GOT_LOCAL);
	assert_ptr_equal(got, s0);
	assert_ptr_equal(home, &f->workers[0]);
	check_counts(f, 0, 2, 0, 0, 0);
	assert_int_equal(pool_release(f->p, s, &to, f->now), REL_IDLE);
	assert_int_equal(pool_release(f->p, s0, &to, f->now), REL_IDLE);
	/* ...and another worker's only when it has none. */
	client_t *c8 = new_client(f, 1), *c9 = new_client(f, 1);
	assert_int_equal(acquire(f, c8, &got, &home), ACQ_GOT_LOCAL);
	assert_ptr_equal(got, s);
	assert_int_equal(acquire(f, c9, &got, &home), ACQ_GOT_REMOTE);
	assert_ptr_equal(got, s0);
	assert_ptr_equal(home, &f->workers[0]);
	finish_move(f, s0, c9);
	check_counts(f, 0, 2, 0, 0, 0);
	/* Nothing idle, pool full: the next client waits. */
	client_t *c10 = new_client(f, 0);
	assert_int_equal(acquire(f, c10, NULL, NULL), ACQ_WAIT);
	check_counts(f, 0, 2, 0, 0, 1);
	assert_int_equal(pool_release(f->p, s, &to, f->now), REL_GIVE_REMOTE);
	assert_ptr_equal(to, c10);
	finish_move(f, s, c10);
	assert_int_equal(pool_release(f->p, s, &to, f->now), REL_IDLE);
	assert_int_equal(pool_release(f->p, s0, &to, f->now), REL_IDLE);
	check_counts(f, 2, 0, 0, 0, 0);
}

static void test_cancel_wait(void **state)
{
	fx_t *f = *state;
	client_t *c1 = new_client(f, 0), *c2 = new_client(f, 1), *c3 = new_client(f, 0);
	assert_int_equal(acquire(f, c1, NULL, NULL), ACQ_WAIT_CONNECT);
	assert_int_equal(acquire(f, c2, NULL, NULL), ACQ_WAIT_CONNECT);
	assert_int_equal(acquire(f, c3, NULL, NULL), ACQ_WAIT);
	check_counts(f, 0, 0, 2, 0, 3);

	/* The middle waiter gives up. */
	assert_true(pool_cancel_wait(f->p, c2));
	assert_false(c2->waiting);
	assert_false(list_linked(&c2->wait_node));
	check_counts(f, 0, 0, 2, 0, 2);
	/* Not waiting any more: nothing to cancel. */
	assert_false(pool_cancel_wait(f->p, c2));
	check_counts(f, 0, 0, 2, 0, 2);

	client_t *to;
	server_t *s1 = new_server(f, 0);
	assert_int_equal(connect_and_login(f, s1, &to), REL_GIVE_LOCAL);
	assert_ptr_equal(to, c1);
	/* c2 is skipped: the next server goes to c3. */
	server_t *s2 = new_server(f, 0);
	assert_int_equal(connect_and_login(f, s2, &to), REL_GIVE_LOCAL);
	assert_ptr_equal(to, c3);
	assert_null(c2->server);
	check_counts(f, 0, 2, 0, 0, 0);
	/* A client with a server is not waiting either. */
	assert_false(pool_cancel_wait(f->p, c1));
	assert_ptr_equal(c1->server, s1);
	check_counts(f, 0, 2, 0, 0, 0);

	/* A waiting client that leaves is dequeued too. */
	client_t *c4 = new_client(f, 1);
	assert_int_equal(acquire(f, c4, NULL, NULL), ACQ_WAIT);
	check_counts(f, 0, 2, 0, 0, 1);
	assert_int_equal(f->p->n_clients, 4);
	bool was_waiting;
	assert_true(pool_client_left(f->p, c4, &was_waiting));
	assert_true(was_waiting);
	assert_int_equal(c4->state, CL_CLOSING);
	assert_int_equal(f->p->n_clients, 3);
	check_counts(f, 0, 2, 0, 0, 0);
	assert_int_equal(pool_release(f->p, s1, &to, f->now), REL_IDLE);
	assert_null(to);

	/* pool_pop_waiter takes the oldest with an in-flight reference. */
	client_t *c5 = new_client(f, 0), *c6 = new_client(f, 1);
	f->p->paused = true;
	assert_int_equal(acquire(f, c5, NULL, NULL), ACQ_PAUSED);
	assert_int_equal(acquire(f, c6, NULL, NULL), ACQ_PAUSED);
	check_counts(f, 1, 1, 0, 0, 2);
	/* Paused: a released server is parked, not handed on. */
	assert_int_equal(pool_release(f->p, s2, &to, f->now), REL_IDLE);
	assert_null(to);
	check_counts(f, 2, 0, 0, 0, 2);
	assert_ptr_equal(pool_pop_waiter(f->p), c5);
	assert_int_equal(c5->inflight, 1);
	assert_false(c5->waiting);
	check_counts(f, 2, 0, 0, 0, 1);
	assert_false(pool_client_unref(f->p, c5));
	assert_int_equal(c5->inflight, 0);
	assert_true(pool_cancel_wait(f->p, c6));
	assert_null(pool_pop_waiter(f->p));
	f->p->paused = false;
	check_counts(f, 2, 0, 0, 0, 0);
}

static void test_client_left_with_inflight(void **state)
{
	fx_t *f = *state;
	/* A server is moving to a client that closes: the client may only be
	 * freed once the move is done, and the server does not become active. */
	client_t *c1 = new_client(f, 1);
	assert_int_equal(acquire(f, c1, NULL, NULL), ACQ_WAIT_CONNECT);
	client_t *to;
	server_t *s = new_server(f, 0);
	assert_int_equal(connect_and_login(f, s, &to), REL_GIVE_REMOTE);
	assert_ptr_equal(to, c1);
	bool c1_waiting;
	assert_false(pool_client_left(f->p, c1, &c1_waiting)); /* in flight: not yet */
	assert_false(c1_waiting);
	s->link.worker = c1->link.worker;
	bool free_client = false;
	assert_false(pool_move_done(f->p, s, c1, &free_client));
	assert_true(free_client);
	assert_int_equal(s->state, SV_RESETTING);
	assert_null(s->client);
	check_counts(f, 0, 0, 0, 1, 0);
	/* The reset done, the server goes back to the pool. */
	c1->server = NULL;
	assert_int_equal(pool_release(f->p, s, &to, f->now), REL_IDLE);
	check_counts(f, 1, 0, 0, 0, 0);
}

static void test_lifetime_expiry(void **state)
{
	fx_t *f = *state;
	config_t *cfg = f->rt.cfg;
	cfg->server_lifetime = 10 * USEC_PER_SEC;
	client_t *c1 = new_client(f, 0), *c2 = new_client(f, 0);
	assert_int_equal(acquire(f, c1, NULL, NULL), ACQ_WAIT_CONNECT);
	client_t *to;
	server_t *s = new_server(f, 0);
	assert_int_equal(connect_and_login(f, s, &to), REL_GIVE_LOCAL);

	/* Young enough: back to the pool. */
	f->now = T0 + 9 * USEC_PER_SEC;
	assert_int_equal(pool_release(f->p, s, &to, f->now), REL_IDLE);
	assert_int_equal(acquire(f, c1, NULL, NULL), ACQ_GOT_LOCAL);
	/* Too old: closed on release, even with a client waiting for it. */
	assert_int_equal(acquire(f, c2, NULL, NULL), ACQ_WAIT_CONNECT);
	check_counts(f, 0, 1, 1, 0, 1);
	f->now = T0 + 10 * USEC_PER_SEC;
	to = (client_t *)0x1;
	assert_int_equal(pool_release(f->p, s, &to, f->now), REL_CLOSE);
	assert_null(to);
	assert_int_equal(s->state, SV_CLOSED);
	assert_null(s->client);
	assert_null(c1->server);
	assert_true(c2->waiting);
	check_counts(f, 0, 0, 1, 0, 1);
	/* server_close reports it gone; one login is already on its way for
	 * the single waiter, so no second one. */
	worker_t *on = NULL;
	assert_false(pool_server_gone(f->p, s, f->now, &on));
	check_counts(f, 0, 0, 1, 0, 1);

	/* close_needed and a changed target (generation) also close. */
	server_t *s2 = new_server(f, 0);
	assert_int_equal(connect_and_login(f, s2, &to), REL_GIVE_LOCAL);
	assert_ptr_equal(to, c2);
	s2->close_needed = true;
	assert_int_equal(pool_release(f->p, s2, &to, f->now), REL_CLOSE);
	assert_false(pool_server_gone(f->p, s2, f->now, &on));
	check_counts(f, 0, 0, 0, 0, 0);

	assert_int_equal(acquire(f, c1, NULL, NULL), ACQ_WAIT_CONNECT);
	server_t *s3 = new_server(f, 0);
	assert_int_equal(connect_and_login(f, s3, &to), REL_GIVE_LOCAL);
	f->p->generation++;
	assert_int_equal(pool_release(f->p, s3, &to, f->now), REL_CLOSE);
	assert_false(pool_server_gone(f->p, s3, f->now, &on));
	check_counts(f, 0, 0, 0, 0, 0);

	/* A server that expires while a cancel is in flight waits for it. */
	assert_int_equal(acquire(f, c1, NULL, NULL), ACQ_WAIT_CONNECT);
	server_t *s4 = new_server(f, 0);
	assert_int_equal(connect_and_login(f, s4, &to), REL_GIVE_LOCAL);
	s4->cancel_pending = 1;
	assert_int_equal(pool_release(f->p, s4, &to, f->now), REL_IDLE);
	assert_int_equal(s4->state, SV_CANCEL_WAIT);
	check_counts(f, 0, 0, 0, 1, 0);
	/* No waiter may get it meanwhile. */
	client_t *c3 = new_client(f, 0);
	assert_int_equal(acquire(f, c3, NULL, NULL), ACQ_WAIT_CONNECT);
	s4->cancel_pending = 0;
	assert_int_equal(pool_release(f->p, s4, &to, f->now), REL_GIVE_LOCAL);
	assert_ptr_equal(to, c3);
	check_counts(f, 0, 1, 1, 0, 0);
	/* Leave no reservation behind. */
	server_t *s5 = new_server(f, 0);
	assert_int_equal(connect_and_login(f, s5, &to), REL_IDLE);
	check_counts(f, 1, 1, 0, 0, 0);
}

/* docs/configuration.md: "server_lifetime ... 0 = use each connection once". */
static void test_lifetime_zero_means_single_use(void **state)
{
	fx_t *f = *state;
	f->rt.cfg->server_lifetime = 0;
	client_t *c1 = new_client(f, 0);
	assert_int_equal(acquire(f, c1, NULL, NULL), ACQ_WAIT_CONNECT);
	client_t *to;
	server_t *s = new_server(f, 0);
	assert_int_equal(connect_and_login(f, s, &to), REL_GIVE_LOCAL);
	f->now += USEC_PER_SEC;
	release_t r = pool_release(f->p, s, &to, f->now);
	check_consistent(f);
	if (r != REL_CLOSE)
		fail_msg("server_lifetime = 0: a used server was released with decision %d, not REL_CLOSE (%d)", r,
			 REL_CLOSE);
}

static void test_orphan_and_take_idle(void **state)
{
	fx_t *f = *state;
	client_t *c1 = new_client(f, 0);
	assert_int_equal(acquire(f, c1, NULL, NULL), ACQ_WAIT_CONNECT);
	client_t *to;
	server_t *s = new_server(f, 0);
	assert_int_equal(connect_and_login(f, s, &to), REL_GIVE_LOCAL);
	/* The client leaves mid-transaction: the server is busy resetting and
	 * is nobody's. */
	pool_server_orphaned(f->p, s);
	assert_int_equal(s->state, SV_RESETTING);
	assert_null(s->client);
	assert_null(c1->server);
	check_counts(f, 0, 0, 0, 1, 0);
	/* Busy servers are not handed out. */
	client_t *c2 = new_client(f, 1);
	assert_int_equal(acquire(f, c2, NULL, NULL), ACQ_WAIT_CONNECT);
	check_counts(f, 0, 0, 1, 1, 1);
	/* Reset done: the waiter gets it. */
	assert_int_equal(pool_release(f->p, s, &to, f->now), REL_GIVE_REMOTE);
	assert_ptr_equal(to, c2);
	finish_move(f, s, c2);
	server_t *s2 = new_server(f, 1);
	assert_int_equal(connect_and_login(f, s2, &to), REL_IDLE);
	check_counts(f, 1, 1, 0, 0, 0);
	/* The janitor takes the idle one for closing; a second take fails. */
	assert_true(pool_take_idle(f->p, s2));
	assert_int_equal(s2->state, SV_RESETTING);
	assert_false(pool_take_idle(f->p, s2));
	check_counts(f, 0, 1, 0, 1, 0);
	worker_t *on = NULL;
	assert_false(pool_server_gone(f->p, s2, f->now, &on));
	assert_int_equal(s2->state, SV_CLOSED);
	check_counts(f, 0, 1, 0, 0, 0);
	/* An active server that dies unlinks its client. */
	assert_false(pool_server_gone(f->p, s, f->now, &on));
	assert_null(c2->server);
	assert_null(s->client);
	check_counts(f, 0, 0, 0, 0, 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_fifo_across_workers),
		T(test_fifo_is_by_arrival_not_worker),
		T(test_wait_connect_limits),
		T(test_login_retry),
		T(test_db_and_user_connection_limits),
		T(test_release_idle_then_acquire),
		T(test_cancel_wait),
		T(test_client_left_with_inflight),
		T(test_lifetime_expiry),
		T(test_lifetime_zero_means_single_use),
		T(test_remote_borrow_warms_local_server),
		T(test_orphan_and_take_idle),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}

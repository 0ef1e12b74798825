/*
 * cancel.c - the key map and cancel forwarding.
 *
 * Lock order: map lock, then a pool lock. Nothing that holds a pool lock
 * takes the map lock.
 */
#include "cancel.h"

#include <errno.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "auth.h"
#include "client.h"
#include "log.h"
#include "pool.h"
#include "proto.h"
#include "runtime.h"
#include "server.h"
#include "worker.h"

#define CANCEL_BUCKETS 4096

typedef struct cancel_entry {
	struct cancel_entry *next;
	client_t *client;
} cancel_entry_t;

struct cancel_map {
	pthread_mutex_t lock;
	cancel_entry_t *buckets[CANCEL_BUCKETS];
	cancel_entry_t *free_entries;
};

cancel_map_t *cancel_map_new(void)
{
	cancel_map_t *m = xcalloc(1, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

void cancel_map_free(cancel_map_t *m)
{
	if (!m)
		return;
	for (int i = 0; i < CANCEL_BUCKETS; i++) {
		while (m->buckets[i]) {
			cancel_entry_t *e = m->buckets[i];
			m->buckets[i] = e->next;
			free(e);
		}
	}
	while (m->free_entries) {
		cancel_entry_t *e = m->free_entries;
		m->free_entries = e->next;
		free(e);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static cancel_entry_t **bucket(cancel_map_t *m, uint32_t pid)
{
	return &m->buckets[(pid * 2654435761u) % CANCEL_BUCKETS];
}

static cancel_entry_t *find_locked(cancel_map_t *m, uint32_t pid)
{
	for (cancel_entry_t *e = *bucket(m, pid); e; e = e->next) {
		if (e->client->cancel_pid == pid)
			return e;
	}
	return NULL;
}

void cancel_register(cancel_map_t *m, client_t *c)
{
	uint32_t v[2];
	/* Drawn before the lock (shared by all workers) is taken; a clash with
	 * a key in use is rare and draws again. */
	worker_random_bytes(c->link.worker, v, sizeof(v));
	pthread_mutex_lock(&m->lock);
	for (;;) {
		v[0] &= 0x7fffffff; /* a positive pid, as drivers expect */
		if (v[0] != 0 && !find_locked(m, v[0]))
			break;
		worker_random_bytes(c->link.worker, v, sizeof(v));
	}
	c->cancel_pid = v[0];
	c->cancel_key = v[1];
	cancel_entry_t *e = m->free_entries;
	if (e)
		m->free_entries = e->next;
	else
		e = xmalloc(sizeof(*e));
	e->client = c;
	cancel_entry_t **b = bucket(m, c->cancel_pid);
	e->next = *b;
	*b = e;
	pthread_mutex_unlock(&m->lock);
}

void cancel_unregister(cancel_map_t *m, client_t *c)
{
	pthread_mutex_lock(&m->lock);
	for (cancel_entry_t **pp = bucket(m, c->cancel_pid); *pp; pp = &(*pp)->next) {
		if ((*pp)->client == c) {
			cancel_entry_t *e = *pp;
			*pp = e->next;
			e->next = m->free_entries;
			m->free_entries = e;
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
}

/* ---- forwarding to the server ---- */

typedef struct cancel_conn {
	list_node_t node;          /* in worker->cancels, so shutdown can end it */
	int fd;
	struct event *ev;
	struct event *timer;
	server_t *server;
	uint8_t packet[16 + 256];
	size_t packet_len;
	bool sent;
} cancel_conn_t;

/* What a cancel needs, copied under the locks so the connection can be made
 * without them. */
typedef struct cancel_target {
	char host[256];
	int port;
	uint32_t pid;
	uint8_t key[256];
	uint32_t key_len;
} cancel_target_t;

static int connect_to(const cancel_target_t *t)
{
	if (t->host[0] == '/') {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%.80s/.s.PGSQL.%d", t->host, t->port) < 0)
			return -1;
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 && errno != EINPROGRESS &&
		    errno != EAGAIN) {
			close(fd);
			return -1;
		}
		return fd;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
	char port[16];
	snprintf(port, sizeof(port), "%d", t->port);
	if (getaddrinfo(t->host, port, &hints, &res) != 0 || !res)
		return -1;
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) < 0 && errno != EINPROGRESS) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static void server_cancel_done_fn(worker_t *w, void *a, void *b)
{
	server_release_after_cancel(a);
}

/* Ends a cancel connection. The server it kept alive is then released (or
 * freed) by its owner: through the mailbox normally, directly at shutdown
 * when no worker runs any more. */
static void cancel_end(cancel_conn_t *cc, bool shutdown)
{
	server_t *s = cc->server;
	pool_t *p = s->pool;
	pool_lock(p);
	s->cancel_pending--;
	p->n_cancel_pending--;
	bool wake = s->cancel_pending == 0 && (s->state == SV_CANCEL_WAIT || s->free_deferred);
	worker_t *home = s->link.worker;
	pool_unlock(p);
	if (wake && shutdown)
		server_release_after_cancel(s);
	else if (wake)
		worker_post_async(home, server_cancel_done_fn, s, NULL);
	list_del(&cc->node);
	event_free(cc->ev);
	event_free(cc->timer);
	if (cc->fd >= 0)
		close(cc->fd);
	free(cc);
}

static void cancel_finish(cancel_conn_t *cc)
{
	cancel_end(cc, false);
}

static void cancel_io_cb(evutil_socket_t fd, short what, void *arg)
{
	cancel_conn_t *cc = arg;
	if (what & EV_TIMEOUT) {
		cancel_finish(cc);
		return;
	}
	if (!cc->sent) {
		ssize_t n = send(fd, cc->packet, cc->packet_len, MSG_NOSIGNAL);
		if (n != (ssize_t)cc->packet_len) {
			cancel_finish(cc);
			return;
		}
		cc->sent = true;
		event_del(cc->ev);
		event_assign(cc->ev, event_get_base(cc->ev), fd, EV_READ | EV_PERSIST, cancel_io_cb, cc);
		event_add(cc->ev, NULL);
		return;
	}
	/* The server closes the connection once it processed the cancel. */
	char buf[64];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return;
	cancel_finish(cc);
}

static void start_cancel(worker_t *w, server_t *s, const cancel_target_t *t)
{
	cancel_conn_t *cc = xcalloc(1, sizeof(*cc));
	cc->server = s;
	cc->packet_len = 12 + t->key_len;
	proto_put_u32(cc->packet, (uint32_t)cc->packet_len);
	proto_put_u32(cc->packet + 4, PROTO_CANCEL_CODE);
	proto_put_u32(cc->packet + 8, t->pid);
	memcpy(cc->packet + 12, t->key, t->key_len);
	list_push_back(&w->cancels, &cc->node);
	cc->fd = connect_to(t);
	cc->ev = event_new(w->base, cc->fd, EV_WRITE, cancel_io_cb, cc);
	cc->timer = evtimer_new(w->base, cancel_io_cb, cc);
	if (cc->fd < 0) {
		cancel_finish(cc);
		return;
	}
	const config_t *cfg = runtime_cfg(w->rt);
	usec_t to = cfg->cancel_wait_timeout > 0 ? cfg->cancel_wait_timeout : 10 * USEC_PER_SEC;
	struct timeval tv = { (time_t)(to / USEC_PER_SEC), (suseconds_t)(to % USEC_PER_SEC) };
	event_add(cc->ev, NULL);
	event_add(cc->timer, &tv);
}

void cancel_request(runtime_t *rt, worker_t *w, uint32_t pid, const uint8_t *key, uint32_t key_len)
{
	cancel_map_t *m = rt->cancels;
	cancel_target_t t;
	server_t *target = NULL;
	client_t *waiter = NULL;
	pthread_mutex_lock(&m->lock);
	cancel_entry_t *e = find_locked(m, pid);
	uint32_t k = key_len == 4 ? proto_get_u32(key) : 0;
	if (e && key_len == 4 && e->client->cancel_key == k && e->client->pool) {
		client_t *c = e->client;
		pool_t *p = c->pool;
		pool_lock(p);
		server_t *s = c->server;
		if (s && s->state == SV_ACTIVE && s->backend_key_len) {
			/* Where this server is, which RELOAD may have changed for
			 * the pool since it connected. */
			strlcpy_ok(t.host, s->target.host, sizeof(t.host));
			t.port = s->target.port;
			t.pid = s->backend_pid;
			t.key_len = s->backend_key_len;
			memcpy(t.key, s->backend_key, t.key_len);
			s->cancel_pending++;
			p->n_cancel_pending++;
			target = s;
		} else if (c->waiting) {
			list_del(&c->wait_node);
			c->waiting = false;
			p->n_waiting--;
			c->inflight++;
			waiter = c;
		}
		pool_unlock(p);
	}
	pthread_mutex_unlock(&m->lock);
	if (target)
		start_cancel(w, target, &t);
	else if (waiter)
		worker_post(waiter->link.worker, client_cancel_wait_fn, waiter, NULL);
	else
		log_debug("cancel request for unknown or idle client ignored: pid=%u", pid);
}

void cancel_abort_all(worker_t *w)
{
	list_node_t *n;
	while ((n = list_first(&w->cancels)) != NULL)
		cancel_end(list_entry(n, cancel_conn_t, node), true);
}

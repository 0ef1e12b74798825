/*
 * worker.c - worker threads, their event loops and mailboxes.
 */
#include "worker.h"

#include "auth.h"
#include "clock.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"

static __thread worker_t *current_worker;

worker_t *worker_current(void)
{
	return current_worker;
}

bool worker_is_current(const worker_t *w)
{
	return current_worker == w;
}

/* Drains the mailbox: swap the array out under the lock and run the
 * messages without it, so a handler may post again (even to this worker: that
 * lands in the fresh array and its eventfd write brings us back). */
static void mailbox_cb(evutil_socket_t fd, short what, void *arg)
{
	worker_t *w = arg;
	w->now = clock_mono_usec();
	uint64_t v;
	ssize_t UNUSED n = read(fd, &v, sizeof(v));

	pthread_mutex_lock(&w->mbox_lock);
	worker_msg_t *msgs = w->mbox;
	size_t len = w->mbox_len, cap = w->mbox_cap;
	w->mbox = w->mbox_spare;
	w->mbox_cap = w->mbox_spare_cap;
	w->mbox_len = 0;
	w->mbox_spare = NULL;
	w->mbox_spare_cap = 0;
	pthread_mutex_unlock(&w->mbox_lock);

	for (size_t i = 0; i < len; i++)
		msgs[i].fn(w, msgs[i].a, msgs[i].b);

	pthread_mutex_lock(&w->mbox_lock);
	if (!w->mbox_spare) {
		w->mbox_spare = msgs;
		w->mbox_spare_cap = cap;
		msgs = NULL;
	}
	pthread_mutex_unlock(&w->mbox_lock);
	free(msgs);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	worker_t *w = arg;
	list_node_t *n;
	while ((n = list_pop_front(&w->reap_list)) != NULL) {
		reapable_t *r = list_entry(n, reapable_t, node);
		r->free_fn(r);
	}
}

static void janitor_cb(evutil_socket_t fd, short what, void *arg)
{
	worker_t *w = arg;
	w->now = clock_mono_usec();
	if (w->on_tick)
		w->on_tick(w);
}

bool worker_random_bytes(worker_t *w, void *buf, size_t n)
{
	if (n > sizeof(w->rand_pool))
		return auth_random_bytes(buf, n);
	if (w->rand_left < n) {
		if (!auth_random_bytes(w->rand_pool, sizeof(w->rand_pool)))
			return false;
		w->rand_left = sizeof(w->rand_pool);
	}
	/* Bytes handed out are wiped: none is ever given twice. */
	uint8_t *from = w->rand_pool + w->rand_left - n;
	memcpy(buf, from, n);
	memset(from, 0, n);
	w->rand_left -= (uint16_t)n;
	return true;
}

bool worker_init(worker_t *w, struct runtime *rt, int id)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->rt = rt;
	list_init(&w->clients);
	list_init(&w->servers);
	list_init(&w->reap_list);
	list_init(&w->cancels);
	pthread_mutex_init(&w->mbox_lock, NULL);
	/* Each base is used by its own thread only: no libevent locking. */
	struct event_config *ec = event_config_new();
	event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	w->base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (!w->base)
		return false;
	w->mbox_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->mbox_fd < 0)
		return false;
	w->mbox_ev = event_new(w->base, w->mbox_fd, EV_READ | EV_PERSIST, mailbox_cb, w);
	w->reap_ev = event_new(w->base, -1, 0, reap_cb, w);
	w->janitor_ev = event_new(w->base, -1, EV_PERSIST, janitor_cb, w);
	struct timeval tick = { 0, WORKER_TICK_USEC };
	event_add(w->mbox_ev, NULL);
	event_add(w->janitor_ev, &tick);
	return true;
}

static void *worker_main(void *arg)
{
	worker_t *w = arg;
	current_worker = w;
	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	current_worker = NULL;
	return NULL;
}

bool worker_start(worker_t *w)
{
	return pthread_create(&w->thread, NULL, worker_main, w) == 0;
}

void worker_join(worker_t *w)
{
	pthread_join(w->thread, NULL);
}

void worker_destroy(worker_t *w)
{
	reap_cb(-1, 0, w);
	for (int i = 0; i < w->nlisten; i++) {
		if (w->listen_ev[i])
			event_free(w->listen_ev[i]);
	}
	if (w->mbox_ev)
		event_free(w->mbox_ev);
	if (w->reap_ev)
		event_free(w->reap_ev);
	if (w->janitor_ev)
		event_free(w->janitor_ev);
	if (w->base)
		event_base_free(w->base);
	if (w->mbox_fd > 0)
		close(w->mbox_fd);
	free(w->mbox);
	free(w->mbox_spare);
	iobuf_cache_destroy(&w->bufs);
	pthread_mutex_destroy(&w->mbox_lock);
}

void worker_post_async(worker_t *w, worker_fn fn, void *a, void *b)
{
	pthread_mutex_lock(&w->mbox_lock);
	if (w->mbox_len == w->mbox_cap) {
		size_t cap = w->mbox_cap ? w->mbox_cap * 2 : 64;
		w->mbox = xrealloc(w->mbox, cap * sizeof(*w->mbox));
		w->mbox_cap = cap;
	}
	bool was_empty = w->mbox_len == 0;
	w->mbox[w->mbox_len++] = (worker_msg_t){ fn, a, b };
	pthread_mutex_unlock(&w->mbox_lock);
	if (was_empty) {
		uint64_t one = 1;
		ssize_t UNUSED n = write(w->mbox_fd, &one, sizeof(one));
	}
}

void worker_post(worker_t *w, worker_fn fn, void *a, void *b)
{
	if (worker_is_current(w))
		fn(w, a, b);
	else
		worker_post_async(w, fn, a, b);
}

void worker_reap(worker_t *w, reapable_t *r)
{
	list_push_back(&w->reap_list, &r->node);
	event_active(w->reap_ev, EV_TIMEOUT, 0);
}

void worker_run_mailbox(worker_t *w)
{
	worker_t *was = current_worker;
	current_worker = w;
	mailbox_cb(w->mbox_fd, EV_READ, w);
	current_worker = was;
}

static void stop_fn(worker_t *w, void *a, void *b)
{
	event_base_loopbreak(w->base);
}

void worker_stop(worker_t *w)
{
	worker_post_async(w, stop_fn, NULL, NULL);
}

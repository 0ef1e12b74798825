/*
 * worker.h - one thread, one libevent event_base, and a mailbox: the only
 * door between threads. Everything a worker owns (its connections, its buffer
 * cache, its stats slots) is touched by its own thread alone; other threads
 * ask it to act by posting a message.
 */
#ifndef PGTIDE_WORKER_H
#define PGTIDE_WORKER_H

#include <pthread.h>
#include <stdatomic.h>

#include "common.h"
#include "iobuf.h"
#include "list.h"

struct event_base;
struct event;
struct worker;
struct runtime;

typedef void (*worker_fn)(struct worker *w, void *a, void *b);

/* Something freed by the reaper at the end of a loop turn, never inside its
 * own callback (a callback may still be running on the stack). */
typedef struct reapable {
	list_node_t node;
	void (*free_fn)(struct reapable *r);
} reapable_t;

typedef struct worker_msg {
	worker_fn fn;
	void *a, *b;
} worker_msg_t;

typedef struct worker {
	int id;
	struct runtime *rt;
	pthread_t thread;
	struct event_base *base;

	/* Mailbox: a growable array of messages under a mutex, and an eventfd
	 * that is written only when the queue goes from empty to non-empty, so
	 * a burst of hand-offs costs one wake-up. */
	pthread_mutex_t mbox_lock;
	worker_msg_t *mbox;
	size_t mbox_len, mbox_cap;
	worker_msg_t *mbox_spare;  /* the array being drained, swapped with mbox */
	size_t mbox_spare_cap;
	int mbox_fd;
	struct event *mbox_ev;

	iobuf_cache_t bufs;
	/* Monotonic time read once per wake-up (socket, mailbox, tick): what
	 * the hot path uses for timestamps instead of a clock call each. */
	usec_t now;
	/* Random bytes drawn from OpenSSL's DRBG in blocks: one RAND_bytes call
	 * (tens of thousands of instructions with its locks) per many logins
	 * instead of two per login (md5 salt, cancel key). */
	uint8_t rand_pool[512];
	uint16_t rand_left;

	list_node_t clients;      /* every client this worker owns */
	list_node_t servers;      /* every server this worker owns */
	list_node_t reap_list;    /* connections to free at the end of this loop turn */
	list_node_t cancels;      /* cancel connections this worker has open */
	struct event *reap_ev;
	struct event *janitor_ev;
	void (*on_tick)(struct worker *w); /* timeouts; every WORKER_TICK_USEC */

	/* Listening sockets this worker accepts on. */
	struct event *listen_ev[8];
	int listen_fd[8];
	int nlisten;
	bool accepting;
	int next_accept_worker;   /* round-robin hand-off for shared listeners */

	/* Where clients live (balance.c): this thread's CPU use over the last
	 * balance period, in permille of one core, for the other workers to
	 * read; and where the period started. */
	atomic_uint load_permille;
	usec_t load_wall_start, load_cpu_start;
	int steer_workers;        /* worker 0: new connections go to workers [0, this); 0 = kernel's
				   * spread; -1 = the kernel refused a steering program */
} worker_t;

bool worker_init(worker_t *w, struct runtime *rt, int id);
/* Fills buf with n (at most sizeof rand_pool) cryptographically random
 * bytes, from w's pool; on w's thread only. False if the DRBG failed. */
bool worker_random_bytes(worker_t *w, void *buf, size_t n);
bool worker_start(worker_t *w);
void worker_join(worker_t *w);
void worker_destroy(worker_t *w);

/* Runs fn(w, a, b) on w's thread: directly when called from it, otherwise
 * through the mailbox. */
void worker_post(worker_t *w, worker_fn fn, void *a, void *b);
/* Always through the mailbox (also from w's own thread): for work that must
 * not run inside the caller's stack frame. */
void worker_post_async(worker_t *w, worker_fn fn, void *a, void *b);
bool worker_is_current(const worker_t *w);
worker_t *worker_current(void);

#define WORKER_TICK_USEC (100 * USEC_PER_MSEC)

/* Queues r to be freed once the current callbacks are done. */
void worker_reap(worker_t *w, reapable_t *r);
/* Stops the event loop of w (from any thread). */
void worker_stop(worker_t *w);
/* Runs what is queued in w's mailbox on the calling thread; only once w's
 * thread has ended (shutdown). */
void worker_run_mailbox(worker_t *w);

#endif

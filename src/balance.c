/*
 * balance.c - where clients live (see balance.h).
 *
 * Why: every event loop in use costs wake-ups. A transaction's messages
 * reach the pooler in a few bursts; one loop serving many clients drains
 * several sockets per epoll_wait, while two half-idle loops each wake for
 * fewer. On a machine the pooler shares with its clients and the database,
 * those extra wake-ups are most of the difference in CPU per transaction
 * (docs/performance.md). So clients gather on as few workers as the load
 * needs, and spread out again as soon as a worker gets busy.
 *
 * Each worker decides only for its own clients, from the loads the others
 * published; a move reserves the mover's load on the target at once, so two
 * workers do not pile onto one in the same period. The 70% packing line
 * under the busy line is the hysteresis that keeps a client from bouncing.
 */
#include "balance.h"

#include <errno.h>
#include <linux/filter.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "client.h"
#include "config.h"
#include "log.h"
#include "runtime.h"
#include "worker.h"

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif
#ifndef SO_DETACH_REUSEPORT_BPF
#define SO_DETACH_REUSEPORT_BPF 68
#endif

/* A worker under a quarter of the busy line is not worth steering new
 * connections to: worker 0 takes them until it is busy and spreads. */
static unsigned in_use_line(unsigned busy)
{
	return busy / 4 ? busy / 4 : 1;
}

static usec_t thread_cpu_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
}

static unsigned load_of(const worker_t *w)
{
	return atomic_load_explicit(&w->load_permille, memory_order_relaxed);
}

/* CPU time over wall time since the last period, published; false while
 * the first period is still running. */
static bool measure_load(worker_t *w, usec_t now)
{
	usec_t cpu = thread_cpu_usec();
	bool had_period = w->load_wall_start != 0;
	if (had_period && now > w->load_wall_start) {
		usec_t permille = (cpu - w->load_cpu_start) * 1000 / (now - w->load_wall_start);
		atomic_store_explicit(&w->load_permille, (unsigned)(permille > 1000 ? 1000 : permille),
				      memory_order_relaxed);
	}
	w->load_wall_start = now;
	w->load_cpu_start = cpu;
	return had_period;
}

/* The lowest-numbered worker below w that can take w's whole load and stay
 * under limit; NULL if none. */
static worker_t *pack_target(runtime_t *rt, const worker_t *w, unsigned load, unsigned limit)
{
	for (int i = 0; i < w->id; i++) {
		if (load_of(&rt->workers[i]) + load < limit)
			return &rt->workers[i];
	}
	return NULL;
}

/* The quietest other worker, if it is under half of busy; NULL if none. */
static worker_t *spread_target(runtime_t *rt, const worker_t *w, unsigned busy)
{
	worker_t *best = NULL;
	for (int i = 0; i < rt->nworkers; i++) {
		worker_t *v = &rt->workers[i];
		if (v != w && load_of(v) < busy / 2 && (!best || load_of(v) < load_of(best)))
			best = v;
	}
	return best;
}

/* Moves up to max of w's idle clients to 'to'; returns how many moved. */
static size_t move_clients(worker_t *w, worker_t *to, size_t max)
{
	size_t moved = 0;
	list_node_t *n, *tmp;
	list_for_each_safe(n, tmp, &w->clients) {
		if (moved == max)
			break;
		if (client_move(list_entry(n, client_t, worker_node), to))
			moved++;
	}
	return moved;
}

static size_t count_clients(const worker_t *w)
{
	size_t n = 0;
	const list_node_t *i;
	list_for_each(i, &w->clients)
		n++;
	return n;
}

static void rebalance(worker_t *w, unsigned busy)
{
	runtime_t *rt = w->rt;
	unsigned load = load_of(w);
	worker_t *to = pack_target(rt, w, load, busy * 7 / 10);
	if (to) {
		size_t moved = move_clients(w, to, SIZE_MAX);
		if (moved) {
			/* The load went with the clients: worker 0 stops steering
			 * new connections here at its next period, not one later. */
			atomic_fetch_add_explicit(&to->load_permille, load, memory_order_relaxed);
			atomic_store_explicit(&w->load_permille, 0, memory_order_relaxed);
			log_debug("worker %d: load %u‰, %zu idle client(s) packed onto worker %d", w->id, load, moved,
				  to->id);
		}
		return;
	}
	if (load <= busy || !(to = spread_target(rt, w, busy)))
		return;
	/* Hand over the share that would even the two loads out. */
	unsigned gap = load - load_of(to);
	size_t share = count_clients(w) * gap / (2 * load);
	size_t moved = move_clients(w, to, share ? share : 1);
	if (moved) {
		atomic_fetch_add_explicit(&to->load_permille, gap / 2, memory_order_relaxed);
		log_debug("worker %d: load %u‰, %zu idle client(s) spread to worker %d", w->id, load, moved, to->id);
	}
}

bool balance_steer_socket(int fd, int k)
{
	if (k <= 0) {
		int unused = 0;
		return setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &unused, sizeof(unused)) == 0 ||
		       errno == ENOENT;
	}
	/* A = a random number modulo k; the kernel picks the group's A-th
	 * socket. Random, not the receiving CPU or the flow hash: one NIC
	 * queue would send every connection to one worker, and loopback
	 * packets carry no hash. One worker in use: always socket 0. */
	struct sock_filter spread[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM)),
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, (uint32_t)k),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_filter first[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct sock_fprog prog;
	memset(&prog, 0, sizeof(prog)); /* the padding goes to the kernel too */
	prog.len = k == 1 ? ARRAY_SIZE(first) : ARRAY_SIZE(spread);
	prog.filter = k == 1 ? first : spread;
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) == 0;
}

/* Worker 0: new connections go to the workers in use, 0 to the highest one
 * whose load counts. Only when this process owns the whole port: with
 * so_reuseport, a pgtide being replaced shares the group and its sockets
 * would take the low indexes. */
static void steer(worker_t *w, const config_t *cfg)
{
	runtime_t *rt = w->rt;
	int k = 0;
	if (cfg->worker_busy_percent > 0 && !cfg->so_reuseport && rt->nworkers > 1) {
		k = 1;
		for (int i = 1; i < rt->nworkers; i++) {
			if (load_of(&rt->workers[i]) >= in_use_line((unsigned)cfg->worker_busy_percent * 10))
				k = i + 1;
		}
	}
	if (k == w->steer_workers || w->steer_workers < 0 || !w->accepting)
		return;
	bool ok = true;
	for (int j = 0; j < w->nlisten; j++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		/* The unix socket is worker 0's alone. */
		if (w->listen_fd[j] >= 0 && getsockname(w->listen_fd[j], (struct sockaddr *)&ss, &len) == 0 &&
		    ss.ss_family != AF_UNIX)
			ok = balance_steer_socket(w->listen_fd[j], k) && ok;
	}
	if (!ok) {
		/* Not worth a retry every period: placement stays the kernel's. */
		log_info("reuseport steering refused by the kernel (%s); the kernel places new connections",
			 strerror(errno));
		for (int j = 0; j < w->nlisten; j++)
			(void)balance_steer_socket(w->listen_fd[j], 0);
		k = -1;
	}
	w->steer_workers = k;
}

void balance_tick(worker_t *w, usec_t now)
{
	if (w->load_wall_start && now - w->load_wall_start < BALANCE_PERIOD_USEC)
		return;
	if (!measure_load(w, now))
		return;
	const config_t *cfg = runtime_cfg(w->rt);
	unsigned busy = (unsigned)cfg->worker_busy_percent * 10;
	if (busy > 0 && w->rt->nworkers > 1)
		rebalance(w, busy);
	if (w->id == 0)
		steer(w, cfg);
}

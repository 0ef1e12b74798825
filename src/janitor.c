/*
 * janitor.c - periodic maintenance, run from each worker's tick event.
 */
#include "janitor.h"

#include "balance.h"
#include "client.h"
#include "clock.h"
#include "log.h"
#include "pool.h"
#include "runtime.h"
#include "server.h"
#include "worker.h"

static void maintain_pools(runtime_t *rt, usec_t now)
{
	const config_t *cfg = runtime_cfg(rt);
	bool period_over = false;
	pthread_mutex_lock(&rt->pools_lock);
	list_node_t *n;
	list_for_each(n, &rt->pools) {
		pool_t *p = list_entry(n, pool_t, rt_node);
		pool_sample_busy(p, now);
		worker_t *w = pool_wants_connect(p, now);
		if (w)
			worker_post(w, server_connect_fn, p, NULL);
		if (cfg->stats_period > 0 && now - p->period_start >= cfg->stats_period) {
			pool_stats_period(p, now);
			period_over = true;
			if (cfg->log_stats)
				pool_log_stats(p);
		}
	}
	pthread_mutex_unlock(&rt->pools_lock);
	(void)period_over;
}

void janitor_tick(worker_t *w)
{
	usec_t now = clock_mono_usec();
	client_tick(w, now);
	server_tick(w, now);
	balance_tick(w, now);
	if (w->id == 0)
		maintain_pools(w->rt, now);
}

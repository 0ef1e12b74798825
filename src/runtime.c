/*
 * runtime.c - the runtime context.
 */
#include "runtime.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "authq.h"
#include "cancel.h"
#include "clock.h"
#include "pool.h"
#include "replica.h"
#include "tls.h"
#include "worker.h"

static void name_set_free(name_set_t *set);

/* CPUs this process may run on (taskset, cpusets and container limits that
 * use them), not every CPU of the machine. */
static int usable_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	return cores > 0 ? (int)cores : 1;
}

bool runtime_init(runtime_t *rt, config_t *cfg)
{
	memset(rt, 0, sizeof(*rt));
	pthread_mutex_init(&rt->cfg_lock, NULL);
	pthread_mutex_init(&rt->pools_lock, NULL);
	list_init(&rt->pools);
	rt->cfg = cfg;
	rt->cancels = cancel_map_new();
	rt->authq_cache = authq_cache_new();
	rt->replicas = replica_registry_new();
	rt->start_mono = clock_mono_usec();
	rt->start_wall = clock_wall_usec();
	atomic_init(&rt->nclients, 0);
	atomic_init(&rt->next_id, 1);
	atomic_init(&rt->state, RT_RUNNING);
	atomic_init(&rt->paused, false);
	atomic_init(&rt->drain_for_clients, false);
	if (!auth_random_bytes(rt->mock_key, sizeof(rt->mock_key)) ||
	    !auth_random_bytes((uint8_t *)&rt->text_hash_key, sizeof(rt->text_hash_key)))
		return false;
	int n = cfg->workers > 0 ? cfg->workers : usable_cpus();
	rt->nworkers = MIN(n, MAX_WORKERS);
	rt->workers = xcalloc((size_t)rt->nworkers, sizeof(worker_t));
	for (int i = 0; i < rt->nworkers; i++) {
		if (!worker_init(&rt->workers[i], rt, i))
			return false;
	}
	return true;
}

static void free_counts(conn_count_t *c)
{
	while (c) {
		conn_count_t *next = c->next;
		free(c);
		c = next;
	}
}

void runtime_destroy(runtime_t *rt)
{
	for (int i = 0; i < rt->nworkers; i++)
		worker_destroy(&rt->workers[i]);
	free(rt->workers);
	pool_free_all(rt);
	free_counts(rt->db_counts);
	free_counts(rt->user_counts);
	name_set_free(&rt->disabled_dbs);
	name_set_free(&rt->paused_dbs);
	cancel_map_free(rt->cancels);
	authq_cache_free(rt->authq_cache);
	replica_registry_free(rt->replicas);
	for (int i = 0; i < rt->nretired; i++)
		config_unref(rt->retired[i]);
	free(rt->retired);
	for (int i = 0; i < rt->ntls_retired; i++)
		tls_free(rt->tls_retired[i]);
	free(rt->tls_retired);
	tls_free(rt->tls);
	config_unref(rt->cfg);
	free(rt->config_path);
	free(rt->database_url);
	pthread_mutex_destroy(&rt->cfg_lock);
	pthread_mutex_destroy(&rt->pools_lock);
}

config_t *runtime_config(runtime_t *rt)
{
	pthread_mutex_lock(&rt->cfg_lock);
	config_t *cfg = rt->cfg;
	config_ref(cfg);
	pthread_mutex_unlock(&rt->cfg_lock);
	return cfg;
}

void runtime_set_config(runtime_t *rt, config_t *cfg)
{
	pthread_mutex_lock(&rt->cfg_lock);
	rt->retired = xrealloc(rt->retired, sizeof(*rt->retired) * (size_t)(rt->nretired + 1));
	rt->retired[rt->nretired++] = rt->cfg;
	__atomic_store_n(&rt->cfg, cfg, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&rt->cfg_lock);
}

void runtime_set_tls(runtime_t *rt, tls_t *tls)
{
	pthread_mutex_lock(&rt->cfg_lock);
	if (rt->tls) {
		rt->tls_retired = xrealloc(rt->tls_retired, sizeof(*rt->tls_retired) * (size_t)(rt->ntls_retired + 1));
		rt->tls_retired[rt->ntls_retired++] = rt->tls;
	}
	__atomic_store_n(&rt->tls, tls, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&rt->cfg_lock);
}

conn_count_t *runtime_conn_count(conn_count_t **list, const char *name)
{
	for (conn_count_t *c = *list; c; c = c->next) {
		if (strcmp(c->name, name) == 0)
			return c;
	}
	conn_count_t *c = xcalloc(1, sizeof(*c));
	strlcpy_ok(c->name, name, sizeof(c->name));
	atomic_init(&c->count, 0);
	c->next = *list;
	*list = c;
	return c;
}

uint64_t runtime_next_id(runtime_t *rt)
{
	return atomic_fetch_add(&rt->next_id, 1);
}

static int name_index(const name_set_t *set, const char *name)
{
	for (int i = 0; i < set->n; i++) {
		if (strcmp(set->names[i], name) == 0)
			return i;
	}
	return -1;
}

bool name_set_contains(const name_set_t *set, const char *name)
{
	return name_index(set, name) >= 0;
}

void runtime_name_set(runtime_t *rt, name_set_t *set, const char *name, bool present)
{
	pthread_mutex_lock(&rt->pools_lock);
	int i = name_index(set, name);
	if (present && i < 0) {
		set->names = xrealloc(set->names, sizeof(char *) * (size_t)(set->n + 1));
		set->names[set->n++] = xstrdup(name);
	} else if (!present && i >= 0) {
		free(set->names[i]);
		set->names[i] = set->names[--set->n];
	}
	pthread_mutex_unlock(&rt->pools_lock);
}

bool runtime_name_in(runtime_t *rt, name_set_t *set, const char *name)
{
	pthread_mutex_lock(&rt->pools_lock);
	bool in = name_index(set, name) >= 0;
	pthread_mutex_unlock(&rt->pools_lock);
	return in;
}

static void name_set_free(name_set_t *set)
{
	for (int i = 0; i < set->n; i++)
		free(set->names[i]);
	free(set->names);
	set->names = NULL;
	set->n = 0;
}

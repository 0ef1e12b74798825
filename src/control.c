/*
 * control.c - admin control commands.
 */
#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "log.h"
#include "pool.h"
#include "runtime.h"
#include "server.h"
#include "tls.h"
#include "worker.h"

bool control_db_known(runtime_t *rt, const char *db)
{
	if (!db)
		return true;
	bool found = false;
	pthread_mutex_lock(&rt->pools_lock);
	list_node_t *n;
	list_for_each(n, &rt->pools) {
		if (strcmp(list_entry(n, pool_t, rt_node)->dbname, db) == 0)
			found = true;
	}
	pthread_mutex_unlock(&rt->pools_lock);
	return found || config_find_db(runtime_cfg(rt), db) != NULL;
}

static void set_paused(pool_t *p, void *arg)
{
	pool_lock(p);
	p->paused = *(bool *)arg;
	pool_unlock(p);
}

bool control_pause(runtime_t *rt, const char *db, bool pause)
{
	if (!control_db_known(rt, db))
		return false;
	if (!db)
		atomic_store(&rt->paused, pause);
	else
		runtime_name_set(rt, &rt->paused_dbs, db, pause); /* pools made later too */
	pool_for_each(rt, db, set_paused, &pause);
	return true;
}

bool control_pause_done(runtime_t *rt, const char *db)
{
	return pool_busy_servers(rt, db) == 0;
}

static void bump_generation(pool_t *p, void *arg)
{
	pool_lock(p);
	p->generation++;
	pool_unlock(p);
}

bool control_reconnect(runtime_t *rt, const char *db)
{
	if (!control_db_known(rt, db))
		return false;
	pool_for_each(rt, db, bump_generation, NULL);
	return true;
}

static void add_old(pool_t *p, void *arg)
{
	*(int *)arg += pool_old_servers(p);
}

bool control_reconnect_done(runtime_t *rt, const char *db)
{
	int old = 0;
	pool_for_each(rt, db, add_old, &old);
	return old == 0;
}

/* ---- KILL: on every worker, close the pool's clients, then its servers ---- */

static void kill_on_worker(worker_t *w, void *a, void *b)
{
	char *db = a;
	list_node_t *n, *tmp;
	list_for_each_safe(n, tmp, &w->clients) {
		client_t *c = list_entry(n, client_t, worker_node);
		if (!c->pool || (db && strcmp(c->pool->dbname, db) != 0))
			continue;
		if (pool_cancel_wait(c->pool, c))
			pool_stats(c->pool, w->id)->c.wait_killed_count++;
		client_fail_request(c, "57P01", "admin console KILL: connection closed", true);
	}
	list_for_each_safe(n, tmp, &w->servers) {
		server_t *s = list_entry(n, server_t, worker_node);
		if ((!db || strcmp(s->pool->dbname, db) == 0) && s->state != SV_MOVING && s->state != SV_CLOSED &&
		    (s->state != SV_IDLE || pool_take_idle(s->pool, s)))
			server_close(s, "admin console KILL");
	}
	free(db);
}

bool control_kill(runtime_t *rt, const char *db)
{
	if (!control_pause(rt, db, true))
		return false;
	for (int i = 0; i < rt->nworkers; i++)
		worker_post(&rt->workers[i], kill_on_worker, db ? xstrdup(db) : NULL, NULL);
	return true;
}

static void kill_client_on_worker(worker_t *w, void *a, void *b)
{
	client_t *c = a;
	if (pool_client_unref(c->pool, c)) {
		client_free_deferred(c);
		return;
	}
	if (pool_cancel_wait(c->pool, c))
		pool_stats(c->pool, w->id)->c.wait_killed_count++;
	client_fail_request(c, "57P01", "admin console KILL_CLIENT: connection closed", true);
}

typedef struct find_client {
	uint64_t id;
	client_t *found;
} find_client_t;

static void find_in_pool(pool_t *p, void *arg)
{
	find_client_t *f = arg;
	pool_lock(p);
	list_node_t *n;
	list_for_each(n, &p->clients) {
		client_t *c = list_entry(n, client_t, pool_node);
		if (!f->found && c->id == f->id && c->state != CL_CLOSING) {
			c->inflight++; /* keeps c alive until its worker acts */
			f->found = c;
		}
	}
	pool_unlock(p);
}

bool control_kill_client(runtime_t *rt, uint64_t id)
{
	find_client_t f = { id, NULL };
	pool_for_each(rt, NULL, find_in_pool, &f);
	if (!f.found)
		return false;
	worker_post(f.found->link.worker, kill_client_on_worker, f.found, NULL);
	return true;
}

bool control_disable(runtime_t *rt, const char *db, bool disable)
{
	if (!db || !control_db_known(rt, db))
		return false;
	runtime_name_set(rt, &rt->disabled_dbs, db, disable);
	return true;
}

static void apply_config(pool_t *p, void *arg)
{
	pool_apply_config(p, arg);
}

bool control_set(runtime_t *rt, const char *key, const char *value, char *err, size_t errlen)
{
	const config_setting_t *s = config_setting_find(key);
	if (!s) {
		snprintf(err, errlen, "unknown setting \"%s\"", key);
		return false;
	}
	if (!s->reloadable) {
		snprintf(err, errlen, "setting \"%s\" cannot be changed at run time", key);
		return false;
	}
	config_t *cur = runtime_config(rt);
	config_t *cfg = config_clone(cur);
	config_unref(cur);
	if (!config_set(cfg, key, value, err, errlen)) {
		config_unref(cfg);
		return false;
	}
	if ((strcmp(s->name, "auth_hba_file") == 0 || strcmp(s->name, "auth_type") == 0) &&
	    !config_load_hba_file(cfg, err, errlen)) {
		config_unref(cfg);
		return false;
	}
	if (strstr(s->name, "_tls_")) {
		/* TLS settings take effect through new contexts, built now. */
		tls_t *tls = tls_new(cfg, err, errlen);
		if (!tls) {
			config_unref(cfg);
			return false;
		}
		runtime_set_tls(rt, tls);
	}
	runtime_set_config(rt, cfg);
	pool_for_each(rt, NULL, apply_config, cfg);
	log_info("admin SET %s = %s", key, value);
	return true;
}

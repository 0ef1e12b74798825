/*
 * authq.h - auth_query: looking up a client's password secret in the
 * database, as PgBouncer's auth_user / auth_query do.
 *
 * A lookup is one libpq connection driven asynchronously by a worker's
 * event loop (PQconnectStartParams / PQconnectPoll, then PQsendQueryParams
 * with the user name as the only parameter): it never blocks the loop
 * (except for the host name resolution libpq does, as for server
 * connections). Answers, "no such user" included, are cached for
 * auth_query_cache_ttl in a cache shared by the workers. Clients of one
 * worker asking for the same user at the same time share one lookup, and
 * at most AUTHQ_MAX_INFLIGHT lookups run at once over all workers.
 */
#ifndef PGTIDE_AUTHQ_H
#define PGTIDE_AUTHQ_H

#include "common.h"
#include "config.h"

struct event_base;

typedef enum {
	AUTHQ_FOUND = 0,
	AUTHQ_NOT_FOUND,  /* no row, or a NULL password: fails like a wrong password */
	AUTHQ_ERROR,      /* could not ask (connection, query, bad answer) */
} authq_result_t;

#define AUTHQ_SECRET_MAX 512

typedef struct authq_cache authq_cache_t;
typedef struct authq authq_t;

/* secret is set only for AUTHQ_FOUND, err only for AUTHQ_ERROR; both are
 * valid during the call only. */
typedef void (*authq_done_fn)(void *arg, authq_result_t r, const char *secret, const char *err);

authq_cache_t *authq_cache_new(void);
void authq_cache_free(authq_cache_t *cache);

/* Looks user up in the cache (entries of the server that db_name resolves
 * to in cfg); true on a fresh hit, with *r and secret (AUTHQ_SECRET_MAX
 * bytes) filled. */
bool authq_cache_get(authq_cache_t *cache, const config_t *cfg, const char *db_name, const char *user,
		     authq_result_t *r, char *secret);

/* Looks user up on the server of [databases] entry db_name (auth_dbname,
 * or the client's database), as cfg->auth_user with its auth_file
 * password, on base's loop (joining a lookup of the same user already
 * running there). Returns NULL after writing a reason to err when it
 * cannot even start (or too many lookups run). Otherwise done(arg, ...) is
 * called once from the loop, unless authq_cancel is called first; the
 * handle is freed before done runs. The answer goes into cache. */
authq_t *authq_start(struct event_base *base, authq_cache_t *cache, const config_t *cfg,
		     const char *db_name, const char *user, authq_done_fn done, void *arg, char *err,
		     size_t errlen);
/* Stops waiting (done is not called); the lookup itself stops when nobody
 * waits for it any more. Not for a handle whose done already ran, nor for
 * another waiter's handle from inside a done callback. */
void authq_cancel(authq_t *q);

#endif

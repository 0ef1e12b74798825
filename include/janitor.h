/*
 * janitor.h - periodic work on each worker: timeouts of its own clients and
 * servers; on worker 0 also pool maintenance (connections for waiters after
 * server_login_retry, min_pool_size) and the stats period roll-over.
 */
#ifndef PGTIDE_JANITOR_H
#define PGTIDE_JANITOR_H

struct worker;

void janitor_tick(struct worker *w);

#endif

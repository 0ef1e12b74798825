/*
 * net.h - listening sockets. Every worker accepts on its own TCP socket bound
 * with SO_REUSEPORT (the kernel spreads connections, no acceptor thread);
 * the unix socket is accepted by worker 0.
 */
#ifndef PGTIDE_NET_H
#define PGTIDE_NET_H

#include "common.h"

struct runtime;
struct worker;

/* Opens every listener for every worker. false with err on failure (for
 * example the port is taken). */
bool net_listen(struct runtime *rt, char *err, size_t errlen);
/* Starts accepting on each worker's listeners (called from main before the
 * workers run). */
void net_enable(struct runtime *rt);
/* Stops accepting and closes the listening sockets (SIGTERM); from any thread. */
void net_close_listeners(struct worker *w);

#endif

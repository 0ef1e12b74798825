/*
 * balance.h - where clients live: which worker serves each idle client, and
 * which workers new connections reach.
 *
 * Each worker measures its own thread's CPU use every BALANCE_PERIOD_USEC
 * and publishes it. A worker whose load, added to a lower-numbered worker's,
 * stays under 70% of worker_busy_percent moves its idle clients there
 * (packing); a worker above worker_busy_percent hands a share of its idle
 * clients to the quietest worker (spreading). Worker 0 steers new TCP
 * connections to the workers in use with a reuseport BPF program.
 */
#ifndef PGTIDE_BALANCE_H
#define PGTIDE_BALANCE_H

#include "common.h"

struct worker;

#define BALANCE_PERIOD_USEC (500 * USEC_PER_MSEC)

/* From the worker's tick: measures, publishes and acts once a period. */
void balance_tick(struct worker *w, usec_t now);

/* Which workers new connections on listening socket fd (one of a
 * SO_REUSEPORT group whose i-th member is worker i's) go to: workers [0, k),
 * at random; k = 0 gives the choice back to the kernel's hash. False if the
 * kernel refused. */
bool balance_steer_socket(int fd, int k);

#endif

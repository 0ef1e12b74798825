/*
 * cancel.h - cancel routing. Each client gets pgtide's own BackendKeyData; a
 * CancelRequest carrying it is forwarded, with the real server key, to the
 * one server connection running that client's query right now, and to
 * nothing else. A cancel for a client still waiting for a server takes it
 * out of the queue instead.
 */
#ifndef PGTIDE_CANCEL_H
#define PGTIDE_CANCEL_H

#include "common.h"

struct client;
struct worker;
struct runtime;

typedef struct cancel_map cancel_map_t;

cancel_map_t *cancel_map_new(void);
void cancel_map_free(cancel_map_t *m);
/* Gives c a unique random (pid, key) and registers it. */
void cancel_register(cancel_map_t *m, struct client *c);
void cancel_unregister(cancel_map_t *m, struct client *c);
/* Shutdown (workers stopped): ends w's cancel connections still in flight
 * and releases or frees the servers they kept alive. */
void cancel_abort_all(struct worker *w);
/* Handles a CancelRequest received on worker w. */
void cancel_request(struct runtime *rt, struct worker *w, uint32_t pid, const uint8_t *key, uint32_t key_len);

#endif

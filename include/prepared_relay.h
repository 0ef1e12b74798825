/*
 * prepared_relay.h - the relay's side of named prepared statements in
 * transaction mode (the data structures are in prepared.h).
 *
 * Client to server: a Parse of a named statement is renamed to the
 * statement's content name, or answered by pgtide when the server already
 * has it; Bind and Describe of a named statement are renamed, with a Parse
 * sent first when the server lacks it (least recently used statements are
 * closed beyond max_prepared_statements); Close of a named statement is
 * answered by pgtide. Server to client: answers to what pgtide added are
 * hidden, answers pgtide owes are put in their place, and a statement is
 * recorded only once the server confirmed it.
 */
#ifndef PGTIDE_PREPARED_RELAY_H
#define PGTIDE_PREPARED_RELAY_H

#include "common.h"
#include "iobuf.h"
#include "prepared.h"

struct client;
struct server;

/* Whether c's messages go through this layer (transaction mode with
 * max_prepared_statements > 0). */
bool prepared_relay_wanted(const struct client *c);

typedef enum {
	PSR_PASS,       /* not for this layer: relay it as usual */
	PSR_DONE,       /* handled (consumed, or its rest is being relayed) */
	PSR_NEED_MORE,  /* wait for more of the message */
	PSR_TOO_LARGE,  /* a message this layer must hold whole does not fit */
} psr_result_t;

/* A Parse, Bind, Describe or Close at the head of `in`, with c linked to a
 * server that tracks answers. */
psr_result_t prepared_relay_client_message(struct client *c, iobuf_t *in, uint8_t type, uint32_t total);

/* A whole named Parse message in memory: one that did not fit the input
 * buffer (PSR_TOO_LARGE), gathered by the client on the heap. */
void prepared_relay_parse(struct client *c, const uint8_t *msg, uint32_t total);

/* While a unit is kept for replay (server retry_state RETRY_CAPTURING): a
 * client message that followed it to the server; whole = all its bytes are
 * at msg. */
void prepared_relay_capture(struct server *s, uint8_t type, const uint8_t *msg, uint32_t total, bool whole);

/* A client message was forwarded unchanged: note the answer it will get. */
void prepared_relay_forwarded(struct server *s, uint8_t type);

/* What to do with a message from the server (its body is given for the
 * types server.c inspects: CommandComplete, ErrorResponse...). */
typedef enum { PSR_RELAY, PSR_SWALLOW } psr_action_t;
psr_action_t prepared_relay_server_message(struct server *s, uint8_t type, const uint8_t *body, size_t blen);

/* Sends the answers pgtide owes that are now at the head of the queue
 * (after the message before them reached the client). */
void prepared_relay_emit(struct server *s);

/* A CommandComplete tag that drops every prepared statement of the session. */
bool prepared_relay_tag_drops_all(const uint8_t *body, size_t blen);

#endif

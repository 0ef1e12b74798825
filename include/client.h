/*
 * client.h - one client connection: startup, authentication, then relaying
 * its messages to whichever server the pool lends it.
 */
#ifndef PGTIDE_CLIENT_H
#define PGTIDE_CLIENT_H

#include <netinet/in.h>

#include "common.h"
#include "link.h"
#include "list.h"
#include "params.h"
#include "prepared.h"
#include "proto.h"
#include "worker.h"

struct pool;
struct server;
struct client_auth;

typedef enum {
	CL_STARTUP = 0,   /* waiting for the startup packet */
	CL_TLS_HANDSHAKE, /* after SSLRequest 'S' or a direct TLS ClientHello */
	CL_AUTH,          /* password / SASL exchange */
	CL_LOGIN_SYNC,    /* logged in; a server is normalising its parameters */
	CL_READY,         /* logged in */
	CL_CLOSING,
} client_state_t;

/* Fields are grouped by size so that the struct has no padding: 10,000 idle
 * clients must cost under 1 KiB each (docs/performance.md, S4). */
typedef struct client {
	reapable_t reap;
	link_t link;
	list_node_t worker_node;   /* worker->clients */
	list_node_t pool_node;     /* pool->clients (pool lock) */
	list_node_t wait_node;     /* pool->waiters (pool lock) */
	struct pool *pool;
	struct pool *wait_pool;    /* the queue it waits in: pool or one of its replica pools (pool lock) */
	struct server *server;     /* linked server (set under the pool lock) */
	uint64_t id;
	/* The names from the startup packet, in one allocation ("" before). */
	const char *user;
	const char *dbname;
	char *tls_desc;            /* "TLSv1.3/<cipher>" for SHOW CLIENTS; NULL in plain text */
	uint8_t *big_msg;          /* a named Parse larger than the input buffer, being gathered */
	struct client_auth *auth;  /* during login only */
	struct admin_session *admin; /* admin console clients only */
	param_set_t *raw_startup;  /* tracked startup values before normalisation (login only) */
	iobuf_t *replay;           /* a copy of the read-only unit sent to a replica, until answered */
	param_set_t params;        /* tracked values the client has (NULL = pool default) */
	param_extras_t extras;     /* other startup parameters */
	ps_map_t ps;               /* its named prepared statements (transaction mode) */
	param_extras_t startup_extras; /* extras as the startup packet gave them */
	param_extras_t sqlprep;    /* its SQL-level prepared statements (name -> PREPARE text) */
	param_extras_t txn_custom; /* custom settings named in this transaction's text */
	uint64_t clean_parse_hash; /* session_text_hash of its last unnamed Parse that changes nothing */
	uint64_t ryw_lsn;          /* the primary's WAL insert position after its last write */
	struct sockaddr_in6 addr;  /* v4 addresses mapped; sin6_family AF_UNIX for unix sockets */
	client_state_t state;
	usec_t connect_wall;
	usec_t created;            /* monotonic: client_login_timeout */
	usec_t wait_start;         /* monotonic: wait time, query_wait_timeout */
	usec_t last_active;        /* monotonic: client_idle_timeout */

	int inflight;              /* mailbox messages that point to it (pool lock) */
	uint32_t fwd_remaining;    /* bytes of a client message still to relay raw */
	uint32_t skip_bytes;       /* bytes of a dropped message still to skip */
	uint32_t big_total, big_have;
	uint32_t cancel_pid;       /* pgtide's BackendKeyData for this client */
	uint32_t cancel_key;

	bool is_admin;
	bool admin_can_control;
	bool waiting;              /* in the pool's queue (pool lock) */
	bool server_incoming;      /* a server is being moved to it (pool lock) */
	bool pending_since_sync;   /* extended-protocol messages sent since the last Sync */
	bool skip_until_sync;      /* after a pgtide error in an extended sequence */
	bool terminated;           /* sent Terminate */
	bool wants_close;          /* close once output is flushed */
	bool tls;                  /* the TLS handshake completed */
	bool tls_direct;           /* TLS without SSLRequest (PostgreSQL 17 sslnegotiation=direct) */
	uint8_t wait_cause;        /* why a wait ended without a server */
	bool session_dirty;        /* its session may have changed: probe before release */
	bool pinned;               /* holds state that cannot move: keeps its server */
	bool state_warned;
	/* Read routing (routing.h), for pools with replicas. */
	bool ro_entry;             /* the _ro alias or default_transaction_read_only=on */
	bool route_hold;           /* on a replica for one unit: hold what follows until answered */
	bool replay_answered;      /* part of the unit's answer reached the client's socket */
	bool replay_queued;        /* part of the answer is queued, none sent: it can be withdrawn */
	bool ryw_pending;          /* on the primary for a write: learn its WAL position at the end */
} client_t;

/* A new accepted socket on worker w, from peer (as accept returned it). */
void client_accept(worker_t *w, int fd, const struct sockaddr_storage *peer);
/* The pool gave c a server (on c's worker); records the wait. */
void client_server_assigned(client_t *c, struct server *s);
/* The server c was linked to is gone; send an error, close c. */
void client_server_lost(client_t *c, const char *sqlstate, const char *msg);
/* A server released c; relay anything c queued meanwhile. */
void client_continue(client_t *c);
/* Answer c's pending request with an error and carry on (or close it when
 * fatal). */
void client_fail_request(client_t *c, const char *sqlstate, const char *msg, bool fatal);
/* The login-time parameter sync finished on the linked server. */
void client_login_sync_done(client_t *c, const char *err_sqlstate, const char *err_msg);
void client_close(client_t *c, const char *reason);
void client_tick(worker_t *w, usec_t now);
/* Moves c, if it is between transactions with nothing buffered and nobody
 * else holds a reference to it, from its worker (the calling thread) to
 * worker to. False if it cannot move now. */
bool client_move(client_t *c, worker_t *to);
/* Output queued for c: flush (from the server side). */
bool client_flush(client_t *c);
/* The linked server's output drained: read more from the client. */
void client_resume(client_t *c);
/* The replica server c holds answered and its READ ONLY transaction is
 * still open: relay what c sent meanwhile. */
void client_route_resume(client_t *c);
/* The replica running c's read-only unit died before answering any of it:
 * send the unit again, wherever routing now puts it. */
void client_replay_unit(client_t *c);
/* The replica serving the kept unit answered its first message: the answer
 * is queued for the client and can be withdrawn until it is flushed. */
void client_replay_answer_begins(client_t *c);
/* The replica failed (FATAL) before any of the answer left: forget what is
 * queued, so the unit can be replayed elsewhere. False when too late. */
bool client_replay_withdraw(client_t *c);

/* Frees a closing client whose last in-flight reference just went. */
void client_free_deferred(client_t *c);

/* Mailbox handlers (each holds an in-flight reference to the client). */
void client_retry_fn(worker_t *w, void *client, void *unused);
void client_login_refused_fn(worker_t *w, void *client, void *unused);
void client_cancel_wait_fn(worker_t *w, void *client, void *unused);

const char *client_local_addr_str(const client_t *c, char *buf, size_t cap, int *port);
const char *client_addr_str(const client_t *c, char *buf, size_t cap, int *port);

#endif

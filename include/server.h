/*
 * server.h - one connection to PostgreSQL: connect, log in, apply the linked
 * client's session parameters, relay its answers, and clean up when a client
 * leaves it mid-way.
 */
#ifndef PGTIDE_SERVER_H
#define PGTIDE_SERVER_H

#include "auth.h"
#include "common.h"
#include "link.h"
#include "list.h"
#include "params.h"
#include "prepared.h"
#include "worker.h"

struct pool;
struct client;

typedef enum {
	SV_CONNECTING = 0, /* TCP/unix connect in progress */
	SV_LOGIN,          /* startup sent, authenticating */
	SV_IDLE,           /* in the pool, usable */
	SV_ACTIVE,         /* linked to a client */
	SV_RESETTING,      /* unlinked, finishing or rolling back what a client left */
	SV_CANCEL_WAIT,    /* unlinked, a cancel for its last query is in flight */
	SV_MOVING,         /* between workers */
	SV_CLOSED,
} server_state_t;

/* Where a server's TLS negotiation is (during SV_LOGIN). */
enum {
	SERVER_TLS_NONE = 0,   /* no TLS, or done */
	SERVER_TLS_REQUEST,    /* SSLRequest sent, waiting for 'S' or 'N' */
	SERVER_TLS_HANDSHAKE,  /* 'S' came: handshaking */
};

/* Where and as whom one server connection logs in: the pool's settings when
 * it was opened. RELOAD and auth_query replace the pool's strings (under
 * the pool lock) while servers log in on other workers; a server reads
 * only its own copy, which lives exactly as long as it does. It is also
 * where a CancelRequest for it must go. */
typedef struct server_target {
	char *host;      /* name, address or unix socket directory */
	int port;
	char *dbname;
	char *user;
	char *password;  /* plain, md5 or SCRAM secret; NULL = none */
} server_target_t;

typedef struct server {
	reapable_t reap;
	link_t link;
	list_node_t pool_node;     /* in one of the pool's state lists (pool lock) */
	list_node_t worker_node;   /* in worker->servers (owner thread) */
	struct pool *pool;
	struct client *client;     /* linked client (changed under the pool lock) */
	server_state_t state;
	uint64_t id;
	uint64_t generation;
	server_target_t target;

	uint32_t backend_pid;
	uint8_t backend_key[256];
	uint32_t backend_key_len;

	scram_client_t *scram;     /* during login only */
	param_set_t params;        /* tracked values as this server has them */
	param_extras_t extras;     /* extras applied to it */
	param_extras_t sqlprep;    /* SQL-level prepared statements it holds for the client */
	struct session_snapshot *probe; /* the session probe in flight (session_state.h) */
	char *tls_desc;            /* "TLSv1.3/<cipher>" for SHOW SERVERS (set under the pool lock) */
	ps_set_t ps;               /* named statements prepared on it (prepared.h) */
	rq_t rq;                   /* answers it owes the linked client, when tracked */
	bool rq_on;                /* the linked client's messages go through prepared_relay */
	bool rq_emit;              /* answers pgtide owes may be at the head of rq */
	uint8_t retry_state;       /* RETRY_*: an autocommit Bind..Sync kept for one replay */
	uint32_t retry_len;
	uint8_t *retry_buf;        /* RETRY_BUF_SIZE bytes, allocated on first use */

	int expected_rfq;          /* client requests (Query/Sync/FunctionCall) not answered yet */
	int internal_rfq;          /* pgtide's own queries not answered yet (they come first) */
	char tx_status;            /* from the last ReadyForQuery */
	bool in_copy_in;           /* server is waiting for CopyData */
	bool copy_ignores_sync;    /* in COPY FROM STDIN until the client's CopyDone/Fail */
	int syncs_since_command;   /* Syncs forwarded since the last Query/Execute */
	bool close_needed;
	bool login_sync;           /* the internal query is a login-time parameter sync */
	bool reset_sent;           /* server_reset_query already sent for this reset */
	bool check_release;        /* a ReadyForQuery is being relayed */
	bool lsn_probe;            /* read-your-writes: the WAL position query is in flight */
	bool lsn_done;             /* ... and answered (internal_done releases) */
	uint32_t fwd_remaining;    /* bytes of a server message still to relay raw */
	uint32_t skip_remaining;   /* bytes of a server message still to drop */
	int cancel_pending;        /* cancels in flight (pool lock) */
	uint32_t times_linked;     /* clients served (server_lifetime = 0) */
	bool free_deferred;        /* closed while a cancel was in flight (pool lock) */
	uint8_t tls_phase;         /* SV_LOGIN only: SERVER_TLS_* below */
	int tls_mode;              /* server_tls_sslmode (or the database's sslmode) in use */

	usec_t connect_wall;       /* for SHOW SERVERS */
	usec_t created;            /* monotonic: server_lifetime */
	usec_t last_used;          /* monotonic: server_idle_timeout */
	usec_t linked_at;          /* monotonic: xact_time, busy time */
	usec_t query_start;        /* monotonic: query_time */
	usec_t state_since;        /* monotonic: connect/reset timeouts */
	char login_error[256];
	char login_sqlstate[6];
} server_t;

/* A named statement's autocommit unit (Bind..Sync) is kept so that pgtide can
 * re-prepare the statement and replay the unit once when PostgreSQL says
 * "cached plan must not change result type" (prepared_relay.c). */
enum { RETRY_NONE = 0, RETRY_CAPTURING, RETRY_READY };
#define RETRY_BUF_SIZE 4096

/* Opens a new connection for pool on worker w (the caller's thread). */
void server_connect_on(struct pool *pool, worker_t *w);
/* Frees a target's strings (the password wiped first). */
void server_target_clear(server_target_t *t);
/* Links s (already counted active in the pool) to c on this worker and sends
 * whatever parameter changes c needs before c's messages. */
void server_link_client(server_t *s, struct client *c);
/* c is going away while linked to s: finish, roll back or close s. */
void server_unlink(server_t *s, bool client_gone);
/* A client message of this type (and size) was queued to s. */
void server_forwarded(server_t *s, uint8_t type, uint32_t bytes);
/* Counts bytes of a client message that prepared_relay rewrote. */
void server_forwarded_bytes(server_t *s, uint32_t bytes);
bool server_flush(server_t *s);
/* The client made room: relay what s has buffered. */
void server_resume(server_t *s);
void server_close(server_t *s, const char *reason);
/* The login-sync client is done with s: give s back to the pool. */
void server_release_idle(server_t *s);
/* Rollback / reset / release sequence for an unlinked server. Returns
 * whether s still belongs to the calling worker. */
bool server_reset_step(server_t *s);
void server_tick(worker_t *w, usec_t now);
/* Acts on a pool_release decision (release_t) for s; returns whether s
 * still belongs to the calling worker. */
bool server_after_release(server_t *s, int decision, struct client *next);
/* Hands s (owned by the calling worker) to c on c's worker. */
void server_move_to(server_t *s, struct client *c);

/* The last cancel aimed at s finished: reuse it or free it. */
void server_release_after_cancel(server_t *s);

/* Mailbox handlers. */
void server_move_fn(worker_t *w, void *server, void *client);
void server_connect_fn(worker_t *w, void *pool, void *unused);
void server_login_sync_fn(worker_t *w, void *server, void *client);

#endif

/*
 * session_state.h - what a client's session carries across server
 * connections in transaction mode, besides the reported parameters
 * (params.h) and protocol-level prepared statements (prepared.h): settings
 * changed with SET / RESET / set_config() (custom ones like app.user_id
 * included), SQL-level PREPARE, and state that cannot move at all (LISTEN,
 * session advisory locks, temporary tables, WITH HOLD cursors, SET ROLE).
 *
 * pgtide does not guess the effect of a statement: when a transaction's text
 * may have changed any of this (a cheap scan, then the lexer), it asks the
 * server once the transaction is over, with one query (the probe) whose
 * answer is the truth, rollbacks, SET LOCAL and functions included. The
 * answer becomes the client's state, and every server connection that serves
 * the client later gets it applied first (the sync SQL below).
 *
 * No I/O: server.c sends the probe and the sync SQL and feeds the answers in.
 */
#ifndef PGTIDE_SESSION_STATE_H
#define PGTIDE_SESSION_STATE_H

#include "common.h"
#include "params.h"
#include "pktbuf.h"

/* What a statement text may do to the session (session_scan_text). */
enum {
	SESSION_MAY_CHANGE = 1u << 0, /* settings, SQL prepared statements, or state */
	SESSION_CREATES_STATE = 1u << 1, /* LISTEN, advisory lock, temp table... */
};

/* Scans a Query or Parse text. Custom setting names it assigns (SET a.b,
 * set_config('a.b', ...), RESET a.b) are added to *custom_names, because
 * PostgreSQL lists placeholders like app.user_id nowhere the probe could
 * find them. *state_what names the first unmovable state it creates. */
uint32_t session_scan_text(const char *sql, size_t len, param_extras_t *custom_names, const char **state_what);

/* A keyed hash of a statement text, a few instructions per 8 bytes: lets a
 * client's repeated unnamed Parse skip session_scan_text (drivers send the
 * same text every transaction). The key is random per process, so a client
 * cannot craft a text that passes for another one it sent. */
uint64_t session_text_hash(const char *sql, size_t len, uint64_t key);

/* A CommandComplete tag that means the session changed (SET, RESET,
 * DISCARD, PREPARE, DEALLOCATE, LISTEN, ...). */
bool session_tag_changes_state(const uint8_t *tag, size_t len);

/* The probe: one Query whose rows are (kind, name, value):
 *   g  a setting with source "session" (not a reported parameter)
 *   c  a custom setting named in custom_names
 *   p  an SQL-level prepared statement and its text
 *   s  the count of unmovable things the session holds
 * Appended to pb as a complete Query message. */
void session_probe_message(pktbuf_t *pb, const param_extras_t *known_gucs, const param_extras_t *custom_names);

typedef struct session_snapshot {
	param_extras_t gucs;     /* name -> value */
	param_extras_t prepared; /* name -> PREPARE statement text */
	long state_count;        /* -1 until the probe's last row */
} session_snapshot_t;

void session_snapshot_init(session_snapshot_t *s);
void session_snapshot_clear(session_snapshot_t *s);
/* One DataRow of the probe's answer. */
void session_snapshot_row(session_snapshot_t *s, const uint8_t *body, size_t len);

/* Settings the startup packet gave that the snapshot no longer shows are
 * back at their session default, which on a direct connection is the
 * startup value: adds those back to gucs. */
void session_apply_startup(param_extras_t *gucs, const param_extras_t *startup);

/* Appends to sql (a growable pktbuf, no framing) what turns a server whose
 * settings and SQL prepared statements are (have_*) into one that carries
 * (want_*). Returns false when nothing needs doing. */
bool session_sync_sql(pktbuf_t *sql, const param_extras_t *have_gucs, const param_extras_t *want_gucs,
		      const param_extras_t *have_prep, const param_extras_t *want_prep);

#endif

/*
 * routing.h - read routing: which server role a transaction goes to, and
 * which replica. Pure decisions (no I/O, no locks), called by the client
 * relay when a transaction starts; see docs/routing.md.
 */
#ifndef PGTIDE_ROUTING_H
#define PGTIDE_ROUTING_H

#include "common.h"
#include "config.h"

/* What the messages that start a transaction prove. */
typedef enum {
	ROUTE_CLASS_WRITE = 0, /* nothing proven: the primary */
	ROUTE_CLASS_READ_STMT, /* one autocommit unit, every statement read-only (auto) */
	ROUTE_CLASS_READ_TXN,  /* BEGIN READ ONLY / START TRANSACTION READ ONLY (explicit, auto) */
} route_class_t;

/* One statement text's class, as cached for a named prepared statement. */
typedef enum {
	ROUTE_STMT_UNKNOWN = 0,
	ROUTE_STMT_READ,       /* every statement provably read-only */
	ROUTE_STMT_OTHER,
} route_stmt_t;

/* A simple Query's text (not NUL-terminated; len bytes). */
route_class_t routing_classify_query(const char *sql, size_t len);
/* One Parse's text: ROUTE_STMT_READ or ROUTE_STMT_OTHER. */
route_stmt_t routing_classify_text(const char *sql, size_t len);

/* The class of a named statement the client prepared earlier (its Parse is
 * not in the messages being classified); ROUTE_STMT_UNKNOWN when unknown. */
typedef route_stmt_t (*route_named_fn)(void *arg, const char *name, size_t len);

/* The messages at the head of a client's input: a Query, or an extended
 * sequence (Parse, Bind, Describe, Execute, Close, Flush) up to and
 * including its Sync, all of it in buf. Anything else, or a sequence whose
 * Sync is not in buf yet, is ROUTE_CLASS_WRITE. *unit_len is the length of
 * the classified unit (the Query, or up to the Sync). */
route_class_t routing_classify_messages(const uint8_t *buf, size_t len, route_named_fn named, void *arg,
					size_t *unit_len);

typedef enum { ROUTE_PRIMARY = 0, ROUTE_REPLICA } route_target_t;

typedef struct route_input {
	int mode;           /* read_routing_t */
	bool ro_entry;      /* the _ro alias, or default_transaction_read_only=on at startup */
	bool session_mode;  /* pool_mode = session */
	route_class_t cls;
} route_input_t;

route_target_t routing_decide(const route_input_t *in);

/* One replica as the pool sees it when a transaction starts. */
typedef struct route_candidate {
	bool usable;          /* up, in recovery, within the lag limits, accepting logins */
	uint64_t replay_lsn;  /* as last checked */
	int load;             /* its pool's busy servers plus waiting clients */
} route_candidate_t;

enum {
	ROUTE_PICK_NONE = -1,   /* no usable replica */
	ROUTE_PICK_BEHIND = -2, /* usable ones, none has replayed min_lsn */
};

/* The least busy usable replica whose replay LSN >= min_lsn (0 = any); ties
 * go to the first from index start (round robin). An index, or ROUTE_PICK_*. */
int routing_pick_replica(const route_candidate_t *c, int n, uint64_t min_lsn, unsigned start);

/* "16/B374D848" -> LSN; false when malformed. */
bool routing_parse_lsn(const char *text, size_t len, uint64_t *lsn);

#endif

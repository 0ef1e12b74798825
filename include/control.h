/*
 * control.h - what the admin console's control commands do to pools and
 * connections: pause/resume, kill, reconnect, enable/disable, SET. Actions
 * on connections run on the worker that owns them (posted to its mailbox).
 */
#ifndef PGTIDE_CONTROL_H
#define PGTIDE_CONTROL_H

#include "common.h"

struct runtime;

/* Whether db is configured or has a pool (NULL: all, always true). */
bool control_db_known(struct runtime *rt, const char *db);
/* db NULL = every database. Returns false when db has no pool and is not
 * configured (the console answers with an error). */
bool control_pause(struct runtime *rt, const char *db, bool pause);
/* Whether the pools of db have no server still in a transaction. */
bool control_pause_done(struct runtime *rt, const char *db);
bool control_reconnect(struct runtime *rt, const char *db);
bool control_reconnect_done(struct runtime *rt, const char *db);
bool control_kill(struct runtime *rt, const char *db);
bool control_kill_client(struct runtime *rt, uint64_t id);
bool control_disable(struct runtime *rt, const char *db, bool disable);
/* SET key = value for a reloadable setting; false with err. */
bool control_set(struct runtime *rt, const char *key, const char *value, char *err, size_t errlen);

#endif

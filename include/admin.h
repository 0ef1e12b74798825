/*
 * admin.h - the admin console: a virtual database ("pgtide", also answering
 * as "pgbouncer") that speaks PgBouncer's SHOW dialect and control commands
 * over the normal wire protocol.
 */
#ifndef PGTIDE_ADMIN_H
#define PGTIDE_ADMIN_H

#include "common.h"

struct client;
struct admin_session;

/* Authenticated client asked for the admin database: check admin_users /
 * stats_users and send the welcome, or refuse. */
void admin_login(struct client *c);
/* One whole message from an admin client (simple or extended protocol). */
void admin_message(struct client *c, uint8_t type, const uint8_t *body, size_t len);
/* Completes a waiting PAUSE / WAIT_CLOSE when its condition holds; called
 * from the janitor tick. */
void admin_tick(struct client *c);
/* Frees the console state of a closing client. */
void admin_session_free(struct admin_session *a);

#endif

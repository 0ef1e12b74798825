/*
 * harness.h - what every integration test needs: the PostgreSQL cluster the
 * ctest fixture started (PGTIDE_TEST_PGDIR / PGTIDE_TEST_PGPORT), a pgtide
 * process started with a generated config on a free port, libpq helpers, and
 * raw-socket helpers for protocol abuse tests.
 */
#ifndef PGTIDE_TEST_HARNESS_H
#define PGTIDE_TEST_HARNESS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct pgtide_proc {
	pid_t pid;
	int port;
	char dir[256];       /* temp dir with pgtide.ini, userlist.txt, log */
	char log_path[300];
	char unix_dir[256];
} pgtide_proc_t;

/* The test cluster. */
int pg_port(void);
const char *pg_host(void);     /* unix socket dir of the cluster */

/* Starts pgtide with [pgtide] settings `extra_settings` (lines "key = value")
 * and a [databases] section `databases` (NULL = "* = host=127.0.0.1 port=PGPORT").
 * The auth_file holds app/app-pw, md5_user/md5-pw, scram_user/scram-pw and
 * admin/admin-pw (admin_users = admin unless overridden). Waits until it
 * accepts connections. Aborts the test on failure. */
void pgtide_start(pgtide_proc_t *p, const char *extra_settings, const char *databases);
/* SIGINT and wait; returns the exit status (0 = clean, ASan reports = non-zero). */
int pgtide_stop(pgtide_proc_t *p);
/* Sends a signal (SIGHUP, SIGTERM...). */
void pgtide_signal(pgtide_proc_t *p, int sig);
/* Rewrites pgtide.ini (for reload tests). */
void pgtide_rewrite_config(pgtide_proc_t *p, const char *extra_settings, const char *databases);
/* Whether pgtide's log contains text. */
bool pgtide_log_contains(const pgtide_proc_t *p, const char *text);

/* libpq connection to pgtide (user/password/db; extra conninfo may be NULL). */
PGconn *pt_connect(const pgtide_proc_t *p, const char *user, const char *password, const char *db,
		   const char *extra);
/* Same, but aborts the test unless the connection is OK. */
PGconn *pt_connect_ok(const pgtide_proc_t *p, const char *user, const char *password, const char *db);
/* Direct connection to the test cluster as superuser postgres. */
PGconn *pg_connect_direct(const char *db);
/* A database of the test's own, owned by app (dropped first if left over;
 * retried while template1 is busy with another test's CREATE DATABASE),
 * then setup_sql (may be NULL) run in it as postgres. False on failure, with
 * the reason on stderr. */
bool pt_create_database(const char *name, const char *setup_sql);
void pt_drop_database(const char *name);

/* Runs SQL expecting success; returns the first column of the first row
 * (static buffer) or "" when there is none. Aborts on error. */
const char *pt_query_value(PGconn *c, const char *sql);
/* Runs SQL; returns the SQLSTATE of the error ("" on success). */
const char *pt_query_sqlstate(PGconn *c, const char *sql);
/* Value of a column by name in row `row` of a result of an admin SHOW. */
const char *pt_show_value(PGconn *admin, const char *show, const char *key_col, const char *key,
			  const char *col);

/* Raw TCP to pgtide. */
int raw_connect(int port);
bool raw_send(int fd, const void *data, size_t len);
/* Reads until a message of type `type` arrives (or EOF/timeout); returns
 * the number of bytes read into buf, -1 on EOF before it. */
ssize_t raw_read_until(int fd, char type, unsigned char *buf, size_t cap, int timeout_ms);
/* Whether the peer closed the connection within timeout_ms. */
bool raw_wait_closed(int fd, int timeout_ms);
/* Builds a StartupMessage for user/db into buf; returns its length. */
size_t raw_startup(unsigned char *buf, size_t cap, const char *user, const char *db);

int free_tcp_port(void);
/* Runs a shell command (printf-style); its exit status, -1 if it did not exit. */
int pt_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* dir/name.crt and dir/name.key for common name cn, made with the openssl
 * CLI: a self-signed CA when ca is NULL, else signed by dir/ca.crt with the
 * X.509 extensions in ext ("subjectAltName=...\n"). True when it worked. */
bool pt_make_cert(const char *dir, const char *name, const char *cn, const char *ext, const char *ca);
/* The path of pgcluster.sh, for tests that start clusters of their own. */
const char *pt_pgcluster_script(void);
double now_seconds(void);

#endif

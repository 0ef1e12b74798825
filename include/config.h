/*
 * config.h - pgtide's configuration: one settings table (name, type,
 * default, reloadable, bounds) that drives parsing, SHOW CONFIG, SET and the
 * docs; the [databases] section as libpq-style connection strings; the
 * auth_file in PgBouncer's userlist.txt format; DATABASE_URL parsing.
 *
 * A loaded config_t is immutable and reference counted: a reload builds a new
 * one and swaps it in; connections keep the one they started with while they
 * need it.
 */
#ifndef PGTIDE_CONFIG_H
#define PGTIDE_CONFIG_H

#include "common.h"

struct hba;

typedef enum { POOL_MODE_SESSION = 0, POOL_MODE_TRANSACTION = 1 } pool_mode_t;
#define POOL_MODE_INHERIT (-1)

typedef enum {
	AUTH_TYPE_TRUST = 0,
	AUTH_TYPE_ANY,      /* like trust, and the user name is not checked against auth_file */
	AUTH_TYPE_PLAIN,    /* cleartext password exchange */
	AUTH_TYPE_MD5,      /* md5 unless the stored secret is SCRAM, then scram (as PgBouncer) */
	AUTH_TYPE_SCRAM,    /* scram-sha-256 */
	AUTH_TYPE_CERT,     /* TLS client certificate whose common name is the user */
	AUTH_TYPE_HBA,      /* per connection, from the auth_hba_file rules */
} auth_type_t;

typedef enum { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON = 1 } log_format_t;

/* client_tls_sslmode / server_tls_sslmode / a database's sslmode, in
 * increasing strictness (comparisons such as >= TLS_MODE_REQUIRE rely on
 * the order). */
typedef enum {
	TLS_MODE_DISABLE = 0,
	TLS_MODE_ALLOW,
	TLS_MODE_PREFER,
	TLS_MODE_REQUIRE,
	TLS_MODE_VERIFY_CA,
	TLS_MODE_VERIFY_FULL,
} tls_mode_t;
#define TLS_MODE_INHERIT (-1)

/* One entry of [databases]. Fields not given in the connection string are
 * NULL / 0 / -1 and fall back to the global settings. */
typedef struct db_config {
	char *name;          /* the key: what clients ask for; "*" = fallback */
	char *host;          /* host name, IP, or a unix socket directory (starts with '/') */
	int port;            /* default 5432 */
	char *dbname;        /* server-side database; NULL = same as the client's */
	char *user;          /* force this server user; NULL = the client's user */
	char *password;      /* password for the server login; NULL = from auth_file */
	int pool_size;       /* -1 = default_pool_size */
	int min_pool_size;   /* -1 = min_pool_size */
	int reserve_pool;    /* -1 = reserve_pool_size */
	int max_db_connections; /* -1 = max_db_connections */
	int pool_mode;       /* POOL_MODE_INHERIT or a pool_mode_t */
	char *client_encoding;  /* startup parameters sent to the server, optional */
	char *datestyle;
	char *timezone;
	char *application_name;
	char *connect_query;
	int sslmode;         /* TLS_MODE_INHERIT (server_tls_sslmode) or a tls_mode_t */
	/* Read replicas (docs/routing.md). */
	char *replicas;      /* "host:port,host:port" (validated); NULL = none */
	int read_routing;    /* read_routing_t */
	int64_t replica_max_lag;      /* bytes behind the primary; 0 = no limit */
	usec_t replica_max_lag_time;  /* 0 = no limit */
	usec_t replica_check_period;
	int replica_fallback;         /* replica_fallback_t */
	int read_your_writes;         /* bool */
} db_config_t;

typedef enum { READ_ROUTING_OFF = 0, READ_ROUTING_EXPLICIT, READ_ROUTING_AUTO } read_routing_t;
typedef enum { REPLICA_FALLBACK_PRIMARY = 0, REPLICA_FALLBACK_ERROR } replica_fallback_t;
#define CONFIG_MAX_REPLICAS 16

/* One line of auth_file: "user" "secret". */
typedef struct user_secret {
	char *name;
	char *secret;        /* plaintext, "md5..." or "SCRAM-SHA-256$..." */
} user_secret_t;

typedef struct config {
	int refcount;        /* atomic; see config_ref/config_unref */
	char *source;        /* file path, or "DATABASE_URL" */

	/* [pgtide] / [pgbouncer] settings; durations in microseconds. An
	 * empty string setting is stored as NULL (SHOW CONFIG prints ""). */
	char *listen_addr;
	int listen_port;
	char *unix_socket_dir;
	int listen_backlog;
	int pool_mode;
	int max_client_conn;
	int default_pool_size;
	int min_pool_size;
	int reserve_pool_size;
	usec_t reserve_pool_timeout;
	int max_db_connections;
	int max_user_connections;
	usec_t server_lifetime;
	usec_t server_idle_timeout;
	usec_t server_connect_timeout;
	usec_t server_login_retry;
	char *server_reset_query;
	bool server_reset_query_always;
	char *server_check_query;
	usec_t server_check_delay;
	usec_t query_wait_timeout;
	usec_t client_login_timeout;
	usec_t client_idle_timeout;
	usec_t idle_transaction_timeout;
	usec_t query_timeout;
	usec_t cancel_wait_timeout;
	int auth_type;
	char *auth_file;
	char *auth_hba_file;
	char *auth_user;     /* auth_query lookups as this user; NULL = off */
	char *auth_query;
	char *auth_dbname;
	usec_t auth_query_cache_ttl;
	char *admin_users;   /* comma-separated */
	char *stats_users;   /* comma-separated */
	int workers;         /* 0 = number of cores */
	int worker_busy_percent; /* balance.c: 0 = no moves, no steering */
	int max_packet_size;
	int pkt_buf;
	usec_t stats_period;
	bool log_connections;
	bool log_disconnections;
	bool log_pooler_errors;
	bool log_stats;
	int verbose;
	char *logfile;
	char *pidfile;
	int log_format;
	bool tcp_keepalive;
	bool so_reuseport;   /* no probe for another process on the port */
	bool tcp_defer_accept; /* TCP_DEFER_ACCEPT on the listening sockets */
	char *metrics_addr;
	int metrics_port;
	char *ignore_startup_parameters;
	int max_prepared_statements;
	int client_tls_sslmode;  /* tls_mode_t */
	char *client_tls_key_file;
	char *client_tls_cert_file;
	char *client_tls_ca_file;
	char *client_tls_protocols;
	char *client_tls_ciphers;
	int server_tls_sslmode;  /* tls_mode_t */
	char *server_tls_ca_file;
	char *server_tls_cert_file;
	char *server_tls_key_file;
	char *server_tls_protocols;
	char *server_tls_ciphers;
	int transaction_mode_session_state; /* session_state_mode_t */
	char *readonly_suffix;   /* app + suffix = app's read-only entry point */
	char *replica_check_user; /* the replica health checker's login; NULL = see routing.md */

	db_config_t *dbs;
	size_t ndbs;
	user_secret_t *users; /* sorted by name, names unique (bsearch) */
	size_t nusers;
	struct hba *hba;     /* auth_hba_file's rules (shared by clones), or NULL */
} config_t;

typedef enum { SESSION_STATE_PIN = 0, SESSION_STATE_WARN, SESSION_STATE_ERROR } session_state_mode_t;

/* ---- the settings table ---- */
typedef enum {
	SETTING_INT,
	SETTING_BOOL,
	SETTING_STRING,
	SETTING_DURATION, /* seconds with fraction, or with unit us/ms/s/min/h/d */
	SETTING_ENUM,
} setting_type_t;

typedef struct config_setting {
	const char *name;
	setting_type_t type;
	size_t offset;          /* into config_t */
	const char *default_value;
	bool reloadable;
	int64_t min, max;       /* for SETTING_INT; for SETTING_DURATION in
				 * microseconds, max 0 = no upper bound */
	const char *const *enum_names; /* for SETTING_ENUM, NULL-terminated; index = value */
	const char *help;       /* one line, used by docs/configuration.md and --help */
} config_setting_t;

size_t config_setting_count(void);
const config_setting_t *config_setting_at(size_t i);
const config_setting_t *config_setting_find(const char *name);
/* Formats a setting's current value the way SHOW CONFIG shows it. */
void config_format_value(const config_t *cfg, const config_setting_t *s, char *buf, size_t cap);

/* ---- building configs ---- */
/* A config with every setting at its default and no databases/users. */
config_t *config_new_defaults(void);
/* Reads an INI file. On error returns NULL and writes "FILE:LINE: key: reason"
 * into err. Relative auth_file paths are resolved against the file's dir. */
config_t *config_load_file(const char *path, char *err, size_t errlen);
/* Same from a string (tests, fuzzers); name is used in error messages.
 * Does no I/O: auth_file is neither resolved nor read. */
config_t *config_load_string(const char *text, const char *name, char *err, size_t errlen);
/* Zero-config: postgres://user:pass@host:port/db?... becomes a [databases]
 * entry named db (and "*" fallback to the same server) plus that user with
 * that password as a plaintext secret. Can be applied on top of a file. */
bool config_apply_database_url(config_t *cfg, const char *url, char *err, size_t errlen);
/* Sets one setting by name from text (admin SET, env vars). Does not check
 * s->reloadable: the caller decides whether a change may happen now. */
bool config_set(config_t *cfg, const char *name, const char *value, char *err, size_t errlen);
/* Parses "key=value key='quoted value' ..." into a db_config_t (tests use it).
 * Initialises *out; on success release it with config_db_clear(). */
bool config_parse_db_connstr(const char *name, const char *connstr, db_config_t *out, char *err,
			     size_t errlen);
/* Drops the users and reads cfg->auth_file again (after auth_file was set
 * from the environment or SET). */
bool config_replace_auth_file(config_t *cfg, char *err, size_t errlen);
/* (Re)reads auth_hba_file into cfg->hba (NULL when not set); fails when
 * the file cannot be read or parsed, or auth_type = hba without a file. On
 * error cfg->hba is left as it was. */
bool config_load_hba_file(config_t *cfg, char *err, size_t errlen);
/* Reads auth_file into cfg->users (a user listed again replaces the
 * earlier secret). On error cfg->users is left as it was. */
bool config_load_auth_file(config_t *cfg, const char *path, char *err, size_t errlen);

/* Deep copy (refcount 1). */
config_t *config_clone(const config_t *cfg);
void config_ref(config_t *cfg);
void config_unref(config_t *cfg);

/* ---- lookups ---- */
/* Exact name first, then the "*" entry; NULL if neither. */
const db_config_t *config_find_db(const config_t *cfg, const char *name);
const char *config_find_user_secret(const config_t *cfg, const char *user);
/* Whether user is listed in a comma-separated list such as admin_users. */
bool config_list_contains(const char *list, const char *user);

/* Effective per-database values. */
int config_db_pool_size(const config_t *cfg, const db_config_t *db);
int config_db_pool_mode(const config_t *cfg, const db_config_t *db);
int config_db_min_pool_size(const config_t *cfg, const db_config_t *db);
int config_db_reserve_pool_size(const config_t *cfg, const db_config_t *db);
int config_db_max_connections(const config_t *cfg, const db_config_t *db);
/* The server_tls_sslmode that applies to db (its own sslmode, else the
 * global one); db may be NULL. */
int config_db_sslmode(const config_t *cfg, const db_config_t *db);
/* Names of the TLS modes, indexed by tls_mode_t. */
extern const char *const config_tls_mode_names[];

/* A database's replicas: how many, and the i-th address (port defaults to
 * the database's). */
int config_db_replica_count(const db_config_t *db);
bool config_db_replica(const db_config_t *db, int i, char *host, size_t cap, int *port);
/* NAME + readonly_suffix of a database with replicas and no entry of its own:
 * that database (its name in *base), else NULL. */
const db_config_t *config_find_ro_alias(const config_t *cfg, const char *name);
/* DATABASE_READ_URL / DATABASE_REPLICA_URLS: adds the hosts of comma-separated
 * postgres:// URLs as replicas of database dbname (NULL = the only database
 * other than "*"), with read_routing = auto unless set. */
bool config_apply_replica_urls(config_t *cfg, const char *dbname, const char *urls, char *err,
			       size_t errlen);

/* Frees the strings of one db_config_t (not the struct itself). */
void config_db_clear(db_config_t *db);

#endif

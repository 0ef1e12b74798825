/*
 * main.c - command line, configuration, signals, start and stop.
 *
 * The main thread owns no connections: it handles signals (reload, drain,
 * stop) on its own small event loop while the workers serve clients.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cancel.h"
#include "client.h"
#include "clock.h"
#include "config.h"
#include "control.h"
#include "http.h"
#include "janitor.h"
#include "log.h"
#include "net.h"
#include "pool.h"
#include "replica.h"
#include "runtime.h"
#include "server.h"
#include "tls.h"
#include "worker.h"

#define DRAIN_CHECK_USEC (100 * USEC_PER_MSEC)
#define DRAIN_MAX_USEC (60 * USEC_PER_SEC)
/* so_reuseport: how long SIGTERM lets connected clients carry on before the
 * drain above (within DRAIN_MAX_USEC). */
#define HANDOVER_CLIENTS_USEC (30 * USEC_PER_SEC)

typedef struct options {
	const char *config_path;
	const char *database_url;
	bool daemonize;
	bool check_config;
	int verbose;
	bool quiet;
} options_t;

/* The main thread's own loop: signals and the drain check. */
typedef struct main_loop {
	runtime_t *rt;
	int cmdline_verbose;      /* -v count, or -1 for -q: survives reloads */
	struct event_base *base;
	struct event *sig_hup, *sig_int, *sig_term, *sig_usr1, *sig_usr2, *drain_timer;
	usec_t drain_deadline;
	usec_t clients_deadline;  /* hand-over: then stop waiting for clients (0 = never) */
} main_loop_t;

static void usage(FILE *out)
{
	fprintf(out,
		"pgtide %s - a transaction-mode PostgreSQL connection pooler\n\n"
		"Usage: pgtide [options] [CONFIG_FILE]\n\n"
		"  -d, --daemon            run in the background (writes pidfile)\n"
		"  --database-url URL      pool in front of this server, no config file needed\n"
		"                          (also read from the DATABASE_URL environment variable)\n"
		"  --check-config          validate the configuration, print it, and exit\n"
		"  -v, --verbose           more logging (repeat for more)\n"
		"  -q, --quiet             log errors only to stderr\n"
		"  -V, --version           print the version and exit\n"
		"  -h, --help              this help\n\n"
		"Signals: SIGHUP reloads the configuration, SIGTERM finishes running\n"
		"transactions then exits, SIGINT exits at once.\n",
		PGTIDE_VERSION);
}

/* Replica sets for every database with replicas, so their health is known
 * before the first client arrives; then the checker thread. */
static bool start_replica_checks(runtime_t *rt)
{
	const config_t *cfg = runtime_cfg(rt);
	for (size_t i = 0; i < cfg->ndbs; i++)
		if (strcmp(cfg->dbs[i].name, "*") != 0 && config_db_replica_count(&cfg->dbs[i]) > 0)
			replica_set_get(rt, cfg, &cfg->dbs[i], cfg->dbs[i].name);
	return replica_checker_start(rt);
}

static int parse_args(int argc, char **argv, options_t *o)
{
	static const struct option longopts[] = {
		{ "daemon", no_argument, NULL, 'd' },       { "database-url", required_argument, NULL, 'u' },
		{ "check-config", no_argument, NULL, 'c' }, { "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },        { "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "dvqVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': o->daemonize = true; break;
		case 'u': o->database_url = optarg; break;
		case 'c': o->check_config = true; break;
		case 'v': o->verbose++; break;
		case 'q': o->quiet = true; break;
		case 'V': printf("pgtide %s\n", PGTIDE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc)
		o->config_path = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "pgtide: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (!o->database_url && !o->config_path)
		o->database_url = getenv("DATABASE_URL");
	if (!o->database_url && !o->config_path) {
		fprintf(stderr, "pgtide: give a CONFIG_FILE or --database-url (or set DATABASE_URL)\n");
		usage(stderr);
		return 2;
	}
	return -1;
}

/* PGTIDE_<SETTING> environment variables override the file (the command
 * line's --database-url overrides both for the database). */
static bool apply_env(config_t *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < config_setting_count(); i++) {
		const config_setting_t *s = config_setting_at(i);
		char var[96] = "PGTIDE_";
		size_t n = strlen(var);
		for (const char *c = s->name; *c && n + 1 < sizeof(var); c++)
			var[n++] = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
		var[n] = '\0';
		const char *v = getenv(var);
		char why[256];
		if (v && !config_set(cfg, s->name, v, why, sizeof(why))) {
			snprintf(err, errlen, "environment %s: %s", var, why);
			return false;
		}
	}
	return true;
}

/* Builds the config: defaults < file < environment < command line. */
static config_t *load_config(const char *path, const char *url, char *err, size_t errlen)
{
	config_t *cfg = path ? config_load_file(path, err, errlen) : config_new_defaults();
	if (!cfg)
		return NULL;
	bool env_auth_file = getenv("PGTIDE_AUTH_FILE") != NULL;
	/* The environment may have set auth_type or auth_hba_file: the rules
	 * are read (again) once every source has spoken. */
	if (!apply_env(cfg, err, errlen) || (env_auth_file && !config_replace_auth_file(cfg, err, errlen)) ||
	    (url && !config_apply_database_url(cfg, url, err, errlen)) || !config_load_hba_file(cfg, err, errlen)) {
		config_unref(cfg);
		return NULL;
	}
	/* Zero-config: the URL's user runs the show, console included. */
	if (!path && url && !cfg->admin_users && cfg->nusers > 0)
		config_set(cfg, "admin_users", cfg->users[0].name, err, errlen);
	/* Replicas of the URL's database (docs/routing.md): read_routing = auto,
	 * checked as the URL's user. */
	const char *envs[] = { "DATABASE_READ_URL", "DATABASE_REPLICA_URLS" };
	for (size_t i = 0; url && i < ARRAY_SIZE(envs); i++) {
		const char *v = getenv(envs[i]);
		if (!v || !*v)
			continue;
		if (!config_apply_replica_urls(cfg, NULL, v, err, errlen)) {
			config_unref(cfg);
			return NULL;
		}
		if (!cfg->replica_check_user && cfg->nusers > 0)
			config_set(cfg, "replica_check_user", cfg->users[0].name, err, errlen);
	}
	return cfg;
}

static void print_config(const config_t *cfg)
{
	for (size_t i = 0; i < config_setting_count(); i++) {
		const config_setting_t *s = config_setting_at(i);
		char val[512];
		config_format_value(cfg, s, val, sizeof(val));
		printf("%s = %s\n", s->name, val);
	}
	printf("[databases]\n");
	for (size_t i = 0; i < cfg->ndbs; i++) {
		const db_config_t *db = &cfg->dbs[i];
		printf("%s = host=%s port=%d%s%s%s%s%s\n", db->name, db->host ? db->host : "127.0.0.1",
		       db->port > 0 ? db->port : 5432, db->dbname ? " dbname=" : "", db->dbname ? db->dbname : "",
		       db->user ? " user=" : "", db->user ? db->user : "", db->password ? " password=***" : "");
	}
	printf("; %zu user(s) in auth_file\n", cfg->nusers);
}

/* -q logs errors only; -v adds to the file's verbose. */
static int log_verbosity(const config_t *cfg, int cmdline)
{
	return cmdline < 0 ? -1 : cfg->verbose + cmdline;
}

/* ---- signals ---- */

static void reload(main_loop_t *m)
{
	runtime_t *rt = m->rt;
	char err[512];
	config_t *cfg = load_config(rt->config_path, rt->database_url, err, sizeof(err));
	if (!cfg) {
		log_error("reload failed, keeping the old configuration: %s", err);
		return;
	}
	/* New certificates and keys are read here; connections keep the
	 * contexts they were made with. */
	tls_t *tls = tls_new(cfg, err, sizeof(err));
	if (!tls) {
		log_error("reload failed, keeping the old configuration: %s", err);
		config_unref(cfg);
		return;
	}
	if (!log_configure(log_verbosity(cfg, m->cmdline_verbose), cfg->logfile, cfg->log_format == LOG_FORMAT_JSON))
		log_warning("reload: cannot open logfile %s", cfg->logfile);
	runtime_set_tls(rt, tls);
	runtime_set_config(rt, cfg);
	pthread_mutex_lock(&rt->pools_lock);
	list_node_t *n;
	list_for_each(n, &rt->pools)
		pool_apply_config(list_entry(n, pool_t, rt_node), cfg);
	pthread_mutex_unlock(&rt->pools_lock);
	log_info("configuration reloaded");
}

static void stop_workers(main_loop_t *m)
{
	for (int i = 0; i < m->rt->nworkers; i++)
		worker_stop(&m->rt->workers[i]);
	event_base_loopbreak(m->base);
}

static void drain_check(evutil_socket_t fd, short what, void *arg)
{
	main_loop_t *m = arg;
	if (atomic_load(&m->rt->state) == RT_DRAINING_CLIENTS) {
		/* SHUTDOWN WAIT_FOR_CLIENTS: as long as it takes, like PgBouncer;
		 * a hand-over (SIGTERM with so_reuseport) until clients_deadline,
		 * then running transactions finish and new ones are refused. */
		int n = atomic_load(&m->rt->nclients);
		if (n == 0) {
			stop_workers(m);
			return;
		}
		if (!m->clients_deadline || clock_mono_usec() < m->clients_deadline)
			return;
		log_info("shutdown: %d client(s) still connected; finishing their running transactions", n);
		atomic_store(&m->rt->state, RT_DRAINING);
		m->clients_deadline = 0;
	}
	int busy = pool_busy_servers(m->rt, NULL);
	if (busy == 0 || clock_mono_usec() > m->drain_deadline) {
		if (busy)
			log_warning("shutdown: %d server connection(s) still busy after the drain limit", busy);
		stop_workers(m);
	}
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	main_loop_t *m = arg;
	runtime_t *rt = m->rt;
	if (sig == SIGHUP) {
		reload(m);
	} else if (sig == SIGUSR1 || sig == SIGUSR2) {
		/* As PgBouncer: SIGUSR1 = PAUSE, SIGUSR2 = RESUME. */
		control_pause(rt, NULL, sig == SIGUSR1);
		log_info("%s", sig == SIGUSR1 ? "SIGUSR1: paused" : "SIGUSR2: resumed");
	} else if (sig == SIGINT || atomic_load(&rt->state) != RT_RUNNING) {
		log_info("shutting down now");
		atomic_store(&rt->state, RT_STOPPING);
		stop_workers(m);
	} else if (sig == SIGTERM) {
		bool for_clients = atomic_exchange(&rt->drain_for_clients, false);
		/* With so_reuseport another pgtide is taking over the port: the
		 * clients we already accepted (logging in, or between
		 * transactions) are served until they leave, for a while. */
		bool handover = !for_clients && runtime_cfg(rt)->so_reuseport;
		usec_t now = clock_mono_usec();
		if (handover)
			log_info("SIGTERM: no new clients; serving connected clients for up to %d s",
				 (int)(HANDOVER_CLIENTS_USEC / USEC_PER_SEC));
		else
			log_info(for_clients ? "shutdown: no new clients; waiting for connected clients to leave"
					     : "SIGTERM: no new clients; waiting for running transactions to finish");
		atomic_store(&rt->state, for_clients || handover ? RT_DRAINING_CLIENTS : RT_DRAINING);
		for (int i = 0; i < rt->nworkers; i++)
			net_close_listeners(&rt->workers[i]);
		m->clients_deadline = handover ? now + HANDOVER_CLIENTS_USEC : 0;
		m->drain_deadline = now + DRAIN_MAX_USEC;
		struct timeval tv = { 0, DRAIN_CHECK_USEC };
		event_add(m->drain_timer, &tv);
	}
}

/* ---- start and stop ---- */

/* Written under a temporary name and renamed, so a reader never sees an
 * empty or half-written file. */
static bool write_pidfile(const char *pidfile)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.%d.tmp", pidfile, (int)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return false;
	}
	FILE *f = fopen(tmp, "w");
	if (!f)
		return false;
	fprintf(f, "%d\n", (int)getpid());
	if (fclose(f) != 0 || rename(tmp, pidfile) != 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return false;
	}
	return true;
}

/* Only our own: the pgtide that replaced us (so_reuseport) has rewritten it. */
static void remove_pidfile(const char *pidfile)
{
	FILE *f = fopen(pidfile, "r");
	int pid = 0;
	if (!f)
		return;
	bool ours = fscanf(f, "%d", &pid) == 1 && pid == (int)getpid();
	fclose(f);
	if (ours)
		unlink(pidfile);
}

static bool daemonize(void)
{
	pid_t pid = fork();
	if (pid < 0)
		return false;
	if (pid > 0)
		_exit(0);
	setsid();
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		if (fd > 2)
			close(fd);
	}
	return true;
}

/* After the workers stopped: close every connection so nothing leaks. */
static void free_connections(runtime_t *rt)
{
	for (int i = 0; i < rt->nworkers; i++) {
		worker_t *w = &rt->workers[i];
		list_node_t *n, *tmp;
		list_for_each_safe(n, tmp, &w->clients) {
			client_t *c = list_entry(n, client_t, worker_node);
			c->server = NULL;
			c->inflight = 0;
			client_close(c, "shutdown");
		}
		list_for_each_safe(n, tmp, &w->servers) {
			server_t *s = list_entry(n, server_t, worker_node);
			s->client = NULL;
			server_close(s, "shutdown");
		}
	}
}

/* Signals are caught before anything listens: a test (or an operator) may
 * send SIGHUP as soon as a connect succeeds, and SIGHUP's default action
 * would end the process. */
static void main_loop_init(main_loop_t *m)
{
	m->base = event_base_new();
	m->sig_hup = evsignal_new(m->base, SIGHUP, on_signal, m);
	m->sig_int = evsignal_new(m->base, SIGINT, on_signal, m);
	m->sig_term = evsignal_new(m->base, SIGTERM, on_signal, m);
	m->sig_usr1 = evsignal_new(m->base, SIGUSR1, on_signal, m);
	m->sig_usr2 = evsignal_new(m->base, SIGUSR2, on_signal, m);
	m->drain_timer = event_new(m->base, -1, EV_PERSIST, drain_check, m);
	event_add(m->sig_hup, NULL);
	event_add(m->sig_int, NULL);
	event_add(m->sig_term, NULL);
	event_add(m->sig_usr1, NULL);
	event_add(m->sig_usr2, NULL);
}

static void main_loop_free(main_loop_t *m)
{
	event_free(m->sig_hup);
	event_free(m->sig_int);
	event_free(m->sig_term);
	event_free(m->sig_usr1);
	event_free(m->sig_usr2);
	event_free(m->drain_timer);
	event_base_free(m->base);
}

static int run(runtime_t *rt, const options_t *o)
{
	char err[512];
	main_loop_t m = { .rt = rt, .cmdline_verbose = o->quiet ? -1 : o->verbose };
	main_loop_init(&m);
	if (!net_listen(rt, err, sizeof(err))) {
		log_error("%s", err);
		main_loop_free(&m);
		return 1;
	}
	net_enable(rt);
	const config_t *cfg = runtime_cfg(rt);
	/* Written once pgtide listens: a script replacing a running pgtide
	 * (so_reuseport) may signal the old one when the file changes. */
	if (cfg->pidfile && !write_pidfile(cfg->pidfile)) {
		log_error("cannot write pidfile %s: %s", cfg->pidfile, strerror(errno));
		main_loop_free(&m);
		return 1;
	}
	log_info("pgtide %s listening on %s:%d (unix socket dir %s), %d worker(s), pool_mode=%s", PGTIDE_VERSION,
		 cfg->listen_addr ? cfg->listen_addr : "-", cfg->listen_port,
		 cfg->unix_socket_dir ? cfg->unix_socket_dir : "-", rt->nworkers,
		 cfg->pool_mode == POOL_MODE_SESSION ? "session" : "transaction");
	for (int i = 0; i < rt->nworkers; i++) {
		rt->workers[i].on_tick = janitor_tick;
		if (!worker_start(&rt->workers[i])) {
			log_error("could not start worker thread %d", i);
			return 1;
		}
	}
	/* Metrics after the workers: once /readyz answers, clients are served.
	 * A port that cannot be bound stops pgtide rather than run unwatched. */
	int rc = 0;
	http_server_t *http = NULL;
	if (cfg->metrics_port)
		http = http_start(rt, cfg->metrics_addr, cfg->metrics_port, err, sizeof(err));
	if (cfg->metrics_port && !http) {
		log_error("%s", err);
		stop_workers(&m);
		rc = 1;
	} else if (!start_replica_checks(rt)) {
		log_error("could not start the replica checker thread");
		stop_workers(&m);
		rc = 1;
	} else {
		event_base_dispatch(m.base);
	}
	replica_checker_stop(rt);
	http_stop(http);
	for (int i = 0; i < rt->nworkers; i++)
		worker_join(&rt->workers[i]);
	/* A client or server moving between workers when the loops stopped is
	 * in a mailbox, in no worker's list: deliver it, so that it is closed
	 * and freed below like the rest. */
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < rt->nworkers; i++)
			worker_run_mailbox(&rt->workers[i]);
	}
	/* Cancels still in flight first: they keep servers alive. */
	for (int i = 0; i < rt->nworkers; i++)
		cancel_abort_all(&rt->workers[i]);
	free_connections(rt);
	for (int i = 0; i < rt->nworkers; i++)
		event_base_loop(rt->workers[i].base, EVLOOP_NONBLOCK);
	main_loop_free(&m);
	log_info("pgtide stopped");
	return rc;
}

int main(int argc, char **argv)
{
	options_t o = { 0 };
	int rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	char err[512];
	config_t *cfg = load_config(o.config_path, o.database_url, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "pgtide: configuration error: %s\n", err);
		return 1;
	}
	tls_t *tls = tls_new(cfg, err, sizeof(err));
	if (!tls) {
		fprintf(stderr, "pgtide: configuration error: %s\n", err);
		config_unref(cfg);
		return 1;
	}
	if (o.check_config) {
		print_config(cfg);
		tls_free(tls);
		config_unref(cfg);
		return 0;
	}
	if (o.daemonize && !daemonize()) {
		fprintf(stderr, "pgtide: could not daemonize: %s\n", strerror(errno));
		tls_free(tls);
		config_unref(cfg);
		return 1;
	}
	if (!log_configure(log_verbosity(cfg, o.quiet ? -1 : o.verbose), cfg->logfile,
			   cfg->log_format == LOG_FORMAT_JSON)) {
		fprintf(stderr, "pgtide: cannot open logfile %s: %s\n", cfg->logfile, strerror(errno));
		tls_free(tls);
		config_unref(cfg);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	runtime_t rt;
	if (!runtime_init(&rt, cfg)) {
		log_error("could not initialise the runtime");
		return 1;
	}
	runtime_set_tls(&rt, tls);
	rt.config_path = o.config_path ? realpath(o.config_path, NULL) : NULL;
	rt.database_url = o.database_url ? xstrdup(o.database_url) : NULL;
	rc = run(&rt, &o);
	if (runtime_cfg(&rt)->pidfile)
		remove_pidfile(runtime_cfg(&rt)->pidfile);
	runtime_destroy(&rt);
	log_close();
	return rc;
}

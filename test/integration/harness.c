/*
 * harness.c - integration test support (see harness.h).
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "harness: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int pg_port(void)
{
	const char *p = getenv("PGTIDE_TEST_PGPORT");
	if (!p) {
		const char *dir = getenv("PGTIDE_TEST_PGDIR");
		if (!dir)
			die("PGTIDE_TEST_PGDIR is not set (run through ctest)");
		char path[512];
		snprintf(path, sizeof(path), "%s/port", dir);
		FILE *f = fopen(path, "r");
		int port = 0;
		if (!f || fscanf(f, "%d", &port) != 1)
			die("cannot read %s: is the test cluster running?", path);
		fclose(f);
		return port;
	}
	return atoi(p);
}

const char *pg_host(void)
{
	const char *dir = getenv("PGTIDE_TEST_PGDIR");
	if (!dir)
		die("PGTIDE_TEST_PGDIR is not set (run through ctest)");
	return dir;
}

int free_tcp_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		die("cannot find a free port: %s", strerror(errno));
	close(fd);
	return ntohs(sin.sin_port);
}

/* Write to a temporary file and rename it into place: a RELOAD still
 * pending from an earlier rewrite must read the old file or the new one,
 * never a half-written one (as an operator's editor or config tool should). */
static void write_file(const char *path, const char *text)
{
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		die("cannot write %s: %s", tmp, strerror(errno));
	fputs(text, f);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		die("cannot write %s: %s", path, strerror(errno));
}

void pgtide_rewrite_config(pgtide_proc_t *p, const char *extra, const char *databases)
{
	char path[512], text[8192], dbs[2048];
	if (!databases) {
		snprintf(dbs, sizeof(dbs), "* = host=127.0.0.1 port=%d\n", pg_port());
		databases = dbs;
	}
	char workers[64] = "";
	const char *w = getenv("PGTIDE_TEST_WORKERS");
	if (w && !(extra && strstr(extra, "workers")))
		snprintf(workers, sizeof(workers), "workers = %d\n", atoi(w));
	snprintf(text, sizeof(text),
		 "[pgtide]\n"
		 "%s"
		 "listen_addr = 127.0.0.1\n"
		 "listen_port = %d\n"
		 "unix_socket_dir = %s\n"
		 "auth_file = %s/userlist.txt\n"
		 "log_connections = 0\n"
		 "log_disconnections = 0\n"
		 "%s%s\n"
		 "[databases]\n%s\n",
		 workers, p->port, p->unix_dir, p->dir, (extra && strstr(extra, "admin_users")) ? "" : "admin_users = admin\n",
		 extra ? extra : "", databases);
	snprintf(path, sizeof(path), "%s/pgtide.ini", p->dir);
	write_file(path, text);
}

static bool can_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static const char *pgtide_binary(void)
{
	const char *b = getenv("PGTIDE_BIN");
	if (!b)
		die("PGTIDE_BIN is not set (run through ctest)");
	return b;
}

/* Every pgtide this test binary started. A failed assertion or die()
 * leaves the test without stopping its pgtide: at exit, the ones still
 * running (our children that waitpid has not reaped) are killed, so no
 * process outlives the test. */
static pid_t started[256];
static size_t nstarted;

static void kill_leftover_pgtides(void)
{
	for (size_t i = 0; i < nstarted; i++) {
		int st;
		if (waitpid(started[i], &st, WNOHANG) == 0) {
			kill(started[i], SIGKILL);
			waitpid(started[i], &st, 0);
			fprintf(stderr, "harness: killed pgtide %d, left running by a failed test\n", (int)started[i]);
		}
	}
}

static void remember_started(pid_t pid)
{
	if (nstarted == 0)
		atexit(kill_leftover_pgtides);
	if (nstarted < sizeof(started) / sizeof(started[0]))
		started[nstarted++] = pid;
}

void pgtide_start(pgtide_proc_t *p, const char *extra, const char *databases)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "/tmp/pgtide-test-XXXXXX");
	if (!mkdtemp(p->dir))
		die("mkdtemp: %s", strerror(errno));
	snprintf(p->unix_dir, sizeof(p->unix_dir), "%s", p->dir);
	snprintf(p->log_path, sizeof(p->log_path), "%s/pgtide.log", p->dir);
	char path[512];
	snprintf(path, sizeof(path), "%s/userlist.txt", p->dir);
	write_file(path, "\"app\" \"app-pw\"\n"
			 "\"md5_user\" \"md5-pw\"\n"
			 "\"scram_user\" \"scram-pw\"\n"
			 "\"admin\" \"admin-pw\"\n"
			 "\"stats\" \"stats-pw\"\n"
			 "\"postgres\" \"\"\n");
	p->port = free_tcp_port();
	pgtide_rewrite_config(p, extra, databases);
	snprintf(path, sizeof(path), "%s/pgtide.ini", p->dir);
	p->pid = fork();
	if (p->pid < 0)
		die("fork: %s", strerror(errno));
	if (p->pid == 0) {
		int fd = open(p->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(pgtide_binary(), "pgtide", "-v", path, (char *)NULL);
		_exit(127);
	}
	remember_started(p->pid);
	for (int i = 0; i < 300; i++) {
		if (can_connect(p->port))
			return;
		int st;
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			char cmd[600];
			snprintf(cmd, sizeof(cmd), "cat %s >&2", p->log_path);
			if (system(cmd) != 0)
				fprintf(stderr, "(no log)\n");
			die("pgtide exited at start (status %d)", st);
		}
		usleep(20000);
	}
	die("pgtide did not start listening on port %d", p->port);
}

void pgtide_signal(pgtide_proc_t *p, int sig)
{
	kill(p->pid, sig);
}

int pgtide_stop(pgtide_proc_t *p)
{
	if (p->pid <= 0)
		return 0;
	kill(p->pid, SIGINT);
	int st = 0;
	for (int i = 0; i < 1500; i++) {
		if (waitpid(p->pid, &st, WNOHANG) == p->pid)
			break;
		if (i == 1499) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &st, 0);
			fprintf(stderr, "harness: pgtide did not stop on SIGINT\n");
			return -1;
		}
		usleep(20000);
	}
	p->pid = 0;
	int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (rc != 0) {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "tail -50 %s >&2", p->log_path);
		if (system(cmd) != 0)
			fprintf(stderr, "(no log)\n");
	} else if (!getenv("PGTIDE_KEEP_TEST_DIR")) {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", p->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "harness: could not remove %s\n", p->dir);
	}
	return rc;
}

bool pgtide_log_contains(const pgtide_proc_t *p, const char *text)
{
	FILE *f = fopen(p->log_path, "r");
	if (!f)
		return false;
	char line[4096];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, text) != NULL;
	fclose(f);
	return found;
}

PGconn *pt_connect(const pgtide_proc_t *p, const char *user, const char *password, const char *db,
		   const char *extra)
{
	char conninfo[1024];
	snprintf(conninfo, sizeof(conninfo),
		 "host=127.0.0.1 port=%d user=%s dbname=%s password=%s connect_timeout=10 sslmode=disable %s",
		 p->port, user, db, password ? password : "", extra ? extra : "");
	return PQconnectdb(conninfo);
}

PGconn *pt_connect_ok(const pgtide_proc_t *p, const char *user, const char *password, const char *db)
{
	PGconn *c = pt_connect(p, user, password, db, NULL);
	if (PQstatus(c) != CONNECTION_OK)
		die("connect to pgtide as %s/%s failed: %s", user, db, PQerrorMessage(c));
	return c;
}

PGconn *pg_connect_direct(const char *db)
{
	char conninfo[1024];
	snprintf(conninfo, sizeof(conninfo), "host=%s port=%d user=postgres dbname=%s", pg_host(), pg_port(), db);
	PGconn *c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK)
		die("direct connect failed: %s", PQerrorMessage(c));
	return c;
}

static void harness_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

bool pt_create_database(const char *name, const char *setup_sql)
{
	PGconn *d = pg_connect_direct("postgres");
	PQsetNoticeProcessor(d, harness_quiet, NULL);
	char sql[256];
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	PQclear(PQexec(d, sql));
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s OWNER app", name);
	bool created = false;
	for (int i = 0; i < 40 && !created; i++) {
		PGresult *r = PQexec(d, sql);
		created = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!created)
			usleep(250000); /* template1 busy with another test's CREATE DATABASE */
	}
	if (!created)
		fprintf(stderr, "harness: %s: %s", sql, PQerrorMessage(d));
	PQfinish(d);
	if (!created || !setup_sql)
		return created;
	d = pg_connect_direct(name);
	PGresult *r = PQexec(d, setup_sql);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "harness: setting up %s: %s", name, PQerrorMessage(d));
	PQclear(r);
	PQfinish(d);
	return ok;
}

void pt_drop_database(const char *name)
{
	PGconn *d = pg_connect_direct("postgres");
	char sql[256];
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	PQclear(PQexec(d, sql));
	PQfinish(d);
}

const char *pt_query_value(PGconn *c, const char *sql)
{
	static char value[4096];
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		fprintf(stderr, "harness: query failed: %s: %s", sql, PQerrorMessage(c));
		PQclear(r);
		exit(1);
	}
	value[0] = '\0';
	if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQnfields(r) > 0)
		snprintf(value, sizeof(value), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return value;
}

const char *pt_query_sqlstate(PGconn *c, const char *sql)
{
	static char state[8];
	PGresult *r = PQexec(c, sql);
	const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	snprintf(state, sizeof(state), "%s", s ? s : "");
	PQclear(r);
	return state;
}

const char *pt_show_value(PGconn *admin, const char *show, const char *key_col, const char *key,
			  const char *col)
{
	static char value[1024];
	PGresult *r = PQexec(admin, show);
	value[0] = '\0';
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "harness: %s failed: %s", show, PQerrorMessage(admin));
		PQclear(r);
		return NULL;
	}
	int kc = PQfnumber(r, key_col), vc = PQfnumber(r, col);
	for (int i = 0; kc >= 0 && vc >= 0 && i < PQntuples(r); i++) {
		if (strcmp(PQgetvalue(r, i, kc), key) == 0) {
			snprintf(value, sizeof(value), "%s", PQgetvalue(r, i, vc));
			PQclear(r);
			return value;
		}
	}
	PQclear(r);
	return NULL;
}

int raw_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("raw connect: %s", strerror(errno));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

bool raw_send(int fd, const void *data, size_t len)
{
	return send(fd, data, len, MSG_NOSIGNAL) == (ssize_t)len;
}

ssize_t raw_read_until(int fd, char type, unsigned char *buf, size_t cap, int timeout_ms)
{
	size_t have = 0;
	double deadline = now_seconds() + timeout_ms / 1000.0;
	for (;;) {
		/* Scan complete messages for the wanted type. */
		size_t pos = 0;
		while (pos + 5 <= have) {
			uint32_t len = ((uint32_t)buf[pos + 1] << 24) | ((uint32_t)buf[pos + 2] << 16) |
				       ((uint32_t)buf[pos + 3] << 8) | buf[pos + 4];
			if (pos + 1 + len > have)
				break;
			if ((char)buf[pos] == type)
				return (ssize_t)have;
			pos += 1 + len;
		}
		int left = (int)((deadline - now_seconds()) * 1000);
		if (left <= 0 || have == cap)
			return -1;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, left) <= 0)
			return -1;
		ssize_t n = recv(fd, buf + have, cap - have, 0);
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
}

bool raw_wait_closed(int fd, int timeout_ms)
{
	double deadline = now_seconds() + timeout_ms / 1000.0;
	unsigned char buf[4096];
	for (;;) {
		int left = (int)((deadline - now_seconds()) * 1000);
		if (left <= 0)
			return false;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, left) <= 0)
			return false;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			return true;
	}
}

size_t raw_startup(unsigned char *buf, size_t cap, const char *user, const char *db)
{
	size_t n = 8;
	const char *kv[] = { "user", user, "database", db };
	for (int i = 0; i < 4; i++) {
		size_t l = strlen(kv[i]) + 1;
		if (n + l + 1 > cap)
			die("startup buffer too small");
		memcpy(buf + n, kv[i], l);
		n += l;
	}
	buf[n++] = 0;
	buf[0] = (unsigned char)(n >> 24);
	buf[1] = (unsigned char)(n >> 16);
	buf[2] = (unsigned char)(n >> 8);
	buf[3] = (unsigned char)n;
	buf[4] = 0;
	buf[5] = 3;
	buf[6] = 0;
	buf[7] = 0;
	return n;
}

int pt_run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

bool pt_make_cert(const char *dir, const char *name, const char *cn, const char *ext, const char *ca)
{
	if (!ca)
		return pt_run("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout %s.key -out %s.crt -days 2 "
			      "-subj '/CN=%s' >/dev/null 2>&1",
			      dir, name, name, cn) == 0;
	return pt_run("cd %s && openssl req -newkey rsa:2048 -nodes -keyout %s.key -out %s.csr -subj '/CN=%s' "
		      ">/dev/null 2>&1 && printf '%s' > %s.ext && "
		      "openssl x509 -req -in %s.csr -CA %s.crt -CAkey %s.key -CAcreateserial -out %s.crt -days 2 "
		      "-extfile %s.ext >/dev/null 2>&1 && chmod 600 %s.key",
		      dir, name, name, cn, ext, name, name, ca, ca, name, name, name) == 0;
}

const char *pt_pgcluster_script(void)
{
	static char path[512];
	const char *src = getenv("PGTIDE_SOURCE_DIR");
	snprintf(path, sizeof(path), "%s/test/integration/pgcluster.sh", src ? src : ".");
	return path;
}

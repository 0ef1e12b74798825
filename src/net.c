/*
 * net.c - listeners and accepting.
 */
#include "net.h"

#include "clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "log.h"
#include "runtime.h"
#include "worker.h"

#define ACCEPT_BATCH 64

static bool add_listener(struct worker *w, int fd, char *err, size_t errlen)
{
	if (w->nlisten >= (int)ARRAY_SIZE(w->listen_fd)) {
		snprintf(err, errlen, "too many listen addresses");
		close(fd);
		return false;
	}
	w->listen_fd[w->nlisten++] = fd;
	return true;
}

static int tcp_socket(const struct addrinfo *ai, bool defer_accept, char *err, size_t errlen)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* Every PostgreSQL client speaks first (startup packet or SSLRequest):
	 * the kernel wakes us once for the connection and its first bytes. */
	int defer_secs = 45;
	if (defer_accept)
		setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_secs, sizeof(defer_secs));
	/* listen() comes later (net_listen), once the unix socket is in place. */
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		char host[NI_MAXHOST] = "?", port[NI_MAXSERV] = "?";
		getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), port, sizeof(port),
			    NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(err, errlen, "could not listen on %s:%s: %s", host, port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static bool family_supported(int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Our workers share the port through SO_REUSEPORT, which would also let us
 * silently join another process's listener on it. A plain bind first tells
 * whether anybody else is there. */
static bool port_is_free(const struct addrinfo *ai, char *err, size_t errlen)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return true;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	bool free_port = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0;
	int saved = errno;
	close(fd);
	if (!free_port) {
		char host[NI_MAXHOST] = "?", port[NI_MAXSERV] = "?";
		getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), port, sizeof(port),
			    NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(err, errlen, "could not listen on %s:%s: %s", host, port, strerror(saved));
	}
	return free_port;
}

static bool listen_tcp(runtime_t *rt, const char *addr, int port, char *err, size_t errlen)
{
	const config_t *cfg = runtime_cfg(rt);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE },
			*res = NULL;
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", port);
	const char *host = strcmp(addr, "*") == 0 ? NULL : addr;
	int rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "listen_addr \"%s\": %s", addr, gai_strerror(rc));
		return false;
	}
	bool ok = true;
	for (struct addrinfo *ai = res; ai && ok; ai = ai->ai_next) {
		/* "*" on a kernel without IPv6: serve IPv4 rather than refuse to start. */
		if (!host && ai->ai_family == AF_INET6 && !family_supported(AF_INET6))
			continue;
		/* so_reuseport: another pgtide (the one being replaced) may
		 * hold the port, and the kernel spreads connections over both. */
		ok = cfg->so_reuseport || port_is_free(ai, err, errlen);
		for (int i = 0; i < rt->nworkers && ok; i++) {
			int fd = tcp_socket(ai, cfg->tcp_defer_accept, err, errlen);
			ok = fd >= 0 && add_listener(&rt->workers[i], fd, err, errlen);
		}
	}
	freeaddrinfo(res);
	return ok;
}

/* The socket is bound under a temporary name and renamed over
 * .s.PGSQL.<port>: the path always names a listening socket, so a pgtide
 * started to replace a running one takes the path over without a moment in
 * which connecting fails. The replaced process keeps serving what it had
 * already queued; it never unlinks the path. */
static bool listen_unix(runtime_t *rt, const char *dir, int port, int backlog, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char path[sizeof(sun.sun_path)];
	int n = snprintf(path, sizeof(path), "%s/.s.PGSQL.%d", dir, port);
	int t = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/.s.PGSQL.%d.%d.tmp", dir, port, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(path) || t < 0 || (size_t)t >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "unix_socket_dir path too long: %s", dir);
		return false;
	}
	unlink(sun.sun_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, backlog) < 0 ||
	    chmod(sun.sun_path, 0777) < 0 || rename(sun.sun_path, path) < 0) {
		snprintf(err, errlen, "could not listen on unix socket %s: %s", path, strerror(errno));
		if (fd >= 0) {
			unlink(sun.sun_path);
			close(fd);
		}
		return false;
	}
	return add_listener(&rt->workers[0], fd, err, errlen);
}

bool net_listen(runtime_t *rt, char *err, size_t errlen)
{
	const config_t *cfg = runtime_cfg(rt);
	if (cfg->listen_addr && *cfg->listen_addr) {
		char list[512];
		strlcpy_ok(list, cfg->listen_addr, sizeof(list));
		char *save = NULL;
		for (char *a = strtok_r(list, ", ", &save); a; a = strtok_r(NULL, ", ", &save)) {
			if (!listen_tcp(rt, a, cfg->listen_port, err, errlen))
				return false;
		}
	}
	if (cfg->unix_socket_dir && *cfg->unix_socket_dir &&
	    !listen_unix(rt, cfg->unix_socket_dir, cfg->listen_port, cfg->listen_backlog, err, errlen))
		return false;
	/* TCP accepts only now: whoever sees the port answer (a start script,
	 * a test) may use the unix socket next, and finds it in place. A
	 * second listen() on the unix socket only sets its backlog again. */
	for (int i = 0; i < rt->nworkers; i++) {
		struct worker *w = &rt->workers[i];
		for (int j = 0; j < w->nlisten; j++) {
			if (listen(w->listen_fd[j], cfg->listen_backlog) < 0) {
				snprintf(err, errlen, "listen: %s", strerror(errno));
				return false;
			}
		}
	}
	return true;
}

/* Accepts up to max connections waiting on lfd; false once it is empty. */
static bool accept_some(struct worker *w, int lfd, int max)
{
	for (int i = 0; i < max; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			int e = errno;
			if (e == EMFILE || e == ENFILE)
				log_warning("accept failed: %s (raise ulimit -n)", strerror(e));
			return e == EINTR || e == ECONNABORTED;
		}
		client_accept(w, fd, &ss);
	}
	return true;
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct worker *w = arg;
	w->now = clock_mono_usec();
	accept_some(w, lfd, ACCEPT_BATCH);
}

void net_enable(runtime_t *rt)
{
	for (int i = 0; i < rt->nworkers; i++) {
		struct worker *w = &rt->workers[i];
		for (int j = 0; j < w->nlisten; j++) {
			w->listen_ev[j] = event_new(w->base, w->listen_fd[j], EV_READ | EV_PERSIST, accept_cb, w);
			event_add(w->listen_ev[j], NULL);
		}
		w->accepting = true;
	}
}

static void close_listeners_fn(struct worker *w, void *a, void *b)
{
	for (int j = 0; j < w->nlisten; j++) {
		if (w->listen_ev[j]) {
			event_free(w->listen_ev[j]);
			w->listen_ev[j] = NULL;
		}
		if (w->listen_fd[j] >= 0) {
			/* close() resets the connections still queued on the
			 * socket: take them first, they are our clients. (One that
			 * arrives between the last accept and the close is reset,
			 * unless net.ipv4.tcp_migrate_req hands it to another
			 * socket of the SO_REUSEPORT group.) */
			int rounds = 0;
			while (accept_some(w, w->listen_fd[j], ACCEPT_BATCH) && ++rounds < 1000)
				;
			close(w->listen_fd[j]);
			w->listen_fd[j] = -1;
		}
	}
	w->accepting = false;
}

void net_close_listeners(struct worker *w)
{
	worker_post(w, close_listeners_fn, NULL, NULL);
}

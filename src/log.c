/*
 * log.c - the process-wide log sink.
 */
#include "log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Written only by log_configure (main thread, at start and reload); read by
 * every thread. An int store is atomic on every platform we build for, and a
 * reader that sees the old fd for one line does no harm. */
static struct {
	int fd;
	int level;
	bool json;
	int pid;  /* cached: one getpid() per configure, not per line */
} log_sink = { 2, LOG_LEVEL_INFO, false, 0 };

static const char *const level_names[] = { "ERROR", "WARNING", "LOG", "DEBUG", "NOISE" };

bool log_configure(int verbose, const char *logfile, bool json)
{
	int fd = 2;
	if (logfile && *logfile) {
		fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (fd < 0)
			return false;
	}
	int old = log_sink.fd;
	log_sink.fd = fd;
	log_sink.level = verbose < 0 ? LOG_LEVEL_ERROR : LOG_LEVEL_INFO + MIN(verbose, 2);
	log_sink.json = json;
	log_sink.pid = (int)getpid();
	if (old > 2)
		close(old);
	return true;
}

void log_close(void)
{
	if (log_sink.fd > 2)
		close(log_sink.fd);
	log_sink.fd = 2;
}

bool log_enabled(log_level_t level)
{
	return (int)level <= log_sink.level;
}

/* Appends text to a JSON string body, escaping what JSON requires. */
static size_t json_escape(char *dst, size_t cap, const char *src)
{
	size_t o = 0;
	for (; *src && o + 7 < cap; src++) {
		unsigned char c = (unsigned char)*src;
		if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(dst + o, cap - o, "\\u%04x", c);
		} else {
			dst[o++] = (char)c;
		}
	}
	dst[o] = '\0';
	return o;
}

/* Whether msg[i..] starts a key=value pair: a key of [a-z0-9_/] then '='. */
static bool at_pair(const char *p)
{
	const char *k = p;
	while ((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_' || *k == '/')
		k++;
	return k > p && *k == '=';
}

/* Appends one "key":"value" pair parsed at *pp (value quoted with \" or up
 * to a blank); false when the text is not a pair. */
static bool json_pair(const char **pp, char *out, size_t cap, size_t *o)
{
	const char *p = *pp;
	if (!at_pair(p))
		return false;
	const char *eq = strchr(p, '=');
	char key[64], val[2048];
	size_t kl = MIN((size_t)(eq - p), sizeof(key) - 1);
	memcpy(key, p, kl);
	key[kl] = '\0';
	size_t vl = 0;
	p = eq + 1;
	if (*p == '"') {
		for (p++; *p && *p != '"' && vl + 1 < sizeof(val); p++)
			val[vl++] = *p;
		if (*p != '"')
			return false;
		p++;
	} else {
		for (; *p && *p != ' ' && vl + 1 < sizeof(val); p++)
			val[vl++] = *p;
	}
	val[vl] = '\0';
	char ek[160], ev[4100];
	json_escape(ek, sizeof(ek), key);
	json_escape(ev, sizeof(ev), val);
	int n = snprintf(out + *o, cap - *o, ",\"%s\":\"%s\"", ek, ev);
	if (n < 0 || (size_t)n >= cap - *o)
		return false;
	*o += (size_t)n;
	while (*p == ' ')
		p++;
	*pp = p;
	return true;
}

/* pgtide's messages read "event: key=value key=\"quoted value\" ...": in
 * JSON they become "event" and one field per key. Anything else is "msg". */
static void json_body(const char *msg, char *out, size_t cap)
{
	const char *colon = strstr(msg, ": ");
	if (colon && at_pair(colon + 2)) {
		char ev[512];
		size_t el = MIN((size_t)(colon - msg), sizeof(ev) - 1);
		memcpy(ev, msg, el);
		ev[el] = '\0';
		size_t o = 0;
		char esc[1100];
		json_escape(esc, sizeof(esc), ev);
		o = (size_t)snprintf(out, cap, ",\"event\":\"%s\"", esc);
		const char *p = colon + 2;
		while (*p && o < cap && json_pair(&p, out, cap, &o))
			;
		if (!*p)
			return;
	}
	char esc[4100];
	json_escape(esc, sizeof(esc), msg);
	snprintf(out, cap, ",\"msg\":\"%s\"", esc);
}

void log_msg(log_level_t level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	gmtime_r(&tv.tv_sec, &tm);
	char ts[40];
	size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(ts + tl, sizeof(ts) - tl, ".%03d UTC", (int)(tv.tv_usec / 1000));

	char line[8400];
	int n;
	if (log_sink.json) {
		char body[8192];
		json_body(msg, body, sizeof(body));
		n = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"level\":\"%s\",\"pid\":%d%s}\n", ts,
			     level_names[level], log_sink.pid, body);
	} else {
		n = snprintf(line, sizeof(line), "%s [%d] %s %s\n", ts, log_sink.pid, level_names[level], msg);
	}
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	ssize_t UNUSED w = write(log_sink.fd, line, (size_t)n);
}

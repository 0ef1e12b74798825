/*
 * link.c - socket I/O for one connection.
 */
#include "link.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "worker.h"

/* recv() and send() are thread cancellation points: glibc wraps each call
 * in cancellation bookkeeping that costs more instructions than the rest of
 * the call (callgrind: about 130 per relayed transaction). pgtide never
 * cancels a thread, so the relay asks the kernel directly. */
static ssize_t plain_read(link_t *l, void *buf, size_t n)
{
	return syscall(SYS_recvfrom, l->fd, buf, n, 0, NULL, NULL);
}

static ssize_t plain_write(link_t *l, const void *buf, size_t n)
{
	return syscall(SYS_sendto, l->fd, buf, n, MSG_NOSIGNAL, NULL, 0);
}

static void plain_close(link_t *l)
{
	(void)l;
}

const transport_ops_t transport_plain = { "plain", plain_read, plain_write, plain_close, NULL };

static void event_cb(evutil_socket_t fd, short what, void *arg);
static void buffered_event_cb(evutil_socket_t fd, short what, void *arg);

/* One event per socket (an idle client costs one struct event, not two):
 * its flags follow read_paused and write_armed, and are only re-registered
 * when they change, which on the hot path is never. */
static void update_events(link_t *l)
{
	if (!l->attached)
		return;
	/* A transport write waiting for readability must not spin on a
	 * writable socket, and it needs reading on even while paused. */
	bool rd = !l->read_paused || l->tp_write_wants_read;
	bool wr = (l->write_armed && !l->tp_write_wants_read) || l->tp_read_wants_write;
	short want = (short)((rd ? EV_READ : 0) | (wr ? EV_WRITE : 0));
	if (want == l->ev_flags)
		return;
	if (l->ev_flags)
		event_del(&l->ev);
	l->ev_flags = want;
	if (want) {
		event_assign(&l->ev, l->worker->base, l->fd, (short)(want | EV_PERSIST),
			     l->tp->pending ? buffered_event_cb : event_cb, l);
		event_add(&l->ev, NULL);
	}
}

void link_update_events(link_t *l)
{
	update_events(l);
}

static void handle_writable(link_t *l)
{
	l->write_armed = false;
	bool ok = link_flush(l); /* re-arms if the socket is still full */
	update_events(l);
	if (!ok) {
		/* The owner learns about the failure on its next read (EOF/error). */
		if (!l->read_paused)
			l->on_read(l);
		return;
	}
	if (link_out_pending(l) == 0 && l->on_drain)
		l->on_drain(l);
}

static void event_cb(evutil_socket_t fd, short what, void *arg)
{
	link_t *l = arg;
	l->worker->now = clock_mono_usec();
	if (what & EV_WRITE) {
		handle_writable(l);
		/* The drain handler may have closed or moved the connection. */
		if (!l->attached || l->fd != fd || l->read_paused)
			return;
	}
	if (what & EV_READ)
		l->on_read(l);
}

/* Wakes the owner's read handler in this loop turn for bytes the transport
 * holds, which the socket will not signal. */
static void kick_pending(link_t *l)
{
	if (l->attached && !l->read_paused && l->ev_flags && l->tp->pending && l->tp->pending(l))
		event_active(&l->ev, EV_READ, 0);
}

/* For transports that buffer (TLS): a read may wait for writability, a
 * write for readability, and decrypted bytes may wait in the transport. */
static void buffered_event_cb(evutil_socket_t fd, short what, void *arg)
{
	link_t *l = arg;
	l->worker->now = clock_mono_usec();
	bool readable = (what & EV_READ) != 0, writable = (what & EV_WRITE) != 0;
	bool do_read = readable || (writable && l->tp_read_wants_write);
	bool do_write = (writable && l->write_armed) || (readable && l->tp_write_wants_read);
	if (writable)
		l->tp_read_wants_write = false;
	if (readable)
		l->tp_write_wants_read = false;
	update_events(l);
	if (do_write) {
		handle_writable(l);
		if (!l->attached || l->fd != fd)
			return;
	}
	if (do_read && !l->read_paused)
		l->on_read(l);
	if (l->fd == fd)
		kick_pending(l);
}

void link_set_transport(link_t *l, const transport_ops_t *tp, void *ctx)
{
	l->tp = tp;
	l->tp_ctx = ctx;
	l->tp_read_wants_write = l->tp_write_wants_read = false;
	/* The event handler depends on the transport: register afresh. */
	if (l->attached && l->ev_flags) {
		event_del(&l->ev);
		l->ev_flags = 0;
	}
	update_events(l);
}

bool link_has_buffered(const link_t *l)
{
	return link_out_pending(l) || (l->in && iobuf_len(l->in)) || l->tp_read_wants_write ||
	       l->tp_write_wants_read || (l->tp->pending && l->tp->pending(l));
}

void link_init(link_t *l, int fd, void *owner, void (*on_read)(link_t *), void (*on_drain)(link_t *))
{
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	l->tp = &transport_plain;
	l->owner = owner;
	l->on_read = on_read;
	l->on_drain = on_drain;
}

void link_attach(link_t *l, worker_t *w)
{
	l->worker = w;
	l->attached = true;
	l->write_armed = false;
	l->tp_read_wants_write = l->tp_write_wants_read = false;
	l->ev_flags = 0;
	update_events(l);
	if (link_out_pending(l))
		link_flush(l);
}

void link_detach(link_t *l)
{
	if (!l->attached)
		return;
	if (l->ev_flags)
		event_del(&l->ev);
	l->ev_flags = 0;
	l->attached = false;
	l->write_armed = false;
}

void link_release_buffers(link_t *l)
{
	if (!l->worker)
		return;
	if (l->in && iobuf_len(l->in) == 0) {
		iobuf_put(&l->worker->bufs, l->in);
		l->in = NULL;
	}
	if (l->out && iobuf_len(l->out) == 0) {
		iobuf_put(&l->worker->bufs, l->out);
		l->out = NULL;
	}
	if (l->spill && l->spill_off == l->spill_len) {
		free(l->spill);
		l->spill = NULL;
		l->spill_len = l->spill_off = l->spill_cap = 0;
	}
}

void link_trim_input(link_t *l)
{
	if (l->in && iobuf_len(l->in) == 0 && l->worker && !l->keeps_buffers) {
		iobuf_put(&l->worker->bufs, l->in);
		l->in = NULL;
	}
}

void link_close(link_t *l)
{
	link_detach(l);
	if (l->fd >= 0) {
		l->tp->close(l);
		l->tp = &transport_plain;
		l->tp_ctx = NULL;
		close(l->fd);
		l->fd = -1;
	}
	if (l->worker) {
		if (l->in)
			iobuf_put(&l->worker->bufs, l->in);
		if (l->out)
			iobuf_put(&l->worker->bufs, l->out);
	}
	l->in = l->out = NULL;
	free(l->spill);
	l->spill = NULL;
	l->spill_len = l->spill_off = l->spill_cap = 0;
}

link_read_t link_read(link_t *l)
{
	if (!l->in)
		l->in = iobuf_get(&l->worker->bufs);
	iobuf_t *b = l->in;
	if (iobuf_tail_room(b) == 0)
		iobuf_compact(b);
	size_t room = iobuf_tail_room(b);
	if (room == 0)
		return LINK_READ_AGAIN;
	ssize_t n = l->tp->read(l, b->data + b->end, room);
	if (n > 0) {
		b->end += (uint32_t)n;
		return LINK_READ_OK;
	}
	if (n == 0)
		return LINK_READ_EOF;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return LINK_READ_AGAIN;
	return LINK_READ_ERROR;
}

void link_pause_read(link_t *l)
{
	if (l->read_paused)
		return;
	l->read_paused = true;
	update_events(l);
}

void link_resume_read(link_t *l)
{
	if (!l->read_paused)
		return;
	l->read_paused = false;
	update_events(l);
	kick_pending(l);
}

size_t link_out_room(link_t *l, uint8_t **at)
{
	if (l->spill_len > l->spill_off)
		return 0;
	if (!l->out)
		l->out = iobuf_get(&l->worker->bufs);
	if (iobuf_tail_room(l->out) < IOBUF_SIZE / 4)
		iobuf_compact(l->out);
	*at = l->out->data + l->out->end;
	return iobuf_tail_room(l->out);
}

void link_out_commit(link_t *l, size_t n)
{
	l->out->end += (uint32_t)n;
}

static void spill_append(link_t *l, const uint8_t *data, size_t n)
{
	if (l->spill_off > 0 && l->spill_off == l->spill_len)
		l->spill_off = l->spill_len = 0;
	if (l->spill_len + n > l->spill_cap) {
		size_t cap = l->spill_cap ? l->spill_cap : 4096;
		while (cap < l->spill_len + n)
			cap *= 2;
		l->spill = xrealloc(l->spill, cap);
		l->spill_cap = (uint32_t)cap;
	}
	memcpy(l->spill + l->spill_len, data, n);
	l->spill_len += (uint32_t)n;
}

void link_write(link_t *l, const void *data, size_t n)
{
	const uint8_t *p = data;
	uint8_t *at;
	size_t room = link_out_room(l, &at);
	size_t now = MIN(room, n);
	if (now) {
		memcpy(at, p, now);
		link_out_commit(l, now);
	}
	if (n > now)
		spill_append(l, p + now, n - now);
}

size_t link_out_pending(const link_t *l)
{
	return (l->out ? iobuf_len(l->out) : 0) + (l->spill_len - l->spill_off);
}

void link_out_discard(link_t *l)
{
	if (l->out)
		l->out->start = l->out->end = 0;
	l->spill_off = l->spill_len = 0;
}

void link_arm_write(link_t *l)
{
	if (!l->write_armed && l->attached) {
		l->write_armed = true;
		update_events(l);
	}
}

/* Sends from one region; returns bytes sent, or -1 on a socket error. */
static ssize_t send_region(link_t *l, const uint8_t *p, size_t n)
{
	size_t sent = 0;
	while (sent < n) {
		ssize_t r = l->tp->write(l, p + sent, n - sent);
		if (r > 0) {
			sent += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		return -1;
	}
	return (ssize_t)sent;
}

bool link_flush(link_t *l)
{
	if (l->fd < 0)
		return false;
	if (l->out && iobuf_len(l->out)) {
		size_t n = iobuf_len(l->out);
		ssize_t r = send_region(l, iobuf_head(l->out), n);
		if (r < 0)
			return false;
		iobuf_consume(l->out, (size_t)r);
		if ((size_t)r < n) {
			link_arm_write(l);
			return true;
		}
	}
	if (l->spill_len > l->spill_off) {
		size_t n = l->spill_len - l->spill_off;
		ssize_t r = send_region(l, l->spill + l->spill_off, n);
		if (r < 0)
			return false;
		l->spill_off += (uint32_t)r;
		if ((size_t)r < n) {
			link_arm_write(l);
			return true;
		}
		l->spill_off = l->spill_len = 0;
	}
	/* Everything went out: an idle connection holds no output buffer. */
	if (l->out && iobuf_len(l->out) == 0 && l->worker && !l->keeps_buffers) {
		iobuf_put(&l->worker->bufs, l->out);
		l->out = NULL;
	}
	return true;
}

/*
 * link.h - one socket: its events on a worker's loop, its input buffer, its
 * output queue, and the transport (plain TCP/unix now; TLS and WebSocket slot
 * in behind the same small ops table; TLS is in tls.c).
 *
 * Reading: link_read() appends what the socket has to `in`.
 * Writing: link_write() queues bytes (in `out`, spilling to a heap buffer
 * only when generated output does not fit); relayed data uses
 * link_out_room()/link_out_commit() so that a full peer pauses its source
 * instead of growing. link_flush() sends what is queued with one syscall
 * where possible and arms the write event when the socket is full.
 */
#ifndef PGTIDE_LINK_H
#define PGTIDE_LINK_H

#include <event2/event_struct.h>

#include "common.h"
#include "iobuf.h"

struct worker;
struct link;

typedef struct transport_ops {
	const char *name;
	ssize_t (*read)(struct link *l, void *buf, size_t n);
	ssize_t (*write)(struct link *l, const void *buf, size_t n);
	void (*close)(struct link *l);
	/* Bytes the transport has read and decrypted but not handed out yet
	 * (the socket will not signal them); NULL for plain sockets. A
	 * transport with this op gets the event handler that copes with it
	 * and with reads that must wait for writability (and the reverse). */
	bool (*pending)(const struct link *l);
} transport_ops_t;

extern const transport_ops_t transport_plain;

typedef enum {
	LINK_READ_OK = 1,      /* some bytes were added to `in` */
	LINK_READ_AGAIN = 0,   /* nothing to read now (or `in` is full) */
	LINK_READ_EOF = -1,    /* the peer closed */
	LINK_READ_ERROR = -2,  /* the socket failed */
} link_read_t;

typedef struct link {
	int fd;
	struct worker *worker;
	const transport_ops_t *tp;
	void *tp_ctx;
	struct event ev;          /* read and/or write, per ev_flags */
	short ev_flags;           /* EV_READ/EV_WRITE currently registered */
	iobuf_t *in, *out;
	uint8_t *spill;           /* generated output that did not fit in `out` */
	uint32_t spill_len, spill_off, spill_cap;
	bool attached;            /* events assigned on worker->base */
	bool read_paused;
	bool write_armed;
	bool tp_read_wants_write; /* the transport's read waits for writability */
	bool tp_write_wants_read; /* the transport's write waits for readability */
	/* Keeps its buffers when they empty (server connections: few and busy,
	 * so taking and returning two buffers per transaction is pure cost);
	 * link_release_buffers still gives them back. */
	bool keeps_buffers;
	void *owner;
	void (*on_read)(struct link *l);
	void (*on_drain)(struct link *l); /* queued output all sent after a stall */
} link_t;

void link_init(link_t *l, int fd, void *owner, void (*on_read)(link_t *), void (*on_drain)(link_t *));
/* Registers the socket on w's loop (reading on). */
void link_attach(link_t *l, struct worker *w);
/* Removes the socket from its loop; buffers must be empty to move it to
 * another worker (link_release_buffers first). */
void link_detach(link_t *l);
void link_close(link_t *l);
/* Switches the transport (e.g. to TLS after SSLRequest); nothing may be
 * buffered in either direction. */
void link_set_transport(link_t *l, const transport_ops_t *tp, void *ctx);
/* Re-registers the event after tp_*_wants_* changed (transports call it). */
void link_update_events(link_t *l);
/* Whether anything is buffered in the link or its transport (a server may
 * move to another worker only when nothing is). */
bool link_has_buffered(const link_t *l);

link_read_t link_read(link_t *l);
/* Waits for writability (also how a non-blocking connect completes). */
void link_arm_write(link_t *l);
void link_pause_read(link_t *l);
void link_resume_read(link_t *l);

/* Free contiguous room at the tail of `out` (allocating it on demand); 0 when
 * generated output is spilled and must drain first. */
size_t link_out_room(link_t *l, uint8_t **at);
void link_out_commit(link_t *l, size_t n);
/* Queues bytes; never fails (spills to the heap when `out` is full). */
void link_write(link_t *l, const void *data, size_t n);
/* Bytes queued and not yet sent. */
size_t link_out_pending(const link_t *l);
/* Drops all queued output (nothing of it may have been sent). */
void link_out_discard(link_t *l);
/* Sends queued output. Returns false if the socket failed. */
bool link_flush(link_t *l);
/* Gives empty buffers back to the worker's cache (idle connections hold none). */
void link_release_buffers(link_t *l);
/* Frees the input buffer once everything in it is consumed. */
void link_trim_input(link_t *l);

#endif

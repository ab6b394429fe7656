/* channel.h - framed byte streams (channel.c). Part of internal.h, which
 * includes it where the declarations it relies on stand; include internal.h,
 * not this. */
#ifndef AX_CHANNEL_H
#define AX_CHANNEL_H

typedef struct ax__chan ax__chan;
typedef struct ax__chunk ax__chunk;
typedef int (*ax__frame_cb)(ax__chan *ch, const uint8_t *msg, size_t len);
typedef void (*ax__closed_cb)(ax__chan *ch, int status);
/* The owner's frames given a few at a time (a peer's parts): queue some,
 * all of them when all is set; return whether more remain. */
typedef int (*ax__fill_cb)(ax__chan *ch, int all);

/* The write queue's default marks: a task that wants to send while more
 * than the high mark is queued waits until less than the low mark is. */
#define AX__CHAN_HIGH_WATER (8u << 20)
#define AX__CHAN_LOW_WATER (2u << 20)

struct ax__chan {
  uv_stream_t *stream;   /* any libuv stream; the channel owns it */
  char *rbuf;
  size_t rlen, rcap;
  ax__chunk *whead, *wtail; /* output not yet handed to the stream */
  ax__chunk *spare;      /* an emptied chunk kept for reuse */
  size_t wqueued;        /* bytes committed and not yet written */
  size_t held;           /* bytes its owner holds for it (a peer's parts) */
  size_t high_water, low_water;
  ax__list writers;      /* tasks waiting for the queue to drain */
  size_t max_frame;
  int writes_pending;
  int closing;
  int status;            /* why it closed: 0 (EOF), AX_EPROTO, AX_EIO... */
  ax__list dirty_link;
  ax__frame_cb on_frame;
  ax__closed_cb on_closed;  /* after the handle is closed; may free ch */
  /* While set, called before each write round: what it queues goes out
   * in that round, and the channel comes round again as long as it has
   * more (set it with ax__chan_fill). A clean close takes all of it. */
  ax__fill_cb fill;
  void *data;
};

/* A channel on a stream initialized on the runtime's loop and allocated
 * with malloc: pipe, Unix socket or TCP. The channel owns it from here on,
 * also on failure, and closes and frees it. */
int ax__chan_open_stream(ax__chan *ch, uv_stream_t *s, ax__frame_cb on_frame,
                         ax__closed_cb on_closed, void *data);
/* A channel on a connected socket or pipe fd (a socketpair end). */
int ax__chan_open(ax__chan *ch, int fd, ax__frame_cb on_frame,
                  ax__closed_cb on_closed, void *data);
/* Room for a frame body of up to max bytes, written in place and then
 * queued by ax__chan_commit with its real length (AX_EMSGSIZE over the
 * maximum frame, and then nothing is queued). NULL: closed, or no memory. */
uint8_t *ax__chan_reserve(ax__chan *ch, size_t max);
int ax__chan_commit(ax__chan *ch, size_t len);
void ax__chan_flush(ax__chan *ch);
/* Give the channel a source of frames (NULL: none): it is flushed this
 * round, and again each round while fill says more remain. */
void ax__chan_fill(ax__chan *ch, ax__fill_cb fill);
/* Read and dispatch what is already in the socket, without waiting: what
 * a peer wrote just before it died must not be lost. */
void ax__chan_drain(ax__chan *ch);
void ax__chan_flush_all(void);
/* Close (idempotent); on_closed runs later with status. Tasks waiting to
 * write get AX_ECLOSED. */
void ax__chan_close(ax__chan *ch, int status);
int ax__chan_wait_writable_slow(ax__chan *ch, int large);
/* Whether a sender must wait: more than the high mark is queued; for a
 * large message (one the owner sends in parts, large set), counting what
 * the owner holds for later (ch->held) too. So small messages still pass
 * a large one in transfer, and large ones wait for each other. */
static inline int ax__chan_full(const ax__chan *ch, int large) {
  return ch->wqueued + (large ? ch->held : 0) > ch->high_water;
}
/* The owner no longer holds n bytes it counted in ch->held (dropped, not
 * sent): waiting senders may go on. */
void ax__chan_unhold(ax__chan *ch, size_t n);
/* Wake every task waiting to send, as if the queue had drained: each
 * looks again at what it waits for (one whose stream is gone ends). */
void ax__chan_wake_writers(ax__chan *ch);
/* Backpressure, for a task about to send on ch (large: see
 * ax__chan_full): 0 at once while no more than the high mark is queued,
 * else wait until less than the low mark is (AX_ECANCELED when the task is cancelled meanwhile, AX_ECLOSED when
 * the channel closes). Outside a task it returns 0 at once: the loop never
 * blocks, so for it the mark is soft and it queues anyway. Only blocking
 * functions call it; completion forms never wait. */
static inline int ax__chan_wait_writable(ax__chan *ch, int large) {
  return !ax__chan_full(ch, large) ? 0 : ax__chan_wait_writable_slow(ch, large);
}
/* Frame codec, exposed for unit tests. Returns the number of bytes of
 * the first whole frame in buf (4 + n) and points *msg at it, 0 if more
 * bytes are needed, AX_EMSGSIZE if the header announces more than max. */
long ax__frame_next(const uint8_t *buf, size_t len, size_t max,
                    const uint8_t **msg, size_t *msglen);

#endif

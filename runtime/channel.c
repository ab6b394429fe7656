/* channel.c - a byte stream carrying frames: a 4-byte big-endian length,
 * then that many bytes of one msgpack message. The stream is any libuv
 * stream (pipe, Unix socket, TCP). Output is encoded straight into chunks
 * and flushed once per loop iteration as one vectored write, so a burst of
 * messages costs one write and no copy. The bytes queued and not yet
 * written are counted: above a high mark, tasks that send wait until the
 * queue drains below a low mark. A frame over the maximum size closes the
 * channel, and only it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define READ_CHUNK (64u << 10)
/* Output chunks: this size, or one frame's size if larger. */
#define CHUNK_SIZE (16u << 10)
/* Chunks handed to the stream in one write without allocating the list. */
#define IOV_STACK 16

struct ax__chunk {
  ax__chunk *next;
  size_t len, cap;
  char data[];
};

/* One uv_write of a run of chunks, which it owns until its callback. */
typedef struct write_req {
  uv_write_t req;
  ax__chunk *chunks;
  size_t bytes; /* counted in wqueued until written */
} write_req;

/* A task waiting for the write queue to drain. */
typedef struct chan_writer {
  ax__wait w;
  ax__list link;
  int status;
  int large; /* its message goes in parts: it also waits on ch->held */
} chan_writer;

long ax__frame_next(const uint8_t *buf, size_t len, size_t max,
                    const uint8_t **msg, size_t *msglen) {
  if (len < 4) return 0;
  uint32_t n = ((uint32_t)buf[0] << 24) | ((uint32_t)buf[1] << 16) |
               ((uint32_t)buf[2] << 8) | (uint32_t)buf[3];
  if (n > max) return AX_EMSGSIZE;
  if (len - 4 < n) return 0;
  *msg = buf + 4;
  *msglen = n;
  return (long)(4 + (size_t)n);
}

/* ------------------------------------------------------------ reading */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  ax__chan *ch = h->data;
  (void)suggested;
  if (ch->rcap - ch->rlen < READ_CHUNK) {
    size_t cap = ch->rcap ? ch->rcap : READ_CHUNK;
    while (cap - ch->rlen < READ_CHUNK) cap *= 2;
    char *p = ax__mem_realloc(ch->rbuf, cap);
    if (!p) {
      buf->base = NULL;
      buf->len = 0;
      return;
    }
    ch->rbuf = p;
    ch->rcap = cap;
  }
  buf->base = ch->rbuf + ch->rlen;
  buf->len = ch->rcap - ch->rlen;
}

/* Hand every whole frame in the buffer to on_frame; keep the rest. */
static void parse_frames(ax__chan *ch) {
  size_t off = 0;
  while (!ch->closing) {
    const uint8_t *msg;
    size_t mlen;
    long r = ax__frame_next((const uint8_t *)ch->rbuf + off, ch->rlen - off,
                            ch->max_frame, &msg, &mlen);
    if (r == 0) break;
    if (r < 0) {
      ax_log(AX_LOG_ERROR,
             "protocol error: frame larger than the maximum of %zu bytes; "
             "closing the channel", ch->max_frame);
      ax__chan_close(ch, AX_EPROTO);
      break;
    }
    off += (size_t)r;
    int rc = ch->on_frame(ch, msg, mlen);
    if (rc < 0) {
      if (rc == AX_ENOMEM)
        ax_log(AX_LOG_ERROR,
               "channel: out of memory for input; closing the channel");
      else
        ax_log(AX_LOG_ERROR,
               "protocol error: malformed message; closing the channel");
      ax__chan_close(ch, AX_EPROTO);
      break;
    }
  }
  if (ch->closing) {
    ch->rlen = 0;
    return;
  }
  memmove(ch->rbuf, ch->rbuf + off, ch->rlen - off);
  ch->rlen -= off;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  ax__chan *ch = s->data;
  (void)buf;
  if (nread == 0) return;
  if (nread == UV_ENOBUFS) {
    ax_log(AX_LOG_ERROR, "channel: out of memory for input");
    ax__chan_close(ch, AX_ENOMEM);
    return;
  }
  if (nread < 0) {
    ax__chan_close(ch, nread == UV_EOF ? 0 : AX_EIO);
    return;
  }
  ch->rlen += (size_t)nread;
  parse_frames(ch);
}

void ax__chan_drain(ax__chan *ch) {
  /* libuv 1.44 has no uv_try_read, and uv_read_start only delivers on the
   * next poll, too late for an exit being judged now. So read the fd
   * itself, non-blocking as libuv set it: pipes, Unix sockets and TCP all
   * have one, and what is read goes through the same parser. */
  uv_os_fd_t fd;
  if (ch->closing || uv_fileno((uv_handle_t *)ch->stream, &fd) != 0) return;
  while (!ch->closing) {
    uv_buf_t b;
    on_alloc((uv_handle_t *)ch->stream, 0, &b);
    if (!b.base) return;
    ssize_t n = read(fd, b.base, b.len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return; /* EOF, EAGAIN or error: the reader will see it */
    ch->rlen += (size_t)n;
    parse_frames(ch);
  }
}

/* ------------------------------------------------------------ opening */

static void free_handle(uv_handle_t *h) { free(h); }

int ax__chan_open_stream(ax__chan *ch, uv_stream_t *s, ax__frame_cb on_frame,
                         ax__closed_cb on_closed, void *data) {
  memset(ch, 0, sizeof *ch);
  ax__list_init(&ch->dirty_link);
  ax__list_init(&ch->writers);
  ch->stream = s;
  ch->on_frame = on_frame;
  ch->on_closed = on_closed;
  ch->data = data;
  ch->max_frame = ax__rt_g->max_frame;
  ch->high_water = AX__CHAN_HIGH_WATER;
  ch->low_water = AX__CHAN_LOW_WATER;
  s->data = ch;
  if (uv_read_start(s, on_alloc, on_read) != 0) {
    ch->closing = 1;
    uv_close((uv_handle_t *)s, free_handle);
    return AX_EIO;
  }
  return 0;
}

int ax__chan_open(ax__chan *ch, int fd, ax__frame_cb on_frame,
                  ax__closed_cb on_closed, void *data) {
  uv_pipe_t *p = malloc(sizeof *p);
  if (!p) return AX_ENOMEM;
  if (uv_pipe_init(AX__LOOP, p, 0) != 0) {
    free(p);
    return AX_EIO;
  }
  if (uv_pipe_open(p, fd) != 0) {
    memset(ch, 0, sizeof *ch);
    ch->closing = 1;
    uv_close((uv_handle_t *)p, free_handle);
    return AX_EIO;
  }
  return ax__chan_open_stream(ch, (uv_stream_t *)p, on_frame, on_closed, data);
}

/* ------------------------------------------------------------ writing */

static void chunks_free(ax__chunk *c) {
  while (c) {
    ax__chunk *next = c->next;
    free(c);
    c = next;
  }
}

/* Keep one chunk of the usual size for the next burst; free the rest. */
static void chunks_release(ax__chan *ch, ax__chunk *c) {
  while (c) {
    ax__chunk *next = c->next;
    if (!ch->spare && c->cap == CHUNK_SIZE && !ch->closing) {
      c->len = 0;
      c->next = NULL;
      ch->spare = c;
    } else {
      free(c);
    }
    c = next;
  }
}

/* Wake the waiting tasks: all of them with an error status; with 0, each
 * whose backlog is below the low mark (the queue's, and for a large
 * message also what the owner holds). */
static void wake_writers(ax__chan *ch, int status) {
  ax__list_each(it, &ch->writers) {
    chan_writer *cw = ax__container_of(it, chan_writer, link);
    size_t backlog = ch->wqueued + (cw->large ? ch->held : 0);
    if (status == 0 && backlog >= ch->low_water) continue;
    ax__list_remove(&cw->link);
    cw->status = status;
    ax__wait_done(&cw->w);
  }
}

/* Bytes left the queue: let waiting tasks go once it is low enough. */
static inline void dequeued(ax__chan *ch, size_t n) {
  ch->wqueued -= n;
  if (!ax__list_empty(&ch->writers) && ch->wqueued < ch->low_water)
    wake_writers(ch, 0);
}

void ax__chan_wake_writers(ax__chan *ch) {
  ax__list_each(it, &ch->writers) {
    chan_writer *cw = ax__container_of(it, chan_writer, link);
    ax__list_remove(&cw->link);
    cw->status = 0;
    ax__wait_done(&cw->w);
  }
}

void ax__chan_unhold(ax__chan *ch, size_t n) {
  ch->held -= n;
  dequeued(ch, 0);
}

static uint8_t *reserve_slow(ax__chan *ch, size_t need) {
  ax__chunk *t = ch->wtail;
  if (t && t->len == 0 && ch->whead == t) {
    /* Nothing committed in it yet: replace it by a big enough one. */
    ax__chunk *c = ax__mem_realloc(t, sizeof *c + need);
    if (!c) return NULL;
    c->cap = need;
    ch->whead = ch->wtail = c;
    return (uint8_t *)c->data + 4;
  }
  ax__chunk *c = NULL;
  if (need <= CHUNK_SIZE && ch->spare) {
    c = ch->spare;
    ch->spare = NULL;
  } else {
    size_t cap = need > CHUNK_SIZE ? need : CHUNK_SIZE;
    c = ax__mem_alloc(sizeof *c + cap);
    if (!c) return NULL;
    c->cap = cap;
  }
  c->len = 0;
  c->next = NULL;
  if (t)
    t->next = c;
  else
    ch->whead = c;
  ch->wtail = c;
  return (uint8_t *)c->data + 4;
}

uint8_t *ax__chan_reserve(ax__chan *ch, size_t max) {
  if (ch->closing) return NULL;
  ax__chunk *t = ch->wtail;
  if (t && t->cap - t->len >= max + 4)
    return (uint8_t *)t->data + t->len + 4;
  return reserve_slow(ch, max + 4);
}

int ax__chan_commit(ax__chan *ch, size_t len) {
  if (ch->closing) return AX_ECLOSED;
  if (len > ch->max_frame || len > UINT32_MAX) return AX_EMSGSIZE;
  ax__chunk *t = ch->wtail;
  uint8_t *w = (uint8_t *)t->data + t->len;
  w[0] = (uint8_t)(len >> 24);
  w[1] = (uint8_t)(len >> 16);
  w[2] = (uint8_t)(len >> 8);
  w[3] = (uint8_t)len;
  t->len += len + 4;
  ch->wqueued += len + 4;
  if (ax__list_empty(&ch->dirty_link))
    ax__list_push(&ax__rt_g->dirty, &ch->dirty_link);
  return 0;
}

/* A write failed: the peer has gone (EPIPE, a reset). What it sent
 * before it went is still in our socket, its last error or reply among
 * it: read that first, then close. */
static void write_failed(ax__chan *ch) {
  if (ch->closing) return;
  ax__chan_drain(ch);
  if (!ch->closing) ax__chan_close(ch, AX_EIO);
}

static void on_written(uv_write_t *req, int status) {
  write_req *r = (write_req *)req;
  ax__chan *ch = req->handle->data;
  ch->writes_pending--;
  chunks_release(ch, r->chunks);
  size_t n = r->bytes;
  free(r);
  dequeued(ch, n);
  if (status < 0 && status != UV_ECANCELED)
    write_failed(ch);
  else if (ch->fill && !ch->closing && ax__list_empty(&ch->dirty_link))
    /* Room again: the owner's source gives more this round. */
    ax__list_push(&ax__rt_g->dirty, &ch->dirty_link);
}

/* Drop the unflushed output (the channel is failing). */
static void drop_output(ax__chan *ch) {
  ax__chunk *c = ch->whead;
  size_t n = 0;
  for (ax__chunk *x = c; x; x = x->next) n += x->len;
  ch->whead = ch->wtail = NULL;
  chunks_free(c);
  ch->wqueued -= n;
}

static void flush_failed(ax__chan *ch, int status) {
  drop_output(ch);
  if (status == AX_EIO)
    write_failed(ch);
  else if (!ch->closing)
    ax__chan_close(ch, status);
}

/* Hand the queued chunks to the stream: what a uv_try_write (unless one
 * already ran and wrote off bytes, or writes are in flight) does not take
 * goes to one uv_write of the chunks themselves. */
static void flush_chunks(ax__chan *ch, size_t off, int tried) {
  ax__chunk *head = ch->whead;
  uv_buf_t stackbufs[IOV_STACK], *bufs = stackbufs;
  size_t nbufs = 0, total = 0;
  for (ax__chunk *c = head; c; c = c->next) nbufs++;
  if (nbufs > IOV_STACK && !(bufs = malloc(nbufs * sizeof *bufs))) {
    flush_failed(ch, AX_ENOMEM);
    return;
  }
  nbufs = 0;
  for (ax__chunk *c = head; c; c = c->next) {
    if (c->len) bufs[nbufs++] = uv_buf_init(c->data, (unsigned)c->len);
    total += c->len;
  }
  if (!tried && ch->writes_pending == 0 && nbufs) {
    int n = uv_try_write(ch->stream, bufs, (unsigned)nbufs);
    if (n >= 0) {
      off = (size_t)n;
    } else if (n != UV_EAGAIN) {
      if (bufs != stackbufs) free(bufs);
      flush_failed(ch, AX_EIO);
      return;
    }
  }
  if (off == total) {
    if (bufs != stackbufs) free(bufs);
    if (head->cap == CHUNK_SIZE) {
      chunks_release(ch, head->next);
      head->next = NULL;
      head->len = 0;
      ch->wtail = head;
    } else {
      chunks_release(ch, head); /* a big frame's chunk is not kept */
      ch->whead = ch->wtail = NULL;
    }
    dequeued(ch, total);
    return;
  }
  write_req *r = malloc(sizeof *r);
  if (!r) {
    if (bufs != stackbufs) free(bufs);
    flush_failed(ch, AX_ENOMEM);
    return;
  }
  size_t skip = off, i = 0;
  while (skip >= bufs[i].len) skip -= bufs[i++].len;
  bufs[i].base += skip;
  bufs[i].len -= skip;
  r->chunks = head;
  r->bytes = total - off;
  ch->whead = ch->wtail = NULL;
  int rc = uv_write(&r->req, ch->stream, bufs + i, (unsigned)(nbufs - i),
                    on_written);
  if (bufs != stackbufs) free(bufs); /* uv_write copied the list */
  if (rc != 0) {
    chunks_free(r->chunks);
    ch->wqueued -= total;
    free(r);
    if (!ch->closing) ax__chan_close(ch, AX_EIO);
    return;
  }
  ch->writes_pending++;
  dequeued(ch, off);
}

/* Hand what is queued to the stream. */
static inline void write_out(ax__chan *ch) {
  ax__chunk *head = ch->whead;
  if (!head || uv_is_closing((uv_handle_t *)ch->stream)) return;
  if (head->next || ch->writes_pending || head->cap != CHUNK_SIZE) {
    flush_chunks(ch, 0, 0);
    return;
  }
  /* The usual case, kept lean: one chunk, nothing in flight, written at
   * once; the chunk stays for the next burst. */
  uv_buf_t b;
  b.base = head->data;
  b.len = head->len;
  int n = uv_try_write(ch->stream, &b, 1);
  if ((size_t)n == head->len) {
    head->len = 0;
    dequeued(ch, (size_t)n);
  } else if (n >= 0 || n == UV_EAGAIN) {
    flush_chunks(ch, n > 0 ? (size_t)n : 0, 1);
  } else {
    flush_failed(ch, AX_EIO);
  }
}

/* A round of the owner's source, then the write. A source with more to
 * give comes round again: when a write in flight ends, or else next
 * round (flush_all puts it back on the dirty list then). */
static void flush_filling(ax__chan *ch) {
  if (!ch->closing && !ch->fill(ch, 0)) ch->fill = NULL;
  if (ch->closing) return;
  /* What it queued goes in this write, not in another round. */
  ax__list_remove(&ch->dirty_link);
  write_out(ch);
  if (ch->fill && !ch->closing && ch->writes_pending == 0 &&
      ax__list_empty(&ch->dirty_link)) {
    ax__list_push(&ax__rt_g->refill, &ch->dirty_link);
    ax__keep_polling();
  }
}

void ax__chan_flush(ax__chan *ch) {
  ax__list_remove(&ch->dirty_link);
  if (ch->fill) {
    flush_filling(ch);
    return;
  }
  write_out(ch);
}

void ax__chan_fill(ax__chan *ch, ax__fill_cb fill) {
  ch->fill = ch->closing ? NULL : fill;
  if (ch->fill && ax__list_empty(&ch->dirty_link))
    ax__list_push(&ax__rt_g->dirty, &ch->dirty_link);
}

void ax__chan_flush_all(void) {
  if (!ax__rt_g) return;
  ax__list_each(it, &ax__rt_g->dirty) {
    ax__chan_flush(ax__container_of(it, ax__chan, dirty_link));
  }
  /* One round each: a source with more waits for the next one. */
  while (!ax__list_empty(&ax__rt_g->refill)) {
    ax__list *it = ax__rt_g->refill.next;
    ax__list_remove(it);
    ax__list_push(&ax__rt_g->dirty, it);
  }
}

/* ------------------------------------------------------- backpressure */

static void writer_abort(ax__wait *w) {
  chan_writer *cw = ax__container_of(w, chan_writer, w);
  ax__list_remove(&cw->link);
  cw->status = AX_ECANCELED;
  ax__wait_done(w);
}

int ax__chan_wait_writable_slow(ax__chan *ch, int large) {
  if (ch->closing) return AX_ECLOSED;
  int rc = ax__can_block();
  if (rc == AX_ENOTASK) return 0; /* the loop queues anyway */
  if (rc < 0) return rc;
  chan_writer cw = {.w.abort = writer_abort, .large = large};
  ax__wait_about(&cw.w, "waiting to send (the channel is full)", NULL, NULL);
  ax__list_push(&ch->writers, &cw.link);
  ax__wait_for(&cw.w);
  return cw.status;
}

/* ------------------------------------------------------------ closing */

static void on_handle_closed(uv_handle_t *h) {
  ax__chan *ch = h->data;
  free(h);
  ch->stream = NULL;
  free(ch->rbuf);
  ch->rbuf = NULL;
  ch->rlen = ch->rcap = 0;
  drop_output(ch);
  free(ch->spare);
  ch->spare = NULL;
  if (ch->on_closed) ch->on_closed(ch, ch->status);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  ax__chan *ch = req->handle->data;
  (void)status;
  free(req);
  uv_close((uv_handle_t *)ch->stream, on_handle_closed);
}

void ax__chan_close(ax__chan *ch, int status) {
  if (ch->closing) return;
  if (ch->fill) {
    /* A clean close delivers the owner's frames still to give too. */
    ax__fill_cb fill = ch->fill;
    ch->fill = NULL;
    if (status == 0) fill(ch, 1);
    if (ch->closing) return; /* that failed, and closed it */
  }
  ch->closing = 1;
  ch->status = status;
  wake_writers(ch, AX_ECLOSED);
  uv_read_stop(ch->stream);
  /* A clean close still delivers what was queued (a last error, an ack). */
  if (status == 0) {
    ax__chan_flush(ch);
    if (ch->writes_pending > 0) {
      uv_shutdown_t *req = malloc(sizeof *req);
      if (req && uv_shutdown(req, ch->stream, on_shutdown) == 0) return;
      free(req);
    }
  }
  ax__list_remove(&ch->dirty_link);
  drop_output(ch);
  uv_close((uv_handle_t *)ch->stream, on_handle_closed);
}

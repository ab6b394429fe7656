/* channel.c - a byte stream carrying frames: a 4-byte big-endian length,
 * then that many bytes of one msgpack message. Output is buffered and
 * flushed once per loop iteration, so a burst of messages costs one write.
 * A frame over the maximum size closes the channel, and only it. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define READ_CHUNK (64u << 10)

typedef struct write_req {
  uv_write_t req;
  char data[];
} write_req;

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

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  ax__chan *ch = h->data;
  (void)suggested;
  if (ch->rcap - ch->rlen < READ_CHUNK) {
    size_t cap = ch->rcap ? ch->rcap : READ_CHUNK;
    while (cap - ch->rlen < READ_CHUNK) cap *= 2;
    char *p = realloc(ch->rbuf, cap);
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
    if (ch->on_frame(ch, msg, mlen) < 0) {
      ax_log(AX_LOG_ERROR, "protocol error: malformed message; closing the "
             "channel");
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
  uv_os_fd_t fd;
  if (ch->closing || uv_fileno((uv_handle_t *)&ch->pipe, &fd) != 0) return;
  while (!ch->closing) {
    uv_buf_t b;
    on_alloc((uv_handle_t *)&ch->pipe, 0, &b);
    if (!b.base) return;
    ssize_t n = read(fd, b.base, b.len);
    if (n <= 0) return; /* EOF, EAGAIN or error: the reader will see it */
    ch->rlen += (size_t)n;
    parse_frames(ch);
  }
}

int ax__chan_open(ax__chan *ch, int fd, ax__frame_cb on_frame,
                  ax__closed_cb on_closed, void *data) {
  memset(ch, 0, sizeof *ch);
  ax__list_init(&ch->dirty_link);
  ch->on_frame = on_frame;
  ch->on_closed = on_closed;
  ch->data = data;
  ch->max_frame = ax__rt_g->max_frame;
  if (uv_pipe_init(AX__LOOP, &ch->pipe, 0) != 0) return AX_EIO;
  ch->pipe.data = ch;
  if (uv_pipe_open(&ch->pipe, fd) != 0 ||
      uv_read_start((uv_stream_t *)&ch->pipe, on_alloc, on_read) != 0) {
    ch->closing = 1;
    uv_close((uv_handle_t *)&ch->pipe, NULL);
    return AX_EIO;
  }
  return 0;
}

uint8_t *ax__chan_reserve(ax__chan *ch, size_t max) {
  if (ch->closing) return NULL;
  if (ch->wcap - ch->wlen < max + 4) {
    size_t cap = ch->wcap ? ch->wcap : 4096;
    while (cap - ch->wlen < max + 4) cap *= 2;
    char *p = realloc(ch->wbuf, cap);
    if (!p) return NULL;
    ch->wbuf = p;
    ch->wcap = cap;
  }
  return (uint8_t *)ch->wbuf + ch->wlen + 4;
}

int ax__chan_commit(ax__chan *ch, size_t len) {
  if (ch->closing) return AX_ECLOSED;
  if (len > ch->max_frame || len > UINT32_MAX) return AX_EMSGSIZE;
  uint8_t *w = (uint8_t *)ch->wbuf + ch->wlen;
  w[0] = (uint8_t)(len >> 24);
  w[1] = (uint8_t)(len >> 16);
  w[2] = (uint8_t)(len >> 8);
  w[3] = (uint8_t)len;
  ch->wlen += len + 4;
  if (ax__list_empty(&ch->dirty_link))
    ax__list_push(&ax__rt_g->dirty, &ch->dirty_link);
  return 0;
}

int ax__chan_send(ax__chan *ch, const void *msg, size_t len) {
  if (ch->closing) return AX_ECLOSED;
  if (len > ch->max_frame || len > UINT32_MAX) return AX_EMSGSIZE;
  uint8_t *w = ax__chan_reserve(ch, len);
  if (!w) return AX_ENOMEM;
  if (len) memcpy(w, msg, len);
  return ax__chan_commit(ch, len);
}

static void on_written(uv_write_t *req, int status) {
  ax__chan *ch = req->handle->data;
  ch->writes_pending--;
  free(req);
  if (status < 0 && status != UV_ECANCELED && !ch->closing)
    ax__chan_close(ch, AX_EIO);
}

void ax__chan_flush(ax__chan *ch) {
  ax__list_remove(&ch->dirty_link);
  if (ch->wlen == 0 || uv_is_closing((uv_handle_t *)&ch->pipe)) return;
  size_t off = 0;
  if (ch->writes_pending == 0) {
    uv_buf_t b = uv_buf_init(ch->wbuf, (unsigned)ch->wlen);
    int n = uv_try_write((uv_stream_t *)&ch->pipe, &b, 1);
    if (n >= 0) {
      off = (size_t)n;
    } else if (n != UV_EAGAIN) {
      ch->wlen = 0;
      if (!ch->closing) ax__chan_close(ch, AX_EIO);
      return;
    }
  }
  if (off < ch->wlen) {
    size_t rest = ch->wlen - off;
    write_req *r = malloc(sizeof *r + rest);
    if (!r) {
      if (!ch->closing) ax__chan_close(ch, AX_ENOMEM);
      return;
    }
    memcpy(r->data, ch->wbuf + off, rest);
    uv_buf_t b = uv_buf_init(r->data, (unsigned)rest);
    if (uv_write(&r->req, (uv_stream_t *)&ch->pipe, &b, 1, on_written) != 0) {
      free(r);
      ch->wlen = 0;
      if (!ch->closing) ax__chan_close(ch, AX_EIO);
      return;
    }
    ch->writes_pending++;
  }
  ch->wlen = 0;
}

void ax__chan_flush_all(void) {
  if (!ax__rt_g) return;
  ax__list_each(it, &ax__rt_g->dirty) {
    ax__chan_flush(ax__container_of(it, ax__chan, dirty_link));
  }
}

static void on_handle_closed(uv_handle_t *h) {
  ax__chan *ch = h->data;
  free(ch->rbuf);
  free(ch->wbuf);
  ch->rbuf = ch->wbuf = NULL;
  ch->rlen = ch->rcap = ch->wlen = ch->wcap = 0;
  if (ch->on_closed) ch->on_closed(ch, ch->status);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  ax__chan *ch = req->handle->data;
  (void)status;
  free(req);
  uv_close((uv_handle_t *)&ch->pipe, on_handle_closed);
}

void ax__chan_close(ax__chan *ch, int status) {
  if (ch->closing) return;
  ch->closing = 1;
  ch->status = status;
  uv_read_stop((uv_stream_t *)&ch->pipe);
  /* A clean close still delivers what was queued (a last error, an ack). */
  if (status == 0) {
    ax__chan_flush(ch);
    if (ch->writes_pending > 0) {
      uv_shutdown_t *req = malloc(sizeof *req);
      if (req && uv_shutdown(req, (uv_stream_t *)&ch->pipe, on_shutdown) == 0)
        return;
      free(req);
    }
  }
  ax__list_remove(&ch->dirty_link);
  ch->wlen = 0;
  uv_close((uv_handle_t *)&ch->pipe, on_handle_closed);
}

/* stream.c - a context's stream: values both ways between its caller and
 * its callee, each direction with a credit window. A sender spends one
 * message and the value's bytes of its window per yield and waits when
 * it is used up; the receiver gives credit back as its user takes values
 * (not as they arrive), in batches of a quarter window. So a fast sender
 * never overruns a slow receiver, whose queue never holds more than its
 * window, and a stream waiting for credit holds up nothing else on its
 * channel. A value larger than the whole byte window goes when nothing
 * else is outstanding.
 *
 * The stream belongs to its context (context.c on the caller's side,
 * serve.c's ax_ctx on the callee's) and lives as long as it. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct ax_stream {
  ax__peer *peer; /* referenced */
  uint64_t cid;
  int caller; /* this side opened the context */
  int opened; /* the user opened it */
  int closed; /* the user closed it: values are dropped, credited */
  /* Receiving: a ring of the values the window let in. */
  ax_data **q;
  size_t qhead, qlen, qcap;
  uint64_t qbytes;
  uint64_t win_msgs, win_bytes;   /* the window this side grants */
  uint64_t used_msgs, used_bytes; /* taken since the last credit */
  int got_stop;
  int ended; /* the context ended: end_rc, end_err */
  int end_rc;
  ax_error *end_err;
  /* Sending. */
  int64_t credit_msgs, credit_bytes;
  uint64_t out_msgs; /* sent and not credited back */
  int sent_stop;
  ax__waiter rx, tx;
  ax_pack *tx_value; /* waiting for credit */
  int chan_waits;     /* sends waiting for the channel to drain */
  int freed;          /* freed while they wait: the last one frees it */
  /* What an upper layer hangs on it (broadcast.c: its subscribers),
   * which then takes its values, and frees with it. */
  void *ext;
  void (*ext_free)(void *ext);
};

static size_t pack_len(const ax_pack *p) {
  size_t n = 1; /* nil */
  if (p) ax_pack_bytes(p, &n);
  return n;
}

/* A yield of pack's bytes v (taken over when large), or a stop. */
static int send_msg(ax_stream *s, int type, const void *v, size_t len,
                    ax_pack *pack) {
  if (s->peer->state >= AX__PEER_CLOSING) return AX_ECLOSED;
  ax__msg m = {.type = type};
  AX__SET(&m, cid, s->cid);
  if (s->caller) AX__SET(&m, caller, 1);
  if (v) ax__msg_set_raw(&m, AX__F_value, v, len);
  return pack ? ax__peer_send_pack(s->peer, &m, AX__F_value, pack)
              : ax__peer_send(s->peer, &m);
}

static void send_credit(ax_stream *s) {
  if (!s->used_msgs || s->ended) return;
  ax__msg m = {.type = AX__M_CREDIT};
  AX__SET(&m, cid, s->cid);
  if (s->caller) AX__SET(&m, caller, 1);
  AX__SET(&m, msgs, s->used_msgs);
  AX__SET(&m, bytes, s->used_bytes);
  if (s->peer->state < AX__PEER_CLOSING) ax__peer_send(s->peer, &m);
  s->used_msgs = s->used_bytes = 0;
}

/* The user took (or dropped) a value of n bytes: credit it back once a
 * quarter window is due, so credit costs little next to the data. */
static void taken(ax_stream *s, uint64_t n) {
  s->used_msgs++;
  s->used_bytes += n;
  if (s->used_msgs >= s->win_msgs / 4 || s->used_bytes >= s->win_bytes / 4)
    send_credit(s);
}

ax_stream *ax__stream_new(ax__peer *peer, uint64_t cid, int caller) {
  ax_stream *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->peer = peer;
  peer->refs++;
  s->cid = cid;
  s->caller = caller;
  s->win_msgs = s->credit_msgs = AX__STREAM_WINDOW_MSGS;
  s->win_bytes = s->credit_bytes = AX__STREAM_WINDOW_BYTES;
  return s;
}

/* What a receive gets when nothing is queued and more will never come:
 * the end (AX_ECLOSED), or the context's failure. 0: wait. */
static int end_of(ax_stream *s, ax_error **err) {
  *err = NULL;
  if (s->got_stop) return AX_ECLOSED;
  if (!s->ended) return 0;
  if (s->end_err) {
    *err = ax_error_dup(s->end_err);
    return *err ? AX_EREMOTE : AX_ENOMEM;
  }
  return s->end_rc < 0 && s->end_rc != AX_EREMOTE ? s->end_rc : AX_ECLOSED;
}

static ax_data *pop(ax_stream *s) {
  ax_data *v = s->q[s->qhead];
  s->qhead = (s->qhead + 1) % s->qcap;
  s->qlen--;
  size_t n = 0;
  if (v) ax_data_bytes(v, &n);
  s->qbytes -= n;
  taken(s, n);
  return v;
}

static void wake_rx(ax_stream *s) {
  if (!s->rx.on) return;
  ax_error *e;
  if (s->qlen)
    ax__waiter_fire(&s->rx, 0, pop(s), NULL);
  else {
    int rc = end_of(s, &e);
    if (rc) ax__waiter_fire(&s->rx, rc, NULL, e);
  }
}

/* A value arrived within the window (the sender's duty; one beyond it is
 * a protocol error: a peer may not make us hold more than we granted). */
static int on_yield(ax_stream *s, const ax__msg *m) {
  if (s->got_stop) {
    ax_log(AX_LOG_ERROR, "stream of call %llu from %s: a value after its stop",
           (unsigned long long)s->cid, s->peer->id.name);
    return AX_EPROTO;
  }
  uint64_t n = AX__HAS(m, value) ? m->value.len : 0;
  uint64_t held = s->qlen + s->used_msgs;
  if (held >= s->win_msgs ||
      (held && s->qbytes + s->used_bytes + n > s->win_bytes)) {
    ax_log(AX_LOG_ERROR,
           "stream of call %llu from %s: a value beyond the "
           "window",
           (unsigned long long)s->cid, s->peer->id.name);
    return AX_EPROTO;
  }
  if (s->closed) {
    taken(s, n); /* nobody reads it: credit it back */
    return 0;
  }
  ax_data *v =
      AX__HAS(m, value) ? ax__peer_value(&m->value) : NULL;
  if (!v && AX__HAS(m, value)) return AX_ENOMEM;
  if (s->qlen == s->qcap) {
    size_t cap = s->qcap ? 2 * s->qcap : 16;
    ax_data **q = malloc(cap * sizeof *q);
    if (!q) {
      ax_data_free(v);
      return AX_ENOMEM;
    }
    for (size_t i = 0; i < s->qlen; i++) q[i] = s->q[(s->qhead + i) % s->qcap];
    free(s->q);
    s->q = q;
    s->qhead = 0;
    s->qcap = cap;
  }
  s->q[(s->qhead + s->qlen) % s->qcap] = v;
  s->qlen++;
  s->qbytes += n;
  wake_rx(s);
  return 0;
}

static int try_send(ax_stream *s, ax_pack *v);

/* Credit saturates: a peer may grant up to 2^63-1 at a time, and a sum
 * past that is as good as unbounded. */
static void add_credit(int64_t *credit, uint64_t n) {
  if (n > (uint64_t)INT64_MAX) n = (uint64_t)INT64_MAX;
  if (*credit > 0 && n > (uint64_t)(INT64_MAX - *credit))
    *credit = INT64_MAX;
  else
    *credit += (int64_t)n;
}

static void wake_tx(ax_stream *s) {
  if (!s->tx.on) return;
  if (s->credit_msgs < 1 ||
      (s->out_msgs && (int64_t)pack_len(s->tx_value) > s->credit_bytes))
    return;
  ax_pack *v = s->tx_value;
  s->tx_value = NULL;
  int rc = try_send(s, v);
  ax__waiter_fire(&s->tx, rc, NULL, NULL);
}

int ax__stream_msg(ax_stream *s, const ax__msg *m) {
  switch (m->type) {
    case AX__M_YIELD:
      return on_yield(s, m);
    case AX__M_STOP:
      s->got_stop = 1;
      wake_rx(s);
      return 0;
    default: /* credit */
      add_credit(&s->credit_msgs, AX__HAS(m, msgs) ? m->msgs : 0);
      add_credit(&s->credit_bytes, AX__HAS(m, bytes) ? m->bytes : 0);
      /* A grant that grows the window gives nothing back. */
      uint64_t back =
          AX__HAS(m, msgs) && !(AX__HAS(m, grow) && m->grow) ? m->msgs : 0;
      s->out_msgs = back > s->out_msgs ? 0 : s->out_msgs - back;
      wake_tx(s);
      return 0;
  }
}

/* End the send waiting for credit with rc; its value is not sent. */
static void tx_end(ax_stream *s, int rc) {
  ax_pack_free(s->tx_value);
  s->tx_value = NULL;
  ax__waiter_fire(&s->tx, rc, NULL, NULL);
}

void ax__stream_end(ax_stream *s, int rc, const ax_error *err) {
  if (s->ended) return;
  s->ended = 1;
  s->end_rc = rc;
  s->end_err = err ? ax_error_dup(err) : NULL;
  wake_rx(s);
  if (s->tx.on) tx_end(s, AX_ECLOSED);
}

void ax__stream_free(ax_stream *s) {
  if (!s) return;
  /* The waiters first: a broadcast's own receive lands in it. */
  if (s->rx.on) ax__waiter_fire(&s->rx, AX_ECLOSED, NULL, NULL);
  if (s->tx.on) ax__waiter_fire(&s->tx, AX_ECLOSED, NULL, NULL);
  if (s->ext_free) s->ext_free(s->ext);
  while (s->qlen) ax_data_free(pop(s));
  free(s->q);
  s->q = NULL;
  s->qcap = 0;
  ax_pack_free(s->tx_value);
  s->tx_value = NULL;
  ax_error_free(s->end_err);
  s->end_err = NULL;
  /* A send waiting for the channel is woken now (the others on the
   * channel look again and wait on), to a stream it must still find. */
  if (s->chan_waits) ax__chan_wake_writers(&s->peer->chan);
  ax__peer_unref(s->peer);
  s->peer = NULL;
  if (s->chan_waits)
    s->freed = 1;
  else
    free(s);
}

int ax__stream_open(ax_stream *s, const ax_stream_opts *o) {
  if (s->opened) return AX_ESTATE;
  s->opened = 1;
  /* A window larger than the default is granted at once; the wire's
   * integers stop at 2^63-1, and so does a window. */
  int given = o && o->size >= sizeof *o;
  uint64_t wm = given ? o->window_msgs : 0, wb = given ? o->window_bytes : 0;
  if (wm > (uint64_t)INT64_MAX) wm = (uint64_t)INT64_MAX;
  if (wb > (uint64_t)INT64_MAX) wb = (uint64_t)INT64_MAX;
  uint64_t msgs = wm > s->win_msgs ? wm - s->win_msgs : 0;
  uint64_t bytes = wb > s->win_bytes ? wb - s->win_bytes : 0;
  if (msgs || bytes) {
    s->win_msgs += msgs;
    s->win_bytes += bytes;
    ax__msg m = {.type = AX__M_CREDIT};
    AX__SET(&m, cid, s->cid);
    if (s->caller) AX__SET(&m, caller, 1);
    AX__SET(&m, msgs, msgs);
    AX__SET(&m, bytes, bytes);
    AX__SET(&m, grow, 1);
    if (s->peer->state < AX__PEER_CLOSING) ax__peer_send(s->peer, &m);
  }
  return 0;
}

/* ----------------------------------------------------------- sending */

static int try_send(ax_stream *s, ax_pack *v) {
  size_t len = 1;
  const void *b = v ? ax_pack_bytes(v, &len) : "\xc0";
  int rc = v && ax__pack_failed(v) ? AX_ENOMEM : 0;
  if (rc == 0) rc = send_msg(s, AX__M_YIELD, b, len, v);
  if (rc == 0) {
    s->credit_msgs--;
    s->credit_bytes -= (int64_t)len;
    s->out_msgs++;
  }
  ax_pack_free(v);
  return rc;
}

static int send_state(const ax_stream *s) {
  if (!s->opened || s->closed || s->sent_stop) return AX_ESTATE;
  if (s->ended || s->peer->state >= AX__PEER_CLOSING) return AX_ECLOSED;
  return 0;
}

static void tx_cancel(ax_op *op) {
  ax_stream *s = ax__container_of(op, ax_stream, tx.op);
  if (s->tx.on) tx_end(s, AX_ECANCELED);
}

int ax_stream_send_cb(ax_stream *s, ax_pack *value, ax_done_cb cb, void *ud,
                      ax_op **op) {
  if (!s || !cb) {
    ax_pack_free(value);
    return AX_EINVAL;
  }
  int rc = s->tx.on ? AX_ESTATE : send_state(s);
  if (rc < 0) {
    ax_pack_free(value);
    return rc;
  }
  s->tx = (ax__waiter){{tx_cancel}, cb, ud, 1};
  s->tx_value = value;
  if (op) *op = &s->tx.op;
  if (s->credit_msgs >= 1 &&
      (!s->out_msgs || (int64_t)pack_len(value) <= s->credit_bytes)) {
    /* Credit at hand: it goes now, and the callback comes soon. */
    s->tx.on = 0;
    s->tx_value = NULL;
    rc = try_send(s, value);
    return ax__defer_done(cb, ud, rc, NULL, NULL);
  }
  return 0;
}

int ax_stream_send(ax_stream *s, ax_pack *value) {
  if (!s) {
    ax_pack_free(value);
    return AX_EINVAL;
  }
  for (;;) {
    int rc = s->tx.on ? AX_ESTATE : send_state(s);
    /* A cancelled task sends nothing more, credit or not. */
    if (rc == 0 && ax_cancelled()) rc = ax__can_block();
    if (rc < 0) {
      ax_pack_free(value);
      return rc;
    }
    /* Without credit: the wait below. */
    if (s->credit_msgs < 1 ||
        (s->out_msgs && (int64_t)pack_len(value) > s->credit_bytes))
      break;
    /* The fast path: credit at hand, no wait, nothing allocated; unless
     * the channel is full, after which all is looked at again (another
     * task may have spent the credit meanwhile). */
    /* A value that goes in parts, or behind a value of this stream in
     * parts, also waits for what the peer holds for large messages. */
    int large = pack_len(value) > AX__PART_THRESHOLD / 2 ||
                ax__peer_sending_parts(s->peer, s->cid, s->caller);
    if (!ax__chan_full(&s->peer->chan, large)) return try_send(s, value);
    s->chan_waits++;
    rc = ax__chan_wait_writable(&s->peer->chan, large);
    s->chan_waits--;
    if (s->freed) {
      /* Its context ended meanwhile. */
      if (!s->chan_waits) free(s);
      if (rc == 0) rc = AX_ECLOSED;
    }
    if (rc < 0) {
      ax_pack_free(value);
      return rc;
    }
  }
  int rc = ax__can_block();
  if (rc < 0) {
    ax_pack_free(value);
    return rc;
  }
  ax__blk b;
  ax__blk_init(&b);
  ax__wait_about(&b.w, "waiting for credit to send on a stream to '%s'",
                 s->peer->id.name, NULL);
  rc = ax_stream_send_cb(s, value, ax__blk_cb, &b, &b.op);
  if (rc < 0) return rc;
  return ax__blk_wait(&b, NULL, NULL);
}

/* --------------------------------------------------------- receiving */

static void rx_cancel(ax_op *op) {
  ax_stream *s = ax__container_of(op, ax_stream, rx.op);
  if (s->rx.on) ax__waiter_fire(&s->rx, AX_ECANCELED, NULL, NULL);
}

static int recv_cb(ax_stream *s, ax_done_cb cb, void *ud, ax_op **op);

int ax__stream_recv_cb(ax_stream *s, ax_done_cb cb, void *ud) {
  return recv_cb(s, cb, ud, NULL);
}

int ax_stream_recv_cb(ax_stream *s, ax_done_cb cb, void *ud, ax_op **op) {
  if (!s || !cb) return AX_EINVAL;
  if (s->ext) return AX_ESTATE; /* its subscribers take its values */
  return recv_cb(s, cb, ud, op);
}

static int recv_cb(ax_stream *s, ax_done_cb cb, void *ud, ax_op **op) {
  if (!s->opened || s->closed || s->rx.on) return AX_ESTATE;
  /* About to wait with nothing queued: what was taken goes back now, or
   * a sender that needs more than the rest of its window (a large value)
   * would wait for us as we wait for it. */
  if (!s->qlen) send_credit(s);
  s->rx = (ax__waiter){{rx_cancel}, cb, ud, 1};
  if (op) *op = &s->rx.op;
  ax_error *e = NULL;
  int rc = s->qlen ? 1 : end_of(s, &e);
  if (rc) {
    s->rx.on = 0;
    rc = rc == 1 ? ax__defer_done(cb, ud, 0, pop(s), NULL)
                 : ax__defer_done(cb, ud, rc, NULL, e);
    return rc;
  }
  return 0;
}

int ax_stream_recv(ax_stream *s, ax_data **value, ax_error **err) {
  if (value) *value = NULL;
  if (err) *err = NULL;
  if (!s) return AX_EINVAL;
  if (!s->opened || s->closed || s->rx.on || s->ext) return AX_ESTATE;
  /* A cancelled task takes nothing more (what is queued stays), and does
   * not see the end of a stream its cancel may have caused. */
  if (ax_cancelled()) return ax__can_block();
  /* The fast path: a value queued. */
  if (s->qlen) {
    ax_data *v = pop(s);
    if (value)
      *value = v;
    else
      ax_data_free(v);
    return 0;
  }
  ax_error *e = NULL;
  int rc = end_of(s, &e);
  if (rc) {
    if (err)
      *err = e;
    else
      ax_error_free(e);
    return rc;
  }
  if ((rc = ax__can_block()) < 0) return rc; /* AX_ENOTASK outside a task */
  ax__blk blk_;
  ax__blk_init(&blk_);
  ax__wait_about(&blk_.w, "waiting for a value on a stream from '%s'",
                 s->peer->id.name, NULL);
  if ((rc = ax_stream_recv_cb(s, AX__BLK_ARGS)) < 0) return rc;
  rc = ax__blk_wait(&blk_, value, err);
  /* A clean end that came after this task's cancel (the other side's
   * stop, say, behind the cancel on the wire): the cancel came first,
   * and nothing is lost by saying so. */
  if (rc == AX_ECLOSED && !(err && *err) && ax_cancelled())
    return AX_ECANCELED;
  return rc;
}

static int close_side(ax_stream *s, int stop, int rx_rc);

int ax__stream_end_here(ax_stream *s, int stop) {
  s->opened = 1; /* never opened by its user: closed all the same */
  /* A context closed on a failure: a receiver in another task has not
   * seen the end, it is cut off, as by a cancel. */
  return s->closed ? 0 : close_side(s, stop, stop ? AX_ECLOSED : AX_ECANCELED);
}

static int close_side(ax_stream *s, int stop, int rx_rc) {
  if (!s) return AX_EINVAL;
  if (!s->opened || s->closed) return AX_ESTATE;
  s->closed = 1;
  /* Another task waiting on it, when its user closes it: its receiving
   * ends as at the end, its send fails as a send after the close does.
   * Cancelled, that task would end without a word. */
  if (s->rx.on) ax__waiter_fire(&s->rx, rx_rc, NULL, NULL);
  if (s->tx.on) tx_end(s, AX_ESTATE);
  /* What the peer still sends is dropped and credited back at once. */
  while (s->qlen) ax_data_free(pop(s));
  send_credit(s);
  if (stop && !s->sent_stop && !s->ended) {
    s->sent_stop = 1;
    send_msg(s, AX__M_STOP, NULL, 0, NULL);
  }
  return 0;
}

int ax_stream_close(ax_stream *s) { return close_side(s, 1, AX_ECLOSED); }

int ax__stream_receivable(ax_stream *s) {
  if (!s->opened || s->closed) return AX_ESTATE;
  /* Nothing more will come. */
  ax_error *e = NULL;
  if (!s->qlen && end_of(s, &e)) {
    ax_error_free(e);
    return AX_ECLOSED;
  }
  return 0;
}

void *ax__stream_ext(const ax_stream *s) { return s->ext; }

void ax__stream_attach(ax_stream *s, void *ext, void (*ext_free)(void *)) {
  s->ext = ext;
  s->ext_free = ext_free;
}

size_t ax_stream_max_message(const ax_stream *s) {
  return s && s->peer && !s->ended ? ax__peer_max_message(s->peer) : 0;
}

const ax_error *ax_stream_error(const ax_stream *s) {
  return s && s->ended ? s->end_err : NULL;
}

int ax_stream_drop(ax_stream *s) { return close_side(s, 0, AX_ECLOSED); }

/* peer.c - a peer is a connection to another actor: a channel, the other
 * side's identity, a state (handshaking, ready, closing), the calls this
 * side made on it and the calls it serves for it, each found by cid in a
 * hash table. A peer knows nothing of who owns it (a portal, the child side
 * of a spawn, later a registrar or a TCP client): the owner gives it
 * callbacks for what only the owner can decide. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---------------------------------------------------------- cid maps */

static size_t slot_of(const ax__cidmap *m, uint64_t cid) {
  return (size_t)((cid * 0x9e3779b97f4a7c15ull) >> 32) & m->mask;
}

static int map_grow(ax__cidmap *m) {
  size_t n = m->mask ? 2 * (m->mask + 1) : 16;
  ax__cidnode **b = calloc(n, sizeof *b);
  if (!b) return AX_ENOMEM;
  ax__cidmap g = {b, n - 1, m->n};
  for (size_t i = 0; m->mask && i <= m->mask; i++) {
    for (ax__cidnode *x = m->b[i], *next; x; x = next) {
      next = x->next;
      size_t s = slot_of(&g, x->cid);
      x->next = b[s];
      b[s] = x;
    }
  }
  free(m->b);
  *m = g;
  return 0;
}

int ax__cidmap_add(ax__cidmap *m, ax__cidnode *x) {
  if (m->n + 1 > (m->mask + 1) / 2 * 3 || !m->mask) {
    if (map_grow(m) < 0) return AX_ENOMEM;
  }
  size_t s = slot_of(m, x->cid);
  x->next = m->b[s];
  m->b[s] = x;
  m->n++;
  return 0;
}

ax__cidnode *ax__cidmap_find(const ax__cidmap *m, uint64_t cid) {
  if (!m->mask) return NULL;
  for (ax__cidnode *x = m->b[slot_of(m, cid)]; x; x = x->next)
    if (x->cid == cid) return x;
  return NULL;
}

void ax__cidmap_remove(ax__cidmap *m, ax__cidnode *x) {
  if (!m->mask) return;
  for (ax__cidnode **pp = &m->b[slot_of(m, x->cid)]; *pp; pp = &(*pp)->next) {
    if (*pp == x) {
      *pp = x->next;
      m->n--;
      return;
    }
  }
}

/* Any node, to empty a map one by one. */
static ax__cidnode *map_any(const ax__cidmap *m) {
  for (size_t i = 0; m->n && i <= m->mask; i++)
    if (m->b[i]) return m->b[i];
  return NULL;
}

/* ------------------------------------------------------------ sending */

/* Parts are fed while less than this is queued and unwritten: a message
 * sent meanwhile waits behind that much at most, not behind all of a
 * large one, and what a large message holds is its encoded bytes once
 * plus this. */
#define PARTS_QUEUED (4u * AX__PART_THRESHOLD)

size_t ax__peer_max_message(const ax__peer *peer) {
  return peer->max_msg ? peer->max_msg : peer->chan.max_frame;
}

ax_error *ax__peer_too_large(const ax__peer *peer, const char *what) {
  if (peer->max_msg)
    return ax_error_new_kind(AX_K_MESSAGE_TOO_LARGE,
                             "message of %zu bytes%s is larger than the "
                             "receiver's maximum message size %zu "
                             "(max_message)",
                             peer->refused, what, peer->max_msg);
  return ax_error_new_kind(AX_K_MESSAGE_TOO_LARGE,
                           "message of %zu bytes%s is larger than the "
                           "maximum frame size %zu (max_frame), and the "
                           "receiver takes no messages in parts",
                           peer->refused, what, peer->chan.max_frame);
}

/* Free o and what waits behind it; the bytes not sent are no longer held
 * for the channel (peer->chan.held counts every unsent byte of them, so
 * that senders wait for large messages as for queued frames). */
static void outmsg_drop(ax__peer *peer, ax__outmsg *o) {
  size_t unsent = o->len - o->off;
  while (!ax__list_empty(&o->after)) {
    ax__list *f = o->after.next;
    ax__list_remove(f);
    ax__outmsg *g = ax__container_of(f, ax__outmsg, link);
    unsent += g->len - g->off;
    ax__outmsg_free(g);
  }
  ax__outmsg_free(o);
  if (unsent) ax__chan_unhold(&peer->chan, unsent);
}

/* A part, or a held-back message, could not be queued: half a message
 * cannot be taken back, so the channel goes, and every call on it ends. */
static void feed_failed(ax__peer *peer, int rc) {
  ax_log(AX_LOG_ERROR,
         "cannot send a part of a message to %s (%s); closing the channel",
         peer->id.name, ax_strerror(rc));
  ax__chan_close(&peer->chan, rc == AX_ECLOSED ? AX_EIO : rc);
}

/* The last part of o is queued: the messages held back behind it go, in
 * order: small ones whole, now; at the first large one, which goes in
 * parts from now on, the rest stay held back behind it. */
static int release_after(ax__peer *peer, ax__outmsg *o) {
  int rc = 0;
  while (rc == 0 && !ax__list_empty(&o->after)) {
    ax__outmsg *f = ax__container_of(o->after.next, ax__outmsg, link);
    ax__list_remove(&f->link);
    if (f->len > AX__PART_THRESHOLD) {
      while (!ax__list_empty(&o->after)) {
        ax__list *g = o->after.next;
        ax__list_remove(g);
        ax__list_push(&f->after, g);
      }
      f->id = peer->next_part_id++;
      ax__list_push(&peer->outparts, &f->link);
      break;
    }
    uint8_t *w = ax__chan_reserve(&peer->chan, f->len);
    if (!w) {
      rc = AX_ENOMEM;
    } else {
      memcpy(w, f->buf, f->len);
      rc = ax__chan_commit(&peer->chan, f->len);
    }
    peer->chan.held -= f->len; /* queued now, or lost with the channel */
    ax__outmsg_free(f);
  }
  outmsg_drop(peer, o);
  return rc;
}

/* Queue one part of each message being sent in parts (all of them when
 * all is set), taking turns, while the channel has room. */
static int feed_parts(ax__chan *ch, int all) {
  ax__peer *peer = ch->data;
  size_t mark = ch->high_water < PARTS_QUEUED ? ch->high_water : PARTS_QUEUED;
  size_t turns = 0;
  for (ax__list *it = peer->outparts.next; it != &peer->outparts; it = it->next)
    turns++;
  while (!ax__list_empty(&peer->outparts) && (all || turns > 0)) {
    if (!all && ch->wqueued >= mark) break;
    ax__outmsg *o = ax__container_of(peer->outparts.next, ax__outmsg, link);
    ax__msg part;
    size_t n = ax__outmsg_part(o, &part);
    uint8_t *w = ax__chan_reserve(ch, ax__msg_bound(&part));
    int rc = w ? ax__chan_commit(ch, (size_t)(ax__msg_write(w, &part) - w))
               : AX_ENOMEM;
    o->off += n;
    ch->held -= n; /* queued now, or lost with the channel */
    ax__list_remove(&o->link);
    turns--;
    if (rc == 0 && o->off < o->len) {
      ax__list_push(&peer->outparts, &o->link); /* its next turn */
      continue;
    }
    if (rc == 0)
      rc = release_after(peer, o);
    else
      outmsg_drop(peer, o);
    if (rc < 0) {
      feed_failed(peer, rc);
      return 0;
    }
  }
  return !ax__list_empty(&peer->outparts);
}

int ax__peer_send_last(ax__peer *peer, int type) {
  /* Every message still going out in parts is queued first, whole. */
  if (peer->chan.fill && !peer->chan.closing) {
    peer->chan.fill = NULL;
    feed_parts(&peer->chan, 1);
  }
  return ax__peer_send_cid(peer, type, 0);
}

static void drop_parts(ax__peer *peer) {
  while (!ax__list_empty(&peer->outparts)) {
    ax__outmsg *o = ax__container_of(peer->outparts.next, ax__outmsg, link);
    ax__list_remove(&o->link);
    outmsg_drop(peer, o);
  }
  peer->chan.fill = NULL;
}

/* The order key of a message: the messages of one call from this side
 * must arrive in the order sent: for a call it makes, its start, cancel,
 * and the caller's stream values, stop and credit; for a call it serves,
 * the replies, started, and the callee's values, stop and credit (a
 * credit that grows a window goes as the stream opens, and must not
 * overtake a started in parts). What concerns the actor as a whole may
 * go at once (0). */
static uint64_t order_key(const ax__msg *m) {
  switch (m->type) {
    case AX__M_START:
    case AX__M_CANCEL:
      return m->cid ? m->cid << 1 | 1 : 0;
    case AX__M_YIELD:
    case AX__M_STOP:
    case AX__M_CREDIT:
      return m->cid << 1 | (m->caller ? 1 : 0);
    case AX__M_START_ACK:
    case AX__M_RETURN:
    case AX__M_ERROR:
    case AX__M_STARTED:
      return m->cid << 1;
    default:
      return 0;
  }
}

/* The message of this call going out in parts, if any. */
static ax__outmsg *going_out(ax__peer *peer, uint64_t key) {
  if (!key) return NULL;
  ax__list_each(it, &peer->outparts) {
    ax__outmsg *o = ax__container_of(it, ax__outmsg, link);
    if (o->key == key) return o;
  }
  return NULL;
}

/* A message whose raw field `field` holds the bytes of pack v. */
typedef struct donor {
  int field;
  ax_pack *v;
} donor;

int ax__peer_sending_parts_slow(ax__peer *peer, uint64_t cid, int caller) {
  return going_out(peer, cid << 1 | (caller ? 1 : 0)) != NULL;
}

/* m encoded into a new outmsg; AX_EMSGSIZE when the peer takes no such
 * size (peer->refused is set). A large value from a donor's pack is
 * taken over, not copied. */
static int encode_out(ax__peer *peer, const ax__msg *m, uint64_t key,
                      const donor *d, ax__outmsg **out) {
  size_t n = ax__msg_size(m);
  if (n > ax__peer_max_message(peer)) {
    peer->refused = n;
    return AX_EMSGSIZE;
  }
  const ax__raw *r = d ? ax__msg_raw(m, d->field) : NULL;
  void *buf;
  size_t cap;
  ax__outmsg *o;
  if (r && r->len >= AX__MEM_BIG && ax__pack_take(d->v, &buf, &cap) == 0) {
    if (!(o = ax__outmsg_new(n - r->len))) {
      ax__buf_free(buf, cap);
      return AX_ENOMEM;
    }
    uint8_t *at;
    ax__msg_write_but(o->buf, m, d->field, &at);
    o->at = (size_t)(at - o->buf);
    o->ext = r->p;
    o->ext_len = r->len;
    o->ext_buf = buf;
    o->ext_cap = cap;
    o->len = n;
  } else {
    if (!(o = ax__outmsg_new(n))) return AX_ENOMEM;
    ax__msg_write(o->buf, m);
  }
  o->key = key;
  o->type = m->type;
  *out = o;
  return 0;
}

/* A message larger than a part: refused when the peer takes no such
 * size, sent whole when small enough or to a peer that takes no parts,
 * else encoded once and queued to go in parts. */
static __attribute__((noinline)) int send_large(ax__peer *peer,
                                                const ax__msg *m, size_t bound,
                                                const donor *d) {
  size_t n = ax__msg_size(m);
  if (n > ax__peer_max_message(peer)) {
    peer->refused = n;
    return AX_EMSGSIZE;
  }
  if (n <= AX__PART_THRESHOLD || !peer->max_msg || !peer->hello_sent) {
    uint8_t *w = ax__chan_reserve(&peer->chan, bound);
    if (!w) return AX_ENOMEM;
    int rc = ax__chan_commit(&peer->chan, (size_t)(ax__msg_write(w, m) - w));
    if (rc == AX_EMSGSIZE) peer->refused = n;
    return rc;
  }
  ax__outmsg *o;
  int rc = encode_out(peer, m, order_key(m), d, &o);
  if (rc < 0) return rc;
  o->id = peer->next_part_id++;
  ax__list_push(&peer->outparts, &o->link);
  peer->chan.held += o->len;
  ax__chan_fill(&peer->chan, feed_parts);
  return 0;
}

/* While a message goes out in parts, one of the same call waits behind
 * it (encoded now: the sender's bytes may go once this returns). */
static __attribute__((noinline)) int send_behind(ax__peer *peer,
                                                 const ax__msg *m,
                                                 size_t bound,
                                                 const donor *d) {
  uint64_t key = order_key(m);
  ax__outmsg *o = going_out(peer, key);
  if (!o) return send_large(peer, m, bound, d);
  ax__outmsg *f;
  int rc = encode_out(peer, m, key, d, &f);
  if (rc == 0) {
    ax__list_push(&o->after, &f->link);
    peer->chan.held += f->len;
  }
  return rc;
}

static inline int send_msg(ax__peer *peer, const ax__msg *m, const donor *d) {
  if (peer->state >= AX__PEER_CLOSING || peer->chan.closing) return AX_ECLOSED;
  size_t bound = ax__msg_bound(m);
  if (__builtin_expect(!ax__list_empty(&peer->outparts), 0))
    return send_behind(peer, m, bound, d);
  if (bound > AX__PART_THRESHOLD) return send_large(peer, m, bound, d);
  uint8_t *w = ax__chan_reserve(&peer->chan, bound);
  if (!w) return AX_ENOMEM;
  return ax__chan_commit(&peer->chan, (size_t)(ax__msg_write(w, m) - w));
}

int ax__peer_send(ax__peer *peer, const ax__msg *m) {
  return send_msg(peer, m, NULL);
}

int ax__peer_send_pack(ax__peer *peer, const ax__msg *m, int field,
                       ax_pack *v) {
  donor d = {field, v};
  return send_msg(peer, m, &d);
}

int ax__peer_send_cid(ax__peer *peer, int type, uint64_t cid) {
  ax__msg m = {.type = type};
  AX__SET(&m, cid, cid);
  return ax__peer_send(peer, &m);
}

int ax__peer_send_hello(ax__peer *peer) {
  if (peer->state < AX__PEER_HANDSHAKING) return AX_ESTATE; /* not trusted */
  ax__msg m = {.type = AX__M_HELLO};
  AX__SET(&m, version, AX__PROTO_VERSION);
  ax__msg_set_str(&m, AX__F_name, ax__rt_g->self.name);
  ax__msg_set_str(&m, AX__F_uid, ax__rt_g->self.uid);
  AX__SET(&m, pid, ax__rt_g->self.pid);
  /* The largest message we take: the peer may send parts up to it. */
  AX__SET(&m, max_msg, (int64_t)ax__rt_g->max_msg);
  int rc = ax__peer_send(peer, &m);
  if (rc == 0) {
    peer->hello_sent = 1;
    if (peer->hello_received) peer->state = AX__PEER_READY;
  }
  return rc;
}

static int send_error_bytes(ax__peer *peer, uint64_t cid, const void *b,
                            size_t len) {
  ax__msg m = {.type = AX__M_ERROR};
  AX__SET(&m, cid, cid);
  ax__msg_set_raw(&m, AX__F_error, b, len);
  return ax__peer_send(peer, &m);
}

static int send_packed(ax__peer *peer, uint64_t cid, const ax_error *e,
                       int with_info) {
  ax_pack *p = ax_pack_new();
  if (!p) return AX_ENOMEM;
  int rc = with_info ? ax__error_pack(p, e) : ax__error_pack_without_info(p, e);
  if (rc == 0 && ax__pack_failed(p)) rc = AX_ENOMEM;
  if (rc == 0) {
    size_t len;
    const void *b = ax_pack_bytes(p, &len);
    rc = send_error_bytes(peer, cid, b, len);
  }
  ax_pack_free(p);
  return rc;
}

/* An error written without allocating: the reply of last resort. */
static int send_plain(ax__peer *peer, uint64_t cid, int kind, const char *msg) {
  uint8_t buf[AX__ERR_PLAIN_MAX];
  size_t n = ax__error_write_plain(buf, sizeof buf, kind, msg);
  return n ? send_error_bytes(peer, cid, buf, n) : AX_EMSGSIZE;
}

int ax__peer_send_error(ax__peer *peer, uint64_t cid, const ax_error *e) {
  int rc = e ? send_packed(peer, cid, e, 1) : AX_ENOMEM;
  /* An info is the application's extra: the error goes without it rather
   * than cut. */
  if (rc == AX_EMSGSIZE && ax__error_has_info(e))
    rc = send_packed(peer, cid, e, 0);
  if (rc == AX_EMSGSIZE) {
    /* The frame less what surrounds the error map in the message. */
    ax__msg m = {.type = AX__M_ERROR};
    AX__SET(&m, cid, cid);
    ax__msg_set_raw(&m, AX__F_error, "", 0);
    size_t around = ax__msg_bound(&m), max = ax__peer_max_message(peer);
    ax_error *fit = ax__error_fit(e, max > around ? max - around : 0);
    rc = fit ? send_packed(peer, cid, fit, 0) : AX_ENOMEM;
    ax_error_free(fit);
    if (rc == AX_ENOMEM || rc == AX_EMSGSIZE) {
      char msg[160];
      snprintf(msg, sizeof msg, "%.64s too large for a message of %zu bytes",
               ax_error_type(e), max);
      rc = send_plain(peer, cid, AX_K_MESSAGE_TOO_LARGE, msg);
    }
  } else if (rc == AX_ENOMEM) {
    rc = send_plain(peer, cid, AX_K_MEMORY_ERROR, "out of memory");
  }
  return rc;
}

/* ------------------------------------------------------- calls we make */

/* Outgoing call records, reused. */
static ax__pool call_pool = AX__POOL(256);

/* Whether the cancel of call cid must go: not when its start is still
 * queued with no part out, which is then dropped unsent with what waits
 * behind it. (A start half out is followed by the cancel, held back.) */
static int cancel_needed(ax__peer *peer, uint64_t cid) {
  ax__outmsg *o = going_out(peer, cid << 1 | 1);
  if (!o || o->type != AX__M_START || o->off != 0) return 1;
  ax__list_remove(&o->link);
  outmsg_drop(peer, o);
  return 0;
}

static void call_cancel(ax_op *op) {
  ax__call *c = (ax__call *)op;
  ax__peer *peer = c->peer;
  ax__cidmap_remove(&peer->calls, &c->node);
  if (peer->state < AX__PEER_CLOSING && cancel_needed(peer, c->node.cid))
    ax__peer_send_cid(peer, AX__M_CANCEL, c->node.cid);
  ax_done_cb cb = c->cb;
  void *ud = c->ud;
  ax__pool_put(&call_pool, c);
  cb(ud, AX_ECANCELED, NULL, NULL);
}

/* Inlined into both: a plain call is the hot path. */
__attribute__((always_inline)) static inline int call_start(
    ax__peer *peer, const char *ns, const char *func, const void *args,
    size_t len, int kind, void (*started)(void *ud, ax_data *value),
    int (*stream)(void *ud, const ax__msg *m), ax_done_cb cb, void *ud,
    ax__call **out) {
  if (peer->state != AX__PEER_READY || peer->chan.closing) return AX_ECLOSED;
  ax__call *c = ax__pool_get(&call_pool, sizeof *c);
  if (!c) return AX_ENOMEM;
  c->op.cancel = call_cancel;
  c->peer = peer;
  c->node.cid = peer->next_cid++;
  c->cb = cb;
  c->ud = ud;
  c->started = started;
  c->stream = stream;
  c->got_started = 0;
  ax__msg m = {.type = AX__M_START};
  AX__SET(&m, cid, c->node.cid);
  if (kind) AX__SET(&m, ctx, kind);
  if (ns && *ns) ax__msg_set_str(&m, AX__F_ns, ns);
  ax__msg_set_str(&m, AX__F_func, func);
  if (len)
    ax__msg_set_raw(&m, AX__F_kwargs, args, len);
  else
    ax__msg_set_raw(&m, AX__F_kwargs, "\x80", 1);
  int rc = send_msg(peer, &m, NULL);
  if (rc == 0) rc = ax__cidmap_add(&peer->calls, &c->node);
  if (rc < 0) {
    ax__pool_put(&call_pool, c);
    return rc;
  }
  if (out) *out = c;
  return 0;
}

int ax__peer_call(ax__peer *peer, const char *ns, const char *func,
                  const void *args, size_t len, ax_done_cb cb, void *ud,
                  ax__call **out) {
  return call_start(peer, ns, func, args, len, 0, NULL, NULL, cb, ud, out);
}

int ax__peer_open(ax__peer *peer, const char *ns, const char *func,
                  const void *args, size_t len, int kind,
                  void (*started)(void *ud, ax_data *value),
                  int (*stream)(void *ud, const ax__msg *m), ax_done_cb cb,
                  void *ud, ax__call **out) {
  return call_start(peer, ns, func, args, len, kind, started, stream, cb, ud,
                    out);
}

void ax__call_cancel_keep(ax__call *c) {
  if (c->peer->state < AX__PEER_CLOSING)
    ax__peer_send_cid(c->peer, AX__M_CANCEL, c->node.cid);
}

void ax__peer_fail_calls(ax__peer *peer, const ax_error *err) {
  ax__cidnode *x;
  while ((x = map_any(&peer->calls))) {
    ax__call *c = ax__container_of(x, ax__call, node);
    ax__cidmap_remove(&peer->calls, x);
    ax_done_cb cb = c->cb;
    void *ud = c->ud;
    ax__pool_put(&call_pool, c);
    ax_error *e = err ? ax_error_dup(err) : NULL;
    cb(ud, e ? AX_EREMOTE : err ? AX_ENOMEM : AX_ECLOSED, NULL, e);
  }
}

int ax__peer_decode_error(const ax__raw *raw, ax_error **out) {
  int rc = ax__error_decode(raw->p, raw->len, out);
  if (rc == 0) ax__error_relay_here(*out);
  return rc;
}

static int on_reply(ax__peer *peer, const ax__msg *m) {
  ax__cidnode *x = ax__cidmap_find(&peer->calls, m->cid);
  if (!x) {
    AX__LOGD("reply for unknown call %llu dropped", (unsigned long long)m->cid);
    return 0;
  }
  ax__call *c = ax__container_of(x, ax__call, node);
  ax_data *value = NULL;
  ax_error *err = NULL;
  int status = 0;
  if (m->type == AX__M_ERROR) {
    status = ax__peer_decode_error(&m->error, &err);
    /* Over the bounds the frame is malformed: the channel closes, and
     * the call ends with it. */
    if (status == AX_EPROTO) {
      ax_log(AX_LOG_ERROR, "malformed error map for call %llu from %s",
             (unsigned long long)m->cid, peer->id.name);
      return AX_EPROTO;
    }
    if (status == 0) status = AX_EREMOTE;
  } else if (AX__HAS(m, value)) {
    value = ax__peer_value(&m->value);
    if (!value) status = AX_ENOMEM;
  }
  ax__cidmap_remove(&peer->calls, x);
  ax_done_cb cb = c->cb;
  void *ud = c->ud;
  ax__pool_put(&call_pool, c);
  cb(ud, status, value, err);
  return 0;
}

/* A context's first value. Only the callee of a context sends it, once:
 * anything else is a protocol error. */
static int on_started(ax__peer *peer, const ax__msg *m) {
  ax__cidnode *x = ax__cidmap_find(&peer->calls, m->cid);
  if (!x) return 0; /* a call we stopped waiting for */
  ax__call *c = ax__container_of(x, ax__call, node);
  if (!c->started || c->got_started) {
    ax_log(AX_LOG_ERROR, "started for call %llu, which %s",
           (unsigned long long)m->cid,
           c->started ? "was started already" : "is not a context");
    return AX_EPROTO;
  }
  c->got_started = 1;
  ax_data *value = NULL;
  if (AX__HAS(m, value)) value = ax__peer_value(&m->value);
  c->started(c->ud, value);
  return 0;
}

/* A stream message of a context: from its caller (caller: 1) about a call
 * we serve, else from its callee about a call we made, after started.
 * One for a call that has ended is dropped; one for a call that is no
 * context (or before started) is a protocol error. */
static int on_stream(ax__peer *peer, const ax__msg *m) {
  const char *t = ax__msg_type_name(m->type);
  if (AX__HAS(m, caller) && m->caller == 1) {
    ax__cidnode *x = ax__cidmap_find(&peer->incalls, m->cid);
    if (!x) return 0;
    ax__incall *in = ax__container_of(x, ax__incall, node);
    if (in->stream) return in->stream(in, m);
    ax_log(AX_LOG_ERROR, "%s from the caller of call %llu, not a context", t,
           (unsigned long long)m->cid);
    return AX_EPROTO;
  }
  ax__cidnode *x = ax__cidmap_find(&peer->calls, m->cid);
  if (!x) return 0;
  ax__call *c = ax__container_of(x, ax__call, node);
  if (c->stream && c->got_started) return c->stream(c->ud, m);
  ax_log(AX_LOG_ERROR, "%s for call %llu, %s", t, (unsigned long long)m->cid,
         c->stream ? "before started" : "which is not a context");
  return AX_EPROTO;
}

/* ------------------------------------------------- calls we serve */

int ax__peer_incall_add(ax__peer *peer, ax__incall *in) {
  int rc = ax__cidmap_add(&peer->incalls, &in->node);
  if (rc == 0) peer->refs++;
  return rc;
}

void ax__peer_incall_remove(ax__peer *peer, ax__incall *in) {
  ax__cidmap_remove(&peer->incalls, &in->node);
  ax__peer_unref(peer);
}

static void cancel_incalls(ax__peer *peer) {
  /* A cancel may end a call at once and free it, or others: walk a
   * snapshot of the cids and look each one up again before cancelling. */
  size_t n = peer->incalls.n, k = 0;
  if (!n) return;
  uint64_t *cids = malloc(n * sizeof *cids);
  if (!cids) return;
  for (size_t i = 0; i <= peer->incalls.mask; i++)
    for (ax__cidnode *x = peer->incalls.b[i]; x && k < n; x = x->next)
      cids[k++] = x->cid;
  peer->refs++;
  for (size_t i = 0; i < k; i++) {
    ax__cidnode *x = ax__cidmap_find(&peer->incalls, cids[i]);
    if (x) {
      ax__incall *in = ax__container_of(x, ax__incall, node);
      in->cancel(in);
    }
  }
  free(cids);
  ax__peer_unref(peer);
}

/* ---------------------------------------------------------- dispatch */

/* The channel stops carrying messages: stop what runs for the peer and
 * let the owner decide what its own waiters learn. */
static void peer_gone(ax__peer *peer, int status) {
  if (peer->state == AX__PEER_CLOSED) return;
  peer->state = AX__PEER_CLOSED;
  AX__LOGD("peer %s gone (%s)", peer->id.name, ax_strerror(status));
  drop_parts(peer);
  ax__assembler_free(&peer->inparts);
  cancel_incalls(peer);
  if (peer->cbs->gone) peer->cbs->gone(peer, status);
}

void ax__peer_auth_done(ax__peer *peer) {
  if (peer->state == AX__PEER_AUTH) peer->state = AX__PEER_HANDSHAKING;
}

static int on_part(ax__peer *peer, const ax__msg *m);

/* A decoded message, from a frame or assembled from parts. Inline: the
 * frame's path is every message's. */
static inline __attribute__((always_inline)) int dispatch(ax__peer *peer,
                                                          const ax__msg *m) {
  AX__LOGD("recv %s cid %llu from %s", ax__msg_type_name(m->type),
           (unsigned long long)(AX__HAS(m, cid) ? m->cid : 0), peer->id.name);
  if (peer->state != AX__PEER_READY) {
    /* Before the handshake: hello, then only what boots an actor. */
    int ok = m->type == AX__M_HELLO ||
             (peer->hello_received &&
              (m->type == AX__M_SPAWN || m->type == AX__M_PART)) ||
             (m->type == AX__M_ERROR && m->cid == 0);
    if (!ok || peer->state >= AX__PEER_CLOSING) {
      ax_log(AX_LOG_ERROR, "%s from %s before the handshake",
             ax__msg_type_name(m->type), peer->id.name);
      return AX_EPROTO;
    }
  }
  switch (m->type) {
    case AX__M_HELLO:
      if (peer->hello_received) {
        ax_log(AX_LOG_ERROR, "a second hello from %s", peer->id.name);
        return AX_EPROTO;
      }
      if (m->version != AX__PROTO_VERSION) {
        ax_log(AX_LOG_ERROR, "peer speaks protocol %lld, we speak %d",
               (long long)m->version, AX__PROTO_VERSION);
        return AX_EPROTO;
      }
      if (AX__HAS(m, max_msg) &&
          (m->max_msg < AX_MIN_FRAME || m->max_msg > (int64_t)UINT32_MAX)) {
        ax_log(AX_LOG_ERROR, "hello: max_msg %lld is out of range (%u to %lu)",
               (long long)m->max_msg, AX_MIN_FRAME, (unsigned long)UINT32_MAX);
        return AX_EPROTO;
      }
      peer->max_msg = AX__HAS(m, max_msg) ? (size_t)m->max_msg : 0;
      ax__ident_set(&peer->id, m->name.p, m->name.len, m->uid.p, m->uid.len,
                    (int)m->pid);
      peer->hello_received = 1;
      if (peer->hello_sent) peer->state = AX__PEER_READY;
      if (peer->cbs->ready) peer->cbs->ready(peer, m);
      return 0;
    case AX__M_START:
      if (ax__cidmap_find(&peer->incalls, m->cid)) {
        ax_log(AX_LOG_ERROR, "start reuses cid %llu of a pending call",
               (unsigned long long)m->cid);
        return AX_EPROTO;
      }
      peer->cbs->start(peer, m);
      return 0;
    case AX__M_RETURN:
      return on_reply(peer, m);
    case AX__M_STARTED:
      return on_started(peer, m);
    case AX__M_YIELD:
    case AX__M_STOP:
    case AX__M_CREDIT:
      return on_stream(peer, m);
    case AX__M_ERROR:
      if (m->cid != 0) return on_reply(peer, m);
      return peer->cbs->control(peer, m);
    case AX__M_CANCEL:
      if (m->cid != 0) {
        ax__cidnode *x = ax__cidmap_find(&peer->incalls, m->cid);
        if (x) {
          ax__incall *in = ax__container_of(x, ax__incall, node);
          in->cancel(in);
        }
        return 0;
      }
      return peer->cbs->control(peer, m);
    case AX__M_START_ACK:
      return 0;
    case AX__M_PART:
      return on_part(peer, m);
    default: /* spawn, cancel_ack */
      return peer->cbs->control(peer, m);
  }
}

/* The buffer of the message in parts being dispatched (NULL while none
 * is), which a large value decoded from it may take over. */
static struct {
  uint8_t *buf;
  size_t len;
} assembled;

static __attribute__((noinline)) ax_data *adopt_value(const ax__raw *r) {
  if (r->sc.used >= AX__PART_THRESHOLD && r->p >= assembled.buf &&
      r->p < assembled.buf + assembled.len) {
    ax_data *d = ax__data_adopt(assembled.buf, assembled.len, r->p, &r->sc);
    if (d) assembled.buf = NULL;
    return d;
  }
  return ax__data_make(r->p, &r->sc);
}

ax_data *ax__peer_value(const ax__raw *r) {
  if (__builtin_expect(assembled.buf != NULL, 0)) return adopt_value(r);
  return ax__data_make(r->p, &r->sc);
}

/* A part: appended to its message; the last one hands the whole message
 * to the same dispatch as a frame's. */
static __attribute__((noinline)) int on_part(ax__peer *peer, const ax__msg *m) {
  uint8_t *whole = NULL;
  size_t len = 0;
  const char *why = "";
  int rc = ax__assembler_add(&peer->inparts, m->id, (const uint8_t *)m->data.p,
                             m->data.len, m->last != 0, &whole, &len, &why);
  if (rc == 0) return 0;
  if (rc == AX_ENOMEM) {
    ax_log(AX_LOG_ERROR, "out of memory for a message in parts from %s",
           peer->id.name);
    return AX_ENOMEM;
  }
  if (rc < 0) {
    ax_log(AX_LOG_ERROR, "%s from %s (part id %llu; maximum %zu bytes)", why,
           peer->id.name, (unsigned long long)m->id, peer->inparts.max);
    return AX_EPROTO;
  }
  ax__msg inner;
  if (ax__msg_decode(whole, len, &inner) < 0 || inner.type == AX__M_PART) {
    ax_log(AX_LOG_ERROR, "malformed message (%zu bytes, in parts) from %s", len,
           peer->id.name);
    ax__buf_free(whole, len);
    return AX_EPROTO;
  }
  /* The peer may be gone after dispatch: the buffer is not its. */
  assembled.buf = whole;
  assembled.len = len;
  rc = dispatch(peer, &inner);
  ax__buf_free(assembled.buf, assembled.len);
  assembled.buf = NULL;
  return rc;
}

static int on_frame(ax__chan *ch, const uint8_t *msg, size_t len) {
  ax__peer *peer = ch->data;
  if (peer->state == AX__PEER_AUTH) return peer->cbs->auth(peer, msg, len);
  ax__msg m;
  if (ax__msg_decode(msg, len, &m) < 0) {
    ax_log(AX_LOG_ERROR, "malformed message (%zu bytes) from %s", len,
           peer->hello_received ? peer->id.name : "a peer before its hello");
    return AX_EPROTO;
  }
  return dispatch(peer, &m);
}

static void on_closed(ax__chan *ch, int status) {
  ax__peer *peer = ch->data;
  peer_gone(peer, status);
  ax__list_remove(&peer->link);
  ax__peer_unref(peer);
}

ax__peer *ax__peer_new(int fd, const ax__peer_cbs *cbs, void *owner) {
  ax__peer *peer = calloc(1, sizeof *peer);
  if (!peer) return NULL;
  peer->cbs = cbs;
  peer->owner = owner;
  peer->next_cid = 1;
  peer->refs = 1; /* the channel's */
  peer->state = cbs->auth ? AX__PEER_AUTH : AX__PEER_HANDSHAKING;
  peer->next_part_id = 1;
  ax__list_init(&peer->outparts);
  peer->inparts.max = ax__rt_g->max_msg;
  if (ax__chan_open(&peer->chan, fd, on_frame, on_closed, peer) < 0) {
    free(peer);
    return NULL;
  }
  ax__list_push(&ax__rt_g->peers, &peer->link);
  return peer;
}

void ax__peer_unref(ax__peer *peer) {
  if (--peer->refs > 0) return;
  drop_parts(peer);
  ax__assembler_free(&peer->inparts);
  free(peer->calls.b);
  free(peer->incalls.b);
  free(peer);
}

void ax__peer_close(ax__peer *peer, const ax_error *err) {
  /* The channel may be gone already; calls still waiting learn why now. */
  if (peer->state < AX__PEER_CLOSING) peer->state = AX__PEER_CLOSING;
  /* What is still going out in parts goes no further. */
  drop_parts(peer);
  ax__peer_fail_calls(peer, err);
  cancel_incalls(peer);
  ax__chan_close(&peer->chan, 0);
}

void ax__peers_close_all(void) {
  ax__list_each(it, &ax__rt_g->peers) {
    ax__peer *peer = ax__container_of(it, ax__peer, link);
    ax__chan_close(&peer->chan, 0);
  }
}

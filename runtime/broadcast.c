/* broadcast.c - several local receivers of one stream (tractor's
 * broadcast receiver): each subscriber gets every value that arrives
 * after it subscribed, from a ring of the newest values. Whichever
 * subscriber needs a value the ring does not hold yet takes it from the
 * stream, so the fastest sets the pace and credit flows as it takes; a
 * subscriber more than the ring behind has lost values and gets a Lagged
 * error, after which it may subscribe again. Each subscriber gets its own
 * copy of a value. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct ax_bcast ax_bcast;

struct ax_sub {
  ax_bcast *b;
  ax__list link; /* in b->subs */
  uint64_t next; /* the sequence number of its next value */
  int lagged;    /* it fell behind: Lagged, then nothing */
  ax_op op;
  ax_done_cb cb;
  void *ud;
  int waiting;
};

struct ax_bcast {
  ax_stream *s;
  ax_data **ring;
  size_t cap;
  uint64_t start, end; /* sequence numbers held: [start, end) */
  int pulling;
  int ended, end_rc;
  ax_error *end_err;
  ax__list subs;
};

static ax_data *copy_of(const ax_data *v) {
  if (!v) return NULL;
  size_t n;
  const void *b = ax_data_bytes(v, &n);
  ax_data *d = NULL;
  return ax_data_decode(b, n, &d) == 0 ? d : NULL;
}

static void fire(ax_sub *u, int status, ax_data *v, ax_error *e) {
  u->waiting = 0;
  u->cb(u->ud, status, v, e);
}

static ax_error *lagged_error(const ax_sub *u) {
  const ax_bcast *b = u->b;
  return ax_error_new_kind(AX_K_LAGGED,
                           "a subscriber fell %llu values behind a buffer of "
                           "%zu: values were lost to it; subscribe again",
                           (unsigned long long)(b->end - u->next), b->cap);
}

/* What u gets now, if anything: 1 and a value or an end, 0 to wait. */
static int ready(ax_sub *u, int *status, ax_data **v, ax_error **e) {
  ax_bcast *b = u->b;
  *v = NULL;
  *e = NULL;
  if (u->lagged) {
    *status = AX_ECLOSED;
    return 1;
  }
  if (u->next < b->start) {
    u->lagged = 1;
    *e = lagged_error(u);
    *status = *e ? AX_ERANGE : AX_ENOMEM;
    return 1;
  }
  if (u->next < b->end) {
    const ax_data *src = b->ring[u->next % b->cap];
    *v = copy_of(src);
    *status = src && !*v ? AX_ENOMEM : 0;
    u->next++;
    return 1;
  }
  if (b->ended) {
    *status = b->end_rc;
    if (b->end_err) *e = ax_error_dup(b->end_err);
    return 1;
  }
  return 0;
}

static void pull(ax_bcast *b);

static void wake_all(ax_bcast *b) {
  /* A callback may close its subscription: look again after each. */
  for (int again = 1; again;) {
    again = 0;
    ax__list_each(it, &b->subs) {
      ax_sub *u = ax__container_of(it, ax_sub, link);
      int status;
      ax_data *v;
      ax_error *e;
      if (u->waiting && ready(u, &status, &v, &e)) {
        fire(u, status, v, e);
        again = 1;
        break;
      }
    }
  }
  /* Someone still waits for a newer value: take the next one. */
  ax__list_each(it, &b->subs) {
    ax_sub *u = ax__container_of(it, ax_sub, link);
    if (u->waiting) {
      pull(b);
      break;
    }
  }
}

static void on_pulled(void *ud, int status, ax_data *v, ax_error *e) {
  ax_bcast *b = ud;
  b->pulling = 0;
  if (status == AX_ECANCELED) status = AX_ECLOSED; /* closed here */
  if (status < 0) {
    b->ended = 1;
    b->end_rc = status;
    b->end_err = e;
  } else {
    if (b->end - b->start == b->cap) { /* full: the oldest goes */
      ax_data_free(b->ring[b->start % b->cap]);
      b->start++;
    }
    b->ring[b->end % b->cap] = v;
    b->end++;
  }
  wake_all(b);
}

static void pull(ax_bcast *b) {
  if (b->pulling || b->ended) return;
  b->pulling = 1;
  int rc = ax__stream_recv_cb(b->s, on_pulled, b);
  if (rc < 0) {
    b->pulling = 0;
    b->ended = 1;
    b->end_rc = rc == AX_ESTATE ? AX_ECLOSED : rc;
    wake_all(b);
  }
}

static ax_bcast *bcast_new(ax_stream *s, size_t cap) {
  ax_bcast *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  b->ring = calloc(cap, sizeof *b->ring);
  if (!b->ring) {
    free(b);
    return NULL;
  }
  b->s = s;
  b->cap = cap;
  ax__list_init(&b->subs);
  return b;
}

/* The stream goes: every subscriber ends (AX_ECLOSED). */
static void bcast_free(void *ext) {
  ax_bcast *b = ext;
  while (!ax__list_empty(&b->subs)) {
    ax_sub *u = ax__container_of(b->subs.next, ax_sub, link);
    ax__list_remove(&u->link);
    ax__list_init(&u->link);
    u->b = NULL;
    if (u->waiting) fire(u, AX_ECLOSED, NULL, NULL);
  }
  for (uint64_t i = b->start; i < b->end; i++)
    ax_data_free(b->ring[i % b->cap]);
  free(b->ring);
  ax_error_free(b->end_err);
  free(b);
}

int ax_stream_subscribe(ax_stream *s, size_t buffer, ax_sub **out) {
  if (!s || !out) return AX_EINVAL;
  int rc = ax__stream_receivable(s);
  if (rc < 0) return rc;
  ax_bcast *b = ax__stream_ext(s);
  if (!b) {
    if (!(b = bcast_new(s, buffer ? buffer : 64))) return AX_ENOMEM;
    ax__stream_attach(s, b, bcast_free);
  }
  ax_sub *u = calloc(1, sizeof *u);
  if (!u) return AX_ENOMEM;
  u->b = b;
  u->next = b->end; /* from the next value on */
  ax__list_push(&b->subs, &u->link);
  *out = u;
  return 0;
}

static void sub_cancel(ax_op *op) {
  ax_sub *u = ax__container_of(op, ax_sub, op);
  if (u->waiting) fire(u, AX_ECANCELED, NULL, NULL);
}

int ax_sub_recv_cb(ax_sub *u, ax_done_cb cb, void *ud, ax_op **op) {
  if (!u || !cb) return AX_EINVAL;
  if (u->waiting) return AX_ESTATE;
  if (!u->b) return ax__defer_done(cb, ud, AX_ECLOSED, NULL, NULL);
  u->cb = cb;
  u->ud = ud;
  u->op.cancel = sub_cancel;
  if (op) *op = &u->op;
  int status;
  ax_data *v;
  ax_error *e;
  if (ready(u, &status, &v, &e)) return ax__defer_done(cb, ud, status, v, e);
  u->waiting = 1;
  pull(u->b);
  return 0;
}

int ax_sub_recv(ax_sub *u, ax_data **value, ax_error **err) {
  if (value) *value = NULL;
  if (err) *err = NULL;
  if (!u) return AX_EINVAL;
  int status;
  ax_data *v;
  ax_error *e;
  /* The fast path: a value in the ring already. */
  if (u->b && !u->waiting && ready(u, &status, &v, &e)) {
    if (value)
      *value = v;
    else
      ax_data_free(v);
    if (err)
      *err = e;
    else
      ax_error_free(e);
    return status;
  }
  AX__BLOCK_ON(ax_sub_recv_cb(u, AX__BLK_ARGS), value, err,
               "waiting for a value of a broadcast", NULL, NULL);
}

void ax_sub_close(ax_sub *u) {
  if (!u) return;
  if (u->waiting) fire(u, AX_ECANCELED, NULL, NULL);
  ax__list_remove(&u->link);
  free(u);
}

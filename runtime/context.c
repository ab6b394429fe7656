/* context.c - contexts seen from the caller: a call whose callee sends a
 * first value (started) before it ends. The record outlives the call: the
 * outcome waits in it until ax_context_result takes it or
 * ax_context_close ends the context, which also cancels a callee whose
 * caller's block failed. The callee's side is serve.c's ax_ctx_started. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { CTX_OPENING, CTX_OPEN, CTX_ENDED };

struct ax_context {
  ax__peer *peer; /* referenced while the record lives */
  ax__call *call; /* NULL once the callee ended */
  uint64_t cid;
  ax_stream *stream; /* made by the first stream message or the open */
  int state;
  int cancel_asked; /* this side asked the callee to cancel */
  int taken;        /* the outcome went to ax_context_result */
  int reported;     /* the failure went to the opener already */
  int abandoned;    /* close stopped waiting for the callee */
  int status;       /* the outcome, once ended */
  ax_data *result;
  ax_error *err;
  ax__waiter open, res, close;
  char func[];
};

static void context_free(ax_context *c) {
  ax__stream_free(c->stream);
  ax_data_free(c->result);
  ax_error_free(c->err);
  ax__peer_unref(c->peer);
  free(c);
}

/* Stop waiting for the callee at once: it is asked to cancel, and what
 * it answers later is dropped. The call's end comes back through
 * on_end, with AX_ECANCELED. */
static void abandon(ax_context *c) {
  c->cancel_asked = 1;
  if (c->call) ax_op_cancel(&c->call->op);
}

/* Whether err is the callee's cancellation this side asked for: a
 * ContextCancelled naming this actor, or a plain Cancelled. */
static int own_cancel(const ax_context *c, const ax_error *err) {
  if (!c->cancel_asked) return 0;
  int kind = ax_error_kind(err);
  if (kind == AX_K_CANCELLED) return 1;
  if (kind != AX_K_CONTEXT_CANCELLED) return 0;
  const ax_val *who = ax_val_get(ax_error_info(err), "canceller");
  const char *uid = ax_val_str(ax_val_get(who, "uid"), NULL);
  return uid && !strcmp(uid, ax__rt_g->self.uid);
}

/* What ax_context_close returns, from how the context went. */
static int close_status(ax_context *c, ax_error **err) {
  *err = NULL;
  if (c->abandoned) return AX_ECANCELED;
  if (c->taken || c->reported || c->status == 0) return 0;
  if (own_cancel(c, c->err)) return 0;
  *err = c->err;
  c->err = NULL;
  return *err ? AX_EREMOTE : c->status;
}

static void finish_close(ax_context *c) {
  ax_error *err;
  int status = close_status(c, &err);
  ax__waiter w = c->close;
  context_free(c);
  ax__waiter_fire(&w, status, NULL, err);
}

static void on_started(void *ud, ax_data *value) {
  ax_context *c = ud;
  c->state = CTX_OPEN;
  if (c->open.on)
    ax__waiter_fire(&c->open, 0, value, NULL);
  else
    ax_data_free(value);
}

static ax_stream *stream_of(ax_context *c) {
  if (!c->stream) c->stream = ax__stream_new(c->peer, c->cid, 1);
  return c->stream;
}

/* The context ended: so does its stream. A cancel this side asked for
 * ends it as a clean end does: absorbed there as at the close
 * (ax_context_result still gives it). */
static void end_stream(ax_context *c) {
  int own = c->status < 0 && own_cancel(c, c->err);
  ax__stream_end(c->stream, own ? 0 : c->status, own ? NULL : c->err);
}

static int on_stream(void *ud, const ax__msg *m) {
  ax_context *c = ud;
  ax_stream *s = stream_of(c);
  return s ? ax__stream_msg(s, m) : AX_ENOMEM;
}

static void on_end(void *ud, int status, ax_data *result, ax_error *err) {
  ax_context *c = ud;
  int was_open = c->state == CTX_OPEN;
  c->call = NULL;
  c->state = CTX_ENDED;
  c->status = status;
  c->result = result;
  c->err = err;
  if (c->stream) end_stream(c);
  if (!was_open && c->open.on) {
    /* It ended before started: the opener learns why. */
    ax_error *why = NULL;
    if (status == 0)
      why = ax_error_new_kind(AX_K_USAGE_ERROR,
                              "context function '%s' returned without "
                              "calling started",
                              c->func);
    else if (err)
      why = ax_error_dup(err);
    c->reported = 1;
    ax__waiter_fire(&c->open,
                    why          ? AX_EREMOTE
                    : status < 0 ? status
                                 : AX_ENOMEM,
                    NULL, why);
  }
  if (c->res.on) {
    c->taken = 1;
    c->result = NULL;
    c->err = NULL;
    ax__waiter_fire(&c->res, status, result, err);
  }
  if (c->close.on) finish_close(c);
}

/* The opener stops waiting for started: the callee is asked to cancel,
 * and the context stays the caller's to close. */
static void open_cancel(ax_op *op) {
  ax_context *c = ax__container_of(op, ax_context, open.op);
  if (!c->open.on) return;
  c->cancel_asked = 1;
  if (c->call) ax__call_cancel_keep(c->call);
  ax__waiter_fire(&c->open, AX_ECANCELED, NULL, NULL);
}

static int open_cb(ax_portal *p, const char *ns, const char *func,
                   const ax_data *kwargs, int kind, ax_context **out,
                   ax_done_cb cb, void *ud, ax_op **op) {
  const void *args;
  size_t len;
  if (!p || !func || !out || !cb || ax__data_args(kwargs, &args, &len) < 0)
    return AX_EINVAL;
  ax__peer *peer;
  int rc = ax__portal_peer(p, &peer);
  if (rc < 0) return rc;
  size_t fl = strlen(func);
  ax_context *c = calloc(1, sizeof *c + fl + 1);
  if (!c) return AX_ENOMEM;
  memcpy(c->func, func, fl + 1);
  c->peer = peer;
  c->state = CTX_OPENING;
  c->open = (ax__waiter){{open_cancel}, cb, ud, 1};
  rc = ax__peer_open(peer, ns, func, args, len, kind, on_started, on_stream,
                     on_end, c, &c->call);
  if (rc < 0) {
    free(c);
    return rc;
  }
  c->cid = c->call->node.cid;
  peer->refs++;
  *out = c;
  if (op) *op = &c->open.op;
  return 0;
}

int ax_portal_open_context_cb(ax_portal *p, const char *ns, const char *func,
                              const ax_data *kwargs, ax_context **out,
                              ax_done_cb cb, void *ud, ax_op **op) {
  return open_cb(p, ns, func, kwargs, 1, out, cb, ud, op);
}

static int open_block(ax_portal *p, const char *ns, const char *func,
                      const ax_data *kwargs, int kind, ax_context **out,
                      ax_data **first, ax_error **err) {
  if (first) *first = NULL;
  if (err) *err = NULL;
  if (!out) return AX_EINVAL;
  *out = NULL;
  int rc = ax__can_block();
  if (rc < 0) return rc;
  ax_context *c;
  ax__blk b;
  ax__blk_init(&b);
  ax__wait_about(&b.w, "waiting for actor '%s' to start context '%s'",
                 p ? p->id.name : "", func);
  rc = open_cb(p, ns, func, kwargs, kind, &c, ax__blk_cb, &b, &b.op);
  if (rc < 0) return rc;
  rc = ax__blk_wait(&b, first, err);
  if (rc < 0) {
    /* Nothing is left for the caller to close. */
    abandon(c);
    context_free(c);
    return rc;
  }
  *out = c;
  return 0;
}

int ax_portal_open_context(ax_portal *p, const char *ns, const char *func,
                           const ax_data *kwargs, ax_context **out,
                           ax_data **first, ax_error **err) {
  return open_block(p, ns, func, kwargs, 1, out, first, err);
}

int ax_portal_open_stream_from(ax_portal *p, const char *ns, const char *func,
                               const ax_data *kwargs, ax_context **out,
                               ax_stream **stream, ax_error **err) {
  if (!stream) return AX_EINVAL;
  int rc = open_block(p, ns, func, kwargs, 2, out, NULL, err);
  if (rc == 0 && (rc = ax_context_open_stream(*out, NULL, stream)) < 0) {
    abandon(*out);
    context_free(*out);
    *out = NULL;
  }
  return rc;
}

static void res_cancel(ax_op *op) {
  ax_context *c = ax__container_of(op, ax_context, res.op);
  if (c->res.on) ax__waiter_fire(&c->res, AX_ECANCELED, NULL, NULL);
}

int ax_context_result_cb(ax_context *c, ax_done_cb cb, void *ud, ax_op **op) {
  if (!c || !cb) return AX_EINVAL;
  if (c->taken || c->res.on || c->close.on || c->abandoned) return AX_ESTATE;
  if (c->state == CTX_ENDED) {
    int rc = ax__defer_done(cb, ud, c->status, c->result, c->err);
    if (rc < 0) return rc;
    c->taken = 1;
    c->result = NULL;
    c->err = NULL;
    return 0;
  }
  c->res = (ax__waiter){{res_cancel}, cb, ud, 1};
  if (op) *op = &c->res.op;
  return 0;
}

int ax_context_result(ax_context *c, ax_data **result, ax_error **err) {
  if (result) *result = NULL;
  if (err) *err = NULL;
  AX__BLOCK_ON(ax_context_result_cb(c, AX__BLK_ARGS), result, err,
               "waiting for the result of context '%s'", c ? c->func : "",
               NULL);
}

int ax_context_open_stream(ax_context *c, const ax_stream_opts *opts,
                           ax_stream **out) {
  if (!c || !out) return AX_EINVAL;
  if (c->state == CTX_OPENING || c->close.on) return AX_ESTATE;
  ax_stream *s = stream_of(c);
  if (!s) return AX_ENOMEM;
  int rc = ax__stream_open(s, opts);
  if (rc < 0) return rc;
  /* A callee that has ended already: its values, then its end. */
  if (c->state == CTX_ENDED) end_stream(c);
  *out = s;
  return 0;
}

int ax_context_cancel(ax_context *c) {
  if (!c) return AX_EINVAL;
  if (c->call && !c->cancel_asked) {
    c->cancel_asked = 1;
    ax__call_cancel_keep(c->call);
  }
  return 0;
}

/* The closer stops waiting: the callee is left to cancel on its own. */
static void close_cancel(ax_op *op) {
  ax_context *c = ax__container_of(op, ax_context, close.op);
  if (!c->close.on) return;
  c->abandoned = 1;
  if (c->call)
    abandon(c); /* on_end finishes the close */
  else
    finish_close(c);
}

int ax_context_close_cb(ax_context *c, int body, ax_done_cb cb, void *ud,
                        ax_op **op) {
  if (!c || !cb) return AX_EINVAL;
  if (c->close.on) return AX_ESTATE;
  /* Closing ends the waits for the open and the result. */
  if (c->open.on) open_cancel(&c->open.op);
  if (c->res.on) ax__waiter_fire(&c->res, AX_ECANCELED, NULL, NULL);
  if (body < 0) ax_context_cancel(c);
  /* The stream first: what the callee still sends is dropped, so it is
   * never left waiting for credit; its receiving ends with our stop, or,
   * when our block failed, with the cancel. */
  ax_stream *st = c->state != CTX_ENDED ? stream_of(c) : c->stream;
  if (st) ax__stream_end_here(st, body >= 0);
  if (c->state == CTX_ENDED) {
    ax_error *err;
    int status = close_status(c, &err);
    int rc = ax__defer_done(cb, ud, status, NULL, err);
    if (rc < 0) {
      c->err = err; /* not taken after all */
      return rc;
    }
    context_free(c);
    return 0;
  }
  c->close = (ax__waiter){{close_cancel}, cb, ud, 1};
  if (op) *op = &c->close.op;
  return 0;
}

int ax_context_close(ax_context *c, int body, ax_error **err) {
  if (err) *err = NULL;
  if (!c) return AX_EINVAL;
  int rc = ax__can_block();
  if (rc < 0) {
    /* A context is always ended: here without waiting for the callee. */
    abandon(c);
    context_free(c);
    return rc;
  }
  ax__blk b;
  ax__blk_init(&b);
  ax__wait_about(&b.w, "waiting for context '%s' to end", c->func, NULL);
  rc = ax_context_close_cb(c, body, ax__blk_cb, &b, &b.op);
  if (rc < 0) return rc;
  return ax__blk_wait(&b, NULL, err);
}

/* serve.c - the calls this actor serves. Each is an ax_ctx, allocated with
 * its peer and call id (from a free list), so that it can outlive the code
 * that started it: a call runs in a task of its own, or, for a loader that
 * says it is asynchronous (a binding on a foreign event loop), it starts on
 * the loop and ends whenever the binding calls ax_ctx_finish. The outcome
 * goes to the caller as it was packed, without being decoded again.
 *
 * start_ack: a call that ends before the loop next writes to its peer sends
 * none; one still running then gets a start_ack in that write. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define NAME_INLINE 48

struct ax_ctx {
  ax__incall in;  /* the peer's handle on it: cid, cancel */
  ax__peer *peer; /* NULL for a local call */
  ax_pack *result;
  ax_error *err;
  const char *spec; /* module the function belongs to */
  const ax_loader *loader;
  void *mod;
  char *ns, *func;    /* in names[] when short enough */
  ax_data *args;      /* owned arguments, or NULL */
  const ax_val *argv; /* what the function gets */
  ax_task *task;      /* running it, unless the loader is asynchronous */
  ax__list unacked;   /* in the list of calls owing a start_ack */
  int pending;        /* the loader returned AX_EPENDING */
  int local;          /* may load modules not enabled (ax_call_local) */
  int cancelled;      /* a local call cancelled before it started */
  int context;        /* opened as a context: it may send started */
  int by_caller;      /* its caller cancelled it */
  int by_self;        /* it cancelled itself (ax_ctx_cancel) */
  int started;        /* it did */
  int misuse;         /* the last context call refused (MISUSE_...) */
  ax_stream *stream;  /* a context's, made on first use */
  ax_done_cb cb;      /* a local call's completion */
  void *ud;
  ax_op op;
  char names[NAME_INLINE];
};

/* A context call the function made out of turn: when the function then
 * returns that call's AX_ESTATE, its caller learns which, not a code. */
enum { MISUSE_NONE, MISUSE_NOT_CONTEXT, MISUSE_TWICE, MISUSE_GENERATOR,
       MISUSE_NOT_STARTED };

static ax__pool ctx_pool = AX__POOL(256);
static ax__list unacked = {&unacked, &unacked};

/* --------------------------------------------------------- records */

static ax_ctx *ctx_get(void) {
  ax_ctx *c = ax__pool_get(&ctx_pool, sizeof *c);
  if (!c) return NULL;
  memset(c, 0, offsetof(ax_ctx, names));
  ax__list_init(&c->unacked);
  return c;
}

static void ctx_put(ax_ctx *c) {
  ax__list_remove(&c->unacked);
  ax__stream_free(c->stream);
  ax_pack_free(c->result);
  ax_error_free(c->err);
  ax_data_free(c->args);
  if (c->func && c->func != c->names) free(c->func);
  ax__pool_put(&ctx_pool, c);
}

/* ns and func side by side, inline when they fit. */
static int set_names(ax_ctx *c, const char *ns, size_t nl, const char *func,
                     size_t fl) {
  size_t need = nl + fl + 2;
  char *b = need <= NAME_INLINE ? c->names : malloc(need);
  if (!b) return AX_ENOMEM;
  memcpy(b, func, fl);
  b[fl] = 0;
  memcpy(b + fl + 1, ns, nl);
  b[fl + 1 + nl] = 0;
  c->func = b;
  c->ns = b + fl + 1;
  return 0;
}

/* ---------------------------------------------------------- outcome */

/* A context cancelled from outside ends with a ContextCancelled that
 * names who cancelled it, in its info's "canceller" ({name, uid, pid}):
 * its caller, itself (ax_ctx_cancel), or whoever cancelled this actor as
 * a whole. The caller absorbs it when it was the one that asked. NULL when it
 * was neither (a deadline of the function's own). */
static ax_error *context_cancelled(const ax_ctx *c) {
  const ax__ident *who = c->by_caller              ? &c->peer->id
                         : c->by_self              ? &ax__rt_g->self
                         : ax__rt_g->has_canceller ? &ax__rt_g->canceller
                                                   : NULL;
  if (!who) return NULL;
  ax_error *e = ax_error_new_kind(
      AX_K_CONTEXT_CANCELLED, "context '%s' was cancelled by %s'%s'", c->func,
      who == &c->peer->id ? "its caller " : "actor ", who->name);
  ax_pack *p = ax_pack_new();
  ax_data *info = NULL;
  if (p) {
    ax_pack_map(p, 1);
    ax_pack_str(p, "canceller");
    ax_pack_map(p, 3);
    ax_pack_str(p, "name");
    ax_pack_str(p, who->name);
    ax_pack_str(p, "uid");
    ax_pack_str(p, who->uid);
    ax_pack_str(p, "pid");
    ax_pack_int(p, who->pid);
  }
  if (p && ax_pack_finish(p, &info) == 0 && e) ax_error_set_info(e, info);
  ax_data_free(info);
  return e;
}

static ax_error *misuse_error(const ax_ctx *c) {
  switch (c->misuse) {
    case MISUSE_NOT_CONTEXT:
      return ax_error_new_kind(
          AX_K_USAGE_ERROR,
          "'%s' was called plainly, not opened as a context "
          "(ax_ctx_is_context(ctx) is 0): it has no started and no stream",
          c->func);
    case MISUSE_TWICE:
      return ax_error_new_kind(AX_K_USAGE_ERROR,
                               "ax_ctx_started: called twice in '%s'; a "
                               "context sends one first value",
                               c->func);
    case MISUSE_GENERATOR:
      return ax_error_new_kind(
          AX_K_USAGE_ERROR,
          "ax_ctx_started: '%s' was opened as a generator stream "
          "(open_stream_from), whose started the runtime sends: call "
          "ax_ctx_started only when ax_ctx_is_context(ctx) is 1",
          c->func);
    default:
      return ax_error_new_kind(AX_K_USAGE_ERROR,
                               "ax_ctx_open_stream: '%s' opened its stream "
                               "before ax_ctx_started",
                               c->func);
  }
}

/* Turn the function's return code and what it set on ctx into what the
 * caller gets: 0 and c->result (validated), or AX_EREMOTE and the error
 * in c->err, which is NULL only when not even that could be made: out of
 * memory, which the reply still says. */
static int outcome(ax_ctx *c, int rc, ax__scan *sc) {
  if (rc == 0 && !c->err) {
    if (!c->result) return 0;
    size_t len;
    const uint8_t *b = ax_pack_bytes(c->result, &len);
    if (!ax__pack_failed(c->result) && ax__mp_scan(b, len, sc) == 0 &&
        sc->used == len)
      return 0;
    c->err = ax_error_new_kind(
        ax__pack_failed(c->result) ? AX_K_MEMORY_ERROR : AX_K_TYPE_ERROR,
        "the function returned malformed msgpack");
    return AX_EREMOTE;
  }
  if (c->context && c->peer &&
      (c->err ? ax_error_kind(c->err) == AX_K_CANCELLED : rc == AX_ECANCELED)) {
    /* A context cancelled from outside (the function returned the code,
     * or a binding raised the Cancelled itself) ends with a
     * ContextCancelled naming who did it. */
    ax_error *cc = context_cancelled(c);
    if (cc) {
      ax_error_free(c->err);
      c->err = cc;
    }
  }
  if (c->err) return AX_EREMOTE;
  if (rc == AX_ECANCELED) {
    /* What cancelled it, and what it was waiting for then. */
    char msg[256];
    ax__cancel_text(msg, sizeof msg, NULL, "the call was cancelled");
    c->err = ax_error_new_kind(AX_K_CANCELLED, "%s", msg);
  } else if (rc == AX_ENOMEM) {
    c->err = ax_error_new_kind(AX_K_MEMORY_ERROR, "out of memory");
  } else if (rc == AX_EREMOTE) {
    /* It raised an error that could not be made. */
    c->err = ax_error_new_kind(AX_K_MEMORY_ERROR,
                               "out of memory for the function's error");
  } else if (rc == AX_ESTATE && c->misuse) {
    c->err = misuse_error(c);
  } else {
    c->err =
        ax_error_new_kind(AX_K_RUNTIME_ERROR, "the function failed: %s (%s)",
                          ax_strerror(rc), ax_err_name(rc));
  }
  return AX_EREMOTE;
}

/* A call's outcome could not be queued: close the channel rather than
 * leave the caller waiting for it forever; all its calls end with it. */
static void lost(ax__peer *peer, uint64_t cid, int rc) {
  if (rc == AX_ECLOSED) return; /* closing already */
  ax_log(AX_LOG_ERROR,
         "cannot send the outcome of call %llu to %s (%s); closing the "
         "channel",
         (unsigned long long)cid, peer->id.name, ax_strerror(rc));
  ax__chan_close(&peer->chan, rc);
}

static void reply(ax_ctx *c, int status) {
  ax__peer *peer = c->peer;
  if (peer->state >= AX__PEER_CLOSING) return;
  uint64_t cid = c->in.node.cid;
  int rc;
  if (status == 0) {
    size_t len = 1;
    const void *b = c->result ? ax_pack_bytes(c->result, &len) : "\xc0";
    ax__msg m = {.type = AX__M_RETURN};
    AX__SET(&m, cid, cid);
    ax__msg_set_raw(&m, AX__F_value, b, len);
    rc = c->result ? ax__peer_send_pack(peer, &m, AX__F_value, c->result)
                   : ax__peer_send(peer, &m);
    if (rc == AX_EMSGSIZE) {
      ax_error *e = ax__peer_too_large(peer, " (the result)");
      rc = ax__peer_send_error(peer, cid, e);
      ax_error_free(e);
    } else if (rc == AX_ENOMEM) {
      rc = ax__peer_send_error(peer, cid, NULL);
    }
  } else {
    rc = ax__peer_send_error(peer, cid, c->err);
  }
  if (rc < 0) lost(peer, cid, rc);
}

/* A debug line naming the function of a call, as it starts (status 1)
 * or as it ends (0 returned, else raised). */
__attribute__((cold, noinline)) static void log_call(const ax_ctx *c,
                                                     int status) {
  char who[128] = "local call";
  if (c->peer)
    snprintf(who, sizeof who, "call %llu%s%s",
             (unsigned long long)c->in.node.cid, status == 1 ? " from " : "",
             status == 1 ? c->peer->id.name : "");
  if (status == 1)
    ax_log(AX_LOG_DEBUG, "%s: %s() in %s", who, c->func, c->spec);
  else if (status == 0)
    ax_log(AX_LOG_DEBUG, "%s: %s() returned", who, c->func);
  else
    ax_log(AX_LOG_DEBUG, "%s: %s() raised %s", who, c->func,
           c->err ? ax_error_type(c->err) : "MemoryError");
}

/* The call is over: report it and release the record. */
static void finish(ax_ctx *c, int rc) {
  ax__scan sc;
  int status = outcome(c, rc, &sc);
  if (AX__DEBUG) log_call(c, status);
  if (c->peer) {
    reply(c, status);
    ax__peer *peer = c->peer;
    /* Out of the peer's cid map first: ctx_put may free c. */
    ax__peer_incall_remove(peer, &c->in);
    ctx_put(c);
    return;
  }
  ax_data *r = NULL;
  ax_error *e = NULL;
  if (status == 0 && c->result) {
    r = ax__data_make(ax_pack_bytes(c->result, NULL), &sc);
    if (!r) {
      status = AX_EREMOTE;
      e = ax_error_new_kind(AX_K_MEMORY_ERROR, "out of memory");
    }
  } else if (status != 0) {
    e = c->err;
    c->err = NULL;
  }
  if (status == AX_EREMOTE && !e) status = AX_ENOMEM; /* no error to give */
  ax_done_cb cb = c->cb;
  void *ud = c->ud;
  ctx_put(c);
  cb(ud, status, r, e);
}

int ax_ctx_started(ax_ctx *ctx, ax_pack *value) {
  int rc = 0;
  ax__scan sc;
  size_t len = 1;
  const void *b = "\xc0";
  if (!ctx)
    rc = AX_EINVAL;
  else if (!ctx->context || ctx->started) {
    rc = AX_ESTATE;
    ctx->misuse = !ctx->context         ? MISUSE_NOT_CONTEXT
                  : ctx->context == 2 ? MISUSE_GENERATOR
                                      : MISUSE_TWICE;
  }
  else if (value) {
    b = ax_pack_bytes(value, &len);
    if (ax__pack_failed(value))
      rc = AX_ENOMEM;
    else if (ax__mp_scan(b, len, &sc) != 0 || sc.used != len)
      rc = AX_EINVAL;
  }
  if (rc == 0 && ctx->peer->state < AX__PEER_CLOSING) {
    ax__msg m = {.type = AX__M_STARTED};
    AX__SET(&m, cid, ctx->in.node.cid);
    ax__msg_set_raw(&m, AX__F_value, b, len);
    rc = value ? ax__peer_send_pack(ctx->peer, &m, AX__F_value, value)
               : ax__peer_send(ctx->peer, &m);
  }
  /* Sent (or the caller is gone): its stream may open. A value too large
   * was not: the function may try again. */
  if (rc == 0 || rc == AX_ECLOSED) ctx->started = 1;
  ax_pack_free(value);
  return rc;
}

int ax_ctx_is_context(const ax_ctx *ctx) { return ctx ? ctx->context : 0; }

size_t ax_ctx_max_message(const ax_ctx *ctx) {
  return ctx && ctx->peer ? ax__peer_max_message(ctx->peer) : 0;
}

static ax_stream *stream_of(ax_ctx *c) {
  if (!c->stream) c->stream = ax__stream_new(c->peer, c->in.node.cid, 0);
  return c->stream;
}

/* A stream message from the caller of a context we serve. */
static int incall_stream(ax__incall *in, const ax__msg *m) {
  ax_ctx *c = ax__container_of(in, ax_ctx, in);
  ax_stream *s = stream_of(c);
  return s ? ax__stream_msg(s, m) : AX_ENOMEM;
}

int ax_ctx_open_stream(ax_ctx *ctx, const ax_stream_opts *opts,
                       ax_stream **out) {
  if (!ctx || !out) return AX_EINVAL;
  if (!ctx->context || !ctx->started) {
    ctx->misuse = ctx->context ? MISUSE_NOT_STARTED : MISUSE_NOT_CONTEXT;
    return AX_ESTATE;
  }
  ax_stream *s = stream_of(ctx);
  if (!s) return AX_ENOMEM;
  int rc = ax__stream_open(s, opts);
  if (rc == 0) *out = s;
  return rc;
}

int ax_ctx_finish(ax_ctx *ctx, int rc) {
  if (!ctx || !ctx->pending) return AX_EINVAL;
  ctx->pending = 0;
  finish(ctx, rc);
  return 0;
}

/* ----------------------------------------------------------- running */

/* Find the module and its loader; on failure ctx->err says why, unless
 * memory ran out before it could (AX_ENOMEM). */
static int resolve(ax_ctx *c) {
  int rc = ax__module_lookup(c->ns, c->func, c->local, &c->loader, &c->mod,
                             &c->spec, &c->err);
  return rc >= 0 ? 0 : c->err ? AX_EREMOTE : AX_ENOMEM;
}

static int call_task(void *arg) {
  ax_ctx *c = arg;
  int rc = c->loader->call(c->mod, c, c->func, c->argv);
  c->task = NULL;
  if (rc == AX_EPENDING) {
    c->pending = 1; /* a task-run loader may finish later too */
    return 0;
  }
  finish(c, rc);
  return 0;
}

static void ctx_interrupt(ax_ctx *c) {
  if (c->loader && c->loader->size > offsetof(ax_loader, interrupt) &&
      c->loader->interrupt)
    c->loader->interrupt(c->mod, c);
}

static void cancel_incall(ax__incall *in) {
  ax_ctx *c = ax__container_of(in, ax_ctx, in);
  c->by_caller = 1;
  if (c->task) ax__task_cancel_by(c->task, "by its caller");
  ctx_interrupt(c);
}

int ax_ctx_cancel(ax_ctx *ctx) {
  if (!ctx) return AX_EINVAL;
  if (!ctx->context || !ctx->peer) return AX_ESTATE;
  ctx->by_self = 1;
  if (ctx->task) ax__task_cancel_by(ctx->task, "by itself");
  ctx_interrupt(ctx);
  return 0;
}

static void local_cancel(ax_op *op) {
  ax_ctx *c = ax__container_of(op, ax_ctx, op);
  c->cancelled = 1;
  if (c->task) ax_task_cancel(c->task);
  ctx_interrupt(c);
}

/* Run c: on the loop for an asynchronous loader, else in a new task. */
static int run(ax_ctx *c) {
  int rc = resolve(c);
  if (rc < 0) {
    finish(c, rc);
    return 0;
  }
  if (AX__DEBUG) log_call(c, 1);
  if (c->loader->size > offsetof(ax_loader, flags) &&
      (c->loader->flags & AX_LOADER_ASYNC)) {
    rc = c->loader->call(c->mod, c, c->func, c->argv);
    if (rc == AX_EPENDING)
      c->pending = 1;
    else
      finish(c, rc);
    return 0;
  }
  rc = ax_task_start(call_task, c, &c->task);
  if (rc < 0) return rc;
  /* The task frees itself; the handle is only used to cancel it. */
  ax__task_detach(c->task);
  return 0;
}

static void reject(ax__peer *peer, uint64_t cid, int rc) {
  ax_error *e = ax_error_new_kind(AX_K_MEMORY_ERROR,
                                  "cannot serve the call: %s", ax_strerror(rc));
  rc = ax__peer_send_error(peer, cid, e);
  ax_error_free(e);
  if (rc < 0) lost(peer, cid, rc);
}

void ax__serve_start(ax__peer *peer, const ax__msg *m) {
  ax_ctx *c = ctx_get();
  if (!c) {
    reject(peer, m->cid, AX_ENOMEM);
    return;
  }
  c->peer = peer;
  c->in.node.cid = m->cid;
  c->in.cancel = cancel_incall;
  c->context =
      AX__HAS(m, ctx) && (m->ctx == 1 || m->ctx == 2) ? (int)m->ctx : 0;
  if (c->context) c->in.stream = incall_stream;
  int rc =
      set_names(c, m->ns.p ? m->ns.p : "", m->ns.len, m->func.p, m->func.len);
  if (rc == 0 && AX__HAS(m, kwargs) &&
      !(c->args = ax__peer_value(&m->kwargs)))
    rc = AX_ENOMEM;
  c->argv = ax_data_root(c->args);
  if (rc == 0) rc = ax__peer_incall_add(peer, &c->in);
  if (rc < 0) {
    reject(peer, m->cid, rc);
    ctx_put(c);
    return;
  }
  ax__list_push(&unacked, &c->unacked);
  ax__rt_g->before_flush = ax__serve_before_flush;
  /* A generator's caller waits for no value of the function's own. */
  if (c->context == 2) ax_ctx_started(c, NULL);
  if ((rc = run(c)) < 0) {
    c->err = ax_error_new_kind(AX_K_MEMORY_ERROR, "cannot serve the call: %s",
                               ax_strerror(rc));
    finish(c, rc);
  }
}

/* Before the loop writes: calls still running owe their callers a
 * start_ack, which rides in that same write. */
void ax__serve_before_flush(void) {
  ax__rt_g->before_flush = NULL; /* until a call starts again */
  while (!ax__list_empty(&unacked)) {
    ax_ctx *c = ax__container_of(unacked.next, ax_ctx, unacked);
    ax__list_remove(&c->unacked);
    if (c->peer->state >= AX__PEER_CLOSING) continue;
    ax__msg ack = {.type = AX__M_START_ACK};
    AX__SET(&ack, cid, c->in.node.cid);
    ax__msg_set_str(&ack, AX__F_kind, "asyncfunc");
    /* Informational: a caller never counts on it, so one that cannot be
     * queued (out of memory) is left out. */
    (void)ax__peer_send(c->peer, &ack);
  }
}

/* ------------------------------------------------------- local calls */

static void run_deferred(void *arg) {
  ax_ctx *c = arg;
  int rc = c->cancelled ? AX_ECANCELED : run(c);
  if (rc < 0) {
    if (rc != AX_ECANCELED)
      c->err = ax_error_new_kind(AX_K_MEMORY_ERROR, "cannot start the call: %s",
                                 ax_strerror(rc));
    finish(c, rc);
  }
}

int ax_call_local_cb(const char *spec, const char *func, const ax_data *kwargs,
                     ax_done_cb cb, void *ud, ax_op **op) {
  if (!spec || !func || !cb || !ax__rt_g) return AX_EINVAL;
  ax_ctx *c = ctx_get();
  if (!c) return AX_ENOMEM;
  c->local = 1;
  c->cb = cb;
  c->ud = ud;
  c->op.cancel = local_cancel;
  int rc = set_names(c, spec, strlen(spec), func, strlen(func));
  if (rc == 0 && kwargs && !(c->args = ax_data_dup(kwargs))) rc = AX_ENOMEM;
  c->argv = ax_data_root(c->args);
  /* The callback never runs inside this call: start from the loop. */
  if (rc == 0) rc = ax__defer(run_deferred, c);
  if (rc < 0) {
    ctx_put(c);
    return rc;
  }
  if (op) *op = &c->op;
  return 0;
}

int ax_call_local(const char *spec, const char *func, const ax_data *kwargs,
                  ax_data **result, ax_error **err) {
  if (result) *result = NULL;
  if (err) *err = NULL;
  if (!spec || !func) return AX_EINVAL;
  int rc = ax__can_block();
  if (rc < 0) return rc;
  ax_ctx *c = ctx_get();
  if (!c) return AX_ENOMEM;
  ax__blk b;
  ax__blk_init(&b);
  ax__wait_about(&b.w, "waiting for function '%s'", func, NULL);
  c->local = 1;
  c->cb = ax__blk_cb;
  c->ud = &b;
  c->op.cancel = local_cancel;
  c->argv = ax_data_root(kwargs); /* the caller's until we return */
  if (set_names(c, spec, strlen(spec), func, strlen(func)) < 0) {
    ctx_put(c);
    return AX_ENOMEM;
  }
  /* The entry function runs in this very task, as the actor's main. */
  if ((rc = resolve(c)) < 0) {
    finish(c, rc);
  } else {
    if (AX__DEBUG) log_call(c, 1);
    rc = c->loader->call(c->mod, c, c->func, c->argv);
    if (rc == AX_EPENDING) {
      c->pending = 1;
      b.op = &c->op;
    } else {
      finish(c, rc);
    }
  }
  return ax__blk_wait(&b, result, err);
}

/* ------------------------------------------------------------- ax_ctx */

int ax_ctx_return(ax_ctx *ctx, ax_pack *value) {
  if (!ctx || !value) {
    ax_pack_free(value);
    return AX_EINVAL;
  }
  ax_pack_free(ctx->result);
  ctx->result = value;
  return 0;
}

int ax_ctx_return_val(ax_ctx *ctx, const ax_val *value) {
  ax_pack *p = ax_pack_new();
  if (!p) return AX_ENOMEM;
  int rc = value ? ax_pack_val(p, value) : ax_pack_nil(p);
  if (rc < 0) {
    ax_pack_free(p);
    return rc;
  }
  return ax_ctx_return(ctx, p);
}

int ax_ctx_fail(ax_ctx *ctx, const char *type, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  /* Any length: the reply cuts what does not fit the caller. Out of
   * memory, the error is NULL and the caller gets a MemoryError. */
  char *msg = ax__vasprintf(fmt ? fmt : "", ap);
  va_end(ap);
  char *bt = msg ? ax__backtrace(1) : NULL;
  ax_error *e = msg ? ax__error_make(type, msg, bt, NULL) : NULL;
  free(bt);
  free(msg);
  return ax_ctx_raise(ctx, e);
}

int ax_ctx_raise(ax_ctx *ctx, ax_error *err) {
  if (!ctx) {
    ax_error_free(err);
    return AX_EINVAL;
  }
  ax_error_free(ctx->err);
  ctx->err = err;
  return AX_EREMOTE;
}

const char *ax_ctx_module(const ax_ctx *ctx) {
  return ctx && ctx->spec ? ctx->spec : "";
}

const char *ax_ctx_function(const ax_ctx *ctx) {
  return ctx && ctx->func ? ctx->func : "";
}

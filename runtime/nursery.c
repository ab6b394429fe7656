/* nursery.c - actor nurseries: no child outlives the nursery that started
 * it. One-cancels-all: the first failure cancels every sibling and the
 * body, and closing the nursery reports the failure (a group when several
 * children failed). */
#include <stdlib.h>

#include "internal.h"

int ax_nursery_open(ax_nursery **out) {
  if (!out || !ax__rt_g) return AX_EINVAL;
  ax_nursery *n = calloc(1, sizeof *n);
  if (!n) return AX_ENOMEM;
  ax__list_init(&n->children);
  if (ax_in_task()) {
    n->scope = ax_scope_open(AX_FOREVER);
    if (!n->scope) {
      free(n);
      return AX_ENOMEM;
    }
  }
  ax__list_push(&ax__rt_g->nurseries, &n->link);
  *out = n;
  return 0;
}

/* Closing waits for daemons nobody cancelled: after this long, say so at
 * the default log level, since that wait may well be for ever. */
#define SLOW_CLOSE_MS 5000

/* A daemon still running that nobody asked to stop: closing waits for
 * it until it is cancelled. */
static int uncancelled_daemon(const ax__child *c) {
  return c->state != AX__P_EXITED && !c->oneshot && !c->cancel_sent;
}

static int waits_for_daemons(const ax_nursery *n, int warn) {
  int k = 0;
  ax__list_each(it, &n->children) {
    ax__child *c = ax__container_of(it, ax__child, link);
    if (!uncancelled_daemon(c)) continue;
    k++;
    if (warn)
      ax_log(AX_LOG_WARN,
             "closing a nursery: still waiting for actor '%s' (pid %d) "
             "after %d s; a daemon runs until it is cancelled "
             "(portal:cancel_actor() in Lua, ax_portal_cancel_actor in C)",
             c->portal.id.name, c->portal.id.pid, SLOW_CLOSE_MS / 1000);
  }
  return k;
}

static void slow_close(uv_timer_t *t) {
  ax_nursery *n = t->data;
  if (!n->cancelled) waits_for_daemons(n, 1);
}

static void stop_slow_close(ax_nursery *n) {
  if (!n->slow) return;
  uv_close((uv_handle_t *)n->slow, (uv_close_cb)free);
  n->slow = NULL;
}

int ax_nursery_cancel(ax_nursery *n) {
  if (!n) return AX_EINVAL;
  n->cancelled = 1;
  stop_slow_close(n);
  ax__list_each(it, &n->children) {
    ax__child_cancel(ax__container_of(it, ax__child, link));
  }
  return 0;
}

void ax__nurseries_cancel(const char *why) {
  ax__list_each(it, &ax__rt_g->nurseries) {
    ax_nursery *n = ax__container_of(it, ax_nursery, link);
    if (n->cancelled || n->nalive == 0) continue;
    if (why) ax_log(AX_LOG_WARN, "%s", why);
    why = NULL;
    ax_nursery_cancel(n);
  }
}

static void nursery_fail(void *owner, ax_error *err) {
  ax_nursery *n = owner;
  if (!err) return;
  ax_error **grown = realloc(n->errors, (n->nerrors + 1) * sizeof *grown);
  if (!grown) {
    ax_error_free(err);
  } else {
    n->errors = grown;
    n->errors[n->nerrors++] = err;
  }
  ax_nursery_cancel(n);
  if (n->scope) ax_scope_cancel(n->scope);
  /* Outside a task there is no body to cancel: tell the owner. */
  if (n->on_failure && n->nerrors && n->errors[n->nerrors - 1] == err)
    n->on_failure(n->failure_ud, err);
}

int ax_nursery_on_failure(ax_nursery *n,
                          void (*cb)(void *ud, const ax_error *err), void *ud) {
  if (!n) return AX_EINVAL;
  n->on_failure = cb;
  n->failure_ud = ud;
  return 0;
}

static void nursery_free(ax_nursery *n) {
  while (!ax__list_empty(&n->children)) {
    ax__child *c = ax__container_of(n->children.next, ax__child, link);
    ax__list_remove(&c->link);
    ax__child_free(c);
  }
  free(n);
}

static void nursery_finish(ax_nursery *n) {
  ax_error *err = NULL;
  if (n->nerrors == 1) {
    err = n->errors[0];
  } else if (n->nerrors > 1) {
    err = ax__error_group(n->errors, n->nerrors);
    if (!err) {
      /* Keep the first failure rather than none. */
      err = n->errors[0];
      for (size_t i = 1; i < n->nerrors; i++) ax_error_free(n->errors[i]);
    }
  }
  free(n->errors);
  n->errors = NULL;
  n->nerrors = 0;
  stop_slow_close(n);
  ax__list_remove(&n->link);
  ax_done_cb cb = n->close_cb;
  void *ud = n->close_ud;
  /* A blocking closer frees it once its task resumes: until then other
   * tasks may still hold the nursery and its portals. */
  if (!n->keep) nursery_free(n);
  cb(ud, err ? AX_EREMOTE : 0, NULL, err);
}

static void finish_deferred(void *arg) { nursery_finish(arg); }

static void child_exited(void *owner) {
  ax_nursery *n = owner;
  n->nalive--;
  /* Finish from the loop: the caller still holds the portal. */
  if (n->closing && n->nalive == 0) ax__defer(finish_deferred, n);
}

static const ax__child_owner nursery_owner = {nursery_fail, child_exited};

static int child_start(ax_nursery *n, const char *name,
                       const ax_spawn_opts *opts, const char *func,
                       const ax_data *kwargs, ax_portal **out, ax_done_cb cb,
                       void *ud, ax_op **op, ax_error **why) {
  if (!n) return AX_EINVAL;
  /* A child started now would never be cancelled, and the nursery would
   * never close: a cancelled or closing nursery starts nothing. */
  if (n->closing || n->cancelled) {
    if (why)
      *why = ax_error_new_kind(
          AX_K_RUNTIME_ERROR, "cannot start actor '%s': the nursery is %s",
          name ? name : "", n->closing ? "closing" : "cancelled");
    return AX_ESTATE;
  }
  ax__child *c;
  int rc = ax__child_start(&nursery_owner, n, name, opts, func, kwargs, &c, cb,
                           ud, op, why);
  if (rc < 0) return rc;
  ax__list_push(&n->children, &c->link);
  n->nalive++;
  if (out) *out = &c->portal;
  return 0;
}

int ax_start_actor_cb(ax_nursery *n, const char *name,
                      const ax_spawn_opts *opts, ax_portal **out, ax_done_cb cb,
                      void *ud, ax_op **op) {
  return child_start(n, name, opts, NULL, NULL, out, cb, ud, op, NULL);
}

int ax_run_in_actor_cb(ax_nursery *n, const char *name,
                       const ax_spawn_opts *opts, const char *func,
                       const ax_data *kwargs, ax_portal **out, ax_done_cb cb,
                       void *ud, ax_op **op) {
  if (!func) return AX_EINVAL;
  return child_start(n, name, opts, func, kwargs, out, cb, ud, op, NULL);
}

/* The blocking forms: a start that fails at once may say why (*err). */
static int start_blocking(ax_nursery *n, const char *name,
                          const ax_spawn_opts *opts, const char *func,
                          const ax_data *kwargs, ax_portal **out,
                          ax_error **err) {
  if (err) *err = NULL;
  int rc = ax__can_block();
  if (rc < 0) return rc;
  ax__blk b;
  ax__blk_init(&b);
  ax__wait_about(&b.w, "waiting for actor '%s' to start", name, NULL);
  ax_error *why = NULL;
  /* A caller that takes no error gets the reason in the log instead. */
  rc = child_start(n, name, opts, func, kwargs, out, ax__blk_cb, &b, &b.op,
                   err ? &why : NULL);
  if (rc < 0) {
    if (err) *err = why;
    return rc;
  }
  ax_error *failed = NULL;
  rc = ax__blk_wait(&b, NULL, &failed);
  if (err) {
    *err = failed;
  } else if (failed) {
    ax_log(AX_LOG_ERROR, "cannot start actor '%s': %s: %s", name,
           ax_error_type(failed), ax_error_message(failed));
    ax_error_free(failed);
  }
  return rc;
}

int ax_start_actor(ax_nursery *n, const char *name, const ax_spawn_opts *opts,
                   ax_portal **out, ax_error **err) {
  return start_blocking(n, name, opts, NULL, NULL, out, err);
}

int ax_run_in_actor(ax_nursery *n, const char *name, const ax_spawn_opts *opts,
                    const char *func, const ax_data *kwargs, ax_portal **out,
                    ax_error **err) {
  if (!func) {
    if (err) *err = NULL;
    return AX_EINVAL;
  }
  return start_blocking(n, name, opts, func, kwargs, out, err);
}

/* Closing cannot be abandoned: cancelling it takes the children down, and
 * the callback comes once they are reaped. */
static void close_op_cancel(ax_op *op) {
  ax_nursery_cancel(ax__container_of(op, ax_nursery, close_op));
}

int ax_nursery_close_cb(ax_nursery *n, ax_done_cb cb, void *ud, ax_op **op) {
  if (!n || !cb || n->closing) return AX_EINVAL;
  n->closing = 1;
  n->close_cb = cb;
  n->close_ud = ud;
  n->close_op.cancel = close_op_cancel;
  if (op) *op = &n->close_op;
  if (n->nalive == 0) return ax__defer(finish_deferred, n);
  /* Daemons end only when cancelled: say whom we wait for, so that a
   * nursery left with daemons running does not look hung. */
  if (!n->cancelled && ax_loglevel() >= AX_LOG_INFO) {
    ax__list_each(it, &n->children) {
      ax__child *c = ax__container_of(it, ax__child, link);
      if (uncancelled_daemon(c))
        ax_log(AX_LOG_INFO,
               "closing a nursery: waiting for actor '%s' "
               "(pid %d) to exit",
               c->portal.id.name, c->portal.id.pid);
    }
  }
  /* Not needed for the close: without memory, no warning. */
  if (!n->cancelled && waits_for_daemons(n, 0) &&
      (n->slow = malloc(sizeof *n->slow)) != NULL) {
    uv_timer_init(AX__LOOP, n->slow);
    n->slow->data = n;
    uv_timer_start(n->slow, slow_close, SLOW_CLOSE_MS, 0);
    uv_unref((uv_handle_t *)n->slow);
  }
  return 0;
}

typedef struct close_wait {
  ax__blk b;
  ax_nursery *n;
} close_wait;

/* Cancelled while waiting for the children: take them down, keep waiting. */
static void close_abort(ax__wait *w) {
  close_wait *cw = ax__container_of(w, close_wait, b.w);
  ax_nursery_cancel(cw->n);
}

int ax_nursery_close(ax_nursery *n, ax_error **err) {
  if (err) *err = NULL;
  if (!n) return AX_EINVAL;
  if (!ax_in_task()) return AX_ENOTASK;
  ax_scope *scope = n->scope;
  n->scope = NULL;
  close_wait cw;
  ax__blk_init(&cw.b);
  cw.b.w.abort = close_abort;
  ax__wait_about(&cw.b.w, "waiting for the actors of a nursery to exit", NULL,
                 NULL);
  cw.n = n;
  if (n->closing) return AX_EINVAL;
  n->keep = 1;
  int rc = ax_nursery_close_cb(n, ax__blk_cb, &cw.b, NULL);
  if (rc < 0) {
    n->keep = 0;
    return rc;
  }
  rc = ax__blk_wait(&cw.b, NULL, err);
  nursery_free(n);
  if (scope) ax_scope_close(scope);
  if (rc == 0 && ax__task_cancelled(ax__current())) return AX_ECANCELED;
  return rc;
}

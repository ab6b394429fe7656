/* child.c - a child record: what a parent keeps for each actor it
 * started. It owns the process, a copy of the spawn spec, and the state a
 * supervisor needs (starting, ready, stopping, exited; a one-shot's
 * outcome; who waits for its exit); it turns an unexpected death into an
 * error for its owner, known only through callbacks (a nursery's). The portal the caller holds is a handle on the
 * actor as a peer and is embedded here. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

typedef struct waiter {
  ax_op op;
  ax__list link;
  ax__child *p;
  ax_done_cb cb;
  void *ud;
} waiter;

static void start_done(ax__child *p, int status, ax_error *err) {
  if (!p->start.pending) {
    ax_error_free(err);
    return;
  }
  p->start.pending = 0;
  p->start.cb(p->start.ud, status, NULL, err);
}

/* Take the first waiter off list: its callback and data, or 0. */
static int waiter_pop(ax__list *list, ax_done_cb *cb, void **ud) {
  if (ax__list_empty(list)) return 0;
  waiter *w = ax__container_of(list->next, waiter, link);
  ax__list_remove(&w->link);
  *cb = w->cb;
  *ud = w->ud;
  free(w);
  return 1;
}

static void deliver_result(ax__child *p) {
  ax_done_cb cb;
  void *ud;
  while (waiter_pop(&p->result_waiters, &cb, &ud)) {
    if (p->error)
      cb(ud, AX_EREMOTE, NULL, ax_error_dup(p->error));
    else
      cb(ud, 0, ax_data_dup(p->result), NULL);
  }
}

/* Record a one-shot's outcome; a failure fails the owner unless the
 * actor never started (that failure is its starter's to report). */
static void set_result(ax__child *p, ax_data *result, ax_error *err,
                       int fail_owner) {
  if (p->have_result) {
    ax_data_free(result);
    ax_error_free(err);
    return;
  }
  p->have_result = 1;
  p->result = result;
  p->error = err;
  deliver_result(p);
  /* A real failure counts even when it comes while we cancel the actor;
   * only the cancellation we asked for is no failure. */
  if (fail_owner && err && ax_error_kind(err) != AX_K_CANCELLED)
    p->owner->fail(p->owner_ud, ax_error_dup(err));
}

/* The outcome of a one-shot that ended without one: a cancellation if we
 * had asked it to stop, else a failure. */
static ax_error *no_result_error(ax__child *p, const char *why) {
  if (p->cancel_sent)
    return ax_error_new_kind(AX_K_CANCELLED,
                             "actor '%s' was cancelled before its "
                             "result (%s)",
                             p->portal.id.name, why);
  return ax_error_new_kind(AX_K_ACTOR_EXITED,
                           "actor '%s' ended without a result (%s)",
                           p->portal.id.name, why);
}

static void on_main_result(void *ud, int status, ax_data *result,
                           ax_error *err) {
  ax__child *p = ud;
  if (status != 0 && !err) err = no_result_error(p, ax_strerror(status));
  set_result(p, result, err, 1);
  /* tractor's rule: a one-shot is cancelled once its result is in. */
  ax__child_cancel(p);
}

static void on_hello(ax__peer *peer, const ax__msg *m) {
  ax__child *p = peer->owner;
  (void)m;
  if (!p || p->state != AX__P_STARTING) return;
  p->state = AX__P_READY;
  if (p->oneshot) {
    const void *args;
    size_t len;
    ax__data_args(p->kwargs, &args, &len); /* checked at the start */
    int rc = ax__peer_call(p->portal.peer, "", p->func, args, len,
                           on_main_result, p, NULL);
    if (rc < 0) {
      /* Arguments larger than the actor takes: say both sizes. */
      set_result(
          p, NULL,
          rc == AX_EMSGSIZE
              ? ax__peer_too_large(p->portal.peer, "")
              : ax_error_new_kind(AX_K_SPAWN_ERROR, "cannot start %s: %s",
                                  p->func, ax_strerror(rc)),
          1);
      ax__child_cancel(p);
    }
  }
  start_done(p, 0, NULL);
}

static void on_actor_error(ax__child *p, ax_error *err) {
  if (p->state == AX__P_STARTING) {
    /* It exits next; that exit is no further failure. */
    p->cancel_sent = 1;
    if (p->oneshot) set_result(p, NULL, ax_error_dup(err), 0);
    start_done(p, AX_EREMOTE, err);
    return;
  }
  char *text = ax_error_format(err);
  ax_log(AX_LOG_ERROR, "actor error from %s:\n%s", p->portal.id.name,
         text ? text : "");
  ax_free(text);
  ax_error_free(err);
}

/* What a child says about itself as a whole. */
static int on_control(ax__peer *peer, const ax__msg *m) {
  ax__child *p = peer->owner;
  switch (m->type) {
    case AX__M_ERROR: {
      ax_error *err = NULL;
      int rc = ax__peer_decode_error(&m->error, &err);
      if (rc < 0) return rc;
      if (p) {
        on_actor_error(p, err);
      } else {
        ax_error_free(err);
      }
      return 0;
    }
    case AX__M_CANCEL:
      ax_log(AX_LOG_WARN, "actor cancel from %s ignored: not our parent",
             peer->id.name);
      return 0;
    case AX__M_CANCEL_ACK:
      return 0;
    case AX__M_REAPING:
      /* Its own children take time to go: our ladder waits for them. */
      if (!p) return 0;
      if (!(m->time >= 0) || !isfinite(m->time)) {
        ax_log(AX_LOG_WARN,
               "reaping from %s ignored: time %g is no number of seconds",
               peer->id.name, m->time);
        return 0;
      }
      AX__LOGD("%s is reaping its children for up to %.3f s", peer->id.name,
               m->time);
      ax__proc_reaping(&p->proc, m->time);
      return 0;
    default: /* spawn: only a parent sends it */
      return AX_EPROTO;
  }
}

static void on_gone(ax__peer *peer, int status) {
  ax__child *p = peer->owner;
  (void)status;
  if (!p) {
    ax__peer_fail_calls(peer, NULL);
    return;
  }
  /* Calls wait for the exit status to tell what happened (a crash, an
   * exit): make sure it comes. */
  if (p->state != AX__P_EXITED) {
    if (p->state == AX__P_READY) p->state = AX__P_STOPPING;
    ax__proc_ladder(&p->proc);
  }
}

static const ax__peer_cbs child_cbs = {
    .ready = on_hello,
    .start = ax__serve_start,
    .control = on_control,
    .gone = on_gone,
};

static ax_error *exit_error(ax__child *p, int was_starting) {
  ax__proc *pr = &p->proc;
  int sig = WIFSIGNALED(pr->status) ? WTERMSIG(pr->status) : 0;
  int code = WIFEXITED(pr->status) ? WEXITSTATUS(pr->status) : 0;
  if (p->cancel_sent) return NULL; /* we asked, or it told us why */
  ax_error *e;
  if (sig) {
    char *msg = ax__asprintf("actor '%s' (pid %d) was killed by %s",
                             p->portal.id.name, pr->pid, ax__signame(sig));
    e = ax__error_make(ax_error_kind_name(AX_K_ACTOR_CRASHED), msg,
                       pr->crash_report, &p->portal.id);
    free(msg);
  } else if (code != 0 || was_starting) {
    char *msg = ax__asprintf("actor '%s' (pid %d) exited with status %d%s",
                             p->portal.id.name, pr->pid, code,
                             was_starting ? " before its handshake" : "");
    e = ax__error_make(ax_error_kind_name(AX_K_ACTOR_EXITED), msg,
                       pr->crash_report, &p->portal.id);
    free(msg);
  } else {
    return NULL;
  }
  if (e) ax__error_relay_here(e);
  return e;
}

static void on_proc_exit(ax__proc *pr) {
  ax__child *p = pr->data;
  /* Its last words (a result, an error, a failed start) may still sit
   * unread in the socket when the exit is noticed first: read them before
   * judging the exit. */
  if (p->portal.peer) ax__chan_drain(&p->portal.peer->chan);
  int was_starting = p->state == AX__P_STARTING;
  p->state = AX__P_EXITED;
  p->portal.id.pid = pr->pid;
  ax_error *err = exit_error(p, was_starting);
  if (err && ax_loglevel() >= AX_LOG_INFO) {
    /* The error itself goes to whoever started the child: the log only
     * says when it happened. */
    char *why = ax__proc_describe_exit(pr);
    ax_log(AX_LOG_INFO, "child '%s' (pid %d) %s", p->portal.id.name, pr->pid,
           why ? why : "");
    free(why);
  }
  if (p->portal.peer) ax__peer_close(p->portal.peer, err);
  if (was_starting) {
    /* Why it could not start, if we know, beats how it ended. */
    ax_error *why =
        p->start_err ? p->start_err
        : err        ? ax_error_dup(err)
                     : ax_error_new_kind(AX_K_ACTOR_EXITED,
                                         "actor '%s' exited early",
                                         p->portal.id.name);
    p->start_err = NULL;
    if (p->oneshot) set_result(p, NULL, ax_error_dup(why), 0);
    start_done(p, AX_EREMOTE, why);
  } else if (p->oneshot && !p->have_result) {
    set_result(p, NULL, err ? ax_error_dup(err) : no_result_error(p, "exited"),
               1);
  } else if (err && !(p->oneshot && p->error)) {
    /* A one-shot whose outcome is already this failure (its call ended
     * with the channel, above) has told its owner: once is enough. */
    p->owner->fail(p->owner_ud, ax_error_dup(err));
  }
  ax_error_free(err);
  ax_done_cb cb;
  void *ud;
  while (waiter_pop(&p->exit_waiters, &cb, &ud)) cb(ud, 0, NULL, NULL);
  p->owner->exited(p->owner_ud);
}

void ax__child_cancel(ax__child *p) {
  if (p->state == AX__P_EXITED || p->cancel_sent) return;
  p->cancel_sent = 1;
  if (p->state == AX__P_READY) p->state = AX__P_STOPPING;
  if (!p->portal.peer || ax__peer_send_cid(p->portal.peer, AX__M_CANCEL, 0) < 0)
    ax__proc_kill(&p->proc, SIGTERM);
  ax__proc_ladder(&p->proc);
}

void ax__child_free(ax__child *p) {
  if (p->portal.peer) {
    p->portal.peer->owner = NULL;
    ax__peer_unref(p->portal.peer);
  }
  ax__proc_release(&p->proc);
  free(p->func);
  ax_data_free(p->kwargs);
  ax_data_free(p->result);
  ax_error_free(p->error);
  ax_error_free(p->start_err);
  ax__spec_free(p->spec);
  free(p);
}

static void start_cancel(ax_op *op) {
  ax__child *p = ax__container_of(op, ax__child, start.op);
  ax__child_cancel(p);
  start_done(p, AX_ECANCELED, NULL);
}

int ax__child_start(const ax__child_owner *owner, void *owner_ud,
                    const char *name, const ax_spawn_opts *opts,
                    const char *func, const ax_data *kwargs, ax__child **out,
                    ax_done_cb cb, void *ud, ax_op **op, ax_error **why) {
  const void *args;
  size_t len;
  if (!opts || !opts->module || !cb || !name ||
      ax__data_args(kwargs, &args, &len) < 0)
    return AX_EINVAL;
  ax__child *p = calloc(1, sizeof *p);
  if (!p) return AX_ENOMEM;
  p->portal.child = p;
  p->spec = ax__spec_new(name, opts);
  if (!p->spec) {
    free(p);
    return AX_ENOMEM;
  }
  ax__list_init(&p->result_waiters);
  ax__list_init(&p->exit_waiters);
  p->portal.id = p->spec->id;
  p->owner = owner;
  p->owner_ud = owner_ud;
  if (func) {
    p->oneshot = 1;
    p->func = ax__strdup(func);
    if (kwargs) p->kwargs = ax_data_dup(kwargs);
  }
  int sv[2] = {-1, -1};
  int rc = 0;
  char *reason = NULL;
  if (func && (!p->func || (kwargs && !p->kwargs))) {
    rc = AX_ENOMEM;
  } else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    reason = ax__spawn_why("socketpair", errno);
    rc = AX_ESPAWN;
  } else {
    rc = ax__proc_spawn(&p->proc, p->spec, sv[1], &reason);
  }
  if (sv[1] >= 0) close(sv[1]);
  if (reason) {
    /* Said once: in the caller's error, else (a caller that takes none)
     * in the log. */
    if (why)
      *why = ax_error_new_kind(AX_K_SPAWN_ERROR, "cannot start actor '%s': %s",
                               name, reason);
    else
      ax_log(AX_LOG_ERROR, "cannot start actor '%s': %s", name, reason);
    free(reason);
  }
  if (rc < 0) {
    if (sv[0] >= 0) close(sv[0]);
    free(p->func);
    ax_data_free(p->kwargs);
    ax__spec_free(p->spec);
    free(p);
    return rc;
  }
  p->portal.id.pid = p->proc.pid;
  p->proc.data = p;
  p->proc.on_exit = on_proc_exit;
  p->portal.peer = ax__peer_new(sv[0], &child_cbs, p);
  if (!p->portal.peer) close(sv[0]);
  if (p->portal.peer) {
    p->portal.peer->refs++;
    p->portal.peer->id = p->portal.id;
    rc = ax__peer_send_hello(p->portal.peer);
    if (rc == 0) rc = ax__spec_send(p->portal.peer, p->spec);
    if (rc < 0)
      p->start_err = ax_error_new_kind(
          AX_K_SPAWN_ERROR, "cannot send actor '%s' its spawn spec: %s",
          p->portal.id.name, ax_strerror(rc));
  }
  if (!p->portal.peer || rc < 0) {
    ax__proc_kill(&p->proc, SIGKILL);
    /* The exit still comes through on_proc_exit, which reports the failed
     * start (the record stays STARTING until then); keep p until then. */
    p->cancel_sent = 1;
  }
  p->state = AX__P_STARTING;
  p->start.op.cancel = start_cancel;
  p->start.cb = cb;
  p->start.ud = ud;
  p->start.pending = 1;
  *out = p;
  if (op) *op = &p->start.op;
  return 0;
}

/* ---------------------------------------------------------- calls */

static void waiter_cancel(ax_op *op) {
  waiter *w = (waiter *)op;
  ax__list_remove(&w->link);
  ax_done_cb cb = w->cb;
  void *ud = w->ud;
  free(w);
  cb(ud, AX_ECANCELED, NULL, NULL);
}

/* A waiter on list for (cb, ud), cancelled by cancel; *op set to it. */
static waiter *waiter_add(ax__child *p, ax__list *list, void (*cancel)(ax_op *),
                          ax_done_cb cb, void *ud, ax_op **op) {
  waiter *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  *w = (waiter){.op.cancel = cancel, .p = p, .cb = cb, .ud = ud};
  ax__list_push(list, &w->link);
  if (op) *op = &w->op;
  return w;
}

int ax__child_result_cb(ax__child *p, ax_done_cb cb, void *ud, ax_op **op) {
  if (!p || !cb) return AX_EINVAL;
  if (!p->oneshot) return AX_ESTATE;
  waiter *w = waiter_add(p, &p->result_waiters, waiter_cancel, cb, ud, op);
  if (!w) return AX_ENOMEM;
  if (p->have_result) {
    /* Delivered from the loop, never from inside this call. */
    ax__list_remove(&w->link);
    free(w);
    if (op) *op = NULL;
    ax_data *r = p->error ? NULL : ax_data_dup(p->result);
    ax_error *e = p->error ? ax_error_dup(p->error) : NULL;
    return ax__defer_done(cb, ud, e ? AX_EREMOTE : 0, r, e);
  }
  return 0;
}

/* Waiting for an exit cannot be abandoned: cancelling it skips the rest
 * of the ladder (SIGKILL now), and the callback comes once it is reaped. */
static void exit_wait_cancel(ax_op *op) {
  waiter *w = (waiter *)op;
  ax__proc_kill(&w->p->proc, SIGKILL);
}

int ax__child_cancel_cb(ax__child *p, ax_done_cb cb, void *ud, ax_op **op) {
  if (!p || !cb) return AX_EINVAL;
  if (op) *op = NULL;
  ax__child_cancel(p);
  if (p->state == AX__P_EXITED) return ax__defer_done(cb, ud, 0, NULL, NULL);
  return waiter_add(p, &p->exit_waiters, exit_wait_cancel, cb, ud, op)
             ? 0
             : AX_ENOMEM;
}

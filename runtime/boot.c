/* boot.c - the child side of a spawn: the host's `axle --child` serves
 * its parent channel as an actor. It waits for the parent's `spawn` spec,
 * loads what it names, says `hello` under the identity the spec gave it,
 * then serves calls until it is cancelled (by the parent, end of file, or
 * SIGTERM) and everything it runs has ended. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* This process is the child of one spawn: one parent, one boot. */
static struct {
  int booting;          /* waiting for the spawn spec */
  int failed;           /* the spec could not be honoured */
  int cancel_requested; /* the parent asked: answer with cancel_ack */
  int parent_reaps;     /* the parent takes reaping reports */
  int reaping_due;      /* a reaping report is deferred */
  double reaped_by;     /* the end of our teardown the parent last heard */
  ax__peer *parent;
  uv_timer_t boot_timer;
} child;

static void on_spawn(ax__peer *peer, const ax__msg *m) {
  ax__rt *rt = ax__rt_g;
  child.booting = 0;
  uv_timer_stop(&child.boot_timer);
  ax__spec *s = NULL;
  ax_error *err = NULL;
  int rc = ax__spec_from_msg(m, &s);
  if (rc == 0) {
    /* The identity first: an error about the rest of the spec comes from
     * the actor the parent asked for, not from a temporary name. */
    rt->self = s->id;
    rt->self.pid = getpid();
    memcpy(rt->parent_uid, s->parent, sizeof rt->parent_uid);
  }
  if (rc == 0 && s->max_frame &&
      (s->max_frame < AX_MIN_FRAME || s->max_frame > UINT32_MAX)) {
    err = ax_error_new_kind(
        AX_K_SPAWN_ERROR, "max_frame %zu is out of range (%u to %lu)",
        s->max_frame, AX_MIN_FRAME, (unsigned long)UINT32_MAX);
    rc = AX_EINVAL;
  }
  size_t max_frame = rc == 0 && s->max_frame ? s->max_frame : rt->max_frame;
  if (rc == 0 && s->max_msg &&
      (s->max_msg < max_frame || s->max_msg > UINT32_MAX)) {
    err = ax_error_new_kind(
        AX_K_SPAWN_ERROR, "max_msg %zu is out of range (max_frame %zu to %lu)",
        s->max_msg, max_frame, (unsigned long)UINT32_MAX);
    rc = AX_EINVAL;
  }
  if (rc == 0) {
    child.parent_reaps = AX__HAS(m, reaping) && m->reaping != 0;
    if (s->loglevel > 0) rt->loglevel = s->loglevel;
    if (s->grace > 0) rt->grace = s->grace;
    if (s->max_frame > 0) {
      rt->max_frame = s->max_frame;
      peer->chan.max_frame = rt->max_frame;
    }
    /* The parent's, else ours, which a frame maximum may pass. */
    if (s->max_msg > 0)
      rt->max_msg = s->max_msg;
    else if (rt->max_msg < rt->max_frame)
      rt->max_msg = rt->max_frame;
    peer->inparts.max = rt->max_msg;
    rc = ax__modules_enable(s->module, (const char *const *)s->enable,
                            s->nenable, &err);
  }
  ax__spec_free(s);
  /* Our hello must go out, or the parent waits for a child that never
   * says it started: then fail the boot like a load that failed. */
  if (rc == 0 && (rc = ax__peer_send_hello(peer)) < 0)
    err = ax_error_new_kind(AX_K_SPAWN_ERROR, "cannot send hello: %s",
                            ax_strerror(rc));
  if (rc < 0) {
    if (!err) err = ax_error_new_kind(AX_K_SPAWN_ERROR, "%s", ax_strerror(rc));
    /* The parent reports it to whoever started us: logged here too, it
     * would be said twice. Only an error that cannot go is logged. */
    int sent = ax__peer_send_error(peer, 0, err);
    ax_log(sent < 0 ? AX_LOG_ERROR : AX_LOG_DEBUG, "cannot start: %s: %s",
           err ? ax_error_type(err) : "MemoryError",
           err ? ax_error_message(err) : "out of memory");
    ax_error_free(err);
    child.failed = 1;
    ax__cancel_actor(0);
  }
}

/* What the parent says about this actor as a whole. */
static int parent_control(ax__peer *peer, const ax__msg *m) {
  switch (m->type) {
    case AX__M_SPAWN:
      if (!child.booting) return AX_EPROTO;
      on_spawn(peer, m);
      return 0;
    case AX__M_CANCEL:
      ax_log(AX_LOG_INFO, "cancel requested by the parent");
      child.cancel_requested = 1;
      ax__cancel_actor_by(&peer->id);
      return 0;
    case AX__M_ERROR: {
      ax_error *err = NULL;
      int rc = ax__peer_decode_error(&m->error, &err);
      if (rc < 0) return rc;
      char *text = ax_error_format(err);
      ax_log(AX_LOG_ERROR, "actor error from the parent:\n%s",
             text ? text : "");
      ax_free(text);
      ax_error_free(err);
      return 0;
    }
    default:
      return 0;
  }
}

static void parent_gone(ax__peer *peer, int status) {
  ax__peer_fail_calls(peer, NULL);
  /* End of file (or the parent hanging up) asks us to stop; a protocol
   * error of the parent's is a failure, and the exit status says so. */
  if (status == AX_EPROTO || status == AX_EMSGSIZE) child.failed = 1;
  ax_log(status == 0 ? AX_LOG_INFO : AX_LOG_WARN,
         "parent channel closed (%s): cancelling the actor",
         status == 0 ? "end of file" : ax_strerror(status));
  ax__cancel_actor_by(&peer->id);
}

/* Cancelled while children of ours have not exited, we tell a parent
 * that takes it how long their ladders may still take, so that its ladder
 * for us waits for ours (docs/PROTOCOL.md, `reaping`); once more each
 * time that end moves later. Deferred: a nursery cancels its children
 * one by one, and one report covers them all. */
static void send_reaping(void *arg) {
  (void)arg;
  child.reaping_due = 0;
  ax__peer *parent = child.parent;
  double end = ax__procs_ladder_end(), now = ax_now();
  if (!parent || !child.parent_reaps || !parent->hello_sent || end <= now ||
      end <= child.reaped_by)
    return;
  ax__msg m = {.type = AX__M_REAPING};
  AX__SET(&m, time, end - now);
  if (ax__peer_send(parent, &m) == 0) child.reaped_by = end;
}

static void reaping_changed(void) {
  if (!ax__rt_g->actor_scope.cancelled || child.reaping_due) return;
  if (ax__defer(send_reaping, NULL) == 0) child.reaping_due = 1;
}

/* The actor is cancelled: what its modules run is interrupted, and
 * ladders already running are reported. */
static void child_cancelled(void) {
  ax__modules_interrupt();
  reaping_changed();
}

static const ax__peer_cbs parent_cbs = {
    .start = ax__serve_start,
    .control = parent_control,
    .gone = parent_gone,
};

static void boot_timeout(uv_timer_t *t) {
  (void)t;
  if (!child.booting) return;
  ax_log(AX_LOG_ERROR, "no spawn spec from the parent in time; exiting");
  child.failed = 1;
  ax__cancel_actor(0);
}

int ax_child_main(int fd) {
  ax_opts o = {sizeof o, "child", 0, 0, 0, 0, NULL, 0};
  int rc = ax_init(&o);
  if (rc < 0) return 70;
  ax__rt *rt = ax__rt_g;
  rt->is_child = 1;
  rt->on_cancel = child_cancelled;
  rt->on_ladder = reaping_changed;
  ax__signal_start(1);
  child.booting = 1;
  child.parent = ax__peer_new(fd, &parent_cbs, NULL);
  if (!child.parent) {
    ax_log(AX_LOG_ERROR, "cannot open the parent channel (fd %d)", fd);
    ax_shutdown();
    return 70;
  }
  child.parent->refs++;
  uv_timer_init(&rt->loop, &child.boot_timer);
  /* Our hello goes out once the spawn spec is honoured: it tells the
   * parent we are ready, with the identity it gave us. */
  uv_timer_start(&child.boot_timer, boot_timeout, 10000, 0);
  /* Serve until cancelled, then until every task and child is gone. */
  while (!rt->actor_scope.cancelled) {
    ax__schedule();
    if (!uv_run(&rt->loop, UV_RUN_ONCE) && !rt->actor_scope.cancelled) {
      ax__schedule();
      if (!uv_loop_alive(&rt->loop)) ax__cancel_actor(0);
    }
  }
  uv_timer_stop(&child.boot_timer);
  uv_close((uv_handle_t *)&child.boot_timer, NULL);
  ax__run_until_done();
  AX__LOGD("actor done (%d tasks left); closing the parent channel",
           ax__tasks_alive());
  ax__peer *parent = child.parent;
  if (child.cancel_requested && parent->state < AX__PEER_CLOSING)
    ax__peer_send_last(parent, AX__M_CANCEL_ACK);
  ax__chan_close(&parent->chan, 0);
  ax__peer_unref(parent);
  child.parent = NULL;
  int code = child.failed ? 1 : 0;
  /* A plain C function still running on the pool cannot be stopped, and
   * its caller has stopped waiting: exit without waiting for it, and
   * without library destructors that would run under its feet. */
  if (ax__threads_busy() > 0) {
    fflush(NULL);
    _exit(code);
  }
  ax_shutdown();
  return code;
}

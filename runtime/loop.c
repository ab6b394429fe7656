/* loop.c - the runtime of one actor process: its libuv loop, its actor
 * scope, and the ways to drive it (ax_run, or a foreign loop through
 * ax_loop_fd/ax_loop_step). Identity, logging, the host to spawn and
 * signals have files of their own. */
#include <dlfcn.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static void noop_cb(uv_handle_t *h) { (void)h; }
static void prepare_cb(uv_prepare_t *h) {
  (void)h;
  ax__schedule();
}
static void check_cb(uv_check_t *h) {
  (void)h;
  ax__schedule();
}

/* After each run of the scheduler: what serving owes (start_acks), then
 * every channel's output, in one write each. */
static void flush_output(void) {
  if (ax__rt_g->before_flush) ax__rt_g->before_flush();
  if (!ax__list_empty(&ax__rt_g->dirty)) ax__chan_flush_all();
}

/* The teardown grace when the options give none: AXLE_GRACE (seconds)
 * from the environment, else half a second. */
static double env_grace(void) {
  const char *e = getenv("AXLE_GRACE");
  if (!e || !*e) return 0.5;
  char *end;
  double g = strtod(e, &end);
  return !*end && g > 0 && isfinite(g) ? g : 0.5;
}

int ax_init(const ax_opts *opts) {
  if (ax__rt_g) return AX_ESTATE;
  ax_opts o = {0};
  if (opts)
    memcpy(&o, opts,
           opts->size && opts->size < sizeof o ? opts->size : sizeof o);
  if (o.max_frame && (o.max_frame < AX_MIN_FRAME || o.max_frame > UINT32_MAX))
    return AX_EINVAL;
  size_t max_frame = o.max_frame ? o.max_frame : 16u << 20;
  if (o.max_message &&
      (o.max_message < max_frame || o.max_message > UINT32_MAX))
    return AX_EINVAL;
  ax__rt *rt = calloc(1, sizeof *rt);
  if (!rt) return AX_ENOMEM;
  if (uv_loop_init(&rt->loop) != 0) {
    free(rt);
    return AX_EIO;
  }
  const char *name = o.name && *o.name ? o.name : "root";
  char uid[AX__UID_LEN + 1];
  ax__ident_new_uid(uid);
  ax__ident_set(&rt->self, name, strlen(name), uid, strlen(uid), getpid());
  rt->loglevel = o.loglevel > 0 ? o.loglevel : ax__log_env_level();
  rt->grace = o.grace > 0 ? o.grace : env_grace();
  rt->max_frame = max_frame;
  rt->max_msg = o.max_message                     ? o.max_message
                : max_frame > AX__MAX_MSG_DEFAULT ? max_frame
                                                  : AX__MAX_MSG_DEFAULT;
  rt->stack_size = o.stack_size ? o.stack_size : 256u << 10;
  rt->host = ax__host_find(o.host);
  rt->actor_scope.deadline = INFINITY;
  ax__list_init(&rt->dirty);
  ax__list_init(&rt->refill);
  ax__list_init(&rt->peers);
  ax__list_init(&rt->nurseries);
  rt->flush = flush_output;
  rt->on_cancel = ax__modules_interrupt;
  uv_prepare_init(&rt->loop, &rt->prepare);
  uv_check_init(&rt->loop, &rt->check);
  uv_idle_init(&rt->loop, &rt->idle);
  uv_prepare_start(&rt->prepare, prepare_cb);
  uv_check_start(&rt->check, check_cb);
  uv_unref((uv_handle_t *)&rt->prepare);
  uv_unref((uv_handle_t *)&rt->check);
  /* A peer that vanished must be an error on write, not a signal. */
  signal(SIGPIPE, SIG_IGN);
  ax__rt_g = rt;
  return 0;
}

int ax_shutdown(void) {
  ax__rt *rt = ax__rt_g;
  if (!rt) return AX_ESTATE;
  ax__peers_close_all();
  ax__modules_unload();
  ax__spawn_shutdown();
  uv_close((uv_handle_t *)&rt->prepare, noop_cb);
  uv_close((uv_handle_t *)&rt->check, noop_cb);
  uv_close((uv_handle_t *)&rt->idle, noop_cb);
  if (uv_is_active((uv_handle_t *)&rt->sigint) || rt->sigint.loop)
    uv_close((uv_handle_t *)&rt->sigint, noop_cb);
  if (uv_is_active((uv_handle_t *)&rt->sigterm) || rt->sigterm.loop)
    uv_close((uv_handle_t *)&rt->sigterm, noop_cb);
  uv_run(&rt->loop, UV_RUN_DEFAULT);
  ax__tasks_free_all();
  ax__pools_drain();
  if (uv_loop_close(&rt->loop) != 0) {
    uv_walk(&rt->loop, (uv_walk_cb)uv_close, NULL);
    uv_run(&rt->loop, UV_RUN_DEFAULT);
    uv_loop_close(&rt->loop);
  }
  ax__coro_pool_drain();
  free(rt->host);
  free(rt);
  ax__rt_g = NULL;
  return 0;
}

/* Run the loop until every task has ended and every child is reaped. A
 * loop that runs dry with tasks still blocked is a deadlock: cancel them
 * rather than hang, and give up on them if even that cannot wake them. */
/* Cancelled, with no task left to close the nurseries still open: take
 * down their children, or they would keep the actor alive. */
static void cancel_leftovers(void) {
  if (ax__tasks_alive() == 0 && ax__rt_g->actor_scope.cancelled)
    ax__nurseries_cancel(NULL);
}

static void run_until_tasks_done(void) {
  int gave_cancel = 0;
  for (;;) {
    ax__schedule();
    if (ax__tasks_alive() == 0 && ax__procs_alive() == 0) return;
    /* One iteration at a time: open channels must not keep us here. */
    uv_run(AX__LOOP, UV_RUN_ONCE);
    ax__schedule();
    if (ax__tasks_alive() == 0 && ax__procs_alive() == 0) return;
    cancel_leftovers();
    if (uv_loop_alive(AX__LOOP)) continue;
    if (!gave_cancel) {
      gave_cancel = 1;
      ax_log(AX_LOG_ERROR,
             "deadlock: %d task(s) blocked with nothing to wake them; "
             "cancelling",
             ax__tasks_alive());
      ax__cancel_actor(0);
      continue;
    }
    ax_log(AX_LOG_ERROR, "%d task(s) cannot finish; abandoning them",
           ax__tasks_alive());
    return;
  }
}

typedef struct root_call {
  ax_task_fn fn;
  void *arg;
  int result;
} root_call;

static int root_entry(void *arg) {
  root_call *rc = arg;
  rc->result = rc->fn(rc->arg);
  /* Nothing will close them now, and the process would wait forever. */
  ax__nurseries_cancel(
      "the root function returned with a nursery never "
      "closed: cancelling its actors");
  return 0;
}

int ax_subreaper(void) {
  /* Orphans of a dying middle actor come to us, and are reaped. */
  return prctl(PR_SET_CHILD_SUBREAPER, 1) == 0 ? 0 : AX_ENOTSUP;
}

int ax_handle_signals(void) {
  if (!ax__rt_g) return AX_ESTATE;
  ax__signal_start(ax__rt_g->is_child);
  return 0;
}

int ax_alive(void) {
  return ax__rt_g ? ax__tasks_alive() + ax__procs_alive() : 0;
}

int ax_drain(void) {
  if (!ax__rt_g) return AX_ESTATE;
  if (ax_in_task()) return AX_EINVAL;
  run_until_tasks_done();
  return 0;
}

int ax_run(const ax_opts *opts, ax_task_fn fn, void *arg) {
  int own = 0;
  if (!fn) return AX_EINVAL;
  if (!ax__rt_g) {
    int rc = ax_init(opts);
    if (rc < 0) return rc;
    own = 1;
  }
  ax_subreaper();
  ax_handle_signals();
  root_call call = {fn, arg, 0};
  int rc = ax_task_start(root_entry, &call, NULL);
  if (rc < 0) {
    if (own) ax_shutdown();
    return rc;
  }
  run_until_tasks_done();
  if (own) ax_shutdown();
  return call.result;
}

void ax__run_until_done(void) { run_until_tasks_done(); }

int ax_loop_fd(void) { return ax__rt_g ? uv_backend_fd(AX__LOOP) : -1; }

int ax_loop_timeout(void) {
  return ax__rt_g ? uv_backend_timeout(AX__LOOP) : -1;
}

int ax_loop_step(void) {
  if (!ax__rt_g) return 0;
  ax__schedule();
  int more = uv_run(AX__LOOP, UV_RUN_NOWAIT);
  cancel_leftovers();
  return more || ax__tasks_alive() > 0 ? 1 : 0;
}

/* loop.c - the runtime of one actor process: its libuv loop, identity,
 * logger and signals, and the ways to drive it (ax_run, or a foreign loop
 * through ax_loop_fd/ax_loop_step). */
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

ax__rt *ax__rt_g;

#ifndef AX_HOST_DEFAULT
#define AX_HOST_DEFAULT "axle"
#endif

double ax_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void ax__new_uid(char out[AX__UID_LEN + 1]) {
  unsigned char b[AX__UID_LEN / 2];
  if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
    /* Unique enough without entropy: time and pid. */
    uint64_t x = (uint64_t)(ax_now() * 1e9) ^ ((uint64_t)getpid() << 32);
    for (size_t i = 0; i < sizeof b; i++)
      b[i] = (unsigned char)(x >> (i % 8 * 8)) ^ (unsigned char)i;
  }
  for (size_t i = 0; i < sizeof b; i++) sprintf(out + 2 * i, "%02x", b[i]);
  out[AX__UID_LEN] = 0;
}

static int env_loglevel(void) {
  const char *e = getenv("AXLE_LOG");
  if (!e || !*e) return AX_LOG_WARN;
  if (!strcmp(e, "error")) return AX_LOG_ERROR;
  if (!strcmp(e, "warn")) return AX_LOG_WARN;
  if (!strcmp(e, "info")) return AX_LOG_INFO;
  if (!strcmp(e, "debug")) return AX_LOG_DEBUG;
  return atoi(e);
}

/* The host to spawn: explicit, AXLE_HOST, this very executable when it is
 * the host, or the one built alongside the library. */
static char *find_host(const char *opt) {
  if (opt && *opt) return ax__strdup(opt);
  const char *e = getenv("AXLE_HOST");
  if (e && *e) return ax__strdup(e);
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = 0;
    const char *base = strrchr(self, '/');
    if (base && !strcmp(base + 1, "axle")) return ax__strdup(self);
  }
  return ax__strdup(AX_HOST_DEFAULT);
}

static void noop_cb(uv_handle_t *h) { (void)h; }
static void prepare_cb(uv_prepare_t *h) {
  (void)h;
  ax__schedule();
}
static void check_cb(uv_check_t *h) {
  (void)h;
  ax__schedule();
}

int ax_init(const ax_opts *opts) {
  if (ax__rt_g) return AX_ESTATE;
  ax_opts o = {0};
  if (opts)
    memcpy(&o, opts,
           opts->size && opts->size < sizeof o ? opts->size : sizeof o);
  ax__rt *rt = calloc(1, sizeof *rt);
  if (!rt) return AX_ENOMEM;
  if (uv_loop_init(&rt->loop) != 0) {
    free(rt);
    return AX_EIO;
  }
  const char *name = o.name && *o.name ? o.name : "root";
  char uid[AX__UID_LEN + 1];
  ax__new_uid(uid);
  ax__ident_set(&rt->self, name, strlen(name), uid, strlen(uid), getpid());
  rt->loglevel = o.loglevel > 0 ? o.loglevel : env_loglevel();
  rt->grace = o.grace > 0 ? o.grace : 0.5;
  rt->max_frame = o.max_frame ? o.max_frame : 16u << 20;
  rt->stack_size = o.stack_size ? o.stack_size : 256u << 10;
  rt->host = find_host(o.host);
  rt->actor_scope.deadline = INFINITY;
  ax__list_init(&rt->dirty);
  ax__list_init(&rt->peers);
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
  ax__serve_shutdown();
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
  ax__tasks_free_cache();
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

const char *ax__signame(int sig) {
  switch (sig) {
    case SIGSEGV:
      return "SIGSEGV";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGILL:
      return "SIGILL";
    case SIGABRT:
      return "SIGABRT";
    case SIGKILL:
      return "SIGKILL";
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case SIGHUP:
      return "SIGHUP";
    case SIGPIPE:
      return "SIGPIPE";
    case SIGQUIT:
      return "SIGQUIT";
    case SIGTRAP:
      return "SIGTRAP";
    case SIGSYS:
      return "SIGSYS";
    default:
      return "signal";
  }
}

void ax__cancel_actor(int signum) {
  ax__rt *rt = ax__rt_g;
  if (!rt) return;
  if (signum && !rt->cancel_signal) rt->cancel_signal = signum;
  int first = !rt->actor_scope.cancelled;
  ax_scope_cancel(&rt->actor_scope);
  /* Code a binding runs may not yield to the loop: tell the bindings. */
  if (first) ax__modules_interrupt();
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  ax_log(AX_LOG_INFO, "%s: cancelling the actor", ax__signame(signum));
  ax__cancel_actor(signum);
}

void ax__signals_start(int child) {
  ax__rt *rt = ax__rt_g;
  /* A child leaves Ctrl-C to the root, which cancels the tree in order. */
  if (child) {
    signal(SIGINT, SIG_IGN);
  } else {
    uv_signal_init(&rt->loop, &rt->sigint);
    uv_signal_start(&rt->sigint, on_signal, SIGINT);
    uv_unref((uv_handle_t *)&rt->sigint);
  }
  uv_signal_init(&rt->loop, &rt->sigterm);
  uv_signal_start(&rt->sigterm, on_signal, SIGTERM);
  uv_unref((uv_handle_t *)&rt->sigterm);
}

/* Run the loop until every task has ended and every child is reaped. A
 * loop that runs dry with tasks still blocked is a deadlock: cancel them
 * rather than hang, and give up on them if even that cannot wake them. */
static void run_until_tasks_done(void) {
  int gave_cancel = 0;
  for (;;) {
    ax__schedule();
    if (ax__tasks_alive() == 0 && ax__procs_alive() == 0) return;
    /* One iteration at a time: open channels must not keep us here. */
    uv_run(AX__LOOP, UV_RUN_ONCE);
    ax__schedule();
    if (ax__tasks_alive() == 0 && ax__procs_alive() == 0) return;
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
  return 0;
}

int ax_subreaper(void) {
  /* Orphans of a dying middle actor come to us, and are reaped. */
  return prctl(PR_SET_CHILD_SUBREAPER, 1) == 0 ? 0 : AX_ENOTSUP;
}

int ax_handle_signals(void) {
  if (!ax__rt_g) return AX_ESTATE;
  ax__signals_start(ax__rt_g->is_child);
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
  return more || ax__tasks_alive() > 0 ? 1 : 0;
}

/* ---------------------------------------------------------------- log */

int ax_loglevel(void) { return ax__rt_g ? ax__rt_g->loglevel : env_loglevel(); }

void ax_log(int level, const char *fmt, ...) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  if (level > ax_loglevel()) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *lv = level >= 1 && level <= 4 ? names[level - 1] : "log";
  if (ax__rt_g)
    fprintf(stderr, "[axle %s %d] %s: %s\n", ax__rt_g->self.name,
            ax__rt_g->self.pid, lv, msg);
  else
    fprintf(stderr, "[axle %d] %s: %s\n", (int)getpid(), lv, msg);
}

const char *ax_actor_name(void) { return ax__rt_g ? ax__rt_g->self.name : ""; }
const char *ax_actor_uid(void) { return ax__rt_g ? ax__rt_g->self.uid : ""; }
const char *ax_actor_parent_uid(void) {
  return ax__rt_g ? ax__rt_g->parent_uid : "";
}

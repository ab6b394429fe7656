/* task.c - tasks (coroutines scheduled by the loop), cancel scopes, blocking
 * waits, and the blocking primitives built directly on them (sleep, yield,
 * thread-pool calls). A task only ever switches to the scheduler and back,
 * never to another task. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

struct ax_task {
  ax__coro coro;
  ax_task_fn fn;
  void *arg;
  int result;
  int done;
  int detached;
  int queued;
  ax_scope root;   /* root.parent: the scope the task was started in */
  ax_scope *scope; /* innermost open scope */
  ax__wait *wait;  /* what the task is blocked on */
  ax__wait *joiner;
  ax_done_cb join_cb;
  void *join_ud;
  ax_op join_op;
  ax__list link; /* all live tasks */
  ax__list ready_link;
  /* The last wait a cancellation cut short: what cancelled the task then,
   * and what the wait was for ("" unsaid); kind C_NONE when its last
   * wait ended by itself. */
  struct cause {
    int kind, sig;
    const char *text;
  } cut;
  char cut_doing[128];
};

/* What cancelled a task, for messages: kinds of cause. */
enum { C_NONE, C_SIGNAL, C_ACTOR, C_TEXT, C_TASK, C_SCOPE };

typedef struct deferred {
  ax__list link;
  void (*fn)(void *);
  void *arg;
} deferred;

static ax__coro sched;
static ax_task *cur;
static ax__list all_tasks = {&all_tasks, &all_tasks};
static ax__list ready = {&ready, &ready};
static ax__list defers = {&defers, &defers};
/* Tasks that yielded: they run again only after the loop has polled, so a
 * task that keeps yielding cannot starve I/O. */
static ax__list yielded = {&yielded, &yielded};
static int nalive;
static int nthreads_busy;

/* Ended tasks kept for reuse: a served call costs no allocation. */
static ax__pool task_pool = AX__POOL(256);

static ax_task *task_alloc(void) {
  ax_task *t = ax__pool_get(&task_pool, sizeof *t);
  if (t) memset(t, 0, sizeof *t);
  return t;
}

static void task_free(ax_task *t) { ax__pool_put(&task_pool, t); }

ax_task *ax__current(void) { return cur; }
int ax_in_task(void) { return cur != NULL; }
int ax__tasks_alive(void) { return nalive; }
int ax__threads_busy(void) { return nthreads_busy; }

static void idle_noop(uv_idle_t *h) { (void)h; }

/* While tasks are ready the loop must not block in poll: an idle
 * handle keeps it spinning. idling mirrors its state without a call. */
static int idling;

static void keep_polling(void) {
  if (ax__rt_g && !idling) {
    uv_idle_start(&ax__rt_g->idle, idle_noop);
    idling = 1;
  }
}

void ax__keep_polling(void) { keep_polling(); }

void ax__task_wake(ax_task *t) {
  if (t->queued || t->done) return;
  t->queued = 1;
  ax__list_push(&ready, &t->ready_link);
  keep_polling();
}

int ax__defer(void (*fn)(void *), void *arg) {
  deferred *d = malloc(sizeof *d);
  if (!d) return AX_ENOMEM;
  d->fn = fn;
  d->arg = arg;
  ax__list_push(&defers, &d->link);
  keep_polling();
  return 0;
}

typedef struct done_call {
  ax_done_cb cb;
  void *ud;
  int status;
  ax_data *result;
  ax_error *err;
} done_call;

static void done_run(void *arg) {
  done_call d = *(done_call *)arg;
  free(arg);
  d.cb(d.ud, d.status, d.result, d.err);
}

int ax__defer_done(ax_done_cb cb, void *ud, int status, ax_data *result,
                   ax_error *err) {
  done_call *d = malloc(sizeof *d);
  if (!d) return AX_ENOMEM;
  *d = (done_call){cb, ud, status, result, err};
  int rc = ax__defer(done_run, d);
  if (rc < 0) free(d);
  return rc;
}

int ax__task_cancelled(const ax_task *t) {
  for (const ax_scope *s = t->scope; s; s = s->parent) {
    if (s->cancelled) return 1;
    if (s->shield) return 0;
  }
  return 0;
}

void ax__cancel_sweep(void) {
  ax__list_each(it, &all_tasks) {
    ax_task *t = ax__container_of(it, ax_task, link);
    if (t->wait && !t->wait->aborted && ax__task_cancelled(t)) ax__task_wake(t);
  }
}

static void suspend(void) { ax__coro_switch(&cur->coro, &sched); }

static void task_finish(ax_task *t) {
  /* It may have woken itself (a cancel it caused) while running. */
  if (t->queued) {
    ax__list_remove(&t->ready_link);
    t->queued = 0;
  }
  t->root.parent->nkids--;
  ax__list_remove(&t->link);
  nalive--;
  if (t->root.nkids > 0) {
    /* Tasks it started outlive it: hang them on the scope it hung on, as
     * closing a scope does, never on this struct, which is reused. */
    ax__list_each(it, &all_tasks) {
      ax_task *k = ax__container_of(it, ax_task, link);
      if (k->root.parent == &t->root) {
        k->root.parent = t->root.parent;
        t->root.parent->nkids++;
      }
    }
    t->root.nkids = 0;
  }
  ax__coro_release(&t->coro);
  if (t->root.timer) {
    uv_close((uv_handle_t *)t->root.timer, (uv_close_cb)free);
    t->root.timer = NULL;
  }
  if (t->joiner) {
    ax__wait_done(t->joiner);
  } else if (t->join_cb) {
    ax_done_cb cb = t->join_cb;
    void *ud = t->join_ud;
    int result = t->result;
    task_free(t);
    cb(ud, result, NULL, NULL);
  } else if (t->detached) {
    task_free(t);
  }
}

static void task_entry(void *arg) {
  ax_task *t = arg;
  t->result = t->fn(t->arg);
  t->done = 1;
  t->coro.dying = 1;
  ax__coro_switch(&t->coro, &sched);
}

void ax__schedule(void) {
  if (cur) return;
  while (!ax__list_empty(&yielded)) {
    ax__list *it = yielded.next;
    ax__list_remove(it);
    ax__list_push(&ready, it);
  }
  for (;;) {
    if (!ax__list_empty(&defers)) {
      ax__list *it = defers.next;
      ax__list_remove(it);
      deferred *d = ax__container_of(it, deferred, link);
      void (*fn)(void *) = d->fn;
      void *a = d->arg;
      free(d);
      fn(a);
      continue;
    }
    if (ax__list_empty(&ready)) break;
    ax__list *it = ready.next;
    ax__list_remove(it);
    ax_task *t = ax__container_of(it, ax_task, ready_link);
    t->queued = 0;
    cur = t;
    ax__coro_switch(&sched, &t->coro);
    cur = NULL;
    if (t->done) task_finish(t);
  }
  ax__rt *rt = ax__rt_g;
  if (!rt) return;
  /* Only when there is output to write or an ack owed. */
  if ((rt->before_flush || !ax__list_empty(&rt->dirty)) && rt->flush)
    rt->flush();
  /* A channel still dirty after the flush has more to give next round
   * (channel.c, ax__chan_fill; it asked for polling): the loop must come
   * round for it. */
  if (idling && ax__list_empty(&ready) && ax__list_empty(&defers) &&
      ax__list_empty(&yielded) && ax__list_empty(&rt->dirty)) {
    uv_idle_stop(&rt->idle);
    idling = 0;
  }
}

int ax_task_start(ax_task_fn fn, void *arg, ax_task **out) {
  if (!ax__rt_g || !fn) return AX_EINVAL;
  ax_task *t = task_alloc();
  if (!t) return AX_ENOMEM;
  int rc = ax__coro_make(&t->coro, ax__rt_g->stack_size, task_entry, t);
  if (rc < 0) {
    task_free(t);
    return rc;
  }
  t->fn = fn;
  t->arg = arg;
  t->detached = out == NULL;
  t->root.parent = cur ? cur->scope : &ax__rt_g->actor_scope;
  t->root.parent->nkids++;
  t->root.task = t;
  t->root.deadline = INFINITY;
  t->scope = &t->root;
  ax__list_init(&t->ready_link);
  ax__list_push(&all_tasks, &t->link);
  nalive++;
  ax__task_wake(t);
  if (out) *out = t;
  return 0;
}

void ax__task_detach(ax_task *t) { t->detached = 1; }

void ax_task_cancel(ax_task *t) {
  if (t && !t->done) ax_scope_cancel(&t->root);
}

void ax__task_cancel_by(ax_task *t, const char *cause) {
  if (!t || t->done) return;
  if (!t->root.cancelled) t->root.cause = cause;
  ax_scope_cancel(&t->root);
}

typedef struct join_wait {
  ax__wait w;
  ax_task *t;
} join_wait;

static void join_abort_t(ax__wait *w) {
  ax_task_cancel(ax__container_of(w, join_wait, w)->t);
}

int ax_task_join(ax_task *t, int *result) {
  if (!t || t->detached || t->joiner || t->join_cb) return AX_EINVAL;
  if (!cur) return AX_ENOTASK;
  if (t == cur) return AX_EINVAL;
  if (!t->done) {
    join_wait jw = {{0}, t};
    jw.w.abort = join_abort_t;
    ax__wait_about(&jw.w, "waiting for a task to end", NULL, NULL);
    t->joiner = &jw.w;
    ax__wait_for(&jw.w);
  }
  if (result) *result = t->result;
  task_free(t);
  return 0;
}

static void join_now(void *arg) {
  ax_task *t = arg;
  ax_done_cb cb = t->join_cb;
  void *ud = t->join_ud;
  int result = t->result;
  task_free(t);
  cb(ud, result, NULL, NULL);
}

/* Joining cannot be abandoned: cancelling it cancels the task, and the
 * callback comes when the task has ended. */
static void join_op_cancel(ax_op *op) {
  ax_task_cancel(ax__container_of(op, ax_task, join_op));
}

int ax_task_join_cb(ax_task *t, ax_done_cb cb, void *ud, ax_op **op) {
  if (!t || !cb || t->detached || t->joiner || t->join_cb) return AX_EINVAL;
  t->join_cb = cb;
  t->join_ud = ud;
  t->join_op.cancel = join_op_cancel;
  if (op) *op = t->done ? NULL : &t->join_op;
  if (t->done) {
    int rc = ax__defer(join_now, t);
    if (rc < 0) t->join_cb = NULL;
    return rc;
  }
  return 0;
}

void ax__tasks_free_all(void) {
  idling = 0; /* the idle handle goes with the loop */
  ax__list_init(&yielded);
  ax__list_each(it, &all_tasks) {
    ax_task *t = ax__container_of(it, ax_task, link);
    ax__list_remove(&t->link);
    ax__coro_release(&t->coro);
    nalive--;
    if (t->detached) task_free(t);
  }
  ax__list_init(&ready);
}

/* ----------------------------------------------------------------- waits */

/* What cancelled t: the signal that cancelled the actor, when the actor
 * scope is one of t's cancelled scopes, else the innermost cancelled one. */
static struct cause cancel_cause(const ax_task *t) {
  ax__rt *rt = ax__rt_g;
  struct cause c = {C_NONE, 0, NULL};
  const ax_scope *first = NULL;
  for (const ax_scope *s = t->scope; s; s = s->parent) {
    if (s->cancelled) {
      if (rt && s == &rt->actor_scope && rt->cancel_signal)
        return (struct cause){C_SIGNAL, rt->cancel_signal, NULL};
      if (!first) first = s;
    }
    if (s->shield) break;
  }
  if (!first) return c;
  if (rt && first == &rt->actor_scope)
    c.kind = C_ACTOR;
  else if (first->cause)
    c = (struct cause){C_TEXT, 0, first->cause};
  else if (first == &t->root)
    c.kind = C_TASK;
  else
    c.kind = C_SCOPE;
  return c;
}

static int same_cause(struct cause a, struct cause b) {
  return a.kind == b.kind && a.sig == b.sig && a.text == b.text;
}

/* A wait is cut short: remember why and what it waited for, while its
 * strings are still there to read. */
static void note_cut(ax_task *t, const ax__wait *w) {
  t->cut = cancel_cause(t);
  t->cut_doing[0] = 0;
  if (w->what)
    snprintf(t->cut_doing, sizeof t->cut_doing, w->what, w->a ? w->a : "",
             w->b ? w->b : "");
}

void ax__cancel_text(char *buf, size_t cap, const char *doing,
                     const char *fallback) {
  ax_task *t = cur;
  struct cause c = {C_NONE, 0, NULL};
  if (t) c = cancel_cause(t);
  /* The last wait cut short speaks for the task while the same cause
   * holds (or none does any more): it is what just failed. */
  if (t && t->cut.kind != C_NONE &&
      (c.kind == C_NONE || same_cause(c, t->cut))) {
    c = t->cut;
    if (!doing && t->cut_doing[0]) doing = t->cut_doing;
  }
  int n;
  switch (c.kind) {
    case C_NONE:
      snprintf(buf, cap, "%s", fallback);
      return;
    case C_SIGNAL:
      n = snprintf(buf, cap, "cancelled by %s", ax__signame(c.sig));
      break;
    case C_ACTOR:
      n = snprintf(buf, cap, "cancelled with actor '%s'",
                   ax__rt_g ? ax__rt_g->self.name : "?");
      break;
    case C_TEXT:
      n = snprintf(buf, cap, "cancelled %s", c.text);
      break;
    case C_TASK:
      n = snprintf(buf, cap, "cancelled with its task");
      break;
    default:
      n = snprintf(buf, cap, "cancelled by a cancel scope");
      break;
  }
  if (doing && *doing && n > 0 && (size_t)n < cap)
    snprintf(buf + n, cap - (size_t)n, " while %s", doing);
}

ax_error *ax_cancelled_error(const char *doing) {
  char msg[256];
  ax__cancel_text(msg, sizeof msg, doing, "the operation was cancelled");
  return ax_error_new_kind(AX_K_CANCELLED, "%s", msg);
}

void ax__wait_for(ax__wait *w) {
  w->task = cur;
  cur->wait = w;
  cur->cut.kind = C_NONE; /* the last wait now */
  while (!w->done) {
    if (!w->aborted && ax__task_cancelled(cur)) {
      w->aborted = 1;
      note_cut(cur, w);
      if (w->abort) w->abort(w);
      continue;
    }
    suspend();
  }
  cur->wait = NULL;
}

void ax__wait_done(ax__wait *w) {
  w->done = 1;
  if (w->task) ax__task_wake(w->task);
}

void ax__cancel_actor_by(const ax__ident *who) {
  ax__rt *rt = ax__rt_g;
  if (rt && !rt->has_canceller) {
    rt->canceller = *who;
    rt->has_canceller = 1;
  }
  ax__cancel_actor(0);
}

void ax__cancel_actor(int signum) {
  ax__rt *rt = ax__rt_g;
  if (!rt) return;
  if (signum && !rt->cancel_signal) rt->cancel_signal = signum;
  if (!rt->has_canceller) {
    /* Nobody said who: this actor itself (a signal, its own code). */
    rt->canceller = rt->self;
    rt->has_canceller = 1;
  }
  int first = !rt->actor_scope.cancelled;
  ax_scope_cancel(&rt->actor_scope);
  /* Code a binding runs may not yield to the loop: tell the bindings. */
  if (first && rt->on_cancel) rt->on_cancel();
}

int ax_cancelled(void) { return cur && ax__task_cancelled(cur); }

int ax_cancel_signal(void) { return ax__rt_g ? ax__rt_g->cancel_signal : 0; }

int ax__can_block(void) {
  if (!cur) return AX_ENOTASK;
  if (!ax__task_cancelled(cur)) return 0;
  cur->cut.kind = C_NONE; /* refused before it waited for anything */
  return AX_ECANCELED;
}

static void blk_abort(ax__wait *w) {
  ax__blk *b = ax__container_of(w, ax__blk, w);
  if (b->op) ax_op_cancel(b->op);
}

void ax__blk_init(ax__blk *b) {
  *b = (ax__blk){0};
  b->w.abort = blk_abort;
}

void ax__blk_cb(void *ud, int status, ax_data *result, ax_error *err) {
  ax__blk *b = ud;
  b->op = NULL;
  b->status = status;
  b->result = result;
  b->err = err;
  ax__wait_done(&b->w);
}

int ax__blk_wait(ax__blk *b, ax_data **result, ax_error **err) {
  ax__wait_for(&b->w);
  if (result)
    *result = b->result;
  else
    ax_data_free(b->result);
  if (err)
    *err = b->err;
  else
    ax_error_free(b->err);
  return b->status;
}

void ax_op_cancel(ax_op *op) {
  if (op && op->cancel) op->cancel(op);
}

/* ----------------------------------------------------------------- scopes */

/* A scope its deadline cancels says so: the clocks of the timer and of
 * ax_now differ by a fraction of a millisecond, so the time cannot. */
static void deadline_passed(ax_scope *s) {
  if (!s->cancelled) s->cause = "by a deadline";
  ax_scope_cancel(s);
}

static void scope_timer_cb(uv_timer_t *t) { deadline_passed(t->data); }

/* A libuv timeout for a time span in seconds (>= 0): a span too long for
 * the milliseconds libuv counts in is as good as forever, for which libuv
 * takes UINT64_MAX (the cast of a larger double would be undefined, and
 * in practice 0: the timer would fire at once). */
static uint64_t timeout_ms(double seconds) {
  double ms = ceil(seconds * 1000.0);
  return ms < 18446744073709551616.0 /* 2^64 */ ? (uint64_t)ms : UINT64_MAX;
}

ax_scope *ax_scope_open(double timeout) {
  if (!cur) return NULL;
  /* A timeout is a span from now: NaN or a negative one (but AX_FOREVER)
   * is a mistake, refused rather than read as "forever" or "now". */
  if (isnan(timeout) || (timeout < 0 && timeout != AX_FOREVER)) return NULL;
  ax_scope *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->parent = cur->scope;
  s->task = cur;
  s->deadline = INFINITY;
  cur->scope = s;
  if (timeout >= 0 && ax_scope_set_deadline(s, ax_now() + timeout) < 0) {
    ax_scope_close(s);
    return NULL;
  }
  return s;
}

int ax_scope_set_deadline(ax_scope *s, double deadline) {
  if (!s || isnan(deadline)) return AX_EINVAL;
  s->deadline = deadline;
  if (deadline == INFINITY) {
    if (s->timer) uv_timer_stop(s->timer);
    return 0;
  }
  double left = deadline - ax_now();
  if (left <= 0) {
    deadline_passed(s);
    return 0;
  }
  if (!s->timer) {
    s->timer = malloc(sizeof *s->timer);
    if (!s->timer) return AX_ENOMEM;
    uv_timer_init(AX__LOOP, s->timer);
    s->timer->data = s;
  }
  uv_timer_start(s->timer, scope_timer_cb, timeout_ms(left), 0);
  return 0;
}

void ax_scope_cancel(ax_scope *s) {
  if (!s || s->cancelled) return;
  s->cancelled = 1;
  if (s->timer) uv_timer_stop(s->timer);
  ax__cancel_sweep();
}

void ax_scope_shield(ax_scope *s, int on) {
  if (!s) return;
  s->shield = on;
  if (!on) ax__cancel_sweep();
}

int ax_scope_cancelled(const ax_scope *s) { return s ? s->cancelled : 0; }

int ax_scope_close(ax_scope *s) {
  if (!s || !s->task) return 0;
  ax_task *t = s->task;
  if (t->scope != s) {
    ax_log(AX_LOG_ERROR, "cancel scope closed out of order");
    /* Unlink it anyway so the chain stays valid. */
    for (ax_scope *i = t->scope; i; i = i->parent)
      if (i->parent == s) i->parent = s->parent;
  } else {
    t->scope = s->parent;
  }
  if (s->nkids > 0) {
    /* Tasks started inside s outlive it: hang them on the parent. */
    ax__list_each(it, &all_tasks) {
      ax_task *k = ax__container_of(it, ax_task, link);
      if (k->root.parent == s) {
        k->root.parent = s->parent;
        s->parent->nkids++;
      }
    }
  }
  if (s->timer) uv_close((uv_handle_t *)s->timer, (uv_close_cb)free);
  int r = s->cancelled;
  free(s);
  return r;
}

/* ------------------------------------------------------- sleep and yield */

typedef struct sleep_op {
  ax_op op;
  uv_timer_t timer;
  ax_done_cb cb;
  void *ud;
  int fired;
} sleep_op;

static void sleep_closed(uv_handle_t *h) { free(h->data); }

static void sleep_fire(sleep_op *s, int status) {
  if (s->fired) return;
  s->fired = 1;
  uv_timer_stop(&s->timer);
  uv_close((uv_handle_t *)&s->timer, sleep_closed);
  s->cb(s->ud, status, NULL, NULL);
}

static void sleep_timer_cb(uv_timer_t *t) { sleep_fire(t->data, 0); }
static void sleep_cancel(ax_op *op) {
  sleep_fire((sleep_op *)op, AX_ECANCELED);
}

int ax_sleep_cb(double seconds, ax_done_cb cb, void *ud, ax_op **op) {
  if (!ax__rt_g || !cb || !(seconds >= 0)) return AX_EINVAL;
  sleep_op *s = calloc(1, sizeof *s);
  if (!s) return AX_ENOMEM;
  s->op.cancel = sleep_cancel;
  s->cb = cb;
  s->ud = ud;
  uv_timer_init(AX__LOOP, &s->timer);
  s->timer.data = s;
  uv_timer_start(&s->timer, sleep_timer_cb, timeout_ms(seconds), 0);
  if (op) *op = &s->op;
  return 0;
}

int ax_sleep(double seconds) {
  if (!(seconds >= 0)) return AX_EINVAL; /* NaN too */
  int rc = ax__can_block();
  if (rc < 0) return rc;
  if (seconds == 0) return ax_yield();
  AX__BLOCK_ON(ax_sleep_cb(seconds, AX__BLK_ARGS), NULL, NULL, "sleeping", NULL,
               NULL);
}

/* Step aside until the loop has polled once. */
static void yield_now(void) {
  /* A task woken while it ran (a wait it cut short itself) is on the
   * ready list already: it moves, or the two lists would share a link. */
  if (cur->queued) ax__list_remove(&cur->ready_link);
  cur->queued = 1;
  ax__list_push(&yielded, &cur->ready_link);
  keep_polling();
  suspend();
}

int ax_yield(void) {
  int rc = ax__can_block();
  if (rc < 0) return rc;
  yield_now();
  return ax__task_cancelled(cur) ? AX_ECANCELED : 0;
}

/* How long a task may run without blocking before a checkpoint lets the
 * loop poll: the latency of a cancel request to busy code. */
#define SLICE_MS 10

int ax_checkpoint(void) {
  if (!cur || !ax__rt_g) return 0;
  /* uv_now is the time this loop iteration began. Yield even when
   * cancelled already: code that goes on after its cancellation (it
   * caught the error) must still let the loop run signals and I/O. */
  if (uv_hrtime() / 1000000u - uv_now(AX__LOOP) >= SLICE_MS) yield_now();
  return ax__task_cancelled(cur) ? AX_ECANCELED : 0;
}

/* ------------------------------------------------------- thread pool */

/* Plain C functions run on threads of the runtime's own. A function
 * whose caller stopped waiting (a cancel) cannot be stopped and keeps its
 * thread; libuv's pool has a fixed number of threads, which such calls
 * would take one by one, and every later call would wait behind them.
 * Here a call whose caller gave up no longer counts: later calls get
 * another thread, up to AX_THREADS_MAX threads in all, and once every
 * one of them runs a call nobody waits for, a call fails with AX_EBUSY
 * instead of waiting. Calls wait in the queue only for threads whose
 * callers still wait. Threads are detached and end after a while idle.
 *
 * The queue and the counts are shared with the threads (pool_mu); the
 * finished calls go back to the loop through an async handle that exists
 * while calls are outstanding (so it keeps the loop alive as long). */

enum { W_QUEUED, W_RUNNING, W_DONE };

typedef struct work {
  ax__list link; /* in the queue, then in the done list */
  ax_op op;
  void (*fn)(void *);
  void *arg;
  void (*release)(void *);
  ax_done_cb cb; /* NULL once the caller stopped waiting */
  void *ud;
  int state;     /* W_*, under pool_mu */
  int abandoned; /* its caller stopped waiting while fn ran */
  int status;    /* 0 once fn returned; else why it never ran */
} work;

#define POOL_IDLE_S 30 /* an idle thread ends after this many seconds */

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv;
static ax__list pool_queue = {&pool_queue, &pool_queue};
static ax__list pool_done = {&pool_done, &pool_done};
static int nqueued;    /* calls in pool_queue */
static int nthreads;   /* threads alive */
static int nfree;      /* threads running no call: idle, or about to be */
static int nabandoned; /* threads running a call nobody waits for */
static uv_async_t *pool_async;
static _Thread_local int on_pool_thread;

/* exit() called by a plain C function ends the process with its status
 * and its output flushed, as in a program of one thread. The loop thread
 * runs on meanwhile, so exit must not go on to the destructors of the
 * libraries it still uses (libuv's, the runtime's): registered late, this
 * handler runs before most exit handlers and before every destructor. */
static void pool_exit(int status, void *unused) {
  (void)unused;
  if (!on_pool_thread) return;
  fflush(NULL);
  _exit(status);
}

static void pool_init(void) {
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&pool_cv, &ca);
  pthread_condattr_destroy(&ca);
  on_exit(pool_exit, NULL);
}

static void *pool_main(void *unused) {
  (void)unused;
  on_pool_thread = 1;
  pthread_mutex_lock(&pool_mu);
  for (;;) {
    while (ax__list_empty(&pool_queue)) {
      struct timespec until;
      clock_gettime(CLOCK_MONOTONIC, &until);
      until.tv_sec += POOL_IDLE_S;
      if (pthread_cond_timedwait(&pool_cv, &pool_mu, &until) == ETIMEDOUT &&
          ax__list_empty(&pool_queue)) {
        nfree--;
        nthreads--;
        pthread_mutex_unlock(&pool_mu);
        return NULL;
      }
    }
    work *w = ax__container_of(pool_queue.next, work, link);
    ax__list_remove(&w->link);
    nqueued--;
    nfree--;
    w->state = W_RUNNING;
    pthread_mutex_unlock(&pool_mu);
    w->fn(w->arg);
    pthread_mutex_lock(&pool_mu);
    if (w->abandoned) nabandoned--;
    nfree++;
    w->state = W_DONE;
    ax__list_push(&pool_done, &w->link);
    uv_async_send(pool_async);
  }
}

/* Under pool_mu. Signals stay with the loop thread, but for those a fault
 * raises in the thread itself. */
static int pool_spawn(void) {
  pthread_attr_t at;
  if (pthread_attr_init(&at) != 0) return AX_ENOMEM;
  pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  sigset_t all, old;
  sigfillset(&all);
  const int faults[] = {SIGSEGV, SIGBUS,  SIGILL, SIGFPE,
                        SIGABRT, SIGTRAP, SIGSYS};
  for (size_t i = 0; i < sizeof faults / sizeof *faults; i++)
    sigdelset(&all, faults[i]);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t tid;
  int rc = pthread_create(&tid, &at, pool_main, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&at);
  if (rc != 0) return AX_ENOMEM;
  nthreads++;
  nfree++;
  return 0;
}

/* Under pool_mu: make sure each queued call has a thread that will take
 * it: a free one, a new one, or, failing those, one running a call whose
 * caller still waits. AX_EBUSY when only abandoned calls run. */
static int pool_kick(void) {
  while (nqueued > nfree && nthreads < AX_THREADS_MAX)
    if (pool_spawn() < 0) break;
  if (nqueued <= nfree || nthreads - nfree - nabandoned > 0) return 0;
  return nthreads < AX_THREADS_MAX ? AX_ENOMEM : AX_EBUSY;
}

static void pool_closed(uv_handle_t *h) { free(h); }

static void pool_after(uv_async_t *a) {
  (void)a;
  ax__list done;
  ax__list_init(&done);
  pthread_mutex_lock(&pool_mu);
  if (!ax__list_empty(&pool_done)) {
    done = pool_done;
    done.next->prev = done.prev->next = &done;
    ax__list_init(&pool_done);
  }
  pthread_mutex_unlock(&pool_mu);
  while (!ax__list_empty(&done)) {
    work *w = ax__container_of(done.next, work, link);
    ax__list_remove(&w->link);
    nthreads_busy--;
    ax_done_cb cb = w->cb;
    void *ud = w->ud;
    if (cb && w->status == 0) {
      /* The caller still waits and gets arg back. */
      free(w);
      cb(ud, 0, NULL, NULL);
      continue;
    }
    if (cb) cb(ud, w->status, NULL, NULL);
    if (w->release) w->release(w->arg);
    free(w);
  }
  uv_async_t *idle = NULL;
  pthread_mutex_lock(&pool_mu);
  if (nthreads_busy == 0) {
    idle = pool_async;
    pool_async = NULL;
  }
  pthread_mutex_unlock(&pool_mu);
  if (idle) uv_close((uv_handle_t *)idle, pool_closed);
}

/* Under pool_mu: hand w back to the loop, which calls and releases. */
static void pool_finish(work *w, int status) {
  w->status = status;
  w->state = W_DONE;
  ax__list_push(&pool_done, &w->link);
  uv_async_send(pool_async);
}

/* Queued: it is dropped unrun. Running: the caller stops waiting now,
 * release comes when fn returns, and calls queued behind it that only
 * abandoned calls are left to run fail. Either way the callback runs now. */
static void work_cancel(ax_op *op) {
  work *w = ax__container_of(op, work, op);
  ax_done_cb cb = w->cb;
  void *ud = w->ud;
  if (!cb) return;
  w->cb = NULL;
  pthread_mutex_lock(&pool_mu);
  if (w->state == W_QUEUED) {
    ax__list_remove(&w->link);
    nqueued--;
    pool_finish(w, AX_ECANCELED);
  } else if (w->state == W_RUNNING) {
    w->abandoned = 1;
    nabandoned++;
    int rc = pool_kick();
    while (rc < 0 && !ax__list_empty(&pool_queue)) {
      work *q = ax__container_of(pool_queue.next, work, link);
      ax__list_remove(&q->link);
      nqueued--;
      pool_finish(q, rc);
    }
  }
  pthread_mutex_unlock(&pool_mu);
  cb(ud, AX_ECANCELED, NULL, NULL);
}

int ax_run_in_thread_cb(void (*fn)(void *), void *arg, void (*release)(void *),
                        ax_done_cb cb, void *ud, ax_op **op) {
  if (!fn || !cb || !ax__rt_g) return AX_EINVAL;
  pthread_once(&pool_once, pool_init);
  work *w = calloc(1, sizeof *w);
  if (!w) return AX_ENOMEM;
  w->op.cancel = work_cancel;
  w->fn = fn;
  w->arg = arg;
  w->release = release;
  w->cb = cb;
  w->ud = ud;
  w->state = W_QUEUED;
  uv_async_t *a = NULL;
  if (!pool_async) {
    a = malloc(sizeof *a);
    if (!a || uv_async_init(AX__LOOP, a, pool_after) != 0) {
      free(a);
      free(w);
      return AX_ENOMEM;
    }
  }
  pthread_mutex_lock(&pool_mu);
  if (a) pool_async = a;
  ax__list_push(&pool_queue, &w->link);
  nqueued++;
  int rc = pool_kick();
  if (rc < 0) {
    ax__list_remove(&w->link);
    nqueued--;
    if (a) pool_async = NULL; /* made for this call alone */
  } else {
    pthread_cond_signal(&pool_cv);
    a = NULL;
  }
  pthread_mutex_unlock(&pool_mu);
  if (rc < 0) {
    if (a) uv_close((uv_handle_t *)a, pool_closed);
    free(w);
    return rc;
  }
  nthreads_busy++;
  if (op) *op = &w->op;
  return 0;
}

int ax_run_in_thread(void (*fn)(void *), void *arg, void (*release)(void *)) {
  int rc = ax__can_block();
  if (rc < 0 || !fn) {
    if (rc < 0 && release) release(arg);
    return rc < 0 ? rc : AX_EINVAL;
  }
  ax__blk b;
  ax__blk_init(&b);
  ax__wait_about(&b.w, "waiting for a function running on a thread", NULL,
                 NULL);
  rc = ax_run_in_thread_cb(fn, arg, release, ax__blk_cb, &b, &b.op);
  if (rc < 0) {
    if (release) release(arg);
    return rc;
  }
  return ax__blk_wait(&b, NULL, NULL);
}

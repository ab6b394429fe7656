/* test_task.c - tasks, cancel scopes and deadlines, shields, thread-pool
 * calls, and driving the runtime from a foreign loop. */
#include <float.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"

static int order[16], norder;

static int record(void *arg) {
  int id = (int)(intptr_t)arg;
  order[norder++] = id;
  ax_yield();
  order[norder++] = id + 10;
  return id * 2;
}

static int tasks_body(void *arg) {
  (void)arg;
  ax_task *a, *b;
  assert_int_equal(ax_task_start(record, (void *)1, &a), 0);
  assert_int_equal(ax_task_start(record, (void *)2, &b), 0);
  int ra = 0, rb = 0;
  assert_int_equal(ax_task_join(a, &ra), 0);
  assert_int_equal(ax_task_join(b, &rb), 0);
  assert_int_equal(ra, 2);
  assert_int_equal(rb, 4);
  return 7;
}

static void test_tasks_interleave_and_join(void **state) {
  (void)state;
  norder = 0;
  assert_int_equal(ax_run(NULL, tasks_body, NULL), 7);
  /* Both ran their first half before either ran its second. */
  assert_int_equal(norder, 4);
  assert_int_equal(order[0], 1);
  assert_int_equal(order[1], 2);
  assert_int_equal(order[2], 11);
  assert_int_equal(order[3], 12);
}

static int deadline_body(void *arg) {
  double *elapsed = arg;
  ax_scope *s = ax_scope_open(0.1);
  double t0 = ax_now();
  assert_int_equal(ax_sleep(10), AX_ECANCELED);
  elapsed[0] = ax_now() - t0;
  /* Level-triggered: every later blocking call fails too. */
  assert_int_equal(ax_sleep(0.01), AX_ECANCELED);
  assert_int_equal(ax_yield(), AX_ECANCELED);
  assert_int_equal(ax_scope_close(s), 1);
  /* Outside the scope, blocking works again. */
  assert_int_equal(ax_sleep(0.01), 0);
  return 0;
}

static void test_deadline_cancels_and_stays_cancelled(void **state) {
  (void)state;
  double elapsed = 0;
  assert_int_equal(ax_run(NULL, deadline_body, &elapsed), 0);
  assert_true(elapsed >= 0.09 && elapsed < 5);
}

static int set_flag(void *arg) {
  *(int *)arg = 1;
  return 0;
}

/* A cancelled sleep ends when the task aborts it, which wakes the task
 * while it runs; busy code after it must still let the loop and other
 * tasks run at its checkpoints. */
static int self_wake_body(void *arg) {
  (void)arg;
  ax_scope *s = ax_scope_open(0.01);
  assert_int_equal(ax_sleep(10), AX_ECANCELED);
  assert_int_equal(ax_scope_close(s), 1);
  int flag = 0;
  assert_int_equal(ax_task_start(set_flag, &flag, NULL), 0);
  /* The bound only catches the hang. */
  double end = ax_now() + 30;
  while (!flag && ax_now() < end) ax_checkpoint();
  assert_true(flag);
  return 0;
}

static void test_busy_code_after_a_cancelled_wait_yields(void **state) {
  (void)state;
  assert_int_equal(ax_run(NULL, self_wake_body, NULL), 0);
}

static int shield_body(void *arg) {
  (void)arg;
  ax_scope *outer = ax_scope_open(AX_FOREVER);
  ax_scope_cancel(outer);
  assert_int_equal(ax_sleep(0.01), AX_ECANCELED);
  ax_scope *sh = ax_scope_open(AX_FOREVER);
  ax_scope_shield(sh, 1);
  assert_int_equal(ax_sleep(0.01), 0); /* teardown can still block */
  assert_int_equal(ax_scope_close(sh), 0);
  assert_int_equal(ax_sleep(0.01), AX_ECANCELED);
  assert_int_equal(ax_scope_close(outer), 1);
  return 0;
}

static void test_shield_hides_outer_cancellation(void **state) {
  (void)state;
  assert_int_equal(ax_run(NULL, shield_body, NULL), 0);
}

static int sleeper(void *arg) {
  (void)arg;
  return ax_sleep(30);
}

static int cancel_child_body(void *arg) {
  (void)arg;
  ax_task *t;
  /* A child task is cancelled with the scope it was started in. */
  ax_scope *s = ax_scope_open(AX_FOREVER);
  assert_int_equal(ax_task_start(sleeper, NULL, &t), 0);
  assert_int_equal(ax_sleep(0.02), 0);
  ax_scope_cancel(s);
  int r = 0;
  assert_int_equal(ax_task_join(t, &r), 0);
  assert_int_equal(r, AX_ECANCELED);
  ax_scope_close(s);
  return 0;
}

static void test_cancelling_a_scope_cancels_its_child_tasks(void **state) {
  (void)state;
  assert_int_equal(ax_run(NULL, cancel_child_body, NULL), 0);
}

/* A task whose wait was cut short woke itself while it ran: yielding
 * next must let the other ready tasks run, not tangle the queues. */
static int marked;

static int mark(void *arg) {
  (void)arg;
  marked = 1;
  return 0;
}

static int yield_after_cut_body(void *arg) {
  (void)arg;
  ax_scope *s = ax_scope_open(0.01);
  assert_int_equal(ax_sleep(30), AX_ECANCELED);
  ax_scope_close(s);
  ax_task *t;
  marked = 0;
  assert_int_equal(ax_task_start(mark, NULL, &t), 0);
  assert_int_equal(ax_yield(), 0);
  assert_int_equal(marked, 1);
  assert_int_equal(ax_task_join(t, NULL), 0);
  return 0;
}

static void test_yield_after_a_wait_cut_short(void **state) {
  (void)state;
  assert_int_equal(ax_run(NULL, yield_after_cut_body, NULL), 0);
}

/* ------------------------------------- what a Cancelled error says */

static char said[8][160];

static void say(int i, const char *doing) {
  ax_error *e = ax_cancelled_error(doing);
  assert_non_null(e);
  assert_int_equal(ax_error_kind(e), AX_K_CANCELLED);
  snprintf(said[i], sizeof said[i], "%s", ax_error_message(e));
  ax_error_free(e);
}

static int sleep_then_say(void *arg) {
  assert_int_equal(ax_sleep(30), AX_ECANCELED);
  say((int)(intptr_t)arg, NULL);
  return 0;
}

static int cancel_scope_soon(void *arg) {
  ax_yield();
  ax_scope_cancel(arg);
  return 0;
}

static int sigterm_soon(void *arg) {
  (void)arg;
  ax_yield();
  ax__cancel_actor(SIGTERM);
  return 0;
}

static int reasons_body(void *arg) {
  (void)arg;
  /* A deadline cuts a sleep short; a blocking call refused at once in
   * the cancelled scope waited for nothing. */
  ax_scope *s = ax_scope_open(0.01);
  assert_int_equal(ax_sleep(30), AX_ECANCELED);
  say(0, NULL);
  assert_int_equal(ax_sleep(30), AX_ECANCELED);
  say(1, NULL);
  ax_scope_close(s);
  /* A task cancelled through its handle. */
  ax_task *t;
  assert_int_equal(ax_task_start(sleep_then_say, (void *)2, &t), 0);
  assert_int_equal(ax_yield(), 0);
  ax_task_cancel(t);
  assert_int_equal(ax_task_join(t, NULL), 0);
  /* A scope cancelled by hand. */
  s = ax_scope_open(AX_FOREVER);
  assert_int_equal(ax_task_start(cancel_scope_soon, s, NULL), 0);
  assert_int_equal(ax_sleep(30), AX_ECANCELED);
  say(3, NULL);
  ax_scope_close(s);
  /* Busy code cancelled by another cause: the sleep cut short earlier is
   * not what it was doing. */
  s = ax_scope_open(0);
  assert_int_equal(ax_checkpoint(), AX_ECANCELED);
  say(4, NULL);
  say(5, "running Lua code");
  ax_scope_close(s);
  /* SIGTERM, as signal.c takes it, during a sleep. */
  assert_int_equal(ax_task_start(sigterm_soon, NULL, NULL), 0);
  assert_int_equal(ax_sleep(30), AX_ECANCELED);
  say(6, NULL);
  say(7, "running Lua code");
  return 0;
}

static void test_cancelled_says_what_and_why(void **state) {
  (void)state;
  memset(said, 0, sizeof said);
  assert_int_equal(ax_run(NULL, reasons_body, NULL), 0);
  assert_string_equal(said[0], "cancelled by a deadline while sleeping");
  assert_string_equal(said[1], "cancelled by a deadline");
  assert_string_equal(said[2], "cancelled with its task while sleeping");
  assert_string_equal(said[3], "cancelled by a cancel scope while sleeping");
  assert_string_equal(said[4], "cancelled by a deadline");
  assert_string_equal(said[5], "cancelled by a deadline while running Lua "
                               "code");
  assert_string_equal(said[6], "cancelled by SIGTERM while sleeping");
  assert_string_equal(said[7], "cancelled by SIGTERM while running Lua code");
}

static void slow(void *arg) {
  (void)arg;
  usleep(300 * 1000);
}

static int released;
static void release(void *arg) {
  (void)arg;
  released++;
}

static int thread_body(void *arg) {
  double *elapsed = arg;
  assert_int_equal(ax_run_in_thread(slow, NULL, release), 0);
  assert_int_equal(released, 0); /* returned to us, not released */
  ax_scope *s = ax_scope_open(0.05);
  double t0 = ax_now();
  assert_int_equal(ax_run_in_thread(slow, NULL, release), AX_ECANCELED);
  *elapsed = ax_now() - t0;
  ax_scope_close(s);
  return 0;
}

static void test_thread_call_is_abandoned_on_cancel(void **state) {
  (void)state;
  double elapsed = 0;
  released = 0;
  assert_int_equal(ax_run(NULL, thread_body, &elapsed), 0);
  /* The task stopped waiting at once; the work still finished and was
   * released before the runtime went away. */
  assert_true(elapsed < 0.25);
  assert_int_equal(released, 1);
}

static void test_blocking_calls_outside_tasks_fail(void **state) {
  (void)state;
  assert_int_equal(ax_init(NULL), 0);
  assert_int_equal(ax_sleep(0.01), AX_ENOTASK);
  assert_null(ax_scope_open(1));
  assert_int_equal(ax_init(NULL), AX_ESTATE);
  assert_int_equal(ax_shutdown(), 0);
}

static int fired;
static void sleep_done(void *ud, int status, ax_data *r, ax_error *e) {
  (void)r;
  (void)e;
  *(int *)ud = status == 0 ? 1 : status;
  fired++;
}

static void test_foreign_loop_drives_completions(void **state) {
  (void)state;
  assert_int_equal(ax_init(NULL), 0);
  int a = 0, b = 0;
  ax_op *op;
  fired = 0;
  assert_int_equal(ax_sleep_cb(0.02, sleep_done, &a, NULL), 0);
  assert_int_equal(ax_sleep_cb(10, sleep_done, &b, &op), 0);
  assert_int_equal(fired, 0); /* never from inside the starting call */
  double t0 = ax_now();
  while (!a && ax_now() - t0 < 5) {
    struct pollfd pfd = {ax_loop_fd(), POLLIN, 0};
    poll(&pfd, 1, ax_loop_timeout());
    ax_loop_step();
  }
  assert_int_equal(a, 1);
  ax_op_cancel(op);
  assert_int_equal(b, AX_ECANCELED);
  while (ax_loop_step()) {
  }
  assert_int_equal(fired, 2);
  assert_int_equal(ax_shutdown(), 0);
}

/* Completion forms of thread calls and joins, driven from a foreign
 * loop: results come through callbacks, cancelling an op ends the wait
 * at once (release comes later) or, for a join, cancels the task. */
static int got_status[4], ngot;
static void record_done(void *ud, int status, ax_data *r, ax_error *e) {
  (void)r;
  (void)e;
  got_status[(intptr_t)ud] = status;
  ngot++;
}

static int forever_task(void *arg) {
  (void)arg;
  return ax_sleep(1e6) == AX_ECANCELED ? 7 : 0;
}

static void test_thread_and_join_completion_forms(void **state) {
  (void)state;
  assert_int_equal(ax_init(NULL), 0);
  ngot = released = 0;
  ax_op *op = NULL;
  assert_int_equal(
      ax_run_in_thread_cb(slow, NULL, release, record_done, (void *)0, NULL), 0);
  assert_int_equal(
      ax_run_in_thread_cb(slow, NULL, release, record_done, (void *)1, &op), 0);
  ax_op_cancel(op); /* the caller stops waiting; fn runs on or is dropped */
  ax_task *t;
  assert_int_equal(ax_task_start(forever_task, NULL, &t), 0);
  assert_int_equal(ax_task_join_cb(t, record_done, (void *)2, &op), 0);
  for (int i = 0; i < 10; i++) ax_loop_step();
  ax_op_cancel(op); /* cancels the task; the join still reports it */
  while (ngot < 3 || released < 1) {
    struct pollfd pfd = {ax_loop_fd(), POLLIN, 0};
    poll(&pfd, 1, 10);
    ax_loop_step();
  }
  assert_int_equal(got_status[0], 0);     /* fn returned: arg is ours */
  assert_int_equal(got_status[1], AX_ECANCELED);
  assert_int_equal(got_status[2], 7);     /* the task's own result */
  assert_int_equal(released, 1);          /* only the abandoned call's */
  while (ax_loop_step()) {
  }
  assert_int_equal(ax_shutdown(), 0);
}

/* A task that outlives the task that started it hangs on that task's
 * scope afterwards, not on the ended task's struct, which a new task
 * reuses: cancelling the new task must not reach it. */
static ax_task *orphan;
static int nap_03(void *arg) {
  (void)arg;
  return ax_sleep(0.3);
}
static int nap_forever(void *arg) {
  (void)arg;
  return ax_sleep(1e6);
}
static int starts_orphan(void *arg) {
  (void)arg;
  return ax_task_start(nap_03, NULL, &orphan);
}
static int orphan_body(void *arg) {
  (void)arg;
  ax_task *a, *c;
  assert_int_equal(ax_task_start(starts_orphan, NULL, &a), 0);
  assert_int_equal(ax_task_join(a, NULL), 0); /* a ends; its struct is free */
  ax_scope *s = ax_scope_open(AX_FOREVER);
  assert_int_equal(ax_task_start(nap_forever, NULL, &c), 0);
  ax_scope_cancel(s);
  int rc = 0;
  assert_int_equal(ax_task_join(c, &rc), 0);
  assert_int_equal(rc, AX_ECANCELED);
  ax_scope_close(s);
  assert_int_equal(ax_task_join(orphan, &rc), 0);
  assert_int_equal(rc, 0); /* slept its time, not cancelled with c */
  return 0;
}

static void test_orphan_task_outlives_its_starter(void **state) {
  (void)state;
  assert_int_equal(ax_run(NULL, orphan_body, NULL), 0);
}

/* ------------------------------------------------- huge and bad timeouts */

/* A huge or infinite timeout means "forever": the sleep (or the scope's
 * deadline) is still pending after other work has ended, and only a
 * cancel ends it. */
typedef struct huge_case {
  double secs;  /* the sleep, or the scope's timeout */
  int how;      /* 0: ax_sleep, 1: ax_scope_open, 2: ax_scope_set_deadline */
  int done, rc, caught;
} huge_case;

static int huge_sleeper(void *arg) {
  huge_case *c = arg;
  if (c->how == 0) {
    c->rc = ax_sleep(c->secs);
  } else {
    ax_scope *s = ax_scope_open(c->how == 1 ? c->secs : AX_FOREVER);
    assert_non_null(s);
    if (c->how == 2)
      assert_int_equal(ax_scope_set_deadline(s, ax_now() + c->secs), 0);
    c->rc = ax_sleep(1e6);
    c->caught = ax_scope_close(s);
  }
  c->done = 1;
  return 0;
}

static int short_nap(void *arg) {
  (void)arg;
  return ax_sleep(0.02);
}

static int huge_body(void *arg) {
  huge_case *c = arg;
  ax_task *sleeper, *other;
  assert_int_equal(ax_task_start(huge_sleeper, c, &sleeper), 0);
  assert_int_equal(ax_task_start(short_nap, NULL, &other), 0);
  assert_int_equal(ax_task_join(other, NULL), 0);
  assert_int_equal(c->done, 0); /* still asleep after the other work */
  ax_task_cancel(sleeper);
  assert_int_equal(ax_task_join(sleeper, NULL), 0);
  return 0;
}

static void test_huge_timeouts_mean_forever(void **state) {
  (void)state;
  const double huge[] = {1e17, 1e300, DBL_MAX, INFINITY};
  for (int how = 0; how < 3; how++) {
    for (size_t i = 0; i < sizeof huge / sizeof *huge; i++) {
      huge_case c = {.secs = huge[i], .how = how};
      assert_int_equal(ax_run(NULL, huge_body, &c), 0);
      assert_int_equal(c.done, 1);
      assert_int_equal(c.rc, AX_ECANCELED); /* by the cancel, */
      assert_int_equal(c.caught, 0);        /* not by the deadline */
    }
  }
}

static int never_called;
static void must_not_run(void *ud, int status, ax_data *r, ax_error *e) {
  (void)ud;
  (void)status;
  (void)r;
  (void)e;
  never_called++;
}

static int bad_timeouts_body(void *arg) {
  (void)arg;
  const double bad[] = {NAN, -NAN, -1e-9, -1, -INFINITY};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(ax_sleep(bad[i]), AX_EINVAL);
    assert_int_equal(ax_sleep_cb(bad[i], must_not_run, NULL, NULL),
                     AX_EINVAL);
    /* AX_FOREVER is the one negative timeout a scope takes. */
    assert_null(ax_scope_open(bad[i] == AX_FOREVER ? NAN : bad[i]));
  }
  assert_int_equal(ax_sleep(0), 0); /* zero is a checkpoint */
  ax_scope *s = ax_scope_open(AX_FOREVER);
  assert_non_null(s);
  assert_int_equal(ax_scope_set_deadline(s, NAN), AX_EINVAL);
  assert_int_equal(ax_scope_set_deadline(NULL, 1), AX_EINVAL);
  assert_int_equal(ax_sleep(0.001), 0); /* the refused deadline left none */
  /* A deadline is a time: one in the past, even -inf, has passed. */
  assert_int_equal(ax_scope_set_deadline(s, -INFINITY), 0);
  assert_int_equal(ax_sleep(0.001), AX_ECANCELED);
  assert_int_equal(ax_scope_close(s), 1);
  return 0;
}

static void test_nan_and_negative_timeouts_are_refused(void **state) {
  (void)state;
  never_called = 0;
  assert_int_equal(ax_run(NULL, bad_timeouts_body, NULL), 0);
  assert_int_equal(never_called, 0);
}

/* ------------------------------------------- abandoned thread-pool calls */

/* Calls that block on a pipe until the test writes to it: the test knows
 * they run (each writes a byte to started first) and that they still
 * block (nothing has been written to gate). */
static int started[2], gate[2];
static int nreleased_blocked, release_target;
static ax__wait *all_released;

static void block_on_gate(void *arg) {
  (void)arg;
  char c = 1;
  if (write(started[1], &c, 1) != 1) return;
  if (read(gate[0], &c, 1) != 1) return;
}

static void release_blocked(void *arg) {
  (void)arg;
  if (++nreleased_blocked == release_target && all_released)
    ax__wait_done(all_released);
}

static void quick(void *arg) { *(int *)arg = 42; }

static void open_gates(void) {
  assert_int_equal(pipe(started), 0);
  assert_int_equal(pipe(gate), 0);
  nreleased_blocked = 0;
}

static void close_gates(void) {
  close(started[0]);
  close(started[1]);
  close(gate[0]);
  close(gate[1]);
}

/* Read n bytes from started; the poll timeout only catches a hang. */
static int wait_started(int n) {
  int got = 0;
  char buf[256];
  while (got < n) {
    struct pollfd pfd = {started[0], POLLIN, 0};
    if (poll(&pfd, 1, 30000) <= 0) break;
    ssize_t k = read(started[0], buf,
                     (size_t)(n - got) < sizeof buf ? (size_t)(n - got)
                                                    : sizeof buf);
    if (k <= 0) break;
    got += (int)k;
  }
  return got;
}

static void open_gate(int n) {
  char ones[AX_THREADS_MAX];
  memset(ones, 1, sizeof ones);
  assert_int_equal(write(gate[1], ones, (size_t)n), n);
}

static int cb_status[AX_THREADS_MAX + 1];

static void status_cb(void *ud, int status, ax_data *r, ax_error *e) {
  (void)r;
  (void)e;
  *(int *)ud = status;
}

/* Wait for w; the deadline only catches a hang (then w is not done). */
static void give_up(ax__wait *w) { w->done = 1; }
static void wait_event(ax__wait *w) {
  ax_scope *s = ax_scope_open(30);
  w->abort = give_up;
  ax__wait_for(w);
  ax_scope_close(s);
}

static ax__wait *queued_wait;
static void queued_cb(void *ud, int status, ax_data *r, ax_error *e) {
  status_cb(ud, status, r, e);
  ax__wait_done(queued_wait);
}

/* Start n blocking calls and make sure they run; cancel them if asked. */
static void start_blocked(int n, ax_op **ops, int cancel) {
  for (int i = 0; i < n; i++) {
    cb_status[i] = 1;
    assert_int_equal(ax_run_in_thread_cb(block_on_gate, NULL, release_blocked,
                                         status_cb, &cb_status[i], &ops[i]),
                     0);
  }
  assert_int_equal(wait_started(n), n);
  for (int i = 0; cancel && i < n; i++) {
    ax_op_cancel(ops[i]);
    assert_int_equal(cb_status[i], AX_ECANCELED);
  }
}

#define NBLOCKED 6 /* more than the four threads of libuv's pool */

static int abandoned_body(void *arg) {
  (void)arg;
  ax_op *ops[NBLOCKED];
  start_blocked(NBLOCKED, ops, 1);
  int v = 0;
  assert_int_equal(ax_run_in_thread(quick, &v, NULL), 0);
  assert_int_equal(v, 42);
  assert_int_equal(nreleased_blocked, 0); /* all still at the gate */
  open_gate(NBLOCKED);
  return 0;
}

static void test_abandoned_calls_never_delay_later_ones(void **state) {
  (void)state;
  open_gates();
  release_target = NBLOCKED;
  assert_int_equal(ax_run(NULL, abandoned_body, NULL), 0);
  /* The runtime waited for the abandoned calls before it went away. */
  assert_int_equal(nreleased_blocked, NBLOCKED);
  close_gates();
}

static int limit_body(void *arg) {
  (void)arg;
  ax_op *ops[AX_THREADS_MAX];
  ax__wait w = {0};
  all_released = &w;
  start_blocked(AX_THREADS_MAX, ops, 1);
  /* Every thread runs a call nobody waits for: no silent wait, an error. */
  int v = 0;
  assert_int_equal(ax_run_in_thread(quick, &v, NULL), AX_EBUSY);
  assert_int_equal(ax_run_in_thread_cb(quick, &v, NULL, must_not_run, NULL,
                                       NULL),
                   AX_EBUSY);
  assert_int_equal(v, 0);
  /* Once they return, their threads serve again. */
  open_gate(AX_THREADS_MAX);
  wait_event(&w);
  all_released = NULL;
  assert_int_equal(nreleased_blocked, AX_THREADS_MAX);
  assert_int_equal(ax_run_in_thread(quick, &v, NULL), 0);
  assert_int_equal(v, 42);
  return 0;
}

static void test_pool_full_of_abandoned_calls_is_an_error(void **state) {
  (void)state;
  open_gates();
  never_called = 0;
  release_target = AX_THREADS_MAX;
  assert_int_equal(ax_run(NULL, limit_body, NULL), 0);
  assert_int_equal(never_called, 0);
  close_gates();
}

/* A call queued behind running ones, when every one of those is then
 * abandoned, must not wait for them either: it fails. */
static int queued_body(void *arg) {
  (void)arg;
  ax_op *ops[AX_THREADS_MAX];
  ax__wait w = {0}, q = {0};
  all_released = &w;
  queued_wait = &q;
  start_blocked(AX_THREADS_MAX, ops, 0);
  int v = 0, *st = &cb_status[AX_THREADS_MAX];
  *st = 1;
  assert_int_equal(ax_run_in_thread_cb(quick, &v, NULL, queued_cb, st, NULL),
                   0);
  for (int i = 0; i < AX_THREADS_MAX; i++) ax_op_cancel(ops[i]);
  wait_event(&q);
  assert_int_equal(*st, AX_EBUSY);
  assert_int_equal(v, 0);
  open_gate(AX_THREADS_MAX);
  wait_event(&w);
  all_released = NULL;
  assert_int_equal(nreleased_blocked, AX_THREADS_MAX);
  return 0;
}

static void test_call_queued_behind_abandoned_ones_fails(void **state) {
  (void)state;
  open_gates();
  release_target = AX_THREADS_MAX;
  assert_int_equal(ax_run(NULL, queued_body, NULL), 0);
  close_gates();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_orphan_task_outlives_its_starter),
      cmocka_unit_test(test_thread_and_join_completion_forms),
      cmocka_unit_test(test_tasks_interleave_and_join),
      cmocka_unit_test(test_deadline_cancels_and_stays_cancelled),
      cmocka_unit_test(test_busy_code_after_a_cancelled_wait_yields),
      cmocka_unit_test(test_shield_hides_outer_cancellation),
      cmocka_unit_test(test_yield_after_a_wait_cut_short),
      cmocka_unit_test(test_cancelled_says_what_and_why),
      cmocka_unit_test(test_cancelling_a_scope_cancels_its_child_tasks),
      cmocka_unit_test(test_thread_call_is_abandoned_on_cancel),
      cmocka_unit_test(test_blocking_calls_outside_tasks_fail),
      cmocka_unit_test(test_foreign_loop_drives_completions),
      cmocka_unit_test(test_huge_timeouts_mean_forever),
      cmocka_unit_test(test_nan_and_negative_timeouts_are_refused),
      cmocka_unit_test(test_abandoned_calls_never_delay_later_ones),
      cmocka_unit_test(test_pool_full_of_abandoned_calls_is_an_error),
      cmocka_unit_test(test_call_queued_behind_abandoned_ones_fails),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

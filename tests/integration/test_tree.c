/* test_tree.c - spawning, results, errors and one-cancels-all over real
 * process trees; each test checks that nothing of its tree survives. */
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static const ax_spawn_opts testmod = {sizeof(ax_spawn_opts), AXT_TESTMOD,
                                      NULL, 0, 0, 0};

static int alive(int pid) { return pid > 0 && kill(pid, 0) == 0; }

/* ------------------------------------------------- run_in_actor result */

typedef struct result_case {
  double sum;
  char etype[64], emsg[4096], esrc[64];
  int epid, close_rc;
  char close_type[64];
} result_case;

static int result_body(void *arg) {
  result_case *c = arg;
  ax_nursery *n;
  ax_portal *adder, *failer;
  ax_data *r = NULL;
  ax_error *e = NULL;
  assert_int_equal(ax_nursery_open(&n), 0);
  ax_data *kw = h_kw("ff", "a", 1.5, "b", 2.0);
  assert_int_equal(ax_run_in_actor(n, "adder", &testmod, "add", kw, &adder,
                                   NULL), 0);
  ax_data_free(kw);
  assert_int_equal(ax_portal_result(adder, &r, NULL), 0);
  c->sum = ax_val_float(ax_data_root(r));
  ax_data_free(r);
  /* A message longer than any fixed buffer arrives whole. */
  char msg[3001];
  memset(msg, 'k', sizeof msg - 1);
  memcpy(msg, "no such key: ", 13);
  msg[sizeof msg - 1] = 0;
  kw = h_kw("ss", "type", "KeyError", "message", msg);
  assert_int_equal(ax_run_in_actor(n, "failer", &testmod, "fail", kw,
                                   &failer, NULL), 0);
  ax_data_free(kw);
  assert_int_equal(ax_portal_result(failer, NULL, &e), AX_EREMOTE);
  strcpy(c->etype, ax_error_type(e));
  strcpy(c->emsg, ax_error_message(e));
  strcpy(c->esrc, ax_error_src_name(e));
  c->epid = ax_error_src_pid(e);
  ax_error_free(e);
  e = NULL;
  c->close_rc = ax_nursery_close(n, &e);
  strcpy(c->close_type, e ? ax_error_type(e) : "");
  ax_error_free(e);
  return 0;
}

static void test_run_in_actor_result_and_error(void **state) {
  (void)state;
  h_begin(60);
  result_case c = {0};
  assert_int_equal(h_run(0.5, result_body, &c), 0);
  assert_true(fabs(c.sum - 3.5) < 1e-9);
  assert_string_equal(c.etype, "KeyError");
  assert_int_equal(strlen(c.emsg), 3000);
  assert_memory_equal(c.emsg, "no such key: kkk", 16);
  assert_int_equal(c.emsg[2999], 'k');
  assert_string_equal(c.esrc, "failer");
  assert_true(c.epid > 0 && c.epid != getpid());
  /* A failed one-shot fails its nursery too. */
  assert_int_equal(c.close_rc, AX_EREMOTE);
  assert_string_equal(c.close_type, "KeyError");
  assert_int_equal(h_wait_none(2), 0);
}

/* ------------------------------------------------ one-cancels-all */

typedef struct oca_case {
  int nfail;
  int pids[4];
  int body_rc, close_rc;
  char type[64], src[64];
  size_t nmembers;
  char member_src[2][64];
} oca_case;

static void noop_cb(void *ud, int st, ax_data *r, ax_error *e) {
  (void)ud;
  (void)st;
  ax_data_free(r);
  ax_error_free(e);
}

static int oca_body(void *arg) {
  oca_case *c = arg;
  ax_nursery *n;
  ax_portal *p[3];
  assert_int_equal(ax_nursery_open(&n), 0);
  int ndaemons = 3 - c->nfail;
  for (int i = 0; i < ndaemons; i++) {
    char name[32];
    snprintf(name, sizeof name, "daemon%d", i);
    assert_int_equal(ax_start_actor(n, name, &testmod, &p[i], NULL), 0);
    c->pids[i] = ax_portal_pid(p[i]);
  }
  /* The failing ones start together and fail after a shielded delay, so
   * that each fails even while it is being cancelled. */
  ax_data *kw = h_kw("ssf", "type", "ValueError", "message", "bad child",
                     "delay", 0.3);
  for (int i = 0; i < c->nfail; i++) {
    char name[32];
    snprintf(name, sizeof name, "bad%d", i);
    assert_int_equal(ax_run_in_actor_cb(n, name, &testmod, "fail", kw,
                                        &p[ndaemons + i], noop_cb, NULL,
                                        NULL), 0);
  }
  ax_data_free(kw);
  c->body_rc = ax_sleep(30);
  ax_error *e = NULL;
  c->close_rc = ax_nursery_close(n, &e);
  strcpy(c->type, ax_error_type(e));
  strcpy(c->src, ax_error_src_name(e));
  c->nmembers = ax_error_nmembers(e);
  for (size_t i = 0; i < c->nmembers && i < 2; i++)
    strcpy(c->member_src[i], ax_error_src_name(ax_error_member(e, i)));
  ax_error_free(e);
  return 0;
}

static void test_one_failing_child_cancels_siblings(void **state) {
  (void)state;
  h_begin(60);
  oca_case c = {.nfail = 1};
  double t0 = ax_now();
  assert_int_equal(h_run(0.5, oca_body, &c), 0);
  assert_true(ax_now() - t0 < 10);
  assert_int_equal(c.body_rc, AX_ECANCELED);
  assert_int_equal(c.close_rc, AX_EREMOTE);
  assert_string_equal(c.type, "ValueError");
  assert_string_equal(c.src, "bad0");
  assert_false(alive(c.pids[0]));
  assert_false(alive(c.pids[1]));
  assert_int_equal(h_wait_none(2), 0);
}

static void test_two_failing_children_make_a_group(void **state) {
  (void)state;
  h_begin(60);
  oca_case c = {.nfail = 2};
  assert_int_equal(h_run(0.5, oca_body, &c), 0);
  assert_int_equal(c.close_rc, AX_EREMOTE);
  assert_string_equal(c.type, "ErrorGroup");
  assert_int_equal(c.nmembers, 2);
  int saw0 = !strcmp(c.member_src[0], "bad0") || !strcmp(c.member_src[1], "bad0");
  int saw1 = !strcmp(c.member_src[0], "bad1") || !strcmp(c.member_src[1], "bad1");
  assert_true(saw0 && saw1);
  assert_false(alive(c.pids[0]));
  assert_int_equal(h_wait_none(2), 0);
}

/* ------------------------------------------------------- relay path */

typedef struct relay_case {
  int rc;
  char type[64], src[64];
  size_t nrelay;
  char relay[4][64];
} relay_case;

static int relay_body(void *arg) {
  relay_case *c = arg;
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  ax_data *kw = h_kw("i", "depth", 1LL);
  assert_int_equal(ax_run_in_actor(n, "level1", &testmod, "chain", kw, &p,
                                   NULL), 0);
  ax_data_free(kw);
  ax_error *e = NULL;
  c->rc = ax_portal_result(p, NULL, &e);
  strcpy(c->type, ax_error_type(e));
  strcpy(c->src, ax_error_src_name(e));
  c->nrelay = ax_error_relay_len(e);
  for (size_t i = 0; i < c->nrelay && i < 4; i++)
    strcpy(c->relay[i], ax_error_relay_name(e, i));
  ax_error_free(e);
  ax_nursery_close(n, NULL);
  return 0;
}

static void test_error_relayed_through_three_levels(void **state) {
  (void)state;
  h_begin(60);
  relay_case c = {0};
  assert_int_equal(h_run(0.5, relay_body, &c), 0);
  assert_int_equal(c.rc, AX_EREMOTE);
  assert_string_equal(c.type, "ValueError");
  assert_string_equal(c.src, "level0");
  assert_int_equal(c.nrelay, 3);
  assert_string_equal(c.relay[0], "level0");
  assert_string_equal(c.relay[1], "level1");
  assert_string_equal(c.relay[2], "testroot");
  assert_int_equal(h_wait_none(2), 0);
}

/* ------------------------------------------------ kill -9 of a root */

static void test_sigkill_of_root_takes_the_tree(void **state) {
  (void)state;
  h_begin(60);
  char *argv[] = {AXLE_HOST_PATH, "run", AXT_TESTMOD, "tree", "depth=2",
                  "fanout=3", NULL};
  pid_t root = h_spawn(argv);
  assert_true(root > 0);
  /* root + 3 children + 9 grandchildren */
  assert_int_equal(h_wait_at_least(13, 20), 13);
  kill(root, SIGKILL);
  waitpid(root, NULL, 0);
  usleep(1000 * 1000);
  h_reap();
  assert_int_equal(h_alive(), 0);
}

/* ------------------------------------------- SIGINT cancels the tree */

static void test_sigint_cancels_the_tree(void **state) {
  (void)state;
  h_begin(60);
  char *argv[] = {AXLE_HOST_PATH, "run", AXT_TESTMOD, "tree", "depth=1",
                  "fanout=3", NULL};
  pid_t root = h_spawn(argv);
  assert_true(root > 0);
  assert_int_equal(h_wait_at_least(4, 20), 4);
  kill(root, SIGINT);
  int st = 0;
  waitpid(root, &st, 0);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 130);
  assert_int_equal(h_wait_none(2), 0);
}

/* --------------------------------------------- the teardown ladder */

typedef struct ladder_case {
  const char *func;
  double elapsed;
  int call_status;
  int done;
} ladder_case;

static void ladder_cb(void *ud, int st, ax_data *r, ax_error *e) {
  ladder_case *c = ud;
  c->call_status = st;
  c->done = 1;
  ax_data_free(r);
  ax_error_free(e);
}

static int ladder_body(void *arg) {
  ladder_case *c = arg;
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "stuck", &testmod, &p, NULL), 0);
  ax_data *kw = h_kw("i", "seconds", 60LL);
  assert_int_equal(ax_portal_run_cb(p, NULL, c->func, kw, ladder_cb, c, NULL),
                   0);
  ax_data_free(kw);
  ax_sleep(0.3);
  double t0 = ax_now();
  assert_int_equal(ax_portal_cancel_actor(p), 0);
  c->elapsed = ax_now() - t0;
  ax_nursery_close(n, NULL);
  return 0;
}

static void test_cancel_child_stuck_in_plain_c_sleep(void **state) {
  (void)state;
  h_begin(60);
  ladder_case c = {.func = "c_sleep"};
  assert_int_equal(h_run(0.5, ladder_body, &c), 0);
  /* The loop stays free while sleep(60) runs on the pool: the cancel
   * request alone ends it, well within twice the grace. */
  assert_true(c.elapsed < 2 * 0.5 + 0.5);
  assert_true(c.done);
  assert_int_not_equal(c.call_status, 0);
  assert_int_equal(h_wait_none(2), 0);
}

static void test_ladder_kills_a_child_whose_loop_is_stuck(void **state) {
  (void)state;
  h_begin(60);
  ladder_case c = {.func = "hog_loop"};
  assert_int_equal(h_run(0.5, ladder_body, &c), 0);
  /* Cancel request and SIGTERM go unanswered; SIGKILL after 2 x grace. */
  assert_true(c.elapsed >= 2 * 0.5 - 0.05);
  assert_true(c.elapsed < 2 * 0.5 + 0.5);
  assert_int_equal(h_wait_none(2), 0);
}

/* ------------------------------------------------------ crashes */

typedef struct crash_case {
  int rc;
  char type[64], msg[256];
  int has_trace;
  double after;
} crash_case;

static int crash_body(void *arg) {
  crash_case *c = arg;
  ax_nursery *n;
  ax_portal *p;
  ax_error *e = NULL;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "victim", &testmod, &p, NULL), 0);
  ax_data *kw = h_kw("i", "addr", 0LL);
  c->rc = ax_portal_run(p, NULL, "read_at", kw, NULL, &e);
  ax_data_free(kw);
  strcpy(c->type, ax_error_type(e));
  snprintf(c->msg, sizeof c->msg, "%s", ax_error_message(e));
  c->has_trace = strstr(ax_error_traceback(e), "backtrace") != NULL;
  ax_error_free(e);
  ax_nursery_close(n, NULL);
  /* The parent carries on: another child, another call. */
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "next", &testmod, &p, NULL), 0);
  ax_data *r = NULL;
  kw = h_kw("ff", "a", 20.0, "b", 1.0);
  assert_int_equal(ax_portal_run(p, NULL, "add", kw, &r, NULL), 0);
  ax_data_free(kw);
  c->after = ax_val_float(ax_data_root(r));
  ax_data_free(r);
  ax_portal_cancel_actor(p);
  assert_int_equal(ax_nursery_close(n, NULL), 0);
  return 0;
}

static void test_sigsegv_in_child_is_an_error(void **state) {
  (void)state;
  h_begin(60);
  crash_case c = {0};
  assert_int_equal(h_run(0.5, crash_body, &c), 0);
  assert_int_equal(c.rc, AX_EREMOTE);
  assert_string_equal(c.type, "ActorCrashed");
  assert_non_null(strstr(c.msg, "killed by SIGSEGV"));
  assert_true(c.has_trace);
  assert_true(fabs(c.after - 21.0) < 1e-9);
  assert_int_equal(h_wait_none(2), 0);
}

/* A nursery used from a foreign loop (no task): its owner hears of a
 * child's failure through ax_nursery_on_failure, and the close reports it
 * through its callback, driven by ax_loop_step alone. */
static int failures;
static char failed_type[64];
static void on_child_failure(void *ud, const ax_error *err) {
  (void)ud;
  failures++;
  snprintf(failed_type, sizeof failed_type, "%s", ax_error_type(err));
}

static int closed, close_status;
static char close_type[64];
static void on_closed(void *ud, int status, ax_data *r, ax_error *e) {
  (void)ud;
  closed = 1;
  close_status = status;
  snprintf(close_type, sizeof close_type, "%s", e ? ax_error_type(e) : "");
  ax_data_free(r);
  ax_error_free(e);
}

static void on_started(void *ud, int status, ax_data *r, ax_error *e) {
  *(int *)ud = status == 0 ? 1 : -1;
  ax_data_free(r);
  ax_error_free(e);
}

static void step_until(const int *flag) {
  double t0 = ax_now();
  while (!*flag && ax_now() - t0 < 30) {
    struct pollfd pfd = {ax_loop_fd(), POLLIN, 0};
    poll(&pfd, 1, 10);
    ax_loop_step();
  }
}

static void test_nursery_from_a_foreign_loop(void **state) {
  (void)state;
  h_begin(60);
  ax_opts o = {.size = sizeof o, .grace = 0.5};
  assert_int_equal(ax_init(&o), 0);
  ax_nursery *n;
  assert_int_equal(ax_nursery_open(&n), 0);
  failures = closed = 0;
  assert_int_equal(ax_nursery_on_failure(n, on_child_failure, NULL), 0);
  ax_data *kw = h_kw("ss", "type", "KeyError", "message", "gone");
  int started = 0;
  ax_portal *p;
  assert_int_equal(ax_run_in_actor_cb(n, "failer", &testmod, "fail", kw, &p,
                                      on_started, &started, NULL),
                   0);
  ax_data_free(kw);
  step_until(&started);
  assert_int_equal(started, 1);
  step_until(&failures);
  assert_int_equal(failures, 1);
  assert_string_equal(failed_type, "KeyError");
  assert_int_equal(ax_nursery_close_cb(n, on_closed, NULL, NULL), 0);
  step_until(&closed);
  assert_int_equal(close_status, AX_EREMOTE);
  assert_string_equal(close_type, "KeyError");
  while (ax_alive()) ax_loop_step();
  assert_int_equal(ax_shutdown(), 0);
  assert_int_equal(h_wait_none(2), 0);
}

static void test_sigchld_fallback_without_pidfd(void **state) {
  (void)state;
  h_begin(60);
  setenv("AXLE_NO_PIDFD", "1", 1);
  result_case c = {0};
  int rc = h_run(0.5, result_body, &c);
  unsetenv("AXLE_NO_PIDFD");
  assert_int_equal(rc, 0);
  assert_true(fabs(c.sum - 3.5) < 1e-9);
  assert_string_equal(c.etype, "KeyError");
  assert_int_equal(c.close_rc, AX_EREMOTE);
  crash_case k = {0};
  setenv("AXLE_NO_PIDFD", "1", 1);
  rc = h_run(0.5, crash_body, &k);
  unsetenv("AXLE_NO_PIDFD");
  assert_int_equal(rc, 0);
  assert_string_equal(k.type, "ActorCrashed");
  assert_int_equal(h_wait_none(2), 0);
}

/* A one-shot killed by SIGSEGV is one failure: its result is the
 * ActorCrashed, and the nursery reports that error once, not a group of
 * two identical members. */
static int crashed_oneshot_body(void *arg) {
  ax_error **out = arg;
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  ax_data *kw = h_kw("i", "addr", 0LL);
  assert_int_equal(ax_run_in_actor(n, "victim", &testmod, "read_at", kw, &p,
                                   NULL),
                   0);
  ax_data_free(kw);
  ax_error *e = NULL;
  assert_int_equal(ax_portal_result(p, NULL, &e), AX_EREMOTE);
  assert_int_equal(ax_error_kind(e), AX_K_ACTOR_CRASHED);
  ax_error_free(e);
  ax_nursery_close(n, out);
  return 0;
}

static void test_crashed_oneshot_is_one_failure(void **state) {
  (void)state;
  h_begin(60);
  ax_error *e = NULL;
  assert_int_equal(h_run(0.5, crashed_oneshot_body, &e), 0);
  assert_non_null(e);
  if (ax_error_kind(e) != AX_K_ACTOR_CRASHED) {
    char *s = ax_error_format(e);
    fail_msg("the nursery reported:\n%s", s);
  }
  ax_error_free(e);
  assert_int_equal(h_wait_none(2), 0);
}

/* Starting an actor in a cancelled nursery is an error at once, never a
 * child the nursery waits for forever. */
static int cancelled_body(void *arg) {
  (void)arg;
  ax_nursery *n;
  ax_portal *p;
  ax_error *e = NULL;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "first", &testmod, &p, NULL), 0);
  assert_int_equal(ax_nursery_cancel(n), 0);
  assert_int_equal(ax_start_actor(n, "late", &testmod, &p, &e), AX_ESTATE);
  assert_non_null(e);
  assert_non_null(strstr(ax_error_message(e), "cancelled"));
  ax_error_free(e);
  ax_nursery_close(n, NULL);
  return 0;
}

static void test_no_start_in_a_cancelled_nursery(void **state) {
  (void)state;
  h_begin(60);
  assert_int_equal(h_run(0.5, cancelled_body, NULL), 0);
  assert_int_equal(h_wait_none(2), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_run_in_actor_result_and_error),
      cmocka_unit_test(test_one_failing_child_cancels_siblings),
      cmocka_unit_test(test_two_failing_children_make_a_group),
      cmocka_unit_test(test_error_relayed_through_three_levels),
      cmocka_unit_test(test_sigkill_of_root_takes_the_tree),
      cmocka_unit_test(test_sigint_cancels_the_tree),
      cmocka_unit_test(test_cancel_child_stuck_in_plain_c_sleep),
      cmocka_unit_test(test_ladder_kills_a_child_whose_loop_is_stuck),
      cmocka_unit_test(test_sigsegv_in_child_is_an_error),
      cmocka_unit_test(test_sigchld_fallback_without_pidfd),
      cmocka_unit_test(test_nursery_from_a_foreign_loop),
      cmocka_unit_test(test_no_start_in_a_cancelled_nursery),
      cmocka_unit_test(test_crashed_oneshot_is_one_failure),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

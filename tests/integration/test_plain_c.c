/* test_plain_c.c - plain C functions (libffi, on the actor's threads):
 * an exit inside one is the actor's exit, a plugin export without its
 * signature is a clear error, and calls whose callers gave up never delay
 * later calls. */
#include <fcntl.h>
#include <poll.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static const ax_spawn_opts testmod = {sizeof(ax_spawn_opts), AXT_TESTMOD,
                                      NULL, 0, 0, 0};

static ax_data *ints(int n, const long long *v) {
  ax_pack *p = ax_pack_new();
  ax_pack_array(p, (uint32_t)n);
  for (int i = 0; i < n; i++) ax_pack_int(p, v[i]);
  ax_data *d = NULL;
  ax_pack_finish(p, &d);
  return d;
}

static double call_add(ax_portal *p, double a, double b) {
  ax_data *r = NULL, *kw = h_kw("ff", "a", a, "b", b);
  int rc = ax_portal_run(p, NULL, "add", kw, &r, NULL);
  ax_data_free(kw);
  double v = rc == 0 ? ax_val_float(ax_data_root(r)) : NAN;
  ax_data_free(r);
  return v;
}

/* ------------------------------------------------ exit() in a function */

typedef struct exit_case {
  int rc, close_rc;
  char type[64], msg[256], close_type[64];
} exit_case;

static int exit_body(void *arg) {
  exit_case *c = arg;
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  const char *libc[] = {"c:libc.so.6"};
  ax_spawn_opts o = testmod;
  o.enable = libc;
  o.nenable = 1;
  assert_int_equal(ax_start_actor(n, "quitter", &o, &p, NULL), 0);
  ax_data *args = ints(1, (long long[]){3});
  ax_error *e = NULL;
  c->rc = ax_portal_run(p, "c:libc.so.6", "exit:v(i)", args, NULL, &e);
  ax_data_free(args);
  snprintf(c->type, sizeof c->type, "%s", e ? ax_error_type(e) : "");
  snprintf(c->msg, sizeof c->msg, "%s", e ? ax_error_message(e) : "");
  ax_error_free(e);
  e = NULL;
  c->close_rc = ax_nursery_close(n, &e);
  snprintf(c->close_type, sizeof c->close_type, "%s",
           e ? ax_error_type(e) : "");
  ax_error_free(e);
  return 0;
}

static void test_exit_in_plain_function_is_an_exit(void **state) {
  (void)state;
  h_begin(60);
  exit_case c = {0};
  assert_int_equal(h_run(0.5, exit_body, &c), 0);
  assert_int_equal(c.rc, AX_EREMOTE);
  assert_string_equal(c.type, "ActorExited");
  if (!strstr(c.msg, "exited with status 3")) fail_msg("message: %s", c.msg);
  /* An actor that exits unasked fails its nursery, as any exit does. */
  assert_int_equal(c.close_rc, AX_EREMOTE);
  assert_string_equal(c.close_type, "ActorExited");
  assert_int_equal(h_wait_none(2), 0);
}

/* ------------------------- an export without its signature or function */

static void expect_error(ax_portal *p, const char *func, ax_data *args,
                         const char *type, const char *word) {
  ax_error *e = NULL;
  int rc = ax_portal_run(p, NULL, func, args, NULL, &e);
  ax_data_free(args);
  if (rc != AX_EREMOTE || strcmp(ax_error_type(e), type) != 0 ||
      !strstr(ax_error_message(e), word)) {
    char *s = e ? ax_error_format(e) : NULL;
    fail_msg("%s: rc %d, expected a %s mentioning '%s'; got:\n%s", func, rc,
             type, word, s ? s : "(no error)");
  }
  ax_error_free(e);
}

static int nosig_body(void *arg) {
  (void)arg;
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "server", &testmod, &p, NULL), 0);
  expect_error(p, "nosig:d(dd)", ints(2, (long long[]){1, 2}), "TypeError",
               "no signature");
  expect_error(p, "nosig", ints(2, (long long[]){1, 2}), "TypeError",
               "no signature");
  expect_error(p, "nofn", ints(2, (long long[]){1, 2}), "FunctionNotFound",
               "no function");
  /* Still serving. */
  assert_true(fabs(call_add(p, 40, 2) - 42) < 1e-9);
  assert_int_equal(ax_portal_cancel_actor(p), 0);
  assert_int_equal(ax_nursery_close(n, NULL), 0);
  return 0;
}

static void test_export_without_signature_is_an_error(void **state) {
  (void)state;
  h_begin(60);
  assert_int_equal(h_run(0.5, nosig_body, NULL), 0);
  assert_int_equal(h_wait_none(2), 0);
}

/* ------------------------------------------ calls abandoned on cancel */

/* Two FIFOs the blocked calls of testmod's block_on use: each says it
 * started on ready, then waits for a byte on gate. We hold both open
 * (read-write, so that no open blocks), so no call can get past gate
 * until we write there. */
typedef struct gates {
  char dir[64], ready[96], gate[96];
  int ready_fd, gate_fd;
} gates;

static void gates_open(gates *g) {
  snprintf(g->dir, sizeof g->dir, "/tmp/axle-gates-XXXXXX");
  assert_non_null(mkdtemp(g->dir));
  snprintf(g->ready, sizeof g->ready, "%s/ready", g->dir);
  snprintf(g->gate, sizeof g->gate, "%s/gate", g->dir);
  assert_int_equal(mkfifo(g->ready, 0600), 0);
  assert_int_equal(mkfifo(g->gate, 0600), 0);
  g->ready_fd = open(g->ready, O_RDWR | O_CLOEXEC);
  g->gate_fd = open(g->gate, O_RDWR | O_CLOEXEC);
  assert_true(g->ready_fd >= 0 && g->gate_fd >= 0);
}

static void gates_close(gates *g) {
  close(g->ready_fd);
  close(g->gate_fd);
  unlink(g->ready);
  unlink(g->gate);
  rmdir(g->dir);
}

typedef struct reader {
  int fd, want, got;
} reader;

/* Read until want bytes came; the timeout only catches hangs. */
static void read_bytes(void *arg) {
  reader *r = arg;
  char buf[256];
  while (r->got < r->want) {
    struct pollfd pfd = {r->fd, POLLIN, 0};
    if (poll(&pfd, 1, 30000) <= 0) return;
    size_t left = (size_t)(r->want - r->got);
    ssize_t n = read(r->fd, buf, left < sizeof buf ? left : sizeof buf);
    if (n <= 0) return;
    r->got += (int)n;
  }
}

/* Start n block_on calls and return once all of them run: the read on a
 * thread of ours leaves the loop free to send the calls. */
static int start_blocked(ax_portal *p, gates *g, int n, int *status,
                         ax_op **ops, ax_done_cb cb) {
  for (int i = 0; i < n; i++) {
    ax_data *kw = h_kw("ss", "ready", g->ready, "gate", g->gate);
    status[i] = 1;
    int rc = ax_portal_run_cb(p, NULL, "block_on", kw, cb, &status[i], &ops[i]);
    ax_data_free(kw);
    if (rc < 0) return rc;
  }
  reader r = {g->ready_fd, n, 0};
  int rc = ax_run_in_thread(read_bytes, &r, NULL);
  return rc < 0 ? rc : r.got;
}

static void status_cb(void *ud, int st, ax_data *r, ax_error *e) {
  *(int *)ud = st;
  ax_data_free(r);
  ax_error_free(e);
}

static void release_all(gates *g, int n) {
  char ones[AX_THREADS_MAX];
  memset(ones, 1, sizeof ones);
  assert_int_equal(write(g->gate_fd, ones, (size_t)n), n);
}

typedef struct abandon_case {
  int nblocked;
  int add_rc;
  double sum;
  int status[AX_THREADS_MAX];
  char type[64], msg[256];
  double echo;
} abandon_case;

#define NBLOCKED 6 /* more than libuv's four pool threads */

static int abandon_body(void *arg) {
  abandon_case *c = arg;
  gates g;
  gates_open(&g);
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "server", &testmod, &p, NULL), 0);
  ax_op *ops[NBLOCKED];
  c->nblocked = start_blocked(p, &g, NBLOCKED, c->status, ops, status_cb);
  assert_int_equal(c->nblocked, NBLOCKED);
  for (int i = 0; i < NBLOCKED; i++) ax_op_cancel(ops[i]);
  /* Every blocked call still waits at the gate, which only we open; a
   * later call must not wait for them. The scope only catches a hang. */
  ax_scope *s = ax_scope_open(30);
  ax_data *r = NULL, *kw = h_kw("ff", "a", 1.0, "b", 2.0);
  c->add_rc = ax_portal_run(p, NULL, "add", kw, &r, NULL);
  ax_data_free(kw);
  c->sum = ax_val_float(ax_data_root(r));
  ax_data_free(r);
  ax_scope_close(s);
  /* The actor exits at once all the same, its threads still blocked. */
  assert_int_equal(ax_portal_cancel_actor(p), 0);
  assert_int_equal(ax_nursery_close(n, NULL), 0);
  gates_close(&g);
  return 0;
}

static void test_abandoned_calls_never_delay_later_ones(void **state) {
  (void)state;
  h_begin(90);
  abandon_case c = {0};
  assert_int_equal(h_run(0.5, abandon_body, &c), 0);
  assert_int_equal(c.nblocked, NBLOCKED);
  assert_int_equal(c.add_rc, 0);
  assert_true(fabs(c.sum - 3) < 1e-9);
  for (int i = 0; i < NBLOCKED; i++)
    assert_int_equal(c.status[i], AX_ECANCELED);
  assert_int_equal(h_wait_none(2), 0);
}

/* All threads taken by abandoned calls: a plain call gets a clear error at
 * once, never a silent wait, and the actor goes on serving the rest. */
static int limit_body(void *arg) {
  abandon_case *c = arg;
  gates g;
  gates_open(&g);
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "server", &testmod, &p, NULL), 0);
  ax_op *ops[AX_THREADS_MAX];
  c->nblocked = start_blocked(p, &g, AX_THREADS_MAX, c->status, ops, status_cb);
  assert_int_equal(c->nblocked, AX_THREADS_MAX);
  for (int i = 0; i < AX_THREADS_MAX; i++) ax_op_cancel(ops[i]);
  ax_scope *s = ax_scope_open(30);
  ax_data *kw = h_kw("ff", "a", 1.0, "b", 2.0);
  ax_error *e = NULL;
  c->add_rc = ax_portal_run(p, NULL, "add", kw, NULL, &e);
  ax_data_free(kw);
  snprintf(c->type, sizeof c->type, "%s", e ? ax_error_type(e) : "");
  snprintf(c->msg, sizeof c->msg, "%s", e ? ax_error_message(e) : "");
  ax_error_free(e);
  ax_data *r = NULL;
  kw = h_kw("f", "value", 2.5);
  assert_int_equal(ax_portal_run(p, NULL, "echo", kw, &r, NULL), 0);
  ax_data_free(kw);
  c->echo = ax_val_float(ax_data_root(r));
  ax_data_free(r);
  ax_scope_close(s);
  release_all(&g, AX_THREADS_MAX);
  assert_int_equal(ax_portal_cancel_actor(p), 0);
  assert_int_equal(ax_nursery_close(n, NULL), 0);
  gates_close(&g);
  return 0;
}

static void test_pool_exhausted_by_abandoned_calls_is_an_error(void **state) {
  (void)state;
  h_begin(90);
  abandon_case c = {0};
  assert_int_equal(h_run(0.5, limit_body, &c), 0);
  assert_int_equal(c.nblocked, AX_THREADS_MAX);
  assert_int_equal(c.add_rc, AX_EREMOTE);
  assert_string_equal(c.type, "RuntimeError");
  if (!strstr(c.msg, "add()") || !strstr(c.msg, "threads"))
    fail_msg("message: %s", c.msg);
  assert_true(fabs(c.echo - 2.5) < 1e-9);
  assert_int_equal(h_wait_none(2), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exit_in_plain_function_is_an_exit),
      cmocka_unit_test(test_export_without_signature_is_an_error),
      cmocka_unit_test(test_abandoned_calls_never_delay_later_ones),
      cmocka_unit_test(test_pool_exhausted_by_abandoned_calls_is_an_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_bad_input.c - bad calls and bad bytes get clear errors, and the
 * actor that received them keeps serving. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static const ax_spawn_opts testmod = {sizeof(ax_spawn_opts), AXT_TESTMOD,
                                      NULL, 0, 0, 0};

/* Call and expect a remote error of a type whose message has a word. */
static void expect_error(ax_portal *p, const char *ns, const char *func,
                         ax_data *kw, const char *type, const char *word) {
  ax_error *e = NULL;
  ax_data *r = NULL;
  int rc = ax_portal_run(p, ns, func, kw, &r, &e);
  ax_data_free(kw);
  ax_data_free(r);
  if (rc != AX_EREMOTE || strcmp(ax_error_type(e), type) != 0 ||
      !strstr(ax_error_message(e), word)) {
    char *s = e ? ax_error_format(e) : NULL;
    fail_msg("%s(): rc %d, expected %s mentioning '%s'; got:\n%s", func, rc,
             type, word, s ? s : "(no error)");
  }
  ax_error_free(e);
}

static double call_add(ax_portal *p, double a, double b) {
  ax_data *r = NULL, *kw = h_kw("ff", "a", a, "b", b);
  assert_int_equal(ax_portal_run(p, NULL, "add", kw, &r, NULL), 0);
  ax_data_free(kw);
  double v = ax_val_float(ax_data_root(r));
  ax_data_free(r);
  return v;
}

static int bad_calls_body(void *arg) {
  (void)arg;
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  const char *libm[] = {"c:libm.so.6", "c:libc.so.6"};
  ax_spawn_opts o = testmod;
  o.enable = libm;
  o.nenable = 2;
  assert_int_equal(ax_start_actor(n, "server", &o, &p, NULL), 0);

  expect_error(p, NULL, "no_such_fn", NULL, "FunctionNotFound", "no_such_fn");
  assert_true(fabs(call_add(p, 1, 2) - 3) < 1e-9);
  expect_error(p, "c:libz.so.1", "crc32:l(lsu)", NULL, "ModuleNotExposed",
               "cannot call 'crc32:l(lsu)': module 'c:libz.so.1' is not "
               "enabled in actor 'server'");
  expect_error(p, NULL, "add", h_kw("sf", "a", "x", "b", 1.0), "TypeError",
               "'a'");
  expect_error(p, NULL, "add", h_kw("f", "a", 1.0), "TypeError", "'b'");
  expect_error(p, NULL, "add", h_kw("fff", "a", 1.0, "b", 1.0, "c", 1.0),
               "TypeError", "'c'");
  expect_error(p, NULL, "mul", h_kw("ii", "a", 1LL << 40, "b", 1LL),
               "OverflowError", "'a'");
  expect_error(p, NULL, "add:i(ii)", h_kw("ff", "a", 1.0, "b", 1.0),
               "TypeError", "signature");
  /* Plain libraries: a signature is required and checked. */
  expect_error(p, "c:libm.so.6", "cos", NULL, "FunctionNotFound", "signature");
  expect_error(p, "c:libm.so.6", "cos:d(q)", NULL, "TypeError", "signature");
  expect_error(p, "c:libm.so.6", "no_such_symbol:d(d)", NULL,
               "FunctionNotFound", "no_such_symbol");
  ax_pack *pk = ax_pack_new();
  ax_pack_array(pk, 1);
  ax_pack_float(pk, 0.0);
  ax_data *arr;
  ax_pack_finish(pk, &arr);
  ax_data *r = NULL;
  assert_int_equal(ax_portal_run(p, "c:libm.so.6", "cos:d(d)", arr, &r, NULL),
                   0);
  assert_true(fabs(ax_val_float(ax_data_root(r)) - 1.0) < 1e-12);
  ax_data_free(r);
  ax_data_free(arr);
  /* An integer above INT64_MAX for an int64 parameter: refused, not
   * clamped to INT64_MAX. */
  pk = ax_pack_new();
  ax_pack_array(pk, 1);
  ax_pack_uint(pk, UINT64_MAX);
  ax_pack_finish(pk, &arr);
  expect_error(p, "c:libc.so.6", "llabs:l(l)", arr, "OverflowError",
               "18446744073709551615 does not fit an int64");
  pk = ax_pack_new();
  ax_pack_array(pk, 1);
  ax_pack_int(pk, -5);
  ax_pack_finish(pk, &arr);
  assert_int_equal(ax_portal_run(p, "c:libc.so.6", "llabs:l(l)", arr, &r,
                                 NULL),
                   0);
  assert_int_equal(ax_val_int(ax_data_root(r)), 5);
  ax_data_free(r);
  ax_data_free(arr);
  /* Strings both ways. */
  ax_data *kw = h_kw("s", "who", "axle");
  assert_int_equal(ax_portal_run(p, NULL, "greet", kw, &r, NULL), 0);
  ax_data_free(kw);
  assert_string_equal(ax_val_str(ax_data_root(r), NULL), "hello axle");
  ax_data_free(r);
  /* Arguments that are no map, array or nil are refused at the call,
   * before anything is sent: the actor never sees them. */
  pk = ax_pack_new();
  ax_pack_int(pk, 42);
  ax_data *scalar;
  ax_pack_finish(pk, &scalar);
  assert_int_equal(ax_portal_run(p, NULL, "add", scalar, &r, NULL),
                   AX_EINVAL);
  ax_data_free(scalar);
  /* The bytes form checks them as a received message is checked. */
  static const unsigned char add_kw[] = {0x82, 0xa1, 'a', 0x01,
                                         0xa1, 'b', 0x02}; /* {a=1, b=2} */
  static const unsigned char cut[] = {0x82, 0xa1, 'a', 0x01};
  static const unsigned char bad[] = {0x81, 0xc1, 0x01};
  static const unsigned char num[] = {0x2a};
  assert_int_equal(ax_portal_run_bytes(p, NULL, "add", cut, sizeof cut, &r,
                                       NULL),
                   AX_EINVAL);
  assert_int_equal(ax_portal_run_bytes(p, NULL, "add", bad, sizeof bad, &r,
                                       NULL),
                   AX_EINVAL);
  assert_int_equal(ax_portal_run_bytes(p, NULL, "add", num, sizeof num, &r,
                                       NULL),
                   AX_EINVAL);
  assert_int_equal(ax_portal_run_bytes(p, NULL, "add", NULL, 3, &r, NULL),
                   AX_EINVAL);
  assert_int_equal(ax_portal_run_bytes(p, NULL, "add", add_kw, sizeof add_kw,
                                       &r, NULL),
                   0);
  assert_true(fabs(ax_val_float(ax_data_root(r)) - 3) < 1e-9);
  ax_data_free(r);
  /* Still serving after all that. */
  assert_true(fabs(call_add(p, 40, 2) - 42) < 1e-9);
  assert_int_equal(ax_portal_cancel_actor(p), 0);
  assert_int_equal(ax_nursery_close(n, NULL), 0);
  return 0;
}

static void test_bad_calls_get_clear_errors(void **state) {
  (void)state;
  h_begin(60);
  assert_int_equal(h_run(0.5, bad_calls_body, NULL), 0);
  assert_int_equal(h_wait_none(2), 0);
}

/* ------------------------------------------------ modules that fail */

typedef struct load_case {
  const char *module;
  int rc;
  char type[64], msg[512];
  double elapsed;
} load_case;

static int load_body(void *arg) {
  load_case *c = arg;
  ax_nursery *n;
  ax_portal *p;
  ax_error *e = NULL;
  assert_int_equal(ax_nursery_open(&n), 0);
  ax_spawn_opts o = {sizeof o, c->module, NULL, 0, 0, 0};
  double t0 = ax_now();
  c->rc = ax_start_actor(n, "loader", &o, &p, &e);
  c->elapsed = ax_now() - t0;
  snprintf(c->type, sizeof c->type, "%s", ax_error_type(e));
  snprintf(c->msg, sizeof c->msg, "%s", ax_error_message(e));
  ax_error_free(e);
  /* A failed start is the caller's error, not the nursery's. */
  assert_int_equal(ax_nursery_close(n, NULL), 0);
  return 0;
}

static void check_load_failure(const char *module, const char *type,
                               const char *word) {
  h_begin(60);
  load_case c = {.module = module};
  assert_int_equal(h_run(0.5, load_body, &c), 0);
  assert_int_equal(c.rc, AX_EREMOTE);
  assert_string_equal(c.type, type);
  if (!strstr(c.msg, word)) fail_msg("'%s' lacks '%s'", c.msg, word);
  assert_true(c.elapsed < 5);
  assert_int_equal(h_wait_none(2), 0);
}

static void test_missing_module_is_reported(void **state) {
  (void)state;
  check_load_failure("c:/nonexistent/plugin.so", "ModuleNotFoundError",
                     "/nonexistent/plugin.so");
}

static void test_wrong_descriptor_version_is_reported(void **state) {
  (void)state;
  check_load_failure("c:" BADVERSION_PATH, "ModuleVersionError", "version");
}

static void test_unknown_scheme_is_reported(void **state) {
  (void)state;
  check_load_failure("cobol:payroll", "ModuleNotFoundError", "cobol:payroll");
}

/* ------------------------------------------ garbage on a live channel */

typedef struct garbage_case {
  const char *kind;
  int bad_rc, good_rc;
  double good_sum;
} garbage_case;

static int garbage_body(void *arg) {
  garbage_case *c = arg;
  ax_nursery *n;
  ax_portal *bad, *good;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "bad", &testmod, &bad, NULL), 0);
  assert_int_equal(ax_start_actor(n, "good", &testmod, &good, NULL), 0);
  ax_data *kw = h_kw("s", "kind", c->kind);
  /* The call ends when we close the channel of "bad" on its garbage. */
  c->bad_rc = ax_portal_run(bad, NULL, "garbage", kw, NULL, NULL);
  ax_data_free(kw);
  /* "good" and we carry on. */
  c->good_sum = call_add(good, 2, 3);
  c->good_rc = 0;
  ax_portal_cancel_actor(good);
  ax_error *e = NULL;
  ax_nursery_close(n, &e);
  ax_error_free(e);
  return 0;
}

static void check_garbage(const char *kind) {
  h_begin(60);
  garbage_case c = {.kind = kind};
  assert_int_equal(h_run(0.5, garbage_body, &c), 0);
  assert_true(c.bad_rc < 0);
  assert_true(fabs(c.good_sum - 5) < 1e-9);
  assert_int_equal(h_wait_none(2), 0);
}

static void test_malformed_frame_closes_only_that_channel(void **state) {
  (void)state;
  check_garbage("malformed");
}

static void test_oversized_frame_closes_only_that_channel(void **state) {
  (void)state;
  check_garbage("oversized");
}

static void test_truncated_frame_closes_only_that_channel(void **state) {
  (void)state;
  check_garbage("truncated");
}

/* --------------------------------------------- oversized results */

static int big_body(void *arg) {
  int *rc = arg;
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "echo", &testmod, &p, NULL), 0);
  /* 20 MiB: over the 16 MiB the actor takes, refused before sending. */
  size_t len = 20u << 20;
  char *blob = calloc(1, len);
  ax_pack *pk = ax_pack_new();
  ax_pack_map(pk, 1);
  ax_pack_str(pk, "value");
  ax_pack_bin(pk, blob, len);
  free(blob);
  ax_data *kw;
  ax_pack_finish(pk, &kw);
  ax_error *e = NULL;
  *rc = ax_portal_run(p, NULL, "echo", kw, NULL, &e);
  ax_data_free(kw);
  assert_int_equal(ax_error_kind(e), AX_K_MESSAGE_TOO_LARGE);
  assert_non_null(strstr(ax_error_message(e),
                         "is larger than the receiver's maximum message "
                         "size 16777216 (max_message)"));
  ax_error_free(e);
  /* The channel is intact. */
  assert_true(fabs(call_add(p, 1, 1) - 2) < 1e-9);
  ax_portal_cancel_actor(p);
  ax_nursery_close(n, NULL);
  return 0;
}

static void test_oversized_message_is_refused_locally(void **state) {
  (void)state;
  h_begin(60);
  int rc = 0;
  ax_opts o = {.size = sizeof o, .name = "testroot", .grace = 0.5,
               .max_message = 16u << 20};
  assert_int_equal(ax_run(&o, big_body, &rc), 0);
  assert_int_equal(rc, AX_EMSGSIZE);
  assert_int_equal(h_wait_none(2), 0);
}

/* ------------------------------------------------ max_frame limits */

static int long_spec_body(void *arg) {
  (void)arg;
  ax_nursery *n;
  ax_portal *p = NULL;
  ax_error *e = NULL;
  assert_int_equal(ax_nursery_open(&n), 0);
  /* A module to enable whose spec makes the spawn message larger than a
   * frame may be. */
  char *big = malloc(AX_MIN_FRAME + 100);
  memcpy(big, "c:", 2);
  memset(big + 2, 'x', AX_MIN_FRAME + 97);
  big[AX_MIN_FRAME + 99] = 0;
  const char *enable[] = {big};
  ax_spawn_opts o = testmod;
  o.enable = enable;
  o.nenable = 1;
  int rc = ax_start_actor(n, "big", &o, &p, &e);
  free(big);
  assert_int_equal(rc, AX_EREMOTE);
  assert_string_equal(ax_error_type(e), "SpawnError");
  assert_non_null(strstr(ax_error_message(e), "spawn spec"));
  ax_error_free(e);
  ax_nursery_close(n, NULL);
  return 0;
}

/* max_frame has a documented range; a spawn that a frame cannot carry
 * fails at once instead of leaving a child waiting for it. */
static void test_max_frame_limits(void **state) {
  (void)state;
  h_begin(60);
  ax_opts o = {.size = sizeof o, .name = "testroot", .max_frame = 100};
  assert_int_equal(ax_init(&o), AX_EINVAL);
  assert_int_equal(ax_run(&o, long_spec_body, NULL), AX_EINVAL);
  o.max_frame = (size_t)UINT32_MAX + 1;
  assert_int_equal(ax_init(&o), AX_EINVAL);
  /* max_message: from max_frame (here the default, 16 MiB) to 2^32-1. */
  o.max_frame = 0;
  o.max_message = (16u << 20) - 1;
  assert_int_equal(ax_init(&o), AX_EINVAL);
  o.max_message = (size_t)UINT32_MAX + 1;
  assert_int_equal(ax_init(&o), AX_EINVAL);
  /* An older caller's smaller struct leaves it at its default. */
  o.size = offsetof(ax_opts, max_message);
  assert_int_equal(ax_init(&o), 0);
  assert_int_equal(ax_shutdown(), 0);
  o.size = sizeof o;
  o.max_message = 0;
  o.max_frame = AX_MIN_FRAME;
  o.grace = 0.5;
  assert_int_equal(ax_run(&o, long_spec_body, NULL), 0);
  assert_int_equal(h_wait_none(2), 0);
}

/* ------------------------------------------ a spawn that cannot happen */

/* In a process of its own (it exhausts its descriptors): 0 when a start
 * without descriptors fails at once with a SpawnError saying why. */
static int nofd_body(void *arg) {
  int *verdict = arg;
  ax_nursery *n;
  if (ax_nursery_open(&n) < 0) return 0;
  /* Leave one descriptor free: a socketpair needs two. */
  static int fds[256];
  int k = 0;
  while (k < 256 && (fds[k] = dup(0)) >= 0) k++;
  if (k > 0) close(fds[--k]);
  ax_portal *p;
  ax_error *e = NULL;
  int rc = ax_start_actor(n, "kid", &testmod, &p, &e);
  while (k > 0) close(fds[--k]);
  const char *msg = e ? ax_error_message(e) : "";
  if (rc != AX_ESPAWN) *verdict = 2;
  else if (!e || strcmp(ax_error_type(e), "SpawnError") != 0) *verdict = 3;
  else if (!strstr(msg, "RLIMIT_NOFILE is 64")) *verdict = 4;
  else *verdict = 0;
  if (*verdict) fprintf(stderr, "rc %d, error: %s\n", rc, msg);
  ax_error_free(e);
  ax_nursery_close(n, NULL);
  return 0;
}

static void test_spawn_failure_says_why(void **state) {
  (void)state;
  h_begin(60);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct rlimit rl = {64, 64};
    setrlimit(RLIMIT_NOFILE, &rl);
    int verdict = 1;
    h_run(0.5, nofd_body, &verdict);
    _exit(verdict);
  }
  int st;
  assert_int_equal(h_wait_exit(pid, 30, &st), 0);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  assert_int_equal(h_wait_none(2), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_calls_get_clear_errors),
      cmocka_unit_test(test_missing_module_is_reported),
      cmocka_unit_test(test_wrong_descriptor_version_is_reported),
      cmocka_unit_test(test_unknown_scheme_is_reported),
      cmocka_unit_test(test_malformed_frame_closes_only_that_channel),
      cmocka_unit_test(test_oversized_frame_closes_only_that_channel),
      cmocka_unit_test(test_truncated_frame_closes_only_that_channel),
      cmocka_unit_test(test_oversized_message_is_refused_locally),
      cmocka_unit_test(test_max_frame_limits),
      cmocka_unit_test(test_spawn_failure_says_why),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

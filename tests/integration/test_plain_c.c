/* test_plain_c.c - plain C functions (libffi): a plugin export without
 * its signature is a clear error. */
#include <math.h>
#include <string.h>

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_export_without_signature_is_an_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

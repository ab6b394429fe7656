/* test_limits.c - every input survives: a frame crafted to cost its
 * receiver far more memory than its size is refused as malformed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static const ax_spawn_opts testmod = {sizeof(ax_spawn_opts), AXT_TESTMOD,
                                      NULL, 0, 0, 0};

#define HUNG 1 /* a call that did not end in time: never an AX_E code */

/* Call func, with a deadline that only catches a call that never ends. */
static int call(ax_portal *p, const char *func, ax_data *kw, ax_data **r,
                ax_error **e, double timeout) {
  ax_scope *s = ax_scope_open(timeout);
  int rc = ax_portal_run(p, NULL, func, kw, r, e);
  ax_data_free(kw);
  return ax_scope_close(s) ? HUNG : rc;
}

static double add(ax_portal *p, double a, double b) {
  ax_data *r = NULL;
  int rc = call(p, "add", h_kw("ff", "a", a, "b", b), &r, NULL, 30);
  assert_int_equal(rc, 0);
  double v = ax_val_float(ax_data_root(r));
  ax_data_free(r);
  return v;
}

/* -------------------------------------------------- crafted error frames */

typedef struct crafted {
  const char *key;
  long long count; /* items of the array under key; 0: a frame's worth */
  int rc;          /* what the call got */
  char type[64];
  size_t relay, members;
} crafted;

static int crafted_body(void *arg) {
  crafted *c = arg;
  ax_nursery *n;
  ax_portal *bad, *good;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "bad", &testmod, &bad, NULL), 0);
  assert_int_equal(ax_start_actor(n, "good", &testmod, &good, NULL), 0);
  /* The first call on a channel has cid 1: the crafted frame answers it. */
  ax_data *kw = c->count ? h_kw("si", "key", c->key, "count", c->count)
                         : h_kw("s", "key", c->key);
  ax_error *e = NULL;
  c->rc = call(bad, "bad_error", kw, NULL, &e, 120);
  snprintf(c->type, sizeof c->type, "%s", ax_error_type(e));
  c->relay = ax_error_relay_len(e);
  c->members = ax_error_nmembers(e);
  ax_error_free(e);
  /* This actor and the others carry on. */
  assert_true(add(good, 20, 22) == 42);
  ax_nursery_cancel(n);
  ax_nursery_close(n, NULL);
  return 0;
}

static crafted run_crafted(const char *key, long long count) {
  h_begin(240);
  crafted c = {.key = key, .count = count};
  /* The actor whose channel we close gets the grace to exit before it is
   * signalled (which would be a failure of the nursery): under ASan and
   * a loaded machine that takes a while. */
  assert_int_equal(h_run(5, crafted_body, &c), 0);
  assert_int_equal(h_wait_none(2), 0);
  return c;
}

/* Malformed: the channel is closed, and the call ends with it. */
static void expect_refused(const char *key, long long count) {
  crafted c = run_crafted(key, count);
  if (c.rc != AX_ECLOSED)
    fail_msg("%s x %lld: rc %d (%s, relay %zu, members %zu), want the "
             "channel closed",
             key, count, c.rc, c.type, c.relay, c.members);
}

static void test_relay_path_over_the_bound_is_malformed(void **state) {
  (void)state;
  expect_refused("relay", 0); /* a frame of nils: 16 million hops */
  expect_refused("relay", 65);
  crafted c = run_crafted("relay", 64);
  assert_int_equal(c.rc, AX_EREMOTE);
  assert_string_equal(c.type, "ValueError");
  assert_int_equal(c.relay, 64);
}

static void test_group_over_the_bound_is_malformed(void **state) {
  (void)state;
  expect_refused("members", 0); /* a frame of empty maps */
  expect_refused("members", 256);
  crafted c = run_crafted("members", 255);
  assert_int_equal(c.rc, AX_EREMOTE);
  assert_int_equal(c.members, 255);
}

static void test_unknown_error_key_costs_nothing(void **state) {
  (void)state;
  /* Unknown keys are for later versions: skipped, never decoded. */
  crafted c = run_crafted("junk", 0);
  assert_int_equal(c.rc, AX_EREMOTE);
  assert_string_equal(c.type, "ValueError");
  assert_int_equal(c.relay, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_relay_path_over_the_bound_is_malformed),
      cmocka_unit_test(test_group_over_the_bound_is_malformed),
      cmocka_unit_test(test_unknown_error_key_costs_nothing),
  };
  /* AXT_ONLY=pattern runs only the tests whose names match it. */
  if (getenv("AXT_ONLY")) cmocka_set_test_filter(getenv("AXT_ONLY"));
  return cmocka_run_group_tests(tests, NULL, NULL);
}

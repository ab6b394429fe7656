/* test_large.c - messages larger than a frame: they go in parts
 * (docs/PROTOCOL.md, "Large messages") and arrive whole, up to the
 * receiver's maximum message size; a larger one is refused to its sender
 * with a clear error and breaks nothing; a small call does not wait for a
 * large one's transfer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const ax_spawn_opts testmod = {sizeof(ax_spawn_opts), AXT_TESTMOD,
                                      NULL, 0, 0, 0};

/* {"value": a bin of n bytes, byte i of it from i and seed}. */
static ax_data *blob_kw(size_t n, unsigned seed) {
  uint8_t *b = malloc(n);
  assert_non_null(b);
  for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(i * 7u + seed + (i >> 16));
  ax_pack *p = ax_pack_new();
  ax_pack_map(p, 1);
  ax_pack_str(p, "value");
  ax_pack_bin(p, b, n);
  free(b);
  ax_data *d = NULL;
  assert_int_equal(ax_pack_finish(p, &d), 0);
  return d;
}

/* Whether r is the bin that blob_kw(n, seed) carried. */
static int is_blob(const ax_data *r, size_t n, unsigned seed) {
  size_t len = 0;
  const uint8_t *b = (const uint8_t *)ax_val_bin(ax_data_root(r), &len);
  if (!b || len != n) return 0;
  for (size_t i = 0; i < n; i++)
    if (b[i] != (uint8_t)(i * 7u + seed + (i >> 16))) return 0;
  return 1;
}

static double add(ax_portal *p, double a, double b) {
  ax_data *r = NULL, *kw = h_kw("ff", "a", a, "b", b);
  int rc = ax_portal_run(p, NULL, "add", kw, &r, NULL);
  ax_data_free(kw);
  assert_int_equal(rc, 0);
  double v = ax_val_float(ax_data_root(r));
  ax_data_free(r);
  return v;
}

/* ------------------------------------------------------------ round trip */

static void echo_blob(ax_portal *p, size_t n, unsigned seed) {
  ax_data *kw = blob_kw(n, seed), *r = NULL;
  ax_error *e = NULL;
  int rc = ax_portal_run(p, NULL, "echo", kw, &r, &e);
  ax_data_free(kw);
  if (rc != 0)
    fail_msg("echo of %zu bytes: rc %d, %s", n, rc,
             e ? ax_error_message(e) : "");
  assert_true(is_blob(r, n, seed));
  ax_data_free(r);
}

static int round_trip_body(void *arg) {
  (void)arg;
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "echo", &testmod, &p, NULL), 0);
  /* Above the 16 MiB frame maximum, both ways. */
  echo_blob(p, 20u << 20, 1);
  echo_blob(p, 48u << 20, 2);
  /* A result alone, from a function that makes it. */
  ax_data *r = NULL, *kw = h_kw("i", "bytes", 20LL << 20);
  assert_int_equal(ax_portal_run(p, NULL, "big_result", kw, &r, NULL), 0);
  ax_data_free(kw);
  size_t len = 0;
  const char *s = ax_val_str(ax_data_root(r), &len);
  assert_int_equal(len, 20u << 20);
  assert_true(s[0] == 'y' && s[len - 1] == 'y');
  ax_data_free(r);
  assert_true(add(p, 1, 2) == 3);
  assert_int_equal(ax_portal_cancel_actor(p), 0);
  assert_int_equal(ax_nursery_close(n, NULL), 0);
  return 0;
}

static void test_large_arguments_and_results_arrive_whole(void **state) {
  (void)state;
  h_begin(240);
  assert_int_equal(h_run(0.5, round_trip_body, NULL), 0);
  assert_int_equal(h_wait_none(2), 0);
}

/* ------------------------------------------------- over the maximum size */

#define SMALL_MAX (1u << 20)

static int over_max_body(void *arg) {
  (void)arg;
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "small", &testmod, &p, NULL), 0);
  /* Under the maximum, though far over a frame: in parts, whole. */
  echo_blob(p, 512u << 10, 3);
  /* Over it: refused before anything is sent, and said so. */
  ax_data *kw = blob_kw(2u << 20, 4), *r = NULL;
  ax_error *e = NULL;
  assert_int_equal(ax_portal_run(p, NULL, "echo", kw, &r, &e), AX_EMSGSIZE);
  ax_data_free(kw);
  assert_null(r);
  assert_non_null(e);
  assert_int_equal(ax_error_kind(e), AX_K_MESSAGE_TOO_LARGE);
  char want[160];
  snprintf(want, sizeof want,
           "is larger than the receiver's maximum message size %u "
           "(max_message)",
           SMALL_MAX);
  if (strncmp(ax_error_message(e), "message of ", 11) != 0 ||
      !strstr(ax_error_message(e), want))
    fail_msg("unclear error: %s", ax_error_message(e));
  ax_error_free(e);
  /* The channel carries on. */
  assert_true(add(p, 1, 2) == 3);
  echo_blob(p, 300u << 10, 5);
  /* A result over what we take: the actor answers MessageTooLarge. */
  e = NULL;
  kw = h_kw("i", "bytes", 2LL << 20);
  assert_int_equal(ax_portal_run(p, NULL, "big_result", kw, &r, &e),
                   AX_EREMOTE);
  ax_data_free(kw);
  assert_int_equal(ax_error_kind(e), AX_K_MESSAGE_TOO_LARGE);
  assert_non_null(strstr(ax_error_message(e), want));
  ax_error_free(e);
  assert_true(add(p, 2, 2) == 4);
  assert_int_equal(ax_portal_cancel_actor(p), 0);
  assert_int_equal(ax_nursery_close(n, NULL), 0);
  /* A one-shot's arguments over it: the one-shot fails with that error,
   * and so does its nursery. */
  ax_nursery *n2;
  ax_portal *one = NULL;
  assert_int_equal(ax_nursery_open(&n2), 0);
  kw = blob_kw(2u << 20, 7);
  ax_run_in_actor(n2, "oneshot", &testmod, "echo", kw, &one, NULL);
  ax_data_free(kw);
  e = NULL;
  assert_int_equal(ax_nursery_close(n2, &e), AX_EREMOTE);
  assert_int_equal(ax_error_kind(e), AX_K_MESSAGE_TOO_LARGE);
  assert_non_null(strstr(ax_error_message(e), want));
  ax_error_free(e);
  return 0;
}

static void test_message_over_the_maximum_is_refused(void **state) {
  (void)state;
  h_begin(120);
  /* Small frames and a small maximum, which the child takes from us. */
  ax_opts o = {.size = sizeof o, .name = "testroot", .grace = 0.5,
               .max_frame = AX_MIN_FRAME, .max_message = SMALL_MAX};
  assert_int_equal(ax_run(&o, over_max_body, NULL), 0);
  assert_int_equal(h_wait_none(2), 0);
}

/* ------------------------------------------------------- interleaving */

typedef struct large_call {
  ax_portal *p;
  int rc;
  int order; /* when its reply came: 1 first, 2 second */
} large_call;

static int order;

static int large_call_task(void *arg) {
  large_call *c = arg;
  ax_data *kw = blob_kw(32u << 20, 6), *r = NULL;
  c->rc = ax_portal_run(c->p, NULL, "echo", kw, &r, NULL);
  c->order = ++order;
  ax_data_free(kw);
  if (c->rc == 0 && !is_blob(r, 32u << 20, 6)) c->rc = -1000;
  ax_data_free(r);
  return 0;
}

static int interleave_body(void *arg) {
  large_call *c = arg;
  ax_nursery *n;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "echo", &testmod, &c->p, NULL), 0);
  ax_task *t;
  assert_int_equal(ax_task_start(large_call_task, c, &t), 0);
  /* The large call runs until it waits: its message is under way. */
  assert_int_equal(ax_yield(), 0);
  assert_int_equal(c->order, 0);
  /* The small call reaches the actor before the large one has all
   * arrived: the actor has started no echo yet. */
  ax_data *r = NULL;
  assert_int_equal(ax_portal_run(c->p, NULL, "echo_count", NULL, &r, NULL),
                   0);
  int small_order = ++order;
  assert_int_equal(ax_val_int(ax_data_root(r)), 0);
  ax_data_free(r);
  assert_int_equal(ax_task_join(t, NULL), 0);
  assert_int_equal(c->rc, 0);
  /* The small call was answered first, while the large one was still
   * on its way, and the large one was served after it. */
  assert_int_equal(ax_portal_run(c->p, NULL, "echo_count", NULL, &r, NULL),
                   0);
  assert_int_equal(ax_val_int(ax_data_root(r)), 1);
  ax_data_free(r);
  assert_int_equal(small_order, 1);
  assert_int_equal(c->order, 2);
  assert_int_equal(ax_portal_cancel_actor(c->p), 0);
  assert_int_equal(ax_nursery_close(n, NULL), 0);
  return 0;
}

static void test_small_call_overtakes_a_large_one(void **state) {
  (void)state;
  h_begin(240);
  large_call c = {0};
  order = 0;
  assert_int_equal(h_run(0.5, interleave_body, &c), 0);
  assert_int_equal(h_wait_none(2), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_large_arguments_and_results_arrive_whole),
      cmocka_unit_test(test_message_over_the_maximum_is_refused),
      cmocka_unit_test(test_small_call_overtakes_a_large_one),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

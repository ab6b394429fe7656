/* test_context.c - contexts from C: the callee's started value, its
 * result, errors before and after started, and cancellation both ways;
 * each test checks that nothing of its tree survives. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static const ax_spawn_opts testmod = {
    sizeof(ax_spawn_opts), AXT_TESTMOD, NULL, 0, 0, 0};

typedef struct ctx_case {
  const char *mode;
  int body;        /* how the caller's block ends: ax_context_close's */
  int cancel;      /* ax_context_cancel before taking the result */
  double deadline; /* > 0: open inside a scope with this timeout */
  int open_rc, result_rc, close_rc, after_rc;
  long long first, result;
  char open_type[64], open_msg[160], result_type[64], close_type[64];
  char canceller[64]; /* of the result's or close's ContextCancelled */
} ctx_case;

static void copy_canceller(char *dst, size_t cap, const ax_error *e) {
  const ax_val *who = ax_val_get(ax_error_info(e), "canceller");
  const char *name = ax_val_str(ax_val_get(who, "name"), NULL);
  if (name) snprintf(dst, cap, "%s", name);
}

static void copy_err(char *dst, size_t cap, const ax_error *e) {
  snprintf(dst, cap, "%s", e ? ax_error_type(e) : "");
}

static int ctx_body(void *arg) {
  ctx_case *k = arg;
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "callee", &testmod, &p, NULL), 0);
  ax_data *kw = h_kw("is", "x", 5LL, "mode", k->mode);
  ax_context *c = NULL;
  ax_data *first = NULL, *r = NULL;
  ax_error *e = NULL;
  ax_scope *s = k->deadline > 0 ? ax_scope_open(k->deadline) : NULL;
  k->open_rc = ax_portal_open_context(p, NULL, "ctx_inc", kw, &c, &first, &e);
  if (s) ax_scope_close(s);
  ax_data_free(kw);
  copy_err(k->open_type, sizeof k->open_type, e);
  snprintf(k->open_msg, sizeof k->open_msg, "%s", e ? ax_error_message(e) : "");
  ax_error_free(e);
  e = NULL;
  if (k->open_rc == 0) {
    assert_non_null(c);
    k->first = ax_val_int(ax_data_root(first));
    ax_data_free(first);
    if (k->cancel) assert_int_equal(ax_context_cancel(c), 0);
    if (k->body == 0) {
      k->result_rc = ax_context_result(c, &r, &e);
      if (r) k->result = ax_val_int(ax_data_root(r));
      ax_data_free(r);
      copy_err(k->result_type, sizeof k->result_type, e);
      copy_canceller(k->canceller, sizeof k->canceller, e);
      ax_error_free(e);
      e = NULL;
    }
    k->close_rc = ax_context_close(c, k->body, &e);
    copy_err(k->close_type, sizeof k->close_type, e);
    copy_canceller(k->canceller, sizeof k->canceller, e);
    ax_error_free(e);
    e = NULL;
  } else {
    assert_null(c);
  }
  /* Only the context's task was cancelled: the actor serves on. */
  kw = h_kw("s", "value", "still here");
  k->after_rc = ax_portal_run(p, NULL, "echo", kw, &r, NULL);
  ax_data_free(kw);
  ax_data_free(r);
  assert_int_equal(ax_portal_cancel_actor(p), 0);
  assert_int_equal(ax_nursery_close(n, NULL), 0);
  return 0;
}

static ctx_case run_case(ctx_case k) {
  h_begin(60);
  assert_int_equal(h_run(0.5, ctx_body, &k), 0);
  assert_int_equal(h_wait_none(2), 0);
  assert_int_equal(k.after_rc, 0);
  return k;
}

static void test_started_value_then_result(void **state) {
  (void)state;
  ctx_case k = run_case((ctx_case){.mode = "ok"});
  assert_int_equal(k.open_rc, 0);
  assert_int_equal(k.first, 6);
  assert_int_equal(k.result_rc, 0);
  assert_int_equal(k.result, 7);
  assert_int_equal(k.close_rc, 0);
}

static void test_failure_before_started_fails_the_open(void **state) {
  (void)state;
  ctx_case k = run_case((ctx_case){.mode = "fail_before"});
  assert_int_equal(k.open_rc, AX_EREMOTE);
  assert_string_equal(k.open_type, "ValueError");
}

static void test_return_before_started_is_a_usage_error(void **state) {
  (void)state;
  ctx_case k = run_case((ctx_case){.mode = "return_early"});
  assert_int_equal(k.open_rc, AX_EREMOTE);
  assert_string_equal(k.open_type, "UsageError");
  assert_non_null(strstr(k.open_msg,
                         "'ctx_inc' returned without calling "
                         "started"));
}

static void test_failure_after_started_ends_the_context(void **state) {
  (void)state;
  ctx_case k = run_case((ctx_case){.mode = "fail_after", .body = -1});
  assert_int_equal(k.open_rc, 0);
  assert_int_equal(k.first, 6);
  /* The callee failed on its own: closing reports it, body or not. */
  assert_int_equal(k.close_rc, AX_EREMOTE);
  assert_string_equal(k.close_type, "ValueError");
}

static void test_failed_block_cancels_the_callee(void **state) {
  (void)state;
  ctx_case k = run_case((ctx_case){.mode = "forever", .body = AX_EREMOTE});
  assert_int_equal(k.open_rc, 0);
  /* Its Cancelled is this side's doing: absorbed. */
  assert_int_equal(k.close_rc, 0);
  assert_string_equal(k.close_type, "");
}

static void test_cancel_gives_the_callee_cancelled(void **state) {
  (void)state;
  ctx_case k = run_case((ctx_case){.mode = "forever", .cancel = 1});
  assert_int_equal(k.open_rc, 0);
  assert_int_equal(k.result_rc, AX_EREMOTE);
  assert_string_equal(k.result_type, "ContextCancelled");
  assert_string_equal(k.canceller, "testroot");
  /* This side asked: closing absorbs it. */
  assert_int_equal(k.close_rc, 0);
}

static void test_started_twice_is_refused(void **state) {
  (void)state;
  ctx_case k = run_case((ctx_case){.mode = "twice"});
  assert_int_equal(k.open_rc, 0);
  assert_int_equal(k.result_rc, 0);
  assert_int_equal(k.result, AX_ESTATE);
}

static void test_open_cut_short_by_a_deadline(void **state) {
  (void)state;
  ctx_case k = run_case((ctx_case){.mode = "sleep_before", .deadline = 0.2});
  assert_int_equal(k.open_rc, AX_ECANCELED);
}

/* Someone other than the context cancels its callee: the actor's parent
 * (by cancelling the actor) or the actor itself (SIGTERM). The caller's
 * context ends with a ContextCancelled that names them, not absorbed. */
typedef struct third_case {
  int by_signal;
  int close_rc;
  char type[64], canceller[64];
} third_case;

static void ignore_done(void *ud, int status, ax_data *r, ax_error *e) {
  (void)ud;
  (void)status;
  ax_data_free(r);
  ax_error_free(e);
}

static int third_body(void *arg) {
  third_case *k = arg;
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "callee", &testmod, &p, NULL), 0);
  ax_data *kw = h_kw("is", "x", 1LL, "mode", "forever");
  ax_context *c = NULL;
  assert_int_equal(
      ax_portal_open_context(p, NULL, "ctx_inc", kw, &c, NULL, NULL), 0);
  ax_data_free(kw);
  if (k->by_signal)
    kill(ax_portal_pid(p), SIGTERM);
  else
    assert_int_equal(ax_portal_cancel_actor_cb(p, ignore_done, NULL, NULL), 0);
  ax_error *e = NULL;
  k->close_rc = ax_context_close(c, 0, &e);
  copy_err(k->type, sizeof k->type, e);
  copy_canceller(k->canceller, sizeof k->canceller, e);
  ax_error_free(e);
  ax_nursery_close(n, NULL);
  return 0;
}

static void test_cancel_by_the_parent_names_it(void **state) {
  (void)state;
  third_case k = {0};
  h_begin(60);
  assert_int_equal(h_run(0.5, third_body, &k), 0);
  assert_int_equal(h_wait_none(2), 0);
  assert_int_equal(k.close_rc, AX_EREMOTE);
  assert_string_equal(k.type, "ContextCancelled");
  assert_string_equal(k.canceller, "testroot");
}

static void test_cancel_by_a_signal_names_the_callee(void **state) {
  (void)state;
  third_case k = {.by_signal = 1};
  h_begin(60);
  assert_int_equal(h_run(0.5, third_body, &k), 0);
  assert_int_equal(h_wait_none(2), 0);
  assert_int_equal(k.close_rc, AX_EREMOTE);
  assert_string_equal(k.type, "ContextCancelled");
  assert_string_equal(k.canceller, "callee");
}

/* A C caller and a Lua callee (tests/lua/contexts.lua's serve). */
static int lua_body(void *arg) {
  long long *got = arg;
  ax_spawn_opts o = {
      .size = sizeof o,
      .module = "lua:" AXLE_SOURCE_DIR "/tests/lua/contexts.lua"};
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "lua_callee", &o, &p, NULL), 0);
  ax_pack *pk = ax_pack_new();
  ax_pack_array(pk, 2);
  ax_pack_int(pk, 5);
  ax_pack_str(pk, "ok");
  ax_data *args;
  assert_int_equal(ax_pack_finish(pk, &args), 0);
  ax_context *c;
  ax_data *first = NULL, *r = NULL;
  assert_int_equal(
      ax_portal_open_context(p, NULL, "serve", args, &c, &first, NULL), 0);
  got[0] = ax_val_int(ax_data_root(first));
  assert_int_equal(ax_context_result(c, &r, NULL), 0);
  got[1] = ax_val_int(ax_data_root(r));
  assert_int_equal(ax_context_close(c, 0, NULL), 0);
  ax_data_free(first);
  ax_data_free(r);
  /* A Lua function that is no context cannot be opened as one. */
  ax_error *e = NULL;
  assert_int_equal(ax_portal_open_context(p, NULL, "plain", NULL, &c, NULL, &e),
                   AX_EREMOTE);
  got[2] = ax_error_kind(e) == AX_K_USAGE_ERROR;
  ax_error_free(e);
  ax_data_free(args);
  assert_int_equal(ax_portal_cancel_actor(p), 0);
  assert_int_equal(ax_nursery_close(n, NULL), 0);
  return 0;
}

static void test_c_caller_lua_callee(void **state) {
  (void)state;
  long long got[3] = {0};
  h_begin(60);
  assert_int_equal(h_run(0.5, lua_body, got), 0);
  assert_int_equal(got[0], 6);
  assert_int_equal(got[1], 7);
  assert_int_equal(got[2], 1);
  assert_int_equal(h_wait_none(2), 0);
}

/* ------------------------------------------------------------ streams */

typedef struct stream_case {
  const char *mode;
  long long n;    /* counter's n */
  int rounds;     /* echo: values sent and taken back */
  int unbounded;  /* flood: open with windows of UINT64_MAX */
  int cancel;     /* never open the stream; cancel the context */
  int kill_after; /* kill -9 the callee after taking this many */
  long long first, got[4], ngot, result;
  int in_order, close_rc, recv_end, result_rc;
  char end_type[64];
} stream_case;

static int stream_body(void *arg) {
  stream_case *k = arg;
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "callee", &testmod, &p, NULL), 0);
  ax_data *kw = h_kw("is", "n", k->n, "mode", k->mode);
  ax_context *c;
  ax_data *first = NULL, *v = NULL, *r = NULL;
  ax_error *e = NULL;
  assert_int_equal(
      ax_portal_open_context(p, NULL, "counter", kw, &c, &first, NULL), 0);
  ax_data_free(kw);
  k->first = ax_val_int(ax_data_root(first));
  ax_data_free(first);
  ax_stream *s = NULL;
  k->in_order = 1;
  if (k->cancel) {
    ax_context_cancel(c);
  } else if (!strcmp(k->mode, "count")) {
    assert_int_equal(ax_context_open_stream(c, NULL, &s), 0);
    for (int i = 0; i < k->n; i++) {
      assert_int_equal(ax_stream_recv(s, &v, NULL), 0);
      if (i < 4) k->got[i] = ax_val_int(ax_data_root(v));
      k->ngot++;
      ax_data_free(v);
    }
    ax_pack *done = ax_pack_new();
    ax_pack_str(done, "done");
    assert_int_equal(ax_stream_send(s, done), 0);
  } else if (!strcmp(k->mode, "echo")) {
    assert_int_equal(ax_context_open_stream(c, NULL, &s), 0);
    for (int i = 0; i < k->rounds; i++) {
      ax_pack *x = ax_pack_new();
      ax_pack_int(x, i);
      assert_int_equal(ax_stream_send(s, x), 0);
      /* Several ahead before taking one back: both windows fill. */
      if (i >= 8) {
        assert_int_equal(ax_stream_recv(s, &v, NULL), 0);
        if (ax_val_int(ax_data_root(v)) != k->ngot) k->in_order = 0;
        k->ngot++;
        ax_data_free(v);
      }
    }
    ax_stream_close(s);
  } else { /* flood */
    ax_stream_opts o = {sizeof o, UINT64_MAX, UINT64_MAX};
    assert_int_equal(
        ax_context_open_stream(c, k->unbounded ? &o : NULL, &s), 0);
    int rc;
    while ((rc = ax_stream_recv(s, &v, &e)) == 0) {
      if (ax_val_int(ax_data_root(v)) != k->ngot + 1) k->in_order = 0;
      k->ngot++;
      ax_data_free(v);
      if (k->kill_after && k->ngot == k->kill_after)
        kill(ax_portal_pid(p), SIGKILL);
    }
    k->recv_end = rc;
    copy_err(k->end_type, sizeof k->end_type, e);
    ax_error_free(e);
    e = NULL;
  }
  if (!k->kill_after) {
    k->result_rc = ax_context_result(c, &r, NULL);
    if (r) k->result = ax_val_int(ax_data_root(r));
    ax_data_free(r);
  }
  k->close_rc = ax_context_close(c, 0, &e);
  ax_error_free(e);
  if (!k->kill_after) assert_int_equal(ax_portal_cancel_actor(p), 0);
  ax_nursery_close(n, NULL);
  return 0;
}

static stream_case run_stream(stream_case k) {
  h_begin(120);
  assert_int_equal(h_run(0.5, stream_body, &k), 0);
  assert_int_equal(h_wait_none(2), 0);
  return k;
}

/* docs/PROTOCOL.md's example: 0 first, then 1 and 2; "done" back; 3. */
static void test_stream_both_ways(void **state) {
  (void)state;
  stream_case k = run_stream((stream_case){.mode = "count", .n = 2});
  assert_int_equal(k.first, 0);
  assert_int_equal(k.got[0], 1);
  assert_int_equal(k.got[1], 2);
  assert_int_equal(k.result_rc, 0);
  assert_int_equal(k.result, 3);
  assert_int_equal(k.close_rc, 0);
}

/* Thousands of values both ways, well past both windows, in order; the
 * caller's close (stop) ends the callee's loop. */
static void test_stream_echo_past_the_windows(void **state) {
  (void)state;
  stream_case k = run_stream((stream_case){.mode = "echo", .rounds = 5000});
  assert_true(k.in_order);
  assert_int_equal(k.ngot, 5000 - 8);
  assert_int_equal(k.result_rc, 0);
  assert_int_equal(k.result, 5000);
}

/* A callee that sends 5,000 values at once waits at the end of its
 * window (a value beyond it would be a protocol error here) and goes on
 * as they are taken: every one arrives, in order, then the end. */
static void test_stream_flood_waits_for_credit(void **state) {
  (void)state;
  stream_case k =
      run_stream((stream_case){.mode = "flood", .n = 5000});
  assert_true(k.in_order);
  assert_int_equal(k.ngot, 5000);
  assert_int_equal(k.recv_end, AX_ECLOSED);
  assert_int_equal(k.result, 5000);
}

/* An unbounded window (UINT64_MAX) is granted as the largest the wire
 * carries: the callee sends everything at once. It went out as a credit
 * beyond 2^63-1, which the callee's side took for a malformed message
 * and closed the channel on. */
static void test_stream_unbounded_window(void **state) {
  (void)state;
  stream_case k =
      run_stream((stream_case){.mode = "flood", .n = 5000, .unbounded = 1});
  assert_true(k.in_order);
  assert_int_equal(k.ngot, 5000);
  assert_int_equal(k.recv_end, AX_ECLOSED);
  assert_int_equal(k.result_rc, 0);
  assert_int_equal(k.result, 5000);
}

/* Never opened, a callee blocked on credit is still cancellable. */
static void test_stream_never_opened_then_cancelled(void **state) {
  (void)state;
  stream_case k =
      run_stream((stream_case){.mode = "flood", .n = 100000, .cancel = 1});
  assert_int_equal(k.result_rc, AX_EREMOTE);
  assert_int_equal(k.close_rc, 0);
}

/* kill -9 of the producer mid-stream: the consumer's receiving ends with
 * ActorCrashed. */
static void test_stream_producer_killed(void **state) {
  (void)state;
  stream_case k = run_stream(
      (stream_case){.mode = "flood", .n = 1LL << 40, .kill_after = 100});
  assert_int_equal(k.recv_end, AX_EREMOTE);
  assert_string_equal(k.end_type, "ActorCrashed");
  assert_true(k.in_order);
}

/* A stream waiting for credit holds up nothing else on its channel: while
 * one callee is blocked at the end of its window (nobody reads), a call
 * and another context's stream on the same portal go through. */
static int stall_body(void *arg) {
  int *ok = arg;
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "callee", &testmod, &p, NULL), 0);
  ax_data *kw = h_kw("is", "n", 100000LL, "mode", "flood");
  ax_context *stuck, *other;
  assert_int_equal(
      ax_portal_open_context(p, NULL, "counter", kw, &stuck, NULL, NULL), 0);
  ax_data_free(kw);
  kw = h_kw("s", "value", "through");
  ax_data *r = NULL;
  assert_int_equal(ax_portal_run(p, NULL, "echo", kw, &r, NULL), 0);
  ax_data_free(kw);
  ok[0] = !strcmp(ax_val_str(ax_data_root(r), NULL), "through");
  ax_data_free(r);
  kw = h_kw("is", "n", 3LL, "mode", "count");
  assert_int_equal(
      ax_portal_open_context(p, NULL, "counter", kw, &other, NULL, NULL), 0);
  ax_data_free(kw);
  ax_stream *s;
  assert_int_equal(ax_context_open_stream(other, NULL, &s), 0);
  ax_data *v;
  for (int i = 1; i <= 3; i++) {
    assert_int_equal(ax_stream_recv(s, &v, NULL), 0);
    ok[i] = ax_val_int(ax_data_root(v)) == i;
    ax_data_free(v);
  }
  ax_pack *done = ax_pack_new();
  ax_pack_str(done, "done");
  assert_int_equal(ax_stream_send(s, done), 0);
  assert_int_equal(ax_context_close(other, 0, NULL), 0);
  /* The stuck one, cancelled: its ContextCancelled is absorbed. */
  assert_int_equal(ax_context_close(stuck, AX_ECANCELED, NULL), 0);
  assert_int_equal(ax_portal_cancel_actor(p), 0);
  assert_int_equal(ax_nursery_close(n, NULL), 0);
  return 0;
}

static void test_stream_waiting_for_credit_stalls_nothing(void **state) {
  (void)state;
  int ok[4] = {0};
  h_begin(60);
  assert_int_equal(h_run(0.5, stall_body, ok), 0);
  for (int i = 0; i < 4; i++) assert_true(ok[i]);
  assert_int_equal(h_wait_none(2), 0);
}

/* started outside a context is refused; the call is no context. */
static int plain_body(void *arg) {
  long long *out = arg;
  ax_nursery *n;
  ax_portal *p;
  ax_data *r = NULL;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "callee", &testmod, &p, NULL), 0);
  assert_int_equal(ax_portal_run(p, NULL, "not_ctx", NULL, &r, NULL), 0);
  *out = ax_val_int(ax_data_root(r));
  ax_data_free(r);
  assert_int_equal(ax_portal_cancel_actor(p), 0);
  assert_int_equal(ax_nursery_close(n, NULL), 0);
  return 0;
}

static void test_started_in_a_plain_call_is_refused(void **state) {
  (void)state;
  long long got = 0;
  h_begin(60);
  assert_int_equal(h_run(0.5, plain_body, &got), 0);
  assert_int_equal(got, AX_ESTATE);
  assert_int_equal(h_wait_none(2), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_started_value_then_result),
      cmocka_unit_test(test_failure_before_started_fails_the_open),
      cmocka_unit_test(test_return_before_started_is_a_usage_error),
      cmocka_unit_test(test_failure_after_started_ends_the_context),
      cmocka_unit_test(test_failed_block_cancels_the_callee),
      cmocka_unit_test(test_cancel_gives_the_callee_cancelled),
      cmocka_unit_test(test_started_twice_is_refused),
      cmocka_unit_test(test_open_cut_short_by_a_deadline),
      cmocka_unit_test(test_started_in_a_plain_call_is_refused),
      cmocka_unit_test(test_cancel_by_the_parent_names_it),
      cmocka_unit_test(test_c_caller_lua_callee),
      cmocka_unit_test(test_stream_both_ways),
      cmocka_unit_test(test_stream_echo_past_the_windows),
      cmocka_unit_test(test_stream_flood_waits_for_credit),
      cmocka_unit_test(test_stream_unbounded_window),
      cmocka_unit_test(test_stream_never_opened_then_cancelled),
      cmocka_unit_test(test_stream_producer_killed),
      cmocka_unit_test(test_stream_waiting_for_credit_stalls_nothing),
      cmocka_unit_test(test_cancel_by_a_signal_names_the_callee),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

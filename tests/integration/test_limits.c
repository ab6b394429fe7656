/* test_limits.c - every call ends, every input survives: an outcome too
 * large for the caller's maximum message size still ends its call, an actor out of memory replies or
 * fails cleanly, and a frame crafted to cost its receiver far more memory
 * than its size is refused as malformed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static const ax_spawn_opts testmod = {sizeof(ax_spawn_opts), AXT_TESTMOD,
                                      NULL, 0, 0, 0};

#define HUNG 1 /* a call that did not end in time: never an AX_E code */

/* Call func, with a deadline that only catches a call that never ends. */
/* The module of the test plugin's functions, when the actor's own module
 * is another (the Lua sweeps): NULL otherwise. */
static const char *plugin_ns;


static int call_ns(ax_portal *p, const char *ns, const char *func,
                   ax_data *kw, ax_data **r, ax_error **e, double timeout) {
  ax_scope *s = ax_scope_open(timeout);
  int rc = ax_portal_run(p, ns, func, kw, r, e);
  ax_data_free(kw);
  return ax_scope_close(s) ? HUNG : rc;
}

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

/* ------------------------------------------- outcomes too large to send */

static void expect_too_large(ax_portal *p, const char *func, ax_data *kw,
                             const char *where) {
  ax_error *e = NULL;
  int rc = call(p, func, kw, NULL, &e, 120);
  if (rc == HUNG) fail_msg("%s (%s): the call never ended", func, where);
  if (rc != AX_EREMOTE || ax_error_kind(e) != AX_K_MESSAGE_TOO_LARGE)
    fail_msg("%s (%s): rc %d, error %s", func, where, rc, ax_error_type(e));
  const char *msg = ax_error_message(e), *tb = ax_error_traceback(e);
  size_t ml = strlen(msg), tl = strlen(tb);
  /* Cut to fit a frame, not dropped: what fits of each text is kept. */
  assert_true(ml + tl < (16u << 20));
  assert_string_equal(ax_error_src_name(e), "big");
  if (!strcmp(func, "fail_big")) {
    assert_non_null(strstr(msg, "ValueError"));
    if (strcmp(where, "traceback") != 0) {
      assert_non_null(strstr(msg, "BEGINxxxx"));
      assert_true(ml > (4u << 20));
    }
    if (strcmp(where, "message") != 0) {
      assert_true(!strncmp(tb, "BEGINxxxx", 9));
      assert_true(tl > (4u << 20));
    }
  }
  ax_error_free(e);
}

static int too_large_body(void *arg) {
  (void)arg;
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "big", &testmod, &p, NULL), 0);
  const char *where[] = {"message", "traceback", "both"};
  for (int i = 0; i < 3; i++) {
    expect_too_large(p, "fail_big", h_kw("s", "where", where[i]), where[i]);
    /* The actor keeps serving. */
    assert_true(add(p, 1, 2) == 3);
  }
  expect_too_large(p, "big_result", NULL, "result");
  /* An error that fits goes as it is. */
  ax_error *e = NULL;
  assert_int_equal(call(p, "fail_big", h_kw("i", "bytes", 1LL << 20), NULL,
                        &e, 60),
                   AX_EREMOTE);
  assert_string_equal(ax_error_type(e), "ValueError");
  assert_int_equal(strlen(ax_error_message(e)), (1u << 20) + 5);
  ax_error_free(e);
  /* An error with an info goes with it; too large for a frame only with
   * its info, whole without it, not cut. */
  e = NULL;
  assert_int_equal(call(p, "fail_info", NULL, NULL, &e, 60), AX_EREMOTE);
  assert_int_equal(ax_val_int(ax_val_get(ax_error_info(e), "code")), 7);
  uint64_t huge = 0;
  assert_int_equal(ax_val_uint64(ax_val_get(ax_error_info(e), "huge"), &huge),
                   0);
  assert_true(huge == UINT64_MAX);
  ax_error_free(e);
  e = NULL;
  assert_int_equal(call(p, "fail_info", h_kw("i", "bytes", 17LL << 20), NULL,
                        &e, 60),
                   AX_EREMOTE);
  assert_string_equal(ax_error_type(e), "ValueError");
  assert_string_equal(ax_error_message(e), "it failed");
  assert_null(ax_error_info(e));
  ax_error_free(e);
  assert_true(add(p, 2, 2) == 4);
  assert_int_equal(ax_portal_cancel_actor(p), 0);
  assert_int_equal(ax_nursery_close(n, NULL), 0);
  return 0;
}

static void test_outcome_too_large_still_ends_the_call(void **state) {
  (void)state;
  h_begin(240);
  /* Messages up to a frame only (16 MiB): the actor takes its parent's. */
  ax_opts o = {.size = sizeof o, .name = "testroot", .grace = 0.5,
               .max_message = 16u << 20};
  assert_int_equal(ax_run(&o, too_large_body, NULL), 0);
  assert_int_equal(h_wait_none(2), 0);
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

/* ------------------------------------------------------- out of memory */

/* An actor whose allocations fail from the Nth on serves one call, for N
 * = 0, 1, 2... until the call's whole path ran without a failure. Each
 * time the call must end: with its result, a MemoryError, or, when even
 * that cannot be sent, the channel closed by an actor that exits of its
 * own accord. Never a crash, never a hang. */

typedef struct oom_sweep {
  const ax_spawn_opts *opts; /* the actor */
  const char *want;          /* the error type func raises, if any */
  const char *func; /* the call under test */
  size_t size;      /* of the text it sends and gets back */
  char *text;
  char stop[256];   /* the file that disarms the allocator */
  long rounds, results, memory_errors, exits;
} oom_sweep;

/* How a call under failing allocations ended: 0 with a reply (a result,
 * a MemoryError, or an error of want), 1 when the actor went away cleanly,
 * and a test failure otherwise. */
static int judge(oom_sweep *s, long after, const char *what, int rc,
                 ax_error *e, const char *want) {
  if (rc == HUNG) fail_msg("%s at N=%ld: %s never ended", s->func, after, what);
  if (rc == 0) {
    s->results++;
    return 0;
  }
  if (rc == AX_EREMOTE && ax_error_kind(e) == AX_K_MEMORY_ERROR) {
    s->memory_errors++;
    return 0;
  }
  if (rc == AX_EREMOTE && want && !strcmp(ax_error_type(e), want)) return 0;
  if (rc == AX_ECLOSED || rc == AX_ENOMEM ||
      (rc == AX_EREMOTE && ax_error_kind(e) == AX_K_ACTOR_EXITED)) {
    s->exits++;
    return 1;
  }
  char *text = e ? ax_error_format(e) : NULL;
  fail_msg("%s at N=%ld: %s ended with rc %d:\n%s", s->func, after, what, rc,
           text ? text : "(no error)");
  return -1;
}

static int oom_body(void *arg) {
  oom_sweep *s = arg;
  ax_nursery *n = NULL;
  ax_portal *p = NULL;
  long after;
  for (after = 0; after < 1000; after++) {
    s->rounds++;
    if (!p) {
      assert_int_equal(ax_nursery_open(&n), 0);
      assert_int_equal(ax_start_actor(n, "oom", s->opts, &p, NULL), 0);
    }
    unlink(s->stop);
    ax_error *e = NULL;
    ax_data *r = NULL;
    int rc = call_ns(p, plugin_ns, "oom_arm",
                     h_kw("i", "after", (long long)after), NULL, &e, 30);
    int gone = judge(s, after, "oom_arm", rc, e, NULL);
    ax_error_free(e);
    e = NULL;
    if (!gone) {
      ax_data *kw = h_kw("s", !strcmp(s->func, "echo") ? "value" : "message",
                         s->text);
      rc = call(p, s->func, kw, &r, &e, 30);
      gone = judge(s, after, s->func, rc, e, s->want);
      if (rc == 0)
        assert_string_equal(ax_val_str(ax_data_root(r), NULL), s->text);
      ax_data_free(r);
      r = NULL;
      ax_error_free(e);
      e = NULL;
    }
    long failed = -1;
    if (!gone) {
      /* Disarm; the actor must serve again. */
      FILE *f = fopen(s->stop, "w");
      assert_non_null(f);
      fclose(f);
      rc = call_ns(p, plugin_ns, "oom_failed", NULL, &r, &e, 30);
      gone = judge(s, after, "oom_failed", rc, e, NULL);
      if (rc == 0) failed = (long)ax_val_int(ax_data_root(r));
      ax_data_free(r);
      r = NULL;
      ax_error_free(e);
      e = NULL;
    }
    if (gone) {
      /* It went away: it must have exited, not crashed. */
      ax_error *why = NULL;
      ax_nursery_close(n, &why);
      if (why && ax_error_kind(why) != AX_K_ACTOR_EXITED) {
        char *text = ax_error_format(why);
        fail_msg("%s at N=%ld: the actor died:\n%s", s->func, after, text);
      }
      ax_error_free(why);
      n = NULL;
      p = NULL;
      continue;
    }
    if (failed == 0) break; /* the whole path fit in N allocations */
  }
  if (p) {
    assert_int_equal(ax_portal_cancel_actor(p), 0);
    assert_int_equal(ax_nursery_close(n, NULL), 0);
  }
  assert_true(after < 1000);
  return 0;
}

static void run_oom_sweep(const char *func, size_t size) {
  h_begin(600);
  oom_sweep s = {.opts = &testmod, .want = "ValueError", .func = func,
                 .size = size, .text = malloc(size + 1)};
  if (plugin_ns) {
    /* A Lua actor, with the test plugin enabled for the allocator's
     * switch; its own functions raise LuaError. */
    static const char *enable[] = {AXT_TESTMOD};
    static ax_spawn_opts lua = {sizeof(ax_spawn_opts),
                                "lua:" AXLE_SOURCE_DIR "/tests/lua/oom.lua",
                                enable, 1, 0, 0};
    s.opts = &lua;
    s.want = "LuaError";
  }
  memset(s.text, 'v', size);
  s.text[size] = 0;
  snprintf(s.stop, sizeof s.stop, "/tmp/axle-oom-stop-%d", (int)getpid());
  /* The actors started from here preload the allocator; under ASan it
   * comes before ASan's runtime, which must not object. */
  const char *asan = getenv("ASAN_OPTIONS");
  static char saved[1024], opts[1100];
  snprintf(saved, sizeof saved, "%s", asan ? asan : "");
  snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", saved,
           *saved ? ":" : "");
  setenv("ASAN_OPTIONS", opts, 1);
  setenv("LD_PRELOAD", FAILMALLOC_PATH, 1);
  setenv("AXT_FAILMALLOC", "1", 1);
  setenv("AXT_FAILMALLOC_STOP", s.stop, 1);
  /* An actor that closed its channel gets the grace to exit before it is
   * signalled, and an exit under ASan (a leak check) takes a while. */
  int rc = h_run(5, oom_body, &s);
  unsetenv("LD_PRELOAD");
  unsetenv("AXT_FAILMALLOC");
  unsetenv("AXT_FAILMALLOC_STOP");
  if (asan)
    setenv("ASAN_OPTIONS", saved, 1);
  else
    unsetenv("ASAN_OPTIONS");
  free(s.text);
  unlink(s.stop);
  print_message("%s of %zu bytes: %ld rounds: %ld results, %ld MemoryErrors, "
                "%ld exits\n",
                func, size, s.rounds, s.results, s.memory_errors, s.exits);
  assert_int_equal(rc, 0);
  /* The sweep did reach failures the actor answered. */
  assert_true(s.memory_errors > 0);
  assert_int_equal(h_wait_none(2), 0);
}

static void test_out_of_memory_on_a_result(void **state) {
  (void)state;
  run_oom_sweep("echo", 20);
}

static void test_out_of_memory_on_an_error(void **state) {
  (void)state;
  run_oom_sweep("fail", 20);
}

/* Frames larger than the buffers the channel holds: they must grow. */
static void test_out_of_memory_on_large_frames(void **state) {
  (void)state;
  run_oom_sweep("echo", 200000);
}

/* The same through a Lua actor: a call served while Lua's allocations
 * fail ends with its result or a MemoryError, and the actor serves on. */
static void test_out_of_memory_in_lua(void **state) {
  (void)state;
  plugin_ns = AXT_TESTMOD;
  run_oom_sweep("echo", 20);
  run_oom_sweep("fail", 20);
  run_oom_sweep("echo", 200000);
  plugin_ns = NULL;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_outcome_too_large_still_ends_the_call),
      cmocka_unit_test(test_relay_path_over_the_bound_is_malformed),
      cmocka_unit_test(test_group_over_the_bound_is_malformed),
      cmocka_unit_test(test_unknown_error_key_costs_nothing),
      cmocka_unit_test(test_out_of_memory_on_a_result),
      cmocka_unit_test(test_out_of_memory_on_an_error),
      cmocka_unit_test(test_out_of_memory_on_large_frames),
      cmocka_unit_test(test_out_of_memory_in_lua),
  };
  /* AXT_ONLY=pattern runs only the tests whose names match it. */
  if (getenv("AXT_ONLY")) cmocka_set_test_filter(getenv("AXT_ONLY"));
  return cmocka_run_group_tests(tests, NULL, NULL);
}

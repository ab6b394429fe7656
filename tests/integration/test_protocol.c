/* test_protocol.c - docs/PROTOCOL.md from the parent's side: this test is
 * the parent of a real `axle --child`, and writes and reads its frames by
 * hand, as an implementation in another language would. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define UID "0123456789abcdef0123456789abcdef"
#define KID_UID "fedcba9876543210fedcba9876543210"

extern char **environ;

typedef struct kid {
  pid_t pid;
  int fd; /* our end of its channel */
} kid;

/* Start `axle --child name --ppid <us>` with the channel on its fd 3. */
static kid start_kid(const char *name, int ppid) {
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  char pp[24];
  snprintf(pp, sizeof pp, "%d", ppid ? ppid : (int)getpid());
  char *argv[] = {AXLE_HOST_PATH, "--child", (char *)name, "--ppid", pp, NULL};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
  kid k = {0, sv[0]};
  assert_int_equal(posix_spawn(&k.pid, argv[0], &fa, NULL, argv, environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  close(sv[1]);
  return k;
}

/* Write one frame holding what p encoded (p is freed). */
static void put(kid *k, ax_pack *p) {
  size_t len;
  const unsigned char *b = ax_pack_bytes(p, &len);
  unsigned char head[4] = {(unsigned char)(len >> 24),
                           (unsigned char)(len >> 16),
                           (unsigned char)(len >> 8), (unsigned char)len};
  assert_int_equal(write(k->fd, head, 4), 4);
  assert_int_equal(write(k->fd, b, len), (ssize_t)len);
  ax_pack_free(p);
}

static int read_all(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, 20000) != 1) return -1; /* only a hang ends here */
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r == 0) return 0;
    if (r < 0) return errno == EINTR ? (int)got : -1;
    got += (size_t)r;
  }
  return 1;
}

/* The next message, or NULL at end of file. */
static ax_data *next(kid *k) {
  unsigned char head[4];
  int rc = read_all(k->fd, head, 4);
  assert_true(rc >= 0);
  if (rc == 0) return NULL;
  size_t len = (size_t)head[0] << 24 | (size_t)head[1] << 16 |
               (size_t)head[2] << 8 | head[3];
  char *b = malloc(len ? len : 1);
  assert_int_equal(read_all(k->fd, b, len), 1);
  ax_data *d = NULL;
  assert_int_equal(ax_data_decode(b, len, &d), 0);
  free(b);
  return d;
}

static const char *str_of(const ax_data *d, const char *key) {
  const char *s = ax_val_str(ax_val_get(ax_data_root(d), key), NULL);
  return s ? s : "";
}

/* A map head and its "t". */
static ax_pack *msg(const char *t, uint32_t nfields) {
  ax_pack *p = ax_pack_new();
  ax_pack_map(p, nfields + 1);
  ax_pack_str(p, "t");
  ax_pack_str(p, t);
  return p;
}

/* The head of a start: cid, func, ctx when not 0, then (last, for the
 * caller to fill) a kwargs map of nkw pairs, or no kwargs when nkw < 0. */
static ax_pack *start_msg(int64_t cid, const char *func, int ctx, int nkw) {
  ax_pack *p = msg("start", 2 + (ctx != 0) + (nkw >= 0));
  ax_pack_str(p, "cid");
  ax_pack_int(p, cid);
  ax_pack_str(p, "func");
  ax_pack_str(p, func);
  if (ctx) {
    ax_pack_str(p, "ctx");
    ax_pack_int(p, ctx);
  }
  if (nkw >= 0) {
    ax_pack_str(p, "kwargs");
    ax_pack_map(p, (uint32_t)nkw);
  }
  return p;
}

/* Our hello; with max_msg > 0 it says we take messages in parts up to
 * that size. */
static void hello_max(kid *k, long long max_msg) {
  ax_pack *p = msg("hello", max_msg > 0 ? 5 : 4);
  ax_pack_str(p, "v");
  ax_pack_int(p, 1);
  ax_pack_str(p, "name");
  ax_pack_str(p, "parent");
  ax_pack_str(p, "uid");
  ax_pack_str(p, UID);
  ax_pack_str(p, "pid");
  ax_pack_int(p, getpid());
  if (max_msg > 0) {
    ax_pack_str(p, "max_msg");
    ax_pack_int(p, max_msg);
  }
  put(k, p);
}

static void hello(kid *k) { hello_max(k, 0); }

/* spawn with the test plugin as module; max_frame < 0 leaves it out. */
static void spawn(kid *k, long long max_frame) {
  ax_pack *p = msg("spawn", max_frame < 0 ? 4 : 5);
  ax_pack_str(p, "name");
  ax_pack_str(p, "kid");
  ax_pack_str(p, "uid");
  ax_pack_str(p, KID_UID);
  ax_pack_str(p, "module");
  ax_pack_str(p, AXT_TESTMOD);
  ax_pack_str(p, "parent");
  ax_pack_str(p, UID);
  if (max_frame >= 0) {
    ax_pack_str(p, "max_frame");
    ax_pack_int(p, max_frame);
  }
  put(k, p);
}

static void expect_type(ax_data *d, const char *t) {
  assert_non_null(d);
  if (strcmp(str_of(d, "t"), t) != 0) {
    char *s = ax_val_format(ax_data_root(d));
    fail_msg("expected a %s message, got %s", t, s);
  }
}

/* Wait for the child's exit status (its channel already closed or not). */
static int exit_status(kid *k) {
  int st;
  assert_int_equal(h_wait_exit(k->pid, 20, &st), 0);
  close(k->fd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A child through its handshake: our hello and spawn, its hello. */
static kid booted_kid(void) {
  kid k = start_kid("kid", 0);
  hello(&k);
  spawn(&k, -1);
  ax_data *d = next(&k);
  expect_type(d, "hello");
  ax_data_free(d);
  return k;
}

/* The whole life of a child: hello both ways (its hello carries the
 * identity spawn gave it), a call, cancel -> cancel_ack, end of file, and
 * exit status 0. */
static void test_boot_call_cancel(void **state) {
  (void)state;
  h_begin(60);
  kid k = start_kid("kid", 0);
  hello(&k);
  spawn(&k, -1);
  ax_data *d = next(&k);
  expect_type(d, "hello");
  assert_string_equal(str_of(d, "name"), "kid");
  assert_string_equal(str_of(d, "uid"), KID_UID);
  assert_int_equal(ax_val_int(ax_val_get(ax_data_root(d), "pid")), k.pid);
  ax_data_free(d);
  ax_pack *p = start_msg(7, "add", 0, 2);
  ax_pack_str(p, "a");
  ax_pack_float(p, 1);
  ax_pack_str(p, "b");
  ax_pack_float(p, 2);
  put(&k, p);
  d = next(&k);
  /* A plain C function runs on a thread: still running when the child
   * next writes, so a start_ack may come first. */
  if (d && !strcmp(str_of(d, "t"), "start_ack")) {
    assert_int_equal(ax_val_int(ax_val_get(ax_data_root(d), "cid")), 7);
    ax_data_free(d);
    d = next(&k);
  }
  expect_type(d, "return");
  assert_int_equal(ax_val_int(ax_val_get(ax_data_root(d), "cid")), 7);
  assert_true(ax_val_float(ax_val_get(ax_data_root(d), "value")) == 3.0);
  ax_data_free(d);
  p = msg("cancel", 1);
  ax_pack_str(p, "cid");
  ax_pack_int(p, 0);
  put(&k, p);
  d = next(&k);
  expect_type(d, "cancel_ack");
  ax_data_free(d);
  assert_null(next(&k)); /* then it closes the channel */
  assert_int_equal(exit_status(&k), 0);
  assert_int_equal(h_wait_none(2), 0);
}

/* A max_frame below the documented minimum fails the boot: an error with
 * cid 0 that says why, then exit status 1; no silent child is left. */
static void test_max_frame_below_minimum(void **state) {
  (void)state;
  h_begin(60);
  kid k = start_kid("kid", 0);
  hello(&k);
  spawn(&k, 10);
  ax_data *d = next(&k);
  expect_type(d, "error");
  const ax_val *e = ax_val_get(ax_data_root(d), "error");
  assert_string_equal(ax_val_str(ax_val_get(e, "type"), NULL), "SpawnError");
  assert_non_null(
      strstr(ax_val_str(ax_val_get(e, "message"), NULL), "max_frame"));
  /* It comes from the actor the spawn named, as a load failure does. */
  const ax_val *src = ax_val_get(e, "src");
  assert_string_equal(ax_val_str(ax_val_get(src, "name"), NULL), "kid");
  assert_string_equal(ax_val_str(ax_val_get(src, "uid"), NULL), KID_UID);
  assert_int_equal(ax_val_int(ax_val_get(src, "pid")), k.pid);
  ax_data_free(d);
  assert_null(next(&k));
  assert_int_equal(exit_status(&k), 1);
  assert_int_equal(h_wait_none(2), 0);
}

/* A start before spawn is answered by nothing, under no identity: the
 * child closes the channel (a protocol error) and exits with status 1. */
static void test_start_before_spawn(void **state) {
  (void)state;
  h_begin(60);
  kid k = start_kid("kid", 0);
  hello(&k);
  ax_pack *p = start_msg(1, "add", 0, -1);
  put(&k, p);
  assert_null(next(&k));
  assert_int_equal(exit_status(&k), 1);
  assert_int_equal(h_wait_none(2), 0);
}

/* End of file from the parent is a request to stop: exit status 0. */
static void test_eof_after_boot(void **state) {
  (void)state;
  h_begin(60);
  kid k = booted_kid();
  shutdown(k.fd, SHUT_WR);
  assert_null(next(&k));
  assert_int_equal(exit_status(&k), 0);
  assert_int_equal(h_wait_none(2), 0);
}

/* SIGTERM cancels the actor: it closes the channel and exits 0. */
static void test_sigterm_after_boot(void **state) {
  (void)state;
  h_begin(60);
  kid k = booted_kid();
  kill(k.pid, SIGTERM);
  assert_null(next(&k));
  assert_int_equal(exit_status(&k), 0);
  assert_int_equal(h_wait_none(2), 0);
}

/* A call its caller cancels ends with a Cancelled error that says who
 * cancelled it and what it was doing. */
static void test_cancelled_call_says_what_it_was_doing(void **state) {
  (void)state;
  h_begin(60);
  kid k = booted_kid();
  ax_pack *p = start_msg(8, "nap", 0, 1);
  ax_pack_str(p, "seconds");
  ax_pack_float(p, 60);
  put(&k, p);
  /* Acknowledged: the call is running, asleep. */
  ax_data *d = next(&k);
  expect_type(d, "start_ack");
  ax_data_free(d);
  p = msg("cancel", 1);
  ax_pack_str(p, "cid");
  ax_pack_int(p, 8);
  put(&k, p);
  d = next(&k);
  expect_type(d, "error");
  assert_int_equal(ax_val_int(ax_val_get(ax_data_root(d), "cid")), 8);
  const ax_val *e = ax_val_get(ax_data_root(d), "error");
  assert_string_equal(ax_val_str(ax_val_get(e, "type"), NULL), "Cancelled");
  assert_string_equal(ax_val_str(ax_val_get(e, "message"), NULL),
                      "cancelled by its caller while sleeping");
  ax_data_free(d);
  shutdown(k.fd, SHUT_WR);
  assert_null(next(&k));
  assert_int_equal(exit_status(&k), 0);
  assert_int_equal(h_wait_none(2), 0);
}

/* A context as the document describes it: start with ctx 1, started with
 * the first value, then the call's end. Cancelled by its caller, it ends
 * with a ContextCancelled whose info names the caller (our hello's
 * identity). */
static void context_start(kid *k, int cid, const char *mode) {
  ax_pack *p = start_msg(cid, "ctx_inc", 1, 2);
  ax_pack_str(p, "x");
  ax_pack_int(p, 41);
  ax_pack_str(p, "mode");
  ax_pack_str(p, mode);
  put(k, p);
}

/* The next message other than a start_ack. */
static ax_data *next_no_ack(kid *k) {
  ax_data *d = next(k);
  while (d && !strcmp(str_of(d, "t"), "start_ack")) {
    ax_data_free(d);
    d = next(k);
  }
  return d;
}

/* The stream values first..last, in order (start_acks aside). */
static void expect_yields(kid *k, int64_t first, int64_t last) {
  for (int64_t i = first; i <= last; i++) {
    ax_data *d = next_no_ack(k);
    expect_type(d, "yield");
    assert_int_equal(ax_val_int(ax_val_get(ax_data_root(d), "value")), i);
    ax_data_free(d);
  }
}

static void test_context_started_then_cancelled(void **state) {
  (void)state;
  h_begin(60);
  kid k = booted_kid();
  context_start(&k, 9, "ok");
  ax_data *d = next_no_ack(&k);
  expect_type(d, "started");
  assert_int_equal(ax_val_int(ax_val_get(ax_data_root(d), "cid")), 9);
  assert_int_equal(ax_val_int(ax_val_get(ax_data_root(d), "value")), 42);
  ax_data_free(d);
  d = next_no_ack(&k);
  expect_type(d, "return");
  assert_int_equal(ax_val_int(ax_val_get(ax_data_root(d), "value")), 43);
  ax_data_free(d);

  context_start(&k, 10, "forever");
  d = next_no_ack(&k);
  expect_type(d, "started");
  ax_data_free(d);
  ax_pack *p = msg("cancel", 1);
  ax_pack_str(p, "cid");
  ax_pack_int(p, 10);
  put(&k, p);
  d = next_no_ack(&k);
  expect_type(d, "error");
  assert_int_equal(ax_val_int(ax_val_get(ax_data_root(d), "cid")), 10);
  const ax_val *e = ax_val_get(ax_data_root(d), "error");
  assert_string_equal(ax_val_str(ax_val_get(e, "type"), NULL),
                      "ContextCancelled");
  const ax_val *who = ax_val_get(ax_val_get(e, "info"), "canceller");
  assert_string_equal(ax_val_str(ax_val_get(who, "name"), NULL), "parent");
  assert_string_equal(ax_val_str(ax_val_get(who, "uid"), NULL), UID);
  ax_data_free(d);

  /* A plain call (no ctx) may not send started: the function learns so. */
  p = start_msg(11, "not_ctx", 0, -1);
  put(&k, p);
  d = next_no_ack(&k);
  expect_type(d, "return");
  assert_int_equal(ax_val_int(ax_val_get(ax_data_root(d), "value")), AX_ESTATE);
  ax_data_free(d);
  shutdown(k.fd, SHUT_WR);
  assert_null(next(&k));
  assert_int_equal(exit_status(&k), 0);
  assert_int_equal(h_wait_none(2), 0);
}

/* The document's stream example, frame by frame: counter with n 2 sends
 * started 0, yields 1 and 2, takes our "done" (caller: 1) and returns 3. */
static void yield_from_caller(kid *k, int cid, const char *v) {
  ax_pack *p = msg("yield", 3);
  ax_pack_str(p, "cid");
  ax_pack_int(p, cid);
  ax_pack_str(p, "caller");
  ax_pack_int(p, 1);
  ax_pack_str(p, "value");
  ax_pack_str(p, v);
  put(k, p);
}

static void test_stream_as_documented(void **state) {
  (void)state;
  h_begin(60);
  kid k = booted_kid();
  ax_pack *p = msg("start", 4);
  ax_pack_str(p, "cid");
  ax_pack_int(p, 1);
  ax_pack_str(p, "func");
  ax_pack_str(p, "counter");
  ax_pack_str(p, "kwargs");
  ax_pack_map(p, 1);
  ax_pack_str(p, "n");
  ax_pack_int(p, 2);
  ax_pack_str(p, "ctx");
  ax_pack_int(p, 1);
  put(&k, p);
  const char *want[] = {"started", "yield", "yield"};
  for (int i = 0; i < 3; i++) {
    ax_data *d = next_no_ack(&k);
    expect_type(d, want[i]);
    const ax_val *root = ax_data_root(d);
    assert_int_equal(ax_val_int(ax_val_get(root, "cid")), 1);
    assert_int_equal(ax_val_int(ax_val_get(root, "value")), i);
    assert_null(ax_val_get(root, "caller")); /* the callee sent it */
    ax_data_free(d);
  }
  yield_from_caller(&k, 1, "done");
  ax_data *d = next_no_ack(&k);
  expect_type(d, "return");
  assert_int_equal(ax_val_int(ax_val_get(ax_data_root(d), "value")), 3);
  ax_data_free(d);
  shutdown(k.fd, SHUT_WR);
  assert_null(next(&k));
  assert_int_equal(exit_status(&k), 0);
  assert_int_equal(h_wait_none(2), 0);
}

/* A generator stream (ctx 2): the runtime sends started itself, then the
 * function's values, then its end. */
static void test_generator_stream(void **state) {
  (void)state;
  h_begin(60);
  kid k = booted_kid();
  ax_pack *p = start_msg(4, "gen", 2, 1);
  ax_pack_str(p, "n");
  ax_pack_int(p, 2);
  put(&k, p);
  ax_data *d = next_no_ack(&k);
  expect_type(d, "started");
  assert_int_equal(ax_val_type(ax_val_get(ax_data_root(d), "value")),
                   AX_T_NIL);
  ax_data_free(d);
  expect_yields(&k, 1, 2);
  d = next_no_ack(&k);
  expect_type(d, "return");
  ax_data_free(d);
  shutdown(k.fd, SHUT_WR);
  assert_null(next(&k));
  assert_int_equal(exit_status(&k), 0);
  assert_int_equal(h_wait_none(2), 0);
}

/* The window holds: 1024 values to a context that takes none are kept;
 * one more is a protocol error, which closes the channel (exit 1). */
static void test_stream_value_beyond_the_window(void **state) {
  (void)state;
  h_begin(60);
  kid k = booted_kid();
  context_start(&k, 2, "forever");
  ax_data *d = next_no_ack(&k);
  expect_type(d, "started");
  ax_data_free(d);
  for (int i = 0; i < 1024; i++) yield_from_caller(&k, 2, "v");
  /* Still serving: a plain call is answered. */
  ax_pack *p = start_msg(3, "pid", 0, -1);
  put(&k, p);
  d = next_no_ack(&k);
  expect_type(d, "return");
  ax_data_free(d);
  yield_from_caller(&k, 2, "one too many");
  /* The child closes the channel; the context's error may come first. */
  while ((d = next(&k)) != NULL) ax_data_free(d);
  assert_int_equal(exit_status(&k), 1);
  assert_int_equal(h_wait_none(2), 0);
}

/* A credit of the largest integers the wire carries is valid: the
 * sender's credit saturates (it overflowed, and the sender stopped after
 * one more value) and the rest of the values come. */
static void test_stream_credit_saturates(void **state) {
  (void)state;
  h_begin(60);
  kid k = booted_kid();
  ax_pack *p = start_msg(5, "counter", 1, 2);
  ax_pack_str(p, "n");
  ax_pack_int(p, 3000);
  ax_pack_str(p, "mode");
  ax_pack_str(p, "flood");
  put(&k, p);
  ax_data *d = next_no_ack(&k);
  expect_type(d, "started");
  ax_data_free(d);
  /* The default window, then the counter waits for credit. */
  expect_yields(&k, 1, 1024);
  for (int twice = 0; twice < 2; twice++) {
    p = msg("credit", 4);
    ax_pack_str(p, "cid");
    ax_pack_int(p, 5);
    ax_pack_str(p, "caller");
    ax_pack_int(p, 1);
    ax_pack_str(p, "msgs");
    ax_pack_int(p, INT64_MAX);
    ax_pack_str(p, "bytes");
    ax_pack_int(p, INT64_MAX);
    put(&k, p);
  }
  expect_yields(&k, 1025, 3000);
  d = next_no_ack(&k);
  expect_type(d, "return");
  assert_int_equal(ax_val_int(ax_val_get(ax_data_root(d), "value")), 3000);
  ax_data_free(d);
  shutdown(k.fd, SHUT_WR);
  assert_null(next(&k));
  assert_int_equal(exit_status(&k), 0);
  assert_int_equal(h_wait_none(2), 0);
}

/* A child whose parent is not the pid it was told exits 1 at once. */
static void test_wrong_parent_pid(void **state) {
  (void)state;
  h_begin(60);
  kid k = start_kid("kid", 1);
  assert_int_equal(exit_status(&k), 1);
}

/* A child that gets no spawn within ten seconds exits 1. */
static void test_no_spawn_in_time(void **state) {
  (void)state;
  h_begin(60);
  kid k = start_kid("kid", 0);
  hello(&k);
  assert_null(next(&k)); /* the wait is the child's own timer */
  assert_int_equal(exit_status(&k), 1);
}

/* ------------------------------------------------------------ reaping */

#define KID_GRACE 0.2

/* A booted child with a grace of KID_GRACE, whose spawn asks for reaping
 * reports (reaping: 1) or says nothing of them. Its call cid 1 runs
 * hog_loop in a grandchild of ours, which ignores cancel requests: once
 * its start_ack is in, the grandchild has been started. */
static kid reaping_kid(int ask) {
  kid k = start_kid("kid", 0);
  hello(&k);
  ax_pack *p = msg("spawn", ask ? 6 : 5);
  ax_pack_str(p, "name");
  ax_pack_str(p, "kid");
  ax_pack_str(p, "uid");
  ax_pack_str(p, KID_UID);
  ax_pack_str(p, "module");
  ax_pack_str(p, AXT_TESTMOD);
  ax_pack_str(p, "parent");
  ax_pack_str(p, UID);
  ax_pack_str(p, "grace");
  ax_pack_float(p, KID_GRACE);
  if (ask) {
    ax_pack_str(p, "reaping");
    ax_pack_int(p, 1);
  }
  put(&k, p);
  ax_data *d = next(&k);
  expect_type(d, "hello");
  ax_data_free(d);
  p = start_msg(1, "relay_call", 0, 2);
  ax_pack_str(p, "module");
  ax_pack_str(p, AXT_TESTMOD);
  ax_pack_str(p, "func");
  ax_pack_str(p, "hog_loop");
  put(&k, p);
  d = next(&k);
  expect_type(d, "start_ack");
  ax_data_free(d);
  return k;
}

/* Cancel the kid; every message up to its cancel_ack goes into seen
 * ("t" values, space-separated); *time is the last reaping's time. */
static void cancel_kid(kid *k, char *seen, size_t cap, double *time) {
  ax_pack *p = msg("cancel", 1);
  ax_pack_str(p, "cid");
  ax_pack_int(p, 0);
  put(k, p);
  seen[0] = 0;
  for (;;) {
    ax_data *d = next(k);
    assert_non_null(d);
    const char *t = str_of(d, "t");
    snprintf(seen + strlen(seen), cap - strlen(seen), "%s ", t);
    if (!strcmp(t, "reaping"))
      *time = ax_val_float(ax_val_get(ax_data_root(d), "time"));
    int done = !strcmp(t, "cancel_ack");
    ax_data_free(d);
    if (done) break;
  }
  assert_null(next(k));
  assert_int_equal(exit_status(k), 0);
  assert_int_equal(h_wait_none(2), 0);
}

/* A parent whose spawn asked for it hears `reaping` from a child that,
 * cancelled, takes down a child of its own: the time until that ladder's
 * SIGKILL at most, before the child's cancel_ack. */
static void test_reaping_told_to_a_parent_that_asked(void **state) {
  (void)state;
  h_begin(60);
  kid k = reaping_kid(1);
  char seen[256];
  double time = -1;
  cancel_kid(&k, seen, sizeof seen, &time);
  if (strncmp(seen, "reaping ", 8) != 0)
    fail_msg("want reaping first, got: %s", seen);
  assert_true(time > 0 && time <= 2 * KID_GRACE);
}

/* A parent that did not ask (a peer written before `reaping`) gets none:
 * nothing but the call's end and the cancel_ack. */
static void test_no_reaping_to_a_parent_that_did_not_ask(void **state) {
  (void)state;
  h_begin(60);
  kid k = reaping_kid(0);
  char seen[256];
  double time = -1;
  cancel_kid(&k, seen, sizeof seen, &time);
  assert_null(strstr(seen, "reaping"));
}

/* ------------------------------------------------------ large messages */

#define LARGE 200000

/* start {cid, func: "echo", kwargs: {"value": a bin of LARGE bytes}},
 * encoded; the bin's bytes in *blob. */
static ax_pack *large_echo(uint64_t cid, unsigned char **blob) {
  unsigned char *b = malloc(LARGE);
  for (size_t i = 0; i < LARGE; i++) b[i] = (unsigned char)(i * 13 + i / 977);
  ax_pack *p = start_msg((int64_t)cid, "echo", 0, 1);
  ax_pack_str(p, "value");
  ax_pack_bin(p, b, LARGE);
  *blob = b;
  return p;
}

/* Read messages until one whole message that is not a start_ack, each
 * part appended by id until its last; *nparts counts the parts it took.
 * Every frame fits the smallest maximum frame size. */
static ax_data *next_whole(kid *k, int *nparts) {
  unsigned char *buf = NULL;
  size_t len = 0;
  long long id = -1;
  for (;;) {
    unsigned char head[4];
    assert_int_equal(read_all(k->fd, head, 4), 1);
    size_t n = (size_t)head[0] << 24 | (size_t)head[1] << 16 |
               (size_t)head[2] << 8 | head[3];
    assert_true(n <= 65536);
    char *b = malloc(n ? n : 1);
    assert_int_equal(read_all(k->fd, b, n), 1);
    ax_data *d = NULL;
    assert_int_equal(ax_data_decode(b, n, &d), 0);
    free(b);
    const char *t = str_of(d, "t");
    if (!strcmp(t, "start_ack")) {
      ax_data_free(d);
      continue;
    }
    if (strcmp(t, "part") != 0) {
      assert_null(buf); /* nothing else comes between these parts here */
      return d;
    }
    const ax_val *root = ax_data_root(d);
    long long pid = ax_val_int(ax_val_get(root, "id"));
    assert_true(id < 0 || pid == id);
    id = pid;
    size_t dn = 0;
    const void *data = ax_val_bin(ax_val_get(root, "data"), &dn);
    assert_non_null(data);
    buf = realloc(buf, len + dn);
    memcpy(buf + len, data, dn);
    len += dn;
    (*nparts)++;
    int last = ax_val_int(ax_val_get(root, "last")) != 0;
    ax_data_free(d);
    if (last) {
      ax_data *whole = NULL;
      assert_int_equal(ax_data_decode(buf, len, &whole), 0);
      free(buf);
      return whole;
    }
  }
}

/* A booted child whose parent takes messages of up to 64 MiB in parts
 * (its hello says max_msg), as the child's hello says too. */
static kid parts_kid(void) {
  kid k = start_kid("kid", 0);
  hello_max(&k, 64LL << 20);
  spawn(&k, -1);
  ax_data *d = next(&k);
  expect_type(d, "hello");
  assert_int_equal(ax_val_int(ax_val_get(ax_data_root(d), "max_msg")),
                   64LL << 20);
  ax_data_free(d);
  return k;
}

/* A cancel of the whole actor while a result goes out in parts: the
 * cancel_ack is the child's last word, after every part (it overtook
 * them, so that a parent taking it for the end lost the result). */
static void test_cancel_ack_after_the_parts(void **state) {
  (void)state;
  h_begin(60);
  kid k = parts_kid();
  ax_pack *p = start_msg(6, "big_result", 0, 1);
  ax_pack_str(p, "bytes");
  ax_pack_int(p, 4 << 20);
  put(&k, p);
  /* Its first part is out; far more than a socket holds is still to go,
   * as we read nothing more for now. */
  ax_data *d = next(&k);
  while (!strcmp(str_of(d, "t"), "start_ack")) {
    ax_data_free(d);
    d = next(&k);
  }
  expect_type(d, "part");
  ax_data_free(d);
  p = msg("cancel", 1);
  ax_pack_str(p, "cid");
  ax_pack_int(p, 0);
  put(&k, p);
  int last = 0, nparts = 1;
  while (!last) {
    d = next(&k);
    assert_non_null(d);
    expect_type(d, "part");
    last = ax_val_int(ax_val_get(ax_data_root(d), "last")) != 0;
    nparts++;
    ax_data_free(d);
  }
  assert_true(nparts >= 64); /* 4 MiB in parts of at most 64 KiB */
  d = next(&k);
  expect_type(d, "cancel_ack");
  ax_data_free(d);
  assert_null(next(&k));
  assert_int_equal(exit_status(&k), 0);
  assert_int_equal(h_wait_none(2), 0);
}

/* A parent that takes parts sends a call in parts written by hand, and
 * gets its large result in parts, which assemble into the `return`. */
static void test_large_messages_in_parts(void **state) {
  (void)state;
  h_begin(60);
  kid k = parts_kid();
  unsigned char *blob;
  ax_pack *p = large_echo(5, &blob);
  size_t len;
  const unsigned char *bytes = ax_pack_bytes(p, &len);
  /* Parts of 60000 bytes, id 1, the last one saying so. */
  for (size_t off = 0; off < len; off += 60000) {
    size_t n = len - off < 60000 ? len - off : 60000;
    int last = off + n == len;
    ax_pack *part = msg("part", last ? 3 : 2);
    ax_pack_str(part, "id");
    ax_pack_int(part, 1);
    ax_pack_str(part, "data");
    ax_pack_bin(part, bytes + off, n);
    if (last) {
      ax_pack_str(part, "last");
      ax_pack_int(part, 1);
    }
    put(&k, part);
  }
  ax_pack_free(p);
  int nparts = 0;
  ax_data *d = next_whole(&k, &nparts);
  assert_true(nparts >= 4); /* 200 KB in parts of at most 64 KiB */
  expect_type(d, "return");
  assert_int_equal(ax_val_int(ax_val_get(ax_data_root(d), "cid")), 5);
  size_t n = 0;
  const void *v = ax_val_bin(ax_val_get(ax_data_root(d), "value"), &n);
  assert_int_equal(n, LARGE);
  assert_memory_equal(v, blob, LARGE);
  ax_data_free(d);
  free(blob);
  shutdown(k.fd, SHUT_WR);
  assert_null(next(&k));
  assert_int_equal(exit_status(&k), 0);
  assert_int_equal(h_wait_none(2), 0);
}

/* A parent whose hello says nothing of max_msg (one written before parts)
 * gets the same large result whole, in one frame. */
static void test_no_parts_to_a_parent_that_did_not_ask(void **state) {
  (void)state;
  h_begin(60);
  kid k = booted_kid();
  unsigned char *blob;
  put(&k, large_echo(6, &blob));
  ax_data *d = next(&k);
  if (!strcmp(str_of(d, "t"), "start_ack")) {
    ax_data_free(d);
    d = next(&k);
  }
  expect_type(d, "return");
  size_t n = 0;
  const void *v = ax_val_bin(ax_val_get(ax_data_root(d), "value"), &n);
  assert_int_equal(n, LARGE);
  assert_memory_equal(v, blob, LARGE);
  ax_data_free(d);
  free(blob);
  shutdown(k.fd, SHUT_WR);
  assert_null(next(&k));
  assert_int_equal(exit_status(&k), 0);
  assert_int_equal(h_wait_none(2), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_boot_call_cancel),
      cmocka_unit_test(test_max_frame_below_minimum),
      cmocka_unit_test(test_start_before_spawn),
      cmocka_unit_test(test_eof_after_boot),
      cmocka_unit_test(test_sigterm_after_boot),
      cmocka_unit_test(test_cancelled_call_says_what_it_was_doing),
      cmocka_unit_test(test_context_started_then_cancelled),
      cmocka_unit_test(test_stream_as_documented),
      cmocka_unit_test(test_generator_stream),
      cmocka_unit_test(test_stream_value_beyond_the_window),
      cmocka_unit_test(test_stream_credit_saturates),
      cmocka_unit_test(test_wrong_parent_pid),
      cmocka_unit_test(test_no_spawn_in_time),
      cmocka_unit_test(test_reaping_told_to_a_parent_that_asked),
      cmocka_unit_test(test_no_reaping_to_a_parent_that_did_not_ask),
      cmocka_unit_test(test_large_messages_in_parts),
      cmocka_unit_test(test_cancel_ack_after_the_parts),
      cmocka_unit_test(test_no_parts_to_a_parent_that_did_not_ask),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

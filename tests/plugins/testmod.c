/* testmod.c - the plugin the integration tests run in their actors: plain
 * functions (libffi), ABI functions that spawn, fail, sleep, crash,
 * misbehave on the wire or run out of memory. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "axle.h"

static double add(double a, double b) { return a + b; }
static int mul(int a, int b) { return a * b; }
static int c_sleep(int seconds) { return (int)sleep((unsigned)seconds); }
/* The sanitizer build must crash here too, not report and exit. */
__attribute__((no_sanitize_undefined)) static int read_at(int64_t addr) {
  return *(volatile int *)(intptr_t)addr;
}
/* Open the FIFO gate, say "started" with a byte into the FIFO ready, then
 * block reading gate until the test writes there: a plain function the
 * test knows to be running, and holds as long as it likes. The test keeps
 * both FIFOs open, so neither open blocks. */
static int block_on(const char *ready, const char *gate) {
  int g = open(gate, O_RDONLY | O_CLOEXEC);
  int r = open(ready, O_WRONLY | O_CLOEXEC);
  char c = 1;
  ssize_t n = -1;
  if (g >= 0 && r >= 0 && write(r, &c, 1) == 1) n = read(g, &c, 1);
  if (r >= 0) close(r);
  if (g >= 0) close(g);
  return (int)n;
}
static const char *greet(const char *who) {
  static __thread char buf[128];
  snprintf(buf, sizeof buf, "hello %s", who);
  return buf;
}

static const char *str_arg(const ax_val *args, const char *key,
                           const char *dflt) {
  const char *s = ax_val_str(ax_val_get(args, key), NULL);
  return s ? s : dflt;
}

static int64_t int_arg(const ax_val *args, const char *key, int64_t dflt) {
  const ax_val *v = ax_val_get(args, key);
  return v ? ax_val_int(v) : dflt;
}

static int pid(ax_ctx *ctx, const ax_val *args) {
  (void)args;
  ax_pack *p = ax_pack_new();
  ax_pack_int(p, getpid());
  return ax_ctx_return(ctx, p);
}

/* Calls of echo this actor has started: a test tells by it whether a
 * call it made had reached the actor. */
static int64_t echoes;

static int echo(ax_ctx *ctx, const ax_val *args) {
  echoes++;
  return ax_ctx_return_val(ctx, ax_val_get(args, "value"));
}

static int echo_count(ax_ctx *ctx, const ax_val *args) {
  (void)args;
  ax_pack *p = ax_pack_new();
  ax_pack_int(p, echoes);
  return ax_ctx_return(ctx, p);
}

/* The sum of the integers in the array `values`; anything but an array
 * is refused, as a careful C function does. */
static int sum(ax_ctx *ctx, const ax_val *args) {
  const ax_val *values = ax_val_get(args, "values");
  if (ax_val_type(values) != AX_T_ARRAY)
    return ax_ctx_fail(ctx, "TypeError", "sum(): values must be an array");
  int64_t total = 0;
  for (uint32_t i = 0; i < ax_val_len(values); i++)
    total += ax_val_int(ax_val_at(values, i));
  ax_pack *p = ax_pack_new();
  ax_pack_int(p, total);
  return ax_ctx_return(ctx, p);
}

/* Fail, after `delay` seconds that no cancellation cuts short, so that
 * several children can be made to fail together. */
static int fail(ax_ctx *ctx, const ax_val *args) {
  double delay = ax_val_float(ax_val_get(args, "delay"));
  if (delay > 0) {
    ax_scope *s = ax_scope_open(AX_FOREVER);
    ax_scope_shield(s, 1);
    ax_sleep(delay);
    ax_scope_close(s);
  }
  return ax_ctx_fail(ctx, str_arg(args, "type", "ValueError"), "%s",
                     str_arg(args, "message", "boom"));
}

/* Sleep in a task (cancellable) for `seconds`, then return "slept". */
static int nap(ax_ctx *ctx, const ax_val *args) {
  int rc = ax_sleep(ax_val_float(ax_val_get(args, "seconds")));
  if (rc < 0) return rc;
  ax_pack *p = ax_pack_new();
  ax_pack_str(p, "slept");
  return ax_ctx_return(ctx, p);
}

/* A context function: mode says how it behaves around started(x + 1).
 * "ok" returns x + 2 after `seconds`; "fail_before" and "fail_after"
 * fail before or after started; "return_early" returns without started;
 * "twice" calls started twice and returns the second call's code;
 * "forever" sleeps until cancelled after started, "sleep_before" before
 * it. */
static int ctx_inc(ax_ctx *ctx, const ax_val *args) {
  int64_t x = int_arg(args, "x", 0);
  const char *mode = str_arg(args, "mode", "ok");
  if (!strcmp(mode, "fail_before"))
    return ax_ctx_fail(ctx, "ValueError", "failed before started");
  if (!strcmp(mode, "return_early")) return 0;
  if (!strcmp(mode, "sleep_before")) return ax_sleep(1e9);
  ax_pack *p = ax_pack_new();
  ax_pack_int(p, x + 1);
  int rc = ax_ctx_started(ctx, p);
  if (rc < 0) return rc;
  ax_pack *r = ax_pack_new();
  if (!strcmp(mode, "twice")) {
    ax_pack *again = ax_pack_new();
    ax_pack_int(again, x + 1);
    ax_pack_int(r, ax_ctx_started(ctx, again));
    return ax_ctx_return(ctx, r);
  }
  if (!strcmp(mode, "fail_after")) {
    ax_pack_free(r);
    return ax_ctx_fail(ctx, "ValueError", "failed after started");
  }
  if (!strcmp(mode, "forever")) {
    rc = ax_sleep(1e9);
    ax_pack_free(r);
    return rc;
  }
  rc = ax_sleep(ax_val_float(ax_val_get(args, "seconds")));
  if (rc < 0) {
    ax_pack_free(r);
    return rc;
  }
  ax_pack_int(r, x + 2);
  return ax_ctx_return(ctx, r);
}

/* A context with a stream (docs/PROTOCOL.md's example): started(0),
 * sends 1..n, then takes values from the caller until one is the string
 * "done" (counting the others), and returns n + 1 + that count. With
 * mode "echo": sends back every value it takes until the caller's stop,
 * and returns how many. With mode "flood": sends n values without
 * waiting for anything, then returns n. */
static int counter(ax_ctx *ctx, const ax_val *args) {
  int64_t n = int_arg(args, "n", 0);
  const char *mode = str_arg(args, "mode", "count");
  ax_pack *p = ax_pack_new();
  ax_pack_int(p, 0);
  int rc = ax_ctx_started(ctx, p);
  ax_stream *s;
  if (rc == 0) rc = ax_ctx_open_stream(ctx, NULL, &s);
  if (rc < 0) return rc;
  int64_t extra = 0;
  if (!strcmp(mode, "echo")) {
    ax_data *v;
    while ((rc = ax_stream_recv(s, &v, NULL)) == 0) {
      ax_pack *back = ax_pack_new();
      ax_pack_val(back, ax_data_root(v));
      ax_data_free(v);
      if ((rc = ax_stream_send(s, back)) < 0) return rc;
      extra++;
    }
    if (rc != AX_ECLOSED) return rc;
    ax_pack *r = ax_pack_new();
    ax_pack_int(r, extra);
    return ax_ctx_return(ctx, r);
  }
  for (int64_t i = 1; i <= n; i++) {
    ax_pack *v = ax_pack_new();
    ax_pack_int(v, i);
    if ((rc = ax_stream_send(s, v)) < 0) return rc;
  }
  if (strcmp(mode, "flood")) {
    for (;;) {
      ax_data *v;
      if ((rc = ax_stream_recv(s, &v, NULL)) < 0) return rc;
      const char *str = ax_val_str(ax_data_root(v), NULL);
      int done = str && !strcmp(str, "done");
      ax_data_free(v);
      if (done) break;
      extra++;
    }
  }
  ax_pack *r = ax_pack_new();
  ax_pack_int(r, !strcmp(mode, "flood") ? n : n + 1 + extra);
  return ax_ctx_return(ctx, r);
}

/* A generator (opened with ax_portal_open_stream_from): sends 1..n. */
static int gen(ax_ctx *ctx, const ax_val *args) {
  if (ax_ctx_is_context(ctx) != 2)
    return ax_ctx_fail(ctx, "UsageError", "gen is a generator");
  ax_stream *s;
  int rc = ax_ctx_open_stream(ctx, NULL, &s);
  for (int64_t i = 1; rc == 0 && i <= int_arg(args, "n", 0); i++) {
    ax_pack *v = ax_pack_new();
    ax_pack_int(v, i);
    rc = ax_stream_send(s, v);
  }
  return rc;
}

/* Whether this call is a context: started where it is not one fails. */
static int not_ctx(ax_ctx *ctx, const ax_val *args) {
  (void)args;
  ax_pack *r = ax_pack_new();
  ax_pack_int(r, ax_ctx_is_context(ctx) * 1000 + ax_ctx_started(ctx, NULL));
  return ax_ctx_return(ctx, r);
}

/* Block the actor's loop thread itself: only signals can stop this. */
static int hog_loop(ax_ctx *ctx, const ax_val *args) {
  (void)ctx;
  /* Signals interrupt sleep(); a stuck loop is stuck regardless. */
  double end = ax_now() + (double)int_arg(args, "seconds", 60);
  while (ax_now() < end) sleep(1);
  return 0;
}

/* A failing chain: at depth 0 fail; above, run `chain` one level deeper
 * in a one-shot child and re-raise what comes back. */
static int chain(ax_ctx *ctx, const ax_val *args) {
  int64_t depth = int_arg(args, "depth", 0);
  if (depth <= 0)
    return ax_ctx_fail(ctx, "ValueError", "bottom of the chain");
  ax_nursery *n;
  int rc = ax_nursery_open(&n);
  if (rc < 0) return rc;
  ax_spawn_opts o = {.size = sizeof o, .module = ax_ctx_module(ctx)};
  ax_pack *kw = ax_pack_new();
  ax_pack_map(kw, 1);
  ax_pack_str(kw, "depth");
  ax_pack_int(kw, depth - 1);
  ax_data *kwargs;
  ax_pack_finish(kw, &kwargs);
  char name[64];
  snprintf(name, sizeof name, "level%lld", (long long)depth - 1);
  ax_portal *p;
  ax_error *err = NULL;
  rc = ax_run_in_actor(n, name, &o, "chain", kwargs, &p, &err);
  ax_data_free(kwargs);
  ax_error_free(err);
  err = NULL;
  ax_nursery_close(n, &err);
  if (err) return ax_ctx_raise(ctx, err);
  return rc;
}

/* The nursery leave_open leaves open. The runtime cancels it, but only
 * its owner can free it (axle.h, ax_nursery_open), and this one never
 * does: held here, it is the documented leftover, not a leak that the
 * sanitizer build's leak check must report at exit. */
static ax_nursery *left_open;

/* Start a daemon child running testmod and return without closing its
 * nursery: a user's mistake, which must not keep the process alive. */
static int leave_open(ax_ctx *ctx, const ax_val *args) {
  (void)args;
  ax_nursery *n;
  int rc = ax_nursery_open(&n);
  if (rc < 0) return rc;
  left_open = n;
  ax_spawn_opts o = {.size = sizeof o, .module = ax_ctx_module(ctx)};
  ax_portal *p;
  ax_error *err = NULL;
  rc = ax_start_actor(n, "left", &o, &p, &err);
  if (rc < 0) return ax_ctx_raise(ctx, err);
  ax_pack *r = ax_pack_new();
  ax_pack_int(r, ax_portal_pid(p));
  return ax_ctx_return(ctx, r);
}

/* A tree: `fanout` daemon children each running `tree` one level down,
 * then sleep until cancelled. Reports "ready" through nothing: the test
 * counts processes. */
static int tree(ax_ctx *ctx, const ax_val *args) {
  int64_t depth = int_arg(args, "depth", 0);
  int64_t fanout = int_arg(args, "fanout", 3);
  ax_nursery *n;
  int rc = ax_nursery_open(&n);
  if (rc < 0) return rc;
  ax_spawn_opts o = {.size = sizeof o, .module = ax_ctx_module(ctx)};
  for (int64_t i = 0; depth > 0 && i < fanout && rc == 0; i++) {
    ax_pack *kw = ax_pack_new();
    ax_pack_map(kw, 2);
    ax_pack_str(kw, "depth");
    ax_pack_int(kw, depth - 1);
    ax_pack_str(kw, "fanout");
    ax_pack_int(kw, fanout);
    ax_data *kwargs;
    ax_pack_finish(kw, &kwargs);
    char name[64];
    snprintf(name, sizeof name, "t%lld_%lld", (long long)depth, (long long)i);
    ax_portal *p;
    rc = ax_run_in_actor(n, name, &o, "tree", kwargs, &p, NULL);
    ax_data_free(kwargs);
  }
  if (rc == 0) rc = ax_sleep(1e9);
  ax_nursery_cancel(n);
  ax_nursery_close(n, NULL);
  return rc;
}

/* Run func of another module (any language) in a one-shot child and hand
 * back its result or its error: a C actor in the middle of a tree. */
static int relay_call(ax_ctx *ctx, const ax_val *args) {
  ax_nursery *n;
  int rc = ax_nursery_open(&n);
  if (rc < 0) return rc;
  ax_spawn_opts o = {.size = sizeof o, .module = str_arg(args, "module", "")};
  ax_portal *p;
  ax_data *r = NULL;
  ax_error *err = NULL;
  rc = ax_run_in_actor(n, "grandchild", &o, str_arg(args, "func", "main"),
                       NULL, &p, &err);
  if (rc == 0) rc = ax_portal_result(p, &r, &err);
  ax_error *cerr = NULL;
  ax_nursery_close(n, &cerr);
  if (!err) err = cerr;
  else ax_error_free(cerr);
  if (rc < 0 || err) {
    ax_data_free(r);
    return err ? ax_ctx_raise(ctx, err) : rc;
  }
  rc = ax_ctx_return_val(ctx, ax_data_root(r));
  ax_data_free(r);
  return rc;
}

/* Write bytes that are not a frame into our parent channel (fd 3),
 * bypassing the runtime, to check how the parent copes. */
static int garbage(ax_ctx *ctx, const ax_val *args) {
  (void)ctx;
  const char *kind = str_arg(args, "kind", "malformed");
  if (!strcmp(kind, "truncated")) {
    static const unsigned char part[] = {0, 0, 0, 100, 0x82, 0xa1};
    if (write(3, part, sizeof part) < 0) return AX_EIO;
    _exit(0);
  }
  if (!strcmp(kind, "oversized")) {
    static const unsigned char big[] = {0x7f, 0xff, 0xff, 0xff, 0x80};
    if (write(3, big, sizeof big) < 0) return AX_EIO;
  } else {
    static const unsigned char bad[] = {0, 0, 0, 3, 0xc1, 0xc1, 0xc1};
    if (write(3, bad, sizeof bad) < 0) return AX_EIO;
  }
  return 0;
}

/* Fail with an error whose message, traceback or both (`where`) take
 * `bytes` bytes: more than a frame holds. The text starts with "BEGIN". */
static int fail_big(ax_ctx *ctx, const ax_val *args) {
  size_t n = (size_t)int_arg(args, "bytes", 17 << 20);
  const char *where = str_arg(args, "where", "message");
  char *big = malloc(n + 6);
  if (!big) return AX_ENOMEM;
  memcpy(big, "BEGIN", 5);
  memset(big + 5, 'x', n);
  big[n + 5] = 0;
  int msg = strcmp(where, "traceback") != 0;
  ax_error *e = ax_error_new(str_arg(args, "type", "ValueError"), "%s",
                             msg ? big : "small");
  if (e && strcmp(where, "message") != 0) ax_error_set_traceback(e, big);
  free(big);
  return ax_ctx_raise(ctx, e);
}

/* Fail with an error carrying an info (the application's own fields):
 * {"code": code, "detail": {"where": [1, "two"]}}, fields named like an
 * error's own ("message", "src"), one no Lua integer holds ("huge"), one
 * under an integer key, and with `bytes`, a string "big" of that many
 * bytes. */
static int fail_info(ax_ctx *ctx, const ax_val *args) {
  size_t big = (size_t)int_arg(args, "bytes", 0);
  ax_pack *p = ax_pack_new();
  ax_pack_map(p, big ? 7 : 6);
  ax_pack_str(p, "code");
  ax_pack_int(p, int_arg(args, "code", 7));
  ax_pack_str(p, "detail");
  ax_pack_map(p, 1);
  ax_pack_str(p, "where");
  ax_pack_array(p, 2);
  ax_pack_int(p, 1);
  ax_pack_str(p, "two");
  ax_pack_str(p, "message");
  ax_pack_str(p, "not the message");
  ax_pack_str(p, "src");
  ax_pack_str(p, "not the source");
  ax_pack_str(p, "huge");
  ax_pack_uint(p, UINT64_MAX);
  ax_pack_int(p, 1);
  ax_pack_str(p, "under an integer key");
  if (big) {
    char *b = malloc(big);
    if (!b) {
      ax_pack_free(p);
      return AX_ENOMEM;
    }
    memset(b, 'z', big);
    ax_pack_str(p, "big");
    ax_pack_strn(p, b, big);
    free(b);
  }
  ax_data *info = NULL;
  int rc = ax_pack_finish(p, &info);
  if (rc < 0) return rc;
  ax_error *e = ax_error_new(str_arg(args, "type", "ValueError"), "%s",
                             str_arg(args, "message", "it failed"));
  if (e) rc = ax_error_set_info(e, info);
  ax_data_free(info);
  if (rc < 0) {
    ax_error_free(e);
    return rc;
  }
  return ax_ctx_raise(ctx, e);
}

/* Return a string of `bytes` bytes. */
static int big_result(ax_ctx *ctx, const ax_val *args) {
  size_t n = (size_t)int_arg(args, "bytes", 17 << 20);
  char *big = malloc(n);
  if (!big) return AX_ENOMEM;
  memset(big, 'y', n);
  ax_pack *p = ax_pack_new();
  ax_pack_strn(p, big, n);
  free(big);
  return ax_ctx_return(ctx, p);
}

/* Write all of b to fd 3, non-blocking as the runtime set it. */
static int write_all(const uint8_t *b, size_t n) {
  while (n > 0) {
    ssize_t w = write(3, b, n);
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      struct pollfd p = {3, POLLOUT, 0};
      poll(&p, 1, 1000);
      continue;
    }
    if (w <= 0) return AX_EIO;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Wedge the actor for `seconds`: its loop thread blocks SIGTERM and
 * sleeps, after saying "wedged PID" on stdout, so that neither a cancel
 * request nor SIGTERM reaches it: only SIGKILL ends it. */
static int wedge_for(int64_t seconds) {
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, NULL);
  char line[32];
  int n = snprintf(line, sizeof line, "wedged %d\n", (int)getpid());
  if (write(1, line, (size_t)n) != n) return AX_EIO;
  double end = ax_now() + (double)seconds;
  while (ax_now() < end) sleep(1);
  return 0;
}

static int wedge(ax_ctx *ctx, const ax_val *args) {
  (void)ctx;
  return wedge_for(int_arg(args, "seconds", 60));
}

/* Write `reaping {time}` straight into the parent channel (fd 3), as a
 * child that lies about its teardown could; then wedge for `seconds`, if
 * given. */
static int say_reaping(ax_ctx *ctx, const ax_val *args) {
  (void)ctx;
  ax_pack *p = ax_pack_new();
  ax_pack_map(p, 2);
  ax_pack_str(p, "t");
  ax_pack_str(p, "reaping");
  ax_pack_str(p, "time");
  ax_pack_float(p, ax_val_float(ax_val_get(args, "time")));
  size_t len;
  const uint8_t *body = ax_pack_bytes(p, &len);
  uint8_t head[4] = {0, 0, 0, (uint8_t)len};
  int rc = write_all(head, 4);
  if (rc == 0) rc = write_all(body, len);
  ax_pack_free(p);
  int64_t seconds = int_arg(args, "seconds", 0);
  return rc == 0 && seconds > 0 ? wedge_for(seconds) : rc;
}

/* Write a crafted `error` frame for our caller's call `cid` straight into
 * the parent channel (fd 3), as a hostile actor could: an error map whose
 * `key` ("relay", "members" or an unknown one) holds an array of `count`
 * items (nils, or empty maps for "members"); by default as many as a
 * frame of `bytes` bytes holds. */
static int bad_error(ax_ctx *ctx, const ax_val *args) {
  (void)ctx;
  const char *key = str_arg(args, "key", "relay");
  size_t bytes = (size_t)int_arg(args, "bytes", 16 << 20);
  int64_t count = int_arg(args, "count", (int64_t)bytes - 96);
  int maps = !strcmp(key, "members");
  ax_pack *p = ax_pack_new();
  ax_pack_map(p, 3);
  ax_pack_str(p, "t");
  ax_pack_str(p, "error");
  ax_pack_str(p, "cid");
  ax_pack_int(p, int_arg(args, "cid", 1));
  ax_pack_str(p, "error");
  ax_pack_map(p, 3);
  ax_pack_str(p, "type");
  ax_pack_str(p, "ValueError");
  ax_pack_str(p, "message");
  ax_pack_str(p, "crafted");
  ax_pack_str(p, key);
  ax_pack_array(p, (uint32_t)count);
  for (int64_t i = 0; i < count; i++) {
    if (maps)
      ax_pack_map(p, 0);
    else
      ax_pack_nil(p);
  }
  size_t len;
  const uint8_t *body = ax_pack_bytes(p, &len);
  uint8_t head[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16),
                     (uint8_t)(len >> 8), (uint8_t)len};
  int rc = write_all(head, 4);
  if (rc == 0) rc = write_all(body, len);
  ax_pack_free(p);
  return rc;
}

/* The failing allocator (failmalloc.c), when it is preloaded: arm it to
 * let `after` more allocations through, then fail them. The reply of this
 * call is already on the path under test. */
static int oom_arm(ax_ctx *ctx, const ax_val *args) {
  void *sym = dlsym(RTLD_DEFAULT, "axt_failmalloc_arm");
  if (!sym) return ax_ctx_fail(ctx, "RuntimeError", "failmalloc not loaded");
  void (*arm)(long);
  memcpy(&arm, &sym, sizeof arm);
  arm((long)int_arg(args, "after", 0));
  return 0;
}

/* How many allocations the failing allocator failed since it was armed. */
static int oom_failed(ax_ctx *ctx, const ax_val *args) {
  (void)args;
  void *sym = dlsym(RTLD_DEFAULT, "axt_failmalloc_failed");
  if (!sym) return ax_ctx_fail(ctx, "RuntimeError", "failmalloc not loaded");
  long (*failed)(void);
  memcpy(&failed, &sym, sizeof failed);
  ax_pack *p = ax_pack_new();
  ax_pack_int(p, failed());
  return ax_ctx_return(ctx, p);
}

static const ax_export exports[] = {
    {.name = "add", .sig = "d(dd)", .args = "a,b", .fn = (ax_plain_fn)add},
    {.name = "mul", .sig = "i(ii)", .args = "a,b", .fn = (ax_plain_fn)mul},
    {.name = "c_sleep", .sig = "i(i)", .args = "seconds",
     .fn = (ax_plain_fn)c_sleep},
    {.name = "read_at", .sig = "i(l)", .args = "addr",
     .fn = (ax_plain_fn)read_at},
    {.name = "greet", .sig = "s(s)", .args = "who", .fn = (ax_plain_fn)greet},
    {.name = "block_on", .sig = "i(ss)", .args = "ready,gate",
     .fn = (ax_plain_fn)block_on},
    /* Plain functions exported without their signature, or function. */
    {.name = "nosig", .fn = (ax_plain_fn)add},
    {.name = "nofn", .sig = "d(dd)", .args = "a,b"},
    {.name = "pid", .ctx_fn = pid},
    {.name = "ctx_inc", .ctx_fn = ctx_inc},
    {.name = "not_ctx", .ctx_fn = not_ctx},
    {.name = "counter", .ctx_fn = counter},
    {.name = "gen", .ctx_fn = gen},
    {.name = "echo", .ctx_fn = echo},
    {.name = "echo_count", .ctx_fn = echo_count},
    {.name = "sum", .ctx_fn = sum},
    {.name = "fail", .ctx_fn = fail},
    {.name = "nap", .ctx_fn = nap},
    {.name = "hog_loop", .ctx_fn = hog_loop},
    {.name = "wedge", .ctx_fn = wedge},
    {.name = "say_reaping", .ctx_fn = say_reaping},
    {.name = "chain", .ctx_fn = chain},
    {.name = "leave_open", .ctx_fn = leave_open},
    {.name = "tree", .ctx_fn = tree},
    {.name = "garbage", .ctx_fn = garbage},
    {.name = "relay_call", .ctx_fn = relay_call},
    {.name = "fail_big", .ctx_fn = fail_big},
    {.name = "fail_info", .ctx_fn = fail_info},
    {.name = "big_result", .ctx_fn = big_result},
    {.name = "bad_error", .ctx_fn = bad_error},
    {.name = "oom_arm", .ctx_fn = oom_arm},
    {.name = "oom_failed", .ctx_fn = oom_failed},
    {0},
};

AX_PLUGIN_EXPORT const ax_module_def axle_module = {AX_MODULE_ABI, "testmod",
                                                   exports};

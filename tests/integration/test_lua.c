/* test_lua.c - Lua actors: the examples, and trees that mix Lua and C. */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define AXLE AXLE_HOST_PATH
#define LUA_EX(name) AXLE_SOURCE_DIR "/examples/lua/" name ".lua"
/* memcheck, quiet but for errors, minus the dynamic loader's own. */
#define VALGRIND \
  "valgrind -q --suppressions=" AXLE_SOURCE_DIR "/tests/valgrind.supp "

/* An expired deadline is an uncaught error like any other: exit status
 * 1, not 130 as for Ctrl-C; and it says which deadline, set where. */
static void test_expired_deadline_exits_1(void **state) {
  (void)state;
  h_expect(AXLE " run " AXLE_SOURCE_DIR "/tests/lua/deadline.lua 2>&1", 1,
           "Cancelled: the deadline of cancel_scope(0.05) set at ");
  assert_non_null(strstr(h_out, "deadline.lua:10 expired\n"));
  h_expect(AXLE " run " AXLE_SOURCE_DIR "/tests/lua/deadline.lua too_slow "
           "2>&1", 1, "TooSlowError: the deadline of fail_after(0.05) set at ");
  assert_non_null(strstr(h_out, "deadline.lua:15 expired\n"));
}

static void test_cellar_door(void **state) {
  (void)state;
  h_expect(AXLE " run " LUA_EX("cellar_door"), 0, "Dang that's beautiful\n");
}

static void test_bidir_streaming(void **state) {
  (void)state;
  h_expect(AXLE " run " LUA_EX("bidir_streaming"), 0,
           "started with 11\n10 round trips\nthe callee answered 10 pings\n");
  h_expect(LUA_PRELOAD "LUA_CPATH='" LUA_BINDING_DIR "/?.so' lua5.4 " LUA_EX(
               "bidir_streaming"),
           0, "started with 11\n10 round trips\n");
}

/* The streaming examples: an aggregator over two streamers, an endless
 * stream cut short, a C context function with a Lua consumer. */
static void test_streaming_examples(void **state) {
  (void)state;
  h_expect(AXLE " run " LUA_EX("full_streaming_service"), 0,
           "got 0..999: 1000 unique values in order\nstream time: ");
  h_expect(AXLE " run " LUA_EX("stream_forever"), 0,
           "streamed for 1 s, then moved on\n");
  h_expect(AXLE " run " LUA_EX("stream_squares") " main plugin=c:" AXLE_BUILD_DIR
           "/examples/c/stream_squares.so",
           0, "streaming 5 squares from C\n1 4 9 16 25\nsum 55\n");
}

/* Streams between Lua actors (tests/lua/streams.lua prints a line per
 * part it checked). */
static void test_streams(void **state) {
  (void)state;
  h_expect(AXLE " run " AXLE_SOURCE_DIR "/tests/lua/streams.lua 2>&1", 0,
           "both ways ok\nlate receiver ok\nproducer error ok\nbreak ok\n"
           "cancel ok\nlarge values ok\nnever opened ok\nmisuse ok\n"
           "streams ok\n");
}

/* tractor's context and stream semantics: who errors or cancels x stream
 * opened x callee returning early, a caller that never opens its stream,
 * a consumer actor cancelled mid-stream (its producer is cancelled),
 * the producer killed (SIGKILL: ActorCrashed) or terminated (SIGTERM:
 * ContextCancelled naming it) mid-stream (tests/lua/ctx_scenarios.lua).
 * The SIGTERM case lost the producer's last error before a channel that
 * failed a write read what the peer had sent. */
static void test_context_scenarios(void **state) {
  (void)state;
  h_expect(AXLE " run " AXLE_SOURCE_DIR "/tests/lua/ctx_scenarios.lua 2>&1", 0,
           "never opened ok\nclosed by another task ok\n"
           "own cancel on a stream ok\n"
           "consumer cancelled: producer Cancelled\n"
           "SIGKILL mid-stream: ActorCrashed\n"
           "SIGTERM mid-stream: ContextCancelled\nall scenarios ok\n");
  assert_null(strstr(h_out, "FAILED"));
}

/* Broadcast: several tasks subscribed to one stream; a laggard gets
 * Lagged (tests/lua/broadcast.lua). */
static void test_broadcast(void **state) {
  (void)state;
  h_expect(AXLE " run " AXLE_SOURCE_DIR "/tests/lua/broadcast.lua 2>&1", 0,
           "fan-out ok\nmisuse ok\nlagged ok\nbroadcast ok\n");
}

/* One-way streams from generators (tests/lua/generators.lua). */
static void test_generators(void **state) {
  (void)state;
  h_expect(AXLE " run " AXLE_SOURCE_DIR "/tests/lua/generators.lua 2>&1", 0,
           "yield ok\niterator ok\nbreak ok\nerror ok\nmisuse ok\n"
           "generators ok\n");
}

static void test_movie_theatre(void **state) {
  (void)state;
  h_expect(AXLE " run " LUA_EX("movie_theatre"), 0,
             "have you ever seen a portal?\nhave you ever seen a portal?\n");
}

static void test_remote_error(void **state) {
  (void)state;
  h_expect(AXLE " run " LUA_EX("remote_error") " 2>&1", 0,
             "assertion failed!");
  assert_non_null(strstr(h_out, "in actor 'errorer'"));
  assert_non_null(strstr(h_out, "caught LuaError from actor 'errorer'"));
  assert_non_null(strstr(h_out, "remote_error.lua:13:")); /* Lua traceback */
}

static void test_single_func(void **state) {
  (void)state;
  h_expect(AXLE " run " LUA_EX("single_func"), 0, "Collected subproc ");
}

static void test_we_are_processes(void **state) {
  (void)state;
  h_expect(AXLE " run " LUA_EX("we_are_processes"), 0,
             "self-destruct in 1 sec...\nZombies Contained\n");
}

static void test_worker_pool(void **state) {
  (void)state;
  h_expect(AXLE " run " LUA_EX("worker_pool"), 0,
             "1099726899285419 is prime: false\n"
             "all answers match the serial computation\n");
  assert_non_null(strstr(h_out, "112582705942171 is prime: true\n"));
}

/* kill -9 of the root while its Lua workers sleep: none alive 1 s later. */
static void test_sigkill_of_lua_root(void **state) {
  (void)state;
  h_begin(60);
  char *argv[] = {AXLE, "run", LUA_EX("we_are_processes"), NULL};
  pid_t root = h_spawn(argv);
  assert_true(root > 0);
  /* The root and at least one worker per CPU; take them while asleep. */
  assert_true(h_wait_at_least(3, 10) >= 3);
  kill(root, SIGKILL);
  waitpid(root, NULL, 0);
  usleep(1000 * 1000);
  h_reap();
  assert_int_equal(h_alive(), 0);
}

static void test_lua_root_c_child_lua_grandchild(void **state) {
  (void)state;
  const char *script = AXLE_SOURCE_DIR "/tests/lua/cross.lua";
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s run %s main testmod=%s self=lua:%s 2>&1",
           AXLE, script, AXT_TESTMOD, script);
  h_expect(cmd, 0, "3.0\n0\t6\nhi from grandchild\n");
  assert_non_null(strstr(h_out, "LuaError\tgrandchild\t3\n"));
  assert_non_null(strstr(h_out, "hop\tgrandchild\nhop\tcchild\nhop\troot\n"));
}

/* Values of every shape cross and come back equal; a portal's fields;
 * arguments that are not a table are refused at the call, and the actor
 * keeps serving; a portal outlives its nursery as a readable handle. */
static void test_values_and_portals(void **state) {
  (void)state;
  /* A long grace: a child slow to exit on a loaded machine is not what
   * this test is about. Only stdout is compared. */
  h_expect("AXLE_GRACE=30 " AXLE " run " AXLE_SOURCE_DIR
           "/tests/lua/values.lua after",
           0,
           "empty\ttrue\nmap15\ttrue\nmap16\ttrue\nmap300\ttrue\n"
           "map70000\ttrue\narray20\ttrue\narray70000\ttrue\n"
           "scalars\ttrue\nstrings\ttrue\nnested\ttrue\n"
           "mixed keys\ttrue\n"
           "several\t1\tnil\tx\nnone\tnil\n{} args\t1\ttable\n"
           "name\techo\tinteger\ttrue\tstring\tnil\n"
           "scalar args\tfalse\ttrue\nstill serving\ttrue\n"
           "not a portal\tfalse\ttrue\n"
           "after close\techo\nrun after close\tfalse\ttrue\n");
}

/* Strings larger than a frame go to a Lua actor and back whole; one
 * larger than the maximum message size is refused with MessageTooLarge,
 * and the actor keeps serving. */
static void test_large_strings_between_lua_actors(void **state) {
  (void)state;
  h_expect(AXLE " run " AXLE_SOURCE_DIR "/tests/lua/large.lua main", 0,
           "20 MiB echo\t20971520\ttrue\n"
           "20 MiB result\t20971520\n"
           "too large\tfalse\tMessageTooLarge\ttrue\n"
           "still serving\t3\n");
}

static void test_scopes_tasks_and_busy_cancel(void **state) {
  (void)state;
  /* With a grace of 30 s, a busy child that only stopped at the ladder's
   * SIGTERM would show in the log (at info level), however loaded the
   * machine. */
  h_expect("AXLE_GRACE=30 AXLE_LOG=info " AXLE " run " AXLE_SOURCE_DIR
           "/tests/lua/scopes.lua 2>&1",
           0, "scopes ok\nscope forms ok\ntasks ok\n");
  /* The busy child unwound through its <close> handler at the cancel
   * request itself: the ladder never had to send SIGTERM, let alone
   * SIGKILL. */
  assert_non_null(strstr(h_out, "spin unwound"));
  assert_non_null(strstr(h_out, "busy child stopped"));
  assert_null(strstr(h_out, "did not stop in time"));
  assert_null(strstr(h_out, "SIGKILL"));
}

/* A daemon nobody cancelled: its nursery's close waits for ever, and
 * after a few seconds a warning says for whom and what to do (it waited
 * in silence at the default log level); SIGTERM then ends it all. */
static void test_forgotten_daemon_is_named(void **state) {
  (void)state;
  h_begin(60);
  char *argv[] = {AXLE, "run", AXLE_SOURCE_DIR "/tests/lua/forgot_cancel.lua",
                  NULL};
  int fd;
  pid_t pid = h_spawn_out(argv, &fd);
  assert_true(pid > 0);
  char out[4096] = "";
  int rc = h_read_until(fd, "cancel_actor", 30, out, sizeof out);
  kill(pid, SIGTERM);
  int st;
  assert_int_equal(h_wait_exit(pid, 20, &st), 0);
  close(fd);
  if (rc < 0) fail_msg("no warning:\n%s", out);
  assert_non_null(strstr(out, "still waiting for actor 'forgotten'"));
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 143);
  assert_int_equal(h_wait_none(2), 0);
}

/* A root busy in pure Lua under the stock lua5.4 stops on sig. */
static void busy_stock_root_stops_on(int sig) {
  h_begin(60);
  char *argv[] = {"sh", "-c",
                  "cd / && " LUA_PRELOAD "LUA_CPATH='" LUA_BINDING_DIR
                  "/?.so;;' exec lua5.4 " AXLE_SOURCE_DIR
                  "/tests/lua/stock_busy.lua",
                  NULL};
  int fd;
  pid_t pid = h_spawn_out(argv, &fd);
  assert_true(pid > 0);
  char out[4096] = "";
  assert_int_equal(h_read_until(fd, "spinning\n", 30, out, sizeof out), 0);
  double t0 = ax_now();
  kill(pid, sig);
  int st;
  if (h_wait_exit(pid, 20, &st) < 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("busy root ignored %s", strsignal(sig));
  }
  double took = ax_now() - t0;
  h_read_until(fd, "Cancelled", 5, out, sizeof out);
  close(fd);
  if (!strstr(out, "root unwound\n") || !strstr(out, "Cancelled"))
    fail_msg("after %s (%.2f s):\n%s", strsignal(sig), took, out);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 0);
  assert_int_equal(h_wait_none(2), 0);
}

static void test_busy_stock_root_stops_on_sigterm(void **state) {
  (void)state;
  busy_stock_root_stops_on(SIGTERM);
}

static void test_busy_stock_root_stops_on_sigint(void **state) {
  (void)state;
  busy_stock_root_stops_on(SIGINT);
}

/* The interrupt path under valgrind's memcheck, children included. The
 * sanitizer build has its own allocator, so only the plain build runs it;
 * valgrind lacks pidfd_open, hence the SIGCHLD path. */
static void test_interrupts_under_memcheck(void **state) {
  (void)state;
#if !defined(__SANITIZE_ADDRESS__)
  h_expect("AXLE_NO_PIDFD=1 " VALGRIND "--trace-children=yes "
           "--error-exitcode=99 " AXLE " run " AXLE_SOURCE_DIR
           "/tests/lua/interrupts.lua 2>&1",
           0, "task ok\n");
  assert_non_null(strstr(h_out, "deadline ok\n"));
  assert_non_null(strstr(h_out, "child ok\n"));
  /* valgrind -q speaks only of errors, each line as "==PID== ...". */
  if (strncmp(h_out, "==", 2) == 0 || strstr(h_out, "\n=="))
    fail_msg("memcheck reported:\n%s", h_out);
  assert_non_null(strstr(h_out, "child unwound"));
#endif
}

/* ------------------------------------ bad arguments from a C caller */

#define BAD_VALUES AXLE_SOURCE_DIR "/tests/lua/bad_values.lua"

/* Call and expect a remote error of a type whose message has word. */
static void expect_lua_error(ax_portal *p, const char *func, ax_data *args,
                             const char *type, const char *word) {
  ax_error *e = NULL;
  ax_data *r = NULL;
  int rc = ax_portal_run(p, NULL, func, args, &r, &e);
  ax_data_free(args);
  ax_data_free(r);
  if (rc != AX_EREMOTE || strcmp(ax_error_type(e), type) != 0 ||
      !strstr(ax_error_message(e), word)) {
    char *s = e ? ax_error_format(e) : NULL;
    fail_msg("%s(): rc %d, expected %s mentioning '%s'; got:\n%s", func, rc,
             type, word, s ? s : "(no error)");
  }
  ax_error_free(e);
}

static ax_data *finish_pack(ax_pack *p) {
  ax_data *d = NULL;
  assert_int_equal(ax_pack_finish(p, &d), 0);
  return d;
}

/* {v = {key: 1}} with a key that no Lua table can hold. */
static ax_data *bad_key_args(int nan) {
  ax_pack *p = ax_pack_new();
  ax_pack_map(p, 1);
  ax_pack_str(p, "v");
  ax_pack_map(p, 2);
  ax_pack_str(p, "fine");
  ax_pack_int(p, 2);
  if (nan)
    ax_pack_float(p, NAN);
  else
    ax_pack_nil(p);
  ax_pack_int(p, 1);
  return finish_pack(p);
}

/* n positional nils. */
static ax_data *positional(uint32_t n) {
  ax_pack *p = ax_pack_new();
  ax_pack_array(p, n);
  for (uint32_t i = 0; i < n; i++) ax_pack_nil(p);
  return finish_pack(p);
}

static long long call_int(ax_portal *p, const char *func, ax_data *args) {
  ax_data *r = NULL;
  ax_error *e = NULL;
  int rc = ax_portal_run(p, NULL, func, args, &r, &e);
  ax_data_free(args);
  if (rc < 0) {
    char *s = e ? ax_error_format(e) : NULL;
    fail_msg("%s(): rc %d:\n%s", func, rc, s ? s : "(no error)");
  }
  long long v = ax_val_int(ax_data_root(r));
  ax_data_free(r);
  return v;
}

static int bad_args_body(void *arg) {
  (void)arg;
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  ax_spawn_opts o = {sizeof o, "lua:" BAD_VALUES, NULL, 0, 0, 0};
  assert_int_equal(ax_start_actor(n, "callee", &o, &p, NULL), 0);
  expect_lua_error(p, "echo", bad_key_args(1), "TypeError", "NaN");
  assert_int_equal(call_int(p, "echo", h_kw("i", "v", 7)), 7);
  expect_lua_error(p, "echo", bad_key_args(0), "TypeError", "nil");
  expect_lua_error(p, "count", positional(1000001), "TypeError",
                   "1000001 positional arguments");
  expect_lua_error(p, "no_such_fn", NULL, "FunctionNotFound", "no_such_fn");
  /* An integer above INT64_MAX: no Lua integer holds it. */
  ax_pack *big = ax_pack_new();
  ax_pack_map(big, 1);
  ax_pack_str(big, "v");
  ax_pack_uint(big, UINT64_MAX);
  expect_lua_error(p, "echo", finish_pack(big), "TypeError", "does not fit");
  /* Still serving, positional arguments included. */
  assert_int_equal(call_int(p, "count", positional(3)), 3);
  assert_int_equal(call_int(p, "echo", h_kw("i", "v", 8)), 8);
  assert_int_equal(ax_portal_cancel_actor(p), 0);
  assert_int_equal(ax_nursery_close(n, NULL), 0);
  return 0;
}

/* A map key Lua cannot hold, or more positional arguments than Lua can
 * pass, is the call's error: the Lua actor goes on serving. */
static void test_bad_arguments_to_a_lua_actor(void **state) {
  (void)state;
  h_begin(60);
  assert_int_equal(h_run(0.5, bad_args_body, NULL), 0);
  assert_int_equal(h_wait_none(2), 0);
}

/* ------------------------------------ results as a C caller sees them */

#define VALUES AXLE_SOURCE_DIR "/tests/lua/values.lua"

/* The result of func() in the Lua actor p (the caller frees it). */
static ax_data *lua_result(ax_portal *p, const char *func) {
  ax_data *r = NULL;
  ax_error *e = NULL;
  int rc = ax_portal_run(p, NULL, func, NULL, &r, &e);
  if (rc < 0) {
    char *s = e ? ax_error_format(e) : NULL;
    fail_msg("%s(): rc %d:\n%s", func, rc, s ? s : "(no error)");
  }
  return r;
}

static int results_body(void *arg) {
  (void)arg;
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  ax_spawn_opts o = {sizeof o, "lua:" VALUES, NULL, 0, 0, 0};
  assert_int_equal(ax_start_actor(n, "results", &o, &p, NULL), 0);
  ax_data *r = lua_result(p, "none");
  assert_int_equal(ax_val_type(ax_data_root(r)), AX_T_NIL);
  ax_data_free(r);
  /* Several results: one array of them all, a nil among them kept. */
  r = lua_result(p, "several");
  const ax_val *v = ax_data_root(r);
  assert_int_equal(ax_val_type(v), AX_T_ARRAY);
  assert_int_equal(ax_val_len(v), 3);
  assert_int_equal(ax_val_int(ax_val_at(v, 0)), 1);
  assert_int_equal(ax_val_type(ax_val_at(v, 1)), AX_T_NIL);
  assert_string_equal(ax_val_str(ax_val_at(v, 2), NULL), "x");
  ax_data_free(r);
  r = lua_result(p, "trailing_nil");
  v = ax_data_root(r);
  assert_int_equal(ax_val_type(v), AX_T_ARRAY);
  assert_int_equal(ax_val_len(v), 2);
  assert_int_equal(ax_val_type(ax_val_at(v, 1)), AX_T_NIL);
  ax_data_free(r);
  /* An empty table is an empty array, at the top and inside. */
  r = lua_result(p, "empty");
  assert_int_equal(ax_val_type(ax_data_root(r)), AX_T_ARRAY);
  assert_int_equal(ax_val_len(ax_data_root(r)), 0);
  ax_data_free(r);
  r = lua_result(p, "empty_inside");
  v = ax_data_root(r);
  assert_int_equal(ax_val_type(v), AX_T_MAP);
  assert_int_equal(ax_val_type(ax_val_get(v, "list")), AX_T_ARRAY);
  assert_int_equal(ax_val_len(ax_val_get(v, "list")), 0);
  const ax_val *more = ax_val_get(v, "more");
  assert_int_equal(ax_val_type(more), AX_T_ARRAY);
  assert_int_equal(ax_val_type(ax_val_at(more, 0)), AX_T_ARRAY);
  ax_data_free(r);
  assert_int_equal(ax_portal_cancel_actor(p), 0);
  assert_int_equal(ax_nursery_close(n, NULL), 0);
  return 0;
}

/* A Lua function's results reach a C caller whole: none is nil, several
 * are an array; an empty table is an empty array. */
static void test_lua_results_seen_from_c(void **state) {
  (void)state;
  h_begin(60);
  assert_int_equal(h_run(0.5, results_body, NULL), 0);
  assert_int_equal(h_wait_none(2), 0);
}

#if !defined(__SANITIZE_ADDRESS__)
/* A host that is valgrind's memcheck running axle, in a new folder dir
 * (a mkdtemp template), each process writing its report to a file there;
 * its path goes to host. */
static void memcheck_host(char *dir, char *host, size_t cap) {
  assert_non_null(mkdtemp(dir));
  snprintf(host, cap, "%s/axle", dir);
  FILE *f = fopen(host, "w");
  assert_non_null(f);
  fprintf(f,
          "#!/bin/sh\n"
          "AXLE_NO_PIDFD=1 exec " VALGRIND "--leak-check=full "
          "--show-leak-kinds=definite --errors-for-leak-kinds=definite "
          "--log-file=%s/vg.%%p %s \"$@\"\n",
          dir, AXLE);
  fclose(f);
  assert_int_equal(chmod(host, 0755), 0);
}

/* What the memcheck host's processes reported (valgrind -q writes only
 * errors) into report; dir is removed. Returns how many processes ran. */
static int memcheck_collect(const char *dir, char *report, size_t cap) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *de;
  report[0] = 0;
  int nlogs = 0;
  while ((de = readdir(d))) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    if (strncmp(de->d_name, "vg.", 3) == 0) {
      nlogs++;
      FILE *lf = fopen(path, "r");
      size_t len = strlen(report);
      if (lf) {
        len += fread(report + len, 1, cap - 1 - len, lf);
        report[len] = 0;
        fclose(lf);
      }
    }
    if (de->d_name[0] != '.') unlink(path);
  }
  closedir(d);
  rmdir(dir);
  return nlogs;
}
#endif

/* The same with the Lua actor under memcheck. */
static void test_bad_arguments_under_memcheck(void **state) {
  (void)state;
#if !defined(__SANITIZE_ADDRESS__)
  h_begin(240);
  char dir[] = "/tmp/axle-memcheck-XXXXXX", host[256];
  memcheck_host(dir, host, sizeof host);
  ax_opts o = {.size = sizeof o, .name = "testroot", .grace = 30,
               .host = host};
  assert_int_equal(ax_run(&o, bad_args_body, NULL), 0);
  assert_int_equal(h_wait_none(2), 0);
  char report[8192];
  assert_int_equal(memcheck_collect(dir, report, sizeof report), 1);
  if (report[0]) fail_msg("memcheck reported:\n%s", report);
#endif
}

/* ------------------------- values that cannot cross, from a Lua caller */

#define BAD_VALUES_RUN \
  AXLE " run " BAD_VALUES " main rawvalue=c:" RAWVALUE_PATH " 2>&1"
#define BAD_VALUES_OUT                                                  \
  "cyclic args\ttrue\nlonger cycle\ttrue\ndeep args\ttrue\n"            \
  "32 levels\ttrue\ttrue\n"                                              \
  "cyclic result\ttrue\ndeep result\ttrue\nfunction result\ttrue\n"     \
  "NaN key result\ttrue\nnil key result\ttrue\n"                        \
  "deeper NaN key result\ttrue\nuint64 result\ttrue\ttrue\n"              \
  "still serving\ttrue\ttrue\ttrue\n"                                      \
  "no args\t0\t2\t0\n"

/* A cyclic table is called cyclic; a result Lua cannot hold is an error
 * in the caller; no arguments are none. */
static void test_values_that_cannot_cross(void **state) {
  (void)state;
  h_expect(BAD_VALUES_RUN, 0, BAD_VALUES_OUT);
}

/* The same paths under memcheck, leaks included, children too. */
static void test_values_that_cannot_cross_under_memcheck(void **state) {
  (void)state;
#if !defined(__SANITIZE_ADDRESS__)
  h_expect("AXLE_NO_PIDFD=1 " VALGRIND "--trace-children=yes "
           "--leak-check=full --show-leak-kinds=definite "
           "--errors-for-leak-kinds=definite --error-exitcode=99 " BAD_VALUES_RUN,
           0, BAD_VALUES_OUT);
  if (strncmp(h_out, "==", 2) == 0 || strstr(h_out, "\n=="))
    fail_msg("memcheck reported:\n%s", h_out);
#endif
}

/* ----------------------------------- a module that loops while loading */

/* Run argv, read "looping PID" from it, send sig to PID; the output until
 * the process exits (status in *st) is in out. */
static void signal_looping_load(char *const argv[], int to_root, int sig,
                                int *st, char *out, size_t cap) {
  h_begin(60);
  int fd;
  pid_t pid = h_spawn_out(argv, &fd);
  assert_true(pid > 0);
  out[0] = 0;
  if (h_read_until(fd, "looping ", 30, out, cap) < 0 ||
      h_read_until(fd, "\n", 30, out, cap) < 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("no 'looping' line:\n%s", out);
  }
  pid_t looper = (pid_t)atoi(strstr(out, "looping ") + 8);
  assert_true(looper > 0);
  assert_true(to_root ? looper == pid : looper != pid);
  kill(looper, sig);
  if (h_wait_exit(pid, 20, st) < 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("a module looping while loading ignored %s", strsignal(sig));
  }
  h_read_until(fd, "\x01", 5, out, cap); /* the rest, to end of file */
  close(fd);
  assert_int_equal(h_wait_none(2), 0);
}

static void root_load_loop_stops_on(int sig) {
  char *argv[] = {AXLE, "run", AXLE_SOURCE_DIR "/tests/lua/load_loop.lua",
                  NULL};
  int st;
  char out[4096];
  signal_looping_load(argv, 1, sig, &st, out, sizeof out);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 128 + sig ||
      !strstr(out, "Cancelled: "))
    fail_msg("after %s, status %d:\n%s", strsignal(sig), st, out);
}

static void test_root_module_looping_at_load_stops_on_sigint(void **state) {
  (void)state;
  root_load_loop_stops_on(SIGINT);
}

static void test_root_module_looping_at_load_stops_on_sigterm(void **state) {
  (void)state;
  root_load_loop_stops_on(SIGTERM);
}

/* A child looping while it loads its module fails to start at SIGTERM. */
static void test_child_module_looping_at_load_stops_on_sigterm(void **state) {
  (void)state;
  char *argv[] = {AXLE, "run",
                  AXLE_SOURCE_DIR "/tests/lua/load_loop_parent.lua", NULL};
  int st;
  char out[4096];
  signal_looping_load(argv, 0, SIGTERM, &st, out, sizeof out);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
      !strstr(out, "start failed\ttrue\tCancelled\tSIGTERM while loading"))
    fail_msg("status %d:\n%s", st, out);
}

#define SCEN AXLE " run " AXLE_SOURCE_DIR "/tests/lua/scenarios.lua "

static void test_scenario_25_failures_make_one_group(void **state) {
  (void)state;
  h_expect(SCEN "many_fail 2>/dev/null", 0, "ErrorGroup\t25\t");
  double took = atof(strrchr(h_out, '\t') + 1);
  assert_true(took < 30);
}

static void test_scenario_nested_failing_trees(void **state) {
  (void)state;
  /* breadth 2, depth 3: a group of two groups of two groups of leaves */
  h_expect(SCEN "nested_fail 2>/dev/null", 0,
             "shape\t[[[LuaError,LuaError],[LuaError,LuaError]],"
             "[[LuaError,LuaError],[LuaError,LuaError]]]\n");
}

static void test_scenario_mixed_failures(void **state) {
  (void)state;
  h_expect(SCEN "mixed nfail=1 2>/dev/null", 0, "failed\tbad_1\n");
  h_expect(SCEN "mixed nfail=2 2>/dev/null", 0, "failed\tbad_1 bad_2\n");
  h_expect(SCEN "mixed nfail=3 2>/dev/null", 0,
             "failed\tbad_1 bad_2 bad_3\n");
}

static void test_scenario_sigint_takes_the_tree(void **state) {
  (void)state;
  h_begin(60);
  char *argv[] = {AXLE, "run", AXLE_SOURCE_DIR "/tests/lua/scenarios.lua",
                  "forever", NULL};
  pid_t root = h_spawn(argv);
  assert_true(root > 0);
  assert_int_equal(h_wait_at_least(7, 10), 7); /* 1 + 2 + 4 */
  double t0 = ax_now();
  kill(root, SIGINT);
  waitpid(root, NULL, 0);
  assert_int_equal(h_wait_none(2), 0);
  assert_true(ax_now() - t0 < 2);
}

static void test_scenario_root_error_with_busy_grandchild(void **state) {
  (void)state;
  h_expect(SCEN "root_error_busy_grandchild 2>/dev/null", 0,
             "surfaced in ");
  double took = atof(strstr(h_out, "surfaced in ") + 12);
  assert_true(took < 2);
}

static void test_scenario_names_and_loglevel_propagate(void **state) {
  (void)state;
  h_expect(SCEN "propagation 2>/dev/null", 0, "child\t3\tgrandchild\t3\n");
}

/* A script run by the stock interpreter boots its own root actor. */
static void test_stock_interpreter(void **state) {
  (void)state;
  h_expect("cd / && " LUA_PRELOAD "LUA_CPATH='" LUA_BINDING_DIR
             "/?.so;;' lua5.4 " AXLE_SOURCE_DIR "/tests/lua/stock.lua 2>&1",
             0, "hi from kid\n42\n");
}

/* axle.run through pcall still names the script as the root's module (it
 * named '?', and every child failed); a second axle.run is an error. The
 * children load the script too and print its first lines: only the
 * root's lines, in order, are looked for. */
static void test_stock_interpreter_pcall_and_second_run(void **state) {
  (void)state;
  h_expect("cd / && " LUA_PRELOAD "LUA_CPATH='" LUA_BINDING_DIR
           "/?.so;;' lua5.4 " AXLE_SOURCE_DIR "/tests/lua/stock_pcall.lua "
           "2>&1",
           0, "hi from kid\nfirst\ttrue\nsecond\tfalse\ttrue\n");
  h_expect(AXLE " run " AXLE_SOURCE_DIR "/tests/lua/stock_pcall.lua nested",
           0, "nested\tfalse\tUsageError\ttrue\n");
  h_expect(AXLE " run " AXLE_SOURCE_DIR "/tests/lua/stock_pcall.lua required",
           0, "required\t42\n");
}

static void test_missing_lua_module(void **state) {
  (void)state;
  h_expect(AXLE " run lua:no.such.module 2>&1", 1,
             "ModuleNotFoundError: no Lua module 'no.such.module'");
  h_expect(AXLE " run /no/such/script.lua 2>&1", 1, "ModuleNotFoundError");
}

/* Mistakes made on purpose: an unknown option (`enable` for
 * `enable_modules`), a log level that is none, a module spec that is no
 * string, a start in a cancelled nursery: each an error at the call that
 * names the mistake. Only stdout is compared. */
static void test_misuse_is_an_error_at_the_call(void **state) {
  (void)state;
  h_expect(AXLE " run " AXLE_SOURCE_DIR "/tests/lua/misuse.lua main", 0,
           "unknown option\ttrue\nbad loglevel\ttrue\nbad enable\ttrue\n"
           "bad name option\ttrue\nloglevel by name\ttrue\n"
           "start after cancel\ttrue\n");
}

/* Contexts between Lua actors, and from Lua to C: started, result, errors
 * both ways, cancel and ContextCancelled, misuse (tests/lua/contexts.lua
 * checks each and prints a line per part). */
static void test_contexts(void **state) {
  (void)state;
  h_expect(AXLE " run " AXLE_SOURCE_DIR
                "/tests/lua/contexts.lua main testmod=" AXT_TESTMOD " 2>&1",
           0,
           "C callee ok\nstarted and result ok\nopen failures ok\n"
           "callee error ok\ncaller error ok\ncancel ok\nmisuse ok\n"
           "close while waiting ok\ncontexts ok\n");
}

/* Every error axle raises to Lua is a typed table that says what was
 * wrong and where (they were strings, or typed AX_ESTATE/AX_ECLOSED). */
static void test_usage_errors_are_typed_tables(void **state) {
  (void)state;
  h_expect(AXLE " run " AXLE_SOURCE_DIR "/tests/lua/usage_errors.lua main",
           0,
           "result on a daemon\tUsageError\ttrue\n"
           "bad start_actor name\tUsageError\ttrue\n"
           "method called with a dot\tUsageError\ttrue\n"
           "local function\tUsageError\ttrue\n"
           "function as a value\tTypeError\ttrue\n"
           "run with a number\tUsageError\ttrue\n"
           "arguments not a table\tUsageError\ttrue\n"
           "run option typo\tUsageError\ttrue\n"
           "spawn without a task nursery\tUsageError\ttrue\n"
           "nursery at load\tUsageError\ttrue\n"
           "nursery at the root's load\tUsageError\ttrue\n"
           "run after cancel_actor\tUsageError\ttrue\n"
           "portal after its nursery\tUsageError\ttrue\n"
           "error table without a message\tLuaError\ttrue\n"
           "spawn of no function\tUsageError\ttrue\n"
           "block form traces where it was raised\ttrue\n"
           "start in a cancelled nursery\tUsageError\ttrue\n"
           "block form keeps a read-only table\ttrue\n"
           "block form keeps a table\ttrue\n"
           "block form keeps a string\ttrue\n"
           "root's parent\tnil\n"
           "start after n:close()\tUsageError\ttrue\n");
}

/* A function reference names its module: an actor running another module
 * refuses it (it ran its own namesake), one that enabled the module runs
 * it, and a name given as a string is the callee's own. */
static void test_function_reference_names_its_module(void **state) {
  (void)state;
  h_expect(AXLE " run " AXLE_SOURCE_DIR "/tests/lua/refs.lua main", 0,
           "reference to a module it does not run\tModuleNotExposed\n"
           "name\tother.hello\n"
           "reference to its own module\tother.hello\n"
           "reference to an enabled module\trefs.hello\n"
           "reference to the same module\trefs.hello\n"
           "one-shot of a required module\tother.hello\n"
           "one-shot in another module\tModuleNotExposed\n");
}

/* A nursery a function leaves open is cancelled and closed, with a
 * warning, when the function returns: the process ends instead of waiting
 * forever for the daemons in it (issue: only kill -9 ended it). */
#define LEFT_OPEN AXLE " run " AXLE_SOURCE_DIR "/tests/lua/left_open.lua "
#define LEFT_WARN "returned with a nursery still open (opened at "

static void test_nursery_left_open_is_closed(void **state) {
  (void)state;
  h_expect(LEFT_OPEN "main 2>&1", 0, "hi\n");
  assert_non_null(strstr(h_out, "function 'main' " LEFT_WARN));
  h_expect(LEFT_OPEN "task 2>&1", 0, LEFT_WARN);
  h_expect(LEFT_OPEN "nested 2>&1", 0, "hi\n");
  assert_non_null(strstr(h_out, "[axle middle "));
  /* The one-shot's failure is not lost: closing raises it. */
  h_expect(LEFT_OPEN "failing 2>&1", 1, "result\tfalse\tLuaError\n");
  assert_non_null(strstr(h_out, "boom"));
  h_expect(LEFT_OPEN "failing_waiting 2>&1", 1,
           "function 'failing_waiting' raised an error with a nursery still "
           "open");
  assert_non_null(strstr(h_out, "LuaError: "));
  assert_non_null(strstr(h_out, "boom"));
  assert_null(strstr(h_out, "Cancelled"));
  h_expect(LEFT_OPEN "three 2>&1", 0, "left_open.lua:");
  assert_null(strstr(h_out, "out of order"));
  h_expect(LEFT_OPEN "coroutine 2>&1", 0,
           "a Lua nursery was never closed; cancelling it");
  assert_non_null(strstr(h_out, "collected\n"));
  assert_null(strstr(h_out, "root function returned with a nursery"));
  h_expect(LEFT_OPEN "cancel_while_closing 2>&1", 0, "closed ten\n");
  h_expect(LEFT_OPEN "while_closing 2>&1", 0, "sibling result\tdone\nclosed\n");
  /* Under the stock interpreter, through axle.run. */
  h_expect("cd / && " LUA_PRELOAD "LUA_CPATH='" LUA_BINDING_DIR
           "/?.so;;' lua5.4 " AXLE_SOURCE_DIR "/tests/lua/left_open.lua 2>&1",
           0, LEFT_WARN);
}

/* A C function that leaves a nursery open: as the root's function, the
 * runtime cancels it when the function returns; in a child, cancelling
 * the child takes it down, so that the child exits in time (it was
 * SIGKILLed after ignoring SIGTERM). */
static void test_c_nursery_left_open_is_cancelled(void **state) {
  (void)state;
  h_expect(AXLE " run " AXT_TESTMOD " leave_open 2>&1", 0,
           "root function returned with a nursery never closed");
  h_expect(LEFT_OPEN "c_child testmod=" AXT_TESTMOD " 2>&1", 0, "number\n");
  assert_null(strstr(h_out, "ignored SIGTERM"));
}

/* An error's own fields cross: error{code = 7, ...} in a Lua child
 * reaches a Lua parent with err.code == 7, and so does a C error's info;
 * through C and Lua actors in the middle, in a group, and without the
 * info when it makes the error too large for a message. */
static void test_error_fields_cross(void **state) {
  (void)state;
  h_expect(AXLE " run " AXLE_SOURCE_DIR "/tests/lua/error_info.lua main "
           "testmod=" AXT_TESTMOD " self=lua:" AXLE_SOURCE_DIR
           "/tests/lua/error_info.lua",
           0,
           "plain table\tLuaError\t7\t{\"code\": 7}\n"
           "typed\tValueError\tx\t7\ttrue\tnil\tnil\tnil\ttable\ttable"
           "\ttable\tlchild\n"
           "depth\ttable\tnil\n"
           "relayed by Lua\t9\t3\n"
           "from C\tValueError\tit failed\t5\ttwo\tnil\tnil\ttable\tcchild\n"
           "relayed by C\tLuaError\t7\t3\n"
           "too large\tValueError\tit failed\tnil\tnil\n"
           "group\tErrorGroup\tnil\t2\t1 2\n");
}

/* A C parent reads what a Lua child's error{...} carried: its info. */
static int error_info_body(void *arg) {
  (void)arg;
  static const ax_spawn_opts lua = {
      sizeof(ax_spawn_opts), "lua:" AXLE_SOURCE_DIR "/tests/lua/error_info.lua",
      NULL, 0, 0, 0};
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "lchild", &lua, &p, NULL), 0);
  ax_error *e = NULL;
  assert_int_equal(ax_portal_run(p, NULL, "raise_seven", NULL, NULL, &e),
                   AX_EREMOTE);
  assert_string_equal(ax_error_type(e), "LuaError");
  const ax_val *info = ax_error_info(e);
  assert_int_equal(ax_val_type(info), AX_T_MAP);
  assert_int_equal(ax_val_len(info), 1);
  assert_int_equal(ax_val_int(ax_val_get(info, "code")), 7);
  ax_error_free(e);
  e = NULL;
  assert_int_equal(ax_portal_run(p, NULL, "raise_typed", NULL, NULL, &e),
                   AX_EREMOTE);
  assert_string_equal(ax_error_type(e), "ValueError");
  assert_string_equal(ax_error_message(e), "x");
  info = ax_error_info(e);
  /* Neither what cannot be sent nor the error's own fields. */
  assert_int_equal(ax_val_len(info), 3);
  assert_non_null(ax_val_get(info, "deep30"));
  assert_int_equal(ax_val_int(ax_val_get(info, "code")), 7);
  const ax_val *a = ax_val_get(ax_val_get(info, "nested"), "a");
  assert_int_equal(ax_val_len(a), 3);
  assert_true(ax_val_bool(ax_val_get(ax_val_at(a, 2), "b")));
  ax_error_free(e);
  assert_int_equal(ax_portal_cancel_actor(p), 0);
  assert_int_equal(ax_nursery_close(n, NULL), 0);
  return 0;
}

static void test_c_parent_reads_error_fields(void **state) {
  (void)state;
  h_begin(60);
  ax_opts opts = {.size = sizeof opts, .name = "testroot"};
  assert_int_equal(ax_run(&opts, error_info_body, NULL), 0);
  assert_int_equal(h_wait_none(2), 0);
}

/* ------------------------------------------- a Lua actor out of memory */

typedef struct lua_oom {
  long rounds, results, memory_errors, lua_errors;
} lua_oom;

static int lua_call_int(ax_portal *p, const char *func, ax_data *kw,
                        ax_data **r, ax_error **e) {
  int rc = ax_portal_run(p, NULL, func, kw, r, e);
  ax_data_free(kw);
  return rc;
}

/* Whether the armed failures were met (and disarm). A run of failures
 * that goes on into this call fails it too: then they were met. */
static int lua_oom_hit(ax_portal *p) {
  for (int tries = 0; tries < 10; tries++) {
    ax_data *r = NULL;
    ax_error *e = NULL;
    int rc = lua_call_int(p, "hit", NULL, &r, &e);
    int memory = rc == AX_EREMOTE && ax_error_kind(e) == AX_K_MEMORY_ERROR;
    ax_error_free(e);
    if (rc == 0) {
      int hit = ax_val_bool(ax_data_root(r)) || tries > 0;
      ax_data_free(r);
      return hit;
    }
    assert_true(memory);
  }
  fail_msg("the actor never recovered from its failed allocations");
  return 0;
}

/* For each N, the Nth allocation of the Lua state fails while echo (then
 * fail) is served: each call ends with its own outcome or a MemoryError,
 * and the actor serves the next one. Until no allocation is left to fail. */
static int lua_oom_body(void *arg) {
  lua_oom *o = arg;
  static const ax_spawn_opts lua = {
      sizeof(ax_spawn_opts), "lua:" AXLE_SOURCE_DIR "/tests/lua/oom_lua.lua",
      NULL, 0, 0, 0};
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "oom", &lua, &p, NULL), 0);
  static const char *funcs[] = {"echo", "fail"};
  for (int f = 0; f < 2; f++) {
    long after;
    for (after = 0; after < 500; after++) {
      o->rounds++;
      ax_data *r = NULL;
      ax_error *e = NULL;
      /* Armed at 0, arm's own way back fails: a MemoryError too. */
      int rc = lua_call_int(p, "arm", h_kw("i", "after", (long long)after),
                            NULL, &e);
      assert_true(rc == 0 || (rc == AX_EREMOTE &&
                              ax_error_kind(e) == AX_K_MEMORY_ERROR));
      ax_error_free(e);
      e = NULL;
      rc = lua_call_int(p, funcs[f],
                            h_kw("ss", "value", "some text", "message",
                                 "it failed"),
                            &r, &e);
      if (rc == 0) {
        assert_string_equal(ax_val_str(ax_data_root(r), NULL), "some text");
        o->results++;
      } else if (rc == AX_EREMOTE &&
                 ax_error_kind(e) == AX_K_MEMORY_ERROR) {
        o->memory_errors++;
      } else if (rc == AX_EREMOTE && !strcmp(funcs[f], "fail") &&
                 !strcmp(ax_error_type(e), "LuaError") &&
                 strstr(ax_error_message(e), "it failed")) {
        o->lua_errors++;
      } else {
        char *s = e ? ax_error_format(e) : NULL;
        fail_msg("%s at N=%ld: rc %d\n%s", funcs[f], after, rc,
                 s ? s : "(no error)");
      }
      ax_data_free(r);
      ax_error_free(e);
      if (!lua_oom_hit(p)) break; /* the whole call fit in N */
    }
    assert_true(after < 500);
  }
  assert_int_equal(ax_portal_cancel_actor(p), 0);
  assert_int_equal(ax_nursery_close(n, NULL), 0);
  return 0;
}

static void run_lua_oom(const char *host, double grace) {
  lua_oom o = {0};
  setenv("LUA_CPATH", AXLE_BUILD_DIR "/tests/?.so;;", 1);
  ax_opts opts = {.size = sizeof opts, .name = "testroot", .grace = grace,
                  .host = host};
  assert_int_equal(ax_run(&opts, lua_oom_body, &o), 0);
  unsetenv("LUA_CPATH");
  print_message("%ld rounds: %ld results, %ld MemoryErrors, %ld LuaErrors\n",
                o.rounds, o.results, o.memory_errors, o.lua_errors);
  assert_true(o.memory_errors > 0);
  assert_int_equal(h_wait_none(2), 0);
}

static void test_lua_out_of_memory(void **state) {
  (void)state;
  h_begin(120);
  run_lua_oom(NULL, 0.5);
}

/* The same with the Lua actor under memcheck: no invalid access and no
 * definite leak on any path that ran out of memory. */
static void test_lua_out_of_memory_under_memcheck(void **state) {
  (void)state;
#if !defined(__SANITIZE_ADDRESS__)
  h_begin(600);
  char dir[] = "/tmp/axle-memcheck-XXXXXX", host[256];
  memcheck_host(dir, host, sizeof host);
  run_lua_oom(host, 30);
  char report[16384];
  memcheck_collect(dir, report, sizeof report);
  if (report[0]) fail_msg("memcheck reported:\n%s", report);
#endif
}

/* ------------------------------------------- errors as axle run prints them */

#define REPORTS AXLE " run " AXLE_SOURCE_DIR "/tests/lua/reports.lua "

static int occurrences(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

/* A mistake in the caller's input is one line, first, with the closest
 * name when one is close; the error value keeps its traceback. */
static void test_caller_mistakes_in_lua(void **state) {
  (void)state;
  h_expect(REPORTS "mistake 2>&1", 1, "FunctionNotFound: ");
  if (strncmp(h_out, "FunctionNotFound: Lua module 'lua:", 34) != 0 ||
      !strstr(h_out, "has no function 'mistake'; did you mean 'mistakes'? "
                     "(in actor 'root', pid ") ||
      strstr(h_out, "Traceback"))
    fail_msg("printed:\n%s", h_out);
  h_expect(REPORTS "mistakes testmod=" AXT_TESTMOD, 0,
           "false\tFunctionNotFound\tdid you mean 'add'?\ttrue\n"
           "false\tTypeError\ttrue\n"
           "false\tFunctionNotFound\tdid you mean 'slow'?\n");
}

/* The signal a crash killed a child with is said once: not in the log,
 * nor in its crash report, nor twice in the message. */
static void test_actor_crashed_says_the_signal_once(void **state) {
  (void)state;
  h_expect(REPORTS "crash testmod=" AXT_TESTMOD " 2>&1", 1,
           "ActorCrashed: actor 'crasher' (pid ");
  if (occurrences(h_out, "SIGSEGV") != 1 ||
      !strstr(h_out, ") was killed by SIGSEGV\n"))
    fail_msg("printed:\n%s", h_out);
}

/* A child that fails to start is reported once: by its starter, not also
 * in its own log. */
static void test_failed_start_is_reported_once(void **state) {
  (void)state;
  h_expect(REPORTS "bad_start 2>&1", 1,
           "ModuleNotFoundError: no Lua module 'does_not_exist'");
  if (occurrences(h_out, "does_not_exist") != 1)
    fail_msg("printed:\n%s", h_out);
  /* A path without its scheme: the error says which one it needs. */
  h_expect(REPORTS "path_start 2>&1", 1,
           "did you mean 'lua:tests/lua/reports.lua'?");
}

/* Run reports.lua's func, send sig once it is ready: it must exit with
 * 128 + sig and print want. */
static void signal_reports(const char *func, int sig, const char *want) {
  h_begin(60);
  char *argv[] = {AXLE, "run", AXLE_SOURCE_DIR "/tests/lua/reports.lua",
                  (char *)func, NULL};
  int fd;
  pid_t pid = h_spawn_out(argv, &fd);
  assert_true(pid > 0);
  char out[8192] = "";
  if (h_read_until(fd, "ready\n", 30, out, sizeof out) < 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("not ready:\n%s", out);
  }
  kill(pid, sig);
  int st;
  if (h_wait_exit(pid, 20, &st) < 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("%s ignored %s", func, strsignal(sig));
  }
  h_read_until(fd, "\x01", 5, out, sizeof out); /* the rest, to end of file */
  close(fd);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 128 + sig || !strstr(out, want))
    fail_msg("%s after %s, status %d:\n%s\n(want '%s')", func,
             strsignal(sig), st, out, want);
  assert_int_equal(h_wait_none(2), 0);
}

/* Cancelled by a signal, an error says what it cut short. */
static void test_signal_during_a_call_says_so(void **state) {
  (void)state;
  signal_reports("wait_call", SIGTERM,
                 "Cancelled: cancelled by SIGTERM while waiting for actor "
                 "'worker' to answer call 'slow' (in actor 'root', pid ");
}

static void test_signal_during_sleep_says_so(void **state) {
  (void)state;
  signal_reports("sleep", SIGINT, "Cancelled: cancelled by SIGINT while "
                                  "sleeping (in actor 'root', pid ");
}

/* Cancelling an actor leaves its nurseries to the code that closes them:
 * a shielded teardown still reaches a child (it met ActorExited when every
 * open nursery was cancelled at once). */
static void test_shielded_teardown_reaches_a_child(void **state) {
  (void)state;
  signal_reports("shielded_teardown", SIGINT,
                 "shielded teardown call\ttrue\tflushed\n");
}

static void test_signal_during_lua_code_says_so(void **state) {
  (void)state;
  signal_reports("spin", SIGTERM, "Cancelled: cancelled by SIGTERM while "
                                  "running Lua code (in actor 'root', pid ");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cellar_door),
      cmocka_unit_test(test_bidir_streaming),
      cmocka_unit_test(test_streams),
      cmocka_unit_test(test_forgotten_daemon_is_named),
      cmocka_unit_test(test_generators),
      cmocka_unit_test(test_broadcast),
      cmocka_unit_test(test_context_scenarios),
      cmocka_unit_test(test_streaming_examples),
      cmocka_unit_test(test_movie_theatre),
      cmocka_unit_test(test_remote_error),
      cmocka_unit_test(test_single_func),
      cmocka_unit_test(test_we_are_processes),
      cmocka_unit_test(test_worker_pool),
      cmocka_unit_test(test_sigkill_of_lua_root),
      cmocka_unit_test(test_lua_root_c_child_lua_grandchild),
      cmocka_unit_test(test_values_and_portals),
      cmocka_unit_test(test_large_strings_between_lua_actors),
      cmocka_unit_test(test_expired_deadline_exits_1),
      cmocka_unit_test(test_misuse_is_an_error_at_the_call),
    cmocka_unit_test(test_usage_errors_are_typed_tables),
    cmocka_unit_test(test_contexts),
    cmocka_unit_test(test_function_reference_names_its_module),
    cmocka_unit_test(test_nursery_left_open_is_closed),
    cmocka_unit_test(test_c_nursery_left_open_is_cancelled),
      cmocka_unit_test(test_lua_out_of_memory),
      cmocka_unit_test(test_lua_out_of_memory_under_memcheck),
      cmocka_unit_test(test_scopes_tasks_and_busy_cancel),
      cmocka_unit_test(test_scenario_25_failures_make_one_group),
      cmocka_unit_test(test_scenario_nested_failing_trees),
      cmocka_unit_test(test_scenario_mixed_failures),
      cmocka_unit_test(test_scenario_sigint_takes_the_tree),
      cmocka_unit_test(test_scenario_root_error_with_busy_grandchild),
      cmocka_unit_test(test_scenario_names_and_loglevel_propagate),
      cmocka_unit_test(test_stock_interpreter),
      cmocka_unit_test(test_busy_stock_root_stops_on_sigterm),
      cmocka_unit_test(test_busy_stock_root_stops_on_sigint),
      cmocka_unit_test(test_interrupts_under_memcheck),
      cmocka_unit_test(test_bad_arguments_to_a_lua_actor),
      cmocka_unit_test(test_lua_results_seen_from_c),
      cmocka_unit_test(test_bad_arguments_under_memcheck),
      cmocka_unit_test(test_values_that_cannot_cross),
      cmocka_unit_test(test_values_that_cannot_cross_under_memcheck),
      cmocka_unit_test(test_root_module_looping_at_load_stops_on_sigint),
      cmocka_unit_test(test_root_module_looping_at_load_stops_on_sigterm),
      cmocka_unit_test(test_child_module_looping_at_load_stops_on_sigterm),
      cmocka_unit_test(test_stock_interpreter_pcall_and_second_run),
      cmocka_unit_test(test_missing_lua_module),
      cmocka_unit_test(test_error_fields_cross),
      cmocka_unit_test(test_c_parent_reads_error_fields),
      cmocka_unit_test(test_caller_mistakes_in_lua),
      cmocka_unit_test(test_actor_crashed_says_the_signal_once),
      cmocka_unit_test(test_failed_start_is_reported_once),
      cmocka_unit_test(test_signal_during_a_call_says_so),
      cmocka_unit_test(test_signal_during_sleep_says_so),
      cmocka_unit_test(test_signal_during_lua_code_says_so),
      cmocka_unit_test(test_shielded_teardown_reaches_a_child),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_lua.c - Lua actors: the examples, and trees that mix Lua and C. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define AXLE AXLE_HOST_PATH
#define LUA_EX(name) AXLE_SOURCE_DIR "/examples/lua/" name ".lua"

static void test_cellar_door(void **state) {
  (void)state;
  h_expect(AXLE " run " LUA_EX("cellar_door"), 0, "Dang that's beautiful\n");
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
  assert_non_null(strstr(h_out, "remote_error.lua:12:")); /* Lua traceback */
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
  h_expect(cmd, 0, "3.0\nhi from grandchild\n");
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
           "name\techo\tinteger\ttrue\tstring\tnil\n"
           "scalar args\tfalse\ttrue\nstill serving\ttrue\n"
           "not a portal\tfalse\ttrue\n"
           "after close\techo\nrun after close\tfalse\ttrue\n");
}

static void test_scopes_tasks_and_busy_cancel(void **state) {
  (void)state;
  /* With a grace of 30 s, a busy child that only stopped at the ladder's
   * SIGTERM would show in the log (at info level), however loaded the
   * machine. */
  h_expect("AXLE_GRACE=30 AXLE_LOG=info " AXLE " run " AXLE_SOURCE_DIR
           "/tests/lua/scopes.lua 2>&1",
           0, "scopes ok\ntasks ok\n");
  /* The busy child unwound through its <close> handler at the cancel
   * request itself: the ladder never had to send SIGTERM, let alone
   * SIGKILL. */
  assert_non_null(strstr(h_out, "spin unwound"));
  assert_non_null(strstr(h_out, "busy child stopped"));
  assert_null(strstr(h_out, "did not stop in time"));
  assert_null(strstr(h_out, "SIGKILL"));
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
  h_expect("AXLE_NO_PIDFD=1 valgrind -q --trace-children=yes "
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

static void test_missing_lua_module(void **state) {
  (void)state;
  h_expect(AXLE " run lua:no.such.module 2>&1", 1,
             "ModuleNotFoundError: no Lua module 'no.such.module'");
  h_expect(AXLE " run /no/such/script.lua 2>&1", 1, "ModuleNotFoundError");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cellar_door),
      cmocka_unit_test(test_movie_theatre),
      cmocka_unit_test(test_remote_error),
      cmocka_unit_test(test_single_func),
      cmocka_unit_test(test_we_are_processes),
      cmocka_unit_test(test_worker_pool),
      cmocka_unit_test(test_sigkill_of_lua_root),
      cmocka_unit_test(test_lua_root_c_child_lua_grandchild),
      cmocka_unit_test(test_values_and_portals),
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
      cmocka_unit_test(test_missing_lua_module),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

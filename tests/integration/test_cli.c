/* test_cli.c - the axle command line and every C example, run as a user
 * would run them; nothing they start may survive them. */
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define AXLE AXLE_HOST_PATH
#define EX(name) "c:" AXLE_BUILD_DIR "/examples/c/" name ".so"

static void test_version_and_help(void **state) {
  (void)state;
  h_expect(AXLE " --version", 0, "axle 0.1.0");
  h_expect(AXLE " --help", 0, "usage: axle run MODULE");
}

static void test_usage_errors_exit_2(void **state) {
  (void)state;
  h_expect(AXLE " 2>&1", 2, "missing command");
  h_expect(AXLE " frobnicate 2>&1", 2, "unknown command 'frobnicate'");
  h_expect(AXLE " run 2>&1", 2, "run needs a MODULE");
  h_expect(AXLE " run nospec.so 2>&1", 2, "needs a scheme");
  h_expect(AXLE " run " AXT_TESTMOD " add =1 2>&1", 2, "not key=value");
  h_expect(AXLE " --child x 2>&1", 2, "axle's own use");
}

static void test_run_parses_values(void **state) {
  (void)state;
  h_expect(AXLE " run " AXT_TESTMOD " add a=1 b=2.5", 0, "3.5\n");
  h_expect(AXLE " run " AXT_TESTMOD " greet who=world", 0, "hello world\n");
  /* Integers in hex are integers (they were floats), and 010 is ten. */
  h_expect(AXLE " run " AXT_TESTMOD " mul a=0x10 b=010", 0, "160\n");
  /* AXLE_LOG takes names in any case; an unknown value is said, once. */
  h_expect("AXLE_LOG=INFO " AXLE " run " AXLE_SOURCE_DIR
           "/examples/lua/cellar_door.lua 2>&1",
           0, "info: cancel requested by the parent");
  h_expect("AXLE_LOG=loud " AXLE " run " AXT_TESTMOD " add a=1 b=2 2>&1", 0,
           "AXLE_LOG=loud is no level");
  h_expect(AXLE " run " AXT_TESTMOD " add a=x b=1 2>&1", 1,
             "TypeError: argument 'a' of add() must be a number, got str");
  h_expect(AXLE " run c:/no/such.so 2>&1", 1, "ModuleNotFoundError");
}

/* A mistake in the caller's input is one line, first, with the closest
 * name when one is close; the backtrace of the code that noticed it is
 * printed at debug level only. */
static void test_caller_mistakes_are_one_line(void **state) {
  (void)state;
  h_expect(AXLE " run " AXT_TESTMOD " ad a=1 b=2 2>&1", 1,
           "exports no function 'ad'; did you mean 'add'? (in actor 'root', "
           "pid ");
  if (strncmp(h_out, "FunctionNotFound: module 'c:", 28) != 0 ||
      strstr(h_out, "Traceback"))
    fail_msg("printed:\n%s", h_out);
  h_expect(AXLE " run " AXT_TESTMOD " add a=x b=1 2>&1", 1,
           "TypeError: argument 'a' of add() must be a number, got str (in "
           "actor 'root', pid ");
  if (strncmp(h_out, "TypeError: ", 11) != 0 || strstr(h_out, "Traceback"))
    fail_msg("printed:\n%s", h_out);
  h_expect("AXLE_LOG=debug " AXLE " run " AXT_TESTMOD " add a=x b=1 2>&1", 1,
           "Traceback (most recent call last), in actor 'root'");
  assert_non_null(strstr(h_out, "\n  at "));
  /* A plain library: its functions are listed; a missing one is never
   * said to be there. */
  h_expect(AXLE " run c:libm.so.6 sqt x=1 2>&1", 1,
           "FunctionNotFound: library 'c:libm.so.6' has no function 'sqt'; "
           "did you mean 'sqrt'?");
  h_expect(AXLE " run c:libm.so.6 cos x=1 2>&1", 1,
           "'cos' is in plain library 'c:libm.so.6': call it with a "
           "signature");
}

static void test_example_single_func(void **state) {
  (void)state;
  h_expect(AXLE " run " EX("single_func"), 0, "Collected subproc ");
}

static void test_example_we_are_processes(void **state) {
  (void)state;
  h_expect(AXLE " run " EX("we_are_processes"), 0,
             "self-destruct in 1 sec...\nZombies Contained\n");
}

static void test_example_remote_error(void **state) {
  (void)state;
  h_expect(AXLE " run " EX("remote_error") " 2>&1", 1,
             "AssertionError: 2 + 2 is not 5");
  assert_non_null(strstr(h_out, "in actor 'failer'"));
}

static void test_example_crash_isolation(void **state) {
  (void)state;
  h_expect(AXLE " run " EX("crash_isolation") " 2>/dev/null", 0,
           "victim crashed: ActorCrashed: actor 'victim' (pid ");
  assert_non_null(strstr(h_out, ") was killed by SIGSEGV\n"));
  assert_non_null(strstr(h_out, "carried on: 42\n"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_version_and_help),
      cmocka_unit_test(test_usage_errors_exit_2),
      cmocka_unit_test(test_run_parses_values),
      cmocka_unit_test(test_caller_mistakes_are_one_line),
      cmocka_unit_test(test_example_single_func),
      cmocka_unit_test(test_example_we_are_processes),
      cmocka_unit_test(test_example_remote_error),
      cmocka_unit_test(test_example_crash_isolation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

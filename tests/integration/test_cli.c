/* test_cli.c - the axle command line and every C example, run as a user
 * would run them; nothing they start may survive them. */
#include <errno.h>
#include <pty.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define AXLE AXLE_HOST_PATH
#define EX(name) "c:" AXLE_BUILD_DIR "/examples/c/" name ".so"
#define CELLAR AXLE_SOURCE_DIR "/examples/lua/cellar_door.lua"
#define CLI_LUA AXLE_SOURCE_DIR "/tests/lua/cli.lua"

/* As h_expect, with a pseudo-terminal as the command's stdin, stdout and
 * stderr, as at a user's terminal: what it writes is in h_out. */
static void expect_pty(const char *cmd, int status, const char *want) {
  h_begin(60);
  int master;
  pid_t pid = forkpty(&master, NULL, NULL, NULL);
  assert_true(pid >= 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  size_t len = 0;
  for (;;) {
    ssize_t n = read(master, h_out + len, sizeof h_out - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    /* EIO: every process holding the terminal has closed it. */
    if (n <= 0) break;
    len += (size_t)n;
    if (len == sizeof h_out - 1) break;
  }
  h_out[len] = 0;
  close(master);
  int st;
  assert_int_equal(h_wait_exit(pid, 60, &st), 0);
  st = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  if (st != status || (want && !strstr(h_out, want)))
    fail_msg(
        "`%s` under a terminal exited %d (want %d), output:\n%s\n"
        "(want '%s')",
        cmd, st, status, h_out, want ? want : "");
  assert_int_equal(h_wait_none(2), 0);
}

/* Whether some line of text matches the extended regular expression re. */
static int has_line(const char *text, const char *re) {
  regex_t r;
  assert_int_equal(regcomp(&r, re, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0);
  int found = regexec(&r, text, 0, NULL, 0) == 0;
  regfree(&r);
  return found;
}

static void test_version_and_help(void **state) {
  (void)state;
  h_expect(AXLE " --version", 0, "axle 0.1.0");
  /* Help goes to stdout and exits 0, however it is asked for. */
  const char *general[] = {AXLE " --help 2>/dev/null", AXLE " -h 2>/dev/null",
                           AXLE " help 2>/dev/null"};
  for (size_t i = 0; i < sizeof general / sizeof *general; i++) {
    h_expect(general[i], 0, "usage: axle run MODULE");
    /* The exit codes and every environment variable axle reads. */
    const char *want[] = {"Exit status",
                          " 0 ",
                          " 1 ",
                          " 2 ",
                          " 130 ",
                          " 143 ",
                          "AXLE_LOG",
                          "AXLE_GRACE",
                          "AXLE_HOST",
                          "AXLE_LUA_PATH",
                          "AXLE_LUA_BINDING",
                          "AXLE_LUA_SCRIPT_DIR",
                          "AXLE_NO_PIDFD",
                          "NO_COLOR"};
    for (size_t k = 0; k < sizeof want / sizeof *want; k++)
      if (!strstr(h_out, want[k]))
        fail_msg("`%s` does not mention '%s':\n%s", general[i], want[k], h_out);
    /* Python actors do not exist yet: nothing offers them. */
    assert_null(strstr(h_out, "py:"));
  }
  const char *run[] = {AXLE " help run 2>/dev/null",
                       AXLE " run --help 2>/dev/null",
                       AXLE " run -h 2>/dev/null"};
  for (size_t i = 0; i < sizeof run / sizeof *run; i++) {
    h_expect(run[i], 0, "usage: axle run MODULE [FUNCTION] [key=value ...]");
    assert_non_null(strstr(h_out, "positional"));
    assert_null(strstr(h_out, "py:"));
  }
  h_expect(AXLE " help frobnicate 2>&1", 2, "no help on 'frobnicate'");
  h_expect(AXLE " help run more 2>&1", 2, "help takes one COMMAND");
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

/* A plain library's functions, a plugin's and a Lua script's take
 * positional arguments from the command line. */
static void test_run_positional_arguments(void **state) {
  (void)state;
  h_expect(AXLE " run c:libm.so.6 'pow:d(dd)' 2 10", 0, "1024.0\n");
  h_expect(AXLE " run c:libm.so.6 'cos:d(d)' 0", 0, "1.0\n");
  h_expect(AXLE " run " AXT_TESTMOD " add 1 2.5", 0, "3.5\n");
  h_expect(AXLE " run " CLI_LUA " add 2 40", 0, "42\n");
  h_expect(AXLE " run " CLI_LUA " types 7 0x10 2.5 true word -1", 0,
           "integer integer float boolean string integer\n");
  h_expect(AXLE " run " CLI_LUA " greet who=you", 0, "hello you\n");
  /* Both kinds at once is a usage error, whichever comes first. */
  h_expect(AXLE " run " AXT_TESTMOD " add a=1 2 2>&1", 2,
           "either all key=value or all positional");
  h_expect(AXLE " run " CLI_LUA " add 1 b=2 2>&1", 2,
           "either all key=value or all positional");
  /* Too few for the signature: the function's error, not a crash. */
  h_expect(AXLE " run c:libm.so.6 'pow:d(dd)' 2 2>&1", 1,
           "TypeError: pow() takes 2 arguments, got 1");
}

/* py: is refused with a clear word until Python actors exist. */
static void test_python_not_offered(void **state) {
  (void)state;
  h_expect(AXLE " run py:somemodule 2>&1", 1,
           "Python actors are not available yet");
  h_expect(AXLE " run nope:somemodule 2>&1", 1, "known schemes: c:, lua:");
  assert_null(strstr(h_out, "py:"));
}

/* A log line: local time to the millisecond, [axle NAME PID], the level. */
#define STAMP "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}"

static void test_log_line_format(void **state) {
  (void)state;
  /* The one-shot child of cellar_door logs at info level as it stops. */
  h_expect("AXLE_LOG=info " AXLE " run " CELLAR " 2>&1", 0,
           "Dang that's beautiful");
  if (!has_line(h_out, "^" STAMP " \\[axle cellar_door [0-9]+\\] info: "
                       "cancel requested by the parent$"))
    fail_msg("no timestamped info line from the child:\n%s", h_out);
  /* Not a terminal: no colour. */
  assert_null(strstr(h_out, "\033"));
}

static void test_log_colour_only_on_terminal(void **state) {
  (void)state;
  /* At a terminal, the level is in colour, in the child's lines too. */
  expect_pty("unset NO_COLOR; AXLE_LOG=info " AXLE " run " CELLAR, 0,
             "info\033[0m: cancel requested by the parent");
  assert_true(has_line(h_out, "^\033\\[2m" STAMP "\033\\[0m \\[axle "));
  /* NO_COLOR set to anything but the empty string turns colour off. */
  expect_pty("NO_COLOR=1 AXLE_LOG=info " AXLE " run " CELLAR, 0,
             "info: cancel requested by the parent");
  assert_null(strstr(h_out, "\033"));
  expect_pty("NO_COLOR= AXLE_LOG=info " AXLE " run " CELLAR, 0,
             "info\033[0m: cancel requested by the parent");
}

/* At debug level each call is logged with its function and module, by
 * the actor that serves it, and again as it ends. */
static void test_log_debug_names_the_function(void **state) {
  (void)state;
  h_expect("AXLE_LOG=debug " AXLE " run " CELLAR " 2>&1", 0,
           "Dang that's beautiful");
  if (!has_line(h_out,
                "\\[axle cellar_door [0-9]+\\] debug: call [0-9]+ "
                "from root: cellar_door\\(\\) in lua:.*cellar_door"
                "\\.lua$"))
    fail_msg("no debug line naming the call:\n%s", h_out);
  assert_true(has_line(h_out,
                       "\\[axle cellar_door [0-9]+\\] debug: call "
                       "[0-9]+: cellar_door\\(\\) returned$"));
  /* The root's own function, and a call that raises. */
  assert_true(has_line(h_out,
                       "\\[axle root [0-9]+\\] debug: local call: "
                       "main\\(\\) in lua:"));
  h_expect("AXLE_LOG=debug " AXLE " run " AXT_TESTMOD " add a=x b=1 2>&1", 1,
           "debug: local call: add() raised TypeError");
  /* Below debug level, none of it. */
  h_expect("AXLE_LOG=info " AXLE " run " CELLAR " 2>&1", 0, NULL);
  assert_null(strstr(h_out, "cellar_door() in"));
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

/* A plugin named without a slash is looked for in the library path, not
 * in the current directory: the error says how to name the file there. */
static void test_plugin_in_the_current_directory(void **state) {
  (void)state;
  h_expect("cd " AXLE_BUILD_DIR "/tests && " AXLE
           " run c:testmod.so add a=1 b=2 2>&1",
           1, "for the file in the current directory, write c:./testmod.so");
  h_expect("cd " AXLE_BUILD_DIR "/tests && " AXLE
           " run c:./testmod.so add a=1 b=2 2>&1",
           0, "3.0");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_version_and_help),
      cmocka_unit_test(test_usage_errors_exit_2),
      cmocka_unit_test(test_run_parses_values),
      cmocka_unit_test(test_run_positional_arguments),
      cmocka_unit_test(test_python_not_offered),
      cmocka_unit_test(test_log_line_format),
      cmocka_unit_test(test_log_colour_only_on_terminal),
      cmocka_unit_test(test_log_debug_names_the_function),
      cmocka_unit_test(test_caller_mistakes_are_one_line),
      cmocka_unit_test(test_example_single_func),
      cmocka_unit_test(test_example_we_are_processes),
      cmocka_unit_test(test_example_remote_error),
      cmocka_unit_test(test_example_crash_isolation),
      cmocka_unit_test(test_plugin_in_the_current_directory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

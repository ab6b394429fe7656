/* test_report.c - what people read of an error: the printed form (a
 * mistake in the caller's input is one line, its backtrace shown at debug
 * level only) and the close names a "did you mean" offers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "internal.h"

static const char *closest(const char *name, const char *const *names,
                           size_t n) {
  return ax_closest_name(name, names, n);
}

static void test_closest_names(void **state) {
  (void)state;
  static const char *const fns[] = {"add", "mul", "greet", "main",
                                    "burn_cpu", "pid"};
  const size_t n = sizeof fns / sizeof *fns;
  assert_string_equal(closest("ad", fns, n), "add");      /* one edit */
  assert_string_equal(closest("ADD", fns, n), "add");     /* case only */
  assert_string_equal(closest("mian", fns, n), "main");   /* a swap */
  assert_string_equal(closest("grt", fns, n), "greet");   /* two edits */
  assert_string_equal(closest("burn", fns, n), "burn_cpu"); /* a prefix */
  assert_string_equal(closest("burn_cpu_fast", fns, n), "burn_cpu");
  assert_null(closest("zzzzz", fns, n));
  assert_null(closest("add", fns, n)); /* the name itself is no hint */
  assert_null(closest("xyd", fns, n)); /* "add", "pid": two of three */
  assert_null(closest("x", fns, n));   /* every letter changed */
  assert_null(closest("bu", fns, n));  /* too short for a prefix */
  /* The closest wins over an earlier one further away. */
  static const char *const two[] = {"slow", "sleep"};
  assert_string_equal(closest("sleeo", two, 2), "sleep");
  assert_null(closest("ad", NULL, 0));
  assert_null(closest(NULL, fns, n));
}

static ax_error *with_traceback(int kind, const char *msg) {
  ax_error *e = ax_error_new_kind(kind, "%s", msg);
  assert_non_null(e);
  assert_int_equal(ax_error_set_traceback(e, "  at somewhere_deep\n"), 0);
  return e;
}

static void test_caller_mistakes_print_as_one_line(void **state) {
  (void)state;
  setenv("AXLE_LOG", "warn", 1);
  ax_error *e = with_traceback(AX_K_FUNCTION_NOT_FOUND,
                               "module 'c:m.so' exports no function 'ad'; "
                               "did you mean 'add'?");
  char *s = ax_error_format(e);
  const char *want =
      "FunctionNotFound: module 'c:m.so' exports no function 'ad'; did you "
      "mean 'add'?\n"; /* made outside a runtime: no actor to name */
  if (strncmp(s, want, strlen(want)) != 0 || strstr(s, "somewhere_deep") ||
      strstr(s, "Traceback") || strchr(s, '\n') != s + strlen(s) - 1)
    fail_msg("printed:\n%s", s);
  ax_free(s);
  /* The error value keeps its traceback: only printing leaves it out. */
  assert_string_equal(ax_error_traceback(e), "  at somewhere_deep\n");
  /* At debug level it is all there. */
  setenv("AXLE_LOG", "debug", 1);
  s = ax_error_format(e);
  const char *head = "Traceback (most recent call last), in actor '";
  if (strncmp(s, head, strlen(head)) || !strstr(s, "somewhere_deep"))
    fail_msg("printed at debug level:\n%s", s);
  ax_free(s);
  ax_error_free(e);
  setenv("AXLE_LOG", "warn", 1);
  /* Each kind of mistake in the input; other errors keep their trace. */
  static const int mistakes[] = {AX_K_TYPE_ERROR, AX_K_OVERFLOW_ERROR,
                                 AX_K_MODULE_NOT_FOUND,
                                 AX_K_MODULE_NOT_EXPOSED};
  for (size_t i = 0; i < sizeof mistakes / sizeof *mistakes; i++) {
    e = with_traceback(mistakes[i], "bad input");
    s = ax_error_format(e);
    if (strstr(s, "somewhere_deep") ||
        strncmp(s, ax_error_kind_name(mistakes[i]),
                strlen(ax_error_kind_name(mistakes[i]))))
      fail_msg("printed:\n%s", s);
    ax_free(s);
    ax_error_free(e);
  }
  ax_error *members[2] = {with_traceback(AX_K_TYPE_ERROR, "bad argument"),
                          ax_error_new("ValueError", "boom")};
  ax_error_set_traceback(members[1], "  at the_failing_line\n");
  ax_error *g = ax__error_group(members, 2);
  assert_non_null(g);
  s = ax_error_format(g);
  if (strstr(s, "somewhere_deep") || !strstr(s, "the_failing_line") ||
      !strstr(s, "  | TypeError: bad argument\n"))
    fail_msg("printed:\n%s", s);
  ax_free(s);
  ax_error_free(g);
  unsetenv("AXLE_LOG");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_closest_names),
      cmocka_unit_test(test_caller_mistakes_print_as_one_line),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_teardown.c - the teardown ladder across a tree: a middle actor that
 * is reaping a child stuck in a system call gets from its own parent the
 * time that takes (docs/PROTOCOL.md, `reaping`), at every level, and a
 * child cannot lie its way out of SIGKILL. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define TEARDOWN_LUA AXLE_SOURCE_DIR "/tests/lua/teardown.lua"

/* How many times what occurs in out. */
static int count(const char *out, const char *what) {
  int n = 0;
  for (const char *s = out; (s = strstr(s, what)); s += strlen(what)) n++;
  return n;
}

/* The actor tag ("[axle NAME PID]") of the line of out that holds what,
 * or NULL. */
static const char *line_of(const char *out, const char *what) {
  const char *s = strstr(out, what);
  while (s && s > out && s[-1] != '\n') s--;
  /* The line's actor tag comes after its timestamp. */
  return s ? strstr(s, "[axle ") : NULL;
}

typedef struct chain {
  char out[16384]; /* stdout and stderr of the whole tree */
  int wedged;      /* the pid of the actor at the bottom */
  int status;      /* the root's exit status */
} chain;

/* Run teardown.lua's chain with the grace given: `levels` middle actors
 * above a C actor at the bottom running func (with time, if not NULL),
 * which wedges. Once it has, Ctrl-C the root, and collect everything until the
 * root exits; nothing of the tree may be left. */
static void run_chain(chain *c, const char *grace, int levels,
                      const char *func, const char *time) {
  h_begin(60);
  char env[64], lv[32], tm[1024], fn[64], tt[64];
  snprintf(env, sizeof env, "AXLE_GRACE=%s", grace);
  snprintf(lv, sizeof lv, "levels=%d", levels);
  snprintf(tm, sizeof tm, "testmod=%s", AXT_TESTMOD);
  snprintf(fn, sizeof fn, "func=%s", func);
  snprintf(tt, sizeof tt, "time=%s", time ? time : "0");
  char *argv[] = {"env", env, AXLE_HOST_PATH, "run", TEARDOWN_LUA,
                  "main", tm, lv, fn, tt, NULL};
  int fd;
  pid_t root = h_spawn_out(argv, &fd);
  assert_true(root > 0);
  c->out[0] = 0;
  /* Its line, whole: the newline looked for is the one after it. */
  char *at = NULL;
  if (h_read_until(fd, "wedged ", 30, c->out, sizeof c->out) < 0 ||
      !(at = strstr(c->out, "wedged ")) ||
      h_read_until(fd, "\n", 30, at, sizeof c->out - (size_t)(at - c->out)) <
          0) {
    kill(root, SIGKILL);
    waitpid(root, NULL, 0);
    fail_msg("the actor at the bottom never wedged:\n%s", c->out);
  }
  c->wedged = atoi(at + 7);
  assert_true(c->wedged > 0);
  kill(root, SIGINT);
  if (h_wait_exit(root, 30, &c->status) < 0) {
    kill(root, SIGKILL);
    waitpid(root, NULL, 0);
    fail_msg("the root did not exit after SIGINT:\n%s", c->out);
  }
  h_read_until(fd, "\x01", 5, c->out, sizeof c->out); /* to end of file */
  close(fd);
  assert_int_equal(h_wait_none(2), 0);
  assert_true(WIFEXITED(c->status));
  assert_int_equal(WEXITSTATUS(c->status), 130);
}

/* Root -> `levels` Lua middles -> a C actor wedged with SIGTERM blocked.
 * Each middle must reap what is below it and run its <close> handler;
 * the wedged actor alone is SIGKILLed, by middle1, the middle above it. */
static void cancel_chain_above_wedged_actor(int levels) {
  chain c;
  /* A short grace keeps the test quick; nothing here depends on how long
   * anything takes, within the ladders' two graces. */
  run_chain(&c, "0.3", levels, "wedge", NULL);
  for (int i = 1; i <= levels; i++) {
    char closed[32];
    snprintf(closed, sizeof closed, "closed middle%d\n", i);
    if (!strstr(c.out, closed))
      fail_msg("middle%d was killed before its <close> handler ran:\n%s", i,
               c.out);
  }
  char killed[64];
  snprintf(killed, sizeof killed, "] warn: child %d ignored SIGTERM",
           c.wedged);
  const char *line = line_of(c.out, killed);
  if (count(c.out, "ignored SIGTERM") != 1 || !line ||
      strncmp(line, "[axle middle1 ", 14) != 0)
    fail_msg("want one 'child %d ignored SIGTERM', from middle1:\n%s",
             c.wedged, c.out);
}

static void test_middle_reaping_a_wedged_child_is_given_time(void **state) {
  (void)state;
  cancel_chain_above_wedged_actor(1);
}

static void test_two_middles_above_a_wedged_child_are_given_time(
    void **state) {
  (void)state;
  cancel_chain_above_wedged_actor(2);
}

/* A child that reports a teardown of 1e9 seconds, then wedges, is still
 * SIGKILLed by its parent: the ladder's bound. */
static void test_a_child_cannot_report_its_way_out_of_sigkill(void **state) {
  (void)state;
  chain c;
  run_chain(&c, "0.1", 0, "say_reaping", "1e9");
  char killed[64];
  snprintf(killed, sizeof killed, "] warn: child %d ignored SIGTERM",
           c.wedged);
  const char *line = line_of(c.out, killed);
  if (!line || strncmp(line, "[axle root ", 11) != 0)
    fail_msg("want 'child %d ignored SIGTERM' from the root:\n%s", c.wedged,
             c.out);
}

/* ------------------------------------------- a time that is no time */

static const ax_spawn_opts testmod = {sizeof(ax_spawn_opts), AXT_TESTMOD,
                                      NULL, 0, 0, 0};

static int bad_time_body(void *arg) {
  (void)arg;
  static const double bad[] = {-1, NAN, INFINITY};
  ax_nursery *n;
  ax_portal *p;
  assert_int_equal(ax_nursery_open(&n), 0);
  assert_int_equal(ax_start_actor(n, "liar", &testmod, &p, NULL), 0);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ax_data *kw = h_kw("f", "time", bad[i]);
    assert_int_equal(ax_portal_run(p, NULL, "say_reaping", kw, NULL, NULL),
                     0);
    ax_data_free(kw);
    /* The channel is still open, and the child still served. */
    ax_data *r = NULL;
    kw = h_kw("ff", "a", 1.0, "b", 2.0);
    assert_int_equal(ax_portal_run(p, NULL, "add", kw, &r, NULL), 0);
    ax_data_free(kw);
    assert_true(ax_val_float(ax_data_root(r)) == 3.0);
    ax_data_free(r);
  }
  assert_int_equal(ax_portal_cancel_actor(p), 0);
  assert_int_equal(ax_nursery_close(n, NULL), 0);
  return 0;
}

/* A `reaping` whose time is negative, NaN or infinite is logged and
 * ignored: the parent keeps the channel and the child. */
static void test_reaping_with_a_bad_time_is_ignored(void **state) {
  (void)state;
  h_begin(60);
  /* The log, the root's and the child's, goes to a file we read after. */
  FILE *log = tmpfile();
  assert_non_null(log);
  fflush(stderr);
  int saved = dup(2);
  dup2(fileno(log), 2);
  int rc = h_run(0.5, bad_time_body, NULL);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  assert_int_equal(rc, 0);
  char out[8192];
  rewind(log);
  size_t len = fread(out, 1, sizeof out - 1, log);
  out[len] = 0;
  fclose(log);
  if (count(out, "reaping from liar ignored: time ") != 3 ||
      !strstr(out, "time -1 is") || !strstr(out, "time nan is") ||
      !strstr(out, "time inf is"))
    fail_msg("want three warnings, for -1, nan and inf:\n%s", out);
  assert_int_equal(h_wait_none(2), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_middle_reaping_a_wedged_child_is_given_time),
      cmocka_unit_test(test_two_middles_above_a_wedged_child_are_given_time),
      cmocka_unit_test(test_a_child_cannot_report_its_way_out_of_sigkill),
      cmocka_unit_test(test_reaping_with_a_bad_time_is_ignored),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

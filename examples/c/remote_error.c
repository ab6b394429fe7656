/* remote_error.c - a remote error reaches the root and cancels the rest.
 *
 * Three daemon actors idle while a fourth, one-shot actor fails an
 * assertion. One-cancels-all: the daemons are cancelled and reaped, and
 * the nursery reports the failure with its source actor. The root returns
 * that error, so `axle run` prints its traceback and exits with status 1.
 *
 * Run:    axle run c:build/examples/c/remote_error.so
 * Prints (stderr): ... AssertionError: 2 + 2 is not 5 ... in actor 'failer'
 */
#include <stdio.h>

#include "axle.h"

static int assert_false(ax_ctx *ctx, const ax_val *args) {
  (void)args;
  return ax_ctx_fail(ctx, "AssertionError", "2 + 2 is not 5");
}

static int run_main(ax_ctx *ctx, const ax_val *args) {
  (void)args;
  ax_nursery *n;
  int rc = ax_nursery_open(&n);
  if (rc < 0) return rc;
  ax_spawn_opts opts = {.size = sizeof opts, .module = ax_ctx_module(ctx)};
  ax_error *err = NULL;
  for (int i = 0; i < 3 && rc == 0; i++) {
    char name[32];
    snprintf(name, sizeof name, "daemon_%d", i);
    ax_portal *p;
    rc = ax_start_actor(n, name, &opts, &p, &err);
  }
  ax_portal *failer;
  if (rc == 0)
    rc = ax_run_in_actor(n, "failer", &opts, "assert_false", NULL, &failer,
                         &err);
  /* Wait here; the failure cancels this scope and the daemons. */
  if (rc == 0) rc = ax_sleep(60);
  ax_error_free(err);
  err = NULL;
  rc = ax_nursery_close(n, &err);
  if (err) return ax_ctx_raise(ctx, err);
  return rc;
}

static const ax_export exports[] = {
    {.name = "main", .ctx_fn = run_main},
    {.name = "assert_false", .ctx_fn = assert_false},
    {0},
};

AX_PLUGIN_EXPORT const ax_module_def axle_module = {AX_MODULE_ABI,
                                                   "remote_error", exports};

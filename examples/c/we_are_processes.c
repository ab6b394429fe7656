/* we_are_processes.c - zombie safe: self-destruct a process tree (tractor's
 * "we are processes" example).
 *
 * The root starts one worker per CPU, each sleeping forever, waits one
 * second, then fails. Failing cancels every worker; the nursery reaps them
 * all before the error surfaces, so no process is left behind.
 *
 * Run:    axle run c:build/examples/c/we_are_processes.so
 * Prints: This process tree will self-destruct in 1 sec...
 *         Zombies Contained
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "axle.h"

/* A worker: sleeps until it is cancelled. */
static int sleep_forever(ax_ctx *ctx, const ax_val *args) {
  (void)ctx;
  (void)args;
  return ax_sleep(1e9);
}

static int run_main(ax_ctx *ctx, const ax_val *args) {
  (void)args;
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  if (ncpu < 1) ncpu = 1;
  ax_nursery *n;
  int rc = ax_nursery_open(&n);
  if (rc < 0) return rc;
  ax_spawn_opts opts = {.size = sizeof opts, .module = ax_ctx_module(ctx)};
  for (long i = 0; i < ncpu && rc == 0; i++) {
    char name[32];
    snprintf(name, sizeof name, "worker_%ld", i);
    ax_portal *p;
    ax_error *err = NULL;
    rc = ax_run_in_actor(n, name, &opts, "sleep_forever", NULL, &p, &err);
    ax_error_free(err);
  }
  printf("This process tree will self-destruct in 1 sec...\n");
  fflush(stdout);
  if (rc == 0) rc = ax_sleep(1.0);
  /* The body fails: one-cancels-all takes every worker down. */
  ax_error *self = ax_error_new("Exception", "Self Destructed");
  ax_nursery_cancel(n);
  ax_error *err = NULL;
  ax_nursery_close(n, &err);
  ax_error_free(err);
  if (!self) return rc;
  ax_error_free(self);
  ax_pack *out = ax_pack_new();
  ax_pack_str(out, "Zombies Contained");
  return ax_ctx_return(ctx, out);
}

static const ax_export exports[] = {
    {.name = "main", .ctx_fn = run_main},
    {.name = "sleep_forever", .ctx_fn = sleep_forever},
    {0},
};

AX_PLUGIN_EXPORT const ax_module_def axle_module = {AX_MODULE_ABI,
                                                   "we_are_processes", exports};

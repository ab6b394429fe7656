/* single_func.c - run a function in a child process and collect its pid
 * (tractor's "run a func in a process").
 *
 * The root opens an actor nursery, runs whoami() of this same plugin as a
 * one-shot actor, and collects its result: the child's pid.
 *
 * Run:    axle run c:build/examples/c/single_func.so
 * Prints: Collected subproc <pid>
 */
#include <stdio.h>
#include <unistd.h>

#include "axle.h"

/* Runs in the child: answers with the pid of the process it runs in. */
static int whoami(ax_ctx *ctx, const ax_val *args) {
  (void)args;
  ax_pack *p = ax_pack_new();
  ax_pack_int(p, getpid());
  return ax_ctx_return(ctx, p);
}

static int run_main(ax_ctx *ctx, const ax_val *args) {
  (void)args;
  ax_nursery *n;
  ax_portal *portal;
  ax_error *err = NULL;
  ax_data *pid = NULL;
  ax_spawn_opts opts = {.size = sizeof opts, .module = ax_ctx_module(ctx)};
  int rc = ax_nursery_open(&n);
  if (rc < 0) return rc;
  rc = ax_run_in_actor(n, "whoami", &opts, "whoami", NULL, &portal, &err);
  if (rc == 0) rc = ax_portal_result(portal, &pid, &err);
  ax_error *cerr = NULL;
  int crc = ax_nursery_close(n, &cerr);
  if (rc < 0) {
    ax_error_free(cerr);
    return err ? ax_ctx_raise(ctx, err) : rc;
  }
  if (crc < 0) return cerr ? ax_ctx_raise(ctx, cerr) : crc;
  long child = (long)ax_val_int(ax_data_root(pid));
  ax_data_free(pid);
  if (child == (long)getpid())
    return ax_ctx_fail(ctx, "AssertionError", "the child ran in our process");
  char line[64];
  snprintf(line, sizeof line, "Collected subproc %ld", child);
  ax_pack *out = ax_pack_new();
  ax_pack_str(out, line);
  return ax_ctx_return(ctx, out);
}

static const ax_export exports[] = {
    {.name = "main", .ctx_fn = run_main},
    {.name = "whoami", .ctx_fn = whoami},
    {0},
};

AX_PLUGIN_EXPORT const ax_module_def axle_module = {AX_MODULE_ABI,
                                                   "single_func", exports};

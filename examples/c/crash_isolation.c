/* crash_isolation.c - a crash in a child is an error in the parent, not a
 * crash of the parent.
 *
 * A child actor calls a plain C function that dereferences NULL. The child
 * dies of SIGSEGV; the root gets an ActorCrashed error naming the signal,
 * then starts another child and calls it successfully.
 *
 * Run:    axle run c:build/examples/c/crash_isolation.so
 * Prints: victim crashed: ActorCrashed: actor 'victim' (pid ...) was
 *         killed by SIGSEGV
 *         carried on: 42
 */
#include <stdint.h>
#include <stdio.h>

#include "axle.h"

/* A plain C function (called through libffi) with a NULL dereference. */
/* The sanitizer build must crash here too, not report and exit. */
__attribute__((no_sanitize_undefined)) static int read_at(int64_t addr) {
  return *(volatile int *)(intptr_t)addr;
}
static int answer(void) { return 42; }

static int run_main(ax_ctx *ctx, const ax_val *args) {
  (void)args;
  ax_spawn_opts opts = {.size = sizeof opts, .module = ax_ctx_module(ctx)};
  ax_nursery *n;
  ax_portal *p;
  ax_error *err = NULL;
  int rc = ax_nursery_open(&n);
  if (rc < 0) return rc;
  rc = ax_start_actor(n, "victim", &opts, &p, &err);
  ax_pack *kw = ax_pack_new();
  ax_pack_map(kw, 1);
  ax_pack_str(kw, "addr");
  ax_pack_int(kw, 0);
  ax_data *kwargs = NULL;
  ax_pack_finish(kw, &kwargs);
  if (rc == 0) rc = ax_portal_run(p, NULL, "read_at", kwargs, NULL, &err);
  ax_data_free(kwargs);
  ax_error *nerr = NULL;
  ax_nursery_close(n, &nerr);
  if (!err) err = nerr, nerr = NULL;
  ax_error_free(nerr);
  if (!err) return ax_ctx_fail(ctx, "AssertionError", "the victim survived");
  printf("victim crashed: %s: %s\n", ax_error_type(err), ax_error_message(err));
  fflush(stdout);
  ax_error_free(err);
  err = NULL;

  /* Carry on: a new child, a successful call. */
  rc = ax_nursery_open(&n);
  if (rc < 0) return rc;
  ax_data *result = NULL;
  rc = ax_start_actor(n, "survivor", &opts, &p, &err);
  if (rc == 0) rc = ax_portal_run(p, NULL, "answer", NULL, &result, &err);
  if (rc == 0) ax_portal_cancel_actor(p);
  ax_nursery_close(n, NULL);
  if (rc < 0) return err ? ax_ctx_raise(ctx, err) : rc;
  printf("carried on: %lld\n", (long long)ax_val_int(ax_data_root(result)));
  ax_data_free(result);
  return 0;
}

static const ax_export exports[] = {
    {.name = "main", .ctx_fn = run_main},
    {.name = "read_at", .sig = "i(l)", .args = "addr",
     .fn = (ax_plain_fn)read_at},
    {.name = "answer", .sig = "i()", .fn = (ax_plain_fn)answer},
    {0},
};

AX_PLUGIN_EXPORT const ax_module_def axle_module = {AX_MODULE_ABI,
                                                   "crash_isolation", exports};

/* plugin.c - an axle plugin built outside axle's tree, against an
 * installed axle (pkg-config or find_package): a child actor squares a
 * number, and another fails. */
#include "axle.h"

static int square(ax_ctx *ctx, const ax_val *args) {
  int64_t n = ax_val_int(ax_val_get(args, "n"));
  ax_pack *p = ax_pack_new();
  ax_pack_int(p, n * n);
  return ax_ctx_return(ctx, p);
}

static int fail(ax_ctx *ctx, const ax_val *args) {
  (void)args;
  return ax_ctx_fail(ctx, "ValueError", "refused by %s", "the plugin");
}

static const ax_export exports[] = {
    {.name = "square", .ctx_fn = square},
    {.name = "fail", .ctx_fn = fail},
    {0},
};

AX_PLUGIN_EXPORT const ax_module_def axle_module = {AX_MODULE_ABI, "plugin",
                                                    exports};

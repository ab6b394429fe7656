/* benchmod.c - the plugin axle-bench's actors run. */
#include "axle.h"

/* Answers with its argument "v": one small value each way. */
static int echo(ax_ctx *ctx, const ax_val *args) {
  return ax_ctx_return_val(ctx, ax_val_get(args, "v"));
}

static int noop(void) { return 0; }

static const ax_export exports[] = {
    {.name = "echo", .ctx_fn = echo},
    {.name = "noop", .sig = "i()", .fn = (ax_plain_fn)noop},
    {0},
};

AX_PLUGIN_EXPORT const ax_module_def axle_module = {AX_MODULE_ABI, "benchmod",
                                                   exports};

/* rawvalue.c - a C actor that returns any msgpack value its caller
 * spells out as bytes, even one no Lua value encodes to (a map with a NaN
 * or nil key): how the Lua tests reach the Lua caller's decoding. */
#include <stddef.h>

#include "axle.h"

/* decode{bytes = "..."}: the value those msgpack bytes encode. */
static int decode(ax_ctx *ctx, const ax_val *args) {
  size_t n = 0;
  const char *b = ax_val_str(ax_val_get(args, "bytes"), &n);
  ax_data *d = NULL;
  if (!b || ax_data_decode(b, n, &d) < 0)
    return ax_ctx_fail(ctx, "ValueError", "'bytes' is no msgpack value");
  int rc = ax_ctx_return_val(ctx, ax_data_root(d));
  ax_data_free(d);
  return rc;
}

static const ax_export exports[] = {
    {.name = "decode", .ctx_fn = decode},
    {0},
};

AX_PLUGIN_EXPORT const ax_module_def axle_module = {AX_MODULE_ABI, "rawvalue",
                                                    exports};

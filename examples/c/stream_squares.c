/* stream_squares.c - a C context function that streams to a Lua consumer.
 *
 * squares(n) answers started with n, then sends the squares 1, 4, 9...
 * of 1..n on its stream and returns their sum. Its consumer is a Lua
 * script, examples/lua/stream_squares.lua, which starts this plugin in an
 * actor, opens the context and prints what arrives.
 *
 * Run:    axle run examples/lua/stream_squares.lua   (from the top of the
 *         checkout, after building: it starts c:build/examples/c/...)
 * Prints: streaming 5 squares from C
 *         1 4 9 16 25
 *         sum 55 */
#include "axle.h"

static int squares(ax_ctx *ctx, const ax_val *args) {
  int64_t n = ax_val_int(ax_val_get(args, "n"));
  ax_pack *first = ax_pack_new();
  if (!first) return AX_ENOMEM;
  ax_pack_int(first, n);
  int rc = ax_ctx_started(ctx, first); /* the caller's first value */
  ax_stream *s;
  if (rc == 0) rc = ax_ctx_open_stream(ctx, NULL, &s);
  int64_t sum = 0;
  for (int64_t i = 1; rc == 0 && i <= n; i++) {
    ax_pack *v = ax_pack_new();
    if (!v) return AX_ENOMEM;
    ax_pack_int(v, i * i);
    rc = ax_stream_send(s, v); /* waits while the window is full */
    sum += i * i;
  }
  if (rc < 0) return rc; /* cancelled, or the consumer went away */
  ax_pack *r = ax_pack_new();
  if (!r) return AX_ENOMEM;
  ax_pack_int(r, sum);
  return ax_ctx_return(ctx, r);
}

static const ax_export exports[] = {
    {.name = "squares", .ctx_fn = squares},
    {0},
};

AX_PLUGIN_EXPORT const ax_module_def axle_module = {AX_MODULE_ABI,
                                                   "stream_squares", exports};

/* benchmod.c - the plugin axle-bench's actors run. */
#include "axle.h"

/* Answers with its argument "v": one small value each way. */
static int echo(ax_ctx *ctx, const ax_val *args) {
  return ax_ctx_return_val(ctx, ax_val_get(args, "v"));
}

static int noop(void) { return 0; }

/* A context that streams the integers 1..n (small values, one way), or,
 * with "size", n binary values of that many bytes each. */
static int produce(ax_ctx *ctx, const ax_val *args) {
  int64_t n = ax_val_int(ax_val_get(args, "n"));
  int64_t size = ax_val_int(ax_val_get(args, "size"));
  int rc = ax_ctx_started(ctx, NULL);
  ax_stream *s;
  if (rc == 0) rc = ax_ctx_open_stream(ctx, NULL, &s);
  static char block[1 << 16];
  for (int64_t i = 1; rc == 0 && i <= n; i++) {
    ax_pack *v = ax_pack_new();
    if (size > 0)
      ax_pack_bin(v, block,
                  (size_t)size < sizeof block ? (size_t)size : sizeof block);
    else
      ax_pack_int(v, i);
    rc = ax_stream_send(s, v);
  }
  return rc;
}

/* A context that sends back every value until the caller's stop. */
static int pong(ax_ctx *ctx, const ax_val *args) {
  (void)args;
  int rc = ax_ctx_started(ctx, NULL);
  ax_stream *s;
  if (rc == 0) rc = ax_ctx_open_stream(ctx, NULL, &s);
  ax_data *v;
  while (rc == 0 && (rc = ax_stream_recv(s, &v, NULL)) == 0) {
    ax_pack *back = ax_pack_new();
    ax_pack_val(back, ax_data_root(v));
    ax_data_free(v);
    rc = ax_stream_send(s, back);
  }
  return rc == AX_ECLOSED ? 0 : rc;
}

/* A context that answers every value with its size in bytes, until the
 * caller's stop. */
static int sink(ax_ctx *ctx, const ax_val *args) {
  (void)args;
  int rc = ax_ctx_started(ctx, NULL);
  ax_stream *s;
  if (rc == 0) rc = ax_ctx_open_stream(ctx, NULL, &s);
  ax_data *v;
  while (rc == 0 && (rc = ax_stream_recv(s, &v, NULL)) == 0) {
    size_t len;
    ax_data_bytes(v, &len);
    ax_data_free(v);
    ax_pack *back = ax_pack_new();
    ax_pack_int(back, (int64_t)len);
    rc = ax_stream_send(s, back);
  }
  return rc == AX_ECLOSED ? 0 : rc;
}

static const ax_export exports[] = {
    {.name = "echo", .ctx_fn = echo},
    {.name = "noop", .sig = "i()", .fn = (ax_plain_fn)noop},
    {.name = "produce", .ctx_fn = produce},
    {.name = "pong", .ctx_fn = pong},
    {.name = "sink", .ctx_fn = sink},
    {0},
};

AX_PLUGIN_EXPORT const ax_module_def axle_module = {AX_MODULE_ABI, "benchmod",
                                                    exports};

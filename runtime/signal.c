/* signal.c - signals, the runtime's alone: SIGINT (in the root) and
 * SIGTERM cancel the actor, through libuv, on the loop; no binding
 * installs a handler. */
#include <signal.h>

#include "internal.h"

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  ax_log(AX_LOG_INFO, "%s: cancelling the actor", ax__signame(signum));
  ax__cancel_actor(signum);
}

void ax__signal_start(int child) {
  ax__rt *rt = ax__rt_g;
  /* A child leaves Ctrl-C to the root, which cancels the tree in order. */
  if (child) {
    signal(SIGINT, SIG_IGN);
  } else {
    uv_signal_init(&rt->loop, &rt->sigint);
    uv_signal_start(&rt->sigint, on_signal, SIGINT);
    uv_unref((uv_handle_t *)&rt->sigint);
  }
  uv_signal_init(&rt->loop, &rt->sigterm);
  uv_signal_start(&rt->sigterm, on_signal, SIGTERM);
  uv_unref((uv_handle_t *)&rt->sigterm);
}

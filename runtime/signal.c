/* signal.c - signals, the runtime's alone: SIGINT (in the root) and
 * SIGTERM cancel the actor, through libuv, on the loop; no binding
 * installs a handler. And the names of signals, for messages. */
#include <signal.h>

#include "internal.h"

const char *ax__signal_name(int sig) {
  switch (sig) {
    case SIGSEGV:
      return "SIGSEGV";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGILL:
      return "SIGILL";
    case SIGABRT:
      return "SIGABRT";
    case SIGKILL:
      return "SIGKILL";
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case SIGHUP:
      return "SIGHUP";
    case SIGPIPE:
      return "SIGPIPE";
    case SIGQUIT:
      return "SIGQUIT";
    case SIGTRAP:
      return "SIGTRAP";
    case SIGSYS:
      return "SIGSYS";
    default:
      return "signal";
  }
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  ax_log(AX_LOG_INFO, "%s: cancelling the actor", ax__signal_name(signum));
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

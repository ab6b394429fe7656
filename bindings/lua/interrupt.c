/* interrupt.c - cancelling Lua code that never calls axle. The teardown
 * ladder's SIGTERM must reach a Lua thread busy in pure Lua code, which no
 * cancel scope can: a handler chained in front of libuv's arms a count hook
 * (lua_sethook is safe in a signal handler) on the thread running now, and
 * the hook raises Cancelled there, so <close> handlers run. */
#include <signal.h>
#include <string.h>

#include "internal.h"

/* The Lua thread whose code runs now, for the signal handler to hook; set
 * around every protected call of Lua code on a task. */
static lua_State *volatile running;

/* The SIGTERM disposition found when arming (libuv's), which the handler
 * calls after its own work. */
static struct sigaction previous_term;

int axlua_interrupt_pcall(lua_State *T, int nargs, int nres) {
  lua_State *outer = running;
  running = T;
  int status = lua_pcall(T, nargs, nres, 1);
  running = outer;
  return status;
}

static void cancel_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  axlua_error_push(
      L, ax_error_new("Cancelled", "cancelled while running Lua code"));
  lua_error(L);
}

static void on_term(int sig, siginfo_t *si, void *uc) {
  lua_State *L = running;
  if (L) lua_sethook(L, cancel_hook, LUA_MASKCALL | LUA_MASKRET |
                                         LUA_MASKCOUNT, 1);
  if (previous_term.sa_flags & SA_SIGINFO) {
    if (previous_term.sa_sigaction) previous_term.sa_sigaction(sig, si, uc);
  } else if (previous_term.sa_handler != SIG_IGN &&
             previous_term.sa_handler != SIG_DFL) {
    previous_term.sa_handler(sig);
  }
}

void axlua_interrupt_arm(void) {
  /* Once per process: a second sigaction would chain the handler to
   * itself. */
  static int armed;
  if (armed) return;
  armed = 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_term;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, &previous_term);
}

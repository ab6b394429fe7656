/* interrupt.c - busy Lua code stays cancellable, with no signal handler.
 * Every Lua thread the binding runs code in carries an instruction-count
 * hook (coroutines made inside it inherit it) that calls ax_checkpoint:
 * every few milliseconds of busy code the loop gets to poll, so it reads
 * a cancel request or takes SIGINT/SIGTERM (the runtime's) and cancels
 * the task running the code. The hook then raises Cancelled in that
 * thread, once per cancellation, so that <close> handlers and error
 * handlers run; once the cancelled scope is closed, a later cancellation
 * raises again. */
#include <string.h>

#include "internal.h"

/* Lua instructions between two checkpoints: often enough for a 10 ms
 * response, rarely enough to cost nothing measurable. */
#define HOOK_COUNT 10000

/* Per thread, in Lua's extra space: the hook has raised Cancelled. */
static char *raised(lua_State *L) { return lua_getextraspace(L); }

static void checkpoint_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  if (ax_checkpoint() != AX_ECANCELED) {
    *raised(L) = 0; /* the cancelled scope is gone: a new one may come */
    return;
  }
  if (*raised(L)) return; /* raised once for this cancellation */
  *raised(L) = 1;
  axlua_error_push(
      L, ax_error_new_kind(AX_K_CANCELLED, "cancelled while running Lua code"));
  lua_error(L);
}

int axlua_interrupt_pcall(lua_State *T, int nargs, int nres) {
  *raised(T) = 0;
  lua_sethook(T, checkpoint_hook, LUA_MASKCOUNT, HOOK_COUNT);
  return lua_pcall(T, nargs, nres, 1);
}

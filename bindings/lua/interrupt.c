/* interrupt.c - busy Lua code stays cancellable, with no signal handler.
 * Every Lua thread the binding runs code in carries an instruction-count
 * hook (coroutines made inside it inherit it) that calls ax_checkpoint:
 * every few milliseconds of busy code the loop gets to poll, so it reads
 * a cancel request or takes SIGINT/SIGTERM (the runtime's) and cancels
 * the task running the code. The hook then raises Cancelled in that
 * thread, once per cancellation, so that <close> handlers and error
 * handlers run; once the cancelled scope is closed, a later cancellation
 * raises again.
 *
 * A module's chunk runs when the actor loads it, which the runtime does on
 * its loop, not in a task: there nothing can yield to the loop, and the
 * signals the runtime would take there stay unread. So while a chunk runs
 * on the loop, the hook looks for them itself: SIGINT and SIGTERM (those
 * not ignored) are held pending, the hook raises Cancelled when one is,
 * and once the chunk is over they reach the runtime as usual. */
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "internal.h"

/* Lua instructions between two checkpoints: often enough for a 10 ms
 * response, rarely enough to cost nothing measurable. */
#define HOOK_COUNT 10000

/* Per thread, in Lua's extra space: the hook has raised Cancelled. */
static char *raised(lua_State *L) { return lua_getextraspace(L); }

/* Set while a chunk runs on the loop: the signals held pending. */
static int loading;
static sigset_t held;

/* The message says what cancelled the code and what it was doing; or,
 * given whole, is that text. */
static void raise_cancelled(lua_State *L, const char *doing, int whole) {
  if (*raised(L)) return; /* raised once for this cancellation */
  *raised(L) = 1;
  axlua_error_push(L, whole ? ax_error_new_kind(AX_K_CANCELLED, "%s", doing)
                            : ax_cancelled_error(doing));
  lua_error(L);
}

/* On the loop: a held signal that arrived cancels the load. */
static void load_check(lua_State *L) {
  sigset_t pending;
  if (sigpending(&pending) < 0) return;
  if (sigismember(&held, SIGINT) == 1 && sigismember(&pending, SIGINT) == 1)
    raise_cancelled(L, "SIGINT while loading the module", 1);
  if (sigismember(&held, SIGTERM) == 1 && sigismember(&pending, SIGTERM) == 1)
    raise_cancelled(L, "SIGTERM while loading the module", 1);
}

static void checkpoint_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  if (loading && !ax_in_task()) {
    load_check(L);
    return;
  }
  if (ax_checkpoint() != AX_ECANCELED) {
    *raised(L) = 0; /* the cancelled scope is gone: a new one may come */
    return;
  }
  raise_cancelled(L, "running Lua code", 0);
}

int axlua_interrupt_pcall(lua_State *T, int nargs, int nres) {
  *raised(T) = 0;
  lua_sethook(T, checkpoint_hook, LUA_MASKCOUNT, HOOK_COUNT);
  return lua_pcall(T, nargs, nres, 1);
}

int axlua_interrupt_load(lua_State *L, int msgh) {
  *raised(L) = 0;
  lua_sethook(L, checkpoint_hook, LUA_MASKCOUNT, HOOK_COUNT);
  if (ax_in_task() || loading) {
    int status = lua_pcall(L, 0, 1, msgh);
    lua_sethook(L, NULL, 0, 0);
    *raised(L) = 0;
    return status;
  }
  /* Signals the runtime ignores (SIGINT in a child) are left alone. */
  sigemptyset(&held);
  static const int sigs[] = {SIGINT, SIGTERM};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    struct sigaction sa;
    if (sigaction(sigs[i], NULL, &sa) == 0 && sa.sa_handler != SIG_IGN)
      sigaddset(&held, sigs[i]);
  }
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &held, &old);
  loading = 1;
  int status = lua_pcall(L, 0, 1, msgh);
  loading = 0;
  lua_sethook(L, NULL, 0, 0);
  *raised(L) = 0; /* threads made later start from the main thread's */
  /* A signal held meanwhile is delivered now, to the runtime's handler. */
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return status;
}

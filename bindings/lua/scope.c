/* scope.c - cancel scopes and time in Lua: axle.cancel_scope (a <close>
 * value, or a function form that absorbs its own cancellation), the
 * deadline forms move_on_after and fail_after, and the clock and sleep
 * that deadlines are measured with. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define SCOPE_MT "axle.CancelScope"

typedef struct lscope {
  ax_scope *s;
  int closed;
  int caught;
  /* s:cancel() came before any deadline: the scope did not expire. */
  int cancel_called;
  double timeout;
  /* Where the timeout was set ("file.lua:12"), for the error that an
   * expired <close> scope cannot stop; "" when unknown or no timeout. */
  char where[LUA_IDSIZE + 16];
} lscope;

/* The <close> form: a Cancelled it caused passes through its __close, and
 * this key (by address) marks one that already says which deadline. */
static const char named_key = 0;

/* Seconds at idx: zero or more (math.huge: forever); NaN and negative
 * values are refused here, where the caller can be named. */
static double check_seconds(lua_State *L, int idx) {
  double s = axlua_check_number(L, idx);
  if (!(s >= 0))
    axlua_error_arg(L, idx,
                    "seconds must be zero or more (math.huge: forever)");
  return s;
}

/* Where the user's code called this C function: the nearest Lua function
 * on the stack (in pcall(axle.fail_after, ...) the caller is pcall), as
 * "file.lua:12"; "" when there is none. */
static void caller_where(lua_State *L, char *buf, size_t size) {
  lua_Debug ar;
  buf[0] = 0;
  for (int level = 1; lua_getstack(L, level, &ar); level++) {
    if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
      snprintf(buf, size, "%s:%d", ar.short_src, ar.currentline);
      return;
    }
  }
}

/* The message of an expired deadline: what set it, and where. */
static void expired_message(char *buf, size_t size, const char *by,
                            double timeout, const char *where) {
  snprintf(buf, size, "the deadline of %s(%g)%s%s expired", by, timeout,
           *where ? " set at " : "", where);
}

/* A new scope object on the stack; its scope is open. */
static lscope *new_scope(lua_State *L, double timeout, const char *where) {
  lscope *ls = lua_newuserdatauv(L, sizeof *ls, 0);
  ls->closed = 1;
  ls->caught = 0;
  ls->cancel_called = 0;
  ls->timeout = timeout;
  snprintf(ls->where, sizeof ls->where, "%s", where);
  ls->s = ax_scope_open(timeout);
  if (!ls->s) axlua_error_raise(L, AX_ENOTASK, NULL);
  ls->closed = 0;
  luaL_setmetatable(L, SCOPE_MT);
  return ls;
}

static void end_scope(lscope *ls) {
  if (ls->closed) return;
  ls->closed = 1;
  ls->caught = ax_scope_close(ls->s);
}

/* (error value, message): the message set, the error marked as named. */
static int name_error(lua_State *L) {
  if (axlua_error_set_message(L, 1, lua_touserdata(L, 2))) {
    lua_pushboolean(L, 1);
    lua_rawsetp(L, 1, &named_key);
  }
  return 0;
}

/* The Cancelled error at idx leaves the expired scope ls: it cannot be
 * stopped, but it can say which deadline sent it, unless a scope inside
 * this one, which expired too, said so first. Best effort: without the
 * memory to rename it, it goes on as it was. */
static void name_deadline(lua_State *L, int idx, const lscope *ls) {
  if (lua_rawgetp(L, idx, &named_key) != LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 1);
  char msg[256];
  expired_message(msg, sizeof msg, "cancel_scope", ls->timeout, ls->where);
  lua_pushcfunction(L, name_error);
  lua_pushvalue(L, idx);
  lua_pushlightuserdata(L, msg);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) lua_pop(L, 1);
}

/* Run fn(...) in a new scope with the timeout at index 1 (cancel_scope:
 * fn(scope, ...), and nil is no deadline). move_on_after and cancel_scope
 * return true and fn's results, or false when the scope's own
 * cancellation ended fn (its deadline, or its cancel()); fail_after
 * returns fn's results, or raises TooSlowError. */
enum { MOVE_ON, FAIL, SCOPE };

static int run_in_scope(lua_State *L, int mode) {
  double timeout =
      mode == SCOPE && lua_isnil(L, 1) ? AX_FOREVER : check_seconds(L, 1);
  axlua_check_type(L, 2, LUA_TFUNCTION);
  int nargs = lua_gettop(L) - 2;
  lscope *ls = NULL;
  ax_scope *s = NULL;
  int base = 2; /* the message handler's index, below fn */
  if (mode == SCOPE) {
    /* The scope stays on the stack below the call, which alone would not
     * keep it from the collector once fn let go of its argument. */
    ls = new_scope(L, timeout, "");
    lua_insert(L, 2);
    lua_pushvalue(L, 2);
    lua_insert(L, 4);
    nargs++;
    base = 3;
  } else {
    s = ax_scope_open(timeout);
    if (!s) return axlua_error_raise(L, AX_ENOTASK, NULL);
  }
  lua_pushcfunction(L, axlua_error_msgh);
  lua_insert(L, base);
  int status = lua_pcall(L, nargs, LUA_MULTRET, base);
  int caught;
  if (ls) {
    end_scope(ls); /* unless fn closed it */
    caught = ls->caught;
  } else {
    caught = ax_scope_close(s);
  }
  if (status != LUA_OK) {
    if (!caught || !axlua_error_is_cancelled(L, -1)) return lua_error(L);
    if (mode != FAIL) {
      lua_pushboolean(L, 0);
      return 1;
    }
    char where[LUA_IDSIZE + 16], msg[256];
    caller_where(L, where, sizeof where);
    expired_message(msg, sizeof msg, "fail_after", timeout, where);
    ax_error *e = ax_error_new_kind(AX_K_TOO_SLOW, "%s", msg);
    /* Its traceback is the Cancelled's: where fn was when time ran out. */
    lua_getfield(L, -1, "traceback");
    if (e && lua_isstring(L, -1))
      ax_error_set_traceback(e, lua_tostring(L, -1));
    lua_pop(L, 1);
    axlua_error_push(L, e);
    return lua_error(L);
  }
  int nres = lua_gettop(L) - base;
  if (mode == FAIL) return nres;
  lua_pushboolean(L, 1);
  lua_insert(L, base + 1);
  return nres + 1;
}

int axlua_scope_open(lua_State *L) {
  if (!lua_isnoneornil(L, 2)) return run_in_scope(L, SCOPE);
  double timeout = lua_isnoneornil(L, 1) ? AX_FOREVER : check_seconds(L, 1);
  char where[LUA_IDSIZE + 16] = "";
  if (timeout != AX_FOREVER) caller_where(L, where, sizeof where);
  new_scope(L, timeout, where);
  return 1;
}

/* __close(scope, error) and scope:close(). */
static int scope_close(lua_State *L) {
  lscope *ls = axlua_check_udata(L, 1, SCOPE_MT);
  if (ls->closed) return 0;
  end_scope(ls);
  /* Lua's to-be-closed variables cannot stop an error: a Cancelled that
   * this scope's deadline caused goes on, naming the deadline. */
  if (ls->caught && !ls->cancel_called && axlua_error_is_cancelled(L, 2))
    name_deadline(L, 2, ls);
  return 0;
}

static int scope_cancel(lua_State *L) {
  lscope *ls = axlua_check_udata(L, 1, SCOPE_MT);
  if (ls->closed) return 0;
  if (!ax_scope_cancelled(ls->s)) ls->cancel_called = 1;
  ax_scope_cancel(ls->s);
  return 0;
}

static int scope_shield(lua_State *L) {
  lscope *ls = axlua_check_udata(L, 1, SCOPE_MT);
  if (!ls->closed) ax_scope_shield(ls->s, lua_toboolean(L, 2));
  return 0;
}

static int scope_index(lua_State *L) {
  lscope *ls = axlua_check_udata(L, 1, SCOPE_MT);
  const char *k = axlua_check_string(L, 2);
  if (!strcmp(k, "cancelled_caught")) {
    lua_pushboolean(L, ls->closed ? ls->caught : ax_scope_cancelled(ls->s));
    return 1;
  }
  luaL_getmetatable(L, SCOPE_MT);
  lua_getfield(L, -1, k);
  return 1;
}

int axlua_scope_move_on_after(lua_State *L) { return run_in_scope(L, MOVE_ON); }
int axlua_scope_fail_after(lua_State *L) { return run_in_scope(L, FAIL); }

int axlua_scope_sleep(lua_State *L) {
  int rc = ax_sleep(check_seconds(L, 1));
  if (rc < 0) return axlua_error_raise(L, rc, NULL);
  return 0;
}

int axlua_scope_now(lua_State *L) {
  lua_pushnumber(L, ax_now());
  return 1;
}

void axlua_scope_init(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"cancel", scope_cancel}, {"shield", scope_shield},
      {"close", scope_close},   {"__close", scope_close},
      {"__index", scope_index}, {NULL, NULL}};
  axlua_new_class(L, SCOPE_MT, methods, 0);
  axlua_error_name_class(L, SCOPE_MT);
}

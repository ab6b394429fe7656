/* scope.c - cancel scopes and time in Lua: axle.cancel_scope (a <close>
 * value), the deadline forms move_on_after and fail_after, and the clock
 * and sleep that deadlines are measured with. */
#include <string.h>

#include "internal.h"

#define SCOPE_MT "axle.CancelScope"

typedef struct lscope {
  ax_scope *s;
  int closed;
  int caught;
} lscope;

/* Seconds at idx: zero or more (math.huge: forever); NaN and negative
 * values are refused here, where the caller can be named. */
static double check_seconds(lua_State *L, int idx) {
  double s = luaL_checknumber(L, idx);
  if (!(s >= 0))
    luaL_argerror(L, idx, "seconds must be zero or more (math.huge: "
                          "forever)");
  return s;
}

int axlua_scope_open(lua_State *L) {
  double timeout = lua_isnoneornil(L, 1) ? AX_FOREVER : check_seconds(L, 1);
  lscope *ls = lua_newuserdatauv(L, sizeof *ls, 0);
  ls->closed = 1;
  ls->s = ax_scope_open(timeout);
  if (!ls->s) return luaL_error(L, "cancel scopes need a task");
  ls->closed = 0;
  ls->caught = 0;
  luaL_setmetatable(L, SCOPE_MT);
  return 1;
}

static int scope_close(lua_State *L) {
  lscope *ls = luaL_checkudata(L, 1, SCOPE_MT);
  if (!ls->closed) {
    ls->closed = 1;
    ls->caught = ax_scope_close(ls->s);
  }
  return 0;
}

static int scope_cancel(lua_State *L) {
  lscope *ls = luaL_checkudata(L, 1, SCOPE_MT);
  if (!ls->closed) ax_scope_cancel(ls->s);
  return 0;
}

static int scope_shield(lua_State *L) {
  lscope *ls = luaL_checkudata(L, 1, SCOPE_MT);
  if (!ls->closed) ax_scope_shield(ls->s, lua_toboolean(L, 2));
  return 0;
}

static int scope_index(lua_State *L) {
  lscope *ls = luaL_checkudata(L, 1, SCOPE_MT);
  const char *k = luaL_checkstring(L, 2);
  if (!strcmp(k, "cancelled_caught")) {
    lua_pushboolean(L, ls->closed ? ls->caught : ax_scope_cancelled(ls->s));
    return 1;
  }
  luaL_getmetatable(L, SCOPE_MT);
  lua_getfield(L, -1, k);
  return 1;
}

/* Run fn(...) in a scope with a deadline. move_on_after returns true and
 * fn's results, or false when time ran out; fail_after raises TooSlowError
 * instead. */
static int run_with_deadline(lua_State *L, int fail) {
  double timeout = check_seconds(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  int nargs = lua_gettop(L) - 2;
  ax_scope *s = ax_scope_open(timeout);
  if (!s) return luaL_error(L, "cancel scopes need a task");
  lua_pushcfunction(L, axlua_error_msgh);
  lua_insert(L, 2);
  int base = 2;
  int status = lua_pcall(L, nargs, LUA_MULTRET, base);
  int caught = ax_scope_close(s);
  if (status != LUA_OK) {
    if (caught && axlua_error_is_cancelled(L, -1)) {
      if (fail) {
        axlua_error_push(L, ax_error_new_kind(AX_K_TOO_SLOW, "deadline of %g s exceeded", timeout));
        return lua_error(L);
      }
      lua_pushboolean(L, 0);
      return 1;
    }
    return lua_error(L);
  }
  int nres = lua_gettop(L) - base;
  lua_pushboolean(L, 1);
  lua_insert(L, base + 1);
  return nres + 1;
}

int axlua_scope_move_on_after(lua_State *L) {
  return run_with_deadline(L, 0);
}
int axlua_scope_fail_after(lua_State *L) {
  return run_with_deadline(L, 1);
}

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
  static const luaL_Reg methods[] = {{"cancel", scope_cancel},
                                     {"shield", scope_shield},
                                     {"close", scope_close},
                                     {"__close", scope_close},
                                     {"__index", scope_index},
                                     {NULL, NULL}};
  axlua_new_class(L, SCOPE_MT, methods, 0);
}

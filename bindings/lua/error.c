/* error.c - error values: every error axle raises in Lua is a table (type,
 * message, traceback, src, relay_path, members) holding the ax_error it
 * stands for, so that re-raising it elsewhere keeps its source and path.
 * Also the way back, from any Lua error to an ax_error, and the message
 * handler that gives Lua errors a traceback. */
#include <string.h>

#include "internal.h"

#define ERROR_MT "axle.Error"
#define HANDLE_MT "axle.ErrorHandle"

static int handle_gc(lua_State *L) {
  ax_error **h = luaL_checkudata(L, 1, HANDLE_MT);
  ax_error_free(*h);
  *h = NULL;
  return 0;
}

static int error_tostring(lua_State *L) {
  lua_getfield(L, 1, "_handle");
  ax_error **h = luaL_testudata(L, -1, HANDLE_MT);
  if (h && *h) {
    char *s = ax_error_format(*h);
    lua_pushstring(L, s ? s : "");
    ax_free(s);
    return 1;
  }
  lua_getfield(L, 1, "type");
  lua_getfield(L, 1, "message");
  lua_pushfstring(L, "%s: %s", luaL_optstring(L, -2, "Error"),
                  luaL_optstring(L, -1, ""));
  return 1;
}

void axlua_error_init(lua_State *L) {
  luaL_newmetatable(L, HANDLE_MT);
  lua_pushcfunction(L, handle_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, ERROR_MT);
  lua_pushcfunction(L, error_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}

static int new_handle(lua_State *L) {
  ax_error **h = lua_newuserdatauv(L, sizeof *h, 0);
  *h = NULL;
  luaL_setmetatable(L, HANDLE_MT);
  return 1;
}

void axlua_error_push(lua_State *L, ax_error *e) {
  /* e is held by its handle first: building the table allocates, and an
   * error there (out of memory) must not leak it. Making the handle
   * allocates too: protected, so that e is freed if even that fails. */
  lua_pushcfunction(L, new_handle);
  if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
    ax_error_free(e);
    lua_error(L);
  }
  *(ax_error **)lua_touserdata(L, -1) = e;
  lua_createtable(L, 0, 8);
  lua_insert(L, -2);
  lua_setfield(L, -2, "_handle");
  luaL_checkstack(L, 4, "errors nested too deep");
  axlua_set_str(L, "type", ax_error_type(e));
  axlua_set_str(L, "message", ax_error_message(e));
  axlua_set_str(L, "traceback", ax_error_traceback(e));
  axlua_actor_push(L, ax_error_src_name(e), ax_error_src_uid(e),
                   ax_error_src_pid(e));
  lua_setfield(L, -2, "src");
  lua_createtable(L, (int)ax_error_relay_len(e), 0);
  for (size_t i = 0; i < ax_error_relay_len(e); i++) {
    axlua_actor_push(L, ax_error_relay_name(e, i), ax_error_relay_uid(e, i), 0);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "relay_path");
  lua_createtable(L, (int)ax_error_nmembers(e), 0);
  for (size_t i = 0; i < ax_error_nmembers(e); i++) {
    axlua_error_push(L, ax_error_dup(ax_error_member(e, i)));
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "members");
  luaL_setmetatable(L, ERROR_MT);
}

int axlua_error_raise(lua_State *L, int rc, ax_error *e) {
  if (!e)
    e = rc == AX_ECANCELED
            ? ax_error_new_kind(AX_K_CANCELLED, "%s", ax_strerror(rc))
            : ax_error_new(ax_err_name(rc), "%s", ax_strerror(rc));
  axlua_error_push(L, e);
  return lua_error(L);
}

ax_error *axlua_error_from(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (lua_istable(L, idx)) {
    lua_getfield(L, idx, "_handle");
    ax_error **h = luaL_testudata(L, -1, HANDLE_MT);
    lua_pop(L, 1);
    if (h && *h) return ax_error_dup(*h);
    lua_getfield(L, idx, "type");
    lua_getfield(L, idx, "message");
    lua_getfield(L, idx, "traceback");
    const char *type = lua_tostring(L, -3);
    const char *msg = lua_tostring(L, -2);
    ax_error *e = ax_error_new(type ? type : "LuaError", "%s", msg ? msg : "");
    if (e && lua_tostring(L, -1)) ax_error_set_traceback(e, lua_tostring(L, -1));
    lua_pop(L, 3);
    return e;
  }
  const char *msg = luaL_tolstring(L, idx, NULL);
  ax_error *e = ax_error_new("LuaError", "%s", msg);
  lua_pop(L, 1);
  return e;
}

int axlua_error_msgh(lua_State *L) {
  if (lua_istable(L, 1)) {
    lua_getfield(L, 1, "traceback");
    int has = lua_isstring(L, -1) && lua_rawlen(L, -1) > 0;
    lua_pop(L, 1);
    if (!has) {
      luaL_traceback(L, L, NULL, 1);
      lua_setfield(L, 1, "traceback");
    }
    return 1;
  }
  /* What may raise (out of memory) comes before e exists. */
  const char *msg = luaL_tolstring(L, 1, NULL);
  luaL_traceback(L, L, NULL, 1);
  ax_error *e = ax_error_new("LuaError", "%s", msg);
  if (e) ax_error_set_traceback(e, lua_tostring(L, -1));
  lua_pop(L, 2);
  axlua_error_push(L, e);
  return 1;
}

int axlua_error_is_cancelled(lua_State *L, int idx) {
  if (!lua_istable(L, idx)) return 0;
  lua_getfield(L, idx, "type");
  int yes = lua_isstring(L, -1) && !strcmp(lua_tostring(L, -1),
                                           ax_error_kind_name(AX_K_CANCELLED));
  lua_pop(L, 1);
  return yes;
}

int axlua_error_set_message(lua_State *L, int idx, const char *msg) {
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx)) return 0;
  lua_getfield(L, idx, "_handle");
  ax_error **h = luaL_testudata(L, -1, HANDLE_MT);
  lua_pop(L, 1);
  /* A relayed error would lose its source and path in a new ax_error. */
  if (!h || !*h || ax_error_relay_len(*h) > 1) return 0;
  ax_error *e = ax_error_new(ax_error_type(*h), "%s", msg);
  if (!e) return 0;
  /* The message handler writes the Lua traceback into the table only. */
  lua_getfield(L, idx, "traceback");
  ax_error_set_traceback(
      e, lua_isstring(L, -1) ? lua_tostring(L, -1) : ax_error_traceback(*h));
  lua_pop(L, 1);
  axlua_error_push(L, e);
  lua_getfield(L, -1, "_handle");
  lua_setfield(L, idx, "_handle");
  lua_getfield(L, -1, "message");
  lua_setfield(L, idx, "message");
  lua_pop(L, 1);
  return 1;
}

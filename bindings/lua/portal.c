/* portal.c - portals in Lua: the handle on one child actor that a nursery
 * hands out, to call it (run), collect a one-shot's result, cancel it, and
 * read its identity (name, uid, pid). A portal keeps its nursery alive and
 * is valid until that nursery is closed. */
#include <string.h>

#include "internal.h"

#define PORTAL_MT "axle.Portal"

typedef struct lportal {
  ax_portal *p;
  axlua_nursery *owner;
} lportal;

/* The portal at idx. Every function of the class carries the metatable as
 * upvalue 1: comparing with it is what luaL_checkudata does, without its
 * lookup of the metatable by name. */
static lportal *to_portal(lua_State *L, int idx) {
  lportal *lp = lua_touserdata(L, idx);
  if (!lp || !lua_getmetatable(L, idx) ||
      !lua_rawequal(L, -1, lua_upvalueindex(1)))
    luaL_typeerror(L, idx, PORTAL_MT);
  lua_pop(L, 1);
  return lp;
}

static lportal *check_portal(lua_State *L, int idx) {
  lportal *lp = to_portal(L, idx);
  if (axlua_nursery_closed(lp->owner))
    luaL_error(L, "the portal's nursery is closed");
  return lp;
}

void axlua_portal_push(lua_State *L, ax_portal *p, axlua_nursery *ln,
                       int nursery_idx) {
  lportal *lp = lua_newuserdatauv(L, sizeof *lp, 1);
  lp->p = p;
  lp->owner = ln;
  lua_pushvalue(L, nursery_idx);
  lua_setiuservalue(L, -2, 1); /* keep the nursery alive */
  luaL_setmetatable(L, PORTAL_MT);
}

static int push_result(lua_State *L, int rc, ax_data *r, ax_error *e) {
  if (rc < 0) return axlua_error_raise(L, rc, e);
  if (r)
    axlua_value_push(L, ax_data_root(r));
  else
    lua_pushnil(L);
  ax_data_free(r);
  return 1;
}

static int portal_run(lua_State *L) {
  lportal *lp = check_portal(L, 1);
  lua_settop(L, 4); /* function_name pushes: absent arguments stay absent */
  const char *func = axlua_loader_function_name(L, 2);
  const char *ns = NULL;
  if (lua_istable(L, 4)) {
    lua_getfield(L, 4, "module"); /* stays on the stack while ns is used */
    ns = lua_tostring(L, -1);
  }
  /* Last, so that nothing raises while args is not freed. */
  ax_data *args = lua_isnoneornil(L, 3)
                      ? NULL
                      : axlua_value_to_data(L, 3, lua_upvalueindex(2));
  ax_data *r = NULL;
  ax_error *e = NULL;
  int rc = ax_portal_run(lp->p, ns, func, args, &r, &e);
  ax_data_free(args);
  return push_result(L, rc, r, e);
}

static int portal_result(lua_State *L) {
  lportal *lp = check_portal(L, 1);
  ax_data *r = NULL;
  ax_error *e = NULL;
  int rc = ax_portal_result(lp->p, &r, &e);
  return push_result(L, rc, r, e);
}

static int portal_cancel_actor(lua_State *L) {
  int rc = ax_portal_cancel_actor(check_portal(L, 1)->p);
  if (rc < 0) return axlua_error_raise(L, rc, NULL);
  return 0;
}

/* Methods first (a raw lookup in the metatable, upvalue 1), as they are
 * what calls look up; then the identity fields. */
static int portal_index(lua_State *L) {
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  lportal *lp = to_portal(L, 1);
  const char *k = luaL_checkstring(L, 2);
  if (!strcmp(k, "name")) {
    lua_pushstring(L, ax_portal_name(lp->p));
  } else if (!strcmp(k, "uid")) {
    lua_pushstring(L, ax_portal_uid(lp->p));
  } else if (!strcmp(k, "pid")) {
    lua_pushinteger(L, ax_portal_pid(lp->p));
  } else {
    lua_pushnil(L);
  }
  return 1;
}

void axlua_portal_init(lua_State *L) {
  static const luaL_Reg methods[] = {{"run", portal_run},
                                     {"result", portal_result},
                                     {"cancel_actor", portal_cancel_actor},
                                     {"__index", portal_index},
                                     {NULL, NULL}};
  /* Upvalues: the metatable, and a buffer to encode arguments in. */
  luaL_newmetatable(L, PORTAL_MT);
  lua_pushvalue(L, -1);
  axlua_value_push_buffer(L);
  luaL_setfuncs(L, methods, 2);
  lua_pop(L, 1);
}

/* axle_lua.c - the Lua 5.4 module "axle" and the loader of "lua:" module
 * specs, built on abi/axle.h alone.
 *
 * Each call a Lua actor serves runs in its own Lua thread on the stack of
 * an axle task; a blocking axle function called from Lua suspends the
 * task (and with it the Lua thread), so Lua code reads sequentially. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "axle.h"

#define ERROR_MT "axle.Error"
#define HANDLE_MT "axle.ErrorHandle"
#define NURSERY_MT "axle.Nursery"
#define PORTAL_MT "axle.Portal"
#define K_MODULE "axle.module" /* registry: the module table */
#define K_SPEC "axle.spec"     /* registry: this module's spec */
#define MAX_DEPTH 32

/* The entry point of require "axle": exported, everything else hidden. */
__attribute__((visibility("default"))) int luaopen_axle(lua_State *L);
static void note_script_dir(lua_State *L, const char *path);

/* ------------------------------------------------------------ values */

static int pack_value(lua_State *L, int idx, ax_pack *p, int depth);

static int is_array(lua_State *L, int idx, lua_Integer *n) {
  lua_Integer len = (lua_Integer)lua_rawlen(L, idx), count = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
        lua_tointeger(L, -1) > len) {
      lua_pop(L, 1);
      return 0;
    }
    count++;
  }
  *n = len;
  return count == len && len > 0;
}

static int pack_value(lua_State *L, int idx, ax_pack *p, int depth) {
  idx = lua_absindex(L, idx);
  if (depth > MAX_DEPTH)
    return luaL_error(L, "value nested deeper than %d levels", MAX_DEPTH);
  switch (lua_type(L, idx)) {
    case LUA_TNIL:
      return ax_pack_nil(p);
    case LUA_TBOOLEAN:
      return ax_pack_bool(p, lua_toboolean(L, idx));
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) return ax_pack_int(p, lua_tointeger(L, idx));
      return ax_pack_float(p, lua_tonumber(L, idx));
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      return ax_pack_strn(p, s, n);
    }
    case LUA_TTABLE: {
      lua_Integer n;
      luaL_checkstack(L, 4, "value too deep");
      if (is_array(L, idx, &n)) {
        ax_pack_array(p, (uint32_t)n);
        for (lua_Integer i = 1; i <= n; i++) {
          lua_rawgeti(L, idx, i);
          pack_value(L, -1, p, depth + 1);
          lua_pop(L, 1);
        }
        return 0;
      }
      uint32_t count = 0;
      lua_pushnil(L);
      while (lua_next(L, idx)) {
        lua_pop(L, 1);
        count++;
      }
      ax_pack_map(p, count);
      lua_pushnil(L);
      while (lua_next(L, idx)) {
        pack_value(L, -2, p, depth + 1);
        pack_value(L, -1, p, depth + 1);
        lua_pop(L, 1);
      }
      return 0;
    }
    default:
      return luaL_error(L, "cannot send a %s to another actor",
                        luaL_typename(L, idx));
  }
}

/* Encode the value at idx; raises a Lua error on values that cannot go. */
static ax_data *axlua_value_to_data(lua_State *L, int idx) {
  ax_pack *p = ax_pack_new();
  if (!p) luaL_error(L, "out of memory");
  /* The pack must not leak if packing raises: anchor it in a userdata. */
  ax_pack **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = p;
  pack_value(L, idx < 0 ? idx - 1 : idx, p, 0);
  lua_pop(L, 1);
  ax_data *d = NULL;
  if (ax_pack_finish(p, &d) < 0) luaL_error(L, "cannot encode the value");
  return d;
}

static void axlua_value_push(lua_State *L, const ax_val *v) {
  luaL_checkstack(L, 3, "value too deep");
  size_t n;
  const char *s;
  switch (ax_val_type(v)) {
    case AX_T_NIL:
      lua_pushnil(L);
      break;
    case AX_T_BOOL:
      lua_pushboolean(L, ax_val_bool(v));
      break;
    case AX_T_INT:
      lua_pushinteger(L, (lua_Integer)ax_val_int(v));
      break;
    case AX_T_FLOAT:
      lua_pushnumber(L, ax_val_float(v));
      break;
    case AX_T_STR:
      s = ax_val_str(v, &n);
      lua_pushlstring(L, s, n);
      break;
    case AX_T_BIN:
      s = ax_val_bin(v, &n);
      lua_pushlstring(L, s, n);
      break;
    case AX_T_ARRAY:
      lua_createtable(L, (int)ax_val_len(v), 0);
      for (uint32_t i = 0; i < ax_val_len(v); i++) {
        axlua_value_push(L, ax_val_at(v, i));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
      break;
    case AX_T_MAP:
      lua_createtable(L, 0, (int)ax_val_len(v));
      for (uint32_t i = 0; i < ax_val_len(v); i++) {
        axlua_value_push(L, ax_val_key(v, i));
        axlua_value_push(L, ax_val_value(v, i));
        if (lua_isnil(L, -2))
          lua_pop(L, 2);
        else
          lua_rawset(L, -3);
      }
      break;
  }
}

/* ------------------------------------------------------------ errors */

static int handle_gc(lua_State *L) {
  ax_error **h = luaL_checkudata(L, 1, HANDLE_MT);
  ax_error_free(*h);
  *h = NULL;
  return 0;
}

static void axlua_set_str(lua_State *L, const char *k, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

static void axlua_actor_push(lua_State *L, const char *name, const char *uid,
                             int pid) {
  lua_createtable(L, 0, 3);
  axlua_set_str(L, "name", name);
  axlua_set_str(L, "uid", uid);
  lua_pushinteger(L, pid);
  lua_setfield(L, -2, "pid");
}

/* An error value: a table with type, message, traceback, src, relay_path,
 * members, and the ax_error it stands for (takes ownership of e). */
static void axlua_error_push(lua_State *L, ax_error *e) {
  lua_createtable(L, 0, 8);
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
  ax_error **h = lua_newuserdatauv(L, sizeof *h, 0);
  *h = e;
  luaL_setmetatable(L, HANDLE_MT);
  lua_setfield(L, -2, "_handle");
  luaL_setmetatable(L, ERROR_MT);
}

/* Raise the outcome of a failed axle call as a Lua error value. */
static int axlua_error_raise(lua_State *L, int rc, ax_error *e) {
  if (!e)
    e = ax_error_new(rc == AX_ECANCELED ? "Cancelled" : ax_err_name(rc), "%s",
                     ax_strerror(rc));
  axlua_error_push(L, e);
  return lua_error(L);
}

/* The ax_error for any Lua error value (a copy, the caller's). */
static ax_error *axlua_error_from(lua_State *L, int idx) {
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

/* pcall message handler: strings become error values with a traceback. */
static int axlua_error_msgh(lua_State *L) {
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
  const char *msg = luaL_tolstring(L, 1, NULL);
  ax_error *e = ax_error_new("LuaError", "%s", msg);
  luaL_traceback(L, L, NULL, 1);
  if (e) ax_error_set_traceback(e, lua_tostring(L, -1));
  lua_pop(L, 2);
  axlua_error_push(L, e);
  return 1;
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

/* ------------------------------------------------------ functions */

/* The name under which fn (at idx) is reachable: a field of the module
 * table, or a global. */
static const char *axlua_loader_function_name(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) == LUA_TSTRING) return lua_tostring(L, idx);
  luaL_checktype(L, idx, LUA_TFUNCTION);
  int tables[2];
  lua_getfield(L, LUA_REGISTRYINDEX, K_MODULE);
  tables[0] = lua_gettop(L);
  lua_pushglobaltable(L);
  tables[1] = lua_gettop(L);
  const char *found = NULL;
  for (int t = 0; t < 2 && !found; t++) {
    if (!lua_istable(L, tables[t])) continue;
    lua_pushnil(L);
    while (lua_next(L, tables[t])) {
      if (lua_type(L, -2) == LUA_TSTRING && lua_rawequal(L, -1, idx)) {
        lua_pop(L, 1);
        found = lua_tostring(L, -1);
        lua_replace(L, tables[0]); /* keep the key string alive */
        break;
      }
      lua_pop(L, 1);
    }
  }
  if (!found)
    luaL_error(L, "this function has no name another actor can find: make "
                  "it a global or a field of the module's table");
  lua_settop(L, tables[0]);
  return found;
}

static const char *axlua_loader_spec(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, K_SPEC);
  const char *s = lua_tostring(L, -1);
  lua_pop(L, 1);
  return s;
}

/* -------------------------------------------------------- nurseries */

typedef struct axlua_nursery {
  ax_nursery *n;
  int closed;
} axlua_nursery;

typedef struct lportal {
  ax_portal *p;
  axlua_nursery *owner;
} lportal;

static axlua_nursery *check_nursery(lua_State *L, int idx) {
  axlua_nursery *ln = luaL_checkudata(L, idx, NURSERY_MT);
  if (ln->closed) luaL_error(L, "the nursery is closed");
  return ln;
}

static lportal *check_portal(lua_State *L, int idx) {
  lportal *lp = luaL_checkudata(L, idx, PORTAL_MT);
  if (lp->owner->closed) luaL_error(L, "the portal's nursery is closed");
  return lp;
}

/* Close: wait for the children; cancel them first when err is not nil. */
static int nursery_finish(lua_State *L, axlua_nursery *ln, int failing) {
  if (ln->closed) return 0;
  if (failing) ax_nursery_cancel(ln->n);
  ax_error *e = NULL;
  int rc = ax_nursery_close(ln->n, &e);
  ln->closed = 1;
  if (rc == AX_EREMOTE) return axlua_error_raise(L, rc, e);
  if (rc < 0 && !failing) return axlua_error_raise(L, rc, e);
  ax_error_free(e);
  return 0;
}

static int nursery_close(lua_State *L) {
  axlua_nursery *ln = luaL_checkudata(L, 1, NURSERY_MT);
  return nursery_finish(L, ln, !lua_isnoneornil(L, 2));
}

static int nursery_gc(lua_State *L) {
  axlua_nursery *ln = luaL_checkudata(L, 1, NURSERY_MT);
  if (!ln->closed) {
    /* Collected unclosed: take the children down; nothing can wait here. */
    ax_log(AX_LOG_ERROR, "a Lua nursery was never closed; cancelling it");
    ax_nursery_cancel(ln->n);
  }
  return 0;
}

static int block_body(lua_State *L) {
  lua_call(L, 1, 0);
  return 0;
}

static int axlua_nursery_open(lua_State *L) {
  axlua_nursery *ln = lua_newuserdatauv(L, sizeof *ln, 0);
  ln->closed = 1;
  int rc = ax_nursery_open(&ln->n);
  if (rc < 0) return axlua_error_raise(L, rc, NULL);
  ln->closed = 0;
  luaL_setmetatable(L, NURSERY_MT);
  if (!lua_isfunction(L, 1)) return 1;
  /* Block form: run fn(n), then close; an error cancels the children. */
  int nursery = lua_gettop(L);
  lua_pushcfunction(L, axlua_error_msgh);
  lua_pushcfunction(L, block_body);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, nursery);
  int status = lua_pcall(L, 2, 0, nursery + 1);
  nursery_finish(L, ln, status != LUA_OK);
  if (status != LUA_OK) return lua_error(L);
  return 0;
}

static void read_spawn_opts(lua_State *L, int idx, ax_spawn_opts *o,
                            const char **enable, size_t max) {
  memset(o, 0, sizeof *o);
  o->size = sizeof *o;
  o->module = axlua_loader_spec(L);
  if (!lua_istable(L, idx)) return;
  lua_getfield(L, idx, "module");
  if (lua_isstring(L, -1)) o->module = lua_tostring(L, -1);
  lua_pop(L, 1); /* the string stays alive in the opts table */
  lua_getfield(L, idx, "loglevel");
  o->loglevel = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, idx, "enable_modules");
  if (lua_istable(L, -1)) {
    for (size_t i = 0; i < max && i < lua_rawlen(L, -1); i++) {
      lua_rawgeti(L, -1, (lua_Integer)i + 1);
      enable[o->nenable++] = lua_tostring(L, -1);
      lua_pop(L, 1);
    }
    o->enable = enable;
  }
  lua_pop(L, 1);
}

static void axlua_portal_push(lua_State *L, ax_portal *p, axlua_nursery *ln,
                              int nursery_idx) {
  lportal *lp = lua_newuserdatauv(L, sizeof *lp, 1);
  lp->p = p;
  lp->owner = ln;
  lua_pushvalue(L, nursery_idx);
  lua_setiuservalue(L, -2, 1); /* keep the nursery alive */
  luaL_setmetatable(L, PORTAL_MT);
}

static int start_actor(lua_State *L) {
  axlua_nursery *ln = check_nursery(L, 1);
  const char *name = luaL_checkstring(L, 2);
  ax_spawn_opts o;
  const char *enable[32];
  read_spawn_opts(L, 3, &o, enable, 32);
  if (!o.module) return luaL_error(L, "start_actor: no module to run");
  ax_portal *p;
  ax_error *e = NULL;
  int rc = ax_start_actor(ln->n, name, &o, &p, &e);
  if (rc < 0) return axlua_error_raise(L, rc, e);
  axlua_portal_push(L, p, ln, 1);
  return 1;
}

static int run_in_actor(lua_State *L) {
  axlua_nursery *ln = check_nursery(L, 1);
  const char *func = axlua_loader_function_name(L, 2);
  ax_data *args = lua_isnoneornil(L, 3) ? NULL : axlua_value_to_data(L, 3);
  ax_spawn_opts o;
  const char *enable[32];
  read_spawn_opts(L, 4, &o, enable, 32);
  const char *name = func;
  if (lua_istable(L, 4)) {
    lua_getfield(L, 4, "name");
    if (lua_isstring(L, -1)) name = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  ax_portal *p;
  ax_error *e = NULL;
  int rc = o.module ? ax_run_in_actor(ln->n, name, &o, func, args, &p, &e)
                    : AX_EINVAL;
  ax_data_free(args);
  if (rc < 0) return axlua_error_raise(L, rc, e);
  axlua_portal_push(L, p, ln, 1);
  return 1;
}

static int nursery_cancel(lua_State *L) {
  ax_nursery_cancel(check_nursery(L, 1)->n);
  return 0;
}

/* ----------------------------------------------------------- portals */

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
  const char *func = axlua_loader_function_name(L, 2);
  ax_data *args = lua_isnoneornil(L, 3) ? NULL : axlua_value_to_data(L, 3);
  const char *ns = NULL;
  if (lua_istable(L, 4)) {
    lua_getfield(L, 4, "module");
    ns = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
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

static int portal_index(lua_State *L) {
  lportal *lp = luaL_checkudata(L, 1, PORTAL_MT);
  const char *k = luaL_checkstring(L, 2);
  if (!strcmp(k, "name")) {
    lua_pushstring(L, ax_portal_name(lp->p));
  } else if (!strcmp(k, "uid")) {
    lua_pushstring(L, ax_portal_uid(lp->p));
  } else if (!strcmp(k, "pid")) {
    lua_pushinteger(L, ax_portal_pid(lp->p));
  } else {
    luaL_getmetatable(L, PORTAL_MT);
    lua_getfield(L, -1, k);
  }
  return 1;
}

/* ----------------------------------------------------- cancel scopes */

#define SCOPE_MT "axle.CancelScope"
#define TASKS_MT "axle.TaskNursery"
#define TASK_MT "axle.Task"

typedef struct lscope {
  ax_scope *s;
  int closed;
  int caught;
} lscope;

static int axlua_error_is_cancelled(lua_State *L, int idx) {
  if (!lua_istable(L, idx)) return 0;
  lua_getfield(L, idx, "type");
  int yes = lua_isstring(L, -1) && !strcmp(lua_tostring(L, -1), "Cancelled");
  lua_pop(L, 1);
  return yes;
}

static int axlua_scope_open(lua_State *L) {
  double timeout = luaL_optnumber(L, 1, AX_FOREVER);
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
  double timeout = luaL_checknumber(L, 1);
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
        axlua_error_push(L, ax_error_new("TooSlowError",
                                         "deadline of %g s exceeded", timeout));
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

static int axlua_scope_move_on_after(lua_State *L) {
  return run_with_deadline(L, 0);
}
static int axlua_scope_fail_after(lua_State *L) {
  return run_with_deadline(L, 1);
}

/* -------------------------------------------------- task nurseries */

/* A task nursery owns a cancel scope; its tasks hang below it, so that a
 * failing task cancels its siblings (and the body) at once. */
typedef struct ltasks {
  ax_scope *s;
  int closed;
} ltasks;

typedef struct ltask {
  ax_task *t;
  lua_State *T;
  ltasks *group;
  int status;
  int joined;
} ltask;

static lua_State *volatile running;

/* lua_pcall on T with the message handler at index 1, T marked as the
 * running thread (the one the SIGTERM hook interrupts) meanwhile. */
static int axlua_interrupt_pcall(lua_State *T, int nargs, int nres) {
  lua_State *outer = running;
  running = T;
  int status = lua_pcall(T, nargs, nres, 1);
  running = outer;
  return status;
}

static int task_entry(void *arg) {
  ltask *lt = arg;
  int nargs = lua_gettop(lt->T) - 2; /* msgh, fn, args... */
  lt->status = axlua_interrupt_pcall(lt->T, nargs, LUA_MULTRET);
  if (lt->status != LUA_OK && !axlua_error_is_cancelled(lt->T, -1))
    ax_scope_cancel(lt->group->s);
  return 0;
}

#define K_OPEN_TASKS "axle.open_task_nurseries"

/* The stack of task nurseries the running Lua thread has open, which
 * axle.spawn uses: weak-keyed by thread. Leaves it on the stack. */
static void open_tasks_of(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, K_OPEN_TASKS) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, K_OPEN_TASKS);
  }
  lua_pushthread(L);
  if (lua_rawget(L, -2) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushthread(L);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
  }
  lua_remove(L, -2);
}

static int axlua_task_nursery(lua_State *L) {
  ltasks *tn = lua_newuserdatauv(L, sizeof *tn, 1);
  tn->closed = 1;
  tn->s = ax_scope_open(AX_FOREVER);
  if (!tn->s) return luaL_error(L, "task nurseries need a task");
  tn->closed = 0;
  lua_newtable(L);
  lua_setiuservalue(L, -2, 1); /* the tasks, in start order */
  luaL_setmetatable(L, TASKS_MT);
  open_tasks_of(L);
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_pop(L, 1);
  return 1;
}

/* axle.spawn(fn, ...): tn:spawn into the innermost task nursery this Lua
 * thread has open. */
static int tasks_spawn(lua_State *L);
static int axlua_task_spawn(lua_State *L) {
  open_tasks_of(L);
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  if (n == 0)
    return luaL_error(L, "axle.spawn needs an open task nursery: "
                         "local tn <close> = axle.task_nursery()");
  lua_rawgeti(L, -1, n);
  lua_remove(L, -2);
  lua_insert(L, 1);
  return tasks_spawn(L);
}

/* tn:spawn(fn, ...) -> task. fn runs concurrently in a task of its own. */
static int tasks_spawn(lua_State *L) {
  ltasks *tn = luaL_checkudata(L, 1, TASKS_MT);
  if (tn->closed) return luaL_error(L, "the task nursery is closed");
  luaL_checktype(L, 2, LUA_TFUNCTION);
  int nargs = lua_gettop(L) - 2;
  ltask *lt = lua_newuserdatauv(L, sizeof *lt, 1);
  int ud = lua_gettop(L);
  memset(lt, 0, sizeof *lt);
  lt->group = tn;
  lt->T = lua_newthread(L);
  lua_setiuservalue(L, ud, 1); /* anchor the thread */
  lua_pushcfunction(lt->T, axlua_error_msgh);
  lua_pushvalue(L, 2);
  lua_xmove(L, lt->T, 1);
  for (int i = 0; i < nargs; i++) {
    lua_pushvalue(L, 3 + i);
    lua_xmove(L, lt->T, 1);
  }
  int rc = ax_task_start(task_entry, lt, &lt->t);
  if (rc < 0) return axlua_error_raise(L, rc, NULL);
  luaL_setmetatable(L, TASK_MT);
  lua_getiuservalue(L, 1, 1);
  lua_pushvalue(L, ud);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_pop(L, 1);
  return 1;
}

/* Wait for lt; its results (or its error, raised) go on L. */
static int task_join_into(lua_State *L, ltask *lt, int raise) {
  if (!lt->joined) {
    ax_task_join(lt->t, NULL);
    lt->joined = 1;
  }
  if (lt->status != LUA_OK) {
    if (!raise) return -1;
    lua_pushvalue(lt->T, -1);
    lua_xmove(lt->T, L, 1);
    return lua_error(L);
  }
  int n = lua_gettop(lt->T) - 1;
  for (int i = 0; i < n; i++) lua_pushvalue(lt->T, 2 + i);
  lua_xmove(lt->T, L, n);
  return n;
}

static int task_join(lua_State *L) {
  return task_join_into(L, luaL_checkudata(L, 1, TASK_MT), 1);
}

static int task_cancel(lua_State *L) {
  ltask *lt = luaL_checkudata(L, 1, TASK_MT);
  if (!lt->joined) ax_task_cancel(lt->t);
  return 0;
}

/* Closing a task nursery joins every task; an error (the body's or a
 * task's) cancels the others first, and the first task error is raised. */
static int tasks_close(lua_State *L) {
  ltasks *tn = luaL_checkudata(L, 1, TASKS_MT);
  if (tn->closed) return 0;
  if (!lua_isnoneornil(L, 2)) ax_scope_cancel(tn->s);
  /* No longer the target of axle.spawn. */
  open_tasks_of(L);
  for (lua_Integer i = (lua_Integer)lua_rawlen(L, -1); i >= 1; i--) {
    lua_rawgeti(L, -1, i);
    int same = lua_touserdata(L, -1) == (void *)tn;
    lua_pop(L, 1);
    if (same) {
      lua_pushnil(L);
      lua_rawseti(L, -2, i);
      break;
    }
  }
  lua_pop(L, 1);
  lua_getiuservalue(L, 1, 1);
  int list = lua_gettop(L);
  int first_err = 0;
  for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, list); i++) {
    lua_rawgeti(L, list, i);
    ltask *lt = luaL_checkudata(L, -1, TASK_MT);
    lua_pop(L, 1);
    int was_joined = lt->joined;
    if (task_join_into(L, lt, 0) < 0) {
      if (!was_joined && !first_err && !axlua_error_is_cancelled(lt->T, -1)) {
        lua_pushvalue(lt->T, -1);
        lua_xmove(lt->T, L, 1);
        first_err = lua_gettop(L);
      }
    } else {
      lua_settop(L, first_err ? first_err : list);
    }
  }
  tn->closed = 1;
  ax_scope_close(tn->s);
  if (first_err) {
    lua_pushvalue(L, first_err);
    return lua_error(L);
  }
  return 0;
}

/* --------------------------------- cancelling Lua code that never yields */

/* The teardown ladder's SIGTERM reaches a Lua thread busy in pure Lua
 * code: the signal handler arms a count hook (lua_sethook is safe in a
 * signal handler) that raises Cancelled, so <close> handlers run. */
static struct sigaction previous_term;

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

static void axlua_interrupt_arm(void) {
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

/* ---------------------------------------------------------- the rest */

static int axlua_scope_sleep(lua_State *L) {
  int rc = ax_sleep(luaL_checknumber(L, 1));
  if (rc < 0) return axlua_error_raise(L, rc, NULL);
  return 0;
}

static int axlua_actor_loglevel(lua_State *L) {
  lua_pushinteger(L, ax_loglevel());
  return 1;
}

static int axlua_actor_cpu_count(lua_State *L) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  lua_pushinteger(L, n > 0 ? n : 1);
  return 1;
}

static int axlua_scope_now(lua_State *L) {
  lua_pushnumber(L, ax_now());
  return 1;
}

static int axlua_actor_current(lua_State *L) {
  axlua_actor_push(L, ax_actor_name(), ax_actor_uid(), (int)getpid());
  axlua_set_str(L, "parent", ax_actor_parent_uid());
  return 1;
}

/* ------------------------------------- a root actor from stock lua5.4 */

typedef struct root_run {
  lua_State *T;
  int status;
} root_run;

static int root_task(void *arg) {
  root_run *r = arg;
  r->status = axlua_interrupt_pcall(r->T, lua_gettop(r->T) - 2, 0);
  return 0;
}

/* axle.run(main[, module_table]): boot this process as the root actor and
 * run main in it. Inside an actor (the script loaded as an actor's module)
 * it does nothing, so one script serves as program and as module. */
static int axlua_root_run(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, K_SPEC);
  int inside = !lua_isnil(L, -1);
  lua_pop(L, 1);
  if (inside) return 0;
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_Debug ar;
  const char *src = "?";
  if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "S", &ar) &&
      ar.source[0] == '@')
    src = ar.source + 1;
  lua_pushfstring(L, "lua:%s", src);
  lua_setfield(L, LUA_REGISTRYINDEX, K_SPEC);
  note_script_dir(L, src);
  if (lua_istable(L, 2)) {
    lua_pushvalue(L, 2);
    lua_setfield(L, LUA_REGISTRYINDEX, K_MODULE);
  }
  root_run r;
  r.T = lua_newthread(L);
  r.status = LUA_OK;
  lua_pushcfunction(r.T, axlua_error_msgh);
  lua_pushvalue(L, 1);
  lua_xmove(L, r.T, 1);
  axlua_interrupt_arm();
  ax_opts o = {.size = sizeof o, .name = "root"};
  int rc = ax_run(&o, root_task, &r);
  if (rc < 0) return axlua_error_raise(L, rc, NULL);
  if (r.status != LUA_OK) {
    lua_xmove(r.T, L, 1);
    return lua_error(L);
  }
  return 0;
}

/* A metatable named name with methods; self_index makes it its own
 * __index (methods looked up on the object). */
static void axlua_new_class(lua_State *L, const char *name,
                            const luaL_Reg *methods, int self_index) {
  luaL_newmetatable(L, name);
  luaL_setfuncs(L, methods, 0);
  if (self_index) {
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
}

__attribute__((visibility("default"))) int luaopen_axle(lua_State *L) {
  luaL_newmetatable(L, HANDLE_MT);
  lua_pushcfunction(L, handle_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, ERROR_MT);
  lua_pushcfunction(L, error_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  static const luaL_Reg nursery_m[] = {
      {"start_actor", start_actor}, {"run_in_actor", run_in_actor},
      {"cancel", nursery_cancel},   {"__close", nursery_close},
      {"__gc", nursery_gc},         {NULL, NULL}};
  axlua_new_class(L, NURSERY_MT, nursery_m, 1);
  static const luaL_Reg portal_m[] = {{"run", portal_run},
                                      {"result", portal_result},
                                      {"cancel_actor", portal_cancel_actor},
                                      {"__index", portal_index},
                                      {NULL, NULL}};
  axlua_new_class(L, PORTAL_MT, portal_m, 0);
  static const luaL_Reg scope_m[] = {{"cancel", scope_cancel},
                                     {"shield", scope_shield},
                                     {"close", scope_close},
                                     {"__close", scope_close},
                                     {"__index", scope_index},
                                     {NULL, NULL}};
  axlua_new_class(L, SCOPE_MT, scope_m, 0);
  static const luaL_Reg tasks_m[] = {{"spawn", tasks_spawn},
                                     {"__close", tasks_close},
                                     {NULL, NULL}};
  axlua_new_class(L, TASKS_MT, tasks_m, 1);
  static const luaL_Reg task_m[] = {
      {"join", task_join}, {"cancel", task_cancel}, {NULL, NULL}};
  axlua_new_class(L, TASK_MT, task_m, 1);
  static const luaL_Reg funcs[] = {{"open_nursery", axlua_nursery_open},
                                   {"sleep", axlua_scope_sleep},
                                   {"current_actor", axlua_actor_current},
                                   {"cancel_scope", axlua_scope_open},
                                   {"move_on_after", axlua_scope_move_on_after},
                                   {"fail_after", axlua_scope_fail_after},
                                   {"task_nursery", axlua_task_nursery},
                                   {"spawn", axlua_task_spawn},
                                   {"now", axlua_scope_now},
                                   {"cpu_count", axlua_actor_cpu_count},
                                   {"loglevel", axlua_actor_loglevel},
                                   {"run", axlua_root_run},
                                   {NULL, NULL}};
  luaL_newlib(L, funcs);
  lua_pushstring(L, ax_version());
  lua_setfield(L, -2, "version");
  return 1;
}

/* --------------------------------------------------- the lua: loader */

typedef struct lmod {
  lua_State *L;
} lmod;

/* Find the file of a dotted module name: AXLE_LUA_PATH, then package.path.
 * Runs protected: (name) -> path or nil. */
static int search_module(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchpath");
  lua_pushstring(L, name);
  lua_getfield(L, -3, "path");
  const char *env = getenv("AXLE_LUA_PATH");
  if (env && *env) {
    lua_pushfstring(L, "%s;%s", env, lua_tostring(L, -1));
    lua_replace(L, -2);
  }
  const char *dir = getenv("AXLE_LUA_SCRIPT_DIR");
  if (dir && *dir) {
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir,
                    lua_tostring(L, -1));
    lua_replace(L, -2);
  }
  lua_call(L, 2, 1);
  return 1;
}

/* The root script's folder is searched first, by it and by every actor
 * below it: remember it in the environment children inherit, and let
 * scripts require their siblings. */
static void note_script_dir(lua_State *L, const char *path) {
  char *real = realpath(path, NULL);
  if (!real) return;
  char *slash = strrchr(real, '/');
  if (slash) *slash = 0;
  if (!getenv("AXLE_LUA_SCRIPT_DIR")) setenv("AXLE_LUA_SCRIPT_DIR", real, 1);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", real, real,
                  lua_tostring(L, -1));
  lua_setfield(L, -3, "path");
  lua_pop(L, 2);
  free(real);
}

/* The file for a module name; the string stays on the stack. */
static const char *resolve(lua_State *L, const char *name) {
  size_t n = strlen(name);
  if (strchr(name, '/') || (n > 4 && !strcmp(name + n - 4, ".lua"))) {
    lua_pushstring(L, name);
    return lua_tostring(L, -1);
  }
  lua_pushcfunction(L, search_module);
  lua_pushstring(L, name);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) return NULL;
  return lua_tostring(L, -1);
}

static int load_module(const char *name, void **out, ax_error **err) {
  lua_State *L = luaL_newstate();
  if (!L) return AX_ENOMEM;
  luaL_openlibs(L);
  luaL_requiref(L, "axle", luaopen_axle, 0);
  lua_pop(L, 1);
  lua_pushfstring(L, "lua:%s", name);
  lua_setfield(L, LUA_REGISTRYINDEX, K_SPEC);
  const char *path = resolve(L, name);
  if (!path) {
    *err = ax_error_new("ModuleNotFoundError", "no Lua module '%s' in "
                        "AXLE_LUA_PATH or package.path", name);
    lua_close(L);
    return AX_ELOAD;
  }
  note_script_dir(L, path);
  lua_pushcfunction(L, axlua_error_msgh);
  int status = luaL_loadfile(L, path);
  if (status == LUA_OK) status = lua_pcall(L, 0, 1, -2);
  if (status != LUA_OK) {
    if (status == LUA_ERRFILE)
      *err = ax_error_new("ModuleNotFoundError", "%s", lua_tostring(L, -1));
    else if (status == LUA_ERRSYNTAX)
      *err = ax_error_new("SyntaxError", "%s", lua_tostring(L, -1));
    else
      *err = axlua_error_from(L, -1);
    lua_close(L);
    return AX_ELOAD;
  }
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_pushglobaltable(L);
  }
  lua_setfield(L, LUA_REGISTRYINDEX, K_MODULE);
  lua_settop(L, 0);
  lmod *m = malloc(sizeof *m);
  if (!m) {
    lua_close(L);
    return AX_ENOMEM;
  }
  m->L = L;
  *out = m;
  return 0;
}

static int protected_pack(lua_State *L) {
  pack_value(L, 1, lua_touserdata(L, 2), 0);
  return 0;
}

static int call_function(void *mod, ax_ctx *ctx, const char *func,
                         const ax_val *args) {
  lmod *m = mod;
  lua_State *L = m->L;
  /* A thread of its own: other calls run while this one is suspended. */
  lua_State *T = lua_newthread(L);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushcfunction(T, axlua_error_msgh);
  lua_getfield(T, LUA_REGISTRYINDEX, K_MODULE);
  lua_getfield(T, -1, func);
  if (!lua_isfunction(T, -1)) {
    lua_pop(T, 1);
    lua_getglobal(T, func);
  }
  lua_remove(T, -2);
  int rc;
  if (!lua_isfunction(T, -1)) {
    rc = ax_ctx_fail(ctx, "FunctionNotFound", "Lua module '%s' has no "
                     "function '%s'", ax_ctx_module(ctx), func);
  } else {
    int nargs = 0;
    if (ax_val_type(args) == AX_T_ARRAY) {
      for (uint32_t i = 0; i < ax_val_len(args); i++)
        axlua_value_push(T, ax_val_at(args, i));
      nargs = (int)ax_val_len(args);
    } else if (args && ax_val_type(args) != AX_T_NIL) {
      axlua_value_push(T, args);
      nargs = 1;
    }
    axlua_interrupt_arm();
    int status = axlua_interrupt_pcall(T, nargs, 1);
    if (status == LUA_OK) {
      /* Packing raises on values that cannot travel: protect it too. */
      ax_pack *p = ax_pack_new();
      if (!p) {
        rc = AX_ENOMEM;
      } else {
        lua_pushcfunction(T, protected_pack);
        lua_pushvalue(T, -2);
        lua_pushlightuserdata(T, p);
        if (lua_pcall(T, 2, 0, 0) == LUA_OK) {
          rc = ax_ctx_return(ctx, p);
        } else {
          ax_pack_free(p);
          rc = ax_ctx_fail(ctx, "TypeError", "%s() returned %s",
                           func, lua_tostring(T, -1));
        }
      }
    } else {
      rc = ax_ctx_raise(ctx, axlua_error_from(T, -1));
    }
  }
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
  return rc;
}

static void unload_module(void *mod) {
  lmod *m = mod;
  lua_close(m->L);
  free(m);
}

/* What the host loads this library for. */
__attribute__((visibility("default"))) const ax_loader axle_lua_loader = {
    sizeof(ax_loader), "lua", load_module, call_function, unload_module};

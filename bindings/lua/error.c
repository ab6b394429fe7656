/* error.c - error values: every error axle raises in Lua is a table (type,
 * message, traceback, src, relay_path, members, and the fields of the
 * error's info) holding the ax_error it stands for, so that re-raising it
 * elsewhere keeps its source and path. Also the way back, from any Lua
 * error to an ax_error (a plain table's other fields become its info),
 * and the message handler that gives Lua errors a traceback. */
#include <stdarg.h>
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

/* What value.c raises its errors with. */
static int raise_for_value(lua_State *L, int kind, const char *msg) {
  return axlua_error_throw(L, kind, "%s", msg);
}

void axlua_error_init(lua_State *L) {
  axlua_value_on_error(raise_for_value);
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

/* t[key] = value for the table t at 1, the key at 3 and the value at 2
 * (an ax_val), run protected: a value Lua cannot hold leaves out only its
 * own field. */
static int set_info_field(lua_State *L) {
  axlua_value_push(L, lua_touserdata(L, 2));
  lua_rawset(L, 1);
  return 0;
}

/* The fields of e's info with a string key, on the error table at the top
 * of the stack, each where the table has no field of that name already:
 * axle's own fields stay what they are. */
static void set_info(lua_State *L, const ax_error *e) {
  const ax_val *info = ax_error_info(e);
  int t = lua_gettop(L);
  luaL_checkstack(L, 5, "errors nested too deep");
  for (uint32_t i = 0; i < ax_val_len(info); i++) {
    size_t n;
    const char *k = ax_val_str(ax_val_key(info, i), &n);
    if (!k) continue;
    lua_pushlstring(L, k, n);
    if (lua_rawget(L, t) != LUA_TNIL) {
      lua_pop(L, 1);
      continue;
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, set_info_field);
    lua_pushvalue(L, t);
    lua_pushlightuserdata(L, (void *)ax_val_value(info, i));
    lua_pushlstring(L, k, n);
    if (lua_pcall(L, 3, 0, 0) != LUA_OK) lua_pop(L, 1);
  }
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
  if (ax_error_info(e)) set_info(L, e);
  luaL_setmetatable(L, ERROR_MT);
}

/* The registry's table of axle's C functions by value, each with the
 * name an error message gives it ("axle.sleep", "Nursery:start_actor"):
 * a function called through pcall or a local has no name of its own. */
static const char names_key = 0;

void axlua_error_name_funcs(lua_State *L, int idx, const char *prefix,
                            char sep) {
  idx = lua_absindex(L, idx);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &names_key) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &names_key);
  }
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_iscfunction(L, -1)) {
      lua_pushfstring(L, "%s%c%s", prefix, sep, lua_tostring(L, -2));
      lua_rawset(L, -4); /* names[function] = name */
    } else {
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

void axlua_error_name_class(lua_State *L, const char *mt) {
  luaL_getmetatable(L, mt);
  axlua_error_name_funcs(L, -1, strncmp(mt, "axle.", 5) ? mt : mt + 5, ':');
  lua_pop(L, 1);
}

/* The name of the axle function running at level 0, or "this call". */
static const char *call_name(lua_State *L) {
  lua_Debug ar;
  const char *name = NULL;
  if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "f", &ar)) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &names_key) == LUA_TTABLE) {
      lua_pushvalue(L, -2);
      lua_rawget(L, -2);
      name = lua_tostring(L, -1); /* the names table keeps it */
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
  }
  return name ? name : "this call";
}

int axlua_error_throw(lua_State *L, int kind, const char *fmt, ...) {
  luaL_where(L, 1);
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 2);
  ax_error *e = ax_error_new_kind(kind, "%s", lua_tostring(L, -1));
  if (!e) return lua_error(L); /* out of memory: the message will do */
  lua_pop(L, 1);
  axlua_error_push(L, e);
  return lua_error(L);
}

int axlua_error_arg(lua_State *L, int arg, const char *msg) {
  const char *name = call_name(L);
  /* A method's self is no argument the user counts. */
  const char *colon = strchr(name, ':');
  if (colon) arg--;
  if (arg == 0)
    return axlua_error_throw(L, AX_K_USAGE_ERROR,
                             "calling '%s' on a bad self (%s): call it "
                             "with a colon, obj:%s(...)",
                             name, msg, colon + 1);
  return axlua_error_throw(L, AX_K_USAGE_ERROR, "bad argument #%d to '%s' (%s)",
                           arg, name, msg);
}

int axlua_error_argtype(lua_State *L, int arg, const char *expected) {
  const char *got = luaL_typename(L, arg);
  if (luaL_getmetafield(L, arg, "__name") == LUA_TSTRING)
    got = lua_tostring(L, -1);
  return axlua_error_arg(
      L, arg, lua_pushfstring(L, "%s expected, got %s", expected, got));
}

void axlua_check_type(lua_State *L, int arg, int t) {
  if (lua_type(L, arg) != t) axlua_error_argtype(L, arg, lua_typename(L, t));
}

const char *axlua_check_string(lua_State *L, int arg) {
  const char *s = lua_tostring(L, arg);
  if (!s) axlua_error_argtype(L, arg, "string");
  return s;
}

double axlua_check_number(lua_State *L, int arg) {
  int isnum;
  double d = (double)lua_tonumberx(L, arg, &isnum);
  if (!isnum) axlua_error_argtype(L, arg, "number");
  return d;
}

void *axlua_check_udata(lua_State *L, int arg, const char *tname) {
  void *p = luaL_testudata(L, arg, tname);
  if (!p) axlua_error_argtype(L, arg, tname);
  return p;
}

/* What a failed call's code means for a Lua user, when the runtime gave
 * no error: a kind and a message; codes are never error types. */
int axlua_error_raise(lua_State *L, int rc, ax_error *e) {
  if (e) {
    axlua_error_push(L, e);
    return lua_error(L);
  }
  switch (rc) {
    case AX_ECANCELED:
      /* Says what was cancelled, by what, while doing what. */
      axlua_error_push(L, ax_cancelled_error(NULL));
      return lua_error(L);
    case AX_ENOMEM:
      return axlua_error_throw(L, AX_K_MEMORY_ERROR, "%s: out of memory",
                               call_name(L));
    case AX_ENOTASK:
      return axlua_error_throw(
          L, AX_K_USAGE_ERROR,
          "%s needs a running actor: call it in a function an actor runs "
          "(main, or one another actor calls), not at a module's top level "
          "or before axle.run",
          call_name(L));
    case AX_EINVAL:
    case AX_ESTATE:
    case AX_ERANGE:
      return axlua_error_throw(L, AX_K_USAGE_ERROR, "%s: %s", call_name(L),
                               ax_strerror(rc));
    default:
      return axlua_error_throw(L, AX_K_RUNTIME_ERROR, "%s: %s", call_name(L),
                               ax_strerror(rc));
  }
}

/* The fields of a plain error table that stand for the error itself (or
 * that the binding puts on the tables it makes), never part of its info. */
static int own_field(const char *k, size_t n) {
  static const char *const own[] = {"type",       "message", "traceback", "src",
                                    "relay_path", "members", "_handle"};
  for (size_t i = 0; i < sizeof own / sizeof *own; i++)
    if (strlen(own[i]) == n && !memcmp(own[i], k, n)) return 1;
  return 0;
}

/* (key, value): raises if {key = value} cannot go as an error's info.
 * It is encoded as deep as it will sit there, one level below an error
 * map ({ {key = value} }), so that a field too deep goes alone. */
static int check_info_field(lua_State *L) {
  lua_createtable(L, 1, 0);
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_rawset(L, -3);
  lua_rawseti(L, -2, 1);
  size_t len;
  axlua_value_encode(L, -1, 0, &len);
  axlua_value_done(L, 0);
  return 0;
}

/* (error table, ax_data **): the info of a plain error table, its fields
 * with a string key but its own, each that can be sent; a field that
 * cannot (a function, a cycle) is left out, never an error. Run
 * protected; *out is set last, by the one call that allocates it. */
static int info_of(lua_State *L) {
  ax_data **out = lua_touserdata(L, 2);
  lua_newtable(L); /* 3: the info */
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    size_t kl;
    const char *k =
        lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &kl) : NULL;
    if (k && !own_field(k, kl)) {
      lua_pushcfunction(L, check_info_field);
      lua_pushvalue(L, -3);
      lua_pushvalue(L, -3);
      if (lua_pcall(L, 2, 0, 0) == LUA_OK) {
        lua_pushvalue(L, -2);
        lua_pushvalue(L, -2);
        lua_rawset(L, 3);
        n++;
      } else {
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  if (n) *out = axlua_value_to_data(L, 3, 0);
  return 0;
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
    const char *tb = lua_tostring(L, -1);
    /* Before e exists: nothing after it may raise. */
    ax_data *info = NULL;
    lua_pushcfunction(L, info_of);
    lua_pushvalue(L, idx);
    lua_pushlightuserdata(L, &info);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) lua_pop(L, 1);
    /* With no message, its fields are the message (error{code = 7}
     * prints as LuaError: {"code": 7}). */
    char *shown = !msg && info ? ax_val_format(ax_data_root(info)) : NULL;
    ax_error *e = ax_error_new(type ? type : "LuaError", "%s",
                               msg     ? msg
                               : shown ? shown
                                       : "");
    ax_free(shown);
    if (e && tb) ax_error_set_traceback(e, tb);
    if (e && info) ax_error_set_info(e, info);
    ax_data_free(info);
    lua_pop(L, 3);
    return e;
  }
  const char *msg = luaL_tolstring(L, idx, NULL);
  ax_error *e = ax_error_new("LuaError", "%s", msg);
  lua_pop(L, 1);
  return e;
}

int axlua_error_msgh(lua_State *L) {
  if (lua_istable(L, 1)) { /* raw: no metamethod of the user's runs */
    lua_pushliteral(L, "traceback");
    int has = lua_rawget(L, 1) == LUA_TSTRING && lua_rawlen(L, -1) > 0;
    lua_pop(L, 1);
    if (!has) {
      lua_pushliteral(L, "traceback");
      luaL_traceback(L, L, NULL, 1);
      lua_rawset(L, 1);
    }
    lua_settop(L, 1);
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
  int yes = lua_isstring(L, -1) &&
            !strcmp(lua_tostring(L, -1), ax_error_kind_name(AX_K_CANCELLED));
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
